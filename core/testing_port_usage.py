"""Token usage's part of the persistence port's contract (imports pytest; the generated
cases need Hypothesis): what a store's transactions promise about ``insert_usage``,
``usage``, ``transcript_cursor`` and ``put_transcript_cursor`` (see
:class:`~claude_orchestrator.protocols_store.StoreTransaction`). Subclass
:class:`UsageContract` and provide its ``store`` fixture (an initialized port).

Text the generated records hold is any Unicode but NUL (PostgreSQL's ``text`` cannot
hold it; transcripts are JSON, whose strings the reader decodes); counts are any whole
number a 64-bit column holds, devices and inodes any that ``os.stat`` gives.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest

from .errors import NotFoundError, ValidationError
from .models import TranscriptCursor, Usage
from .protocols_store import EventStore, StoreTransaction
from .store_service import Store
from .testing_port_queue import hypothesis_run, rolled_back

#: the features the cases' records name, and their agents
FEATURES = {
    "001-usage": [("overseer", "feature/001-usage/overseer"),
                  ("implementor-data", "feature/001-usage/impl-data")],
    "002-usage": [("overseer", "feature/002-usage/overseer")],
}  # fmt: skip
#: who a record may name: no agent, or an agent of one of :data:`FEATURES`
OWNERS: list[tuple[str | None, str | None]] = [
    (None, None),
    *((spec, role) for spec, agents in FEATURES.items() for role, _ in agents),
]
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_INT64, _UINT64 = 2**63 - 1, 2**64 - 1


def usage(key: str, owner: tuple[str | None, str | None] = OWNERS[1], **fields: Any) -> Usage:
    """A reply's usage made by ``owner`` (``fields`` replace any other field)."""
    made = Usage(0, key, owner[0], owner[1], "session-1", "claude-sonnet-4-5",
                 "2026-01-02T03:04:05.678Z", 10, 20, 30, 40, "/t/session-1.jsonl", 1)  # fmt: skip
    return made._replace(**fields)


def expected(rows: Sequence[Usage], spec_id: str | None, since: str | None) -> list[Usage]:
    """What ``usage(spec_id, since=since)`` answers over ``rows``, by the docstring's words."""
    chosen = [u for u in rows if spec_id in (None, u.spec_id) and (since is None or u.at >= since)]
    return sorted(chosen, key=lambda u: (u.at, u.id))


def bare(rows: Sequence[Usage]) -> list[Usage]:
    """The records as written: without what the store assigned."""
    return [u._replace(id=0, created_at="") for u in rows]


def register_features(store: EventStore) -> None:
    for spec, agents in FEATURES.items():
        Store(store).add_feature(spec, "Usage contract", agents[0][1], agents)


def _strategies() -> Any:
    return pytest.importorskip("hypothesis.strategies")


def _text(max_size: int = 30) -> Any:
    st = _strategies()
    return st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                   max_size=max_size)  # fmt: skip


def _stamps() -> Any:
    """Times as the transcripts give them (UTC, milliseconds, ``Z``)."""
    st = _strategies()
    return st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)).map(
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    )


def generated_usage(keys: Any = None, ats: Any = None) -> Any:
    """Any valid record (id 0, no ``created_at``): any owner of :data:`OWNERS`, any text
    but NUL, any count from 0 to 2**63 - 1 (the 1-hour cache writes any part of the cache
    writes); keys and times from these strategies if given."""
    st = _strategies()
    counts = st.integers(0, _INT64)
    keys = _text() if keys is None else keys
    ats = _stamps() | _text() if ats is None else ats
    writes = counts.flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))
    return st.builds(
        lambda owner, writes, **fields: Usage(
            id=0, spec_id=owner[0], role=owner[1], cache_write_tokens=writes[0],
            cache_write_1h_tokens=writes[1], **fields),
        owner=st.sampled_from(OWNERS), writes=writes, key=keys, session_id=_text(),
        model=_text(), at=ats, input_tokens=counts, output_tokens=counts,
        cache_read_tokens=counts, transcript=_text(), line=counts,
    )  # fmt: skip


def generated_cursors(paths: Any = None) -> Any:
    """Any valid cursor (on one of these paths if given)."""
    st = _strategies()
    paths = _text() if paths is None else paths
    return st.builds(
        TranscriptCursor, path=paths, device=st.integers(0, _UINT64),
        inode=st.integers(0, _UINT64), offset=st.integers(0, _INT64),
        line=st.integers(0, _INT64), session_id=_text(),
    )  # fmt: skip


class UsageContract:
    """Token usage and transcript cursors in a store's transactions. Provide ``store``
    (an initialized port)."""

    # -- records -------------------------------------------------------------------------
    def test_a_record_reads_back_as_written(self, store: EventStore) -> None:
        """Every field, any text and any count, read back in the transaction and after,
        with the id and creation time the store gave it."""
        register_features(store)
        serial = itertools.count()
        ids: list[int] = []

        def check(record: Usage) -> None:
            record = record._replace(key=f"{next(serial)}:{record.key}")  # keys are unique
            with store.transaction() as tx:
                assert tx.insert_usage([record]) == 1
                (stored,) = [u for u in tx.usage() if u.key == record.key]
            assert bare([stored]) == [record] and STAMP.fullmatch(stored.created_at)
            with store.transaction() as tx:
                assert [u for u in tx.usage() if u.key == record.key] == [stored]
            ids.append(stored.id)

        hypothesis_run(check, record=generated_usage())
        assert ids == sorted(set(ids)) and ids[0] > 0  # assigned, increasing, never reused
        counts = store.info().counts
        assert counts is not None and counts["usage"] == len(ids)

    def test_a_key_stored_already_is_left_out(self, store: EventStore) -> None:
        register_features(store)
        first = usage("m1:r1")
        with store.transaction() as tx:
            # the second m1:r1 (another transcript's copy) is left out, in the same call
            assert tx.insert_usage([first, usage("m2:r2"), first._replace(line=9)]) == 2
        with store.transaction() as tx:
            kept = tx.usage()
            assert tx.insert_usage([usage("m2:r2", OWNERS[0], model="other")]) == 0
            assert tx.insert_usage([]) == 0
            assert tx.insert_usage([usage("m3:r3"), first]) == 1
        with store.transaction() as tx:
            again = tx.usage()
        assert bare(kept) == [first, usage("m2:r2")]
        assert again[:2] == kept and bare(again[2:]) == [usage("m3:r3")]
        assert kept[0].id < kept[1].id < again[2].id

    def test_any_batches_keep_each_key_once(self, store: EventStore) -> None:
        """Generated calls with keys repeated within and across them: each writes the
        records whose key is new, counted right; the store then holds the first record
        of each key, numbered in the order written."""
        register_features(store)
        st = _strategies()
        batches = st.lists(st.lists(generated_usage(st.sampled_from("abcdefg")), max_size=6),
                           max_size=5)  # fmt: skip

        def check(calls: list[list[Usage]]) -> None:
            def within(tx: StoreTransaction) -> None:
                kept: dict[str, Usage] = {}
                for call in calls:
                    new = [u for u in call if u.key not in kept]
                    for u in new:
                        kept.setdefault(u.key, u)
                    assert tx.insert_usage(call) == len({u.key for u in new})
                stored = tx.usage()
                assert [u.key for u in sorted(stored, key=lambda u: u.id)] == list(kept)
                by_key = {u.key: u for u in stored}
                model = [u._replace(id=by_key[k].id, created_at=by_key[k].created_at)
                         for k, u in kept.items()]  # fmt: skip
                assert stored == expected(model, None, None)

            rolled_back(store, within)

        hypothesis_run(check, calls=batches)

    # -- queries -------------------------------------------------------------------------
    def test_any_query_of_usage(self, store: EventStore) -> None:
        """Generated records and queries answer as the docstring says: the feature's
        records (every record for none), at or after ``since``, by ``at`` then id."""
        register_features(store)
        st = _strategies()
        ats = st.sampled_from(["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.001Z",
                               "2026-01-02T00:00:00.000Z", "2026-01-02T00:00:00.000Z"])  # fmt: skip
        query = st.tuples(
            st.sampled_from([None, *FEATURES, "404-none"]),
            st.none() | ats | st.just("2026-01-01T12:00:00.000Z") | st.just(""),
        )

        def check(rows: list[Usage], queries: list[tuple[str | None, str | None]]) -> None:
            def within(tx: StoreTransaction) -> None:
                written = [u._replace(key=str(i)) for i, u in enumerate(rows)]
                assert tx.insert_usage(written) == len(written)
                by_key = {u.key: u for u in tx.usage()}
                assert bare([by_key[u.key] for u in written]) == written
                model = [u._replace(id=by_key[u.key].id, created_at=by_key[u.key].created_at)
                         for u in written]  # fmt: skip
                for spec_id, since in queries:
                    found = tx.usage(spec_id, since=since)
                    assert found == expected(model, spec_id, since), (spec_id, since)

            rolled_back(store, within)

        hypothesis_run(check, rows=st.lists(generated_usage(ats=ats), max_size=10),
                       queries=st.lists(query, min_size=1, max_size=5))  # fmt: skip

    # -- refusals ------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("bad", "error", "says"),
        [
            (usage("bad", ("404-none", "overseer")), NotFoundError, "Feature not found"),
            (usage("bad", ("001-usage", "implementor-ui")), NotFoundError, "Agent not found"),
            (usage("bad", ("002-usage", "implementor-data")), NotFoundError, "Agent not found"),
            (usage("bad", ("001-usage", None)), ValidationError, None),
            (usage("bad", (None, "overseer")), ValidationError, None),
            (usage("bad", output_tokens=-1), ValidationError, None),
            (usage("bad", cache_read_tokens=2**63), ValidationError, None),
            (usage("bad", cache_write_1h_tokens=-1), ValidationError, None),
            (usage("bad", cache_write_tokens=30, cache_write_1h_tokens=31), ValidationError, None),
            (usage("bad", line=-5), ValidationError, None),
        ],
    )
    def test_a_bad_record_writes_nothing_of_its_call(
        self, store: EventStore, bad: Usage, error: type[Exception], says: str | None
    ) -> None:
        register_features(store)
        with store.transaction() as tx:
            before = tx.insert_usage([usage("before")])
        with store.transaction() as tx:
            with pytest.raises(error, match=says):
                tx.insert_usage([usage("good", OWNERS[0]), usage("good-2"), bad])
            assert bare(tx.usage()) == [usage("before")]  # the good ones neither
        with pytest.raises(error, match=says), store.transaction() as tx:
            tx.insert_usage([usage("good"), bad])
        with store.transaction() as tx:
            assert bare(tx.usage()) == [usage("before")] and before == 1
            assert tx.insert_usage([usage("good")]) == 1  # its key is free

    def test_a_rolled_back_transaction_leaves_no_usage(self, store: EventStore) -> None:
        register_features(store)
        kept_cursor = TranscriptCursor("/t/a.jsonl", 1, 2, 3, 4, "a")
        with store.transaction() as tx:
            assert tx.insert_usage([usage("kept")]) == 1
            tx.put_transcript_cursor(kept_cursor)

        def change(tx: StoreTransaction) -> None:
            assert tx.insert_usage([usage("new"), usage("other", OWNERS[3])]) == 2
            tx.put_transcript_cursor(kept_cursor._replace(offset=99, line=9))
            tx.put_transcript_cursor(TranscriptCursor("/t/new.jsonl", 1, 2, 3, 4, "new"))

        rolled_back(store, change)
        with store.transaction() as tx:
            (kept,) = tx.usage()
            assert kept.key == "kept"
            assert tx.transcript_cursor("/t/a.jsonl") == kept_cursor
            assert tx.transcript_cursor("/t/new.jsonl") is None
            assert tx.insert_usage([usage("new")]) == 1  # its key is free
            assert tx.usage()[-1].id > kept.id

    # -- transcript cursors --------------------------------------------------------------
    def test_a_cursor_is_set_read_and_replaced(self, store: EventStore) -> None:
        """Generated cursors put in turn, on a few paths: each path reads back its
        latest, in the transaction and after; a path never put reads None."""
        st = _strategies()
        paths = st.sampled_from(["/t/a.jsonl", "/t/ünï ✓.jsonl", "relative/b.jsonl"])

        def check(cursors: list[TranscriptCursor], suffix: str) -> None:
            latest: dict[str, TranscriptCursor] = {}
            with store.transaction() as tx:
                for cursor in cursors:
                    cursor = cursor._replace(path=cursor.path + suffix)
                    tx.put_transcript_cursor(cursor)
                    latest[cursor.path] = cursor
                    assert tx.transcript_cursor(cursor.path) == cursor
            with store.transaction() as tx:
                for path, cursor in latest.items():
                    assert tx.transcript_cursor(path) == cursor
                assert tx.transcript_cursor("/never/put" + suffix) is None

        hypothesis_run(check, cursors=st.lists(generated_cursors(paths), max_size=6),
                       suffix=_text(8))  # fmt: skip

    def test_a_cursor_outside_the_ranges_is_refused(self, store: EventStore) -> None:
        good = TranscriptCursor("/t/a.jsonl", 0, _UINT64, _INT64, 0, "")
        with store.transaction() as tx:
            tx.put_transcript_cursor(good)
            for field, value in (("device", -1), ("inode", _UINT64 + 1), ("offset", -1),
                                 ("offset", _INT64 + 1), ("line", -1)):  # fmt: skip
                fields: dict[str, Any] = {field: value}
                with pytest.raises(ValidationError):
                    tx.put_transcript_cursor(good._replace(**fields))
            assert tx.transcript_cursor(good.path) == good
