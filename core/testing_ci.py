"""A contract suite for :class:`~claude_orchestrator.protocols.CI` implementations.

Subclass it and provide the ``factory`` fixture: what the plugin registers
(``register("my-ci", factory)``), a callable from a
:class:`~claude_orchestrator.protocols.PluginContext` to the CI::

    from claude_orchestrator.testing_ci import CIContract

    class TestMyCI(CIContract):
        @pytest.fixture
        def factory(self):
            return MyCI.from_context

The suite builds the CI for several configurations (the ``configs`` fixture; extend it
with your plugin's ``plugins.options``) in an empty repository directory and checks what
the protocol promises ``generate`` will get:

* every path is repository-relative and safe (:func:`path_problem`): the file it names is
  inside the repository, not in ``.git``, not one that ``generate`` writes itself;
* every document is plain data (:func:`data_problem`) in a form the writer serialises for
  that path (a ``dict`` for ``.json``, ``.yml`` and ``.yaml``; a ``str`` elsewhere), and
  what is written reads back as the same data;
* ``generate`` is pure: the same configuration gives equal documents and byte-identical
  files, from a second instance and from a second call, also after the caller changed
  what the first call returned; it writes nothing and leaves the configuration as it was.

This module imports pytest; import it from tests only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .generators.writer import path_problem
from .protocols import CI, PluginContext

if TYPE_CHECKING:
    from .config import Config

CIFactory = Callable[[PluginContext], object]

#: The configurations every CI is checked with, as ``orchestrator.yaml`` would hold them.
CONFIGS: tuple[dict[str, Any], ...] = (
    {},
    {
        "branches": {"main": "trunk", "prefix": "work"},
        "implementors": {"areas": ["core", "web-ui", "db2"]},
        "paths": {"areas": {"core": ["src/core/**"]}},
    },
    {
        "ci": {
            "python": "3.12",
            "services": ["postgres", "redis"],
            "build": "make build",
            "typecheck": "mypy .",
            "audit": "pip-audit",
            "deploy_preview": "./deploy.sh",
            "install": ["pytest", "pytest-cov>=5"],
        },
        "tests": {"implementor": {"unit": "pytest -q -x"}, "overseer": {}},
    },
)


def data_problem(value: object, where: str = "document") -> str | None:
    """Where ``value`` holds something other than JSON-like plain data (None: nowhere):
    ``dict`` with ``str`` keys, ``list``, ``str``, ``int``, finite ``float``, ``bool``,
    ``None``."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if value == value and abs(value) != float("inf") else f"{where} is {value}"
    if isinstance(value, list):
        problems = (data_problem(item, f"{where}[{i}]") for i, item in enumerate(value))
        return next((p for p in problems if p), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a {type(key).__name__} key {key!r}"
            if problem := data_problem(item, f"{where}[{key!r}]"):
                return problem
        return None
    return f"{where} is a {type(value).__name__}"


def config_for(document: Mapping[str, Any]) -> Config:
    """A validated configuration from what ``orchestrator.yaml`` would hold."""
    from .config_parse import validate_data

    return validate_data({"version": 1, **document}, Path("orchestrator.yaml"), {})


def context_for(config: Config, root: Path) -> PluginContext:
    """The context ``generate`` builds a CI with, for a repository at ``root``."""
    name = config.ci_plugin or ""
    store = root / ".git" / "orchestrator" / "events.db"
    return PluginContext(config, root, root / ".git", store, config.plugin_options(name))


def build(factory: CIFactory, context: PluginContext) -> CI:
    ci = factory(context)
    assert isinstance(ci, CI), f"the factory built a {type(ci).__name__}, which has no generate()"
    return ci


def generated(ci: CI) -> dict[str, Any]:
    documents = ci.generate()
    assert isinstance(documents, dict), f"generate() returned a {type(documents).__name__}"
    return documents


def check_paths(documents: Mapping[str, Any], root: Path, config: Config) -> None:
    """Every path is fit, names a file inside ``root``, and is not generate's own."""
    from .generators.claude_permissions import permission_files
    from .generators.writer import MANIFEST

    own = {MANIFEST, *permission_files(config, [])}
    for path in documents:
        problem = path_problem(path)
        assert problem is None, f"generate() path {path!r} {problem}"
        target = (root / path).resolve()
        assert target.is_relative_to(root.resolve()), f"{path!r} names {target}, outside"
        assert path not in own, f"{path!r} is a file `generate` writes itself"


def _read_back(path: str, text: str) -> object:
    """What a file ``generate`` wrote reads as (JSON or YAML by its name)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return json.loads(text) if path.endswith(".json") else YAML(typ="safe").load(text)
    except (ValueError, YAMLError) as exc:
        raise AssertionError(f"{path!r} as written does not parse: {exc}") from None


def check_documents(documents: Mapping[str, Any]) -> None:
    """Every document is plain data the writer serialises for its path, and reads back."""
    from .generators.writer import serialise

    for path, document in documents.items():
        structured = path.endswith((".json", ".yml", ".yaml"))
        if isinstance(document, dict):
            assert structured, f"{path!r}: a dict is written as YAML or JSON: name the file so"
            problem = data_problem(document)
            assert problem is None, f"{path!r}: {problem}"
            read = _read_back(path, serialise(path, document))
            assert read == document, f"{path!r} reads back as other data: {read!r}"
        else:
            kind = type(document).__name__
            assert isinstance(document, str), f"{path!r}: a {kind} document: give a dict or str"
            assert not path.endswith(".json"), f"{path!r}: give a .json file as a dict"
            if structured:
                _read_back(path, serialise(path, document))  # it must parse


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _scrambled(value: object) -> None:
    """Empty every dict and list in ``value``: a caller is free to change its result."""
    if isinstance(value, dict):
        for item in value.values():
            _scrambled(item)
        value.clear()
    elif isinstance(value, list):
        for item in value:
            _scrambled(item)
        value.clear()


def check_pure(factory: CIFactory, context: PluginContext, cwd: Path) -> None:
    """Equal documents and bytes from a second instance and a second call, also after the
    first result was changed; nothing written in the repository or in ``cwd``."""
    from .generators.writer import serialise

    root = context.root
    before, config_before = _files(root), copy.deepcopy(context.config.data)
    first = generated(build(factory, context))
    snapshot = copy.deepcopy(first)
    texts = {path: serialise(path, doc) for path, doc in first.items()}
    _scrambled(first)
    ci = build(factory, context)
    for again in (generated(ci), generated(ci)):
        assert again == snapshot, "generate() gave different documents for the same config"
        assert {path: serialise(path, doc) for path, doc in again.items()} == texts
    assert _files(root) == before, "generate() wrote in the repository: it must only return"
    assert _files(cwd) == {}, "generate() wrote in the current directory"
    assert context.config.data == config_before, "generate() changed the configuration"


class CIContract:
    """Behaviour every CI plugin must have for ``claude-orchestrator generate``."""

    @pytest.fixture
    def factory(self) -> CIFactory:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `factory` fixture")

    @pytest.fixture
    def configs(self) -> list[Config]:
        """The configurations to check with; extend it with your plugin's options."""
        return [config_for(document) for document in CONFIGS]

    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        (tmp_path / "repo" / ".git").mkdir(parents=True)
        return tmp_path / "repo"

    @pytest.fixture
    def cwd(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """An empty current directory, to see that ``generate`` writes nothing there."""
        (tmp_path / "cwd").mkdir()
        monkeypatch.chdir(tmp_path / "cwd")
        return tmp_path / "cwd"

    def test_satisfies_protocol(
        self, factory: CIFactory, configs: list[Config], root: Path
    ) -> None:
        for config in configs:
            generated(build(factory, context_for(config, root)))

    def test_paths_are_safe(self, factory: CIFactory, configs: list[Config], root: Path) -> None:
        for config in configs:
            check_paths(generated(build(factory, context_for(config, root))), root, config)

    def test_documents_serialise(
        self, factory: CIFactory, configs: list[Config], root: Path
    ) -> None:
        for config in configs:
            check_documents(generated(build(factory, context_for(config, root))))

    def test_generate_is_pure(
        self, factory: CIFactory, configs: list[Config], root: Path, cwd: Path
    ) -> None:
        for config in configs:
            check_pure(factory, context_for(config, root), cwd)
