"""What the channel types share: their secrets read from the environment, one JSON POST
over the standard library, and the small rendering helpers.

:func:`post_json` sends one request and says how it went in the terms of
:mod:`claude_orchestrator.notify_message`: a 2xx answer is :class:`Sent`; 408, 429, 5xx,
a timeout or a failed connection raise a retryable :class:`DeliveryFailed` (with the
``Retry-After`` the receiver asked for); any other answer (4xx, a redirect) a permanent
one. Redirects are not followed: a webhook that moved must be configured anew, and
following one would send the body (and its signature) to an address nobody configured.
``timeout`` bounds the whole exchange, from connecting to the last byte read (a watchdog
shuts the socket down when it runs out). Two steps come before the watchdog can reach
the socket: the host name's DNS look-up (bounded by the resolver's own timeouts, not by
``timeout``) and the TLS handshake (``timeout`` per read). Once the status line and
headers have come, the status decides: an answer whose body is still coming when the
time runs out counts as what its status says (a 200 is sent, not sent again).

Every ``detail`` is built here from the status, the reason phrase and a short piece of
the answer, with the endpoint's URL, its path and the parts of it that look like tokens
(the secret part of most webhook URLs) replaced by ``***``. The exceptions of
``http.client`` and ``ssl`` are never passed on (some carry the host or the URL): only
their kind, errno text or TLS reason.

Imported only when a channel is built (never on the hook path); its heavy imports
(``http.client``, ``ssl``) are made by the functions that send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any, NamedTuple

from .notify_message import ChannelOptionError, DeliveryFailed, Item, Message, Sent
from .notify_schema import ENV_NAME

if TYPE_CHECKING:
    import http.client
    import socket
    import threading

#: the most of an answer read (the rest is left unread: only its first lines matter)
MAX_RESPONSE = 64 * 1024
#: the longest wait a ``Retry-After`` may ask for; a longer one is cut to this
RETRY_AFTER_MAX = 3600.0
#: the longest webhook URL accepted
MAX_URL = 2048
#: the shortest HMAC secret accepted
MIN_SECRET = 16
_SNIPPET = 200


# -------------------------------------------------------------------- configuration
class Endpoint(NamedTuple):
    """A webhook URL read from the environment variable ``variable``."""

    variable: str
    url: str
    scheme: str
    host: str
    port: int
    target: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the URL, its path and query (a Slack or Discord
        webhook's token is in its path), and each part of them that looks like a token."""
        parts = re.split(r"[/?&=;]", self.target)
        tokens = [p for p in parts if _token_like(p)]
        return tuple(dict.fromkeys(s for s in (self.url, self.target, *tokens) if len(s) >= 8))


def _token_like(part: str) -> bool:
    """A URL part that may be a token: long, or mixing letters and digits
    (``T0123ABCD``, not ``services`` or ``123456``)."""
    mixed = any(c.isdigit() for c in part) and any(c.isalpha() for c in part)
    return len(part) >= 16 or (len(part) >= 8 and mixed)


def check_keys(options: Mapping[str, Any], allowed: Iterable[str], type_name: str) -> None:
    """Refuse a key the channel type does not know (a typo would otherwise be ignored)."""
    known = sorted(allowed)
    for key in options:
        if key not in known:
            raise ChannelOptionError(
                str(key),
                f"a {type_name} channel has no such key (its keys: {', '.join(known)}); "
                "remove it or fix its spelling",
            )


def env_value(
    options: Mapping[str, Any],
    key: str,
    env: Mapping[str, str] | None,
    *,
    holds: str,
    required: bool = True,
) -> tuple[str, str] | None:
    """The variable ``options[key]`` names and its value (None when the key is absent and
    not required). ``holds`` says what the variable should hold, for the messages."""
    import os

    name = options.get(key)
    if name is None:
        if not required:
            return None
        raise ChannelOptionError(
            key, f"missing: name the environment variable that holds {holds} (e.g. "
            f"{key}: {_example(key)})"
        )  # fmt: skip
    if not isinstance(name, str) or re.fullmatch(ENV_NAME, name) is None:
        raise ChannelOptionError(
            key, f"must be an environment variable's name (letters, digits and '_', e.g. "
            f"{_example(key)}), the variable holding {holds}"
        )  # fmt: skip
    value = (os.environ if env is None else env).get(name)
    if value is None or not value.strip():
        raise ChannelOptionError(
            key, f"${name} is not set: export {name}=<{holds}> in the environment the "
            "notifications are sent from"
        )  # fmt: skip
    return name, value


def _example(key: str) -> str:
    base = key.removesuffix("_env").upper()
    return {"URL": "SLACK_WEBHOOK_URL", "URLS": "APPRISE_URLS"}.get(base, f"MY_{base}")


def webhook_url(
    options: Mapping[str, Any], key: str, env: Mapping[str, str] | None, *, holds: str
) -> Endpoint:
    """The http(s) URL in the variable ``options[key]`` names (ChannelOptionError naming
    the key and the variable, never the value, when it is missing or not such a URL)."""
    found = env_value(options, key, env, holds=holds)
    assert found is not None  # required
    name, value = found
    endpoint = parse_url(name, value.strip())
    if endpoint is None:
        raise ChannelOptionError(
            key, f"${name} does not hold an http:// or https:// URL (at most {MAX_URL} "
            f"characters, no spaces, no user:password@): set it to {holds}"
        )  # fmt: skip
    return endpoint


def parse_url(variable: str, url: str) -> Endpoint | None:
    """The URL as an :class:`Endpoint`, or None if it is not a usable http(s) URL."""
    from urllib.parse import urlsplit

    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if scheme == "https" else 80
    return Endpoint(variable, url, scheme, parts.hostname, port or default, target)


def hmac_secret(options: Mapping[str, Any], key: str, env: Mapping[str, str] | None) -> str | None:
    """The signing secret the variable ``options[key]`` names (None without the key)."""
    found = env_value(options, key, env, holds="the signing secret", required=False)
    if found is None:
        return None
    name, value = found
    if len(value) < MIN_SECRET or value != value.strip():
        raise ChannelOptionError(
            key, f"${name} must hold at least {MIN_SECRET} characters without surrounding "
            "spaces: generate one with `openssl rand -hex 32`"
        )  # fmt: skip
    return value


# ------------------------------------------------------------------------ Retry-After
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAYS = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = r"(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_TIME = r"(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
#: RFC 9110 5.6.7: IMF-fixdate, the obsolete RFC 850 form, and asctime's
_HTTP_DATES = (
    re.compile(rf"{_DAYS}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT", re.I),
    re.compile(
        rf"{_LONG_DAYS}, (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT", re.I
    ),
    re.compile(rf"{_DAYS} {_MONTH} (?P<day>[ 0-9][0-9]) {_TIME} (?P<year>[0-9]{{4}})", re.I),
)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date
    (a date in the past: 0), at most :data:`RETRY_AFTER_MAX`; None for anything else.

    :param now: the current Unix time (default: the clock's), for an HTTP-date.
    """
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,20}", text):
        return min(float(int(text)), RETRY_AFTER_MAX)
    if now is None:
        import time

        now = time.time()
    when = _http_date(text, now)
    if when is None:
        return None
    return min(max(when - now, 0.0), RETRY_AFTER_MAX)


def _http_date(text: str, now: float) -> float | None:
    from datetime import datetime

    for pattern in _HTTP_DATES:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        year = int(match["year"])
        if len(match["year"]) == 2:  # RFC 9110: more than 50 years ahead means the past
            this_year = datetime.fromtimestamp(now, UTC).year
            year += this_year - this_year % 100
            year += -100 if year > this_year + 50 else 100 if year <= this_year - 50 else 0
        month = _MONTHS.index(match["month"].lower()) + 1
        try:
            moment = datetime(year, month, int(match["day"]), int(match["h"]), int(match["m"]),
                              int(match["s"]), tzinfo=UTC)  # fmt: skip
        except ValueError:  # 31 Feb, 25:00:00
            return None
        return moment.timestamp()
    return None


# ------------------------------------------------------------------------------ POST
def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def dumps(payload: object) -> bytes:
    """The JSON body: compact, UTF-8, keys sorted (the same message, the same bytes)."""
    import json

    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def post_json(
    endpoint: Endpoint,
    body: bytes,
    *,
    key: str,
    timeout: float,
    what: str,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> Sent:
    """POST ``body`` (JSON) to the endpoint with ``Idempotency-Key: key``, within
    ``timeout`` seconds in all; return :class:`Sent` or raise :class:`DeliveryFailed`.

    :param what: names the receiver in details (``slack webhook``).
    :param secrets: more values to keep out of details (the endpoint's are).
    """
    import threading
    import time

    from . import __version__

    hidden = (*endpoint.secrets, *secrets)
    if not re.fullmatch(r"[\x21-\x7e]{1,200}", key):
        raise DeliveryFailed(f"{what}: the idempotency key is not header-safe", retryable=False)
    sent_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"claude-orchestrator/{__version__}",
        "Idempotency-Key": key,
        **(headers or {}),
    }
    deadline = time.monotonic() + timeout
    conn = _connection(endpoint, timeout)
    expired = threading.Event()
    sockets: list[socket.socket] = []
    watchdog = threading.Timer(timeout, _cut, (sockets, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.connect()
        if conn.sock is not None:
            sockets.append(conn.sock)  # the response reads it after the connection let go
            conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        status, reason, retry_after, answer = _exchange(conn, endpoint, body, sent_headers)
    except Exception as exc:
        raise _failure(exc, expired.is_set(), timeout, what, hidden) from None
    finally:
        watchdog.cancel()
        conn.close()
    return classify(status, reason, retry_after, answer, what=what, secrets=hidden)


def _connection(endpoint: Endpoint, timeout: float) -> http.client.HTTPConnection:
    import http.client

    if endpoint.scheme == "https":
        import ssl

        context = ssl.create_default_context()
        return http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=timeout,
                                           context=context)  # fmt: skip
    return http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)


def _cut(sockets: list[socket.socket], expired: threading.Event) -> None:
    """The watchdog: the time is up, so the socket is shut down under the reading thread
    (the plain socket's shutdown, also for TLS: the SSL object stays for the reader)."""
    import contextlib
    import socket

    expired.set()
    for sock in sockets:
        with contextlib.suppress(OSError):  # the reader closed it first
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _exchange(
    conn: http.client.HTTPConnection,
    endpoint: Endpoint,
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[int, str, str | None, bytes]:
    conn.request("POST", endpoint.target, body=body, headers=dict(headers))
    response = conn.getresponse()
    try:
        return response.status, response.reason, response.getheader("Retry-After"), _read(response)
    finally:
        response.close()


def _read(response: http.client.HTTPResponse) -> bytes:
    """The answer's first bytes, as many as came before the time ran out (the status has
    come: it says how the send went, the body only adds to the detail)."""
    import http.client

    answer = b""
    try:
        while len(answer) < MAX_RESPONSE:
            chunk = response.read1(MAX_RESPONSE - len(answer))
            if not chunk:
                break
            answer += chunk
    except (OSError, http.client.HTTPException):
        pass
    return answer


def _failure(
    exc: Exception, expired: bool, timeout: float, what: str, secrets: Iterable[str]
) -> DeliveryFailed:
    """A send that got no usable answer, said without the exception's own text."""
    import http.client
    import ssl

    if expired or isinstance(exc, TimeoutError):
        return DeliveryFailed(f"{what}: no complete answer within {timeout:g} s", retryable=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = f"TLS certificate not accepted ({exc.verify_message})"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS failed ({exc.reason})"
    elif isinstance(exc, http.client.HTTPException):
        text = f"the answer was not HTTP ({type(exc).__name__})"
    elif isinstance(exc, OSError):
        text = f"connection failed ({exc.strerror or type(exc).__name__})"
    else:
        text = f"sending failed ({type(exc).__name__})"
    return DeliveryFailed(redact(f"{what}: {text}", secrets), retryable=True)


def classify(
    status: int,
    reason: str,
    retry_after: str | None,
    answer: bytes,
    *,
    what: str,
    secrets: Iterable[str] = (),
) -> Sent:
    """An HTTP answer as :class:`Sent` (2xx) or :class:`DeliveryFailed`: retryable for
    408, 429 and 5xx (with ``Retry-After`` parsed), permanent for the rest."""
    if 200 <= status < 300:
        return Sent(status, f"HTTP {status}")
    snippet = _snippet(answer)
    detail = f"{what}: HTTP {status} {reason}".rstrip() + (f": {snippet}" if snippet else "")
    if 300 <= status < 400:
        detail += " (redirects are not followed: set the variable to the final URL)"
    retryable = status in (408, 429) or 500 <= status < 600
    raise DeliveryFailed(
        redact(detail, secrets),
        retryable=retryable,
        status=status,
        retry_after=parse_retry_after(retry_after) if retryable else None,
    )


def _snippet(answer: bytes) -> str:
    """The answer's start on one line, printable characters only (not an HTML page)."""
    text = " ".join(answer[: _SNIPPET * 4].decode("utf-8", "replace").split())
    text = "".join(c for c in text if c.isprintable())
    if not text or text.startswith("<"):
        return ""
    return clip(text, _SNIPPET)


# ------------------------------------------------------------------------- rendering
def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def display_fields(message: Message) -> list[tuple[str, str]]:
    """The message's fields, with its feature and agent added when they are not there."""
    fields = [(k.strip(), v.strip()) for k, v in message.fields if k.strip() and v.strip()]
    labels = {label.lower() for label, _ in fields}
    extra = [("feature", message.spec_id), ("agent", message.role)]
    return fields + [(label, v) for label, v in extra if v and label not in labels]


def item_line(item: Item) -> str:
    """One digest entry: ``[warning] title (feature, agent)``."""
    where = ", ".join(p for p in (item.spec_id, item.role) if p)
    return f"[{item.severity}] {item.title}" + (f" ({where})" if where else "")


def timestamp(message: Message) -> str:
    """The message's time as ISO 8601 UTC (now, when it has none or an unreadable one)."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(message.created_at)
    except ValueError:
        moment = datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def plain_body(message: Message) -> str:
    """The message as plain lines (a desktop notification's or an apprise message's body):
    its text, a digest's items, its fields, the command to act and the link."""
    lines = [message.text] if message.text else []
    lines += [f"• {item_line(item)}" for item in message.items]
    lines += [f"{label}: {value}" for label, value in display_fields(message)]
    if message.action:
        lines.append(f"→ {message.action}")
    if message.link:
        lines.append(message.link)
    return "\n".join(lines)


def fit_lines(text: str, lines: Sequence[str], limit: int, tail: str = "") -> str:
    """``text``, ``lines`` and ``tail`` on lines of their own in at most ``limit``
    characters: the tail whole, the lines whole up to ``… and N more``, the text cut
    (to half the room when there are lines, so they show too)."""
    room = limit - (len(tail) + 1 if tail else 0)
    parts = []
    if text:
        parts.append(clip(text, max(room // 2 if lines else room, 1)))
        room -= len(parts[0]) + 1
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        more = f"… and {len(lines) - index} more"
        if len(line) + 1 + (0 if last else len(more) + 1) > room:
            parts.append(more)
            break
        parts.append(line)
        room -= len(line) + 1
    return clip("\n".join([*parts, tail] if tail else parts), limit)
