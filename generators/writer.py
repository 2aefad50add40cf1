"""The one module that puts generated documents on disk.

Builders are pure (config -> documents); this module serialises them (ruamel.yaml for
YAML, ``json.dumps(indent=2)`` for JSON, text as it is), adds the "generated" header where
the format has comments, maintains fenced sections in files that also hold the user's
text (``CLAUDE.md``), records what it wrote in a committed manifest (paths and content
hashes: JSON settings files cannot carry a comment, and Claude Code drops a settings
file with an unknown key; a run killed half-way is recognised, and finished, by the
next), and tells drift apart from hand edits:

* ``ok``        the file is what the config generates;
* ``missing``   not there yet;
* ``outdated``  differs, but is what was generated last time (the config changed), or
  what an interrupted run was writing: rewritten freely;
* ``modified``  differs from both: someone edited a generated file. Reported, never
  overwritten without ``force``;
* ``obsolete``  generated last time, no longer generated (e.g. an area was removed):
  deleted if unmodified.

Output is deterministic: the same config gives byte-identical files.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from claude_orchestrator.fsutil import atomic_write_text
from claude_orchestrator.statefiles import replace_fenced

MANIFEST = ".orchestrator-generated.json"
HEADER = (
    "Generated from orchestrator.yaml by `claude-orchestrator generate`. Do not edit: "
    "change orchestrator.yaml and run it again."
)
FENCE_BEGIN = "<!-- claude-orchestrator:begin (generated from orchestrator.yaml) -->"
FENCE_END = "<!-- claude-orchestrator:end -->"


class Fenced(NamedTuple):
    """A document that is one fenced section of a file the user also writes."""

    body: str


class FileState(NamedTuple):
    path: str
    state: str  # ok | missing | outdated | modified | obsolete
    current: str | None
    expected: str | None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _literal_blocks(value: object) -> object:
    """Multi-line strings (scripts) as ``|`` block scalars, so they stay readable."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, dict):
        return {k: _literal_blocks(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal_blocks(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def _yaml_text(document: object) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(_literal_blocks(document), buffer)
    return buffer.getvalue()


def serialise(path: str, document: object) -> str:
    """The bytes (as text) a document is written as."""
    if isinstance(document, Fenced):
        return document.body.rstrip() + "\n"
    if path.endswith(".json"):
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if path.endswith((".yml", ".yaml")):
        text = document if isinstance(document, str) else _yaml_text(document)
        return f"# {HEADER}\n{text}"
    if path.endswith(".md"):
        return f"<!-- {HEADER} -->\n\n{str(document).rstrip()}\n"
    return str(document)


def _fenced_body(text: str) -> str | None:
    start = text.find(FENCE_BEGIN)
    end = text.find(FENCE_END, start + 1) if start != -1 else -1
    if start == -1 or end == -1:
        return None
    return text[start + len(FENCE_BEGIN) : end].strip("\n") + "\n"


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return "\ufffd"  # not ours: certainly modified


def path_problem(path: object) -> str | None:
    """What makes ``path`` unfit as a key of ``CI.generate()`` (None: nothing).

    A fit path is a ``str`` naming a file below the repository root the same way on
    every system: relative, ``/``-separated, no empty, ``.`` or ``..`` segment, no
    control character, backslash or colon (a drive or a data stream on Windows), nothing
    inside a ``.git``.
    """
    if not isinstance(path, str):
        return f"is a {type(path).__name__}, not a str"
    if not path:
        return "is empty"
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        return "contains a control character"
    if path.startswith("/"):
        return "is absolute: give it relative to the repository root"
    if "\\" in path:
        return "contains a backslash: separate folders with /"
    if ":" in path:
        return "contains a colon (on Windows a drive, or a data stream)"
    segments = path.split("/")
    if ".." in segments:
        return "leaves the repository (a .. segment)"
    if "" in segments or "." in segments:
        return "is not normalised (an empty or . segment)"
    if any(segment.casefold() == ".git" for segment in segments):
        return "is inside .git"
    return None


def _manifest_sections(root: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(path -> hash of the last finished run, path -> hashes of unfinished runs)."""
    text = _read(root / MANIFEST)
    if not text:
        return {}, {}
    try:
        data = json.loads(text)
        files = {str(k): str(v["sha256"]) for k, v in data["files"].items()
                 if path_problem(k) is None}  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}, {}
    pending: dict[str, list[str]] = {}
    raw = data.get("pending")
    if isinstance(raw, dict):
        for path, hashes in raw.items():
            if isinstance(hashes, list) and path_problem(path) is None:
                pending[str(path)] = [str(h) for h in hashes]
    return files, pending


def load_manifest(root: Path) -> dict[str, set[str]]:
    """Path -> the hashes of what this tool wrote there: the last finished run's, and
    those of runs that were interrupted (a killed ``generate`` leaves some files
    written and the manifest not yet: its ``pending`` section says what it was writing).
    """
    files, pending = _manifest_sections(root)
    known = {path: {digest} for path, digest in files.items()}
    for path, hashes in pending.items():
        known.setdefault(path, set()).update(hashes)
    return known


def manifest_text(
    hashes: Mapping[str, str], pending: Mapping[str, Sequence[str]] | None = None
) -> str:
    files = {path: {"sha256": digest} for path, digest in sorted(hashes.items())}
    data: dict[str, object] = {"generator": "claude-orchestrator", "header": HEADER, "files": files}
    if pending:
        data["pending"] = {path: sorted(set(h)) for path, h in sorted(pending.items())}
    return json.dumps(data, indent=2) + "\n"


def plan(root: Path, documents: Mapping[str, object]) -> list[FileState]:
    """Compare what the documents would write with what is on disk."""
    manifest = load_manifest(root)
    states = []
    for path, document in sorted(documents.items()):
        expected = serialise(path, document)
        on_disk = _read(root / path)
        current = on_disk
        if isinstance(document, Fenced) and on_disk is not None:
            current = _fenced_body(on_disk)
        if current == expected:
            state = "ok"
        elif current is None:
            state = "missing"
        elif sha256(current) in manifest.get(path, ()):
            state = "outdated"
        else:
            state = "modified"
        states.append(FileState(path, state, current, expected))
    for path in sorted(set(manifest) - set(documents)):
        current = _read(root / path)
        if current is None:
            continue
        state = "obsolete" if sha256(current) in manifest[path] else "modified"
        states.append(FileState(path, state, current, None))
    return states


def diff(states: list[FileState]) -> str:
    chunks: list[str] = []
    for s in states:
        if s.state == "ok":
            continue
        chunks.extend(difflib.unified_diff(
            (s.current or "").splitlines(keepends=True),
            (s.expected or "").splitlines(keepends=True),
            fromfile=f"a/{s.path}", tofile=f"b/{s.path}",
        ))  # fmt: skip
    return "".join(chunks)


def _record_pending(root: Path, states: list[FileState], *, force: bool) -> None:
    """Before the first file is written: the manifest as it was, plus the hashes about to
    be written, so that a run killed half-way is recognised as ours (not a hand edit) by
    the next one, which finishes it."""
    writes = {
        s.path: sha256(s.expected)
        for s in states
        if s.expected is not None
        and (s.state in ("missing", "outdated") or (s.state == "modified" and force))
    }
    if not writes:
        return
    files, pending = _manifest_sections(root)
    for path, digest in writes.items():
        pending[path] = [*pending.get(path, []), digest]
    atomic_write_text(root / MANIFEST, manifest_text(files, pending))


def write(
    root: Path, documents: Mapping[str, object], states: list[FileState], *, force: bool
) -> list[str]:
    """Write what is missing or outdated (and, with ``force``, what was hand-edited);
    delete obsolete files; rewrite the manifest. Returns the paths changed.

    The manifest is written twice: first with the hashes about to be written marked
    ``pending``, last with the result alone (see :func:`load_manifest`).
    """
    _record_pending(root, states, force=force)
    changed: list[str] = []
    hashes = {}
    for s in states:
        target = root / s.path
        if s.expected is None:  # obsolete (or a modified file that is no longer generated)
            if s.state == "obsolete" or force:
                target.unlink(missing_ok=True)
                changed.append(s.path)
            continue
        hashes[s.path] = sha256(s.expected)
        if s.state == "ok" or (s.state == "modified" and not force):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(documents[s.path], Fenced):
            existing = _read(target) or ""
            atomic_write_text(target, replace_fenced(existing, s.expected, FENCE_BEGIN, FENCE_END))
        else:
            atomic_write_text(target, s.expected)
        changed.append(s.path)
    text = manifest_text(hashes)
    if _read(root / MANIFEST) != text:
        atomic_write_text(root / MANIFEST, text)
        changed.append(MANIFEST)
    return changed
