"""``config``: read, check and change orchestrator.yaml."""

from __future__ import annotations

from typing import Annotated

import typer

from ..render import to_json
from .common import JsonOption, emit, orch, out


def register(config: typer.Typer) -> None:
    @config.command("schema")
    def config_schema() -> None:
        """Print the JSON Schema of orchestrator.yaml (for editors and CI).

        \b
        Example:
          claude-orchestrator config schema > orchestrator.schema.json
        """
        import json

        from ..config_schema import SCHEMA

        out(json.dumps(SCHEMA, indent=2))

    @config.command("check")
    def config_check(as_json: JsonOption = False) -> None:
        """Validate orchestrator.yaml, including plugin names; exit 2 with the first problem.

        \b
        Example:
          claude-orchestrator config check
        """
        from ..config_check import check_config

        library = orch()
        check_config(library)
        path = library.config_path
        emit(as_json, {"path": str(path), "valid": True}, f"{path}: valid")

    @config.command("show")
    def config_show(as_json: JsonOption = False) -> None:
        """Print the effective configuration (file merged with defaults).

        \b
        Example:
          claude-orchestrator config show --json
        """
        data = orch().config.to_dict()
        if as_json:
            out(to_json(data))
        else:
            import io

            from ruamel.yaml import YAML

            buffer = io.StringIO()
            YAML().dump(data, buffer)
            out(buffer.getvalue())

    @config.command("set")
    def config_set(
        key: Annotated[str, typer.Argument(help="Dotted key, e.g. implementors.areas.")],
        value: Annotated[str, typer.Argument(help="A YAML value, e.g. '[data, api]'.")],
    ) -> None:
        """Change one setting, keeping the file's comments; nothing is written if invalid.

        \b
        Example:
          claude-orchestrator config set implementors.areas '[data, api, ui, docs]'
        """
        from ..config import set_value

        path = orch().config_path
        set_value(path, key, value)
        out(f"{path}: {key} set")
