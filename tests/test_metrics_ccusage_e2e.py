"""The peer check of issue 15: the same transcripts, written by the real Claude Code CLI,
read by ``claude-orchestrator metrics`` and by ccusage (the npm tool people use for
Claude Code's usage), and priced by the CLI itself.

One repository per module: ``git init``, ``claude-orchestrator init``, ``init-feature
001-x --implementors data --worktrees``. In the implementor's worktree (branch
``feature/001-x/impl-data``) the pinned CLI (``.ci/install-claude.sh``) runs three
sessions against :class:`FakeModel`, one per model (its default, ``claude-sonnet-4-5``,
``claude-haiku-4-5``), each reply with chosen usage numbers (cache writes and reads
included, every request below the 200,000-token long-context line) and each tool call a
reply of two blocks; side requests report no usage, so the CLI's own
``total_cost_usd`` is the cost of the replies in the transcript. HOME is kept, so the
transcripts stay under ``$HOME/.claude/projects``.

What must agree:

- the transcripts hold each reply the stand-in sent once (as ``<message id>:<request
  id>``; the CLI writes one line per content block, every line with the final usage);
- the CLI charges the rates :data:`CLI_RATES` (derived from runs with one category of
  tokens each): ``total_cost_usd`` is the usage at those rates;
- ccusage 20.0.24 (``.ci/install-ccusage.sh``, run ``--offline``: its bundled prices, no
  network) counts the same tokens per session and category, and costs what the CLI
  charges for every model its table prices. Its table predates the CLI's default model
  ``claude-opus-5-5``: it lists that model as unpriced (a difference of tables, not of
  counting: the test accepts exactly that);
- ``claude-orchestrator metrics ingest`` stores each reply once (and nothing on a
  re-read), and ``metrics 001-x --by agent --json`` shows the same tokens for
  ``implementor-data``, and the CLI's cost for the models whose rates were derived.

Skips only when the CLI or ccusage is not installed (then the test says which script
installs it), and the orchestrator half while ``metrics ingest`` does not exist.

``tests/data/transcripts/claude-2.1.330`` holds copies of such transcripts (without
Claude Code's context lines, :data:`DROPPED`) and ``expected.json`` (each session's model,
tokens and the CLI's ``total_cost_usd``); the tests at the end check ccusage and our
ingest on them without the CLI. ``python -m tests.test_metrics_ccusage_e2e`` runs the
sessions again and rewrites them (:func:`write_fixtures`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.e2e.claude_cli import ROOT, ClaudeRun, find_claude, run_claude
from tests.e2e.fake_model import FakeModel, ReplyUsage

from .conftest import clean_env, git
from .test_workflow_setup import commit

CLAUDE = find_claude()
LOCAL_CCUSAGE = ROOT / ".ci" / "npm" / "ccusage" / "node_modules" / ".bin" / "ccusage"
CCUSAGE = str(LOCAL_CCUSAGE) if os.access(LOCAL_CCUSAGE, os.X_OK) else None
BIN = Path(sys.executable).parent
CO = shutil.which("claude-orchestrator", path=str(BIN)) or shutil.which("claude-orchestrator")
SPEC = "001-x"
ROLE = "implementor-data"
BRANCH = f"feature/{SPEC}/impl-data"
FIXTURES = Path(__file__).parent / "data" / "transcripts" / "claude-2.1.330"
MILLION = 1_000_000

#: The CLI's default model (2.1.330, no ``--model``).
DEFAULT_MODEL = "claude-opus-5-5"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


class Rates(NamedTuple):
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


#: What Claude Code 2.1.330 charges (its ``total_cost_usd``), derived from one run per
#: model and category with 100,000 tokens of that category only. Note opus-5-5's cache
#: read: 0.05 x input, not 0.1 x.
CLI_RATES = {
    DEFAULT_MODEL: Rates(4.0, 20.0, 5.0, 0.2),
    SONNET: Rates(3.0, 15.0, 3.75, 0.3),
    HAIKU: Rates(1.0, 5.0, 1.25, 0.1),
}


def usage(input_tokens: int, output: int, cache_write: int, cache_read: int) -> ReplyUsage:
    return ReplyUsage(input_tokens, output, cache_write, cache_read)


#: model asked for (None: the CLI's default) -> the usage of each main reply, in order:
#: one per tool call, then the final answer
SESSIONS: dict[str | None, list[ReplyUsage]] = {
    None: [usage(1200, 310, 4000, 20000), usage(900, 120, 0, 31000),
           usage(1500, 250, 2500, 33000), usage(400, 90, 0, 35500)],
    SONNET: [usage(2100, 405, 6000, 0), usage(700, 166, 1200, 8000), usage(350, 77, 0, 9200)],
    HAIKU: [usage(5000, 1000, 0, 0), usage(64, 33, 10000, 5000)],
}  # fmt: skip
CATEGORIES = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
#: ccusage's names of the same categories
CCUSAGE_NAMES = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")

needs_ccusage = pytest.mark.skipif(
    CCUSAGE is None, reason="ccusage not installed (npm unavailable?): run .ci/install-ccusage.sh"
)
#: line types dropped from the fixture copies: Claude Code's context (its system prompt,
#: tool and skill listings, environment) and the shapes of its requests, 95% of a file
#: and nothing a usage reader reads
DROPPED = ("attachment", "api-request", "api-request-shape", "api-request-blob")


class Totals(NamedTuple):
    messages: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int

    def categories(self) -> tuple[int, int, int, int]:
        return (
            self.input_tokens,
            self.output_tokens,
            self.cache_write_tokens,
            self.cache_read_tokens,
        )


def totals(usages: Iterable[ReplyUsage]) -> Totals:
    chosen = list(usages)
    return Totals(
        len(chosen),
        sum(u.input_tokens for u in chosen),
        sum(u.output_tokens for u in chosen),
        sum(u.cache_creation_input_tokens for u in chosen),
        sum(u.cache_read_input_tokens for u in chosen),
    )


def combined(parts: Iterable[Totals]) -> Totals:
    return Totals(*(sum(column) for column in zip(*parts, strict=True)))


def cost_at(rates: Rates, tokens: Totals) -> float:
    return sum(n * r for n, r in zip(tokens.categories(), rates, strict=True)) / MILLION


# ------------------------------------------------------------------ the world
def sh(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def co(cwd: Path, *args: str) -> str:
    assert CO, "the claude-orchestrator console script is not installed"
    proc = sh(cwd, CO, *args)
    assert proc.returncode == 0, f"{args}: {proc.stdout[-800:]} {proc.stderr[-1500:]}"
    return proc.stdout


class Expected(NamedTuple):
    """One session's transcript and what it must count to."""

    transcript: Path
    model: str
    sent: Totals
    #: the CLI's own ``total_cost_usd`` for the session
    cost: float

    @property
    def session_id(self) -> str:
        return self.transcript.stem


@dataclass
class Session:
    """One ``claude -p`` run: what the stand-in sent and what the CLI said."""

    run: ClaudeRun
    fake: FakeModel
    expected: Expected


def claude_session(base: Path, impl: Path, home: Path, model: str | None) -> Session:
    calls = [{"name": "Bash", "input": {"command": f"echo step {i}"}}
             for i in range(len(SESSIONS[model]) - 1)]  # fmt: skip
    settings = base / "settings.json"
    settings.write_text(json.dumps({"permissions": {"defaultMode": "dontAsk",
                                                    "allow": ["Bash(echo step *)"]}}))  # fmt: skip
    before = set(home.glob(".claude/projects/*/*.jsonl"))
    # block_pause: each block arrives apart, as the API streams them, so a block's line
    # could be written before the final usage came (it is not: see the first test)
    with FakeModel(*calls, usage=SESSIONS[model], side_usage=ReplyUsage(),
                   lead_text="Running the next step.", block_pause=0.2) as fake:  # fmt: skip
        run = run_claude(impl, settings, fake, timeout=120, env={"HOME": str(home)},
                         args=["--model", model] if model else [])  # fmt: skip
    assert not run.timed_out and run.returncode == 0, run
    assert run.output is not None and run.output.get("result") == "Done.", run
    assert [s.decision for s in run.steps] == ["ran"] * len(calls), run
    assert fake.errors == [], fake.errors
    new = sorted(set(home.glob(".claude/projects/*/*.jsonl")) - before)
    assert len(new) == 1, f"expected one new transcript, found {new}"
    [asked] = {r.model for r in fake.main_replies()}
    sent = totals(r.usage for r in fake.main_replies() if r.usage is not None)
    return Session(run, fake, Expected(new[0], asked, sent, float(run.output["total_cost_usd"])))


def feature_repo(base: Path, *, worktrees: bool) -> Path:
    """``git init``, ``claude-orchestrator init``, ``init-feature 001-x --implementors
    data`` (with ``--worktrees``: the implementor's worktree)."""
    main = base / "app"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    commit(main, "README.md", "demo\n", "initial")
    co(main, "init")
    git(main, "add", "orchestrator.yaml")
    git(main, "commit", "-q", "-m", "orchestrator config")
    co(main, "init-feature", SPEC, "--implementors", "data", *(["--worktrees"] * worktrees))
    return main


@dataclass
class World:
    main: Path
    claude_dir: Path  # the kept HOME's .claude
    empty_home: Path  # HOME for ccusage: only CLAUDE_CONFIG_DIR points at transcripts
    sessions: list[Session]

    @property
    def expected(self) -> list[Expected]:
        return [s.expected for s in self.sessions]


def make_world(base: Path) -> World:
    main = feature_repo(base, worktrees=True)
    impl = base / "app-worktrees" / SPEC / "impl-data"
    assert git(impl, "branch", "--show-current") == BRANCH
    home = base / "home"
    home.mkdir()
    empty_home = base / "empty-home"
    empty_home.mkdir()
    sessions = [claude_session(base, impl, home, model) for model in SESSIONS]
    return World(main, home / ".claude", empty_home, sessions)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    if CLAUDE is None:
        pytest.skip("Claude Code CLI not installed (npm unavailable?): run .ci/install-claude.sh")
    if CCUSAGE is None:
        pytest.skip("ccusage not installed (npm unavailable?): run .ci/install-ccusage.sh")
    return make_world(tmp_path_factory.mktemp("ccusage"))


# ------------------------------------------------------------------ the fixture copies
def write_fixtures(world: World, folder: Path) -> None:
    """Copy the world's transcripts into ``folder`` without the DROPPED line types, with
    ``expected.json``: each session's model, token totals and the CLI's cost."""
    folder.mkdir(parents=True, exist_ok=True)
    sessions = {}
    for expected in world.expected:
        kept = [line for line in expected.transcript.read_text().splitlines(keepends=True)
                if json.loads(line).get("type") not in DROPPED]  # fmt: skip
        (folder / expected.transcript.name).write_text("".join(kept))
        sessions[expected.session_id] = {"model": expected.model, **expected.sent._asdict(),
                                         "total_cost_usd": expected.cost}  # fmt: skip
    document = {
        "written_by": "Claude Code 2.1.330 against tests/e2e/fake_model.py (chosen usage)",
        "dropped_line_types": list(DROPPED),
        "ccusage": "20.0.24",
        "sessions": sessions,
    }
    (folder / "expected.json").write_text(json.dumps(document, indent=2) + "\n")


def fixture_expected() -> list[Expected]:
    document = json.loads((FIXTURES / "expected.json").read_text())
    return [
        Expected(FIXTURES / f"{session_id}.jsonl", entry["model"],
                 Totals(*(entry[name] for name in Totals._fields)), entry["total_cost_usd"])
        for session_id, entry in document["sessions"].items()
    ]  # fmt: skip


def claude_dir_of(base: Path, transcripts: Iterable[Path]) -> Path:
    """A CLAUDE_CONFIG_DIR holding copies of the transcripts, as ccusage reads them."""
    project = base / ".claude" / "projects" / "-fixture"
    project.mkdir(parents=True)
    for transcript in transcripts:
        shutil.copy(transcript, project / transcript.name)
    return base / ".claude"


# ------------------------------------------------------------------ reading the results
def assistant_lines(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "assistant":
            yield record


def ccusage(claude_dir: Path, empty_home: Path, report: str) -> dict[str, Any]:
    """``ccusage claude <report> --json --offline`` over the transcripts in ``claude_dir``."""
    assert CCUSAGE is not None
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(empty_home),
           "CLAUDE_CONFIG_DIR": str(claude_dir), "TZ": "UTC", "NO_COLOR": "1"}  # fmt: skip
    proc = subprocess.run([CCUSAGE, "claude", report, "--json", "--offline"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    value = json.loads(proc.stdout)
    assert isinstance(value, dict)
    return value


def ccusage_totals(entry: dict[str, Any], messages: int) -> Totals:
    """ccusage's token numbers as :class:`Totals` (it does not count messages)."""
    return Totals(messages, *(int(entry[name]) for name in CCUSAGE_NAMES))


def ours(tokens: dict[str, Any]) -> Totals:
    return Totals(int(tokens["messages"]), *(int(tokens[name]) for name in CATEGORIES))


def metrics_json(cwd: Path, *args: str) -> dict[str, Any]:
    value = json.loads(co(cwd, "metrics", *args, "--json"))
    assert isinstance(value, dict)
    return value


def orchestrator_ready() -> str | None:
    """Why the orchestrator half cannot run yet (None: ``metrics ingest`` exists)."""
    if CO is None:
        return "the claude-orchestrator console script is not installed"
    proc = sh(ROOT, CO, "metrics", "ingest", "--help")
    return None if proc.returncode == 0 else "claude-orchestrator has no `metrics ingest` yet"


ORCHESTRATOR = orchestrator_ready()
needs_orchestrator = pytest.mark.skipif(ORCHESTRATOR is not None, reason=str(ORCHESTRATOR))


# ------------------------------------------------------------------ the checks
def check_ccusage_tokens(claude_dir: Path, empty_home: Path, sessions: list[Expected]) -> None:
    """ccusage counts each session's tokens per category, and all of them per day."""
    report = ccusage(claude_dir, empty_home, "session")
    by_session = {s["sessionId"]: s for s in report["sessions"]}
    assert set(by_session) == {s.session_id for s in sessions}
    for session in sessions:
        counted = by_session[session.session_id]
        assert ccusage_totals(counted, session.sent.messages) == session.sent, session.model
        assert counted["modelsUsed"] == [session.model]
    everything = combined(s.sent for s in sessions)
    daily = ccusage(claude_dir, empty_home, "daily")
    assert ccusage_totals(daily["totals"], everything.messages) == everything


def check_ccusage_cost(claude_dir: Path, empty_home: Path, session: Expected) -> None:
    """Equal cost where the tables agree; ccusage 20.0.24's offline table has no
    ``claude-opus-5-5`` (the CLI's default): it says so (``missingPricing``, in
    ``unpricedModels``, cost 0) rather than guessing, and that is the only difference."""
    report = ccusage(claude_dir, empty_home, "session")
    [entry] = [s for s in report["sessions"] if s["sessionId"] == session.session_id]
    [breakdown] = entry["modelBreakdowns"]
    if breakdown.get("missingPricing"):
        assert session.model == DEFAULT_MODEL, f"ccusage has no price for {session.model}"
        assert session.model in report["totals"]["unpricedModels"] and entry["totalCost"] == 0
        return
    assert entry["totalCost"] == pytest.approx(session.cost, rel=1e-9, abs=1e-12)


def ingest(main: Path, sessions: list[Expected]) -> dict[str, Any]:
    return metrics_json(main, "ingest", *(str(s.transcript) for s in sessions), "--final")


def check_ingested(done: dict[str, Any], main: Path, sessions: list[Expected]) -> None:
    """``metrics ingest`` stored each reply once (``done``: what it printed), and stores
    nothing when the files are read again."""
    assert done["problems"] == []
    files = {Path(f["path"]).resolve(): f for f in done["files"]}
    assert set(files) == {s.transcript.resolve() for s in sessions}
    for session in sessions:
        file = files[session.transcript.resolve()]
        assert (file["read"], file["stored"], file["duplicates"], file["problems"]) == (
            session.sent.messages, session.sent.messages, 0, [])  # fmt: skip
    assert done["stored"] == sum(s.sent.messages for s in sessions)
    again = ingest(main, sessions)
    assert again["stored"] == 0 and again["problems"] == []
    assert [f["duplicates"] for f in again["files"]] == [0] * len(sessions)


def check_metrics_tokens(main: Path, sessions: list[Expected]) -> None:
    """``metrics 001-x --by agent`` charges every reply to implementor-data, with the
    tokens the transcripts hold."""
    report = metrics_json(main, SPEC, "--by", "agent")
    everything = combined(s.sent for s in sessions)
    [row] = report["rows"]
    assert (row["key"], row["spec_id"]) == (ROLE, SPEC)
    assert ours(row["tokens"]) == everything == ours(report["total"]["tokens"])


def check_metrics_priced_cost(main: Path, sessions: list[Expected]) -> None:
    """The replies of models our table prices cost what the CLI charged for them; the
    others are listed with their tokens, not priced as 0."""
    report = metrics_json(main, SPEC, "--by", "agent")
    unknown = {u["model"]: u for u in report["unknown_models"]}
    priced = [s for s in sessions if s.model not in unknown]
    assert priced, report
    total = report["total"]
    assert total["cost"] == pytest.approx(sum(s.cost for s in priced), rel=1e-9)
    assert total["unpriced"] == sum(s.sent.messages for s in sessions if s.model in unknown)
    for session in (s for s in sessions if s.model in unknown):
        listed = unknown[session.model]
        assert (listed["messages"], listed["tokens"]) == (
            session.sent.messages, sum(session.sent.categories()))  # fmt: skip


def check_metrics_whole_cost(main: Path, sessions: list[Expected]) -> None:
    """Every model of the sessions has a price, and the whole cost is the sum of the
    CLI's ``total_cost_usd``: the CLI's default model included."""
    report = metrics_json(main, SPEC, "--by", "agent")
    missing = [u["model"] for u in report["unknown_models"]]
    assert missing == [], (
        f"no price for {missing}: Claude Code 2.1.330 charges {DEFAULT_MODEL} "
        f"{CLI_RATES[DEFAULT_MODEL]._asdict()} US$ per million tokens"
    )
    assert report["total"]["cost"] == pytest.approx(sum(s.cost for s in sessions), rel=1e-9)


# ------------------------------------------------------------------ the CLI's own record
def test_transcripts_hold_each_reply_once_per_key_with_its_final_usage(world: World) -> None:
    """Each reply the stand-in sent is in its session's transcript as one or more lines
    with one ``<message id>:<request id>`` (a tool call's reply: two lines, text and
    tool_use), every line with the reply's final usage (message_delta's output count,
    not message_start's placeholder), the model named in the answer and the branch."""
    for session in world.sessions:
        transcript = session.expected.transcript
        lines: dict[str, list[dict[str, Any]]] = {}
        for record in assistant_lines(transcript):
            lines.setdefault(f"{record['message']['id']}:{record['requestId']}", []).append(record)
        sent = session.fake.main_replies()
        assert list(lines) == [f"{r.message_id}:{r.request_id}" for r in sent]
        for reply, records in zip(sent, lines.values(), strict=True):
            assert reply.usage is not None
            blocks = [b["type"] for r in records for b in r["message"]["content"]]
            assert blocks == [b["type"] for b in reply.content]
            for record in records:
                written = record["message"]["usage"]
                assert (written["input_tokens"], written["output_tokens"],
                        written["cache_creation_input_tokens"],
                        written["cache_read_input_tokens"]) == reply.usage[:4]  # fmt: skip
                assert record["message"]["model"] == session.expected.model
                assert (record["gitBranch"], record["sessionId"]) == (BRANCH, transcript.stem)


def test_the_cli_default_model_is_the_one_priced_here(world: World) -> None:
    """The pinned CLI asks for ``claude-opus-5-5`` without ``--model``; CLI_RATES and the
    price tables below are about that name."""
    assert world.expected[0].model == DEFAULT_MODEL


@pytest.mark.parametrize("model", list(CLI_RATES))
def test_the_cli_charges_the_derived_rates(world: World, model: str) -> None:
    """The CLI's ``total_cost_usd`` for a session is its replies' usage at CLI_RATES."""
    [session] = [s for s in world.expected if s.model == model]
    assert session.cost == pytest.approx(cost_at(CLI_RATES[model], session.sent), rel=1e-9,
                                         abs=1e-12)  # fmt: skip


# ------------------------------------------------------------------ ccusage, claude-orchestrator
def test_ccusage_counts_the_same_tokens_per_session_and_day(world: World) -> None:
    check_ccusage_tokens(world.claude_dir, world.empty_home, world.expected)


@pytest.mark.parametrize("index", range(len(SESSIONS)), ids=list(CLI_RATES))
def test_ccusage_costs_what_the_cli_charges_where_its_table_prices_the_model(
    world: World, index: int
) -> None:
    check_ccusage_cost(world.claude_dir, world.empty_home, world.expected[index])


@pytest.fixture(scope="module")
def ingested(world: World) -> tuple[World, dict[str, Any]]:
    if ORCHESTRATOR is not None:
        pytest.skip(ORCHESTRATOR)
    return world, ingest(world.main, world.expected)


@needs_orchestrator
def test_ingest_stores_each_reply_once_and_nothing_on_a_re_read(
    ingested: tuple[World, dict[str, Any]],
) -> None:
    world, done = ingested
    check_ingested(done, world.main, world.expected)


@needs_orchestrator
@pytest.mark.parametrize(
    "check",
    [check_metrics_tokens, check_metrics_priced_cost, check_metrics_whole_cost],
    ids=["tokens-as-ccusage-counts", "cost-of-priced-models", "cost-of-every-model"],
)
def test_metrics_by_agent(
    ingested: tuple[World, dict[str, Any]], check: Callable[[Path, list[Expected]], None]
) -> None:
    """``metrics 001-x --by agent --json`` after the ingest (each check's docstring)."""
    world, _ = ingested
    check(world.main, world.expected)


# ------------------------------------------------------------------ the fixture copies
def test_fixture_copies_are_the_cli_transcripts_less_the_dropped_types() -> None:
    """The copies hold assistant lines of all three models and none of DROPPED."""
    expected = fixture_expected()
    assert sorted(s.model for s in expected) == sorted(CLI_RATES)
    for session in expected:
        types = {json.loads(line)["type"] for line in session.transcript.read_text().splitlines()}
        assert "assistant" in types and "cost-state" in types and not types & set(DROPPED)


@needs_ccusage
def test_fixture_copies_ccusage(tmp_path: Path) -> None:
    """ccusage reads the copies as it read the CLI's files."""
    expected = fixture_expected()
    claude_dir = claude_dir_of(tmp_path, (s.transcript for s in expected))
    check_ccusage_tokens(claude_dir, tmp_path, expected)
    for session in expected:
        check_ccusage_cost(claude_dir, tmp_path, session)


@needs_orchestrator
def test_fixture_copies_ingest_and_metrics(tmp_path: Path) -> None:
    """Our ingest and ``metrics --by agent`` on the copies, in a repository whose feature
    has the transcripts' agent (``feature/001-x/impl-data``)."""
    expected = fixture_expected()
    main = feature_repo(tmp_path, worktrees=False)
    check_ingested(ingest(main, expected), main, expected)
    check_metrics_tokens(main, expected)
    check_metrics_priced_cost(main, expected)


if __name__ == "__main__":
    # python -m tests.test_metrics_ccusage_e2e: run the sessions again, rewrite the copies
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ccusage-fixtures-") as scratch:
        write_fixtures(make_world(Path(scratch)), FIXTURES)
    print(f"wrote {FIXTURES}")


# ------------------------------------------------------------------ 1-hour cache writes
#: a tool call's reply with 8,000 cache writes, 3,000 of them 1-hour ones, then the answer
ONE_HOUR = [ReplyUsage(1000, 200, 8000, 500, cache_write_1h=3000), ReplyUsage(300, 40, 0, 9000)]


@pytest.mark.parametrize("model", [None, SONNET], ids=[DEFAULT_MODEL, SONNET])
def test_one_hour_cache_writes_cost_what_the_cli_charges(tmp_path: Path, model: str | None) -> None:
    """A session of one reply with 1-hour cache writes (the API's breakdown, as the
    stand-in sends it): the reader keeps them apart, and our price of its replies is the
    CLI's ``total_cost_usd`` (1-hour writes at 2 x input: 8.00 on opus 5.5, 6.00 on
    sonnet 4.5), which charging them as 5-minute writes is not; ccusage agrees where its
    table prices the model."""
    if CLAUDE is None:
        pytest.skip("Claude Code CLI not installed (npm unavailable?): run .ci/install-claude.sh")
    from claude_orchestrator.metrics_prices import PriceTable
    from claude_orchestrator.metrics_transcript import read

    work, home, empty_home = tmp_path / "work", tmp_path / "home", tmp_path / "empty-home"
    for folder in (work, home, empty_home):
        folder.mkdir()
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"permissions": {"defaultMode": "dontAsk",
                                                    "allow": ["Bash(echo step *)"]}}))  # fmt: skip
    call = {"name": "Bash", "input": {"command": "echo step 1"}}
    with FakeModel(call, usage=ONE_HOUR, side_usage=ReplyUsage()) as fake:
        run = run_claude(work, settings, fake, timeout=120, env={"HOME": str(home)},
                         args=["--model", model] if model else [])  # fmt: skip
    assert not run.timed_out and run.returncode == 0 and run.output is not None, run
    [transcript] = home.glob(".claude/projects/*/*.jsonl")
    got = read(transcript, final=True)
    assert got.problems == []
    assert [(r.cache_write_tokens, r.cache_write_1h_tokens) for r in got.replies] == [
        (8000, 3000), (0, 0)
    ]  # fmt: skip
    prices = PriceTable()
    costs = []
    for r in got.replies:
        price = prices.price_of(r.model)
        assert price is not None, r.model
        tokens = (r.input_tokens, r.output_tokens, r.cache_write_tokens, r.cache_read_tokens)
        costs.append((price.cost(*tokens, r.cache_write_1h_tokens), price.cost(*tokens)))
    charged = float(run.output["total_cost_usd"])
    assert sum(c for c, _ in costs) == pytest.approx(charged, rel=1e-9, abs=1e-12)
    assert sum(c for _, c in costs) < charged - 1e-4  # as 5-minute writes: too little
    if CCUSAGE is not None and model is not None:
        [entry] = ccusage(home / ".claude", empty_home, "session")["sessions"]
        assert entry["totalCost"] == pytest.approx(charged, rel=1e-9, abs=1e-12)
