"""``status`` and ``recent`` on the postgres store do not grow with the number of events:
``status`` reads the summaries (``agent_activity``, ``task_state``) and never
``task_events``; ``recent`` and the feeds walk an index of ``task_events``, never the
table. Checked on the plans PostgreSQL makes for the store's own queries, on a store
with enough events (and another project's) that a sequential scan would show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from claude_orchestrator.models import NewEvent
from claude_orchestrator.testing import AGENTS

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins import postgres_queries as queries  # noqa: E402
from claude_orchestrator.plugins.postgres_port import PostgresStore  # noqa: E402

FEATURES = 10
PER_AGENT = 600


def _add_features(store: PostgresStore) -> None:
    store.initialize()
    for n in range(1, FEATURES + 1):
        spec = f"{n:03d}-f"
        agents = [(role, branch.replace("001-contract", spec)) for role, branch in AGENTS]
        store.add_feature(spec, spec, agents[0][1], agents)
        store.append_event(NewEvent(spec, "implementor-data", "task_started", "go", "T001"))


@pytest.fixture
def loaded(pg_dsn: str) -> Iterator[tuple[Any, int]]:
    """A connection to a store of 2 projects x 10 features x 3 agents x 600 events."""
    for name in ("other", "loaded"):
        store = PostgresStore(pg_dsn, name)
        _add_features(store)
        store.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO task_events (project_id, feature_id, agent_id, event_type, message) "
            "SELECT a.project_id, a.feature_id, a.id, 'status_update', 'bulk ' || g "
            "FROM agents a CROSS JOIN generate_series(1, %s) g",
            (PER_AGENT,),
        )
        conn.execute("ANALYZE")
        project = conn.execute("SELECT id FROM projects WHERE name = 'loaded'").fetchone()[0]
        yield conn, project


def _plan_nodes(conn: Any, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    (plan,) = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return nodes


def _reads_events(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["Node Type"] for n in nodes if n.get("Relation Name") == "task_events"]


def test_status_reads_no_event(loaded: tuple[Any, int]) -> None:
    conn, project = loaded
    assert _reads_events(_plan_nodes(conn, queries.STATUS_SQL, (project,))) == []
    assert _reads_events(_plan_nodes(conn, queries.STATUS_OF_SQL, (project, "004-f"))) == []


def test_recent_and_the_feeds_walk_an_index(loaded: tuple[Any, int]) -> None:
    conn, project = loaded
    (newest,) = conn.execute("SELECT max(id) FROM task_events WHERE project_id = %s",
                             (project,)).fetchone()  # fmt: skip
    for sql, params in (
        (queries.RECENT_SQL, (project, 20)),
        (queries.RECENT_OF_SQL, (project, project, "004-f", 20)),
        (queries.EVENTS_SINCE_SQL, (project, newest - 50, 1000)),
        (queries.EVENTS_AFTER_SQL, (project, project, "004-f", newest - 50, 1000)),
    ):
        scans = _reads_events(_plan_nodes(conn, sql, params))
        assert scans and all(scan.startswith(("Index", "Bitmap")) for scan in scans), (sql, scans)


def test_the_summaries_count_every_event(pg_dsn: str, loaded: tuple[Any, int]) -> None:
    store = PostgresStore(pg_dsn, "loaded")
    try:
        rows = {(r.spec_id, r.role): r for r in store.feature_status()}
        assert len(rows) == FEATURES * len(AGENTS)
        data = rows[("004-f", "implementor-data")]
        assert (data.events, data.tasks_in_progress) == (PER_AGENT + 1, 1)
        assert rows[("004-f", "overseer")].events == PER_AGENT + 1  # + feature_created
        assert [e.message for e in store.recent_events(2, "004-f")] == ["bulk 600"] * 2
    finally:
        store.close()
