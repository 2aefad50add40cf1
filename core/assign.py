"""``assign``: plan who does which task so that agents do not edit the same files.

For every task of a feature's ``tasks.md`` (as committed on the overseer branch) that
is not assigned yet, :func:`plan` proposes an implementor area and says why:

1. **Path scopes.** The paths a task names (:func:`task_paths`; spec-kit tasks name
   them: ``Create User model in src/models/user.py``) are matched against each area's
   own paths (``paths.areas.<area>`` in the config). The area whose scope holds most of
   them wins: ``path scope src/models/** of area data``.
2. **History.** Otherwise (no scope, or a tie), the implementor branch that changed
   those files most often since it left the overseer branch (commits since their merge
   base): ``history: impl-api changed src/api/users.py 3 times``; failing that, the one
   that changed most files in the same directories.
3. **Least loaded.** Otherwise the area with the fewest open tasks (ties: the first).

Tasks that touch the same file go to the same agent unless both are marked ``[P]``
(spec-kit's "parallel-safe: different files"): they form one group (union-find over
shared files), the group's first task gets the reasons above and the others
``same files as T004 (src/models/user.py), not both [P]``. A group with a task that is
assigned already goes to that task's area.

A task counts as assigned when ``tasks.md`` gives it an area tag (``[@data]``, see
:mod:`.tasks`) or the event store has task events for it (an agent started, blocked or
completed it: that agent's area); a ticked task without events is done. The plan also
reports predicted overlaps: files that open tasks of different areas touch, across the
whole plan (assigned and proposed) -- ``T005 and T007 both touch src/models/user.py,
assigned to different areas (data, api)``. Tasks merged into the overseer branch (or
ticked without events) are left out of that: their changes are there already.

:func:`apply` writes the proposal where the overseer owns it: an ``[@area]`` tag on
each task line of ``tasks.md`` in the worktree where the overseer branch is checked
out, committed there (``assign: T004->data, T005->data``), and one ``task_assigned``
event per task (role ``overseer``, the area, reason and files in its metadata). It is
safe to repeat: tagged tasks are never rewritten, and an event is recorded only for a
tag the store does not know yet (a tag written by hand is recorded the same way).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import validate as v
from .errors import ValidationError, refuse_implementor

if TYPE_CHECKING:
    from .api import Orchestrator
    from .models import Event, Feature
    from .pathmatch import PathPolicy
    from .tasks import TaskLine

#: the event each assignment records
EVENT_TYPE = "task_assigned"
#: how much of a task's description is read for paths, in characters
MAX_SCAN = 4096
#: the most paths taken from one task, and the longest path
MAX_PATHS = 32
MAX_PATH_LENGTH = 512

# ---------------------------------------------------------------------- task paths
_LEAD = "`'\"([{<*"
_TRAIL = "`'\")]}>*,;:.!?"
_SEGMENT = re.compile(r"[\w.+-]+")
_POSITION = re.compile(r":[0-9]{1,9}(?::[0-9]{1,9})?")
#: dotted words that are not files (a slash-less token must look like a file name)
_NOT_FILES = frozenset(
    f"{name}.js"
    for name in ("node", "vue", "next", "nuxt", "d3", "three", "express", "react", "alpine",
                 "ember", "backbone", "angular", "moment", "p5", "chart", "socket", "deno")
) | {"asp.net", "ado.net", "vb.net"}  # fmt: skip
#: file names without an extension that are files all the same
_NAMES = frozenset(
    ("Makefile", "Dockerfile", "Containerfile", "Procfile", "Gemfile", "Rakefile",
     "Jenkinsfile", "Vagrantfile", "Justfile", "Caddyfile", "LICENSE", "README",
     "CODEOWNERS", "OWNERS")
)  # fmt: skip


def task_paths(text: str) -> list[str]:
    """The repository paths a task's description names, in order, each once.

    A path is one white-space separated word, after taking off quotes, backticks,
    brackets, ``*`` (bold) and trailing punctuation around it, a ``./`` in front and a
    ``:line[:column]`` behind. It is relative (no leading ``/`` or ``~``, no ``://``), its
    segments are letters, digits, ``_``, ``.``, ``+`` and ``-`` (never empty, ``.`` or
    ``..``) and it has a letter somewhere. Words with a ``/`` count when the last
    segment has an extension (``src/models/user.py``), the word ends with ``/`` (a
    directory: ``src/models/``), it has three segments or more, it starts with a dot
    directory (``.github/ci.yml``) or it ends in a known extension-less name
    (``Makefile``, ``Dockerfile``...): so ``and/or``, ``I/O`` and ``CI/CD`` are prose,
    and a two-segment directory needs its trailing slash. Words without one count when
    they look like a file name: a known name, a dotfile (``.gitignore``), or a stem with
    a letter and an extension of lowercase letters and digits (``README.md``, not
    ``v1.2``, ``e.g.``, ``Ph.D`` or ``Node.js``). A directory is returned with its
    trailing ``/``.

    Bounded: only the first :data:`MAX_SCAN` characters are read, at most
    :data:`MAX_PATHS` paths of at most :data:`MAX_PATH_LENGTH` characters are taken, and
    every step is linear in the length of the word.
    """
    found: dict[str, None] = {}
    for word in text[:MAX_SCAN].split():
        path = _path(word)
        if path is not None:
            found.setdefault(path)
            if len(found) == MAX_PATHS:
                break
    return list(found)


def _path(word: str) -> str | None:
    token = word.lstrip(_LEAD).rstrip(_TRAIL)
    colon = token.find(":")
    if colon > 0 and _POSITION.fullmatch(token, colon):
        token = token[:colon]
    token = token.removeprefix("./")
    if not token or len(token) > MAX_PATH_LENGTH or token.startswith(("/", "~")):
        return None
    directory = token.endswith("/")
    segments = token.removesuffix("/").split("/")
    for segment in segments:
        if segment in ("", ".", "..") or _SEGMENT.fullmatch(segment) is None:
            return None
    if not any(c.isalpha() for c in token):
        return None
    last = segments[-1]
    if len(segments) == 1 and not directory:
        return token if _file_name(last) else None
    if directory or len(segments) >= 3 or segments[0].startswith(".") or last in _NAMES:
        return token
    return token if _extension(last, lowercase=False) else None


def _extension(name: str, *, lowercase: bool) -> bool:
    stem, dot, ext = name.rpartition(".")
    if not dot or not 1 <= len(ext) <= 10 or not ext.isalnum():
        return False
    if not any(c.isalpha() for c in stem) or not any(c.isalpha() for c in ext):
        return False
    return not lowercase or ext == ext.lower()


def _file_name(name: str) -> bool:
    if name in _NAMES:
        return True
    if name.startswith(".") and name[1:2].isalpha():
        return name[1:] == name[1:].lower()  # .gitignore, .env; not .NET
    if name.lower() in _NOT_FILES or all(len(p) <= 1 for p in name.split(".")):
        return False  # Node.js, e.g, i.e
    return _extension(name, lowercase=True)


# ----------------------------------------------------------------------- the plan
class Assignment(NamedTuple):
    """A proposed assignment: ``task`` to ``implementor-<area>``, and why."""

    task: str
    area: str
    reason: str
    files: list[str]


class Skipped(NamedTuple):
    """A task that is assigned already (``area``; None: the overseer's, or done)."""

    task: str
    area: str | None
    reason: str
    files: list[str]


class TaskArea(NamedTuple):
    task: str
    area: str


class Overlap(NamedTuple):
    """Open tasks of different areas that touch one file."""

    file: str
    tasks: list[TaskArea]
    areas: list[str]


class Plan(NamedTuple):
    spec_id: str
    tasks_file: str
    overseer_branch: str
    #: the overseer commit whose tasks.md was read
    commit: str
    areas: list[str]
    assignments: list[Assignment]
    overlaps: list[Overlap]
    skipped: list[Skipped]


class Known(NamedTuple):
    """What the event store says of a task: its state, and the area of the agent whose
    event decided it (None: the overseer's)."""

    status: str
    area: str | None


def plan_tasks(
    tasks: Sequence[TaskLine],
    areas: Sequence[str],
    scopes: Mapping[str, PathPolicy],
    history: Mapping[str, Mapping[str, int]],
    known: Mapping[str, Known],
) -> tuple[list[Assignment], list[Overlap], list[Skipped]]:
    """The plan (pure): assignments for the unassigned open tasks, the predicted overlaps
    and the tasks skipped because they are assigned or done (see the module docstring).

    :param areas: the feature's implementor areas, in the order ties are broken.
    :param scopes: each area's own paths (areas without any are left out).
    :param history: area -> file -> how many commits of its branch changed the file
        since it left the overseer branch.
    :param known: task id -> its state in the event store (tasks without events absent).
    """
    if not areas:
        raise ValidationError(
            "the feature has no implementor areas: add one with "
            "`claude-orchestrator events add-agent SPEC implementor-<area>`"
        )
    files = {t.task_id: task_paths(t.description) for t in tasks}
    skipped: list[Skipped] = []
    area_of: dict[str, str] = {}  # open tasks that have an area now
    todo: list[TaskLine] = []
    for t in tasks:
        state = known.get(t.task_id)
        # merged, or ticked with no events: its changes are on the overseer branch
        finished = t.checked if state is None else state.status == "merged"
        area, reason = _assigned(t, state)
        if reason is None:
            todo.append(t)
            continue
        skipped.append(Skipped(t.task_id, area, reason, files[t.task_id]))
        if area is not None and not finished:
            area_of[t.task_id] = area
    proposed = {t.task_id for t in todo}
    members = [t for t in tasks if t.task_id in proposed or t.task_id in area_of]
    groups, links = _groups(members, files)
    load = Counter(area_of.values())
    chosen: dict[str, Assignment] = {}
    for group in groups:
        new = [t for t in group if t in proposed]
        if not new:
            continue
        present = [area_of[t] for t in group if t in area_of]
        if present:
            area = Counter(present).most_common(1)[0][0]
            owner = next(t for t in group if area_of.get(t) == area)
            for task in new:
                partner, file = links[task]
                reason = f"same files as {partner} ({file}), not both [P]; {owner} is {area}'s"
                chosen[task] = Assignment(task, area, reason, files[task])
        else:
            group_files = list(dict.fromkeys(f for t in group for f in files[t]))
            area, reason = _choose(group_files, areas, scopes, history, load)
            if len(new) > 1:
                reason += f"; grouped with {', '.join(new[1:])}"
            chosen[new[0]] = Assignment(new[0], area, reason, files[new[0]])
            for task in new[1:]:
                partner, file = links[task]
                reason = f"same files as {partner} ({file}), not both [P]"
                chosen[task] = Assignment(task, area, reason, files[task])
        load[area] += len(new)
        area_of.update((task, area) for task in new)
    assignments = [chosen[t.task_id] for t in todo]
    return assignments, _overlaps(members, files, area_of), skipped


def _assigned(task: TaskLine, state: Known | None) -> tuple[str | None, str | None]:
    """(area, why it counts as assigned); why is None for a task to assign."""
    if task.area is not None:
        return task.area, f"assigned in tasks.md ([@{task.area}])"
    if state is not None and state.area is not None:
        return state.area, f"{state.status} by implementor-{state.area} (event store)"
    if state is not None:
        return None, f"{state.status} by the overseer (event store)"
    if task.checked:
        return None, "ticked in tasks.md"
    return None, None


def _groups(
    tasks: Sequence[TaskLine], files: Mapping[str, list[str]]
) -> tuple[list[list[str]], dict[str, tuple[str, str]]]:
    """Tasks that share a file, unless both are [P], in one group (union-find); groups
    and their tasks in file order. Also, for each task in a group with others, the
    (task, file) through which it joined."""
    parent = {t.task_id: t.task_id for t in tasks}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    parallel = {t.task_id: t.parallel for t in tasks}
    rank = {t.task_id: i for i, t in enumerate(tasks)}
    by_file: dict[str, list[str]] = {}
    for t in tasks:
        for f in files[t.task_id]:
            by_file.setdefault(f, []).append(t.task_id)
    links: dict[str, tuple[str, str]] = {}
    for f, sharing in by_file.items():
        # a task that is not [P] joins every task on the file; [P] tasks alone do not
        anchor = next((t for t in sharing if not parallel[t]), None)
        if anchor is None or len(sharing) < 2:
            continue
        for task in sharing:
            a, b = sorted((find(task), find(anchor)), key=rank.__getitem__)
            parent[b] = a  # the group's root is its first task
            partner = anchor if task != anchor else next(x for x in sharing if x != task)
            links.setdefault(task, (partner, f))
    grouped: dict[str, list[str]] = {}
    for t in tasks:
        grouped.setdefault(find(t.task_id), []).append(t.task_id)
    return list(grouped.values()), links


def _choose(
    files: Sequence[str],
    areas: Sequence[str],
    scopes: Mapping[str, PathPolicy],
    history: Mapping[str, Mapping[str, int]],
    load: Mapping[str, int],
) -> tuple[str, str]:
    """(area, reason) for a group's files: path scope, then history, then load."""
    candidates = list(areas)
    why = "no signal"
    matched = {a: _scope_patterns(scopes[a], files) for a in areas if a in scopes}
    best = max((len(m) for m in matched.values()), default=0)
    if best:
        winners = [a for a in areas if len(matched.get(a, [])) == best]
        if len(winners) == 1:
            area = winners[0]
            pattern, file = matched[area][0]
            share = f" ({file}: {best} of {len(files)} files)" if len(files) > 1 else ""
            return area, f"path scope {pattern} of area {area}{share}"
        candidates, why = winners, f"path scopes tie ({', '.join(winners)})"
    for by_dir in (False, True):
        counts = {a: _changes(history.get(a, {}), files, by_dir=by_dir) for a in candidates}
        top = max((sum(c.values()) for c in counts.values()), default=0)
        if not top:
            continue
        winners = [a for a in candidates if sum(counts[a].values()) == top]
        if len(winners) == 1:
            return winners[0], _history_reason(winners[0], counts[winners[0]], by_dir=by_dir)
        candidates, why = winners, f"history ties ({', '.join(winners)})"
        break
    area = min(candidates, key=lambda a: (load.get(a, 0), candidates.index(a)))
    return area, f"{why}: least-loaded area"


def _scope_patterns(scope: PathPolicy, files: Sequence[str]) -> list[tuple[str, str]]:
    """(pattern, file) for each file the scope holds: the pattern that decided it (the
    last that matches)."""
    found = []
    for f in files:
        probe = f"{f}x" if f.endswith("/") else f  # a directory: what is inside it
        if scope.matches(probe):
            rule = next(r for r in reversed(scope.rules) if r.regex.fullmatch(probe))
            found.append((rule.pattern, f))
    return found


def _changes(changed: Mapping[str, int], files: Sequence[str], *, by_dir: bool) -> Counter[str]:
    """How often a branch changed each of ``files`` (by_dir: files in their directories)."""
    if not by_dir:
        return Counter({f: changed[f] for f in files if changed.get(f)})
    dirs = {f if f.endswith("/") else f.rpartition("/")[0] + "/" for f in files}
    dirs.discard("/")  # the root directory says nothing
    found: Counter[str] = Counter()
    for path, count in changed.items():
        for d in dirs:
            if path.startswith(d):
                found[d] += count
    return found


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _history_reason(area: str, counts: Counter[str], *, by_dir: bool) -> str:
    top = counts.most_common(3)
    if by_dir:
        listed = ", ".join(f"{_times(n)} in {d}" for d, n in top)
        return f"history: impl-{area} changed files {listed}"
    return "history: impl-" + area + " changed " + ", ".join(f"{f} {_times(n)}" for f, n in top)


def _overlaps(
    tasks: Sequence[TaskLine], files: Mapping[str, list[str]], area_of: Mapping[str, str]
) -> list[Overlap]:
    by_file: dict[str, list[TaskArea]] = {}
    for t in tasks:
        if t.task_id in area_of:
            for f in files[t.task_id]:
                by_file.setdefault(f, []).append(TaskArea(t.task_id, area_of[t.task_id]))
    found = []
    for f, sharing in by_file.items():
        areas = list(dict.fromkeys(s.area for s in sharing))
        if len(areas) > 1:
            found.append(Overlap(f, sharing, areas))
    return found


def describe_overlap(overlap: Overlap) -> str:
    """``T005 and T007 both touch src/models/user.py, assigned to different areas (data,
    api)``."""
    ids = [s.task for s in overlap.tasks]
    if len(ids) == 2:
        who = f"{ids[0]} and {ids[1]} both"
    else:
        who = f"{', '.join(ids[:-1])} and {ids[-1]} all"
    return (f"{who} touch {overlap.file}, assigned to different areas "
            f"({', '.join(overlap.areas)})")  # fmt: skip


# ------------------------------------------------------------- reading the feature
class _Source(NamedTuple):
    feature: Feature
    tasks_file: str
    commit: str
    text: str
    #: (area, branch) of each implementor
    implementors: list[tuple[str, str]]


def _read(orch: Orchestrator, spec_id: str) -> _Source:
    from .workflow import branch_tip, require_git

    spec_id = v.check_spec_id(spec_id)
    feature = orch.feature(spec_id)
    vcs = require_git(orch)
    overseer = feature.overseer_branch
    tip = branch_tip(vcs, overseer)
    if tip is None:
        raise ValidationError(
            f"the overseer branch {overseer} does not exist (locally or remote-tracking): "
            f"fetch it (`git fetch`) or create it with `claude-orchestrator init-feature {spec_id}`"
        )
    path = orch.config.tasks_file(spec_id)
    text = vcs.show_file(tip, path)
    if text is None:
        raise ValidationError(
            f"no {path} on {overseer}: the overseer commits the feature's task list there "
            "first (spec-kit tasks.md)"
        )
    prefix = "implementor-"
    agents = orch.store.list_agents(spec_id)
    implementors = [
        (a.role.removeprefix(prefix), a.branch_name) for a in agents if a.role.startswith(prefix)
    ]
    configured = orch.config.areas
    if not implementors:
        implementors = [(a, orch.config.implementor_branch(spec_id, a)) for a in configured]
    # ties go to the first area: the config's order, then the others by name
    implementors.sort(key=lambda i: (configured.index(i[0]) if i[0] in configured else
                                     len(configured), i[0]))  # fmt: skip
    return _Source(feature, path, tip, text, implementors)


def _history(orch: Orchestrator, source: _Source) -> dict[str, dict[str, int]]:
    """area -> file -> commits of its branch since its merge base with the overseer's."""
    from .workflow import branch_tip

    vcs = orch.vcs()
    found: dict[str, dict[str, int]] = {}
    for area, branch in source.implementors:
        tip = branch_tip(vcs, branch)
        base = vcs.merge_base(source.commit, tip) if tip is not None else None
        if tip is None or base is None:
            continue
        counts: Counter[str] = Counter()
        for _, _, changed in vcs.files_by_commit(base, tip):
            counts.update(set(changed))
        found[area] = dict(counts)
    return found


def _make_plan(orch: Orchestrator, source: _Source) -> tuple[Plan, list[TaskLine]]:
    from .pathmatch import compile_patterns
    from .tasks import parse_tasks

    spec_id = source.feature.spec_id
    tasks = parse_tasks(source.text).tasks
    areas = [a for a, _ in source.implementors]
    own = orch.config.data["paths"]["areas"]
    scopes = {a: compile_patterns(own[a]) for a in areas if a in own}
    prefix = "implementor-"
    known = {
        s.task_id: Known(
            s.status, s.role.removeprefix(prefix) if s.role.startswith(prefix) else None
        )
        for s in orch.store.task_states(spec_id)
    }
    assignments, overlaps, skipped = plan_tasks(tasks, areas, scopes, _history(orch, source),
                                                known)  # fmt: skip
    plan = Plan(spec_id, source.tasks_file, source.feature.overseer_branch, source.commit,
                areas, assignments, overlaps, skipped)  # fmt: skip
    return plan, tasks


def plan(orch: Orchestrator, spec_id: str) -> Plan:
    """Propose an area for each task of ``spec_id`` not assigned yet; reads only.

    :raises ValidationError: for a bad spec id, a missing overseer branch or tasks.md.
    :raises NotFoundError: for a feature the store does not know.
    """
    return _make_plan(orch, _read(orch, spec_id))[0]


# ------------------------------------------------------------------------ applying
class Applied(NamedTuple):
    plan: Plan
    #: the tasks that got an ``[@area]`` tag now
    tagged: list[str]
    #: the overseer commit that wrote them (None: nothing to write)
    commit: str | None
    #: where the overseer branch is checked out (None: not needed)
    worktree: str | None
    #: the ``task_assigned`` events recorded
    events: list[Event]


def apply(orch: Orchestrator, spec_id: str) -> Applied:
    """:func:`plan`, then write it: tags in tasks.md where the overseer branch is checked
    out, committed there, and a ``task_assigned`` event for every tag the store does not
    have yet. Repeating it changes nothing.

    :raises ValidationError: as :func:`plan`; also when run by an implementor, when the
        overseer branch is not checked out, or its tasks.md has uncommitted changes.
    """
    from .tasks import parse_tasks, set_areas

    refuse_implementor("assign --apply")
    source = _read(orch, spec_id)
    planned, _ = _make_plan(orch, source)
    tags = {a.task: a.area for a in planned.assignments}
    tagged: list[str] = []
    commit: str | None = None
    where: Path | None = None
    text = source.text
    if tags:
        where, text = _worktree_text(orch, source)
        new_text, tagged = set_areas(text, tags)
        message = "assign: " + ", ".join(f"{t}->{tags[t]}" for t in tagged)
        commit = orch.vcs().apply_patch(where, _patch(source.tasks_file, text, new_text),
                                        message=message)  # fmt: skip
        text = new_text
    reasons = {a.task: (a.reason, a.files) for a in planned.assignments}
    wanted = [(t.task_id, t.area, *reasons.get(t.task_id, ("assigned in tasks.md",
                                                            task_paths(t.description))))
              for t in parse_tasks(text).tasks if t.area is not None and not t.checked]  # fmt: skip
    events = _record(orch, planned.spec_id, wanted, commit)
    return Applied(planned, tagged, commit, None if where is None else str(where), events)


def _worktree_text(orch: Orchestrator, source: _Source) -> tuple[Path, str]:
    """The overseer's worktree and its tasks.md, which must be the committed one."""
    vcs = orch.vcs()
    overseer = source.feature.overseer_branch
    where = vcs.worktrees().get(overseer)
    if where is None:
        raise ValidationError(
            f"the overseer branch {overseer} is not checked out in any worktree: check it "
            f"out (`git worktree add <dir> {overseer}`) and run assign --apply again"
        )
    if vcs.resolve(f"refs/heads/{overseer}") != source.commit:
        raise ValidationError(
            f"{overseer} in {where} is behind its remote-tracking branch: bring it up to "
            "date (`git pull --ff-only` there) and run assign --apply again"
        )
    path = where / source.tasks_file
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "cannot be read"
        raise ValidationError(
            f"{path} {reason}: restore the committed one "
            f"(`git -C {where} checkout -- {source.tasks_file}`)"
        ) from None
    # git hands the committed text over with its line endings made "\n"
    if text.replace("\r\n", "\n").replace("\r", "\n") != source.text:
        raise ValidationError(
            f"{path} has uncommitted changes: commit them on {overseer} (or restore the file) "
            "and run assign --apply again"
        )
    return where, text


def _lines(text: str) -> list[str]:
    """``text`` split after each ``\n`` only (``str.splitlines`` splits at more)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _patch(path: str, old: str, new: str) -> str:
    """A unified diff from ``old`` to ``new`` for ``git apply`` (every byte kept: CRLF
    line endings, a last line without one)."""
    out = []
    for line in difflib.unified_diff(_lines(old), _lines(new), f"a/{path}", f"b/{path}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _record(
    orch: Orchestrator,
    spec_id: str,
    wanted: Sequence[tuple[str, str, str, list[str]]],
    commit: str | None,
) -> list[Event]:
    """A ``task_assigned`` event for each (task, area, reason, files) whose latest such
    event names another area or that has none; in one transaction (two runs at once
    record each once)."""
    from .models import NewEvent

    store = orch.store
    orch.check_plugins()
    events = []
    with store.transaction() as tx:
        latest: dict[str, object] = {}
        for event in tx.events(spec_id, types=[EVENT_TYPE]):
            latest[str(event.task_id)] = (event.metadata or {}).get("area")
        for task, area, reason, files in wanted:
            if latest.get(task) == area:
                continue
            role = v.role_for_area(area)
            meta: dict[str, object] = {"area": area, "role": role, "reason": reason}
            meta["files"] = list(files)
            message = v.check_message(f"{task} assigned to {role}: {reason}")
            new = NewEvent(spec_id, "overseer", EVENT_TYPE, message, task_id=task,
                           commit_hash=commit, metadata=v.check_metadata(meta))  # fmt: skip
            events.append(tx.append(new))
    if events:
        orch.notify(*events)
    return events


__all__ = [
    "EVENT_TYPE",
    "Applied",
    "Assignment",
    "Known",
    "Overlap",
    "Plan",
    "Skipped",
    "TaskArea",
    "apply",
    "describe_overlap",
    "plan",
    "plan_tasks",
    "task_paths",
]
