"""orchestrator.yaml: the template, validation errors with positions, caching, rewriting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from claude_orchestrator import __version__
from claude_orchestrator.config import (
    DEFAULTS,
    DISTRIBUTION,
    TEMPLATE,
    load_config,
    parse_text,
    set_value,
    validate_data,
)
from claude_orchestrator.config_schema import SCHEMA
from claude_orchestrator.errors import ConfigError

from .conftest import Run


def write(repo: Path, text: str) -> Path:
    path = repo / "orchestrator.yaml"
    path.write_text(text)
    return path


#: A commented-out key: ``# key: value`` (one space after ``#``) at the indentation of the
#: keys of the mapping it sits in. Only names the schema allows there count, so prose
#: such as ``# Unset: ...`` or ``# worktree: agents start ...`` is not read as a key.
COMMENTED_KEY = re.compile(r"^(?P<indent> *)# (?P<key>[a-z_]+): (?P<value>.*)$")
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[a-z_]+):")


def commented_keys(template: str) -> dict[tuple[str, ...], str]:
    """Key path -> the value text of every key the template shows commented out."""
    found: dict[tuple[str, ...], str] = {}
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings around a line
    for line in template.splitlines():
        match = KEY_LINE.match(line) or COMMENTED_KEY.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        parents = [key for level, key in stack if level < indent]
        if match.re is KEY_LINE:
            stack = [(level, key) for level, key in stack if level < indent]
            stack.append((indent, match["key"]))
            continue
        schema: dict[str, object] = SCHEMA
        for key in parents:
            schema = schema["properties"][key]  # type: ignore[index, assignment]
        if match["key"] in schema.get("properties", {}):  # type: ignore[operator]
            found[(*parents, match["key"])] = match["value"]
    return found


def test_commented_keys_are_the_schema_keys_of_comment_lines() -> None:
    text = (
        "ci:\n  # Unset: the version that runs it\n  # tool: name==X.Y.Z\n  setup: x\n"
        "  #  build: indented prose\n  # e.g. python -m build\n"
        "guard:\n  # worktree: agents start ...\n  # mode: strict\n# colour: red\n"
    )
    assert commented_keys(text) == {("ci", "tool"): "name==X.Y.Z", ("guard", "mode"): "strict"}


def test_template_is_valid_and_equals_defaults(tmp_path: Path) -> None:
    """DEFAULTS and TEMPLATE agree on every key and value, read without merging.

    A key whose default is computed when the tool runs (ci.tool: this release) is shown
    commented out; with its placeholder X.Y.Z read as this version it is the default.
    """
    document, positions = parse_text(TEMPLATE, tmp_path / "orchestrator.yaml")
    written = json.loads(json.dumps(document))  # plain data, nothing filled in
    commented = commented_keys(TEMPLATE)
    assert commented == {("ci", "tool"): f"{DISTRIBUTION}==X.Y.Z"}
    for (*parents, key), value in commented.items():
        node = written
        for parent in parents:
            node = node[parent]
        assert key not in node, f"{key} is both set and commented out"
        node[key] = parse_text(f"v: {value}\n", Path("v"))[0]["v"].replace("X.Y.Z", __version__)
    assert written == DEFAULTS
    config = validate_data(document, tmp_path / "orchestrator.yaml", positions)
    assert config.data == DEFAULTS
    assert config.areas == ["data", "api", "ui"]


def test_schema_is_a_valid_json_schema(cli: Run) -> None:
    result = cli("config", "schema")
    assert result.code == 0
    schema = json.loads(result.out)
    Draft202012Validator.check_schema(schema)
    assert schema == json.loads(json.dumps(SCHEMA))


def test_init_writes_commented_config_and_keeps_existing(cli: Run, repo: Path) -> None:
    result = cli("init", "--areas", "db,web", "--json")
    assert result.code == 0, result
    assert result.json()["config_written"] is True
    text = (repo / "orchestrator.yaml").read_text()
    assert text.startswith("# claude-orchestrator configuration.")
    assert "areas: [db, web]" in text
    (repo / "orchestrator.yaml").write_text(text + "# my note\n")
    again = cli("init", "--json").json()
    assert again["config_written"] is False
    assert (repo / "orchestrator.yaml").read_text().endswith("# my note\n")


def test_init_rejects_bad_areas_and_writes_nothing(cli: Run, repo: Path) -> None:
    result = cli("init", "--areas", "Data,api")
    assert result.code == 2 and "invalid area 'Data'" in result.err
    assert not (repo / "orchestrator.yaml").exists()
    assert not (repo / ".git" / "orchestrator").exists()


BAD_CONFIGS = [
    (
        "version: 1\nplugins:\n  store: sqlit\n",
        "orchestrator.yaml:3:10: plugins.store: unknown store 'sqlit' "
        "(installed: postgres, sqlite)",
    ),
    (
        "version: 1\nplugin:\n  store: sqlite\n",
        "orchestrator.yaml:2:1: unknown key 'plugin' "
        "(allowed: agents, branches, budgets, ci, forge, guard, implementors, notifications, "
        "paths, plugins, prices, project, store, tasks, tests, version, worktrees)",
    ),
    (
        "version: 1\nplugins:\n  store: sqlite\n  colour: red\n",
        "orchestrator.yaml:4:3: plugins: unknown key 'colour'",
    ),
    ("version: 2\n", "orchestrator.yaml:1:10: version: must be 1, got 2"),
    ("plugins: {}\n", "'version' is a required property"),
    (
        "version: 1\nimplementors:\n  areas: [data, Data]\n",
        "orchestrator.yaml:3:17: implementors.areas[1]: invalid value 'Data': an implementor area",
    ),
    ("version: 1\nimplementors:\n  areas: []\n", "implementors.areas: must list at least 1"),
    ("version: 1\nimplementors:\n  areas: [a, a]\n", "lists the same item twice"),
    (
        "version: 1\nimplementors:\n  areas: data\n",
        "orchestrator.yaml:3:10: implementors.areas: expected a list, got a string",
    ),
    ("version: 1\nbranches:\n  main: 'ma..in'\n", "branches.main: invalid value 'ma..in'"),
    ("version: 1\nbranches:\n  prefix: 'Feat/'\n", "branches.prefix: invalid value"),
    ("version: 1\npaths:\n  implementor: ['../x']\n", "paths.implementor[0]: invalid value"),
    (
        "version: 1\npaths:\n  areas:\n    docs: ['docs/**']\n",
        "orchestrator.yaml:4:5: paths.areas.docs: 'docs' is not an implementor area",
    ),
    ("version: 1\ntests:\n  implementor:\n    smoke: make smoke\n", "unknown key 'smoke'"),
    ("version: 1\ntests:\n  overseer:\n    e2e: ''\n", "tests.overseer.e2e: must not be empty"),
    ("version: 1\ntasks:\n  file: specs/tasks.md\n", "tasks.file: invalid value"),
    (
        "version: 1\nplugins:\n  notifiers: [nope]\n",
        "orchestrator.yaml:3:15: plugins.notifiers[0]: unknown notifier 'nope' "
        "(installed: markdown)",
    ),
    ("version: 1\nplugins: [\n", "orchestrator.yaml:3:1: invalid YAML"),
    (
        "version: 1\nplugins:\n  vcs: hg\n",
        "orchestrator.yaml:3:8: plugins.vcs: unknown vcs 'hg' (installed: git)",
    ),
    ("- just\n- a list\n", "orchestrator.yaml:1:1: expected a mapping of settings"),
    ("version: 1\nstore:\n  path: 3\n", "store.path: expected a string or null, got a number"),
    (
        "version: 1\nci:\n  tool: claude-orchestrator\n",
        "orchestrator.yaml:3:9: ci.tool: invalid value 'claude-orchestrator': a pinned source",
    ),
    (
        "version: 1\nci:\n  install: [pytest, 'ruff; curl x | sh']\n",
        "orchestrator.yaml:3:21: ci.install[1]: invalid value 'ruff; curl x | sh': a pip",
    ),
    (
        "version: 1\nworktrees:\n  setup:\n    copy: [../secrets]\n",
        "worktrees.setup.copy[0]: invalid value '../secrets'",
    ),
    (
        "version: 1\nworktrees:\n  setup:\n    link: [/etc/passwd]\n",
        "worktrees.setup.link[0]: invalid value '/etc/passwd'",
    ),
    (
        "version: 1\nworktrees:\n  setup:\n    copy: [.git/config]\n",
        "worktrees.setup.copy[0]: invalid value '.git/config'",
    ),
    (
        "version: 1\nworktrees:\n  setup:\n    copy: ['*.env']\n",
        "worktrees.setup.copy[0]: invalid value '*.env'",
    ),
    (
        "version: 1\nworktrees:\n  setup:\n    copy: ['.']\n",
        "worktrees.setup.copy[0]: invalid value '.'",
    ),
    (
        "version: 1\nworktrees:\n  setup:\n    link: [./x]\n",
        "worktrees.setup.link[0]: invalid value './x'",
    ),
    (
        'version: 1\nworktrees:\n  setup:\n    copy: [".env\\n"]\n',
        "worktrees.setup.copy[0]: invalid value",
    ),
    (
        "version: 1\nworktrees:\n  setup:\n    run: ['']\n",
        "worktrees.setup.run[0]: must not be empty",
    ),
    ("version: 1\nworktrees:\n  setup:\n    ports: {base: 80}\n", "worktrees.setup.ports.base: "),
    ("version: 1\nworktrees:\n  setup:\n    ports: {block: 0}\n", "worktrees.setup.ports.block: "),
    ("version: 1\nworktrees:\n  setup:\n    npm: ci\n", "unknown key 'npm'"),
    ("version: 1\nagents:\n  stale_after: 1\n", "agents.stale_after: "),
    ("version: 1\nagents:\n  command: ''\n", "agents.command: must not be empty"),
    ("version: 1\nagents:\n  route_to_overseer: [pr_opened]\n", "agents.route_to_overseer[0]: "),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS, ids=[m[:40] for _, m in BAD_CONFIGS])
def test_invalid_config_is_reported_with_position(
    cli: Run, repo: Path, text: str, message: str
) -> None:
    write(repo, text)
    result = cli("config", "check")
    assert result.code == 2, result
    assert message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
    # every command that reads the config refuses it the same way, writing nothing
    result = cli("events", "init")
    assert result.code == 2 and message in result.err
    assert not (repo / ".git" / "orchestrator" / "events.db").exists()


def test_config_check_without_file(cli: Run, repo: Path) -> None:
    result = cli("config", "check")
    assert result.code == 2 and "run `claude-orchestrator init`" in result.err


def test_config_show(cli: Run, repo: Path) -> None:
    write(repo, "version: 1\nimplementors:\n  areas: [x]\n")
    data = cli("config", "show", "--json").json()
    assert data["implementors"]["areas"] == ["x"]
    assert data["plugins"]["store"] == "sqlite"  # defaults filled in
    assert "areas:\n  - x" in cli("config", "show").out.replace("- x", "- x")


def test_config_set_keeps_comments_and_order(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    path = repo / "orchestrator.yaml"
    before = path.read_text()
    result = cli("config", "set", "implementors.areas", "[data, api, ui, docs]")
    assert result.code == 0, result
    after = path.read_text()
    assert "areas: [data, api, ui, docs]" in after
    # every comment line survives, in the same order
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [
        line for line in after.splitlines() if line.lstrip().startswith("#")
    ]
    assert cli("config", "show", "--json").json()["implementors"]["areas"][-1] == "docs"


def test_config_set_invalid_writes_nothing(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    path = repo / "orchestrator.yaml"
    before = path.read_bytes()
    for key, value, message in [
        ("implementors.areas", "[Bad]", "invalid value 'Bad'"),
        ("plugins.nonsense", "1", "unknown key 'nonsense'"),
        ("version.x", "1", "'version' is not a mapping"),
        ("a..b", "1", "invalid key"),
    ]:
        result = cli("config", "set", key, value)
        assert result.code == 2, (key, result)
        assert message in result.err, result.err
    assert path.read_bytes() == before


def test_parsed_config_is_cached_and_invalidated(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    path = write(tmp_path, "version: 1\nimplementors:\n  areas: [one]\n")
    assert load_config(path, cache_dir=cache).areas == ["one"]
    assert len(list(cache.iterdir())) == 1
    assert load_config(path, cache_dir=cache).areas == ["one"]  # from the cache
    write(tmp_path, "version: 1\nimplementors:\n  areas: [one, two]\n")
    assert load_config(path, cache_dir=cache).areas == ["one", "two"]
    write(tmp_path, "version: 1\nimplementors:\n  areas: [Bad]\n")
    with pytest.raises(ConfigError):
        load_config(path, cache_dir=cache)


def test_config_error_positions_survive_the_cache(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    cli("events", "status")  # populates the cache
    set_value(repo / "orchestrator.yaml", "plugins.store", "sqlite")
    text = (repo / "orchestrator.yaml").read_text().replace("store: sqlite", "store: nosuch")
    (repo / "orchestrator.yaml").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "store: nosuch" in t)
    for _ in range(2):
        result = cli("events", "status")
        assert result.code == 2
        assert f"orchestrator.yaml:{line}:10: plugins.store: unknown store 'nosuch'" in result.err


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
top_keys = st.sampled_from(
    ["version", "plugins", "branches", "implementors", "paths", "tests", "tasks", "store", "x"]
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(top_keys, yaml_values, max_size=4))
def test_any_document_is_valid_or_a_one_line_positioned_error(document: dict[str, object]) -> None:
    """Whatever the file holds, validation answers with a Config or one precise line."""
    import io

    from ruamel.yaml import YAML

    buffer = io.StringIO()
    YAML().dump(document, buffer)
    path = Path("orchestrator.yaml")
    try:
        parsed, positions = parse_text(buffer.getvalue(), path)
        config = validate_data(parsed, path, positions)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("orchestrator.yaml")
        assert "\n" not in message
        return
    assert config.data["version"] == 1
    assert config.store_plugin


def test_worktree_setup_and_agents_are_read_with_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.yaml"
    path.write_text("version: 1\nworktrees:\n  setup:\n    copy: [.env]\n    ports: {base: 30000}\n"
                    "agents:\n  command: claude --model sonnet\n")  # fmt: skip
    config = load_config(path)
    setup = config.worktree_setup
    assert (setup.copy, setup.link, setup.run) == ([".env"], [], [])
    assert (setup.port_base, setup.port_block) == (30000, 10)
    assert config.agent_command == "claude --model sonnet"
    assert config.stale_after == 600.0
    assert config.route_to_overseer == ["task_blocked", "guard_denied"]
