"""The library's exception hierarchy.

Every error a user or an agent can cause is an :class:`OrchestratorError`. Its message
is one line that says what is wrong and, where there is one, the command that fixes it.
The CLI turns these into exit codes in one place (``claude_orchestrator.cli``): the
``exit_code`` attribute follows DESIGN.md (2: bad input, usage or missing set-up).
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base class: an expected error with a message meant for the user."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(OrchestratorError):
    """An argument or value failed validation (bad spec id, role, severity...)."""


class ConfigError(OrchestratorError):
    """``orchestrator.yaml`` is missing, unreadable or invalid."""


class PluginError(OrchestratorError):
    """A plugin is unknown, failed to load, or misbehaved."""


class StoreError(OrchestratorError):
    """The event store cannot be used (corrupt, read-only, too new...)."""


class NotInitializedError(StoreError):
    """The event store does not exist yet."""


class StoreUnavailableError(StoreError):
    """The event store cannot be reached now (its server is down, unreachable or too slow
    to answer within the connect timeout): a write on the hook path may be spooled locally
    and stored later, where any other StoreError is final."""


class NotFoundError(OrchestratorError):
    """A feature, agent, conflict or blocker that was named does not exist."""


class AlreadyExistsError(OrchestratorError):
    """Something that must be unique exists already."""


#: Set by the generated settings files (``env``) for every command an agent runs.
ROLE_VARIABLE = "CLAUDE_ORCHESTRATOR_ROLE"


def refuse_implementor(what: str) -> None:
    """Refuse an overseer-only operation in a process an implementor agent started.

    The role comes from where the command was *invoked* (the agent's settings set
    ``CLAUDE_ORCHESTRATOR_ROLE`` for everything it runs), not only from the directory it
    was pointed at, so ``env -C <overseer worktree> ...`` does not make an implementor
    the overseer.
    """
    import os

    if os.environ.get(ROLE_VARIABLE, "").startswith("implementor"):
        raise ValidationError(
            f"{what} is the overseer's: this command was started by an implementor agent "
            f"({ROLE_VARIABLE}=implementor, set by its settings file)"
        )
