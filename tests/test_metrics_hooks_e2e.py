"""The metrics' hooks under the real Claude Code CLI: a session's usage reaches the store
through the agent's own Stop/SessionEnd hooks, and ``budgets.on_exceed: stop`` halts the
agent through its UserPromptSubmit and PostToolUse hooks, whatever its worktree's copy of
the config says.

One repository per module (per xdist worker): ``git init``, ``claude-orchestrator init``
and ``generate`` committed on main, then one feature per test (``init-feature SPEC
--implementors data --worktrees``), whose implementor's worktree carries the generated
``.claude/permissions-implementor.json``. Claude Code (``.ci/install-claude.sh``) runs
there headless as the runbooks start it (``claude -p --setting-sources "" --settings
.claude/permissions-implementor.json``: the ``agent-event`` hook on SessionStart,
UserPromptSubmit, PostToolUse, Stop, SessionEnd..., the guard on PreToolUse, the
sandbox) against :class:`FakeModel`, which reports chosen usage numbers. HOME is a
folder of the module, so the transcripts land in ``$HOME/.claude/projects``, where the
hook ingests them from; nobody runs ``metrics ingest`` except the person in the
mid-turn test. The CLI's default model is ``claude-opus-5-5`` (the shipped price table's
4/20/5/0.2 US$ per million tokens): a reply of 10,000 input tokens costs $0.04, twice
the caps used here.

What Claude Code 2.1.330 does with the halt's outputs (``agent_event.halt_output`` and
the guard), checked here:

- UserPromptSubmit ``{"decision": "block", "reason": R}``: the prompt never reaches the
  model (the stand-in gets no request at all), ``num_turns`` 0, the JSON result
  ``"UserPromptSubmit operation blocked by hook:\\nR\\n\\nOriginal prompt: P"``, exit 0
  with ``subtype`` success (not an error).
- PostToolUse ``{"continue": false, "stopReason": R}``: the tool has run; its result is
  never sent to the model and the turn ends there (``terminal_reason`` hook_stopped,
  ``result`` ""); the transcript records a ``hook_stopped_continuation`` attachment with
  R. The Stop hook does not run; SessionEnd does (and ingests the transcript).
- The guard's refusal of a call after the cap was crossed: exit 2 (R on stderr) would
  not run the call but hand R to the model in one more request; so the guard prints,
  with exit 0, ``{"continue": false, "stopReason": R, "hookSpecificOutput":
  {"hookEventName": "PreToolUse", "permissionDecision": "deny",
  "permissionDecisionReason": R}}``: the call does not run and the turn ends with no
  further request (``terminal_reason`` hook_stopped); ``continue: false`` alone would let
  the call run first.

The halt is decided on the config committed on the overseer branch: raising the cap or
setting ``on_exceed: warn`` in the worktree's copy (even committed on the agent's own
branch) changes nothing, and neither do other edits of that copy that would hide the
agent from its hook (another ``branches.prefix``, another store, YAML that does not
parse): ``agent-event`` then reads the committed config, as the guard does.

Needs the CLI and, since the implementor's file enables Claude Code's sandbox with
``failIfUnavailable``, bubblewrap and socat (``.ci/install-sandbox.sh``); skips without
them, like the other implementor runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.metrics_budget import halt_reason
from claude_orchestrator.models import Event, Usage
from tests.e2e.claude_cli import PROMPT, ClaudeRun, find_claude, run_claude
from tests.e2e.fake_model import FakeModel, ReplyUsage

from .conftest import git, make_repo
from .test_claude_e2e_roles import BIN, IDENTITY, SANDBOX_PROBLEM, co
from .test_metrics_cli import _set

ROLE = "implementor-data"
SETTINGS = Path(".claude") / "permissions-implementor.json"
#: how long the background ingest may take after a session ended
INGEST_WAIT_S = 30.0
CAP = 0.02
#: over the cap by itself (about $0.04 at any opus or sonnet rate)
EXPENSIVE = ReplyUsage(10_000, 200, 0, 0)
CHEAP = ReplyUsage(100, 10, 0, 0)
#: the usage of each main reply of the two sessions of the ingest test
FIRST = [ReplyUsage(1200, 310, 4000, 20000), ReplyUsage(900, 120, 0, 31000)]
SECOND = [ReplyUsage(2100, 405, 6000, 0), ReplyUsage(700, 166, 1200, 8000),
          ReplyUsage(350, 77, 0, 9200)]  # fmt: skip
#: ReplyUsage's first four fields, as ``metrics --json`` names them
COLUMNS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
#: a tool call that returns once the test writes src/go
WAITING = "until test -e src/go; do sleep 0.1; done"
REFUSED = "UserPromptSubmit operation blocked by hook:\n"

pytestmark = [
    pytest.mark.skipif(
        find_claude() is None,
        reason="Claude Code CLI not installed (npm unavailable?): run .ci/install-claude.sh",
    ),
    pytest.mark.skipif(SANDBOX_PROBLEM is not None, reason=str(SANDBOX_PROBLEM)),
]


# ------------------------------------------------------------------ the repository
@dataclass
class Repo:
    main: Path
    #: HOME of every Claude Code run (its transcripts: home/.claude/projects/*/*.jsonl)
    home: Path


@dataclass
class Agent:
    """The implementor ``implementor-data`` of one feature."""

    repo: Repo
    spec: str
    overseer: Path
    impl: Path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    base = tmp_path_factory.mktemp("hooks")
    main = make_repo(base / "app")
    co(main, "init")
    co(main, "generate")
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "config and generated files")
    home = base / "home"
    home.mkdir()
    return Repo(main, home)


def feature(repo: Repo, spec: str, **budgets: object) -> Agent:
    """A new feature with the implementor's worktree; ``budgets`` committed on its
    overseer branch (where they are read from)."""
    co(repo.main, "init-feature", spec, "--implementors", "data", "--worktrees")
    trees = repo.main.parent / f"{repo.main.name}-worktrees" / spec
    agent = Agent(repo, spec, trees / "overseer", trees / "impl-data")
    assert git(agent.impl, "branch", "--show-current") == f"feature/{spec}/impl-data"
    assert (agent.impl / SETTINGS).is_file()
    if budgets:
        set_budgets(agent.overseer, **budgets)
        git(agent.overseer, "commit", "-q", "-am", "config: budgets")
    return agent


def set_budgets(tree: Path, **values: object) -> None:
    config = tree / "orchestrator.yaml"
    config.write_text(_set(config.read_text(), **values))


# ------------------------------------------------------------------ running Claude Code
@dataclass
class Session:
    run: ClaudeRun
    fake: FakeModel
    transcript: Path

    def main_requests(self) -> int:
        return sum(1 for r in self.fake.requests if r.kind == "main")

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.transcript.read_text().splitlines()]


def bash(command: str) -> dict[str, Any]:
    return {"name": "Bash", "input": {"command": command, "description": "run it"}}


def transcripts(home: Path) -> set[Path]:
    return set(home.glob(".claude/projects/*/*.jsonl"))


def session(
    agent: Agent,
    *calls: dict[str, Any],
    usage: list[ReplyUsage],
    during: Callable[[int, Path], None] | None = None,
) -> Session:
    """One ``claude -p`` in the implementor's worktree with its generated settings;
    ``during(index, transcript)`` runs when the result of call ``index`` reaches the
    stand-in, before it answers."""
    home = agent.repo.home
    before = transcripts(home)

    def new_transcript() -> Path:
        found = sorted(transcripts(home) - before)
        assert len(found) == 1, f"expected one new transcript, found {found}"
        return found[0]

    def on_result(index: int, _: dict[str, Any]) -> None:
        if during is not None:
            during(index, new_transcript())

    env = {**IDENTITY, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
           "HOME": str(home)}  # fmt: skip
    with FakeModel(*calls, usage=usage, side_usage=ReplyUsage(), on_result=on_result,
                   lifetime=120) as fake:  # fmt: skip
        run = run_claude(agent.impl, SETTINGS, fake, timeout=60, env=env)
    assert not run.timed_out and run.returncode == 0, run
    assert fake.errors == [], fake.errors
    assert run.output is not None, run
    return Session(run, fake, new_transcript())


# ------------------------------------------------------------------ reading the store
Record = tuple[str, str | None, str | None, str, str, int, int, int, int]


def sent(agent: Agent, done: Session) -> list[Record]:
    """The replies the stand-in sent to the session's main conversation, as the store
    must keep them (key, agent, session, model, tokens)."""
    records: list[Record] = []
    for reply in done.fake.main_replies():
        assert reply.usage is not None, "every main reply has chosen usage"
        u = reply.usage
        records.append((f"{reply.message_id}:{reply.request_id}", agent.spec, ROLE,
                        done.transcript.stem, reply.model, u.input_tokens, u.output_tokens,
                        u.cache_creation_input_tokens, u.cache_read_input_tokens))  # fmt: skip
    return records


def stored(records: list[Usage]) -> list[Record]:
    return [(u.key, u.spec_id, u.role, u.session_id, u.model, u.input_tokens,
             u.output_tokens, u.cache_write_tokens, u.cache_read_tokens)
            for u in records]  # fmt: skip


def wait_ingested(agent: Agent, transcript: Path) -> list[Usage]:
    """The records read from ``transcript``, once the hooks' background ingest has read
    it to its end (its cursor at the file's size), at most :data:`INGEST_WAIT_S` after
    the session ended."""
    path = os.path.realpath(transcript)
    deadline = time.monotonic() + INGEST_WAIT_S
    while True:
        with Orchestrator(agent.repo.main) as orch, orch.store.transaction() as tx:
            cursor = tx.transcript_cursor(path)
            records = [u for u in tx.usage(agent.spec) if u.transcript == path]
        if cursor is not None and cursor.offset == os.path.getsize(path):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{INGEST_WAIT_S:.0f} s after the session, the hooks had not read {path} "
                f"to its end ({os.path.getsize(path)} bytes): cursor {cursor}, {records}"
            )
        time.sleep(0.2)


def exceeded(agent: Agent, wait: float = 0.0) -> list[Event]:
    """The feature's ``budget_exceeded`` events, waiting up to ``wait`` seconds for one."""
    deadline = time.monotonic() + wait
    while True:
        with Orchestrator(agent.repo.main) as orch, orch.store.transaction() as tx:
            found = tx.events(agent.spec, types=("budget_exceeded",))
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def over_the_cap(agent: Agent) -> Event:
    """Run a session that costs more than the agent's cap; the budget_exceeded its hooks'
    ingest recorded."""
    # every reply over the cap: a request Claude Code retries still crosses it
    first = session(agent, bash("echo one"), usage=[EXPENSIVE] * 4)
    assert first.run.output is not None and first.run.output.get("result") == "Done."
    found = exceeded(agent, wait=INGEST_WAIT_S)
    assert len(found) == 1, f"no budget_exceeded {INGEST_WAIT_S:.0f} s after {first.run}"
    [event] = found
    assert (event.role, (event.metadata or {}).get("scope")) == (ROLE, "agent"), event
    return event


def halt(event: Event) -> str:
    """What the hooks tell an agent ``event`` halts (CAP, ``on_exceed: stop``)."""
    reason = halt_reason([event], {"agent": CAP, "on_exceed": "stop"}, ROLE)
    assert reason is not None and event.message in reason, reason
    return reason


def assert_refused(done: Session, event: Event) -> None:
    """The session's first prompt was refused by the UserPromptSubmit hook, with the
    exceeded budget's words: nothing reached the model."""
    output = done.run.output or {}
    assert output.get("result") == f"{REFUSED}{halt(event)}\n\nOriginal prompt: {PROMPT}", done.run
    assert output.get("num_turns") == 0, done.run
    assert done.fake.requests == [], done.fake.summary()
    assert not [line for line in done.lines() if line.get("type") == "assistant"]


# ------------------------------------------------------------------ the tests
def test_each_session_is_ingested_by_its_own_hooks(project: Repo) -> None:
    """After ``claude -p`` ends, its replies are in the store with the tokens the stand-in
    sent, each once, without anyone running ``metrics ingest``; a second session adds
    only its own; ``metrics --json`` shows their sum."""
    agent = feature(project, "001-ingest")
    first = session(agent, bash("echo one"), usage=FIRST)
    assert first.run.decision == "ran" and first.run.text == "one", first.run
    assert stored(wait_ingested(agent, first.transcript)) == sent(agent, first)

    second = session(agent, bash("echo two"), bash("echo three"), usage=SECOND)
    assert [s.decision for s in second.run.steps] == ["ran", "ran"], second.run
    assert stored(wait_ingested(agent, second.transcript)) == sent(agent, second)
    with Orchestrator(project.main) as orch, orch.store.transaction() as tx:
        everything = tx.usage(agent.spec)
    assert stored(everything) == sent(agent, first) + sent(agent, second)

    tokens = json.loads(co(project.main, "metrics", agent.spec, "--json"))["total"]["tokens"]
    replies = FIRST + SECOND
    assert tokens == {"messages": len(replies), **{
        name: sum(u[i] for u in replies) for i, name in enumerate(COLUMNS)}}  # fmt: skip


def test_stop_refuses_the_next_prompt_until_the_overseer_raises_the_cap(project: Repo) -> None:
    """A session over the agent's cap (``on_exceed: stop``, committed on the overseer
    branch) gets ``budget_exceeded`` recorded by its own hooks; the next session's prompt
    is refused before the model sees it, also after the agent raised its cap and set
    ``on_exceed: warn`` in its worktree's copy (and committed that on its own branch);
    once the person raises the cap on the overseer branch, the agent goes on."""
    agent = feature(project, "002-halt", agent=CAP, on_exceed="stop")
    event = over_the_cap(agent)

    assert_refused(session(agent, bash("echo two"), usage=[CHEAP, CHEAP]), event)

    set_budgets(agent.impl, agent=1000, on_exceed="warn")
    git(agent.impl, "commit", "-q", "-am", "config: my own budget")
    assert_refused(session(agent, bash("echo three"), usage=[CHEAP, CHEAP]), event)

    set_budgets(agent.overseer, agent=1)
    git(agent.overseer, "commit", "-q", "-am", "config: a higher cap")
    going = session(agent, bash("echo four"), usage=[CHEAP, CHEAP])
    assert going.run.decision == "ran" and going.run.text == "four", going.run
    assert (going.run.output or {}).get("result") == "Done.", going.run
    assert exceeded(agent) == [event]


def guard_allowed(agent: Agent, command: str) -> None:
    """Wait (up to :data:`INGEST_WAIT_S`) until the guard has let ``command`` run."""
    deadline = time.monotonic() + INGEST_WAIT_S
    while time.monotonic() < deadline:
        with Orchestrator(agent.repo.main) as orch, orch.store.transaction() as tx:
            found = tx.events(agent.spec, role=ROLE, types=("guard_decision",))
        if any(e.message == f"allowed Bash: {command}" for e in found):
            return
        time.sleep(0.2)
    raise AssertionError(f"the guard did not allow {command!r} within {INGEST_WAIT_S:.0f} s")


def test_stop_ends_the_turn_after_the_tool_call_during_which_the_cap_was_crossed(
    project: Repo,
) -> None:
    """While the agent's tool call runs (the guard let it), the person ingests the running
    session's transcript and the cap is crossed; when the call returns, its PostToolUse
    hook ends the turn: the model never gets the result. The halted session's replies
    are still ingested (by SessionEnd: no Stop hook runs after such an end)."""
    agent = feature(project, "003-turn", agent=CAP, on_exceed="stop")
    go = agent.impl / "src" / "go"
    go.parent.mkdir(exist_ok=True)
    before = transcripts(project.home)
    ingested: list[dict[str, Any]] = []

    def person() -> None:
        try:
            guard_allowed(agent, WAITING)
            [transcript] = transcripts(project.home) - before
            ingested.append(json.loads(co(project.main, "metrics", "ingest", str(transcript),
                                          "--json")))  # fmt: skip
        finally:
            go.write_text("")  # the tool call returns

    beside = threading.Thread(target=person, daemon=True)
    beside.start()
    done = session(agent, bash(WAITING), usage=[EXPENSIVE, CHEAP])
    beside.join(INGEST_WAIT_S)
    [report] = ingested
    assert [e["event_type"] for e in report["budget_events"]] == [
        "budget_warning", "budget_exceeded"]  # fmt: skip
    [event] = exceeded(agent)

    output = done.run.output or {}
    assert output.get("terminal_reason") == "hook_stopped", done.run
    assert done.run.decision == "none", done.run  # its result never reached the model
    assert done.main_requests() == 1, done.fake.summary()
    stops = [line["attachment"] for line in done.lines()
             if line.get("attachment", {}).get("type") == "hook_stopped_continuation"]  # fmt: skip
    assert [(s["hookEvent"], s["message"]) for s in stops] == [("PostToolUse", halt(event))]
    assert stored(wait_ingested(agent, done.transcript)) == sent(agent, done)


def test_a_cap_crossed_between_tool_calls_ends_the_turn_at_the_next_call(
    project: Repo,
) -> None:
    """The cap is crossed between two tool calls (the person ingests when the first
    result reaches the stand-in): the second call does not run and the turn ends there,
    without another request to the model."""
    agent = feature(project, "005-next", agent=CAP, on_exceed="stop")

    def person_ingests(index: int, transcript: Path) -> None:
        if index == 0:
            co(project.main, "metrics", "ingest", str(transcript))

    done = session(agent, bash("echo one"), bash("mkdir -p src/ran-over-budget"),
                   usage=[EXPENSIVE, CHEAP, CHEAP], during=person_ingests)  # fmt: skip
    assert len(exceeded(agent)) == 1
    assert not (agent.impl / "src" / "ran-over-budget").exists()  # the guard refused it
    assert done.main_requests() == 2, done.fake.summary()  # none after the refusal
    assert (done.run.output or {}).get("terminal_reason") == "hook_stopped", done.run


@pytest.fixture(scope="module")
def dodging(project: Repo) -> tuple[Agent, Event]:
    agent = feature(project, "004-dodge", agent=CAP, on_exceed="stop")
    try:
        return agent, over_the_cap(agent)
    except AssertionError as exc:  # an error of the set-up, not the expected failure
        raise RuntimeError(f"the halt was not set up: {exc}") from exc


DODGES: dict[str, Callable[[str], str]] = {
    "another-branch-prefix": lambda text: _set(text, prefix="elsewhere"),
    "another-store": lambda text: _set(text, path="/nonexistent/events.db"),
    "unreadable-config": lambda text: text + "budgets: [\n",
}


@pytest.mark.parametrize("edit", list(DODGES))
def test_other_edits_of_the_worktree_config_do_not_lift_the_halt(
    dodging: tuple[Agent, Event], edit: str
) -> None:
    """The prompt is refused whatever else the agent's copy of orchestrator.yaml says:
    another branch prefix (its branch then names no agent), another store (which has no
    budget_exceeded), or YAML that does not parse (the hook fails open)."""
    agent, event = dodging
    config = agent.impl / "orchestrator.yaml"
    original = config.read_text()
    config.write_text(DODGES[edit](original))
    try:
        assert_refused(session(agent, bash("echo dodged"), usage=[CHEAP, CHEAP]), event)
    finally:
        config.write_text(original)
