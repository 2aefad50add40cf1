"""Parsing and validating ``orchestrator.yaml`` text, with positions and size limits.

ruamel.yaml and jsonschema are imported inside the functions: the commands run by git
hooks load a cached, already validated file and never need them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config_defaults import DEFAULTS
from .config_model import Config, Position, _dotted, _merge, _plain
from .errors import ConfigError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError
    from ruamel.yaml import YAML

#: Bounds on what a config file may be: far above any real one, far below what would
#: hang a git hook. YAML aliases share one node, so a few lines can stand for billions
#: of values ("billion laughs"); everything after parsing walks the expanded tree.
MAX_CONFIG_CHARS = 1_000_000
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 50


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def _positions(node: object, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, Position]]:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        for key, value in node.items():
            child = (*path, str(key))
            try:
                line, col = node.lc.value(key)
                key_line, key_col = node.lc.key(key)
            except (KeyError, TypeError, AttributeError):
                continue
            yield _dotted(child), (line + 1, col + 1)
            yield _dotted(child) + "#key", (key_line + 1, key_col + 1)
            yield from _positions(value, child)
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                line, col = node.lc.item(index)
            except (KeyError, TypeError, AttributeError):
                continue
            yield _dotted(child), (line + 1, col + 1)
            yield from _positions(value, child)


def parse_text(text: str, path: Path) -> tuple[Any, dict[str, Position]]:
    """Round-trip parse; YAML syntax errors become one-line ConfigErrors."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if len(text) > MAX_CONFIG_CHARS:
        raise ConfigError(
            f"{path.name}: {len(text)} characters is too large for a config file "
            f"(at most {MAX_CONFIG_CHARS}): is it the right file?"
        )
    if _flow_depth(text) > MAX_CONFIG_DEPTH:
        # ruamel's scanner is quadratic in flow nesting: refuse before it starts
        raise ConfigError(f"{path.name}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)")
    try:
        document = _yaml().load(text)
    except RecursionError:
        raise ConfigError(
            f"{path.name}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)"
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except YAMLError as exc:
        raise ConfigError(f"{path.name}: invalid YAML: {str(exc).splitlines()[0]}") from None
    _check_size(document, path)
    return document, dict(_positions(document))


def _flow_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting outside quotes and comments (a linear pre-scan)."""
    depth = deepest = 0
    quote = ""
    previous = "\n"
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char == "#" and previous in " \t\n":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            char = "\n"
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
        previous = char
        index += 1
    return deepest


def _check_size(document: object, path: Path) -> None:
    """Refuse documents too deep or too large once aliases are expanded (iteratively:
    this must not recurse, and it stops counting at the limit)."""
    stack = [(document, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"{path.name}: more than {MAX_CONFIG_VALUES} values once YAML aliases "
                "are expanded: write the values out, or use fewer aliases"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{path.name}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)")
        if isinstance(node, Mapping):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _schema_message(error: SchemaError) -> tuple[str, str]:
    """(dotted key to point at, message) for a jsonschema ValidationError."""
    path = tuple(error.absolute_path)
    dotted = _dotted(path)
    prefix = f"{dotted}: " if dotted else ""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    validator = error.validator
    if validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in schema.get("properties", {}))
        key = extra[0] if extra else "?"
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return _dotted((*path, key)) + "#key", f"{prefix}unknown key {key!r}{hint}"
    description = schema.get("description")
    if validator == "type":
        expected = schema.get("type")
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        expected_text = expected_text.replace("object", "mapping").replace("array", "list")
        got = _type_name(error.instance)
        return dotted, f"{prefix}expected a {expected_text}, got a {got}"
    if validator in ("pattern", "maxLength", "minimum", "maximum") and description:
        return dotted, f"{prefix}invalid value {error.instance!r}: {description}"
    if validator == "minLength":
        return dotted, f"{prefix}must not be empty"
    if validator == "minItems":
        return dotted, f"{prefix}must list at least {schema.get('minItems')} item(s)"
    if validator == "uniqueItems":
        return dotted, f"{prefix}lists the same item twice: name each once"
    if validator == "const":
        return dotted, f"{prefix}must be {schema.get('const')!r}, got {error.instance!r}"
    return dotted, f"{prefix}{error.message}"


def validate_data(document: object, path: Path, positions: dict[str, Position]) -> Config:
    """Check a parsed document against the schema and the cross-field rules."""
    from jsonschema import Draft202012Validator

    from .config_schema import SCHEMA

    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(
            f"{path.name}:1:1: expected a mapping of settings at the top, "
            f"got a {_type_name(document)}: run `claude-orchestrator init` for a template"
        )
    plain = _plain(document)
    _refuse_connection_secrets(plain, path, positions)
    if "notifications" in plain:
        from .notify_config import refuse_secrets

        refuse_secrets(plain, path, positions)
    errors = list(Draft202012Validator(SCHEMA).iter_errors(plain))
    if errors:
        located = []
        for error in errors:
            dotted, message = _schema_message(error)
            position = positions.get(dotted) or positions.get(dotted.split("#")[0]) or (1, 1)
            # Property-name errors point at the offending key.
            if error.validator == "propertyNames":
                key = error.instance if isinstance(error.instance, str) else ""
                position = positions.get(_dotted((*error.absolute_path, key)) + "#key", position)
            located.append((position, message))
        located.sort()
        (line, col), message = located[0]
        more = f" (+{len(located) - 1} more)" if len(located) > 1 else ""
        raise ConfigError(f"{path.name}:{line}:{col}: {message}{more}")
    config = Config(_merge(DEFAULTS, plain), path, positions)
    areas = config.areas
    for area in config.data["paths"]["areas"]:
        if area not in areas:
            dotted = f"paths.areas.{area}"
            raise ConfigError(
                f"{config.where(dotted + '#key').rstrip(': ')}: {dotted}: {area!r} is not an "
                f"implementor area (areas: {', '.join(areas)}); add it to implementors.areas"
            )
    _check_path_patterns(config)
    if "notifications" in plain:
        from .notify_config import check

        check(config)
    return config


#: option names of the postgres store that would hold a connection string or a password
_SECRET_WORDS = ("pass", "dsn", "url", "uri", "conninfo", "connection", "secret", "host")


def _refuse_connection_secrets(
    plain: Mapping[str, Any], path: Path, positions: dict[str, Position]
) -> None:
    """The committed config never holds the postgres store's connection string or a
    password (every clone and every agent would read it): refuse one, naming where it
    belongs, without repeating its value."""
    plugins = plain.get("plugins")
    options = plugins.get("options") if isinstance(plugins, Mapping) else None
    postgres = options.get("postgres") if isinstance(options, Mapping) else None
    if not isinstance(postgres, Mapping):
        return
    for key, value in postgres.items():
        named = key != "dsn_env" and any(word in key.lower() for word in _SECRET_WORDS)
        held = isinstance(value, str) and ("://" in value or "=" in value)
        if named or held:
            dotted = f"plugins.options.postgres.{key}"
            line, col = positions.get(dotted + "#key") or positions.get(dotted) or (1, 1)
            raise ConfigError(
                f"{path.name}:{line}:{col}: {dotted}: the postgres store's connection string "
                "and password never go in the committed config: set CLAUDE_ORCHESTRATOR_DB_URL "
                "(or the variable plugins.options.postgres.dsn_env names) in each agent's "
                "environment, and keep the password in ~/.pgpass (PGPASSFILE)"
            )


def _check_path_patterns(config: Config) -> None:
    """Every list of path patterns compiles (the guard and CI match with them)."""
    from .pathmatch import PatternError, compile_patterns

    paths = config.data["paths"]
    lists = {"paths.overseer": paths["overseer"], "paths.implementor": paths["implementor"]}
    lists.update({f"paths.areas.{area}": value for area, value in paths["areas"].items()})
    for dotted, patterns in lists.items():
        try:
            compile_patterns(patterns)
        except PatternError as exc:
            key = dotted if exc.index is None else f"{dotted}[{exc.index}]"
            raise config.error(key, str(exc)) from None
