"""``metrics``: transcripts ingested into a real feature's SQLite store, priced and charged
to agents, tasks, PRs, the feature and days with exact totals; the same reply counted
once however many transcripts repeat it; budgets recorded once per cap; the hooks that
ingest and halt; every bad input refused with nothing written."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator

from .conftest import Run, clean_env, git
from .test_workflow_setup import SPEC, feature
from .transcript_lines import Spent, reply, stamp, user, write

__all__ = ["feature"]
DATA, API = "implementor-data", "implementor-api"
DATA_BRANCH, API_BRANCH = f"feature/{SPEC}/impl-data", f"feature/{SPEC}/impl-api"
SONNET = (3.0, 15.0, 3.75, 0.30)  # the shipped claude-sonnet-4-5 rates


def cost(spent: Spent, rates: tuple[float, float, float, float] = SONNET) -> float:
    return (spent.input * rates[0] + spent.output * rates[1] + spent.cache_write * rates[2]
            + spent.cache_read * rates[3]) / 1_000_000  # fmt: skip


def store_rows(repo: Path, table: str) -> int:
    db = repo / ".git" / "orchestrator" / "events.db"
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def log(cli: Run, role: str, kind: str, task: str | None = None) -> None:
    args = ["events", "log-event", SPEC, role, kind, f"{kind} {task or ''}"]
    assert cli(*args, *([task] if task else [])).code == 0


def shown(cli: Run, *args: str) -> dict[str, Any]:
    result = cli("metrics", *args, "--json")
    assert result.code == 0, result
    return json.loads(result.out)


def by_key(report: dict[str, Any]) -> dict[str, float]:
    return {row["key"]: round(row["cost"], 9) for row in report["rows"]}


R1 = Spent(1000, 500, 2000, 10_000)
R2 = Spent(3000, 200, 0, 50_000)
R3 = Spent(10, 20, 0, 0)


@pytest.fixture
def ingested(cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path) -> dict[str, Any]:
    """implementor-data replies once while T001 is in progress (R1) and once after it was
    completed (R3); implementor-api once with no task (R2)."""
    log(cli, DATA, "task_started", "T001")
    start = time.time()
    first = reply(R1, at=start + 0.5, branch=DATA_BRANCH)
    time.sleep(0.6)
    log(cli, DATA, "task_completed", "T001")
    later = reply(R3, at=time.time() + 60, branch=DATA_BRANCH)
    data = write(tmp_path / "t" / "data.jsonl", [user(start), first, later])
    api = write(tmp_path / "t" / "api.jsonl",
                [reply(R2, at=start + 1, branch=API_BRANCH, session="sess-2")])  # fmt: skip
    result = cli("metrics", "ingest", str(data), str(api), "--json")
    assert result.code == 0, result
    return {"report": json.loads(result.out), "data": data, "api": api,
            "lines": (first, later)}  # fmt: skip


def test_costs_by_agent_task_feature_and_day_are_exact(cli: Run, ingested: dict[str, Any]) -> None:
    report = ingested["report"]
    assert report["stored"] == 3 and not report["problems"]
    assert [(f["read"], f["stored"], f["duplicates"]) for f in report["files"]] == [
        (2, 2, 0), (1, 1, 0)]  # fmt: skip
    agents = shown(cli, SPEC, "--by", "agent")
    assert by_key(agents) == {DATA: round(cost(R1) + cost(R3), 9), API: round(cost(R2), 9)}
    assert agents["total"]["tokens"] == {
        "messages": 3, "input_tokens": 4010, "output_tokens": 720,
        "cache_write_tokens": 2000, "cache_read_tokens": 60_000}  # fmt: skip
    assert round(agents["total"]["cost"], 9) == round(cost(R1) + cost(R2) + cost(R3), 9)
    tasks = shown(cli, SPEC, "--by", "task")
    assert by_key(tasks) == {"T001": round(cost(R1), 9),
                             "unattributed": round(cost(R2) + cost(R3), 9)}  # fmt: skip
    assert by_key(shown(cli, SPEC, "--by", "feature")) == {
        SPEC: round(cost(R1) + cost(R2) + cost(R3), 9)}  # fmt: skip
    days: dict[str, float] = {}
    for line, spent in zip([*ingested["lines"], None], [R1, R3, R2], strict=True):
        day = (line["timestamp"] if line else ingested["lines"][0]["timestamp"])[:10]
        days[day] = round(days.get(day, 0.0) + cost(spent), 9)
    assert {k: round(v, 9) for k, v in by_key(shown(cli, SPEC, "--by", "day")).items()} == days
    # every feature (no SPEC) is the same here: one feature
    assert by_key(shown(cli, "--by", "agent")) == by_key(agents)


def test_cost_by_pr_follows_the_tasks_it_merged(cli: Run, repo: Path,
                                                ingested: dict[str, Any]) -> None:  # fmt: skip
    with Orchestrator(repo) as orch:
        pr, _ = orch.store.record_pull_request(SPEC, DATA, "data", f"feature/{SPEC}/overseer",
                                               DATA_BRANCH, pr_number=7)  # fmt: skip
        orch.store.merge_pull_request(pr.id)
    prs = shown(cli, SPEC, "--by", "pr")
    assert by_key(prs) == {"#7": round(cost(R1), 9), "unmerged": round(cost(R2) + cost(R3), 9)}


def test_a_reread_and_a_resumed_copy_count_nothing_twice(
    cli: Run, repo: Path, ingested: dict[str, Any], tmp_path: Path
) -> None:
    again = cli("metrics", "ingest", str(ingested["data"]), "--json")
    assert [(f["read"], f["stored"]) for f in json.loads(again.out)["files"]] == [(0, 0)]
    # a resumed session's new transcript starts with a copy of the old one's replies
    copy = tmp_path / "t" / "resumed.jsonl"
    copy.write_text(ingested["data"].read_text())
    extra = Spent(7, 7, 0, 0)
    write(copy, [reply(extra, at=time.time() + 120, branch=DATA_BRANCH)], append=True)
    resumed = json.loads(cli("metrics", "ingest", str(copy), "--json").out)
    assert [(f["read"], f["stored"], f["duplicates"]) for f in resumed["files"]] == [(3, 1, 2)]
    assert store_rows(repo, "usage") == 4
    agents = shown(cli, SPEC)
    assert by_key(agents)[DATA] == round(cost(R1) + cost(R3) + cost(extra), 9)


def test_csv_has_the_same_rows_and_total(cli: Run, ingested: dict[str, Any]) -> None:
    result = cli("metrics", SPEC, "--by", "agent", "--csv")
    assert result.code == 0, result
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [r["agent"] for r in rows] == [API, DATA, "total"] or [r["agent"] for r in rows] == [
        DATA, API, "total"]  # fmt: skip
    total = rows[-1]
    assert (int(total["messages"]), int(total["input_tokens"])) == (3, 4010)
    assert abs(float(total["cost_usd"]) - (cost(R1) + cost(R2) + cost(R3))) < 1e-6


def test_text_table_and_an_unknown_model_is_listed_not_priced(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    lines = [reply(R1, at=time.time(), branch=DATA_BRANCH),
             reply(R2, at=time.time(), branch=DATA_BRANCH, model="claude-future-9")]  # fmt: skip
    path = write(tmp_path / "u.jsonl", lines)
    assert cli("metrics", "ingest", str(path)).code == 0
    report = shown(cli, SPEC)
    assert report["unknown_models"] == [
        {"model": "claude-future-9", "messages": 1, "tokens": sum(R2)}]  # fmt: skip
    assert round(report["total"]["cost"], 9) == round(cost(R1), 9)
    assert report["total"]["unpriced"] == 1
    text = cli("metrics", SPEC)
    assert text.code == 0
    assert "implementor-data" in text.out and "total" in text.out
    assert "claude-future-9 has no price" in text.out


def test_configured_prices_replace_the_shipped_ones(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    prices = (
        "prices:\n  claude-future-9: {input: 1, output: 2}\n"
        "  claude-sonnet-4-5: {input: 10, output: 10, cache_write: 10, cache_read: 10}"
    )
    committed(repo, feature, lambda text: text.replace("prices: {}", prices))
    lines = [reply(R1, at=time.time(), branch=DATA_BRANCH),
             reply(R2, at=time.time(), branch=DATA_BRANCH, model="claude-future-9")]  # fmt: skip
    assert cli("metrics", "ingest", str(write(tmp_path / "p.jsonl", lines))).code == 0
    report = shown(cli, SPEC)
    expected = cost(R1, (10, 10, 10, 10)) + cost(R2, (1, 2, 1.25, 0.1))
    assert report["unknown_models"] == []
    assert round(report["total"]["cost"], 9) == round(expected, 9)
    table = json.loads(cli("metrics", "prices", "--json", cwd=feature["overseer"]).out)
    assert {p["model"]: p["source"] for p in table}["claude-future-9"] == "config"


def test_since_keeps_only_later_replies(cli: Run, ingested: dict[str, Any]) -> None:
    later = ingested["lines"][1]["timestamp"]
    report = shown(cli, SPEC, "--since", later[:19])
    assert report["total"]["tokens"]["messages"] == 1
    assert report["since"] == later[:19] + ".000Z"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["metrics", "ingest", "/nonexistent/x.jsonl"], "no transcript at /nonexistent/x.jsonl"),
        (["metrics", SPEC, "--by", "week"], "--by 'week': group by one of agent, task, pr"),
        (["metrics", SPEC, "--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["metrics", SPEC, "--json", "--csv"], "--json and --csv: choose one"),
        (["metrics", "ingest", "--agent", "nocolon"], "--agent 'nocolon': give SPEC:ROLE"),
        (["metrics", "999-unknown"], "999-unknown"),
        (["metrics", "plot", SPEC, "--out", "x", "--format", "gif"], "--format 'gif'"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    cli: Run, repo: Path, feature: dict[str, Path], args: list[str], said: str
) -> None:
    before = (store_rows(repo, "usage"), store_rows(repo, "transcript_cursors"),
              store_rows(repo, "task_events"))  # fmt: skip
    result = cli(*args)
    assert result.code == 2, result
    assert result.err.startswith("error: ") and said in result.err, result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    after = (store_rows(repo, "usage"), store_rows(repo, "transcript_cursors"),
             store_rows(repo, "task_events"))  # fmt: skip
    assert after == before
    assert not (repo / "x").exists()


def test_an_implementor_cannot_ingest_a_file_it_names(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    path = write(tmp_path / "forged.jsonl", [reply(Spent(10**9), at=time.time(),
                                                   branch=API_BRANCH)])  # fmt: skip
    env = clean_env(CLAUDE_ORCHESTRATOR_ROLE="implementor")
    result = cli("metrics", "ingest", str(path), cwd=feature["impl-data"], env=env)
    assert result.code == 2 and "implementor" in result.err, result
    assert store_rows(repo, "usage") == 0


@pytest.mark.parametrize(("key", "value", "said"), [
    ("feature", "-1", "budgets.feature"), ("agent", "ten", "budgets.agent"),
    ("on_exceed", "pause", "budgets.on_exceed"), ("task", "0", "budgets.task"),
    ("on_exceed", "warn\n  colour: red", "budgets: unknown key 'colour'"),
])  # fmt: skip
def test_bad_budgets_are_refused_by_config_check(
    cli: Run, initialized: Path, key: str, value: str, said: str
) -> None:
    _budgets(initialized, **{key: value})
    result = cli("config", "check")
    assert result.code == 2, result
    assert result.err.startswith("error: orchestrator.yaml:") and said in result.err, result.err


# ------------------------------------------------------------------------------ budgets
def _set(text: str, **caps: object) -> str:
    for key, value in caps.items():
        old = next(line for line in text.splitlines() if line.startswith(f"  {key}:"))
        text = text.replace(old, f"  {key}: {value}")
    return text


def _budgets(repo: Path, **caps: object) -> None:
    config = repo / "orchestrator.yaml"
    config.write_text(_set(config.read_text(), **caps))


def committed(repo: Path, trees: dict[str, Path], edit: Any) -> None:
    """Commit the edited config on the overseer branch (where budgets and prices are
    read from)."""
    tree = trees["overseer"]
    source = tree / "orchestrator.yaml"
    text = (source if source.exists() else repo / "orchestrator.yaml").read_text()
    source.write_text(edit(text))
    git(tree, "add", "orchestrator.yaml")
    git(tree, "commit", "-q", "-m", "config: budgets")


def commit_budgets(repo: Path, trees: dict[str, Path], **caps: object) -> None:
    committed(repo, trees, lambda text: _set(text, **caps))


def budget_events(repo: Path) -> list[tuple[str, str | None, dict[str, Any]]]:
    with Orchestrator(repo) as orch:
        found = [e for e in reversed(orch.recent(1000, SPEC))
                 if e.event_type in ("budget_warning", "budget_exceeded")]  # fmt: skip
    return [(e.event_type, e.role, e.metadata or {}) for e in found]


def test_budgets_are_recorded_once_at_80_and_100_percent(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    spent = Spent(10_000, 0, 0, 0)  # $0.03 of sonnet
    commit_budgets(repo, feature, agent=0.035)
    path = tmp_path / "b.jsonl"
    write(path, [reply(spent, at=time.time(), branch=DATA_BRANCH)])
    first = json.loads(cli("metrics", "ingest", str(path), "--json").out)
    assert [e["event_type"] for e in first["budget_events"]] == ["budget_warning"]
    assert [(k, r, m["subject"]) for k, r, m in budget_events(repo)] == [
        ("budget_warning", DATA, DATA)]  # fmt: skip
    write(path, [reply(spent, at=time.time(), branch=DATA_BRANCH)], append=True)
    assert cli("metrics", "ingest", str(path)).code == 0
    write(path, [reply(spent, at=time.time(), branch=DATA_BRANCH)], append=True)
    assert cli("metrics", "ingest", str(path)).code == 0
    kinds = [(k, m["budget"]) for k, _, m in budget_events(repo)]
    assert kinds == [("budget_warning", 0.035), ("budget_exceeded", 0.035)]
    assert budget_events(repo)[1][2]["spent"] == pytest.approx(0.06)
    # a raised cap: its own crossings are due again, once
    commit_budgets(repo, feature, agent=0.1)
    write(path, [reply(Spent(1), at=time.time(), branch=DATA_BRANCH)], append=True)
    assert cli("metrics", "ingest", str(path)).code == 0
    kinds = [(k, m["budget"]) for k, _, m in budget_events(repo)]
    assert kinds[2:] == [("budget_warning", 0.1)]


def test_feature_and_task_budgets_name_their_subject(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    commit_budgets(repo, feature, feature=0.01, task=0.01)
    log(cli, DATA, "task_started", "T002")
    time.sleep(0.05)
    path = write(tmp_path / "f.jsonl",
                 [reply(Spent(10_000), at=time.time() + 1, branch=DATA_BRANCH)])  # fmt: skip
    assert cli("metrics", "ingest", str(path)).code == 0
    found = {(k, m["scope"], m["subject"], r) for k, r, m in budget_events(repo)}
    assert found == {(k, scope, subject, role)
                     for k in ("budget_warning", "budget_exceeded")
                     for scope, subject, role in (("feature", SPEC, "overseer"),
                                                  ("task", "T002", DATA))}  # fmt: skip


def _hook(cli: Run, tree: Path, name: str, transcript: str = "/tmp/t.jsonl",
          env: dict[str, str] | None = None, **fields: Any) -> Any:  # fmt: skip
    payload = {"session_id": "sess-1", "transcript_path": transcript, "cwd": str(tree),
               "hook_event_name": name, **fields}  # fmt: skip
    return cli("agent-event", cwd=tree, stdin=json.dumps(payload), env=env)


def test_on_exceed_stop_halts_the_agent_until_the_cap_is_raised(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    commit_budgets(repo, feature, agent=0.01, on_exceed="stop")
    path = write(tmp_path / "s.jsonl", [reply(Spent(10_000), at=time.time(), branch=DATA_BRANCH)])
    assert cli("metrics", "ingest", str(path)).code == 0
    tree = feature["impl-data"]
    prompt = _hook(cli, tree, "UserPromptSubmit", prompt="go on")
    assert prompt.code == 0
    assert json.loads(prompt.out)["decision"] == "block"
    assert "budgets.agent" in json.loads(prompt.out)["reason"]
    tool = _hook(cli, tree, "PostToolUse", tool_name="Bash", tool_input={"command": "ls"})
    assert json.loads(tool.out)["continue"] is False
    # another agent of the feature is not covered by an agent budget
    other = _hook(cli, feature["impl-api"], "UserPromptSubmit", prompt="go")
    assert other.out == ""
    # the agent raises its cap, or turns stop into warn, in its own copy of the config
    # (its hooks refuse to commit it): it is still halted
    (tree / "orchestrator.yaml").write_text((repo / "orchestrator.yaml").read_text())
    for caps in ({"agent": 5}, {"on_exceed": "warn"}, {"agent": "null"}):
        _budgets(tree, **caps)
        assert json.loads(_hook(cli, tree, "UserPromptSubmit", prompt="go").out)["decision"] == (
            "block")  # fmt: skip
    # the person raises the cap on the overseer branch: the agent goes on
    commit_budgets(repo, feature, agent=5)
    assert _hook(cli, tree, "UserPromptSubmit", prompt="go on").out == ""


def test_an_agent_cannot_make_its_model_cheaper_in_its_own_copy(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    commit_budgets(repo, feature, agent=0.01)
    tree = feature["impl-data"]
    config = tree / "orchestrator.yaml"
    config.write_text((repo / "orchestrator.yaml").read_text())
    cheap = "prices:\n  claude-sonnet-4-5: {input: 0, output: 0, cache_write: 0, cache_read: 0}"
    config.write_text(config.read_text().replace("prices: {}", cheap))
    path = write(tmp_path / "c.jsonl", [reply(Spent(10_000), at=time.time(), branch=DATA_BRANCH)])
    env = clean_env(HOME=str(tmp_path))
    assert (
        cli("metrics", "ingest", "--agent", f"{SPEC}:{DATA}", str(path), cwd=tree, env=env).code
        == 0
    )
    assert [k for k, _, _ in budget_events(repo)] == ["budget_warning", "budget_exceeded"]
    assert round(shown(cli, SPEC)["total"]["cost"], 9) == round(cost(Spent(10_000)), 9)


def test_the_stop_hook_ingests_its_transcript_in_the_background(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    transcript = write(home / ".claude" / "projects" / "-x" / "sess-1.jsonl",
                       [reply(R1, at=time.time(), branch=DATA_BRANCH)])  # fmt: skip
    outside = write(tmp_path / "elsewhere.jsonl", [reply(R2, at=time.time(), branch=DATA_BRANCH)])
    env = clean_env(HOME=str(home))
    tree = feature["impl-data"]
    assert _hook(cli, tree, "Stop", str(outside), env=env).code == 0
    assert _hook(cli, tree, "Stop", str(transcript), env=env).code == 0
    deadline = time.monotonic() + 60
    while store_rows(repo, "usage") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    with Orchestrator(repo) as orch, orch.store.transaction() as tx:
        usage = tx.usage(SPEC)
    assert [(u.role, u.input_tokens, u.transcript) for u in usage] == [
        (DATA, R1.input, os.path.realpath(transcript))]  # fmt: skip


def test_state_events_carry_the_agents_clock(cli: Run, repo: Path,
                                             feature: dict[str, Path]) -> None:  # fmt: skip
    before = stamp(time.time() - 1)
    assert _hook(cli, feature["impl-data"], "UserPromptSubmit", prompt="go").code == 0
    with Orchestrator(repo) as orch:
        event = next(e for e in orch.recent(10, SPEC) if e.event_type == "agent_working")
    assert before <= (event.metadata or {})["clock"] <= stamp(time.time() + 1)


def test_the_dashboard_shows_the_same_costs(cli: Run, repo: Path,
                                            ingested: dict[str, Any]) -> None:  # fmt: skip
    from .test_dashboard_api import make_client

    with make_client(repo) as client:
        answered = client.get("/api/costs", params={"spec": SPEC, "by": "task"})
        assert answered.status_code == 200
        assert answered.json() == shown(cli, SPEC, "--by", "task")
        assert client.get("/api/costs", params={"by": "week"}).status_code == 400
        chart = client.get("/api/charts/cost-per-agent.svg", params={"spec": SPEC})
    assert chart.status_code == 200
    for row in shown(cli, SPEC)["rows"]:
        assert f"{row['key']}: ${row['cost']:,.2f}" in chart.text


def test_a_bad_line_is_warned_with_file_and_line_and_counts_nothing(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    path = write(tmp_path / "bad.jsonl", [reply(R1, at=time.time(), branch=DATA_BRANCH)])
    with path.open("ab") as out:
        out.write(b'{"type": "assistant", "message": \xff\xfe}\n')
    write(path, [reply(R3, at=time.time(), branch=DATA_BRANCH)], append=True)
    result = cli("metrics", "ingest", str(path))
    assert result.code == 0, result
    assert result.err.startswith(f"warning: {path.resolve()}:2: "), result.err
    assert result.err.count("\n") == 1
    assert shown(cli, SPEC)["total"]["tokens"]["messages"] == 2


def test_an_agents_skewed_clock_is_corrected_before_charging_tasks(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    """implementor-data's clock runs 10 minutes behind the store's: its hooks' events say
    so (their ``clock``), and its replies are moved onto the store's clock before the
    task they were made in is found."""
    skew = 600.0
    log(cli, DATA, "task_started", "T001")
    said = {"hook": "UserPromptSubmit", "clock": stamp(time.time() - skew)}
    args = ["events", "log-event", SPEC, DATA, "agent_working", "working", "--metadata",
            json.dumps(said)]  # fmt: skip
    assert cli(*args).code == 0
    time.sleep(0.3)
    # made 0.1 s after the start by the store's clock: 600 s before it by the agent's
    during = reply(R1, at=time.time() - skew + 0.1, branch=DATA_BRANCH)
    time.sleep(0.3)
    log(cli, DATA, "task_completed", "T001")
    log(cli, DATA, "task_started", "T002")
    after = reply(R2, at=time.time() - skew + 1, branch=DATA_BRANCH)
    path = write(tmp_path / "skew.jsonl", [during, after])
    assert cli("metrics", "ingest", str(path)).code == 0
    assert by_key(shown(cli, SPEC, "--by", "task")) == {"T001": round(cost(R1), 9),
                                                       "T002": round(cost(R2), 9)}  # fmt: skip


def test_budget_events_reach_the_notification_channels(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    from .http_receiver import Receiver

    hook = "    hook: {type: webhook, url_env: HOOK_URL, events: [budget_exceeded]}\n"
    channel = "notifications:\n  channels:\n" + hook
    config = repo / "orchestrator.yaml"
    config.write_text(config.read_text().replace("notifications:\n", channel, 1)
                      .replace("  channels: {}\n", "", 1))  # fmt: skip
    commit_budgets(repo, feature, feature=0.01)
    path = write(tmp_path / "n.jsonl", [reply(Spent(10_000), at=time.time(), branch=DATA_BRANCH)])
    with Receiver() as receiver:
        env = clean_env(HOOK_URL=receiver.url(), CLAUDE_ORCHESTRATOR_NO_BACKGROUND_DELIVERY="1")
        assert cli("notify", "flush", env=env).code == 0  # the channels' cursor starts here
        assert cli("metrics", "ingest", str(path), env=env).code == 0
        flushed = cli("notify", "flush", "--wait", "5", env=env)
        assert flushed.code == 0, flushed
        got = receiver.wait(1)
    body = got[0].json()
    assert "budget" in json.dumps(body) and SPEC in json.dumps(body)
    assert len(got) == 1  # the warning is not selected; the exceeded goes once


def test_the_dashboard_serves_the_flow_figures(cli: Run, repo: Path,
                                               ingested: dict[str, Any]) -> None:  # fmt: skip
    from .test_dashboard_api import make_client

    with make_client(repo) as client:
        answered = client.get(f"/api/features/{SPEC}/flow")
        missing = client.get("/api/features/999-none/flow")
    assert answered.status_code == 200 and missing.status_code == 404
    flow = json.loads(cli("metrics", "flow", SPEC, "--json").out)
    mine, theirs = answered.json(), flow
    mine.pop("now"), theirs.pop("now")
    assert mine == theirs
    assert [t["task_id"] for t in mine["tasks"]][:1] == ["T001"]


def _guard(cli: Run, tree: Path, command: str = "ls") -> Any:
    payload = {"session_id": "sess-1", "transcript_path": "/tmp/t.jsonl", "cwd": str(tree),
               "hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_input": {"command": command}}  # fmt: skip
    return cli("guard", "--role", "implementor", cwd=tree, stdin=json.dumps(payload))


@pytest.mark.parametrize("edit", [
    None,
    lambda text: text.replace("prefix: feature", "prefix: mine"),
    lambda text: text.replace("  path: null", "  path: /tmp/elsewhere.db"),
    lambda text: text + "\n: : not yaml [\n",
    lambda text: _set(text, agent=1000, on_exceed="warn"),
], ids=["as-committed", "another-prefix", "another-store", "unreadable", "raised-cap"])  # fmt: skip
def test_the_guard_refuses_every_tool_call_of_a_halted_agent(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path, edit: Any
) -> None:
    """Whatever the agent does to its own copy of the config, its tool calls are refused
    while the committed config's budget is exceeded; the other agents work on."""
    commit_budgets(repo, feature, agent=0.01, on_exceed="stop")
    tree = feature["impl-data"]
    assert _guard(cli, tree).code == 0
    path = write(tmp_path / "g.jsonl", [reply(Spent(10_000), at=time.time(), branch=DATA_BRANCH)])
    assert cli("metrics", "ingest", str(path)).code == 0
    if edit is not None:
        (tree / "orchestrator.yaml").write_text(edit((repo / "orchestrator.yaml").read_text()))
    refused = _guard(cli, tree)
    assert refused.code == 0, refused  # the JSON refuses the call and ends the turn
    said = json.loads(refused.out)
    assert said["continue"] is False
    assert said["hookSpecificOutput"]["permissionDecision"] == "deny"
    reason = said["hookSpecificOutput"]["permissionDecisionReason"]
    assert reason == said["stopReason"]
    assert "budgets.agent" in reason and "implementor-data has cost $0.03" in reason
    assert _guard(cli, feature["impl-api"]).out == ""
    commit_budgets(repo, feature, agent=5)
    allowed = _guard(cli, tree)
    assert (allowed.code, allowed.out) == (0, "")


def test_one_hour_cache_writes_are_ingested_and_priced_at_their_rate(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    spent = Spent(0, 0, 8000, 0)
    path = write(tmp_path / "h.jsonl", [reply(spent, at=time.time(), branch=DATA_BRANCH,
                                              one_hour=3000)])  # fmt: skip
    assert cli("metrics", "ingest", str(path)).code == 0
    with Orchestrator(repo) as orch, orch.store.transaction() as tx:
        assert [(u.cache_write_tokens, u.cache_write_1h_tokens) for u in tx.usage(SPEC)] == [
            (8000, 3000)]  # fmt: skip
    # sonnet 4.5: 5-minute writes 3.75, 1-hour writes 6.00 per million
    expected = (5000 * 3.75 + 3000 * 6.0) / 1_000_000
    assert round(shown(cli, SPEC)["total"]["cost"], 9) == round(expected, 9)
