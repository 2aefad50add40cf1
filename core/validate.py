"""Validation of every value that comes from a user, an agent or a config file.

Each ``check_*`` function returns the value (normalised where that is harmless) or
raises :class:`~claude_orchestrator.errors.ValidationError` with a one-line message
that names the bad value and says what a good one looks like.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

from .errors import ValidationError

SPEC_ID_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,98}[a-z0-9])?")
AREA_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
TASK_ID_RE = re.compile(r"T\d{3,6}")
EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
COMMIT_RE = re.compile(r"[0-9a-f]{4,64}")
AREA_MAX = 40

BUILTIN_EVENT_TYPES = (
    "task_started",
    "task_completed",
    "task_blocked",
    "task_reopened",
    "status_update",
    "pr_opened",
    "pr_merged",
    "conflict_detected",
    "conflict_resolved",
)
FEATURE_STATUSES = ("in-progress", "completed", "archived")
SEVERITIES = ("warning", "critical")
TEST_TYPES = ("unit", "integration", "e2e", "lint")
TEST_STATUSES = ("passed", "failed", "skipped")
BLOCKER_TYPES = ("dependency", "conflict", "external", "technical")
BLOCKER_STATUSES = ("active", "resolved")
EXPORT_FORMATS = ("markdown", "csv", "json")

MAX_MESSAGE = 10_000
#: Metadata is stored as JSON text; this bounds one event's row (messages: MAX_MESSAGE).
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32
#: Ids and counts are signed 64-bit integers in every store (the built-in SQLite binds
#: nothing larger; PostgreSQL's bigint is the same size).
MAX_ID = 2**63 - 1


def _show(value: object) -> str:
    """Quote a value for an error message, escaping control characters."""
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= 80 else text[:77] + "...'"


def check_spec_id(value: str) -> str:
    """A spec id is one git ref component: lowercase letters, digits, '.', '-'."""
    if (
        not isinstance(value, str)
        or not SPEC_ID_RE.fullmatch(value)
        or ".." in value
        or value.endswith(".lock")
    ):
        raise ValidationError(
            f"invalid spec id {_show(value)}: use lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit, no '..' (e.g. 003-reading-goals)"
        )
    return value


def check_area(value: str) -> str:
    """An implementor area names a branch suffix ``impl-<area>``: e.g. ``data``."""
    if not isinstance(value, str) or len(value) > AREA_MAX or not AREA_RE.fullmatch(value):
        raise ValidationError(
            f"invalid area {_show(value)}: use lowercase letters, digits and single '-', "
            f"starting with a letter, at most {AREA_MAX} characters (e.g. data, api, ui)"
        )
    return value


def check_areas(values: Iterable[str]) -> list[str]:
    """A non-empty list of distinct areas."""
    areas = [check_area(v) for v in values]
    if not areas:
        raise ValidationError("no implementor areas given: name at least one (e.g. data,api,ui)")
    seen: set[str] = set()
    for area in areas:
        if area in seen:
            raise ValidationError(f"area {area!r} is named twice: name each area once")
        seen.add(area)
    return areas


def split_list(value: str) -> list[str]:
    """Split a comma-separated command-line list, dropping blanks around items."""
    return [item.strip() for item in value.split(",") if item.strip()]


def check_role(value: str) -> str:
    """A role is ``overseer`` or ``implementor-<area>``."""
    if value == "overseer":
        return value
    if isinstance(value, str) and value.startswith("implementor-"):
        area = value[len("implementor-") :]
        if len(area) <= AREA_MAX and AREA_RE.fullmatch(area):
            return value
    raise ValidationError(
        f"invalid role {_show(value)}: use 'overseer' or 'implementor-<area>' "
        "(e.g. implementor-data)"
    )


def role_for_area(area: str) -> str:
    return f"implementor-{area}"


def check_task_id(value: str | None) -> str | None:
    """Task ids look like ``T001`` (a 'T' and 3 to 6 digits); empty means none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not TASK_ID_RE.fullmatch(value):
        raise ValidationError(
            f"invalid task id {_show(value)}: use 'T' followed by 3 to 6 digits (e.g. T001)"
        )
    return value


def check_commit(value: str | None) -> str | None:
    """A commit is an abbreviated or full hex object id; empty means none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not COMMIT_RE.fullmatch(value.lower()):
        raise ValidationError(
            f"invalid commit {_show(value)}: give a hex commit id of 4 to 64 digits "
            "(e.g. from `git rev-parse HEAD`)"
        )
    return value.lower()


def check_event_type(value: str) -> str:
    """Built-in event types, or a custom one in snake_case."""
    if not isinstance(value, str) or not EVENT_TYPE_RE.fullmatch(value):
        raise ValidationError(
            f"invalid event type {_show(value)}: use one of {', '.join(BUILTIN_EVENT_TYPES)}, "
            "or a custom type in snake_case (lowercase letters, digits, '_')"
        )
    return value


def check_message(value: str, what: str = "message") -> str:
    """Free text: non-empty, no NUL, bounded length."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"empty {what}: say in a few words what happened")
    if "\x00" in value:
        raise ValidationError(f"the {what} contains a NUL character: remove it")
    if _has_surrogate(value):
        raise ValidationError(f"the {what} is not valid Unicode (a lone surrogate): remove it")
    if len(value) > MAX_MESSAGE:
        raise ValidationError(
            f"the {what} is {len(value)} characters long: keep it under {MAX_MESSAGE}"
        )
    return value


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValidationError(f"unknown {what} {_show(value)}: use one of {', '.join(choices)}")
    return value


def check_positive_id(value: int | str, what: str) -> int:
    """Database ids are positive integers."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 0 < number <= MAX_ID or str(value).strip() not in (str(number), f"+{number}"):
        raise ValidationError(
            f"invalid {what} id {_show(value)}: give a positive whole number up to {MAX_ID}"
        )
    return number


def check_count(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise ValidationError(
            f"invalid {what} {_show(value)}: give a whole number from 0 to {MAX_ID}"
        )
    return value


def check_limit(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100_000:
        raise ValidationError(f"invalid limit {_show(value)}: give a whole number from 1 to 100000")
    return value


def _has_surrogate(text: str) -> bool:
    """Lone surrogates (from JSON escapes or undecodable argv bytes) cannot be UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(text: str, invalid: str, example: str) -> object:
    """``json.loads`` that refuses NaN/Infinity and turns every failure into one line."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValidationError(f"{invalid} (nested too deeply): give {example}") from None
    except ValueError as exc:
        raise ValidationError(f"{invalid} ({exc.args[0]}): give {example}") from None


def check_metadata(value: str | dict[str, object] | None) -> dict[str, object] | None:
    """Event metadata: a JSON object (given as text on the command line).

    It must serialise as strict JSON (no NaN or Infinity, no lone surrogates) of at most
    :data:`MAX_METADATA_BYTES` bytes, because ``events recent --json`` prints it back.
    """
    example = "a JSON object, e.g. '{\"pr\": 12}'"
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) > 4 * MAX_METADATA_BYTES:  # no need to parse it to know
            raise _metadata_too_large(len(value))
        value = _load_json(value, "metadata is not valid JSON", example)  # type: ignore[assignment]
    if not isinstance(value, dict):
        raise ValidationError(f"metadata must be {example}")
    if _depth_exceeds(value, MAX_METADATA_DEPTH):
        raise ValidationError(
            f"metadata is nested too deeply (at most {MAX_METADATA_DEPTH} levels): give {example}"
        )
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, sort_keys=True)
    except RecursionError:
        raise ValidationError(f"metadata is nested too deeply: give {example}") from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"metadata is not strict JSON ({exc}): give {example}") from None
    if _has_surrogate(text):
        raise ValidationError("the metadata is not valid Unicode (a lone surrogate): remove it")
    size = len(text.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise _metadata_too_large(size)
    return value


def _depth_exceeds(value: object, limit: int) -> bool:
    """Whether lists/dicts nest deeper than ``limit`` (iterative: no RecursionError)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (
                node.values() if isinstance(node, dict) else node))  # fmt: skip
    return False


def _metadata_too_large(size: int) -> ValidationError:
    return ValidationError(
        f"the metadata is {size} bytes long: keep it under {MAX_METADATA_BYTES} bytes "
        "(store large data elsewhere and put its path or URL in the metadata)"
    )


#: what the kernel takes (PATH_MAX, NAME_MAX on Linux), in bytes
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:40]) + f"... ({len(text)} characters)"


def check_local_path(value: str | os.PathLike[str], what: str) -> str:
    """A file-system path (``--db``, ``--output``, env ``CLAUDE_ORCHESTRATOR_DB``): not
    empty, no NUL, and within the kernel's length limits, so opening it cannot fail
    with "file name too long" half-way through a command."""
    text = os.fspath(value)
    if not text.strip():
        raise ValidationError(f"the {what} is empty: name a file")
    if "\0" in text:
        raise ValidationError(f"the {what} {_shown(text)} contains a NUL character")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"the {what} {text[:60]!a} is not valid UTF-8: rename the file"
        ) from None
    if len(raw) > MAX_PATH_BYTES:
        raise ValidationError(
            f"the {what} {_shown(text)} is {len(raw)} bytes long: paths are at most "
            f"{MAX_PATH_BYTES} bytes"
        )
    for part in raw.split(b"/"):
        if len(part) > MAX_NAME_BYTES:
            raise ValidationError(
                f"the {what} {_shown(text)} has a name of {len(part)} bytes: each part of "
                f"a path is at most {MAX_NAME_BYTES} bytes"
            )
    return text


def check_path_list(value: str | list[str], what: str = "files list") -> list[str]:
    """A list of repository-relative file paths.

    Accepts a JSON array of strings (the original tool's format) or a comma-separated
    list. Paths must be relative, inside the repository, and free of control characters.
    """
    items: object
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            example = (
                'a JSON array of paths like \'["src/a.py", "src/b.py"]\' or a comma-separated list'
            )
            items = _load_json(text, f"malformed {what}", example)
        else:
            items = split_list(text)
    else:
        items = value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValidationError(f"malformed {what}: it must be a list of path strings")
    paths: list[str] = []
    for item in items:
        paths.append(check_repo_path(item))
    if not paths:
        raise ValidationError(f"empty {what}: name at least one file")
    return sorted(set(paths))


def check_repo_path(value: str) -> str:
    """A path relative to the repository root that stays inside it, normalised.

    ``.`` segments and empty segments (``a//b``, a trailing ``/``) are dropped, as git
    does, so ``a/./b`` and ``a/b`` name one file; ``..`` is refused rather than resolved,
    because ``a/../b`` usually means a mistake and resolving it could leave the tree.
    """
    parts = value.split("/") if isinstance(value, str) else []
    kept = [part for part in parts if part not in ("", ".")]
    bad = (
        not kept
        or value.startswith("/")
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
        or _has_surrogate(value)
        or ".." in kept
    )
    if bad:
        raise ValidationError(
            f"invalid path {_show(value)}: give a path relative to the repository root, "
            "without '..' or control characters (e.g. src/models.py)"
        )
    return "/".join(kept)


BRANCH_RE = re.compile(
    r"(?!.*\.\.)(?!.*//)(?!/)(?!.*/$)(?!.*\.lock$)(?!.*@\{)[A-Za-z0-9._/-]{1,200}"
)


def check_branch(value: str) -> str:
    """A branch name git accepts (a conservative subset of git-check-ref-format)."""
    if (
        not isinstance(value, str)
        or not BRANCH_RE.fullmatch(value)
        or value.startswith("-")
        or any(part.startswith(".") for part in value.split("/"))
    ):
        raise ValidationError(
            f"invalid branch name {_show(value)}: use letters, digits, '.', '_', '-' and '/' "
            "separated parts, no '..' (e.g. feature/003-reading-goals/overseer)"
        )
    return value
