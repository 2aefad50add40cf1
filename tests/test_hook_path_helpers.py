"""The standard-library stand-ins the hook path uses to import less: SHA-256 without
:mod:`hashlib`, the store's clock without :mod:`datetime`."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.digest import sha256_hex
from claude_orchestrator.store_ops import now


@given(st.binary(max_size=4096))
def test_sha256_is_hashlibs(data: bytes) -> None:
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_the_clock_writes_utc_to_the_millisecond() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = now()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), stamp
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= parsed <= after
