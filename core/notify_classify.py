"""Which events are news for the person, how serious, and what state they put a subject in.

:func:`classify` reads one event. It gives a *subject* (what the event is about: an
agent, a conflict between two branches, a role's tests) and the *state* the event puts
it in; the router notifies only when a subject's state changes (an unchanged conflict
found again by the next scan is not news), and :data:`CLEARS` says which events end a
state (an answered agent, a resolved conflict), so that the next one is news again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .digest import sha256_hex
from .notify_message import EVENT, Message

if TYPE_CHECKING:
    from .models import Event

RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}
#: events after which an agent is no longer waiting: they answer its agent_waiting
ANSWERS = ("agent_started", "agent_starting", "agent_working", "agent_idle", "agent_exited",
           "agent_stopped", "message_delivered")  # fmt: skip


class Classified(NamedTuple):
    """What one event means for notifications.

    :param severity: how serious it is (:data:`RANK`).
    :param subject: what it is about, or None (every such event is news).
    :param state: the state it puts the subject in; news when it differs from the last.
    :param only_after: news only when the subject's last state is one of these (a
        passing test run is news after a failing one, not otherwise); None: any change.
    """

    severity: str
    subject: str | None
    state: str | None
    message: Message
    only_after: tuple[str, ...] | None = None


def _meta(event: Event) -> dict[str, object]:
    return event.metadata if isinstance(event.metadata, dict) else {}


def agent_subject(spec_id: str, role: str) -> str:
    return f"agent:{spec_id}:{role}"


def _fields(event: Event, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    fields = [("feature", event.spec_id), ("agent", event.role)]
    if event.task_id:
        fields.append(("task", event.task_id))
    return (*fields, *extra)


def _message(
    event: Event,
    severity: str,
    title: str,
    text: str = "",
    *,
    extra: tuple[tuple[str, str], ...] = (),
    action: str | None = None,
) -> Message:
    return Message(
        kind=EVENT,
        severity=severity,
        title=title,
        text=text or event.message,
        spec_id=event.spec_id,
        role=event.role,
        event_type=event.event_type,
        fields=_fields(event, *extra),
        action=action,
        event=event._asdict(),
        created_at=event.created_at,
    )


def _pair(meta: dict[str, object]) -> str | None:
    branch, other = meta.get("branch"), meta.get("other_branch")
    if isinstance(branch, str) and isinstance(other, str):
        return "|".join(sorted((branch, other)))
    return None


def conflict_subject(event: Event) -> str:
    meta = _meta(event)
    pair = _pair(meta)
    return f"conflict:{event.spec_id}:{pair or '#' + str(meta.get('conflict_id'))}"


def classify(event: Event) -> Classified | None:
    """What the event means for notifications (None: never news, e.g. an allowed tool
    call, a passing test run that follows no failure is decided by the router)."""
    handler = _HANDLERS.get(event.event_type)
    if handler is not None:
        return handler(event)
    if event.event_type in CLEARS or event.event_type in _QUIET:
        return None
    return Classified("info", None, None, _message(event, "info", f"{event.event_type}"))


def _agent_waiting(event: Event) -> Classified:
    question = event.message or "waiting for you"
    attach = f"claude-orchestrator attach {event.spec_id} {event.role}"
    message = _message(event, "warning", f"{event.role} is waiting for you", question,
                       action=attach)  # fmt: skip
    subject = agent_subject(event.spec_id, event.role)
    return Classified("warning", subject, "waiting:" + sha256_hex(question.encode())[:16], message)


def _agent_exited(event: Event) -> Classified:
    logs = f"claude-orchestrator logs {event.spec_id} {event.role}"
    message = _message(event, "warning", f"{event.role} exited", action=logs)
    return Classified("warning", f"exit:{event.spec_id}:{event.role}", "exited", message)


def _conflict(event: Event) -> Classified:
    meta = _meta(event)
    severity = "critical" if meta.get("severity") == "critical" else "warning"
    listed = meta.get("files")
    files = sorted(str(f) for f in listed) if isinstance(listed, list) else []
    state = sha256_hex(f"{severity}|{files}".encode())[:16]
    extra = (("with", str(meta["other_branch"])),) if meta.get("other_branch") else ()
    action = f"claude-orchestrator detect-conflicts --spec {event.spec_id}"
    message = _message(event, severity, f"{severity} conflict in {event.spec_id}",
                       extra=extra, action=action)  # fmt: skip
    return Classified(severity, conflict_subject(event), state, message)


def _blocked(event: Event) -> Classified:
    subject = f"blocked:{event.spec_id}:{event.role}:{event.task_id or '-'}"
    message = _message(event, "warning", f"{event.role} is blocked",
                       action=f"claude-orchestrator status {event.spec_id}")  # fmt: skip
    return Classified("warning", subject, sha256_hex(event.message.encode())[:16], message)


def _tests(event: Event) -> Classified | None:
    meta = _meta(event)
    status, kind = str(meta.get("status", "")), str(meta.get("test_type", "tests"))
    subject = f"tests:{event.spec_id}:{event.role}:{kind}"
    if status == "failed":
        severity = "error" if event.role == "overseer" else "warning"
        message = _message(event, severity, f"{event.role}'s {kind} tests failed")
        return Classified(severity, subject, "failed", message)
    if status == "passed":
        message = _message(event, "info", f"{event.role}'s {kind} tests pass again")
        return Classified("info", subject, "passed", message, only_after=("failed",))
    return None


def _guard(event: Event) -> Classified | None:
    meta = _meta(event)
    if meta.get("decision") != "deny":
        return None
    reason = str(meta.get("reason", ""))
    subject = (
        f"guard:{event.spec_id}:{event.role}:"
        + sha256_hex(f"{meta.get('tool')}|{meta.get('input')}".encode())[:16]
    )
    message = _message(event, "warning", f"the guard refused a call of {event.role}",
                       reason or event.message)  # fmt: skip
    return Classified("warning", subject, "deny", message)


def _pr(event: Event) -> Classified:
    verb = "opened" if event.event_type == "pr_opened" else "merged"
    return Classified("info", None, None, _message(event, "info", f"pull request {verb}"))


def _budget(event: Event) -> Classified:
    severity = "critical" if event.event_type == "budget_exceeded" else "warning"
    word = "exceeded" if severity == "critical" else "warning"
    return Classified(severity, None, None, _message(event, severity, f"budget {word}"))


_HANDLERS = {
    "agent_waiting": _agent_waiting,
    "agent_exited": _agent_exited,
    "conflict_detected": _conflict,
    "task_blocked": _blocked,
    "test_result": _tests,
    "guard_decision": _guard,
    "pr_opened": _pr,
    "pr_merged": _pr,
    "budget_warning": _budget,
    "budget_exceeded": _budget,
}


def clears(event: Event) -> list[str]:
    """The subjects whose state the event ends (their next event is news again)."""
    if event.event_type in ANSWERS:
        subjects = [agent_subject(event.spec_id, event.role)]
        if event.event_type in ("agent_started", "agent_starting"):
            subjects.append(f"exit:{event.spec_id}:{event.role}")
        return subjects
    if event.event_type == "conflict_resolved":
        return [conflict_subject(event)]
    if event.event_type == "blocker_resolved":
        return [f"blocked:{event.spec_id}:{event.role}:{event.task_id or '-'}"]
    return []


CLEARS = (*ANSWERS, "conflict_resolved", "blocker_resolved")
#: frequent events that are the record of work, not news
_QUIET = ("task_started", "task_completed", "status_update", "message_sent", "feature_created",
          "feature_renamed", "agent_registered", "task_reopened", "task_merged",
          )  # fmt: skip
