"""gh and claude-orchestrator for the guard.

Implementors may use gh to create, view and comment on pull requests and to read the
API; merging (``gh pr merge``, the merge endpoints, GraphQL mutations), moving refs on
the server, aliases and extensions are refused. Of claude-orchestrator they may run the
commands their runbook names; the overseer's (``merge-pr``, ``generate``, ``hooks``,
``init-feature``, ``config set`` ...) are refused, in any spelling (``python -m
claude_orchestrator`` goes through the same check).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import _deny
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_walk import Walker

#: gh flags that take a value (wherever they stand, cobra parses flags anywhere)
GH_VALUED = {"-R", "--repo", "-X", "--method", "-f", "--raw-field", "-F", "--field", "-H",
             "--header", "-q", "--jq", "-t", "--template", "--hostname", "--input", "-B",
             "--base", "-b", "--body", "-T", "--title", "-l", "--label", "-a", "--assignee",
             "-m", "--milestone", "-r", "--reviewer", "-s", "--state", "-L", "--limit",
             "-A", "--author", "-S", "--search", "--cache", "-p", "--project", "--head",
             "--body-file", "-e", "--editor-noop", "-w", "--web-noop", "--json",
             "-c", "--comments-noop", "--preview"}  # fmt: skip
GH_ALLOWED = {
    "pr": {"create", "view", "list", "status", "diff", "checks", "comment", "ready", "edit"},
    "issue": {"view", "list", "status", "create", "comment"},
    "run": {"list", "view", "watch"},
    "workflow": {"list", "view"},
    "repo": {"view"},
    "auth": {"status"},
    "search": {"prs", "issues", "code", "commits", "repos"},
    "browse": set(),
    "status": set(),
    "api": set(),
    "help": set(),
    "version": set(),
    "--version": set(),
    "--help": set(),
}
WRITE_ENDPOINT = re.compile(r"/?repos/[^/]+/[^/]+/(issues|pulls)/\d+/(comments|reviews)/?")


def _positional(args: list[Word]) -> tuple[list[str], dict[str, list[str]]]:
    words: list[str] = []
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        text = args[i].text
        i += 1
        if text.startswith("-") and len(text) > 1:
            name, eq, value = text.partition("=")
            if not eq and name in GH_VALUED:
                value = args[i].text if i < len(args) else ""
                i += 1
            elif not eq and name.startswith("-") and not name.startswith("--") and len(name) > 2:
                name, value = name[:2], name[2:]
            flags.setdefault(name, []).append(value)
            continue
        words.append(text)
    return words, flags


def gh(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    context = walker.context
    if not context.implementor:
        return None
    if any(w.dynamic for w in args):
        _deny("gh with computed arguments: write them out")
    words, flags = _positional(args)
    if not words:
        return None
    group = words[0]
    command = words[1] if len(words) > 1 else ""
    if group == "pr" and command == "merge":
        _deny("implementors may not merge PRs; the overseer merges them")
    if group not in GH_ALLOWED:
        _deny(
            f"gh {group} is not in the implementors' allow-list (gh pr create/view/list/"
            "status/diff/checks/comment, gh issue, gh run list/view, read-only gh api)"
        )
    allowed = GH_ALLOWED[group]
    if allowed and command not in allowed:
        _deny(f"gh {group} {command} is not allowed for implementors")
    if group == "pr" and command == "edit" and ("-B" in flags or "--base" in flags):
        _deny("implementors may not change a PR's base branch")
    if group == "api":
        _gh_api(words, flags)
    return None


def _gh_api(words: list[str], flags: dict[str, list[str]]) -> None:
    endpoint = words[1] if len(words) > 1 else ""
    method = (flags.get("-X") or flags.get("--method") or [""])[-1].upper()
    fields = [v for k in ("-f", "--raw-field", "-F", "--field") for v in flags.get(k, [])]
    if "--input" in flags:
        method = method or "POST"
    if fields and not method:
        method = "POST"
    method = method or "GET"
    text = " ".join([endpoint, *fields])
    if endpoint == "graphql":
        from_file = any(v.partition("=")[2].startswith("@") for v in fields)
        if re.search(r"mutation", text, re.IGNORECASE) or "--input" in flags or from_file:
            _deny("implementors may not merge PRs or change the repository through gh api "
                  "graphql (mutations are refused)")  # fmt: skip
        return
    if "/merge" in endpoint or "/git/" in endpoint or "/branches/" in endpoint or \
            "/refs" in endpoint:  # fmt: skip
        if method != "GET":
            _deny("implementors may not merge PRs or move branches on the server (gh api)")
        return
    if method not in ("GET", "HEAD") and not WRITE_ENDPOINT.fullmatch(endpoint):
        _deny(f"gh api {method} {endpoint}: implementors may write only PR and issue "
              "comments through the API")  # fmt: skip


#: claude-orchestrator commands an implementor may run (group -> subcommands; empty: any)
ORCHESTRATOR_ALLOWED: dict[str, set[str]] = {
    "sync-status": set(), "check-conflicts": set(), "run-tests": set(), "open-pr": set(),
    "prs": set(), "doctor": set(), "plugins": set(), "guard": set(),
    "events": {"log-event", "status", "recent", "conflicts", "blockers", "test-results",
               "path", "info", "block", "record-test", "export"},
    "config": {"check", "show", "schema"},
    "--help": set(), "--version": set(), "-h": set(),
}  # fmt: skip


def orchestrator(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    context = walker.context
    if not context.implementor:
        return None
    texts = [w.text for w in args]
    if any(w.dynamic for w in args[:2]):
        _deny("claude-orchestrator with a computed command: write it out")
    if not texts:
        return None
    group = texts[0]
    allowed = ORCHESTRATOR_ALLOWED.get(group)
    if allowed is None:
        commands = ", ".join(sorted(k for k in ORCHESTRATOR_ALLOWED if not k.startswith("-")))
        _deny(f"`claude-orchestrator {group}` is the overseer's (implementors run {commands})")
        return None
    rest = [t for t in texts[1:] if not t.startswith("-")]
    if allowed and rest[:1] and rest[0] not in allowed:
        _deny(f"`claude-orchestrator {group} {rest[0]}` is the overseer's")
    if any(t == "--db" or t.startswith("--db=") for t in texts):
        _deny("implementors use the configured store (no --db)")
    if group == "events" and rest[:1] == ["export"]:
        files = [w for w in args[2:] if not w.text.startswith("-")][1:]
        for word in files:
            walker.write(cwd, word, "claude-orchestrator events export")
    return None
