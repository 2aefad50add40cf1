"""``orchestrator.yaml``: defaults, loading, validation, caching and rewriting.

The file is read with ruamel.yaml's round-trip loader so that every value keeps its
line and column: errors read ``orchestrator.yaml:12:5: plugins.store: ...``. A
rewrite (``config set``) goes through the same loader, so comments and key order
survive.

Parsing and validating costs ~100 ms of imports (ruamel.yaml, jsonschema), which the
commands run by git hooks cannot afford. A validated file is therefore cached as JSON
next to the event store, keyed by the file's path, size, mtime and inode and by this
package's version; any change to the file makes the next load parse it again.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError
from .fsutil import atomic_write_text

#: This tool's name on the package registry (the command is ``claude-orchestrator``;
#: the registry's ``claude-orchestrator`` is an unrelated project).
DISTRIBUTION = "claude-orchestrator-toolkit"

DEFAULTS: dict[str, Any] = {
    "version": 1,
    "plugins": {
        "store": "sqlite",
        "vcs": "git",
        "ci": "github-actions",
        "notifiers": ["markdown"],
        "options": {},
    },
    "branches": {"main": "main", "prefix": "feature"},
    "implementors": {"areas": ["data", "api", "ui"]},
    "paths": {
        "overseer": ["**"],
        "implementor": ["src/**", "tests/**", "state/impl-*.md"],
        "areas": {},
    },
    "tests": {
        "implementor": {"unit": "pytest -q", "lint": "ruff check ."},
        "overseer": {
            "integration": "pytest -q tests/integration",
            "e2e": "pytest -q tests/e2e",
        },
    },
    "tasks": {"file": "specs/{spec_id}/tasks.md"},
    "worktrees": {"dir": "../{repo}-worktrees"},
    "ci": {
        "python": "3.11",
        # The version that generates the workflows is the one CI installs.
        "tool": f"{DISTRIBUTION}=={__version__}",
        "setup": "pip install -e .",
        # What the default test commands run; ci.setup installs the project only.
        "install": ["pytest", "ruff"],
        "build": None,
        "typecheck": None,
        "audit": None,
        "services": [],
        "deploy_preview": None,
    },
    "forge": {"type": "local", "host": "github.com"},
    "guard": {"allow": [], "env": [], "mode": "worktree"},
    "store": {"path": None},
}

TEMPLATE = """\
# claude-orchestrator configuration.
# Validate it with `claude-orchestrator config check`; the JSON Schema for editors is
# printed by `claude-orchestrator config schema`. Unknown keys are errors.
version: 1

plugins:
  # The event store that records features, agents and events (built-in: sqlite).
  store: sqlite
  # Version control (built-in: git).
  vcs: git
  # CI whose workflow files `generate` writes (built-in: github-actions).
  ci: github-actions
  # Notifiers receive every event after it is stored. markdown keeps the state files
  # state/overseer.md and state/impl-<area>.md; plugins add more (e.g. jsonl).
  notifiers: [markdown]
  # Settings for plugins, by implementation name, e.g. {jsonl: {path: events.jsonl}}.
  options: {}

branches:
  # The branch finished features are merged into.
  main: main
  # Feature branches: <prefix>/<spec-id>/overseer and <prefix>/<spec-id>/impl-<area>.
  prefix: feature

implementors:
  # Default implementor areas of a new feature: one agent and one branch each.
  areas: [data, api, ui]

# Where each role may write (gitignore-style patterns, relative to the repository root).
paths:
  overseer: ["**"]
  implementor: ["src/**", "tests/**", "state/impl-*.md"]
  # Narrower paths for the implementors of one area, e.g. data: ["src/data/**"].
  areas: {}

# Test commands by role and test type (unit, integration, e2e, lint).
tests:
  implementor:
    unit: pytest -q
    lint: ruff check .
  overseer:
    integration: pytest -q tests/integration
    e2e: pytest -q tests/e2e

tasks:
  # Each feature's task list (spec-kit layout), owned by the overseer.
  file: specs/{spec_id}/tasks.md

worktrees:
  # Where `init-feature --worktrees` puts one worktree per agent, as
  # <dir>/<spec-id>/overseer and <dir>/<spec-id>/impl-<area>. {repo} is the repository
  # directory's name; a relative dir is relative to the repository root.
  dir: ../{repo}-worktrees

ci:
  # What the generated CI workflows run. Python for the runners:
  python: "3.11"
  # How CI installs claude-orchestrator itself, always pinned, in one of these forms:
  #   claude-orchestrator-toolkit==X.Y.Z [--hash=sha256:<64 hex> ...]
  #   git+https://HOST/PATH@<40-hex commit>
  #   https://HOST/PATH/NAME.whl#sha256=<64 hex>
  # Unset: claude-orchestrator-toolkit at the version that runs `generate`.
  # tool: claude-orchestrator-toolkit==X.Y.Z
  # How CI installs the project under test.
  setup: pip install -e .
  # Tools the test commands need that the project may not depend on (pip requirement
  # strings such as pytest, ruff==0.6.9, mypy>=1.10), installed after setup.
  install: [pytest, ruff]
  # Optional commands (null: the job or step is left out).
  build: null           # e.g. python -m build
  typecheck: null       # e.g. mypy src
  audit: null           # e.g. pip-audit
  deploy_preview: null  # e.g. ./scripts/deploy-preview.sh: adds a deploy-preview job
  # Service containers for the overseer's integration tests: postgres, redis.
  services: []

forge:
  # Where `open-pr` opens pull requests: local (kept in the event store and merged with
  # `claude-orchestrator merge-pr`, no server) or github (through the gh CLI).
  type: local
  host: github.com

guard:
  # What implementors may run beyond the guard's allow-list (git on their branch,
  # coreutils on their paths, python/pytest, the test commands ...). An entry naming a
  # program the guard does not know allows it with any arguments ("make", "npm test");
  # an entry that is a whole command line the guard would refuse allows exactly that line
  # ("python3 -c 'print(1)'"). It never lifts a rule of a program the guard knows.
  # Each entry also becomes an allow rule in the generated permission files.
  allow: []
  # Environment variables implementors may set although their names look like tool
  # configuration (the guard refuses GIT_*, PATH, LD_*, *_CONFIG, *_DIR ... by default).
  env: []
  # worktree: agents start with the committed .claude/permissions-*.json. strict: an
  # implementor must start with `claude-orchestrator agent-settings` (other branches' refs
  # read-only to its sandbox); the guard refuses every call of one that did not.
  mode: worktree

store:
  # The event store's file. null: <git common dir>/orchestrator/events.db, shared by
  # every worktree of the repository.
  path: null
"""

Position = tuple[int, int]

#: Bounds on what a config file may be: far above any real one, far below what would
#: hang a git hook. YAML aliases share one node, so a few lines can stand for billions
#: of values ("billion laughs"); everything after parsing walks the expanded tree.
MAX_CONFIG_CHARS = 1_000_000
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 50


def _dotted(path: tuple[Any, ...]) -> str:
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


# ------------------------------------------------------------------------ parsing
def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def _positions(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[str, Position]]:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        for key, value in node.items():
            child = (*path, str(key))
            try:
                line, col = node.lc.value(key)
                key_line, key_col = node.lc.key(key)
            except (KeyError, TypeError, AttributeError):
                continue
            yield _dotted(child), (line + 1, col + 1)
            yield _dotted(child) + "#key", (key_line + 1, key_col + 1)
            yield from _positions(value, child)
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                line, col = node.lc.item(index)
            except (KeyError, TypeError, AttributeError):
                continue
            yield _dotted(child), (line + 1, col + 1)
            yield from _positions(value, child)


def parse_text(text: str, path: Path) -> tuple[Any, dict[str, Position]]:
    """Round-trip parse; YAML syntax errors become one-line ConfigErrors."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if len(text) > MAX_CONFIG_CHARS:
        raise ConfigError(
            f"{path.name}: {len(text)} characters is too large for a config file "
            f"(at most {MAX_CONFIG_CHARS}): is it the right file?"
        )
    if _flow_depth(text) > MAX_CONFIG_DEPTH:
        # ruamel's scanner is quadratic in flow nesting: refuse before it starts
        raise ConfigError(f"{path.name}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)")
    try:
        document = _yaml().load(text)
    except RecursionError:
        raise ConfigError(
            f"{path.name}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)"
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except YAMLError as exc:
        raise ConfigError(f"{path.name}: invalid YAML: {str(exc).splitlines()[0]}") from None
    _check_size(document, path)
    return document, dict(_positions(document))


def _flow_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting outside quotes and comments (a linear pre-scan)."""
    depth = deepest = 0
    quote = ""
    previous = "\n"
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char == "#" and previous in " \t\n":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            char = "\n"
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
        previous = char
        index += 1
    return deepest


def _check_size(document: Any, path: Path) -> None:
    """Refuse documents too deep or too large once aliases are expanded (iteratively:
    this must not recurse, and it stops counting at the limit)."""
    stack = [(document, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"{path.name}: more than {MAX_CONFIG_VALUES} values once YAML aliases "
                "are expanded: write the values out, or use fewer aliases"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{path.name}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)")
        if isinstance(node, Mapping):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _schema_message(error: Any) -> tuple[str, str]:
    """(dotted key to point at, message) for a jsonschema ValidationError."""
    path = tuple(error.absolute_path)
    dotted = _dotted(path)
    prefix = f"{dotted}: " if dotted else ""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    validator = error.validator
    if validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in schema.get("properties", {}))
        key = extra[0] if extra else "?"
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return _dotted((*path, key)) + "#key", f"{prefix}unknown key {key!r}{hint}"
    description = schema.get("description")
    if validator == "type":
        expected = schema.get("type")
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        expected_text = expected_text.replace("object", "mapping").replace("array", "list")
        got = _type_name(error.instance)
        return dotted, f"{prefix}expected a {expected_text}, got a {got}"
    if validator in ("pattern", "maxLength") and description:
        return dotted, f"{prefix}invalid value {error.instance!r}: {description}"
    if validator == "propertyNames":
        return dotted, f"{prefix}{error.message}"
    if validator == "minLength":
        return dotted, f"{prefix}must not be empty"
    if validator == "minItems":
        return dotted, f"{prefix}must list at least {schema.get('minItems')} item(s)"
    if validator == "uniqueItems":
        return dotted, f"{prefix}lists the same item twice: name each once"
    if validator == "const":
        return dotted, f"{prefix}must be {schema.get('const')!r}, got {error.instance!r}"
    if validator == "required":
        return dotted, f"{prefix}{error.message}"
    return dotted, f"{prefix}{error.message}"


def validate_data(document: Any, path: Path, positions: dict[str, Position]) -> Config:
    """Check a parsed document against the schema and the cross-field rules."""
    from jsonschema import Draft202012Validator

    from .config_schema import SCHEMA

    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(
            f"{path.name}:1:1: expected a mapping of settings at the top, "
            f"got a {_type_name(document)}: run `claude-orchestrator init` for a template"
        )
    plain = _plain(document)
    errors = list(Draft202012Validator(SCHEMA).iter_errors(plain))
    if errors:
        located = []
        for error in errors:
            dotted, message = _schema_message(error)
            position = positions.get(dotted) or positions.get(dotted.split("#")[0]) or (1, 1)
            # Property-name errors point at the offending key.
            if error.validator == "propertyNames":
                key = error.instance if isinstance(error.instance, str) else ""
                position = positions.get(_dotted((*error.absolute_path, key)) + "#key", position)
            located.append((position, message))
        located.sort()
        (line, col), message = located[0]
        more = f" (+{len(located) - 1} more)" if len(located) > 1 else ""
        raise ConfigError(f"{path.name}:{line}:{col}: {message}{more}")
    config = Config(_merge(DEFAULTS, plain), path, positions)
    areas = config.areas
    for area in config.data["paths"]["areas"]:
        if area not in areas:
            dotted = f"paths.areas.{area}"
            raise ConfigError(
                f"{config.where(dotted + '#key').rstrip(': ')}: {dotted}: {area!r} is not an "
                f"implementor area (areas: {', '.join(areas)}); add it to implementors.areas"
            )
    _check_path_patterns(config)
    return config


def _check_path_patterns(config: Config) -> None:
    """Every list of path patterns compiles (the guard and CI match with them)."""
    from .pathmatch import PatternError, compile_patterns

    paths = config.data["paths"]
    lists = {"paths.overseer": paths["overseer"], "paths.implementor": paths["implementor"]}
    lists.update({f"paths.areas.{area}": value for area, value in paths["areas"].items()})
    for dotted, patterns in lists.items():
        try:
            compile_patterns(patterns)
        except PatternError as exc:
            key = dotted if exc.index is None else f"{dotted}[{exc.index}]"
            raise config.error(key, str(exc)) from None


# ------------------------------------------------------------------------ loading
def _cache_file(cache_dir: Path, path: Path) -> Path:
    import zlib  # cheaper to import than hashlib, and this runs on every command

    digest = zlib.crc32(str(path).encode()) ^ (zlib.adler32(str(path).encode()) << 32)
    return cache_dir / f"config-{digest:016x}.json"


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def load_config(path: Path, *, cache_dir: Path | None = None, required: bool = False) -> Config:
    """Load and validate ``path``; defaults when it does not exist (unless ``required``).

    :param cache_dir: where to keep the parsed-config cache; only used if it exists.
    """
    if not path.exists():
        if required:
            raise ConfigError(
                f"no {path.name} at {path.parent}: run `claude-orchestrator init` to write one"
            )
        return default_config()
    try:
        key = _stat_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    cache = _cache_file(cache_dir, path) if cache_dir is not None else None
    if cache is not None:
        try:
            cached = json.loads(cache.read_text(encoding="utf-8"))
            if cached["key"] == key and cached["version"] == __version__:
                positions = {k: (v[0], v[1]) for k, v in cached["positions"].items()}
                return Config(cached["data"], path, positions)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: not UTF-8 text: save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    document, positions = parse_text(text, path)
    config = validate_data(document, path, positions)
    if cache is not None and cache.parent.is_dir():
        payload = {
            "version": __version__,
            "key": key,
            "data": config.data,
            "positions": {k: list(v) for k, v in positions.items()},
        }
        # A cache is an optimisation: a read-only place just means no cache.
        with contextlib.suppress(OSError):
            atomic_write_text(cache, json.dumps(payload))
    return config


def _parse_scalar(text: str) -> Any:
    """A command-line value as YAML (``[a, b]``, ``null``, ``3``, ``text``)."""
    document, _ = parse_text(f"value: {text}\n" if "\n" not in text else "", Path("value"))
    if document is None:
        raise ConfigError("a value may not contain a newline")
    return document["value"]


def set_value(path: Path, dotted: str, raw_value: str) -> Config:
    """Set one key of the file, keeping its comments and key order; validates first.

    Nothing is written when the result would be invalid.
    """
    from .errors import refuse_implementor

    refuse_implementor("config set")
    if not path.exists():
        raise ConfigError(
            f"no {path.name} at {path.parent}: run `claude-orchestrator init` to write one"
        )
    keys = dotted.split(".")
    if not dotted or any(not k for k in keys):
        raise ConfigError(f"invalid key {dotted!r}: use a dotted path like implementors.areas")
    text = path.read_text(encoding="utf-8")
    document, _ = parse_text(text, path)
    if document is None:
        document = _yaml().load("{}\n")
    from ruamel.yaml.comments import CommentedMap

    node = document
    for key in keys[:-1]:
        child = node.get(key) if isinstance(node, Mapping) else None
        if child is None:
            child = CommentedMap()
            node[key] = child
        if not isinstance(child, Mapping):
            raise ConfigError(f"{dotted}: {key!r} is not a mapping, so it has no keys")
        node = child
    node[keys[-1]] = _parse_scalar(raw_value)
    import io

    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    new_text = buffer.getvalue()
    new_document, positions = parse_text(new_text, path)
    config = validate_data(new_document, path, positions)
    atomic_write_text(path, new_text)
    return config


def write_template(path: Path, areas: list[str] | None = None) -> Config:
    """Write the commented default file (refuses to overwrite)."""
    text = TEMPLATE
    if areas is not None:
        text = text.replace("areas: [data, api, ui]", f"areas: [{', '.join(areas)}]")
    document, positions = parse_text(text, path)
    config = validate_data(document, path, positions)
    atomic_write_text(path, text, exclusive=True)
    return config


def env_config_path(env: Mapping[str, str] | None = None) -> str | None:
    return (os.environ if env is None else env).get("CLAUDE_ORCHESTRATOR_CONFIG")
