"""``claude-orchestrator generate``: CI workflows, permission files and runbooks from
``orchestrator.yaml`` alone.

The CI plugin provides its workflow files (a GitLab plugin could provide
``.gitlab-ci.yml`` from the same config); the Claude Code permission files and the role
runbooks come from the built-in builders. :mod:`claude_orchestrator.generators.writer`
puts them on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .errors import OrchestratorError, refuse_implementor

if TYPE_CHECKING:
    from .api import Orchestrator


class DriftError(OrchestratorError):
    """Generated files were edited by hand; nothing was written (exit 1)."""

    exit_code = 1


class GenerateResult(NamedTuple):
    #: every file with its state: ok, missing, outdated, modified, obsolete
    files: list[dict[str, str]]
    changed: list[str]
    diff: str | None


def documents(orch: Orchestrator) -> dict[str, object]:
    """Every generated document, by repository-relative path (pure: config -> data)."""
    from .generators.claude_permissions import permission_files
    from .generators.runbooks import agents_md, claude_md_section
    from .generators.writer import MANIFEST, Fenced

    config = orch.config
    tracked = tracked_files(orch)
    docs: dict[str, object] = dict(permission_files(config, tracked))
    docs[".specify/agents.md"] = agents_md(config)
    docs["CLAUDE.md"] = Fenced(claude_md_section(config))
    if config.ci_plugin is not None:
        ours = set(docs)
        for path, document in orch.ci().generate().items():
            _check_ci_path(config.ci_plugin, path, ours)
            docs[path] = document
    # The permission files list tracked files by name for the sandbox; the files generate
    # writes count as tracked, since they are committed next: otherwise committing them
    # would make the permission files outdated (`generate --check` after a commit).
    committed = sorted({*tracked, *docs, MANIFEST})
    if committed != tracked:
        docs.update(permission_files(config, committed))
    return docs


def _check_ci_path(plugin: str, path: object, ours: set[str]) -> None:
    """A CI plugin's path must name a file below the root that generate does not write
    itself: a plugin must never make generate write (or delete) anything else."""
    from .errors import PluginError
    from .generators.writer import MANIFEST, path_problem

    problem = path_problem(path)
    if problem is None and (path in ours or path == MANIFEST):
        problem = "is a file generate writes itself"
    if problem is not None:
        raise PluginError(
            f"ci plugin {plugin!r} returned the path {path!r}, which {problem}: "
            "fix the plugin; nothing was written"
        )


def tracked_files(orch: Orchestrator) -> list[str]:
    """The files git tracks here (for the sandbox's literal denyWrite paths)."""
    return sorted(orch.vcs().tracked_files())


def generate(orch: Orchestrator, *, check: bool = False, show_diff: bool = False,
             force: bool = False) -> GenerateResult:  # fmt: skip
    """Write (or with ``check`` only compare) the generated files.

    :raises DriftError: a generated file was edited by hand and ``force`` is not set;
        nothing is written then.
    """
    from .config_check import check_config
    from .generators import writer

    if not check:
        refuse_implementor("generate")

    check_config(orch)  # a real orchestrator.yaml, valid, its plugins installed
    root = orch.location.root
    docs = documents(orch)
    states = writer.plan(root, docs)
    text = writer.diff(states) if show_diff else None
    summary = [{"path": s.path, "state": s.state} for s in states]
    if check:
        return GenerateResult(summary, [], text)
    edited = [s.path for s in states if s.state == "modified"]
    if edited and not force:
        raise DriftError(
            f"generated file(s) edited by hand: {', '.join(edited)}; change orchestrator.yaml "
            "instead, or run `claude-orchestrator generate --force` to overwrite them"
        )
    changed = writer.write(root, docs, states, force=force)
    return GenerateResult(summary, changed, text)
