"""The dashboard's security: the token every request needs (when there is one), the
same-origin check of the actions, and the headers every response carries.

The token comes as ``Authorization: Bearer TOKEN``, as the cookie :data:`COOKIE`, or once
as ``?token=TOKEN`` in the URL the command prints: that request sets the cookie
(HttpOnly, SameSite=Strict, so no other site's page sends it and no script reads it).
The gate is plain ASGI middleware, so it covers every route, the event stream and the
static files alike; a refusal is ``401`` with a JSON ``{"error": ...}``.

Without a token (a loopback bind), the gate takes only requests addressed to the bound
address or ``localhost`` with the port (``hosts``): any other ``Host`` is ``403``, reads
included, so a page of another site whose name was rebound to 127.0.0.1 (DNS rebinding)
reads nothing.

Actions (``POST``) must also come from the page's own origin: an ``Origin`` (or, without
one, a ``Referer``) equal to the configured origin, or, when none is configured, to the
origin the request itself was addressed to. A request with neither header is refused:
browsers send ``Origin`` with every ``POST`` a page makes.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the cookie the ``?token=`` request sets
COOKIE = "claude_orchestrator_token"
#: the query parameter that carries the token once
TOKEN_PARAM = "token"  # noqa: S105 - the name of the parameter, not a token
#: the shortest token accepted (``secrets.token_urlsafe(32)`` makes 43 characters)
MIN_TOKEN = 16
#: the page's policy: nothing from another origin, no inline script or style
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
#: headers on every response
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    # same-origin: the page's own requests carry their Referer (an action's Origin/Referer
    # check needs it), no other site is told the page's URL (its ?token=)
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


def new_token() -> str:
    """A fresh random token (printed in the dashboard's URL)."""
    return secrets.token_urlsafe(32)


def matches(given: str | None, token: str) -> bool:
    """Whether ``given`` is ``token`` (compared in constant time)."""
    return given is not None and secrets.compare_digest(given.encode(), token.encode())


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookie(token: str) -> bytes:
    return f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode()


def with_headers(send: Send, extra: Iterable[tuple[bytes, bytes]]) -> Send:
    """``send`` that adds ``extra`` headers to the response's start."""
    added = list(extra)

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *added]}
        await send(message)

    return sending


async def refuse(send: Send, status: int, error: str) -> None:
    """Answer with ``status`` and a JSON ``{"error": ...}`` (and the security headers)."""
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *SECURITY_HEADERS]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def host_of(scope: Scope) -> str:
    """The request's ``Host`` header, lowercased ('' without one)."""
    for name, value in scope.get("headers", []):
        if name == b"host":
            return bytes(value).decode("latin-1").strip().lower()
    return ""


class Guard:
    """ASGI middleware: the security headers on every response, with a ``token`` ``401``
    for any request that does not carry it, with ``hosts`` ``403`` for any request
    addressed to another host (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, token: str | None, hosts: Collection[str] | None = None
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = frozenset(h.lower() for h in hosts) if hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if self.hosts is not None and host_of(scope) not in self.hosts:
            where = " or ".join(f"http://{h}/" for h in sorted(self.hosts))
            await refuse(send, 403, f"this dashboard answers only at {where} (the request "
                         f"named the host {host_of(scope)[:80]!r}): open one of those "
                         "addresses")  # fmt: skip
            return
        if self.token is not None:
            from starlette.requests import Request

            request = Request(scope)
            carried = _bearer(request) or request.cookies.get(COOKIE)
            if not matches(carried, self.token):
                if not matches(request.query_params.get(TOKEN_PARAM), self.token):
                    await refuse(send, 401, "this dashboard needs its token: open the URL "
                                 "`claude-orchestrator dashboard` printed (?token=...), or "
                                 "send Authorization: Bearer TOKEN")  # fmt: skip
                    return
                extra.append((b"set-cookie", _cookie(self.token)))
        await self.app(scope, receive, with_headers(send, extra))


def own_origin(request: Request) -> str:
    """The origin the request was addressed to (its scheme and ``Host``)."""
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{host}".lower()


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lowercased; None for one without them."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, allowed: str | None) -> str | None:
    """Why an action request is refused (None: it comes from the page's own origin)."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return "an action needs the page's own Origin (or Referer) header: use the dashboard page"
    expected = origin_of(allowed) if allowed else own_origin(request)
    if origin_of(sent) != expected:
        return f"an action from another origin ({sent[:80]!r}) is refused: use the dashboard page"
    return None
