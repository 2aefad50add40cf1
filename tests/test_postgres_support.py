"""Helpers the postgres store's tests share (this module holds no tests)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from claude_orchestrator.testing import StoreContract
from tests.conftest import clean_env

_projects = itertools.count(1)


def unique_project(prefix: str = "p") -> str:
    """A project name no other test of this run uses."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}-{worker}-{os.getpid()}-{next(_projects)}"


def with_user(dsn: str, user: str, password: str | None = None) -> str:
    """The URL DSN with another user (and password, or none)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    login = user if password is None else f"{user}:{password}"
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


def pg_env(dsn: str, **extra: str) -> dict[str, str]:
    """A subprocess environment whose store connection string is ``dsn``."""
    return clean_env(CLAUDE_ORCHESTRATOR_DB_URL=dsn, **extra)


def use_postgres(repo: Path, *, options: str | None = None, project: str | None = None) -> None:
    """Make ``repo``'s orchestrator.yaml choose the postgres store (written by ``init``)."""
    config = repo / "orchestrator.yaml"
    text = config.read_text()
    text = text.replace("  store: sqlite\n", "  store: postgres\n")
    if options is not None:
        text = text.replace("  options: {}\n", f"  options: {{postgres: {options}}}\n")
    if project is not None:
        text = text.replace("project: null\n", f"project: {project}\n")
    config.write_text(text)


class PostgresContract(StoreContract):
    """The store contract on a postgres port of project ``contract``, connected with the
    ``store_dsn`` fixture a subclass provides."""

    @pytest.fixture
    def store_dsn(self) -> str:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses provide a `store_dsn` fixture")

    @pytest.fixture
    def fresh_store(self, store_dsn: str) -> Iterator[Any]:
        from claude_orchestrator.plugins.postgres_port import PostgresPort

        store = PostgresPort.for_dsn(store_dsn, "contract")
        yield store
        store.close()

    @pytest.fixture
    def store(self, fresh_store: Any) -> Any:
        fresh_store.initialize()
        return fresh_store
