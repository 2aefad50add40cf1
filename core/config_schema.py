"""The JSON Schema of ``orchestrator.yaml`` (``claude-orchestrator config schema``).

Structure only: types, known keys, formats. Checks that need more than one value (an
area's paths name a configured area) live in :mod:`claude_orchestrator.config_parse`,
those that need the installed plugins in :mod:`claude_orchestrator.api`. Every pattern
has a ``description`` that says what a good value looks like; validation errors quote it.
"""

from __future__ import annotations

from typing import Any

from . import metrics_schema, notify_schema

SCHEMA_ID = "https://claude-orchestrator.dev/schemas/orchestrator.schema.json"

_NAME = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9_.-]*$",
    "description": "a plugin name: lowercase letters, digits, '_', '.', '-' (e.g. sqlite)",
}
_AREA_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
_AREA_DESC = (
    "an implementor area: lowercase letters, digits and single '-', starting with a "
    "letter, at most 40 characters (e.g. data)"
)
_PATTERNS = {
    "type": "array",
    "items": {
        "type": "string",
        "minLength": 1,
        "pattern": r"^(?!.*(^|/)\.\.(/|$))[^\x00-\x1f]+$",
        "description": "a path pattern relative to the repository root, gitignore-style, "
        "without '..' (e.g. src/**, !src/secret/**, /README.md)",
    },
    "uniqueItems": True,
}
_COMMAND = {
    "type": "string",
    "minLength": 1,
    "description": "a shell command line, run from the repository root",
}
_TEST_COMMAND = {
    "type": ["string", "null"],
    "minLength": 1,
    "description": "a command line run from the repository root; null: none",
}
#: a list of repository-relative paths (no ``..``, not absolute) for worktrees.setup
_SETUP_FILES = {
    "type": "array",
    "uniqueItems": True,
    "maxItems": 100,
    "items": {
        "type": "string",
        "minLength": 1,
        "maxLength": 500,
        "pattern": r"^(?!.*\n)(?!/)(?!.*(^|/)\.\.?(/|$))(?!.*(^|/)\.git(/|$))"
        r"[^\x00-\x1f*?\[]+$",
        "description": "a path relative to the repository root, e.g. .env (no . or .. "
        "parts, no .git, no wildcards)",
    },
}
#: Python's ``$`` also matches before a final newline: patterns that must not let one
#: through start with this.
_ONE_LINE = r"(?!.*\n)"
_PROJECT = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_VERSION = r"[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_HOST_PATH = r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9._~/%+-]+"
#: ``ci.tool``: a source CI can verify, so a moved tag or a name taken on the registry
#: cannot change what runs. No spaces but before ``--hash``, no quotes, no ``@`` or ``:``
#: in a URL's path (no credentials): every accepted value is also safe to shell-quote.
_CI_TOOL_PATTERN = (
    rf"^{_ONE_LINE}(?:{_PROJECT}=={_VERSION}(?: --hash=sha256:[0-9a-f]{{64}})*"
    rf"|git\+https://{_HOST_PATH}@[0-9a-f]{{40}}"
    rf"|https://{_HOST_PATH}\.whl#sha256=[0-9a-f]{{64}})$"
)
_CI_TOOL_DESC = (
    "a pinned source of claude-orchestrator: NAME==X.Y.Z (optionally followed by "
    "--hash=sha256:<64 hex> entries), git+https://HOST/PATH@<40-hex commit>, or "
    "https://HOST/PATH/FILE.whl#sha256=<64 hex> (e.g. claude-orchestrator-toolkit==0.2.0)"
)
_SPECIFIER = r"(?:===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]+"
#: ``ci.install``: a project name with optional extras and version specifiers, nothing a
#: shell or pip would read as an option, a URL or a file.
_EXTRAS = rf"\[{_PROJECT}(?:,{_PROJECT})*\]"
_REQUIREMENT_PATTERN = rf"^{_ONE_LINE}{_PROJECT}(?:{_EXTRAS})?(?:{_SPECIFIER}(?:,{_SPECIFIER})*)?$"
_TESTS_BY_TYPE = {
    "type": "object",
    "description": "test commands by test type",
    "additionalProperties": False,
    "properties": {
        "unit": _TEST_COMMAND,
        "integration": _TEST_COMMAND,
        "e2e": _TEST_COMMAND,
        "lint": _TEST_COMMAND,
    },
}


def _seconds(what: str, default: int) -> dict[str, Any]:
    return {
        "type": "number",
        "minimum": 1,
        "maximum": 3600,
        "description": f"{what}, in seconds, from 1 to 3600 (default {default})",
    }


#: ``plugins.options.postgres``; a connection string or password is refused before this
#: (config_parse: it belongs in the environment, not in a committed file)
_POSTGRES_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "dsn_env": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$",
            "description": "the name of the environment variable that holds the connection "
            "string (not the string itself), e.g. TEAM_DB_URL",
        },
        "connect_timeout": {
            "type": "integer",
            "minimum": 2,
            "maximum": 3600,
            "description": "how long to wait for the server to answer, in whole seconds, "
            "from 2 (libpq's minimum) to 3600 (default 2)",
        },
        "statement_timeout": _seconds("how long one statement may run", 60),
        "lock_timeout": _seconds("how long a write waits for another's lock", 30),
        "proxy": {
            "type": "boolean",
            "description": "reach the store through the per-machine store proxy daemon "
            "(default: true for postgres)",
        },
        "proxy_idle": _seconds(
            "how long the store proxy daemon waits without a request before it exits", 300
        ),
        "proxy_timeout": _seconds("how long one call through the store proxy may take", 120),
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "claude-orchestrator configuration (orchestrator.yaml)",
    "type": "object",
    "additionalProperties": False,
    "required": ["version"],
    "properties": {
        "version": {
            "const": 1,
            "description": "the configuration format version; this release reads version 1",
        },
        "project": {
            "type": ["string", "null"],
            "maxLength": 100,
            "pattern": rf"^{_ONE_LINE}{_PROJECT}$",
            "description": "this repository's name in a shared event store: letters, "
            "digits, '.', '_', '-', starting and ending with a letter or digit "
            "(e.g. reading-goals); null: its first commit",
        },
        "plugins": {
            "type": "object",
            "description": "which implementation of each plugin kind to use",
            "additionalProperties": False,
            "properties": {
                "store": {
                    **_NAME,
                    "description": "the event store (built-in: sqlite, postgres)",
                },
                "vcs": {**_NAME, "description": "the version-control plugin"},
                "ci": {**_NAME, "description": "the CI plugin"},
                "notifiers": {
                    "type": "array",
                    "items": _NAME,
                    "uniqueItems": True,
                    "description": "notifiers that receive every event",
                },
                "options": {
                    "type": "object",
                    "description": "settings for plugins, by implementation name",
                    "propertyNames": _NAME,
                    "properties": {"postgres": _POSTGRES_OPTIONS},
                    "additionalProperties": {"type": "object"},
                },
            },
        },
        "branches": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "main": {
                    "type": "string",
                    "pattern": r"^(?!.*\.\.)(?!.*//)(?!/)(?!.*/$)(?!.*\.lock$)[A-Za-z0-9._/-]+$",
                    "description": "the main branch's name (e.g. main)",
                },
                "prefix": {
                    "type": "string",
                    "pattern": r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$",
                    "description": "the first part of feature branch names: "
                    "<prefix>/<spec-id>/overseer (e.g. feature)",
                },
            },
        },
        "implementors": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "areas": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {
                        "type": "string",
                        "maxLength": 40,
                        "pattern": _AREA_PATTERN,
                        "description": _AREA_DESC,
                    },
                    "description": "default implementor areas of a new feature",
                },
            },
        },
        "paths": {
            "type": "object",
            "description": "where each role may write",
            "additionalProperties": False,
            "properties": {
                "overseer": _PATTERNS,
                "implementor": _PATTERNS,
                "areas": {
                    "type": "object",
                    "description": "paths of implementors of one area, narrower than "
                    "paths.implementor",
                    "propertyNames": {
                        "pattern": _AREA_PATTERN,
                        "description": _AREA_DESC,
                    },
                    "additionalProperties": _PATTERNS,
                },
            },
        },
        "tests": {
            "type": "object",
            "description": "commands that `run-tests` runs, by role and test type",
            "additionalProperties": False,
            "properties": {"implementor": _TESTS_BY_TYPE, "overseer": _TESTS_BY_TYPE},
        },
        "tasks": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "file": {
                    "type": "string",
                    "pattern": r"^(?!/)(?!.*(^|/)\.\.(/|$)).*\{spec_id\}.*$",
                    "description": "where a feature's tasks.md lives, relative to the "
                    "repository root, containing {spec_id} (e.g. specs/{spec_id}/tasks.md)",
                },
            },
        },
        "worktrees": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "dir": {
                    "type": "string",
                    "minLength": 1,
                    "pattern": r"^[^\x00-\x1f]+$",
                    "description": "where init-feature --worktrees creates worktrees; "
                    "{repo} is the repository directory's name (e.g. ../{repo}-worktrees)",
                },
                "setup": {
                    "type": "object",
                    "additionalProperties": False,
                    "description": "what a new worktree gets before an agent works in it",
                    "properties": {
                        "copy": {
                            **_SETUP_FILES,
                            "description": "untracked files copied "
                            "from the main checkout (never over an existing file)",
                        },
                        "link": {
                            **_SETUP_FILES,
                            "description": "untracked files or folders "
                            "symlinked from the main checkout (never over one)",
                        },
                        "run": {
                            "type": "array",
                            "maxItems": 20,
                            "items": {
                                **_COMMAND,
                                "maxLength": 2000,
                                "pattern": _ONE_LINE,
                                "description": "a command run once in a new worktree "
                                "(e.g. npm ci, uv sync)",
                            },
                        },
                        "ports": {
                            "type": "object",
                            "additionalProperties": False,
                            "description": "a block of ports per agent: PORT and "
                            "CO_PORT_BASE in the agent's environment",
                            "properties": {
                                "base": {
                                    "type": "integer",
                                    "minimum": 1024,
                                    "maximum": 65000,
                                    "description": "the first port "
                                    "of the first agent (default 20000)",
                                },
                                "block": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": 1000,
                                    "description": "ports per agent (default 10)",
                                },
                            },
                        },
                    },
                },
            },
        },
        "agents": {
            "type": "object",
            "additionalProperties": False,
            "description": "how `up` starts the agents and how `agents` reports them",
            "properties": {
                "command": {
                    **_COMMAND,
                    "maxLength": 2000,
                    "pattern": _ONE_LINE,
                    "description": "the agent program `up` starts, before its "
                    "settings and first prompt (default: claude)",
                },
                "stale_after": {
                    "type": "number",
                    "minimum": 10,
                    "maximum": 86400,
                    "description": "seconds without a signal after which a "
                    "starting or working agent is stale (default 600)",
                },
                "route_to_overseer": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"enum": ["task_blocked", "guard_denied"]},
                    "description": "implementors' events that also go to the overseer's "
                    "inbox (default: both)",
                },
            },
        },
        "ci": {
            "type": "object",
            "description": "what the generated CI workflows run",
            "additionalProperties": False,
            "properties": {
                "python": {
                    "type": "string",
                    "pattern": rf"^{_ONE_LINE}3\.[0-9]+$",
                    "description": "the Python version for CI runners (e.g. 3.11)",
                },
                "tool": {
                    "type": "string",
                    "maxLength": 2000,
                    "pattern": _CI_TOOL_PATTERN,
                    "description": _CI_TOOL_DESC,
                },
                "setup": {**_COMMAND, "description": "how CI installs the project under test"},
                "install": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {
                        "type": "string",
                        "maxLength": 200,
                        "pattern": _REQUIREMENT_PATTERN,
                        "description": "a pip requirement the test commands need: a name, "
                        "optional [extras] and version specifiers, no spaces "
                        "(e.g. pytest, ruff==0.6.9, pytest-cov>=5)",
                    },
                    "description": "tools CI installs after ci.setup for the jobs that "
                    "run the configured commands",
                },
                "build": {"type": ["string", "null"], "minLength": 1},
                "typecheck": {"type": ["string", "null"], "minLength": 1},
                "audit": {"type": ["string", "null"], "minLength": 1},
                "deploy_preview": {"type": ["string", "null"], "minLength": 1},
                "services": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"enum": ["postgres", "redis"]},
                    "description": "service containers for the integration tests",
                },
            },
        },
        "forge": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {
                    **_NAME,
                    "description": "the forge plugin for open-pr and merge-pr "
                    "(built-in: local, github)",
                },
                "host": {
                    "type": "string",
                    "pattern": r"^[a-z0-9.-]+$",
                    "description": "the forge's host name (e.g. github.com)",
                },
            },
        },
        "guard": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "allow": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {
                        **_COMMAND,
                        "description": "a command implementors may run: a program the "
                        "guard does not know, with any arguments; or an exact command "
                        "line the guard would refuse",
                    },
                },
                "mode": {
                    "enum": ["worktree", "strict"],
                    "description": "strict: implementors must be started with the settings "
                    "of `claude-orchestrator agent-settings` (other branches' refs read-only "
                    "to the sandbox); the guard refuses every call of one that was not",
                },
                "env": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {
                        "type": "string",
                        "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$",
                        "description": "an environment variable implementors may set "
                        "although its name looks like tool configuration",
                    },
                },
            },
        },
        "notifications": notify_schema.SCHEMA,
        "budgets": metrics_schema.BUDGETS,
        "prices": metrics_schema.PRICES,
        "store": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "path": {
                    "type": ["string", "null"],
                    "minLength": 1,
                    "description": "the event store's file; null: "
                    "<git common dir>/orchestrator/events.db",
                },
            },
        },
    },
}
