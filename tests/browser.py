"""A real browser for the dashboard's page tests: Debian's Chromium (/usr/bin/chromium,
installed by .ci/install-browser.sh) driven headless by Playwright's sync API, and the
dashboard itself (the real ``create_app``) served by uvicorn on 127.0.0.1 in a thread.

Playwright rather than Selenium: one Python package talks to Chromium over its DevTools
protocol (no chromedriver of a matching version to install), it waits for elements by
itself (no sleeps), and it records what the page does (dialogs, console errors, requests).
It never downloads a browser here: ``executable_path`` points at the system's.

Import the fixtures ``browser_fixture`` and ``page_fixture`` (named ``browser`` and
``page``) into a test module to use them. Each test gets a new browser context;
``chromium.launch`` starts the browser with a fresh temporary profile (user-data dir) of
its own, removed when it closes. The browser is
started as root, so without its sandbox, and with background networking off (no update
checks, no sync: a test reaches only loopback addresses).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from .conftest import clean_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def need_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: run `bash .ci/install-browser.sh` (as root) first")


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Iterator[Browser]:
    """Headless Chromium, one per test session (per xdist worker)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS,
                                              headless=True)  # fmt: skip
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(name="page")
def page_fixture(browser: Browser) -> Iterator[Page]:
    """A page of a new browser context (no cookies or storage from another test); a
    JavaScript dialog fails the test that opened it (the XSS test counts on it)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        yield opened
    finally:
        context.close()
    assert not dialogs, f"the page opened dialogs: {dialogs}"


class Served(NamedTuple):
    """A dashboard served on 127.0.0.1: its base URL (``http://127.0.0.1:PORT``)."""

    url: str
    port: int


@contextmanager
def serve_dashboard(
    repo: Path, *, read_only: bool = False, token: str | None = None
) -> Iterator[Served]:
    """The real dashboard app of the repository ``repo`` (its store), served by uvicorn
    in a thread until the block ends."""
    import uvicorn

    from claude_orchestrator import Orchestrator
    from claude_orchestrator.dashboard_app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    env = clean_env()

    def factory() -> Orchestrator:
        return Orchestrator(cwd=repo, env=env)

    app = create_app(factory, read_only=read_only, token=token, allowed_origin=origin)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False,
                            timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _wait_until(lambda: server.started, 10, "the dashboard did not start")
    try:
        yield Served(origin, port)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _wait_until(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.02)
