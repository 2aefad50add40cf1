"""Claude Code permission files and role runbooks: schema validity, rule grammar, golden
files, what each role may and may not do, determinism."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from claude_orchestrator.config import Config, default_config, validate_data
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.generators.claude_permissions import (
    TOOLS,
    is_valid_rule,
    permission_files,
    permissions,
)
from claude_orchestrator.generators.runbooks import agents_md, claude_md_section

GOLDEN = Path(__file__).resolve().parent / "golden"
SPEC_ID = "003-reading-goals"
SCHEMA = json.loads(Path("/work/shared/schemas/claude-code-settings.schema.json").read_text())
CUSTOM: dict[str, Any] = {
    "version": 1,
    "branches": {"main": "trunk", "prefix": "work"},
    "implementors": {"areas": ["db", "web", "docs"]},
    "paths": {"areas": {"db": ["src/db/**", "migrations/**"], "web": ["src/web/**", "static/**"]}},
    "tests": {"implementor": {"unit": "python -m pytest -x"}},
}


def custom_config() -> Config:
    return validate_data(CUSTOM, Path("orchestrator.yaml"), {})


CONFIGS = {"default": default_config, "custom": custom_config}


def rules(document: dict[str, Any], kind: str) -> list[str]:
    return list(document["permissions"][kind])


def all_files() -> list[tuple[str, str, dict[str, Any]]]:
    return [(n, p, d) for n, make in CONFIGS.items() for p, d in permission_files(make()).items()]


def matches(rule: str, command: str) -> bool:
    """Claude Code's Bash matching: ``*`` is anything; a lone trailing `` *`` is optional."""
    spec = rule[len("Bash(") : -1]
    if "*" not in spec:
        return command == spec
    if spec.endswith(" *") and spec.count("*") == 1 and command == spec[:-2]:
        return True
    return re.fullmatch(".*".join(map(re.escape, spec.split("*"))), command, re.S) is not None


def decide(document: dict[str, Any], command: str) -> str:
    """deny, then allow; dontAsk denies whatever no rule allows."""
    for kind in ("deny", "allow"):
        if any(r.startswith("Bash(") and matches(r, command) for r in rules(document, kind)):
            return kind
    return "deny"


# ------------------------------------------------------------------ validity
@pytest.mark.parametrize(("name", "path", "document"), all_files())
def test_files_are_valid_settings(name: str, path: str, document: dict[str, Any]) -> None:
    """Schema-valid, documented keys only, dontAsk, every rule well-formed."""
    Draft7Validator.check_schema(SCHEMA)
    errors = [e.message for e in Draft7Validator(SCHEMA).iter_errors(document)]
    assert errors == [], f"{name} {path}: {errors}"
    role_keys = {"permissions", "hooks", "env"} | ({"sandbox"} if "impl" in path else set())
    assert set(document) == role_keys  # only documented keys, per role
    assert set(document["permissions"]) <= set(SCHEMA["properties"]["permissions"]["properties"])
    assert document["permissions"]["defaultMode"] == "dontAsk"
    for rule in rules(document, "allow") + rules(document, "deny"):
        assert is_valid_rule(rule), rule
        assert ":*" not in rule and "Write(" not in rule and not re.search(r"\(/[^/]", rule)


def test_file_names() -> None:
    names = [sorted(permission_files(make())) for make in (default_config, custom_config)]
    generic = [".claude/permissions-implementor.json", ".claude/permissions-overseer.json"]
    own = [".claude/permissions-impl-db.json", ".claude/permissions-impl-web.json"]
    assert names == [generic, own + generic]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_golden(name: str) -> None:
    """tests/golden/claude_permissions_<name>.json; UPDATE_GOLDEN=1 rewrites it."""
    text = json.dumps(permission_files(CONFIGS[name]()), indent=2) + "\n"
    path = GOLDEN / f"claude_permissions_{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run the tests with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed (UPDATE_GOLDEN=1)"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_deterministic(name: str) -> None:
    first, second = permission_files(CONFIGS[name]()), permission_files(CONFIGS[name]())
    assert first == second and json.dumps(first) == json.dumps(second)


# ------------------------------------------------------------------ what each role may do
def test_implementor_rules() -> None:
    document = permissions(default_config(), "implementor")
    deny, allow = rules(document, "deny"), rules(document, "allow")
    for rule in ("Bash(git merge *)", "Bash(gh pr merge *)", "Bash(claude-orchestrator merge-pr *)",
                 "Edit(./state/overseer.md)", "Edit(./.github/workflows/**)", "Edit(./.claude/**)",
                 "Edit(./orchestrator.yaml)", "Edit(./specs/*/tasks.md)"):  # fmt: skip
        assert rule in deny
    for rule in ("Bash(git *)", "Bash(claude-orchestrator *)", "Bash(pytest -q)",
                 "Bash(pytest -q *)", "Bash(ruff check .)", "Bash(mkdir *)", "Bash(rm *)",
                 "Bash(sed *)", "Bash(python3 *)"):  # fmt: skip
        assert rule in allow
    assert [r for r in allow if r.startswith("Edit(")] == [
        "Edit(./src/**)", "Edit(./state/impl-*.md)", "Edit(./tests/**)",
    ]  # fmt: skip
    assert not any("gh pr merge" in r or "git merge" in r for r in allow)
    # Deny rules are exact prefixes: no glob before the end (it would catch messages).
    assert all("*" not in r[:-2] for r in deny if r.startswith("Bash("))
    assert document["env"] == {"CLAUDE_ORCHESTRATOR_ROLE": "implementor"}


def test_every_guard_program_is_allowed() -> None:
    """What the guard's allow-list knows reaches it: a rule allows each program."""
    from claude_orchestrator.generators.claude_permissions import guard_programs

    document = permissions(default_config(), "implementor")
    for program in guard_programs():
        assert decide(document, f"{program} x") == "allow", program


IMPLEMENTOR_DENIED = [
    "git merge feature/x/overseer", "git merge main", "gh pr merge 3",
    "claude-orchestrator merge-pr 3", "curl -o x http://h", "sudo ls",
]  # fmt: skip
IMPLEMENTOR_ALLOWED = [
    "git commit -m 'T003: add model'", "git commit -m 'T001: merge main into helpers'",
    "git status", "git diff HEAD~1", "git add src/a.py", "git stash", "git cherry -v x",
    "git push origin feature/x/impl-data", "git push -u origin HEAD",
    "git push --force-with-lease origin feature/x/impl-data", "git rebase feature/x/overseer",
    "git pull --rebase origin feature/x/overseer", "git checkout -b spike main",
    "git rebase --continue", "git fetch origin", "git log main..HEAD", "git checkout src/domain",
    "claude-orchestrator sync-status", "claude-orchestrator check-conflicts --json",
    "claude-orchestrator run-tests", "claude-orchestrator open-pr --title x",
    "claude-orchestrator events log-event 003 implementor-data task_started hi T003",
    "claude-orchestrator events status", "claude-orchestrator events recent 5",
    "pytest -q", "pytest -q tests/test_a.py", "python -m pytest -q", "ruff check .",
    "gh pr create --fill", "gh pr view 3", "ls -la", "grep -rn x src", "mkdir -p src/pkg",
    "rm src/old.py", "sed -i -e s/a/b/ src/a.py",
]  # fmt: skip


@pytest.mark.parametrize("command", IMPLEMENTOR_DENIED)
def test_implementor_denied(command: str) -> None:
    assert decide(permissions(default_config(), "implementor"), command) == "deny"


@pytest.mark.parametrize("command", IMPLEMENTOR_ALLOWED)
def test_implementor_allowed(command: str) -> None:
    assert decide(permissions(default_config(), "implementor"), command) == "allow"


def test_overseer_rules() -> None:
    document = permissions(default_config(), "overseer")
    for command in ("git merge feature/x/impl-data", "gh pr merge 3 --squash", "git push",
                    "git push origin main", "claude-orchestrator merge-pr 3",
                    "claude-orchestrator generate --check", "pytest -q tests/e2e",
                    "pytest -q tests/integration", "pytest -q", "cat README.md",
                    "git commit -m 'merge main'", "mkdir -p docs"):  # fmt: skip
        assert decide(document, command) == "allow", command
    for command in ("git push --force origin main", "git push -f origin main",
                    "git push origin +main", "git push origin :main",
                    "git push origin --delete main", "git branch -D main"):  # fmt: skip
        assert decide(document, command) == "deny", command
    assert "Edit(./**)" in rules(document, "allow")
    assert document["env"] == {"CLAUDE_ORCHESTRATOR_ROLE": "overseer"}


def test_sandbox_denies_what_the_role_may_not_write() -> None:
    from claude_orchestrator.generators.claude_permissions import sandbox_deny_write

    tracked = ["README.md", "pyproject.toml", "docs/a.md", "docs/b/c.md", "src/a.py",
               "tests/t.py", "state/impl-data.md", f"specs/{SPEC_ID}/tasks.md",
               "src/nested/x.py", "Makefile"]  # fmt: skip
    denied = sandbox_deny_write(default_config(), None, tracked)
    assert "README.md" in denied and "pyproject.toml" in denied and "Makefile" in denied
    assert "docs" in denied and "docs/a.md" not in denied  # folded into the directory
    assert "specs" in denied and "orchestrator.yaml" in denied and ".claude" in denied
    assert not any(p.startswith(("src", "tests")) for p in denied)
    assert "state/overseer.md" in denied and "state" not in denied  # state/impl-*.md stays
    document = permissions(default_config(), "implementor", None, tracked)
    paths = document["sandbox"]["filesystem"]["denyWrite"]
    assert paths == [f"../{p}" for p in denied]  # relative to .claude/, the file's folder
    assert document["sandbox"]["excludedCommands"] == [
        "git push origin HEAD", "git push -u origin HEAD", "git push --set-upstream origin HEAD",
        "git push --force-with-lease origin HEAD",
    ]  # fmt: skip


def test_negated_and_unanchored_paths_become_rules() -> None:
    config = validate_data({"version": 1, "paths": {"implementor": ["src/**", "!src/secret/**",
                            "*.md"]}}, Path("orchestrator.yaml"), {})  # fmt: skip
    document = permissions(config, "implementor")
    assert "Edit(./src/**)" in rules(document, "allow")
    assert "Edit(**/*.md)" in rules(document, "allow")
    assert "Edit(./src/secret/**)" in rules(document, "deny")


def test_area_files_edit_exactly_their_paths() -> None:
    config = custom_config()
    files = permission_files(config)
    for area, paths in CUSTOM["paths"]["areas"].items():
        allow = rules(files[f".claude/permissions-impl-{area}.json"], "allow")
        assert [r for r in allow if r.startswith("Edit(")] == sorted(f"Edit(./{p})" for p in paths)
    assert permissions(config, "implementor", "docs") == permissions(config, "implementor")
    implementor = files[".claude/permissions-implementor.json"]
    for command in ("python -m pytest -x", "ruff check .", "git push origin work/x/impl-db"):
        assert decide(implementor, command) == "allow"


def test_unwritable_config_and_unknown_role() -> None:
    bad = validate_data({"version": 1, "tests": {"implementor": {"unit": "pytest -k '(a)'"}}},
                        Path("orchestrator.yaml"), {})  # fmt: skip
    with pytest.raises(ConfigError, match=r"tests\.implementor\.unit"):
        permission_files(bad)
    with pytest.raises(ValueError, match="unknown role"):
        permissions(default_config(), "reviewer")


# ------------------------------------------------------------------ the rule grammar
SPEC = st.text(st.characters(blacklist_characters="()", blacklist_categories=("Cc", "Cs")),
               min_size=1).filter(lambda s: s.strip() != "" and not s.endswith(":*"))  # fmt: skip
RULE_PATTERN = re.compile(SCHEMA["$defs"]["permissionRule"]["pattern"])


def test_tools_are_the_schemas() -> None:
    listed = re.search(r"\^\(\((.*?)\)", RULE_PATTERN.pattern)
    assert listed is not None and set(listed.group(1).split("|")) == TOOLS


@given(st.text())
def test_random_text_never_crashes(text: str) -> None:
    assert is_valid_rule(text) in (True, False)


@given(st.sampled_from(sorted(TOOLS)), SPEC)
def test_valid_rules_accepted(tool: str, spec: str) -> None:
    for rule in (tool, f"{tool}({spec})"):
        assert is_valid_rule(rule), rule
        assert RULE_PATTERN.fullmatch(rule), rule


@given(st.sampled_from(sorted(TOOLS)), SPEC)
def test_malformed_rules_rejected(tool: str, spec: str) -> None:
    assert not is_valid_rule(f"Bash({spec}:*)")
    for rule in (f"{tool}({spec}", f"{tool}({spec}))", f"{tool}(({spec})", f"{tool}()",
                 f"{tool}( )", f"{tool}){spec}(", f"{tool.lower()}({spec})"):  # fmt: skip
        assert not is_valid_rule(rule), rule


@given(st.from_regex(r"[A-Z][A-Za-z]{0,15}", fullmatch=True).filter(lambda t: t not in TOOLS))
def test_unknown_tools_rejected(tool: str) -> None:
    assert not is_valid_rule(tool) and not is_valid_rule(f"{tool}(git status)")


# ------------------------------------------------------------------ runbooks
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_runbooks(name: str) -> None:
    config = CONFIGS[name]()
    text, section = agents_md(config), claude_md_section(config)
    assert text == agents_md(CONFIGS[name]()) and section == claude_md_section(CONFIGS[name]())
    assert not text.startswith("<!--") and not section.startswith("<!--")
    for command in ("init-feature", "hooks install", "detect-conflicts", "sync-status",
                    "run-tests", "merge-pr <n>", "generate --check", "check-conflicts",
                    "open-pr", "events log-event", "events status", "events recent"):  # fmt: skip
        assert f"claude-orchestrator {command}" in text, command
    for needle in ("`T003: ", "`T003 done`", "`blocked T005: ", "state/overseer.md",
                   f"{config.branch_prefix}/<spec-id>/overseer", config.main_branch,
                   f"{config.branch_prefix}/<spec-id>/impl-<area>", "tasks.md"):  # fmt: skip
        assert needle in text and needle in section, needle
    for area in config.areas:
        assert f"impl-{area}`" in text
        for path in config.role_paths("implementor", area):
            assert f"`{path}`" in text
    for role in ("implementor", "overseer"):
        for command in config.test_commands(role).values():
            assert f"`{command}`" in text
    for command in ("check-conflicts", "run-tests", "open-pr", "merge-pr"):
        assert f"claude-orchestrator {command}" in section
