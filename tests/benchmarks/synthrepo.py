"""Synthetic git repositories for the conflict-detection benchmarks and tests.

``build()`` writes a repository with a long ``main`` history of python-like files and, per
feature, an overseer branch ``feature/<spec>/overseer`` plus implementor branches
``feature/<spec>/impl-a00``, ``impl-a01``, ... with deliberate merge conflicts (and
deliberate clean overlaps) between known pairs. The whole history, feature branches
included, is written by ONE ``git fast-import`` stream, so 5,000 files x 2,000 commits build
in seconds. The same seed gives the same commit ids.

``pairwise_loop()`` is the original conflict check, kept as the benchmark's baseline: one
bash process running ``git merge-tree --write-tree`` once per pair.

    python tests/benchmarks/synthrepo.py DIR --files 5000 --history 2000 \\
        --feature 016-big:16:overlapping --feature 017-split:8:partitioned [--loop]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

MODES = ("overlapping", "partitioned")
HOT_FILES = ("README.md", "src/api/routes.py", "src/models.py")
FILES_PER_DIR = 25
MODS_PER_PKG = 8
EPOCH = 1_700_000_000
MAIN_AUTHOR = "Synth Maintainer <maintainer@example.com>"

# Scenario kinds. Conflicting: CONTENT, FILE_LOCATION, MODIFY_DELETE, OVERSEER, STALE_BASE,
# CROSS_AREA. Clean by construction: OVERLAP, RENAME_EDIT.
CONTENT = "content"  # both change the same line differently
OVERLAP = "overlap"  # both change one file, far-apart lines
RENAME_EDIT = "rename_edit"  # left renames the file, right edits it
FILE_LOCATION = "file_location"  # left renames a directory, right adds a file in the old one
MODIFY_DELETE = "modify_delete"  # left deletes the file, right modifies it
OVERSEER = "overseer"  # left is the overseer: its last commit and a stale implementor
STALE_BASE = "stale_base"  # the same line, between that stale implementor and a newer one
CROSS_AREA = "cross_area"  # partitioned: left edits a line of right's area that right edits

_REF_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TREE_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_VERBS = ("add", "implement", "wire up", "refactor", "fix", "test", "document", "harden")
_NOUNS = ("service layer", "validation", "storage", "API handler", "error paths", "CLI flags")


class FeatureSpec(NamedTuple):
    spec_id: str
    implementors: int
    mode: str  # "overlapping" or "partitioned"


class SynthRepo(NamedTuple):
    path: Path
    branches: dict[str, list[str]]  # spec_id -> [overseer branch, implementor branches...]
    expected_conflicts: dict[str, set[frozenset[str]]]  # spec_id -> deliberately conflicting


class Scenario(NamedTuple):
    """A deliberate situation between two branches of one feature."""

    kind: str
    left: str
    right: str
    path: str  # the file involved (for FILE_LOCATION: where git reports the conflict)
    conflicts: bool


# --------------------------------------------------------------------------- layout


class _Layout(NamedTuple):
    files: list[str]  # regular (non-hot) files, sorted
    dirs: list[str]  # leaf directories, sorted
    by_dir: dict[str, list[str]]
    packages: list[str]  # "src/pkg00", ...


def _layout(files: int) -> _Layout:
    """The file paths of a base tree: a pure function of ``files`` (the seed changes content)."""
    count = files - len(HOT_FILES)
    if count < 2 * FILES_PER_DIR:
        raise ValueError(f"files must be at least {2 * FILES_PER_DIR + len(HOT_FILES)}")
    leaves = math.ceil(count / FILES_PER_DIR)
    width = max(4, len(str(count - 1)))
    by_dir: dict[str, list[str]] = {}
    for i in range(count):
        d = i * leaves // count
        directory = f"src/pkg{d // MODS_PER_PKG:02d}/mod{d % MODS_PER_PKG}"
        by_dir.setdefault(directory, []).append(f"{directory}/file{i:0{width}d}.py")
    packages = sorted({d.rsplit("/", 1)[0] for d in by_dir})
    return _Layout(
        sorted(p for ps in by_dir.values() for p in ps), sorted(by_dir), by_dir, packages
    )


# --------------------------------------------------------------------------- content


def _text(block: str) -> list[str]:
    """The lines of a template: ``|`` marks the left margin (so blank lines survive)."""
    return [line.split("|", 1)[1] for line in block.strip().split("\n")]


def _function(idx: int, k: int, rng: random.Random) -> list[str]:
    a, b, c, d = rng.randint(2, 9), rng.randint(1, 99), rng.randint(100, 999), rng.randint(1, 9)
    return _text(f'''
        |
        |
        |def compute_{idx}_{k}(value: int) -> int:
        |    """Step {k} of record {idx}."""
        |    result = value * {a} + {b}
        |    if result > {c}:
        |        result = math.isqrt(result) + {d}
        |    return result
    ''')


def _module(path: str, idx: int, rng: random.Random) -> list[str]:
    lines = _text(f'''
        |"""{path[:-3].replace("/", ".")}: synthetic module {idx}."""
        |
        |from __future__ import annotations
        |
        |import math
        |
        |SCALE_{idx} = {rng.randint(2, 97)}
    ''')
    for k in range(rng.randint(2, 4)):
        lines += _function(idx, k, rng)
    return lines


def _model_class(k: int) -> list[str]:
    return _text(f"""
        |
        |
        |@dataclass
        |class Model{k:03d}:
        |    name: str
        |    version: int = {k}
        |    limit: int = 10
    """)


def _route(k: int) -> list[str]:
    return _text(f"""
        |
        |
        |@route("/items/{k:03d}")
        |def items_{k:03d}(request: Request) -> Response:
        |    return Response({{"item": {k}, "rev": 0}})
    """)


def _hot_files() -> dict[str, list[str]]:
    header = '"""{}"""\n\nfrom __future__ import annotations\n\n{}'
    models = header.format(
        "Domain models shared by every package.", "from dataclasses import dataclass"
    )
    routes = header.format(
        "HTTP routes of the application.", "from .http import Request, Response, route"
    )
    readme = "# synthetic-app\n\nA synthetic application.\n\n## Changelog\n\n- initial import"
    hot = {"src/models.py": models.split("\n"), "src/api/routes.py": routes.split("\n")}
    for k in range(12):
        hot["src/models.py"] += _model_class(k)
        hot["src/api/routes.py"] += _route(k)
    return {**hot, "README.md": readme.split("\n")}


def _replace_prefixed(lines: list[str], prefix: str, new: str, start: int = 0) -> None:
    for i in range(start, len(lines)):
        if lines[i].startswith(prefix):
            lines[i] = new
            return
    raise LookupError(f"no line starts with {prefix!r}")


def _edit_result(lines: list[str], which: str, text: str) -> None:
    """Replace the first or last ``result = value ...`` line (which: "first"/"last"/index)."""
    idxs = [i for i, line in enumerate(lines) if line.startswith("    result = value")]
    pick = {"first": 0, "last": -1}.get(which)
    lines[idxs[pick if pick is not None else int(which) % len(idxs)]] = f"    result = value{text}"


def _edit_main(path: str, lines: list[str], rng: random.Random, rev: int) -> list[str]:
    """One maintenance edit on ``main``; returns a new line list."""
    out = list(lines)
    if path == "README.md":
        if len(out) < 120:
            out.append(f"- release {rev}: maintenance")
        else:
            out[rng.randrange(7, len(out))] = f"- release {rev}: maintenance (amended)"
    elif path == "src/models.py":
        k = sum(line.startswith("class Model") for line in out)
        if rng.random() < 0.2 and len(out) < 250:
            out += _model_class(k)
        else:
            at = out.index(f"class Model{rng.randrange(k):03d}:")
            _replace_prefixed(out, "    version: int = ", f"    version: int = {rev}", at)
    elif path == "src/api/routes.py":
        k = sum(line.startswith("def items_") for line in out)
        if rng.random() < 0.2 and len(out) < 250:
            out += _route(k)
        else:
            n = rng.randrange(k)
            _replace_prefixed(
                out,
                f'    return Response({{"item": {n},',
                f'    return Response({{"item": {n}, "rev": {rev}}})',
            )
    elif rng.random() < 0.25 and len(out) < 40:
        idx = int(re.sub(r"\D", "", path.rsplit("/", 1)[1]))
        out += _function(idx, sum(line.startswith("def ") for line in out), rng)
    else:
        _edit_result(out, str(rng.randrange(64)), f" * {rng.randint(2, 9)} + {rev}")
    return out


# --------------------------------------------------------------------------- trees / stream


class _Tree:
    """A snapshot: path -> lines; ``touched`` collects the paths changed since the last commit."""

    def __init__(self, files: dict[str, tuple[str, ...]]) -> None:
        self.files = dict(files)
        self.touched: set[str] = set()

    def copy(self) -> _Tree:
        return _Tree(self.files)

    def lines(self, path: str) -> list[str]:
        return list(self.files[path])

    def put(self, path: str, lines: Sequence[str]) -> None:
        self.files[path] = tuple(lines)
        self.touched.add(path)

    def delete(self, path: str) -> None:
        del self.files[path]
        self.touched.add(path)


class _Stream:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.mark = 0

    def _data(self, text: str) -> None:
        raw = text.encode()
        self.chunks.append(b"data %d\n%s\n" % (len(raw), raw))

    def commit(self, ref: str, tree: _Tree, message: str, author: str, parent: int | None) -> int:
        self.mark += 1
        stamp = f"{EPOCH + 60 * self.mark} +0000"
        self.chunks.append(
            f"commit {ref}\nmark :{self.mark}\nauthor {author} {stamp}\n"
            f"committer {author} {stamp}\n".encode()
        )
        self._data(message)
        if parent is not None:
            self.chunks.append(b"from :%d\n" % parent)
        for path in sorted(tree.touched):
            if path in tree.files:
                self.chunks.append(f"M 100644 inline {path}\n".encode())
                self._data("\n".join(tree.files[path]) + "\n")
            else:
                self.chunks.append(f"D {path}\n".encode())
        tree.touched.clear()
        return self.mark


# --------------------------------------------------------------------------- feature plan

_Op = Callable[[_Tree], None]


def _ident(spec_id: str) -> str:
    return "f" + re.sub(r"[^0-9a-zA-Z]+", "_", spec_id).strip("_").lower()


def _section(spec_id: str, area: str) -> str:
    return f"# ---- feature {spec_id}: area {area} ----"


@dataclass
class _Plan:
    spec: FeatureSpec
    overseer: str
    impls: list[str]
    areas: list[str]
    overseer_commits: int
    bases: list[int]  # index of the overseer commit each implementor branches from
    scenarios: list[Scenario] = field(default_factory=list)
    ops: list[list[tuple[str, _Op]]] = field(default_factory=list)  # per impl: (subject, op)
    own_files: list[list[str]] = field(default_factory=list)  # base files each impl may edit
    new_dirs: list[str] = field(default_factory=list)  # where each impl adds its new files
    knobs: dict[str, list[str]] = field(default_factory=dict)  # hot file -> knob names
    limits: list[str] = field(default_factory=list)  # settings.py lines the overseer tightens


def _set_line(path: str, prefix: str, new: str) -> _Op:
    def op(tree: _Tree) -> None:
        lines = tree.lines(path)
        _replace_prefixed(lines, prefix, new)
        tree.put(path, lines)

    return op


def _result_op(path: str, which: str, text: str) -> _Op:
    def op(tree: _Tree) -> None:
        lines = tree.lines(path)
        _edit_result(lines, which, text)
        tree.put(path, lines)

    return op


def _rename_op(old: str, new: str) -> _Op:
    def op(tree: _Tree) -> None:
        for path in [p for p in tree.files if p == old or p.startswith(old + "/")]:
            tree.put(new + path[len(old) :], tree.files[path])
            tree.delete(path)

    return op


def _delete_op(path: str) -> _Op:
    return lambda tree: tree.delete(path)


def _add_op(path: str, lines: list[str]) -> _Op:
    return lambda tree: tree.put(path, lines)


def _stride_pairs(n: int) -> list[tuple[int, int]]:
    """All implementor pairs, neighbours first, so scenarios spread over implementors."""
    seen: set[frozenset[int]] = set()
    out = []
    for d in range(1, n):
        for i in range(n):
            pair = (i, (i + d) % n)
            if frozenset(pair) not in seen:
                seen.add(frozenset(pair))
                out.append(pair)
    return out


def _plan(spec: FeatureSpec, layout: _Layout, seed: int) -> _Plan:
    if spec.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {spec.mode!r}")
    if spec.implementors < 1 or not _REF_SAFE.fullmatch(spec.spec_id):
        raise ValueError(f"bad feature spec {spec!r}")
    rng = random.Random(f"synthrepo:{seed}:{spec.spec_id}:{spec.implementors}:{spec.mode}")
    n = spec.implementors
    areas = [f"a{i:02d}" for i in range(n)]
    prefix = f"feature/{spec.spec_id}"
    plan = _Plan(
        spec=spec,
        overseer=f"{prefix}/overseer",
        impls=[f"{prefix}/impl-{a}" for a in areas],
        areas=areas,
        overseer_commits=rng.choice((2, 3)),
        bases=[],
        ops=[[] for _ in range(n)],
    )
    if spec.mode == "overlapping":
        _plan_overlapping(plan, layout, rng)
    else:
        _plan_partitioned(plan, layout, rng)
    return plan


def _plan_overlapping(plan: _Plan, layout: _Layout, rng: random.Random) -> None:
    n, ident, impls, areas = len(plan.impls), _ident(plan.spec.spec_id), plan.impls, plan.areas
    tip = plan.overseer_commits - 1
    settings = f"src/{ident}/settings.py"
    # Stale implementors branch from an older overseer commit; the first ones also change a
    # line the overseer's last commit changes: they conflict with the overseer and with every
    # implementor that branched from the overseer's tip.
    fighters = rng.sample(range(n), max(1, n // 16))
    stale = set(fighters) | {i for i in range(n) if rng.random() < 0.15}
    plan.bases = [rng.randrange(tip) if i in stale else tip for i in range(n)]
    uses: dict[tuple[int, int], int] = dict.fromkeys(_stride_pairs(n), 0)
    order = list(uses)

    def key(i: int, j: int) -> tuple[int, int]:
        return (i, j) if (i, j) in uses else (j, i)

    def add(kind: str, i: int, j: int | None, path: str, conflicts: bool) -> None:
        left = plan.overseer if j is None else impls[i]
        right = impls[i] if j is None else impls[j]
        plan.scenarios.append(Scenario(kind, left, right, path, conflicts))
        if conflicts and j is not None:
            uses[key(i, j)] += 1

    for j, i in enumerate(fighters):
        name = f"LIMIT_{j:02d} = "
        plan.limits.append(name)
        plan.ops[i].append(
            ("raise the rate limit", _set_line(settings, name, f"{name}500  # {areas[i]}"))
        )
        add(OVERSEER, i, None, settings, True)
        for other in range(n):
            if other != i and plan.bases[other] == tip:
                add(STALE_BASE, i, other, settings, True)

    clean: set[tuple[int, int]] = set()

    def take_clean() -> tuple[int, int] | None:
        for pair in order:
            if uses[pair] == 0 and pair not in clean:
                clean.add(pair)
                return pair
        return None

    def take_conflict() -> tuple[int, int] | None:
        free = [p for p in order if p not in clean]
        if not free:
            return None
        return min(free, key=lambda p: (uses[p], order.index(p)))

    file_location = max(1, n // 8)
    if len(layout.dirs) <= file_location:
        raise ValueError("too few directories for this many implementors")
    moved_dirs = rng.sample(layout.dirs, file_location)
    pool = [p for p in layout.files if p.rsplit("/", 1)[0] not in moved_dirs]
    rng.shuffle(pool)

    def take_file() -> str:
        if not pool:
            raise ValueError("too few files for this many implementors")
        return pool.pop()

    for _ in range(max(1, n // 8)):
        if (pair := take_clean()) is None:
            break
        i, j = pair
        old = take_file()
        new = old[:-3] + "_core.py"
        plan.ops[i].append((f"move {old} to {new}", _rename_op(old, new)))
        plan.ops[j].append((f"tune {old}", _result_op(old, "last", f" * 3 + 1  # {areas[j]}")))
        add(RENAME_EDIT, i, j, old, False)
    for _ in range(max(1, n // 6)):
        if (pair := take_clean()) is None:
            break
        i, j = pair
        path = take_file()
        plan.ops[i].append((f"tune {path}", _result_op(path, "first", f" * 5 + 2  # {areas[i]}")))
        plan.ops[j].append((f"tune {path}", _result_op(path, "last", f" * 7 + 3  # {areas[j]}")))
        add(OVERLAP, i, j, path, False)
    for k in range(max(2, n // 4)):
        if (pair := take_conflict()) is None:
            break
        i, j = pair
        if k % 3 == 2:
            path = take_file()
            for who, text in ((i, " * 11 + 4"), (j, " * 13 + 5")):
                plan.ops[who].append(
                    (f"fix {path}", _result_op(path, "first", f"{text}  # {areas[who]}"))
                )
        else:
            path = HOT_FILES[2] if k % 3 == 0 else HOT_FILES[1]
            name = f"{ident.upper()}_KNOB_{k:02d}"
            plan.knobs.setdefault(path, []).append(name)
            for who in (i, j):
                new = f"{name} = {100 + who}  # tuned by {areas[who]}"
                plan.ops[who].append((f"tune {name}", _set_line(path, f"{name} = ", new)))
        add(CONTENT, i, j, path, True)
    for directory in moved_dirs:
        if (pair := take_conflict()) is None:
            break
        i, j = pair
        parent, name = directory.rsplit("/", 1)
        target = f"{parent}/{name}_v2"
        plugin = f"{areas[j]}_plugin.py"
        plan.ops[i].append((f"move {directory}/ to {target}/", _rename_op(directory, target)))
        lines = [f'"""Plugin of {areas[j]}."""', "", "PLUGIN = True"]
        plan.ops[j].append(
            (f"add a plugin in {directory}/", _add_op(f"{directory}/{plugin}", lines))
        )
        add(FILE_LOCATION, i, j, f"{target}/{plugin}", True)
    for _ in range(max(1, n // 8)):
        if (pair := take_conflict()) is None:
            break
        i, j = pair
        path = take_file()
        plan.ops[i].append((f"remove {path}", _delete_op(path)))
        plan.ops[j].append((f"fix {path}", _result_op(path, "first", f" * 17 + 6  # {areas[j]}")))
        add(MODIFY_DELETE, i, j, path, True)
    plan.own_files = [[take_file() for _ in range(rng.randint(1, 4)) if pool] for _ in range(n)]
    plan.new_dirs = [f"src/{ident}/{a}" for a in areas]


def _plan_partitioned(plan: _Plan, layout: _Layout, rng: random.Random) -> None:
    n, areas = len(plan.impls), plan.areas
    tip = plan.overseer_commits - 1
    plan.bases = [rng.randrange(tip) if rng.random() < 0.2 else tip for _ in range(n)]
    plan.limits.append("LIMIT_00 = ")
    if n <= len(layout.packages):  # whole packages: src/pkg<k>/...
        units = [[d for d in layout.dirs if d.startswith(p + "/")] for p in layout.packages]
    elif n <= len(layout.dirs):  # more implementors than packages: leaf directories
        units = [[d] for d in layout.dirs]
    else:
        raise ValueError(f"{n} partitioned implementors need at least {n} directories")
    owned: list[list[str]] = [[] for _ in range(n)]
    for u, dirs in enumerate(units):
        owned[u * n // len(units)] += dirs
    plan.own_files = [[p for d in dirs for p in layout.by_dir[d]] for dirs in owned]
    plan.new_dirs = [dirs[0] for dirs in owned]
    count = 0 if n < 2 else 1 if n < 4 else 2
    people = rng.sample(range(n), 2 * count)
    for i, j in zip(people[::2], people[1::2], strict=True):
        path = rng.choice(plan.own_files[j])
        plan.own_files[j].remove(path)
        for who, text in ((i, " * 19 + 7"), (j, " * 23 + 8")):
            plan.ops[who].append(
                (f"fix {path}", _result_op(path, "first", f"{text}  # {areas[who]}"))
            )
        plan.scenarios.append(Scenario(CROSS_AREA, plan.impls[i], plan.impls[j], path, True))


def feature_scenarios(spec: FeatureSpec, *, files: int = 5000, seed: int = 1) -> list[Scenario]:
    """The deliberate scenarios ``build(files=files, seed=seed)`` creates for ``spec``."""
    return _plan(spec, _layout(files), seed).scenarios


# --------------------------------------------------------------------------- build


def _git_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra)
    return env


def _git(
    cwd: Path, *args: str, data: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=data, capture_output=True, env=env or _git_env()
    )
    if proc.returncode:
        raise RuntimeError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def _scaffold(plan: _Plan, tree: _Tree) -> None:
    spec, ident = plan.spec.spec_id, _ident(plan.spec.spec_id)
    for path, names in sorted(plan.knobs.items()):
        lines = [*tree.lines(path), "", "", f"# ---- feature {spec}: shared knobs ----"]
        for k, name in enumerate(names):
            lines += [f"# {name}: tuned by the implementors", f"{name} = {10 * (k + 1)}", ""]
        tree.put(path, lines)
    if plan.spec.mode == "overlapping":
        models, routes = tree.lines("src/models.py"), tree.lines("src/api/routes.py")
        for area in plan.areas:
            models += _text(f'''
                |
                |{_section(spec, area)}
                |@dataclass
                |class {ident.title()}{area.title()}:
                |    area: str = "{area}"
                |    version: int = 0
                |    limit: int = 10
                |
                |    def describe(self) -> str:
                |        return f"{{self.area}} v{{self.version}}"
            ''')
            routes += _text(f"""
                |
                |{_section(spec, area)}
                |@route("/{spec}/{area}")
                |def {ident}_{area}(request: Request) -> Response:
                |    payload = {{"area": "{area}", "status": "planned"}}
                |    return Response(payload)
            """)
        tree.put("src/models.py", models)
        tree.put("src/api/routes.py", routes)
    settings = [f'"""Settings of feature {spec} (owned by the overseer)."""', ""]
    for k, name in enumerate(plan.limits):
        settings += [f"# {name.split()[0]}: reviewed by the overseer", f"{name}{100 * (k + 1)}", ""]
    tree.put(f"src/{ident}/settings.py", settings)
    tree.put(f"src/{ident}/__init__.py", [f'"""Feature {spec}."""'])
    tasks = [f"- T{10 * i + 1:03d}: area {a}" for i, a in enumerate(plan.areas)]
    tree.put(f"specs/{spec}/plan.md", [f"# {spec}", "", "Status: planned", "", "## Tasks", *tasks])


def _emit_feature(plan: _Plan, main: _Tree, main_mark: int, stream: _Stream, seed: int) -> None:
    rng = random.Random(f"synthrepo-build:{seed}:{plan.spec.spec_id}")
    spec, ident = plan.spec.spec_id, _ident(plan.spec.spec_id)
    overseer_author = f"Overseer {spec} <overseer@example.com>"
    tree = main.copy()
    snapshots: list[tuple[int, _Tree]] = []
    _scaffold(plan, tree)
    mark = stream.commit(
        f"refs/heads/{plan.overseer}",
        tree,
        f"Scaffold {spec}: areas {plan.areas[0]}-{plan.areas[-1]}",
        overseer_author,
        main_mark,
    )
    snapshots.append((mark, tree.copy()))
    plan_md = f"specs/{spec}/plan.md"
    if plan.overseer_commits == 3:
        lines = tree.lines(plan_md)
        _replace_prefixed(lines, "Status: ", "Status: in progress")
        tree.put(plan_md, lines)
        tree.put("README.md", [*tree.lines("README.md"), f"- {spec}: in progress"])
        mark = stream.commit(
            f"refs/heads/{plan.overseer}",
            tree,
            f"Plan {spec}: split into tasks",
            overseer_author,
            mark,
        )
        snapshots.append((mark, tree.copy()))
    settings = f"src/{ident}/settings.py"
    lines = tree.lines(settings)
    for name in plan.limits:
        _replace_prefixed(lines, name, f"{name}50  # tightened by the overseer")
    tree.put(settings, lines)
    lines = tree.lines(plan_md)
    _replace_prefixed(lines, "Status: ", "Status: in review")
    tree.put(plan_md, lines)
    mark = stream.commit(
        f"refs/heads/{plan.overseer}", tree, f"Tighten {spec} settings", overseer_author, mark
    )
    snapshots.append((mark, tree.copy()))

    for i, (branch, area) in enumerate(zip(plan.impls, plan.areas, strict=True)):
        parent, base = snapshots[plan.bases[i]]
        tree = base.copy()
        commits = rng.randint(3, 10)
        slots: list[list[tuple[str, _Op]]] = [[] for _ in range(commits)]
        for item in plan.ops[i]:
            slots[rng.randrange(commits)].append(item)
        author = f"Implementor {area} <{area}@example.com>"
        first_task = 10 * i + 1
        for c, scenario_ops in enumerate(slots):
            task = first_task + c * 3 // commits
            subject = f"{rng.choice(_VERBS)} {area} {rng.choice(_NOUNS)}"
            if scenario_ops:
                subject = scenario_ops[0][0]
            for _, op in scenario_ops:
                op(tree)
            _routine(plan, i, c, task, tree, rng)
            parent = stream.commit(
                f"refs/heads/{branch}", tree, f"T{task:03d}: {subject}", author, parent
            )


def _routine(plan: _Plan, i: int, c: int, task: int, tree: _Tree, rng: random.Random) -> None:
    """An implementor's everyday work in commit ``c``: never conflicts with anyone."""
    spec, area = plan.spec.spec_id, plan.areas[i]
    if plan.spec.mode == "overlapping":
        models = tree.lines("src/models.py")
        at = models.index(_section(spec, area))
        _replace_prefixed(models, "    version: int = ", f"    version: int = {c + 1}", at)
        if rng.random() < 0.3:
            _replace_prefixed(
                models, "    limit: int = ", f"    limit: int = {rng.randint(11, 99)}", at
            )
        tree.put("src/models.py", models)
        if rng.random() < 0.5:
            routes = tree.lines("src/api/routes.py")
            at = routes.index(_section(spec, area))
            new = f'    payload = {{"area": "{area}", "status": "T{task:03d} done"}}'
            _replace_prefixed(routes, "    payload = ", new, at)
            tree.put("src/api/routes.py", routes)
    own = [p for p in plan.own_files[i] if p in tree.files]
    for path in rng.sample(own, min(len(own), rng.randint(1, 3))):
        lines = tree.lines(path)
        _edit_result(lines, str(rng.randrange(64)), f" * {rng.randint(2, 9)} + {task}{c}  # {area}")
        tree.put(path, lines)
    if c == 0 or rng.random() < 0.3:
        name = f"{plan.new_dirs[i]}/{area}_part{c}.py"
        idx = 100_000 + 100 * i + c
        tree.put(name, _module(name, idx, rng))


def build(
    path: Path,
    *,
    files: int = 5000,
    history: int = 2000,
    features: Sequence[FeatureSpec] = (),
    seed: int = 1,
) -> SynthRepo:
    """Write a synthetic repository at ``path`` (absent or empty); deterministic per seed."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} is not empty")
    if history < 1:
        raise ValueError("history must be at least 1")
    if len({f.spec_id for f in features}) != len(features):
        raise ValueError("feature spec ids must be unique")
    layout = _layout(files)
    plans = [_plan(f, layout, seed) for f in features]
    rng = random.Random(seed)

    tree = _Tree({})
    for p, lines in _hot_files().items():
        tree.put(p, lines)
    for idx, p in enumerate(layout.files):
        tree.put(p, _module(p, idx, rng))
    stream = _Stream()
    mark = stream.commit("refs/heads/main", tree, "Initial import", MAIN_AUTHOR, None)
    hot_and_files = list(HOT_FILES)
    for rev in range(1, history):
        chosen: set[str] = set()
        for _ in range(rng.randint(1, 5)):
            chosen.add(
                rng.choice(hot_and_files) if rng.random() < 0.1 else rng.choice(layout.files)
            )
        for p in sorted(chosen):
            tree.put(p, _edit_main(p, tree.lines(p), rng, rev))
        first = sorted(chosen)[0]
        subject = f"{rng.choice(('Fix', 'Refactor', 'Tune', 'Clean up'))} {first}"
        if len(chosen) > 1:
            subject += f" and {len(chosen) - 1} more"
        mark = stream.commit("refs/heads/main", tree, subject, MAIN_AUTHOR, mark)
    for plan in plans:
        _emit_feature(plan, tree, mark, stream, seed)
    stream.chunks.append(b"done\n")

    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "fast-import", "--quiet", "--done", data=b"".join(stream.chunks))
    _git(path, "reset", "-q", "--hard")
    return SynthRepo(
        path=path.resolve(),
        branches={p.spec.spec_id: [p.overseer, *p.impls] for p in plans},
        expected_conflicts={
            p.spec.spec_id: {frozenset((s.left, s.right)) for s in p.scenarios if s.conflicts}
            for p in plans
        },
    )


# --------------------------------------------------------------------------- pairs / baseline


def all_pairs(branches: list[str]) -> list[tuple[str, str]]:
    """``branches[0]`` (the overseer) against each implementor, then every implementor pair."""
    if not branches:
        return []
    overseer, impls = branches[0], branches[1:]
    pairs = [(overseer, b) for b in impls]
    pairs += [(a, b) for k, a in enumerate(impls) for b in impls[k + 1 :]]
    return pairs


_LOOP = r"""
while read -r a b; do
  out=$(git merge-tree --write-tree --name-only --no-messages "$a" "$b" 2>/dev/null)
  rc=$?
  printf '%s\0%s\0%s\0%s\0' "$a" "$b" "$rc" "$out"
done < "$1"
"""


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of unusual path names."""
    if not (name.startswith('"') and name.endswith('"')):
        return name
    raw = name[1:-1].encode("latin-1").decode("unicode_escape").encode("latin-1")
    return raw.decode("utf-8", errors="surrogateescape")


def pairwise_loop(repo: Path, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """The original method: one bash loop, one ``git merge-tree`` process per pair.

    Returns the conflicting pairs (exit status 1 and a tree id) with their sorted conflicted
    file names, possibly none (some directory-rename conflicts); clean pairs are absent.
    New objects go to a temporary object directory, so the repository is left untouched.
    """
    repo = Path(repo)
    objects = _git(repo, "rev-parse", "--path-format=absolute", "--git-path", "objects").strip()
    result: dict[tuple[str, str], list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="synthrepo-loop-") as tmp:
        scratch = Path(tmp, "objects")
        scratch.mkdir()
        pair_file = Path(tmp, "pairs")
        pair_file.write_text("".join(f"{a} {b}\n" for a, b in pairs))
        env = _git_env(GIT_OBJECT_DIRECTORY=str(scratch), GIT_ALTERNATE_OBJECT_DIRECTORIES=objects)
        proc = subprocess.run(
            ["bash", "-c", _LOOP, "synthrepo-loop", str(pair_file)],
            cwd=repo,
            env=env,
            capture_output=True,
            check=True,
        )
        fields = proc.stdout.decode(errors="surrogateescape").split("\0")[:-1]
        for k in range(0, len(fields), 4):
            a, b, rc, out = fields[k : k + 4]
            lines = out.split("\n")
            if rc == "0":
                continue
            if rc == "1" and _TREE_ID.fullmatch(lines[0]):
                result[(a, b)] = sorted({_unquote(x) for x in lines[1:] if x})
                continue
            again = subprocess.run(
                ["git", "merge-tree", "--write-tree", "--name-only", a, b],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
            )
            raise RuntimeError(f"git merge-tree {a} {b} failed ({rc}): {again.stderr.strip()}")
    return result


# --------------------------------------------------------------------------- script


def _feature_arg(text: str) -> FeatureSpec:
    try:
        spec_id, count, mode = text.split(":")
        return FeatureSpec(spec_id, int(count), mode)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SPEC:IMPLEMENTORS:MODE, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="where to create the repository (absent or empty)")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--feature",
        type=_feature_arg,
        action="append",
        default=[],
        metavar="SPEC:N:MODE",
        help="e.g. 016-big:16:overlapping (repeatable)",
    )
    parser.add_argument("--loop", action="store_true", help="also run pairwise_loop and time it")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    repo = build(
        args.dir, files=args.files, history=args.history, features=args.feature, seed=args.seed
    )
    elapsed = time.perf_counter() - start
    commits = _git(repo.path, "rev-list", "--count", "main").strip()
    print(f"{repo.path}: {args.files} files, {commits} commits on main, built in {elapsed:.2f} s")
    for spec_id, branches in repo.branches.items():
        pairs = all_pairs(branches)
        expected = repo.expected_conflicts[spec_id]
        line = (
            f"  {spec_id}: {len(branches)} branches, {len(pairs)} pairs, {len(expected)} expected"
        )
        if args.loop:
            start = time.perf_counter()
            found = pairwise_loop(repo.path, pairs)
            took = time.perf_counter() - start
            got = {frozenset(p) for p in found}
            line += (
                f", {len(found)} conflicting by git ({took:.2f} s loop)"
                f", missed {len(expected - got)}, unexpected {len(got - expected)}"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
