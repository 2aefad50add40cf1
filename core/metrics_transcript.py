"""Reading Claude Code's session transcripts: the token usage of each model reply.

Claude Code writes one JSON object per line to ``~/.claude/projects/<project>/<session
id>.jsonl`` (the ``transcript_path`` of every hook's input). A model reply is a line of
``"type": "assistant"`` with ``message.id``, ``message.model``, ``message.usage``
(``input_tokens``, ``output_tokens``, ``cache_creation_input_tokens``,
``cache_read_input_tokens``) and, on the line, ``requestId``, ``sessionId``,
``timestamp``, ``cwd`` and ``gitBranch``. Every other line type (user, attachment,
queue-operation, api-request, summary, cost-state...) is skipped without a word.

A reply of several content blocks is written as one line per block, all with the same
message id and request id. Claude Code 2.1.330 writes them when the reply has ended, each
with the reply's final usage (checked against the loopback model stand-in: three blocks
streamed 1.5 s apart, message_start saying 1 output token, message_delta 77: no line was
on disk before message_stop, and all three say 77); older releases wrote a line per block
as it ended, with the usage known then. As ccusage (the peer tool) does, the **first**
line of a ``<message id>:<request id>`` pair counts and the others are duplicates: within
one :func:`read` they are returned once; across reads and transcripts (a resumed session
copies earlier replies into its new file) the store keeps one record per key.

:func:`read` is pure file reading and incremental: it goes on from a
:class:`~.models.TranscriptCursor` (byte offset, line number, device and inode), reads
only what the cursor has not passed, in chunks, and returns the replies, the warnings
(:class:`Problem`: file and line) and the next cursor. A file that was replaced
(another inode), truncated or rewritten since the cursor is read again from the start,
with a warning. A last line without its newline may be half written: it is left for
the next read unless ``final`` (the session has ended). A line that is not UTF-8, not
JSON, not an object, nested too deeply, over :data:`MAX_LINE` bytes, or an assistant
line whose reply is malformed (no id, model or timestamp; a token count that is not a
whole number from 0 to :data:`MAX_TOKENS`) is a warning and counts nothing.

1-hour cache writes cost more than 5-minute ones (Claude Code and ccusage charge them at
2 x input, 5-minute ones at 1.25 x): ``message.usage.cache_creation`` says how many of
``cache_creation_input_tokens`` were which (``ephemeral_1h_input_tokens``,
``ephemeral_5m_input_tokens``), and a :class:`Reply` keeps the 1-hour part apart
(``cache_write_1h_tokens``). Where the breakdown is missing, or all zero while
``cache_creation_input_tokens`` is not (Claude Code 2.1.330 writes zeros when the API's
answer had no breakdown), every cache write is taken as a 5-minute one; ccusage then
counts **no** cache writes at all (it trusts the breakdown over the total). A breakdown
that is no object, a 1-hour count that is no whole number, or one above the total is a
warning, and the reply's writes are taken as 5-minute ones.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import NotFoundError, ValidationError
from .models import TranscriptCursor

#: a longer line is skipped with a warning, without being held in memory
MAX_LINE = 16 * 1024 * 1024
#: how much is read at a time
CHUNK = 1024 * 1024
#: more tokens than this in one reply is no count a model gave (and would overflow sums)
MAX_TOKENS = 1_000_000_000
#: the model of the replies Claude Code makes up itself (an API error, an interrupted
#: turn): with no tokens they are no model reply, and are skipped
SYNTHETIC = "<synthetic>"
#: the ``message.usage`` fields counted, in the order of Reply's, and whether each is
#: required: the API sends the cache counts as null when there was no cache, older
#: transcripts lack them
USAGE_FIELDS = (
    ("input_tokens", True),
    ("output_tokens", True),
    ("cache_creation_input_tokens", False),
    ("cache_read_input_tokens", False),
)
_CANONICAL = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{3}Z"
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class Reply(NamedTuple):
    """One assistant reply's usage as read from a transcript."""

    #: ``<message id>:<request id>`` (``<message id>:`` when the line has no request id)
    key: str
    session_id: str
    model: str
    #: the line's timestamp in UTC, ``YYYY-MM-DDTHH:MM:SS.sssZ`` (the agent's clock)
    at: str
    input_tokens: int
    output_tokens: int
    #: cache-creation (write) and cache-read input tokens
    cache_write_tokens: int
    cache_read_tokens: int
    #: the session's working directory and git branch then, as the line gives them
    cwd: str | None
    git_branch: str | None
    #: 1-based line number in the file
    line: int
    #: the part of ``cache_write_tokens`` that were 1-hour cache writes
    cache_write_1h_tokens: int = 0


class Problem(NamedTuple):
    """A warning about a transcript: its path, the 1-based line (0: the file as a
    whole) and what is wrong."""

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"warning: {where}: {self.text}"


class Read(NamedTuple):
    """What one :func:`read` found, and where the next one goes on."""

    replies: list[Reply]
    problems: list[Problem]
    cursor: TranscriptCursor


def read(
    path: str | os.PathLike[str],
    cursor: TranscriptCursor | None = None,
    *,
    max_bytes: int | None = None,
    final: bool = False,
) -> Read:
    """The replies of the lines of transcript ``path`` after ``cursor`` (all of them
    without one), the warnings, and the cursor after the last line read.

    Reads what the file held when the call began. With ``max_bytes``, a call takes the
    lines that end within that many bytes of the cursor, and always the first whole
    line there is (however long), so that each call makes progress; the next call goes
    on from the returned cursor. A last line without its newline is left for a later
    call unless ``final``: then it is read as a line (and warned about if it is not
    one). The cursor fits the file when its device and inode are the file's, the file
    is no shorter, and a line ends where it stopped (its path is not compared);
    otherwise the file is read from the start, with a warning of line 0 (the file as a
    whole).

    Raises :class:`~.errors.NotFoundError` when there is no file at ``path`` and
    :class:`~.errors.ValidationError` when it cannot be read or is no regular file.
    """
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(f"max_bytes must be 1 or more, not {max_bytes}")
    name = os.fspath(path)
    session = os.path.splitext(os.path.basename(name))[0]  # the file's name: the session id
    fd = _open(name)
    try:
        info = os.fstat(fd)
        start, line, problems = _start(name, fd, info, cursor)
        lines = _Lines(name, session)
        scan = _Scan(fd, start, line, info.st_size, lines.take)
        scan.run(info.st_size if max_bytes is None else min(info.st_size, start + max_bytes))
        if final:
            scan.finish()
    except OSError as exc:  # an I/O error while reading
        raise ValidationError(f"cannot read the transcript {name}: {exc.strerror}") from None
    finally:
        os.close(fd)
    next_cursor = TranscriptCursor(name, info.st_dev, info.st_ino, scan.done, scan.line, session)
    return Read(lines.replies, problems + lines.problems, next_cursor)


def _open(name: str) -> int:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFoundError(
            f"no transcript at {name}: pass the path of a Claude Code session transcript "
            "(~/.claude/projects/<project>/<session id>.jsonl)"
        ) from None
    except OSError as exc:
        raise ValidationError(f"cannot read the transcript {name}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValidationError(
            f"{name} is not a regular file: pass the path of a Claude Code session "
            "transcript (a .jsonl file)"
        )
    return fd


def _start(
    name: str, fd: int, info: os.stat_result, cursor: TranscriptCursor | None
) -> tuple[int, int, list[Problem]]:
    """Where to start reading (offset, lines before it) and the warning if the cursor
    no longer fits the file."""
    if cursor is None:
        return 0, 0, []
    changed = _changed(fd, info, cursor)
    if changed is None:
        return cursor.offset, cursor.line, []
    return 0, 0, [Problem(name, 0, f"{changed}: reading it again from the start")]


def _changed(fd: int, info: os.stat_result, cursor: TranscriptCursor) -> str | None:
    if (info.st_dev, info.st_ino) != (cursor.device, cursor.inode):
        return "the file was replaced since the last read (it is another file now)"
    if cursor.offset < 0 or cursor.line < 0 or cursor.line > cursor.offset:
        return f"the saved cursor (byte {cursor.offset}, line {cursor.line}) cannot be right"
    if info.st_size < cursor.offset:
        return (
            f"the file was truncated since the last read ({info.st_size:,} bytes, "
            f"read up to byte {cursor.offset:,})"
        )
    if 0 < cursor.offset < info.st_size and os.pread(fd, 1, cursor.offset - 1) != b"\n":
        # the cursor always stops after a newline: another file was written in place
        return (
            f"the file was rewritten since the last read (no line ends at byte "
            f"{cursor.offset:,} any more)"
        )
    return None


class _Scan:
    """Splits the bytes from ``done`` on into lines, handing each complete one (without
    its newline) to ``take``; a line over :data:`MAX_LINE` is passed over, not kept."""

    def __init__(
        self, fd: int, done: int, line: int, size: int,
        take: Callable[[int, memoryview | None, bool], None],
    ) -> None:  # fmt: skip
        self.fd, self.size, self.take = fd, size, take
        #: the offset after the last complete line, and its number
        self.done, self.line = done, line
        self.start, self.limit = done, size
        #: a line past the limit was found: this call is done
        self.full = False
        #: the next byte to read
        self.pos = done
        self.buf = bytearray()
        #: where in ``buf`` to look for the next newline (what is before has none)
        self.scan = 0
        #: bytes of a too-long line passed over so far, None when not in one
        self.passing: int | None = None

    def run(self, limit: int) -> None:
        """Takes the lines that end by ``limit``, and at least one if there is one."""
        self.limit = limit
        while (
            not self.full and self.pos < self.size and (self.pos < limit or self.done == self.start)
        ):
            end = limit if self.pos < limit else self.size
            chunk = os.pread(self.fd, min(CHUNK, end - self.pos), self.pos)
            if not chunk:  # the file shrank meanwhile: the next read notices
                return
            self.pos += len(chunk)
            self._feed(chunk)

    def finish(self) -> None:
        """The unterminated rest at the end of the file as the last line."""
        if self.full or self.pos < self.size or (self.passing is None and not self.buf):
            return
        self.line += 1
        if self.passing is not None:
            self.take(self.line, None, True)
        else:
            with memoryview(self.buf) as view:
                self.take(self.line, view, True)
        self.done, self.buf, self.passing = self.pos, bytearray(), None

    def _feed(self, chunk: bytes) -> None:
        if self.passing is not None:
            newline = chunk.find(b"\n")
            if newline < 0:
                self.passing += len(chunk)
                return
            self.line += 1
            self.take(self.line, None, False)
            self.done += self.passing + newline + 1
            self.passing = None
            chunk = chunk[newline + 1 :]
        self.buf += chunk
        used = 0
        with memoryview(self.buf) as view:
            while (newline := self.buf.find(b"\n", self.scan)) >= 0:
                if self.done + newline >= self.limit and self.done + used > self.start:
                    self.full = True  # that line is the next call's
                    break
                self.line += 1
                self.take(self.line, view[used:newline], False)
                used = self.scan = newline + 1
        if used:
            del self.buf[:used]
            self.done += used
        self.scan = len(self.buf)
        if self.scan > MAX_LINE:
            self.passing, self.buf, self.scan = self.scan, bytearray(), 0


class _Lines:
    """Turns lines into replies and warnings; a key seen before in this read is skipped."""

    def __init__(self, path: str, session: str) -> None:
        self.path, self.session = path, session
        self.replies: list[Reply] = []
        self.problems: list[Problem] = []
        self.keys: set[str] = set()

    def take(self, number: int, data: memoryview | None, last: bool) -> None:
        value = self._value(number, data, last)
        if value is None or value.get("type") != "assistant":
            return
        reply = _reply(value, self.session, number, lambda text: self._warn(number, text, last))
        if reply is not None and reply.key not in self.keys:
            self.keys.add(reply.key)
            self.replies.append(reply)

    def _warn(self, number: int, text: str, last: bool) -> None:
        if last:
            text += " (the file's last line, which has no newline)"
        self.problems.append(Problem(self.path, number, text))

    def _value(self, number: int, data: memoryview | None, last: bool) -> dict[str, Any] | None:
        """The line's JSON object; None (and a warning unless it is blank) otherwise."""
        if data is None:
            self._warn(number, f"longer than {MAX_LINE // 1024 // 1024} MiB: line skipped", last)
            return None
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError as exc:
            byte = data[exc.start]
            self._warn(number, f"not UTF-8 (byte 0x{byte:02x} at column {exc.start + 1}): "
                       "line skipped", last)  # fmt: skip
            return None
        if not text or text.isspace():
            return None
        try:
            value = json.loads(text)
        except RecursionError:
            self._warn(number, "JSON nested too deeply to read: line skipped", last)
            return None
        except ValueError as exc:
            where = f": column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            self._warn(number, f"not JSON ({reason}{where}): line skipped", last)
            return None
        if not isinstance(value, dict):
            self._warn(number, f"not a JSON object (a {_kind(value)}): line skipped", last)
            return None
        return value


def _kind(value: object) -> str:
    kinds = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _reply(
    value: dict[str, Any], session: str, number: int, warn: Callable[[str], None]
) -> Reply | None:
    """The reply of an assistant line; None (and a warning, unless Claude Code made the
    reply up itself) when it is malformed."""
    message = value.get("message")
    if not isinstance(message, dict):
        warn("assistant line without a message object: skipped")
        return None
    message_id, model = message.get("id"), message.get("model")
    if not isinstance(message_id, str) or not message_id:
        warn("assistant reply without a message.id: skipped, its tokens not counted")
        return None
    what = f"assistant reply {message_id}"
    if not isinstance(model, str) or not model:
        warn(f"{what} has no message.model: skipped, its tokens not counted")
        return None
    tokens = _tokens(message.get("usage"), what, warn)
    if tokens is None:
        return None
    if model == SYNTHETIC and not any(tokens):
        return None
    request = value.get("requestId")
    if request is not None and not isinstance(request, str):
        warn(f"{what} has a requestId that is not a string: skipped, its tokens not counted")
        return None
    at = _at(value.get("timestamp"), what, warn)
    if at is None:
        return None
    sent = value.get("sessionId")
    return Reply(
        key=f"{message_id}:{request or ''}",
        session_id=sent if isinstance(sent, str) and sent else session,
        model=model,
        at=at,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_write_tokens=tokens[2],
        cache_read_tokens=tokens[3],
        cwd=_text(value.get("cwd")),
        git_branch=_text(value.get("gitBranch")),
        line=number,
        cache_write_1h_tokens=_one_hour(message["usage"], tokens[2], what, warn),
    )


def _tokens(
    usage: object, what: str, warn: Callable[[str], None]
) -> tuple[int, int, int, int] | None:
    if not isinstance(usage, dict):
        warn(f"{what} has no message.usage: skipped, its tokens not counted")
        return None
    tokens = []
    for name, required in USAGE_FIELDS:
        count = usage.get(name)
        if count is None and not required:
            count = 0
        if type(count) is not int or not 0 <= count <= MAX_TOKENS:
            shown = "missing" if count is None else f"{json.dumps(count)[:40]}"
            warn(f"{what}: message.usage.{name} is {shown}, not a whole number of tokens "
                 f"(0 to {MAX_TOKENS:,}): skipped, its tokens not counted")  # fmt: skip
            return None
        tokens.append(count)
    return tokens[0], tokens[1], tokens[2], tokens[3]


def _one_hour(usage: dict[str, Any], writes: int, what: str, warn: Callable[[str], None]) -> int:
    """How many of the reply's ``writes`` cache-write tokens were 1-hour writes: 0 (all
    5-minute ones) without a breakdown, or with a bad one (warned about)."""
    breakdown = usage.get("cache_creation")
    if breakdown is None:
        return 0
    name = "message.usage.cache_creation"
    if not isinstance(breakdown, dict):
        warn(f"{what}: {name} is a {_kind(breakdown)}, not an object: its cache writes "
             "counted as 5-minute ones")  # fmt: skip
        return 0
    count = breakdown.get("ephemeral_1h_input_tokens")
    if count is None:
        return 0
    if type(count) is not int or not 0 <= count <= writes:
        shown = json.dumps(count)[:40]
        warn(f"{what}: {name}.ephemeral_1h_input_tokens is {shown}, not a whole number of "
             f"tokens from 0 to its cache_creation_input_tokens ({writes:,}): its cache "
             "writes counted as 5-minute ones")  # fmt: skip
        return 0
    return count


def _at(stamp: object, what: str, warn: Callable[[str], None]) -> str | None:
    if not isinstance(stamp, str):
        warn(f"{what} has no timestamp: skipped, its tokens not counted")
        return None
    try:
        at, zoned = to_utc(stamp)
    except ValueError as exc:
        warn(f"{what}: timestamp {stamp[:40]!r} is {exc}: skipped, its tokens not counted")
        return None
    if not zoned:
        warn(f"{what}: timestamp {stamp[:40]!r} has no UTC offset: taken as UTC")
    return at


def to_utc(stamp: str) -> tuple[str, bool]:
    """An ISO 8601 time as UTC ``YYYY-MM-DDTHH:MM:SS.sssZ`` (to the millisecond, cut
    down), and whether it had an offset (a time without one is taken as UTC). Raises
    ValueError (saying what it is instead) when it is no date and time of day."""
    match = _CANONICAL.fullmatch(stamp)
    if match is not None and _valid(*(int(part) for part in match.groups())):
        return stamp, True  # Claude Code's own format, without importing datetime (~2 ms)
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    if len(stamp) <= len("YYYY-MM-DD"):
        raise ValueError("a date without a time of day")
    zoned = moment.tzinfo is not None
    try:
        moment = moment.astimezone(UTC) if zoned else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("out of range in UTC") from None
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return f"{date}T{clock}.{moment.microsecond // 1000:03d}Z", zoned


def _valid(year: int, month: int, day: int, hour: int, minute: int, second: int) -> bool:
    if year < 1 or not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 59:
        return False
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= day <= _MONTH_DAYS[month - 1] + leap


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
