"""``dashboard``: the live web dashboard (Starlette and uvicorn, the extra ``dashboard``,
imported only when the command runs)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..api import Orchestrator
from ..errors import ValidationError
from .common import DbOption, orch, out, warn


def _token(token_env: str | None, loopback: bool) -> str | None:
    """The token: from the variable ``token_env``, generated for a non-loopback bind,
    else none."""
    from ..dashboard_auth import MIN_TOKEN, new_token

    if token_env is None:
        return None if loopback else new_token()
    value = os.environ.get(token_env, "").strip()
    if len(value) < MIN_TOKEN:
        what = "is not set" if not value else f"holds {len(value)} characters"
        raise ValidationError(
            f"--token-env {token_env}: the variable {what}; set it to a random token of at "
            f"least {MIN_TOKEN} characters (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or leave --token-env out"
        )
    return value


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard(
        host: Annotated[str, typer.Option("--host", help="The address to listen on; any "
                        "other than a loopback one needs a token.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="The port (0: any free one).")] = 8765,
        open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a "
                                "browser.")] = False,
        read_only: Annotated[bool, typer.Option("--read-only", help="No actions (resolve a "
                             "blocker, tell an agent, detect conflicts): only views.")] = False,
        token_env: Annotated[str | None, typer.Option("--token-env", help="Read the token "
                             "every request must carry from this environment variable "
                             "(default: none on a loopback address, else a new one, printed "
                             "in the URL).", show_default=False)] = None,
        db: DbOption = None,
    ) -> None:  # fmt: skip
        """Serve the live dashboard: agents, task board, conflicts, PRs, tests, blockers,
        inbox and the event stream, updating as events are committed; Ctrl-C stops it.

        \b
        Example:
          claude-orchestrator dashboard --open
          DASH_TOKEN=... claude-orchestrator dashboard --host 0.0.0.0 --token-env DASH_TOKEN
        """
        try:
            from ..dashboard_app import (
                bind,  # fmt: skip
                create_app,
                is_loopback,
                loopback_hosts,
                page_origin,
                serve,
                url_of,
            )
        except ImportError as exc:
            raise ValidationError(
                f"the dashboard needs the extra 'dashboard' ({exc.name} is not installed): "
                "pip install 'claude-orchestrator-toolkit[dashboard]'"
            ) from None
        loopback = is_loopback(host)
        token = _token(token_env, loopback)
        orch(db).status()  # no config or no store: say so now, before listening
        sock = bind(host, port)
        port = sock.getsockname()[1]
        # without a token only the bound address's own names are answered (DNS rebinding)
        hosts = loopback_hosts(host, port) if token is None else None
        app = create_app(lambda: Orchestrator(db=db, on_warning=warn), read_only=read_only,
                         token=token, allowed_origin=page_origin(host, port),
                         allowed_hosts=hosts)  # fmt: skip
        # a generated token is in the URL; one from --token-env is the user's, not printed
        url = url_of(host, port, token if token_env is None else None)
        notes = [f"the token is ${token_env}"] if token_env else []
        shown = ", ".join(notes + (["read-only"] if read_only else []))
        out(f"dashboard: {url}" + (f" ({shown})" if shown else ""))
        from ..notify_run import start_background

        sender = start_background(orch(db))  # channels configured and none sending
        if sender is not None:
            out(f"notifications: notify run started (pid {sender}; `notify stop` stops it)")
        out("Ctrl-C stops it.")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        serve(app, sock)
