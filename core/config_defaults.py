"""The defaults of ``orchestrator.yaml``, twice: as data and as the commented file.

``DEFAULTS`` is what a missing key means; ``TEMPLATE`` is the file ``claude-orchestrator
init`` writes. They hold the same keys and values (``tests/test_config.py`` reads
the template and compares), with one exception: a key whose default is computed when
the tool runs (``ci.tool``, this release's version) is shown commented out, ``# key:
value`` at its place, its placeholder ``X.Y.Z`` standing for that version. The data is
kept as a literal rather than parsed from the template because the commands run by git
hooks import this module, and parsing YAML costs ~50 ms there.
"""

from __future__ import annotations

from typing import Any

from . import __version__

#: This tool's name on the package registry (the command is ``claude-orchestrator``;
#: the registry's ``claude-orchestrator`` is an unrelated project).
DISTRIBUTION = "claude-orchestrator-toolkit"

DEFAULTS: dict[str, Any] = {
    "version": 1,
    "project": None,
    "plugins": {
        "store": "sqlite",
        "vcs": "git",
        "ci": "github-actions",
        "notifiers": ["markdown"],
        "options": {},
    },
    "branches": {"main": "main", "prefix": "feature"},
    "implementors": {"areas": ["data", "api", "ui"]},
    "paths": {
        "overseer": ["**"],
        "implementor": ["src/**", "tests/**", "state/impl-*.md"],
        "areas": {},
    },
    "tests": {
        "implementor": {"unit": "pytest -q", "lint": "ruff check ."},
        "overseer": {
            "integration": "pytest -q tests/integration",
            "e2e": "pytest -q tests/e2e",
        },
    },
    "tasks": {"file": "specs/{spec_id}/tasks.md"},
    "worktrees": {
        "dir": "../{repo}-worktrees",
        "setup": {"copy": [], "link": [], "run": [], "ports": {"base": 20000, "block": 10}},
    },
    "agents": {
        "command": "claude",
        "stale_after": 600,
        "route_to_overseer": ["task_blocked", "guard_denied"],
    },
    "ci": {
        "python": "3.11",
        # The version that generates the workflows is the one CI installs.
        "tool": f"{DISTRIBUTION}=={__version__}",
        "setup": "pip install -e .",
        # What the default test commands run; ci.setup installs the project only.
        "install": ["pytest", "ruff"],
        "build": None,
        "typecheck": None,
        "audit": None,
        "services": [],
        "deploy_preview": None,
    },
    "forge": {"type": "local", "host": "github.com"},
    "guard": {"allow": [], "env": [], "mode": "worktree"},
    "notifications": {
        "channels": {},
        "escalation": None,
        "digest": {"threshold": 5, "window": 10, "settle": 2},
        "retry": {"attempts": 8, "base": 1, "max_delay": 300, "timeout": 10},
        "lease": 60,
        "link": None,
    },
    "store": {"path": None},
    "budgets": {"feature": None, "agent": None, "task": None, "on_exceed": "warn"},
    "prices": {},
}

TEMPLATE = """\
# claude-orchestrator configuration.
# Validate it with `claude-orchestrator config check`; the JSON Schema for editors is
# printed by `claude-orchestrator config schema`. Unknown keys are errors.
version: 1

# This repository's name in an event store that several repositories share (the postgres
# store). null: its first commit, which every clone shares.
project: null

plugins:
  # The event store that records features, agents and events (built-in: sqlite, or
  # postgres, a server a team shares: see plugins.options.postgres below).
  store: sqlite
  # Version control (built-in: git).
  vcs: git
  # CI whose workflow files `generate` writes (built-in: github-actions).
  ci: github-actions
  # Notifiers receive every event after it is stored. markdown keeps the state files
  # state/overseer.md and state/impl-<area>.md; plugins add more (e.g. jsonl).
  notifiers: [markdown]
  # Settings for plugins, by implementation name, e.g. {jsonl: {path: events.jsonl}}.
  # postgres reads its connection string from the environment, CLAUDE_ORCHESTRATOR_DB_URL
  # (never from this file; passwords belong in ~/.pgpass), and takes
  # {dsn_env: OTHER_VARIABLE, connect_timeout: 2, statement_timeout: 60, lock_timeout: 30}.
  options: {}

branches:
  # The branch finished features are merged into.
  main: main
  # Feature branches: <prefix>/<spec-id>/overseer and <prefix>/<spec-id>/impl-<area>.
  prefix: feature

implementors:
  # Default implementor areas of a new feature: one agent and one branch each.
  areas: [data, api, ui]

# Where each role may write (gitignore-style patterns, relative to the repository root).
paths:
  overseer: ["**"]
  implementor: ["src/**", "tests/**", "state/impl-*.md"]
  # Narrower paths for the implementors of one area, e.g. data: ["src/data/**"].
  areas: {}

# Test commands by role and test type (unit, integration, e2e, lint).
tests:
  implementor:
    unit: pytest -q
    lint: ruff check .
  overseer:
    integration: pytest -q tests/integration
    e2e: pytest -q tests/e2e

tasks:
  # Each feature's task list (spec-kit layout), owned by the overseer.
  file: specs/{spec_id}/tasks.md

worktrees:
  # Where `init-feature --worktrees` puts one worktree per agent, as
  # <dir>/<spec-id>/overseer and <dir>/<spec-id>/impl-<area>. {repo} is the repository
  # directory's name; a relative dir is relative to the repository root.
  dir: ../{repo}-worktrees
  # What a new worktree gets (init-feature --worktrees, up): untracked files copied or
  # symlinked from the main checkout (never over an existing file), commands run once
  # in it, and a block of ports per agent (PORT and CO_PORT_BASE in its environment).
  setup:
    copy: []   # e.g. [.env, .env.local]
    link: []
    run: []    # e.g. [npm ci]
    ports: {base: 20000, block: 10}

agents:
  # The program `up` starts in each agent's tmux window (its settings and first
  # prompt are added), and how long an agent may give no sign of life before `agents`
  # calls it stale. Implementors' blockers and guard denials also reach the overseer's
  # inbox unless removed here.
  command: claude
  stale_after: 600
  route_to_overseer: [task_blocked, guard_denied]

ci:
  # What the generated CI workflows run. Python for the runners:
  python: "3.11"
  # How CI installs claude-orchestrator itself, always pinned, in one of these forms:
  #   claude-orchestrator-toolkit==X.Y.Z [--hash=sha256:<64 hex> ...]
  #   git+https://HOST/PATH@<40-hex commit>
  #   https://HOST/PATH/NAME.whl#sha256=<64 hex>
  # Unset: claude-orchestrator-toolkit at the version that runs `generate`.
  # tool: claude-orchestrator-toolkit==X.Y.Z
  # How CI installs the project under test.
  setup: pip install -e .
  # Tools the test commands need that the project may not depend on (pip requirement
  # strings such as pytest, ruff==0.6.9, mypy>=1.10), installed after setup.
  install: [pytest, ruff]
  # Optional commands (null: the job or step is left out).
  build: null           # e.g. python -m build
  typecheck: null       # e.g. mypy src
  audit: null           # e.g. pip-audit
  deploy_preview: null  # e.g. ./scripts/deploy-preview.sh: adds a deploy-preview job
  # Service containers for the overseer's integration tests: postgres, redis.
  services: []

forge:
  # Where `open-pr` opens pull requests: local (kept in the event store and merged with
  # `claude-orchestrator merge-pr`, no server) or github (through the gh CLI).
  type: local
  host: github.com

guard:
  # What implementors may run beyond the guard's allow-list (git on their branch,
  # coreutils on their paths, python/pytest, the test commands ...). An entry naming a
  # program the guard does not know allows it with any arguments ("make", "npm test");
  # an entry that is a whole command line the guard would refuse allows exactly that line
  # ("python3 -c 'print(1)'"). It never lifts a rule of a program the guard knows.
  # Each entry also becomes an allow rule in the generated permission files.
  allow: []
  # Environment variables implementors may set although their names look like tool
  # configuration (the guard refuses GIT_*, PATH, LD_*, *_CONFIG, *_DIR ... by default).
  env: []
  # worktree: agents start with the committed .claude/permissions-*.json. strict: an
  # implementor must start with `claude-orchestrator agent-settings` (other branches' refs
  # read-only to its sandbox); the guard refuses every call of one that did not.
  mode: worktree

notifications:
  # Where the person hears about what needs them: `notify run` (started by `up`) sends
  # what the channels select. A channel names its type and the environment variable that
  # holds its webhook URL, never the URL itself, e.g.
  #   channels:
  #     team: {type: slack, url_env: SLACK_WEBHOOK_URL, min_severity: warning}
  #     pager: {type: webhook, url_env: PAGER_URL, secret_env: PAGER_SECRET}
  #     here: {type: desktop, events: [agent_waiting]}
  #   escalation: {after: 600, to: [pager], times: 2}   # unanswered agent_waiting
  channels: {}
  escalation: null
  # A flood (threshold messages within window seconds) goes as one digest; each message
  # waits settle seconds for others first.
  digest: {threshold: 5, window: 10, settle: 2}
  # Failed sends are retried with exponential backoff and jitter, then dead-lettered
  # (`notify failed`, `notify retry ID`).
  retry: {attempts: 8, base: 1, max_delay: 300, timeout: 10}
  lease: 60    # seconds a sender holds the message it is sending
  link: null   # the dashboard's address, linked from messages

store:
  # The event store's file. null: <git common dir>/orchestrator/events.db, shared by
  # every worktree of the repository.
  path: null

budgets:
  # What agents may cost, in US dollars (from their Claude Code transcripts: `metrics`).
  # Crossing 80% and 100% of a cap records budget_warning / budget_exceeded (the
  # notification channels send them). null: no cap.
  feature: null   # one feature, every agent together
  agent: null     # one agent of a feature
  task: null      # one task
  # warn: record the event only; stop: also stop the agents `up` started that the
  # exceeded budget covers
  on_exceed: warn

# Model prices in US dollars per million tokens, over the shipped table (`metrics prices`
# lists it), e.g.
#   claude-sonnet-4-5: {input: 3, output: 15, cache_write: 3.75, cache_read: 0.30}
prices: {}
"""
