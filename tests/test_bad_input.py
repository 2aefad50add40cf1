"""Bad input through the installed command: one `error:` line, exit 2, nothing written,
no traceback, no hang (issue #9 items 19, 20, 21, 22, 24)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import Run, clean_env, digest, git

SPEC = "003-reading-goals"
DEEP_METADATA = '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"
DEEP_FILES = "[" * 50_000 + "]" * 50_000
#: "billion laughs": nine aliases of nine make 9**9 strings once expanded
LAUGHS = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    + ["version: 1"]
)
DEEP_YAML = "version: 1\nci: " + "[" * 5_000 + "]" * 5_000 + "\n"


def one_line_error(result: object) -> None:
    err = result.err  # type: ignore[attr-defined]
    assert result.code == 2, result  # type: ignore[attr-defined]
    assert err.startswith("error: ") and err.count("\n") == 1, result
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["events", "log-event", SPEC, "overseer", "status_update", "m", "--metadata",
         DEEP_METADATA],
        ["events", "log-conflict", SPEC, "implementor-api", DEEP_FILES],
        ["events", "resolve-conflict", str(2**64)],
        ["events", "unblock", "99999999999999999999999"],
        ["events", "record-test", SPEC, "overseer", "unit", "passed", "--total", str(2**63)],
        ["events", "log-event", SPEC, "overseer", "status_update", "m", "--metadata",
         '{"a": NaN}'],
        ["events", "log-event", SPEC, "overseer", "status_update", "m", "--metadata",
         '{"a": "\\ud800"}'],
        ["events", "log-event", SPEC, "overseer", "status_update", "m", "--metadata",
         json.dumps({"a": "x" * 70_000})],
        ["events", "recent", "-1"],
        ["init-feature", "-rf"],
        ["events", "recent", "abc"],
    ],
    ids=["deep-metadata", "deep-files", "conflict-id-2**64", "blocker-id-huge",
         "count-2**63", "nan", "surrogate", "metadata-70k", "recent--1", "init-feature--rf",
         "recent-abc"],
)  # fmt: skip
def test_bad_input_is_one_clean_error_and_writes_nothing(
    cli: Run, initialized: Path, store_db: Path, args: list[str]
) -> None:
    before = digest(store_db)
    result = cli(*args)
    one_line_error(result)
    assert digest(store_db) == before
    recent = cli("events", "recent", "--json")
    assert recent.code == 0, recent
    json.loads(recent.out, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON"))


def test_negative_number_hint_says_how(cli: Run, initialized: Path) -> None:
    result = cli("events", "recent", "-1")
    assert "put `--` before it" in result.err and "events recent --help" in result.err
    one_line_error(cli("events", "recent", "--", "-1"))  # now the limit's own message


def test_no_arguments_still_show_help(cli: Run, initialized: Path) -> None:
    result = cli("events")
    assert "Commands:" in result.out + result.err


def test_init_in_a_bare_repository_writes_nothing(cli: Run, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, env=clean_env())
    before = sorted(p.name for p in bare.iterdir())
    for args in (["init"], ["events", "init"], ["hooks", "install"]):
        result = cli(*args, cwd=bare)
        one_line_error(result)
        assert "bare repository" in result.err
    assert sorted(p.name for p in bare.iterdir()) == before


@pytest.mark.parametrize("text", [DEEP_YAML, LAUGHS], ids=["deep", "billion-laughs"])
def test_hostile_config_is_refused_quickly(cli: Run, initialized: Path, text: str) -> None:
    (initialized / "orchestrator.yaml").write_text(text)
    for args in (["config", "check"],
                 ["events", "log-event", SPEC, "overseer", "status_update", "m"]):  # fmt: skip
        start = time.monotonic()
        result = cli(*args)
        assert time.monotonic() - start < 15, args
        one_line_error(result)
        assert "nested too deeply" in result.err or "aliases" in result.err


def test_commit_with_hostile_config_does_not_hang(cli: Run, repo: Path) -> None:
    """With hooks installed, a billion-laughs config must not hang `git commit`."""
    assert cli("init").code == 0
    assert cli("init-feature", SPEC).code == 0
    assert cli("hooks", "install").code == 0
    git(repo, "checkout", "-q", f"feature/{SPEC}/impl-data")
    (repo / "orchestrator.yaml").write_text(LAUGHS)
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    start = time.monotonic()
    subprocess.run(["git", "commit", "-q", "-m", "T001: a"], cwd=repo, env=clean_env(),
                   check=True, timeout=60, capture_output=True)  # fmt: skip
    assert time.monotonic() - start < 30
    log = (repo / ".git" / "orchestrator" / "hook-errors.log").read_text()
    assert "aliases" in log


HANGING_SYNC = """
import sys, time
from claude_orchestrator import Orchestrator, hooks, workflow
workflow.sync_status = lambda *a, **k: time.sleep(120)
hooks.sync_from_hook(Orchestrator(), "post-commit")
sys.exit(7)  # not reached: the budget ends the process with 0
"""


def test_hook_gives_up_after_its_time_budget(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("init-feature", SPEC).code == 0
    git(repo, "checkout", "-q", f"feature/{SPEC}/impl-data")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", HANGING_SYNC], cwd=repo, timeout=60,
                          env=clean_env(CLAUDE_ORCHESTRATOR_HOOK_BUDGET="1"),
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 20
    log = (repo / ".git" / "orchestrator" / "hook-errors.log").read_text()
    assert "gave up after 1 s" in log


def test_two_crashes_in_one_second_keep_both_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    from claude_orchestrator.boundary import INTERNAL_ERROR, guarded

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("time.strftime", lambda _format: "20261201-120000")

    def crash(message: str) -> int:
        raise RuntimeError(message)

    assert guarded(lambda: crash("first")) == INTERNAL_ERROR
    assert guarded(lambda: crash("second")) == INTERNAL_ERROR
    logs = sorted(tmp_path.glob("claude-orchestrator-crash-20261201-120000-*.log"))
    assert len(logs) == 2
    texts = sorted(log.read_text() for log in logs)
    assert "RuntimeError: first" in texts[0] and "RuntimeError: second" in texts[1]
    err = capsys.readouterr().err
    assert all(str(log) in err for log in logs)
