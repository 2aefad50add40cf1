"""Make the README's dashboard screenshot (examples/dashboard.png) from the demo repository.

Runs the Quick start (examples/quickstart.sh) into a scratch directory, adds what a team
at work shows (an agent waiting for a permission, a push the guard refused, a failed
overseer test, a message to an agent), serves the dashboard with the installed command
(``claude-orchestrator dashboard --port 0 --read-only``) and photographs the page with
Debian's Chromium (headless, through Playwright). Needs the extras ``dashboard`` and
``test`` and /usr/bin/chromium (``bash .ci/install-browser.sh``).

    python examples/dashboard_screenshot.py [OUTPUT.png]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = "003-reading-goals"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic"]  # fmt: skip
CO = shutil.which("claude-orchestrator") or "claude-orchestrator"


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CLAUDE_ORCH"))}
    clean.update(GIT_AUTHOR_NAME="demo", GIT_AUTHOR_EMAIL="demo@example.com",
                 GIT_COMMITTER_NAME="demo", GIT_COMMITTER_EMAIL="demo@example.com")  # fmt: skip
    return clean


def run(cwd: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(args, cwd=cwd, env=env(), input=stdin, text=True, capture_output=True,
                   timeout=300, check=False)  # fmt: skip


def build_demo(work: Path) -> Path:
    subprocess.run(["bash", str(HERE / "quickstart.sh"), str(work)], env=env(), check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    repo, trees = work / "repo", work / "repo-worktrees" / SPEC
    run(repo, CO, "events", "log-event", SPEC, "implementor-api", "agent_waiting",
        "Claude needs your permission to use Bash: alembic upgrade head")  # fmt: skip
    push = {"session_id": "demo", "cwd": str(trees / "impl-ui"),
            "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "git push --force origin main"}}  # fmt: skip
    run(trees / "impl-ui", CO, "guard", "--role", "implementor", stdin=json.dumps(push))
    run(repo, CO, "events", "record-test", SPEC, "overseer", "e2e", "failed", "--failed", "2",
        "--passed", "40", "--total", "42")  # fmt: skip
    run(repo, CO, "tell", "implementor-ui", "The goals API is merged: rebase and go on",
        "--spec", SPEC)  # fmt: skip
    return repo


def photograph(repo: Path, output: Path) -> None:
    from playwright.sync_api import sync_playwright

    server = subprocess.Popen([CO, "dashboard", "--port", "0", "--read-only"], cwd=repo,
                              env=env(), stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        found = re.search(r"dashboard: (http://\S+)", server.stdout.readline())
        if not found:
            raise SystemExit("error: the dashboard did not print its URL")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(found.group(1) + f"#spec={SPEC}")
            page.wait_for_selector("body[data-loaded]")
            page.wait_for_selector("#live.on")
            page.wait_for_function("[...document.images].every(i => i.complete)")
            page.screenshot(path=str(output), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "dashboard.png"
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"error: {CHROMIUM} is absent: run `bash .ci/install-browser.sh` as root")
    with tempfile.TemporaryDirectory(prefix="dashboard-demo.") as work:
        photograph(build_demo(Path(work)), output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
