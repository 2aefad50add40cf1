"""SHA-256 digests for names (spool files, state-file locks, store proxy keys) without
importing :mod:`hashlib`, whose OpenSSL binding costs the hook path ~2-4 ms: CPython's
built-in SHA-256 module gives the same digest."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def _builtin_sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 (``_sha2`` from 3.12, ``_sha256`` before); hashlib's where
    the interpreter has neither (PyPy, a stripped build)."""
    for name in ("_sha2", "_sha256"):
        try:
            return importlib.import_module(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    from hashlib import sha256  # pragma: no cover - depends on the interpreter

    return sha256  # pragma: no cover


_sha256 = _builtin_sha256()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of ``data`` in hex (as ``hashlib.sha256(data).hexdigest()``)."""
    return str(_sha256(data).hexdigest())
