"""The dashboard's security: the token on every route (the page, static files, the API,
the event stream, the actions), the ``?token=`` cookie flow, the actions' same-origin
check, read-only, and the command (a non-loopback bind gets a token, a busy port or an
unset --token-env is one error line, Ctrl-C stops it cleanly)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from claude_orchestrator.dashboard_auth import COOKIE

from .conftest import CLI, Run, clean_env
from .test_dashboard_api import TestClient, client, make_client, static
from .test_dashboard_sse import SPEC, read_events, served

TOKEN = "s3cret-token-for-the-tests-0123456789"
GETS = ["/", "/static/app.js", "/api/config", "/api/features", "/api/events",
        f"/api/features/{SPEC}/agents", "/api/stream", "/api/charts/tasks-done.svg",
        "/api/inbox", "/nothing-here"]  # fmt: skip
__all__ = ["client", "static"]
POSTS = ["/api/actions/unblock", "/api/actions/tell", "/api/actions/detect-conflicts"]


@pytest.fixture
def guarded(repo: Path, initialized: Path, static: Path) -> Iterator[TestClient]:
    with make_client(repo, token=TOKEN, static_dir=static) as c:
        yield c


def test_every_route_needs_the_token(guarded: TestClient) -> None:
    """Without the token, or with a wrong one (header, cookie or query), every route is
    401 with a JSON error, and no cookie is handed out."""
    wrong = [{}, {"authorization": "Bearer nope"}, {"authorization": f"Basic {TOKEN}"},
             {"cookie": f"{COOKIE}=nope"}]  # fmt: skip
    for headers in wrong:
        for url in [*GETS, f"/api/config?token={TOKEN[:-1]}"]:
            answer = guarded.get(url, headers=headers)
            assert answer.status_code == 401, (url, headers)
            assert answer.headers["content-type"] == "application/json"
            assert "token" in answer.json()["error"]
            assert "set-cookie" not in answer.headers
        for url in POSTS:
            answer = guarded.post(url, json={}, headers={**headers, "origin": "http://testserver"})
            assert answer.status_code == 401, (url, headers)
        guarded.cookies.clear()


def test_the_right_token_opens_every_route(guarded: TestClient) -> None:
    bearer = {"authorization": f"Bearer {TOKEN}"}
    for url in GETS:
        if url == "/api/stream":
            continue  # streams (see test_the_stream_needs_the_token)
        answer = guarded.get(url, headers=bearer)
        assert answer.status_code == (404 if url == "/nothing-here" else 200), url


def test_token_in_the_url_sets_a_strict_cookie(guarded: TestClient) -> None:
    """?token= once: the answer sets an HttpOnly SameSite=Strict cookie, which then
    suffices on its own."""
    answer = guarded.get(f"/?token={TOKEN}")
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in cookie.split(";")}
    assert guarded.get("/api/features").status_code == 200  # the client sends the cookie
    assert guarded.get("/static/app.js").status_code == 200
    guarded.cookies.clear()
    assert guarded.get("/api/features").status_code == 401


def test_the_stream_needs_the_token(repo: Path, initialized: Path) -> None:
    with served(repo, token=TOKEN) as url:
        assert httpx.get(f"{url}/api/stream").status_code == 401
        assert (
            httpx.get(f"{url}/api/stream", headers={"authorization": "Bearer x"}).status_code == 401
        )
        events = read_events(f"{url}/api/stream?after=0", 1,
                             {"authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert events[0].id == "1"


def count_events(cli: Run) -> int:
    return len(cli("events", "recent", "1000", "--json").json())


TELL = {"spec": SPEC, "role": "overseer", "text": "hello"}


def test_actions_need_the_pages_own_origin(
    cli: Run, repo: Path, initialized: Path, static: Path
) -> None:
    """No Origin/Referer, or another site's, is 403 and does nothing; the page's own
    origin (or Referer) is let through; a configured origin is the only one accepted,
    whatever Host the request names (DNS rebinding)."""
    before = count_events(cli)
    with make_client(repo, static_dir=static) as c:
        for headers in [{}, {"origin": "http://evil.example"}, {"origin": "null"},
                        {"referer": "http://evil.example/page"},
                        {"origin": "https://testserver"}]:  # fmt: skip
            answer = c.post("/api/actions/tell", json=TELL, headers=headers)
            assert answer.status_code == 403, headers
            assert answer.headers["content-type"] == "application/json"
        assert count_events(cli) == before
        ok = c.post("/api/actions/tell", json=TELL, headers={"referer": "http://testserver/"})
        assert ok.status_code == 200, ok.text
    origin = "http://127.0.0.1:8765"
    with make_client(repo, static_dir=static, allowed_origin=origin) as c:
        rebound = {"origin": "http://evil.example:8765", "host": "evil.example:8765"}
        assert c.post("/api/actions/tell", json=TELL, headers=rebound).status_code == 403
        assert c.post("/api/actions/tell", json=TELL,
                      headers={"origin": "http://testserver"}).status_code == 403  # fmt: skip
        assert c.post("/api/actions/tell", json=TELL, headers={"origin": origin}).status_code == 200


def test_read_only_has_no_actions(cli: Run, repo: Path, initialized: Path) -> None:
    before = count_events(cli)
    with make_client(repo, read_only=True) as c:
        for url in POSTS:
            answer = c.post(url, json=TELL, headers={"origin": "http://testserver"})
            assert answer.status_code == 403 and "read-only" in answer.json()["error"], url
        assert c.get("/api/features").status_code == 200
    assert count_events(cli) == before


# ------------------------------------------------------------------------------ command
@contextlib.contextmanager
def dashboard(repo: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``claude-orchestrator dashboard ARGS`` running in ``repo``: the URL it printed;
    stopped with Ctrl-C (SIGINT) afterwards, which must end it cleanly."""
    assert CLI
    proc = subprocess.Popen([CLI, "dashboard", "--port", "0", *args], cwd=repo,
                            env=env or clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard: http://"), (line, proc.stderr and proc.stderr.read())
        yield line.split()[1]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    # 130: interrupted, as every command reports Ctrl-C; nothing else said
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) <= 1, err


def local(url: str) -> str:
    """The URL with its host replaced by 127.0.0.1 (a 0.0.0.0 bind answers there)."""
    return re.sub(r"^http://[^/]+:", "http://127.0.0.1:", url)


def test_a_non_loopback_bind_gets_a_token(repo: Path, initialized: Path) -> None:
    """--host 0.0.0.0 without --token-env: a generated token is in the printed URL; a
    request without it is 401."""
    with dashboard(repo, "--host", "0.0.0.0") as url:
        token = url.split("?token=")[1]
        assert len(token) >= 40
        base = local(url).split("?")[0]
        assert httpx.get(base + "api/features").status_code == 401
        assert httpx.get(base + "api/features?token=wrong").status_code == 401
        assert httpx.get(local(url)).status_code in (200, 404)  # the page (H2's) or none yet
        answer = httpx.get(base + "api/config", headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["read_only"] is False


def test_token_env_is_used_and_not_printed(repo: Path, initialized: Path) -> None:
    env = clean_env(DASH_TOKEN=TOKEN)
    with dashboard(repo, "--host", "0.0.0.0", "--token-env", "DASH_TOKEN", "--read-only",
                   env=env) as url:  # fmt: skip
        assert "token=" not in url
        base = local(url)
        assert httpx.get(base + "api/config").status_code == 401
        answer = httpx.get(base + "api/config", headers={"authorization": f"Bearer {TOKEN}"})
        assert answer.json()["read_only"] is True


def test_loopback_needs_no_token(repo: Path, initialized: Path) -> None:
    with dashboard(repo) as url:
        assert url.startswith("http://127.0.0.1:") and "token" not in url
        assert httpx.get(url + "api/features").status_code == 200


def test_command_errors_are_one_line(cli_process: Run, repo: Path, initialized: Path) -> None:
    """An unset or short --token-env, a busy port, a bad host or port: `error: ...`,
    exit 2, nothing served."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        env = clean_env(SHORT="abc")
        cases = [
            (("--token-env", "UNSET_VARIABLE_X"), "is not set"),
            (("--token-env", "SHORT"), "holds 3 characters"),
            (("--port", port), "in use"),
            (("--host", "no-such-host.invalid"), "cannot bind"),
            (("--port", "70000"), "invalid port"),
        ]
        for args, wanted in cases:
            result = cli_process("dashboard", *args, env=env)
            assert result.code == 2, (args, result)
            lines = result.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and wanted in lines[0], (
                args, result.err)  # fmt: skip
            assert result.out == ""


def test_help_has_an_example(cli: Run) -> None:
    result = cli("dashboard", "--help")
    assert result.code == 0
    assert "Example:" in result.out and "--token-env" in result.out and "--read-only" in result.out


def test_outside_a_repository_it_says_what_to_do(tmp_path: Path) -> None:
    assert CLI
    proc = subprocess.run([CLI, "dashboard", "--port", "0"], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc
    assert os.listdir(tmp_path) == []


def hold_stream(url: str, opened: threading.Barrier, ended: list[bool]) -> None:
    """Read the stream at ``url`` until the server ends it."""
    with httpx.stream("GET", url, timeout=30) as answer:
        assert answer.status_code == 200
        opened.wait()
        for _ in answer.iter_lines():
            pass
    ended.append(True)


def test_ctrl_c_with_streams_open_ends_them_cleanly(repo: Path, initialized: Path) -> None:
    """SIGINT (and SIGTERM) while two streams are open: the streams end, the command
    exits without uvicorn's "ASGI callable returned without completing response"."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        assert CLI
        proc = subprocess.Popen([CLI, "dashboard", "--port", "0"], cwd=repo, env=clean_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[1] + "api/stream"
        opened, ended = threading.Barrier(3, timeout=20), []
        readers = [threading.Thread(target=hold_stream, args=(url, opened, ended))
                   for _ in range(2)]  # fmt: skip
        for reader in readers:
            reader.start()
        opened.wait()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        for reader in readers:
            reader.join(30)
        assert ended == [True, True], err
        assert "ASGI callable" not in err and "Traceback" not in err, err
        # Ctrl-C: 130, as every command reports it; SIGTERM: the signal's own end
        assert proc.returncode == (130 if sig == signal.SIGINT else -sig), (proc.returncode, err)
        assert len(err.splitlines()) <= 1, err


HOSTS = frozenset({"127.0.0.1:8765", "localhost:8765"})


def test_a_loopback_bind_answers_only_its_own_host(
    cli: Run, repo: Path, initialized: Path, static: Path
) -> None:
    """DNS rebinding: with the allowed hosts of a loopback bind, a request naming any
    other Host (another name, another port, none) is 403, reads and the stream
    included, and an action does nothing; 127.0.0.1 and localhost with the port pass."""
    before = count_events(cli)
    with make_client(repo, static_dir=static, allowed_hosts=HOSTS) as c:
        for host in ["evil.example:8765", "evil.example", "127.0.0.1:9999", "127.0.0.1",
                     "localhost", "127.0.0.2:8765", "[::1]:8765", ""]:  # fmt: skip
            for url in GETS:
                answer = c.get(url, headers={"host": host})
                assert answer.status_code == 403, (host, url)
                assert answer.headers["content-type"] == "application/json"
                assert "http://127.0.0.1:8765/" in answer.json()["error"]
            answer = c.post("/api/actions/tell", json=TELL,
                            headers={"host": host, "origin": f"http://{host}"})  # fmt: skip
            assert answer.status_code == 403, host
        assert count_events(cli) == before
        for host in HOSTS | {"LOCALHOST:8765"}:
            assert c.get("/api/features", headers={"host": host}).status_code == 200, host
            ok = c.post("/api/actions/tell", json=TELL,
                        headers={"host": host, "origin": f"http://{host}"})  # fmt: skip
            assert ok.status_code == 200, (host, ok.text)


def test_loopback_hosts() -> None:
    from claude_orchestrator.dashboard_app import loopback_hosts

    assert loopback_hosts("127.0.0.1", 8765) == HOSTS
    assert loopback_hosts("::1", 80) == {"[::1]:80", "localhost:80"}
    assert loopback_hosts("localhost", 1) == {"localhost:1", "127.0.0.1:1", "[::1]:1"}


def test_the_command_refuses_a_rebound_host(repo: Path, initialized: Path) -> None:
    """The command on 127.0.0.1 without a token: the page and the stream answer 403 to
    a request naming another host, 200 to 127.0.0.1 and localhost."""
    with dashboard(repo) as url:
        port = url.split(":")[2].strip("/")
        for path in ("", "api/features", "api/stream"):
            answer = httpx.get(url + path, headers={"host": f"evil.example:{port}"})
            assert answer.status_code == 403, path
        assert httpx.get(url + "api/features", headers={"host": f"localhost:{port}"}).is_success
        assert httpx.get(url + "api/features").is_success


def test_the_referrer_policy_is_same_origin(client: TestClient) -> None:
    """same-origin: the page's own requests carry their Referer (the actions' check
    needs it; a POST with no-referrer can carry Origin: null), no other site gets it."""
    for answer in (client.get("/api/features"), client.get("/nothing-here")):
        assert answer.headers["referrer-policy"] == "same-origin"
    refused = client.post("/api/actions/tell", json=TELL, headers={"origin": "null"})
    assert refused.status_code == 403
    assert refused.headers["referrer-policy"] == "same-origin"
