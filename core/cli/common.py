"""What every command module shares: the common parameters, output, the library handle,
and :func:`hook_command`, which builds a Typer command from a hook-path declaration."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..api import Orchestrator
from ..lean import BRANCH_HELP, DB_HELP, JSON_HELP, ROLE_HELP, SPEC_HELP, HookCommand, Param
from ..render import to_json

if TYPE_CHECKING:
    from ..lean import Value, Values

DbOption = Annotated[Path | None, typer.Option("--db", help=DB_HELP, show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
BranchOption = Annotated[str | None, typer.Option("--branch", help=BRANCH_HELP, show_default=False)]
SpecArg = Annotated[str, typer.Argument(help=SPEC_HELP, show_default=False)]
RoleArg = Annotated[str, typer.Argument(help=ROLE_HELP)]
SpecOption = Annotated[
    str | None,
    typer.Option("--spec", help="Spec id (default: the checked-out feature branch's, or the "
                 "only feature it can be).", show_default=False),
]  # fmt: skip


def out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def to_stderr(text: str) -> None:
    """A progress line, on standard error at once (the tests' own output follows it)."""
    print(text, file=sys.stderr, flush=True)


def emit(as_json: bool, value: object, text: str) -> None:
    out(to_json(value) if as_json else text)


def warn(text: str) -> None:
    """A warning from the library (``warning: ...``), on standard error as it happens."""
    print(text, file=sys.stderr)


#: the Orchestrators this command opened, closed when it ends (:func:`close_opened`)
_opened: list[Orchestrator] = []


def orch(db: Path | None = None) -> Orchestrator:
    """The command's Orchestrator; :func:`~claude_orchestrator.cli.run` closes it when the
    command ends (its store's connections: a server's, the store proxy's socket)."""
    opened = Orchestrator(db=db, on_warning=warn)
    _opened.append(opened)
    return opened


def close_opened() -> None:
    """Close what :func:`orch` opened (each once, even if one of them fails to close)."""
    while _opened:
        try:
            _opened.pop().close()
        except Exception as exc:  # closing must not hide the command's result
            print(f"warning: could not close the store: {type(exc).__name__}: {exc}",
                  file=sys.stderr)  # fmt: skip


def _annotation(param: Param) -> object:
    kind: Any = Path if param.kind == "path" else str
    if param.kind == "bool":
        return Annotated[bool, typer.Option(param.flag, help=param.help)]
    if param.flag is None:
        info: Any = typer.Argument(help=param.help, show_default=False)
    else:
        info = typer.Option(param.flag, help=param.help, show_default=False)
    return Annotated[kind if param.required else kind | None, info]


def _default(param: Param) -> object:
    if param.required:
        return inspect.Parameter.empty
    return False if param.kind == "bool" else None


def hook_command(app: typer.Typer, spec: HookCommand, run: Callable[[Values], int]) -> None:
    """Register ``spec`` (declared in :mod:`..lean`) on ``app``: the same parameters, help
    text and function as the lean entry, so the two cannot drift."""

    def command(**values: Value) -> None:
        code = run(values)
        if code:
            raise typer.Exit(code)

    parameters = [
        inspect.Parameter(
            p.name, inspect.Parameter.KEYWORD_ONLY, default=_default(p), annotation=_annotation(p)
        )
        for p in spec.params
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = spec.help
    command.__name__ = spec.path[-1].replace("-", "_")
    app.command(spec.path[-1])(command)
