"""A validated configuration: :class:`Config`, its accessors, and the merge with defaults."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .config_defaults import DEFAULTS
from .errors import ConfigError

Position = tuple[int, int]


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict) and key != "options":
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(_plain(value))
    return result


def _plain(value: Any) -> Any:
    """ruamel's commented containers (and scalars) as plain Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


class WorktreeSetup(NamedTuple):
    """``worktrees.setup``: files copied and linked from the main checkout, commands run
    once, and each agent's block of ports (``port_base`` + index x ``port_block``)."""

    copy: list[str]
    link: list[str]
    run: list[str]
    port_base: int
    port_block: int


class Config:
    """A validated configuration (defaults filled in).

    :param data: the merged configuration as plain data.
    :param path: the file it came from (None: built-in defaults only).
    :param positions: dotted key -> (line, column), 1-based, for error messages.
    """

    def __init__(
        self,
        data: dict[str, Any],
        path: Path | None = None,
        positions: dict[str, Position] | None = None,
    ) -> None:
        self.data = data
        self.path = path
        self.positions = positions or {}

    # -- accessors used across the library ------------------------------------------
    @property
    def project(self) -> str | None:
        """This repository's name in a shared store (None: the store derives one)."""
        value = self.data.get("project")
        return None if value is None else str(value)

    @property
    def store_plugin(self) -> str:
        return str(self.data["plugins"]["store"])

    @property
    def vcs_plugin(self) -> str | None:
        value = self.data["plugins"].get("vcs")
        return None if value is None else str(value)

    @property
    def ci_plugin(self) -> str | None:
        value = self.data["plugins"].get("ci")
        return None if value is None else str(value)

    @property
    def notifiers(self) -> list[str]:
        return [str(n) for n in self.data["plugins"]["notifiers"]]

    def plugin_options(self, name: str) -> dict[str, Any]:
        return dict(self.data["plugins"]["options"].get(name, {}))

    @property
    def main_branch(self) -> str:
        return str(self.data["branches"]["main"])

    @property
    def branch_prefix(self) -> str:
        return str(self.data["branches"]["prefix"])

    @property
    def areas(self) -> list[str]:
        return [str(a) for a in self.data["implementors"]["areas"]]

    @property
    def tasks_file_template(self) -> str:
        return str(self.data["tasks"]["file"])

    def tasks_file(self, spec_id: str) -> str:
        return self.tasks_file_template.replace("{spec_id}", spec_id)

    @property
    def worktrees_dir(self) -> str:
        return str(self.data["worktrees"]["dir"])

    @property
    def worktree_setup(self) -> WorktreeSetup:
        """``worktrees.setup``: what a new worktree gets."""
        setup = self.data["worktrees"]["setup"]
        ports = setup["ports"]
        return WorktreeSetup(
            copy=[str(p) for p in setup["copy"]],
            link=[str(p) for p in setup["link"]],
            run=[str(c) for c in setup["run"]],
            port_base=int(ports["base"]),
            port_block=int(ports["block"]),
        )

    @property
    def agent_command(self) -> str:
        """``agents.command``: the program ``up`` starts for each agent."""
        return str(self.data["agents"]["command"])

    @property
    def stale_after(self) -> float:
        """``agents.stale_after``: seconds without a signal before an agent is stale."""
        return float(self.data["agents"]["stale_after"])

    @property
    def route_to_overseer(self) -> list[str]:
        """``agents.route_to_overseer``: implementors' events the overseer's inbox gets."""
        return [str(k) for k in self.data["agents"]["route_to_overseer"]]

    @property
    def ci(self) -> dict[str, Any]:
        return dict(self.data["ci"])

    @property
    def forge(self) -> dict[str, Any]:
        return dict(self.data["forge"])

    def test_commands(self, role: str) -> dict[str, str]:
        """Test type -> command for ``overseer`` or ``implementor``."""
        key = "overseer" if role == "overseer" else "implementor"
        return {k: str(v) for k, v in self.data["tests"].get(key, {}).items() if v is not None}

    def role_paths(self, role: str, area: str | None = None) -> list[str]:
        """Where a role may write: an area's own paths when it has them."""
        paths = self.data["paths"]
        if role == "overseer":
            return [str(p) for p in paths["overseer"]]
        if area is not None and area in paths["areas"]:
            return [str(p) for p in paths["areas"][area]]
        return [str(p) for p in paths["implementor"]]

    @property
    def store_path(self) -> str | None:
        value = self.data["store"]["path"]
        return None if value is None else str(value)

    def overseer_branch(self, spec_id: str) -> str:
        return f"{self.branch_prefix}/{spec_id}/overseer"

    def implementor_branch(self, spec_id: str, area: str) -> str:
        return f"{self.branch_prefix}/{spec_id}/impl-{area}"

    # -- errors ----------------------------------------------------------------------
    def where(self, dotted: str) -> str:
        """``file:line:col: `` for a key, or ``file: `` when its position is unknown."""
        name = self.path.name if self.path is not None else "defaults"
        position = self.positions.get(dotted)
        if position is None:
            return f"{name}: "
        return f"{name}:{position[0]}:{position[1]}: "

    def error(self, dotted: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(dotted)}{dotted}: {message}")

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)


def default_config() -> Config:
    return Config(copy.deepcopy(DEFAULTS))
