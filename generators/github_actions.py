"""GitHub Actions workflows for a feature's branches, built from the configuration.

* :func:`implementor_workflow` runs on pushes to ``<prefix>/*/impl-*`` and on pull
  requests into ``<prefix>/*/overseer``: unit tests, lint, a merge-conflict prediction
  against the overseer and sibling branches, a path-scope check and an optional build.
* :func:`overseer_workflow` runs on pushes to ``<prefix>/*/overseer`` and on pull requests
  into the main branch: integration tests (with service containers), end-to-end tests,
  quality checks, an optional preview deployment and a summary.

The builders are pure: configuration in, plain dicts, lists and strings out, in the key
order the file should show (the writer keeps insertion order). Values of the event that
triggered a run (branch names) reach scripts only through ``env:``, never as ``${{ }}``
inside ``run:``, which would be script injection.
"""

from __future__ import annotations

import copy
import json
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_orchestrator.config import Config

RUNNER = "ubuntu-latest"
# The current majors, each on the node24 runtime (node20 is deprecated on the runners).
CHECKOUT = "actions/checkout@v7"
SETUP_PYTHON = "actions/setup-python@v7"
UPLOAD_ARTIFACT = "actions/upload-artifact@v7"

#: The branch under test: a pull request's head branch, or the pushed branch.
BRANCH_EXPRESSION = "${{ github.head_ref || github.ref_name }}"

#: Service containers for the integration tests, reached on localhost through ``ports``.
SERVICES: dict[str, dict[str, Any]] = {
    "postgres": {
        "image": "postgres:16",
        "env": {
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "postgres",
            "POSTGRES_DB": "test",
        },
        "ports": ["5432:5432"],
        "options": '--health-cmd "pg_isready -U postgres" --health-interval 10s '
        "--health-timeout 5s --health-retries 5",
    },
    "redis": {
        "image": "redis:7",
        "ports": ["6379:6379"],
        "options": '--health-cmd "redis-cli ping" --health-interval 10s '
        "--health-timeout 5s --health-retries 5",
    },
}

#: What the test step is told about each service.
SERVICE_ENV: dict[str, dict[str, str]] = {
    "postgres": {"DATABASE_URL": "postgresql://postgres:postgres@localhost:5432/test"},
    "redis": {"REDIS_URL": "redis://localhost:6379/0"},
}

#: The scope check run on implementor branches (``shell: python3 {0}``, stdlib only), a
#: template that :func:`scope_script` fills in. Reads BRANCH and PREFIX from the
#: environment. ``__SCOPES__`` becomes each area's patterns and their compiled form
#: (:meth:`claude_orchestrator.pathmatch.PathPolicy.export`) as JSON, ``__DECIDE__`` the
#: source of :func:`claude_orchestrator.pathmatch.decide`: CI decides with the guard's
#: own regexes and code, and installs nothing.
SCOPE_SCRIPT = r'''"""Fail when an implementor branch changes files outside its area's paths."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

# Written by `claude-orchestrator generate` from the config's paths: per area, the
# patterns and [regex, negated] for each (the last matching pattern decides).
SCOPES = json.loads(__SCOPES__)


__DECIDE__

def clean(text):
    """Text safe to print in a log that GitHub scans for ::workflow-commands::."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def git(*args):
    return subprocess.run(
        ["git", *args], check=True, capture_output=True, text=True, errors="replace"
    ).stdout


def main():
    if sys.version_info < (3, 11):
        print("::error::the path scope check needs Python 3.11 or newer as python3")
        return 1
    branch, prefix = os.environ["BRANCH"], os.environ["PREFIX"]
    rest = branch[len(prefix) + 1 :] if branch.startswith(prefix + "/") else ""
    spec, _, leaf = rest.partition("/")
    if not spec or not leaf.startswith("impl-") or "/" in leaf:
        print(f"::error::{clean(branch)} is not an implementor branch "
              f"({prefix}/<spec-id>/impl-<area>)")
        return 1
    area = leaf[len("impl-") :]
    scope = SCOPES["areas"].get(area, SCOPES["default"])
    overseer = f"origin/{prefix}/{spec}/overseer"
    try:
        base = git("merge-base", overseer, "HEAD").strip()
    except subprocess.CalledProcessError as exc:
        print(f"::error::no merge base of {overseer} and HEAD: fetch the overseer branch "
              f"and the full history (fetch-depth: 0)")
        print(clean(exc.stderr.strip()))
        return 1
    names = git("diff", "--name-only", "--no-renames", "-z", base, "HEAD").split("\0")
    changed = [name for name in names if name]
    compiled = [(re.compile(source), negated) for source, negated in scope["rules"]]
    outside = [name for name in changed if not decide(compiled, name)]
    where = f"the paths of area {area} ({', '.join(scope['patterns']) or 'none'})"
    if outside:
        print(f"::error::{len(outside)} changed file(s) outside {clean(where)}")
        for name in outside:
            print(f"  {clean(name)}")
        return 1
    print(f"{len(changed)} changed file(s) since {overseer}, all inside {clean(where)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def scope_script(config: Config) -> str:
    """:data:`SCOPE_SCRIPT` with the compiled paths of the implementors and each area."""
    import inspect

    from claude_orchestrator import pathmatch

    def scope(patterns: list[str]) -> dict[str, Any]:
        rules = pathmatch.compile_patterns(patterns).export()
        return {"patterns": patterns, "rules": [list(rule) for rule in rules]}

    # JSON, one line per area. A raw string cannot hold its own quotes: "'" is spelt \u0027.
    default = json.dumps(scope(config.role_paths("implementor")))
    areas = [
        f"\n  {json.dumps(area)}: {json.dumps(scope(config.role_paths('implementor', area)))}"
        for area in config.areas
        if area in config.data["paths"]["areas"]  # the others get the default
    ]
    text = f'{{"default": {default},\n "areas": {{{",".join(areas)}}}}}'.replace("'", "\\u0027")
    script = SCOPE_SCRIPT.replace("__DECIDE__", inspect.getsource(pathmatch.decide))
    return script.replace("__SCOPES__", f"r'''{text}'''", 1)


# ----------------------------------------------------------------------------- helpers
def _checkout(*, full_history: bool = False) -> dict[str, Any]:
    """Check out the commit under test, never leaving the job's token in .git/config.

    Every job runs code that is not ours to trust with the token (the project's
    dependencies, the test tools, claude-orchestrator). ``fetch-depth: 0`` fetches every
    branch as well (``+refs/heads/*:refs/remotes/origin/*``), which is what the conflict
    and scope checks compare with, so nothing needs to fetch after the checkout.
    """
    options: dict[str, Any] = {"persist-credentials": False}
    if full_history:
        options["fetch-depth"] = 0
    return {"uses": CHECKOUT, "with": options}


def _setup_python(config: Config) -> dict[str, Any]:
    return {"uses": SETUP_PYTHON, "with": {"python-version": str(config.ci["python"])}}


def _project_steps(config: Config) -> list[dict[str, Any]]:
    """Check out, set up Python, install the project under test (``ci.setup``) and the
    tools its commands run (``ci.install``)."""
    steps = [_checkout(), _setup_python(config)]
    setup = config.ci.get("setup")
    if setup:
        steps.append({"name": "Install the project", "run": str(setup)})
    tools = [str(requirement) for requirement in config.ci.get("install") or []]
    if tools:
        words = " ".join(shlex.quote(requirement) for requirement in tools)
        steps.append({"name": "Install the test tools", "run": f"pip install {words}"})
    return steps


def _tool_install(config: Config) -> dict[str, Any]:
    """Install claude-orchestrator from the pinned source ``ci.tool`` names.

    The config accepts only pinned forms (:data:`claude_orchestrator.config_schema`):
    ``NAME==X.Y.Z``, a git URL at a commit and a wheel URL with ``#sha256=`` go to pip
    as they are (pip checks a URL's hash); ``NAME==X.Y.Z --hash=...`` goes through a
    requirements file in hash-checking mode. That mode needs a hash for every package,
    so the tool is installed without its dependencies first, then they are resolved.
    """
    tool = str(config.ci["tool"])
    requirement, *hashes = tool.split(" ")
    if not hashes:
        run = f"pip install {shlex.quote(tool)}"
    else:
        run = (
            'requirements="$(mktemp)"\n'
            f"printf '%s\\n' {shlex.quote(tool)} > \"$requirements\"\n"
            'pip install --no-deps --require-hashes -r "$requirements"\n'
            f"pip install {shlex.quote(requirement)}\n"
        )
    return {"name": "Install claude-orchestrator", "run": run}


def _job(
    name: str,
    steps: list[dict[str, Any]],
    *,
    needs: list[str] | None = None,
    condition: str | None = None,
    services: dict[str, Any] | None = None,
) -> dict[str, Any]:
    job: dict[str, Any] = {"name": name, "runs-on": RUNNER}
    if needs:
        job["needs"] = needs
    if condition:
        job["if"] = condition
    if services:
        job["services"] = services
    job["steps"] = steps
    return job


def _command_job(config: Config, name: str, step_name: str, command: str) -> dict[str, Any]:
    return _job(name, [*_project_steps(config), {"name": step_name, "run": command}])


def _workflow(name: str, on: dict[str, Any], jobs: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "on": on,
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": "${{ github.workflow }}-${{ github.ref }}",
            "cancel-in-progress": True,
        },
        "defaults": {"run": {"shell": "bash"}},
        "jobs": jobs,
    }


# ------------------------------------------------------------------------ implementor
def implementor_workflow(config: Config) -> dict[str, Any]:
    """The workflow for implementor branches (``<prefix>/<spec>/impl-<area>``)."""
    prefix = config.branch_prefix
    commands = config.test_commands("implementor")
    # Pull requests into an overseer branch may come from any branch: the jobs that need
    # an implementor branch skip the others.
    implementor_head = (
        "github.event_name != 'pull_request' || "
        f"(startsWith(github.head_ref, '{prefix}/') && contains(github.head_ref, '/impl-'))"
    )
    jobs: dict[str, Any] = {}
    if commands.get("unit"):
        jobs["unit"] = _command_job(config, "Unit tests", "Unit tests", commands["unit"])
    if commands.get("lint"):
        jobs["lint"] = _command_job(config, "Lint", "Lint", commands["lint"])
    jobs["conflicts"] = _job(
        "Merge conflicts",
        [
            _checkout(full_history=True),
            _setup_python(config),
            _tool_install(config),
            {
                "name": "Check conflicts with the overseer and sibling branches",
                "env": {"BRANCH": BRANCH_EXPRESSION},
                "run": 'claude-orchestrator check-conflicts --branch "$BRANCH"',
            },
        ],
        condition=implementor_head,
    )
    jobs["scope"] = _job(
        "Path scope",
        [
            _checkout(full_history=True),
            {
                "name": "Check that changed files are inside the area's paths",
                "env": {"BRANCH": BRANCH_EXPRESSION, "PREFIX": prefix},
                "shell": "python3 {0}",
                "run": scope_script(config),
            },
        ],
        condition=implementor_head,
    )
    build = config.ci.get("build")
    if build:
        jobs["build"] = _command_job(config, "Build", "Build", str(build))
    on = {
        "push": {"branches": [f"{prefix}/*/impl-*"]},
        "pull_request": {"branches": [f"{prefix}/*/overseer"]},
    }
    return _workflow("Implementor CI", on, jobs)


# --------------------------------------------------------------------------- overseer
def overseer_workflow(config: Config) -> dict[str, Any]:
    """The workflow for overseer branches and pull requests into the main branch."""
    prefix = config.branch_prefix
    commands = config.test_commands("overseer")
    services = [str(s) for s in config.ci.get("services") or [] if s in SERVICES]
    jobs: dict[str, Any] = {}
    if commands.get("integration"):
        step_env: dict[str, str] = {}
        for service in services:
            step_env.update(SERVICE_ENV[service])
        step: dict[str, Any] = {"name": "Integration tests"}
        if step_env:
            step["env"] = step_env
        step["run"] = commands["integration"]
        jobs["integration"] = _job(
            "Integration tests",
            [*_project_steps(config), step],
            services={s: copy.deepcopy(SERVICES[s]) for s in services},
        )
    if commands.get("e2e"):
        jobs["e2e"] = _command_job(config, "End-to-end tests", "End-to-end tests", commands["e2e"])
    lint = commands.get("lint") or config.test_commands("implementor").get("lint")
    checks = [
        ("Lint", lint),
        ("Type check", config.ci.get("typecheck")),
        ("Audit", config.ci.get("audit")),
    ]
    quality = [{"name": name, "run": str(command)} for name, command in checks if command]
    if quality:
        jobs["quality"] = _job("Quality", [*_project_steps(config), *quality])
    deploy = config.ci.get("deploy_preview")
    if deploy:
        deploy_step = {
            "name": "Deploy a preview",
            "env": {"PREVIEW_BRANCH": BRANCH_EXPRESSION},
            "run": str(deploy),
        }
        jobs["deploy-preview"] = _job(
            "Deploy preview",
            [*_project_steps(config), deploy_step],
            needs=[j for j in ("integration", "e2e") if j in jobs],
        )
    jobs["summary"] = _summary_job(list(jobs))
    on = {
        "push": {"branches": [f"{prefix}/*/overseer"]},
        "pull_request": {"branches": [config.main_branch]},
    }
    return _workflow("Overseer CI", on, jobs)


def _summary_job(needs: list[str]) -> dict[str, Any]:
    """A markdown table of the other jobs' results; fails when one failed.

    Being the one job that depends on all others, it is the check to require in branch
    protection.
    """
    variables = {job: "RESULT_" + job.upper().replace("-", "_") for job in needs}
    lines = ["{", '  echo "## Overseer CI"', "  echo"]
    if needs:
        lines += ['  echo "| Job | Result |"', '  echo "| --- | --- |"']
        lines += [f'  echo "| {job} | ${var} |"' for job, var in variables.items()]
    else:
        lines.append('  echo "No checks are configured (tests.overseer, ci)."')
    lines += ["} > ci-summary.md", 'cat ci-summary.md >> "$GITHUB_STEP_SUMMARY"']
    env = {var: f"${{{{ needs.{job}.result }}}}" for job, var in variables.items()}
    write: dict[str, Any] = {"name": "Write the summary"}
    if env:
        write["env"] = env
    write["run"] = "\n".join(lines) + "\n"
    steps: list[dict[str, Any]] = [
        write,
        {
            "uses": UPLOAD_ARTIFACT,
            "with": {"name": "overseer-ci-summary", "path": "ci-summary.md"},
        },
    ]
    if needs:
        results = " ".join(f'"${var}"' for var in variables.values())
        steps.append(
            {
                "name": "Fail when a job failed",
                "env": dict(env),
                "run": f"for result in {results}; do\n"
                '  if [ "$result" = failure ] || [ "$result" = cancelled ]; then exit 1; fi\n'
                "done\n",
            }
        )
    return _job("Summary", steps, needs=needs, condition="always()")
