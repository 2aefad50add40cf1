"""Where the PostgreSQL store connects to, and how long it waits.

The connection string never comes from the committed config (the config check refuses
one there): it is read from the environment, ``CLAUDE_ORCHESTRATOR_DB_URL`` or the
variable ``plugins.options.postgres.dsn_env`` names. Either form libpq reads works
(``postgresql://user@host/db?sslmode=verify-full``, ``host=... dbname=...``,
``service=team``), and so does an empty one: libpq then takes everything from its own
``PG*`` variables, ``PGSERVICEFILE`` and ``PGPASSFILE``. The string is handed to libpq
as it is (TLS settings included); only what is shown of it is masked (:func:`mask`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from claude_orchestrator.errors import PluginError, StoreError

ENV_DSN = "CLAUDE_ORCHESTRATOR_DB_URL"
#: seconds; libpq waits at least 2 (a smaller connect_timeout means 2 to it)
CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_S = 60.0
LOCK_TIMEOUT_S = 30.0
MISSING_PSYCOPG = (
    "the postgres store needs psycopg: pip install 'claude-orchestrator-toolkit[postgres]'"
)
#: what an empty connection string means to libpq
DEFAULTS_LOCATION = "postgresql (libpq's defaults: PGHOST, PGDATABASE, PGSERVICE, ...)"
_SECRET_KEYS = ("password", "sslpassword")
_URL = re.compile(r"(postgres(?:ql)?://)([^/?#]*)(.*)", re.DOTALL)
_PAIR = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)", re.DOTALL)


class Settings(NamedTuple):
    """How the store connects: the connection string and the timeouts (seconds)."""

    #: None: the variable is not set (an error when the store is used, not before: the
    #: config check and ``--print-grants`` need no database)
    dsn: str | None
    #: the environment variable it came from, for messages
    source: str
    connect_timeout: int = CONNECT_TIMEOUT_S
    statement_timeout: float = STATEMENT_TIMEOUT_S
    lock_timeout: float = LOCK_TIMEOUT_S

    def conninfo(self) -> str:
        """The connection string; StoreError naming the variable when it is not set."""
        if self.dsn is None:
            raise StoreError(
                f"the postgres store needs a database: set {self.source} to its connection "
                "string (e.g. postgresql://agent@db.example.com/orchestrator, or service=NAME), "
                "and keep the password in ~/.pgpass or PGPASSFILE, never in orchestrator.yaml"
            )
        return self.dsn

    @property
    def location(self) -> str:
        """Where the store is, for messages: the connection string, its password masked."""
        return f"postgresql (${self.source} is not set)" if self.dsn is None else mask(self.dsn)


def settings(options: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """The settings from the plugin's options (validated by the config check) and the
    environment."""
    source = str(options.get("dsn_env") or ENV_DSN)
    return Settings(
        env.get(source),
        source,
        int(options.get("connect_timeout", CONNECT_TIMEOUT_S)),
        float(options.get("statement_timeout", STATEMENT_TIMEOUT_S)),
        float(options.get("lock_timeout", LOCK_TIMEOUT_S)),
    )


def import_psycopg() -> Any:
    """psycopg, or PluginError saying how to install it (the ``postgres`` extra)."""
    try:
        import psycopg  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        detail = "" if isinstance(exc, ModuleNotFoundError) else f" ({exc})"
        raise PluginError(MISSING_PSYCOPG + detail) from None
    return psycopg


def mask(dsn: str) -> str:
    """The connection string with its passwords replaced by ``****`` (URL and
    ``key=value`` forms), for messages and ``events path``."""
    if not dsn.strip():
        return DEFAULTS_LOCATION
    url = _URL.fullmatch(dsn.strip())
    if url is not None:
        scheme, netloc, rest = url.groups()
        user, at, hosts = netloc.rpartition("@")
        if at and ":" in user:
            user = user.split(":", 1)[0] + ":****"
        for key in _SECRET_KEYS:
            rest = re.sub(rf"([?&]{key}=)[^&#]*", r"\1****", rest)
        return scheme + user + at + hosts + rest
    return _mask_pairs(dsn)


def _mask_pairs(dsn: str) -> str:
    masked, position = [], 0
    while position < len(dsn):
        if not dsn[position:].strip():
            break
        pair = _PAIR.match(dsn, position)
        if pair is None or pair.end() == position:
            return "postgresql (a connection string libpq cannot read)"
        value = "****" if pair.group(1).lower() in _SECRET_KEYS else pair.group(2)
        masked.append(f"{pair.group(1)}={value}")
        position = pair.end()
    return " ".join(masked)
