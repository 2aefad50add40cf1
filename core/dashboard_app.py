"""The dashboard's ASGI app (Starlette): the page, its static files, a JSON API whose
answers equal the CLI's ``--json`` (both come from :mod:`.dashboard_api`), the live event
stream (:mod:`.dashboard_sse`), the charts (:mod:`.dashboard_charts`) and the actions.

Only ``claude-orchestrator dashboard`` imports this module (Starlette, uvicorn and
sse-starlette are the optional extra ``dashboard``).

The app holds one :class:`~claude_orchestrator.api.Orchestrator`, made by the factory it
is given on the first request and closed when the app shuts down; the library's calls run
in worker threads, one at a time (the store serialises its work anyway). Errors are JSON:
``400`` for bad input (the library's message), ``404`` for something that does not exist,
``403`` for an action refused, ``503`` for a store that cannot be reached now.
"""

from __future__ import annotations

import json
import mimetypes
import re
import socket
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from . import __version__, dashboard_api
from .dashboard_auth import Guard, same_origin
from .errors import NotFoundError, OrchestratorError, StoreUnavailableError, ValidationError
from .render import to_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import FrameType

    from .api import Orchestrator

T = TypeVar("T")
#: the page and its files (H2's), served as files
STATIC_DIR = Path(__file__).with_name("dashboard_static")
#: a whole number as a query gives it (ASCII digits: ``str.isdigit`` takes "²" too)
WHOLE = re.compile(r"[0-9]{1,18}")
#: the most events one ``/api/events`` answer holds by default
EVENTS = 50


class Library:
    """The app's Orchestrator, made on first use, used by one thread at a time."""

    def __init__(self, factory: Callable[[], Orchestrator]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._orch: Orchestrator | None = None

    def call(self, fn: Callable[[Orchestrator], T]) -> T:
        with self._lock:
            if self._orch is None:
                self._orch = self._factory()
            return fn(self._orch)

    def close(self) -> None:
        with self._lock:
            if self._orch is not None:
                self._orch.close()
                self._orch = None


# ------------------------------------------------------------------------------ answers
def json_answer(value: object, status: int = 200) -> Response:
    """``value`` as the CLI's ``--json`` prints it."""
    return Response(to_json(value), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})  # fmt: skip


def error_answer(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status,
                        headers={"Cache-Control": "no-store"})  # fmt: skip


def _status_of(exc: OrchestratorError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, StoreUnavailableError):
        return 503
    return 400


async def _orchestrator_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrchestratorError)
    return error_answer(_status_of(exc), exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_answer(exc.status_code, str(exc.detail))


# ---------------------------------------------------------------------------- arguments
def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def _number(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not WHOLE.fullmatch(value.strip()):
        raise ValidationError(
            f"invalid {name} {value[:40]!r}: give a whole number, e.g. ?{name}=20"
        )
    return int(value.strip())


def _flag(request: Request, name: str) -> bool:
    value = (request.query_params.get(name) or "").lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValidationError(f"invalid {name} {value[:40]!r}: give ?{name}=1 or leave it out")


def _spec(request: Request) -> str:
    return str(request.path_params["spec"])


async def _body(request: Request) -> dict[str, Any]:
    """The action's JSON object (ValidationError for anything else)."""
    raw = await request.body()
    try:
        value = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("the request body is not JSON: send a JSON object") from None
    if not isinstance(value, dict):
        raise ValidationError('the request body must be a JSON object, e.g. {"spec": "..."}')
    return value


def _field(body: dict[str, Any], name: str, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and required:
        raise ValidationError(f"missing {name!r} in the request body: add it")
    if value is not None and (not isinstance(value, str | int) or isinstance(value, bool)):
        raise ValidationError(f"invalid {name!r} in the request body: give a string")
    return value


# -------------------------------------------------------------------------------- the app
def create_app(
    orch_factory: Callable[[], Orchestrator],
    *,
    read_only: bool,
    token: str | None,
    allowed_origin: str | None,
    static_dir: Path | None = None,
    allowed_hosts: Collection[str] | None = None,
) -> Starlette:
    """The dashboard's app.

    :param orch_factory: makes the Orchestrator the app reads (called once, on first use).
    :param read_only: without the actions (they answer 403).
    :param token: required on every request (None: no token, for a loopback bind).
    :param allowed_origin: the page's origin (``http://127.0.0.1:8765``) that actions
        must come from; None: the origin each request was addressed to.
    :param static_dir: where the page and its files are (default: the package's).
    :param allowed_hosts: the only ``Host`` values answered (``127.0.0.1:8765``; 403 for
        any other: DNS rebinding); None: any (:func:`loopback_hosts` gives a loopback
        bind's).
    """
    from .dashboard_sse import Hub

    library = Library(orch_factory)
    hub = Hub(library)
    static = (static_dir or STATIC_DIR).resolve()

    async def call(fn: Callable[[Orchestrator], object]) -> Response:
        return json_answer(await run_in_threadpool(library.call, fn))

    async def index(request: Request) -> Response:
        return _file(static, "index.html")

    async def static_file(request: Request) -> Response:
        return _file(static, str(request.path_params["name"]))

    async def features(request: Request) -> Response:
        return await call(lambda o: dashboard_api.features(o, _text(request, "spec")))

    async def agents(request: Request) -> Response:
        return await call(lambda o: dashboard_api.agents(o, _spec(request)))

    async def events(request: Request) -> Response:
        limit, spec = _number(request, "limit", EVENTS), _text(request, "spec")
        return await call(lambda o: dashboard_api.events(o, limit, spec))

    async def conflicts(request: Request) -> Response:
        every = _flag(request, "all")
        return await call(lambda o: dashboard_api.conflicts(o, _spec(request), every))

    async def conflict(request: Request) -> Response:
        ident = str(request.path_params["id"])
        return await call(lambda o: dashboard_api.conflict(o, ident, _spec(request)))

    async def blockers(request: Request) -> Response:
        every, spec = _flag(request, "all"), _text(request, "spec")
        return await call(lambda o: dashboard_api.blockers(o, spec, every))

    async def tests(request: Request) -> Response:
        limit, spec = _number(request, "limit", 20), _text(request, "spec")
        return await call(lambda o: dashboard_api.recorded_tests(o, spec, limit))

    async def prs(request: Request) -> Response:
        return await call(lambda o: dashboard_api.pull_requests(o, _text(request, "spec")))

    async def costs(request: Request) -> Response:
        from . import metrics

        spec, by = _text(request, "spec"), _text(request, "by") or "agent"
        since = _text(request, "since")
        return await call(lambda o: metrics.costs(o, spec, by, since))

    async def flow(request: Request) -> Response:
        from . import metrics

        return await call(lambda o: metrics.flow(o, _spec(request)))

    async def inbox(request: Request) -> Response:
        spec, role = _text(request, "spec"), _text(request, "role")
        return await call(lambda o: dashboard_api.inbox(o, spec, role))

    async def tasks(request: Request) -> Response:
        return await call(lambda o: dashboard_api.tasks(o, _spec(request)))

    async def config(request: Request) -> Response:
        return json_answer({"read_only": read_only, "version": __version__})

    async def chart(request: Request) -> Response:
        from .dashboard_charts import render

        name, spec = str(request.path_params["name"]), _text(request, "spec")
        svg = await run_in_threadpool(library.call, lambda o: render(name, o, spec))
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    async def stream(request: Request) -> Response:
        from .dashboard_sse import cursor
        from .dashboard_sse import stream as open_stream

        return await open_stream(hub, cursor(request))

    def action(run: Callable[[Orchestrator, dict[str, Any]], object]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            if read_only:
                return error_answer(403, "the dashboard is read-only (--read-only): run the "
                                    "command from a terminal instead")  # fmt: skip
            refused = same_origin(request, allowed_origin)
            if refused is not None:
                return error_answer(403, refused)
            body = await _body(request)
            return await call(lambda o: run(o, body))

        return endpoint

    routes = [
        Route("/", index),
        Route("/static/{name:path}", static_file),
        Route("/api/config", config),
        Route("/api/features", features),
        Route("/api/features/{spec}/agents", agents),
        Route("/api/features/{spec}/conflicts", conflicts),
        Route("/api/features/{spec}/conflicts/{id}", conflict),
        Route("/api/features/{spec}/tasks", tasks),
        Route("/api/features/{spec}/flow", flow),
        Route("/api/events", events),
        Route("/api/blockers", blockers),
        Route("/api/tests", tests),
        Route("/api/prs", prs),
        Route("/api/inbox", inbox),
        Route("/api/costs", costs),
        Route("/api/stream", stream),
        Route("/api/charts/{name}.svg", chart),
        Route("/api/actions/unblock", action(unblock), methods=["POST"]),
        Route("/api/actions/tell", action(tell), methods=["POST"]),
        Route("/api/actions/detect-conflicts", action(detect), methods=["POST"]),
    ]

    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        hub.close()
        library.close()

    from contextlib import asynccontextmanager

    app = Starlette(
        routes=routes,
        exception_handlers={OrchestratorError: _orchestrator_error, HTTPException: _http_error},
        lifespan=asynccontextmanager(lifespan),
    )
    app.add_middleware(Guard, token=token, hosts=allowed_hosts)
    app.state.library = library
    app.state.streams = hub
    return app


def _file(folder: Path, name: str) -> Response:
    """A file of ``folder`` (404 for anything else: no path leaves it)."""
    target = (folder / name).resolve()
    if not target.is_relative_to(folder) or not target.is_file() or name.startswith("."):
        raise NotFoundError(f"no such file {name[:80]!r} in the dashboard's static files")
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=kind, headers={"Cache-Control": "no-cache"})


# ------------------------------------------------------------------------------ actions
def unblock(orch: Orchestrator, body: dict[str, Any]) -> object:
    """Resolve a blocker, as ``events unblock ID [NOTES] --json``; recorded as done by
    the dashboard."""
    blocker = orch.unblock(_field(body, "blocker_id"), _field(body, "notes", required=False))
    text = f"resolved blocker {blocker.id}"
    dashboard_api.record_action(orch, blocker.spec_id, blocker.role, "unblock", text,
                                blocker_id=blocker.id)  # fmt: skip
    return blocker


def tell(orch: Orchestrator, body: dict[str, Any]) -> object:
    """Send a message to an agent, as ``tell ROLE TEXT --spec SPEC --json`` from a person;
    recorded as sent from the dashboard."""
    from .messages import PERSON

    role, text = _field(body, "role"), _field(body, "text")
    sent = dashboard_api.tell(orch, str(role), str(text), PERSON, _field(body, "spec"))
    dashboard_api.record_action(orch, sent.message.spec_id, sent.message.to, "tell",
                                f"message {sent.message.id} to {sent.message.to}",
                                message_id=sent.message.id)  # fmt: skip
    return sent


def detect(orch: Orchestrator, body: dict[str, Any]) -> object:
    """Scan for conflicts, as ``detect-conflicts --json`` (one feature's scan with
    ``spec``); recorded, per feature scanned, as run from the dashboard."""
    spec = _field(body, "spec", required=False)
    done = dashboard_api.detect_conflicts(orch, str(spec) if spec is not None else None)
    for scan in done.features:
        found = len(scan.conflicts)
        dashboard_api.record_action(orch, scan.spec_id, "overseer", "detect-conflicts",
                                    f"conflict scan: {found} conflicting pairs",
                                    conflicts=found)  # fmt: skip
    return done


# ------------------------------------------------------------------------------ serving
def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values a request to a loopback bind of ``host``:``port`` may carry:
    the address itself and ``localhost`` (both loopback addresses for ``localhost``)."""
    name = host.strip("[]").lower()
    names = {name, "localhost"} | ({"127.0.0.1", "::1"} if name == "localhost" else set())
    return frozenset(f"[{n}]:{port}" if ":" in n else f"{n}:{port}" for n in names)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port); ValidationError for a
    busy port or an address this machine does not have."""
    import errno

    if not 0 <= port <= 65535:
        raise ValidationError(f"invalid port {port}: give one from 1 to 65535 (0: any free one)")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(f"cannot bind {host!r}: {exc}; give an address of this machine "
                              "with --host (default 127.0.0.1)") from None  # fmt: skip
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ValidationError(f"port {port} on {host} is in use: stop what listens there, "
                                  "or choose another port with --port") from None  # fmt: skip
        raise ValidationError(f"cannot listen on {host}:{port}: {exc.strerror}; give another "
                              "--host or --port") from None  # fmt: skip
    return sock


def page_origin(host: str, port: int) -> str | None:
    """The origin the page is served from, for the actions' same-origin check; None for
    an unspecified address (0.0.0.0, ::), which the page may be reached by any name of."""
    import ipaddress

    try:
        if ipaddress.ip_address(host.strip("[]")).is_unspecified:
            return None
    except ValueError:
        pass
    return url_of(host, port).rstrip("/")


def url_of(host: str, port: int, token: str | None = None) -> str:
    """The page's URL (with ``?token=`` when there is one)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl-C or SIGTERM stops it cleanly:
    the open event streams are ended first, so no response is left unfinished)."""
    import uvicorn

    streams = app.state.streams

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            streams.end()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False,
                            timeout_graceful_shutdown=2)  # fmt: skip
    Server(config).run(sockets=[sock])
