"""``orchestrator.yaml``: loading, caching and rewriting; the names other modules import.

The file is read with ruamel.yaml's round-trip loader so that every value keeps its
line and column: errors read ``orchestrator.yaml:12:5: plugins.store: ...``. A
rewrite (``config set``) goes through the same loader, so comments and key order
survive.

Parsing and validating costs ~100 ms of imports (ruamel.yaml, jsonschema), which the
commands run by git hooks cannot afford. A validated file is therefore cached as JSON
next to the event store, keyed by the file's path, size, mtime and inode and by this
package's version; any change to the file makes the next load parse it again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .config_defaults import DEFAULTS, DISTRIBUTION, TEMPLATE
from .config_model import Config, default_config
from .config_parse import _yaml, parse_text, validate_data
from .errors import ConfigError
from .fsutil import atomic_write_text

__all__ = [
    "DEFAULTS",
    "DISTRIBUTION",
    "TEMPLATE",
    "Config",
    "default_config",
    "load_config",
    "parse_text",
    "set_value",
    "validate_data",
    "write_template",
]


# ------------------------------------------------------------------------ loading
def _cache_file(cache_dir: Path, path: Path) -> Path:
    import zlib  # cheaper to import than hashlib, and this runs on every command

    digest = zlib.crc32(str(path).encode()) ^ (zlib.adler32(str(path).encode()) << 32)
    return cache_dir / f"config-{digest:016x}.json"


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def load_config(path: Path, *, cache_dir: Path | None = None, required: bool = False) -> Config:
    """Load and validate ``path``; defaults when it does not exist (unless ``required``).

    :param cache_dir: where to keep the parsed-config cache; only used if it exists.
    """
    if not path.exists():
        if required:
            raise ConfigError(
                f"no {path.name} at {path.parent}: run `claude-orchestrator init` to write one"
            )
        return default_config()
    try:
        key = _stat_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    cache = _cache_file(cache_dir, path) if cache_dir is not None else None
    if cache is not None:
        try:
            cached = json.loads(cache.read_text(encoding="utf-8"))
            if cached["key"] == key and cached["version"] == __version__:
                positions = {k: (v[0], v[1]) for k, v in cached["positions"].items()}
                return Config(cached["data"], path, positions)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: not UTF-8 text: save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    document, positions = parse_text(text, path)
    config = validate_data(document, path, positions)
    if cache is not None and cache.parent.is_dir():
        payload = {
            "version": __version__,
            "key": key,
            "data": config.data,
            "positions": {k: list(v) for k, v in positions.items()},
        }
        # A cache is an optimisation: a read-only place just means no cache.
        with contextlib.suppress(OSError):
            atomic_write_text(cache, json.dumps(payload))
    return config


def _parse_scalar(text: str) -> Any:
    """A command-line value as YAML (``[a, b]``, ``null``, ``3``, ``text``)."""
    document, _ = parse_text(f"value: {text}\n" if "\n" not in text else "", Path("value"))
    if document is None:
        raise ConfigError("a value may not contain a newline")
    return document["value"]


def set_value(path: Path, dotted: str, raw_value: str) -> Config:
    """Set one key of the file, keeping its comments and key order; validates first.

    Nothing is written when the result would be invalid.
    """
    from .errors import refuse_implementor

    refuse_implementor("config set")
    if not path.exists():
        raise ConfigError(
            f"no {path.name} at {path.parent}: run `claude-orchestrator init` to write one"
        )
    keys = dotted.split(".")
    if not dotted or any(not k for k in keys):
        raise ConfigError(f"invalid key {dotted!r}: use a dotted path like implementors.areas")
    text = path.read_text(encoding="utf-8")
    document, _ = parse_text(text, path)
    if document is None:
        document = _yaml().load("{}\n")
    from ruamel.yaml.comments import CommentedMap

    node = document
    for key in keys[:-1]:
        child = node.get(key) if isinstance(node, Mapping) else None
        if child is None:
            child = CommentedMap()
            node[key] = child
        if not isinstance(child, Mapping):
            raise ConfigError(f"{dotted}: {key!r} is not a mapping, so it has no keys")
        node = child
    node[keys[-1]] = _parse_scalar(raw_value)
    import io

    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    new_text = buffer.getvalue()
    new_document, positions = parse_text(new_text, path)
    config = validate_data(new_document, path, positions)
    atomic_write_text(path, new_text)
    return config


def write_template(path: Path, areas: list[str] | None = None) -> Config:
    """Write the commented default file (refuses to overwrite)."""
    text = TEMPLATE
    if areas is not None:
        text = text.replace("areas: [data, api, ui]", f"areas: [{', '.join(areas)}]")
    document, positions = parse_text(text, path)
    config = validate_data(document, path, positions)
    atomic_write_text(path, text, exclusive=True)
    return config
