"""The built-in ``git`` VCS plugin.

GitPython is the general interface (creating branches). The paths that run
on every commit or scan many branches — listing new commits, patch ids, in-memory merges
— run the git binary directly: GitPython costs ~100 ms to import, and a batch of merges
is one ``git merge-tree --stdin`` process however many pairs it has.

In-memory merges use ``git merge-tree --write-tree`` (git's own merge machinery: renames,
directory renames, delete/modify and file/directory conflicts count exactly as a real
merge would count them). They touch no index, HEAD, branch or working tree, and the
objects they write go to a temporary object directory that is deleted afterwards (or,
when the process was killed, by the next process that merges).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.fsutil import make_tagged_dir
from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

#: git's environment variables that would redirect a command to another repository
#: (git sets some of them when it runs a hook).
GIT_ENV_OVERRIDES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_NAMESPACE",
)  # fmt: skip
MERGE_TREE_STDIN = (2, 39)
MIN_GIT = (2, 38)
#: at most this many ``merge-tree --stdin`` processes at once, however many cores there are
MAX_MERGE_JOBS = 8
#: name prefixes of the scratch directories of in-memory merges (objects, attributes)
SCRATCH_OBJECTS = "claude-orchestrator-objects-"
SCRATCH_ATTRIBUTES = "claude-orchestrator-attributes-"


class GitError(OrchestratorError):
    """A git command failed in a way the user has to fix (exit 2)."""


class CommitInfo(NamedTuple):
    commit: str
    subject: str
    message: str


#: the lock reason ``git worktree add`` leaves while it checks out (LC_ALL=C)
WORKTREE_ADD_LOCK = "initializing"


class WorktreeEntry(NamedTuple):
    path: Path
    branch: str | None
    #: the lock's reason ("" without one); None when the worktree is not locked
    locked: str | None
    #: its directory is gone (deleted by hand)
    missing: bool

    @property
    def interrupted(self) -> bool:
        """Left locked by a ``git worktree add`` that did not finish (it was killed)."""
        return self.locked == WORKTREE_ADD_LOCK


class BranchTip(NamedTuple):
    commit: str
    #: the remote the tip comes from; None for a local branch
    remote: str | None
    #: (remote, commit) of the other remotes whose branch of that name is elsewhere
    others: tuple[tuple[str, str], ...]


class MergeResult(NamedTuple):
    """The outcome of merging two commits in memory.

    ``conflicted`` follows git's status, not the file list: a few directory-rename
    conflicts list no file at all.
    """

    conflicted: bool
    files: list[str]
    #: why git could not merge the pair at all (e.g. unrelated histories); None when it did
    error: str | None = None


@hookimpl(trylast=True)
def register_vcs(register: Register) -> None:
    register("git", GitVCS.from_context, description="git (GitPython; merge-tree for conflicts)")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in GIT_ENV_OVERRIDES}
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


def parse_version(text: str) -> tuple[int, int]:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


class GitVCS:
    """A :class:`~claude_orchestrator.protocols.VCS` for the repository at ``root``."""

    def __init__(self, root: Path, common_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.common_dir = common_dir
        self._version: tuple[int, int] | None = None

    @classmethod
    def from_context(cls, context: PluginContext) -> GitVCS:
        return cls(context.root, context.common_dir)

    # -- running git -----------------------------------------------------------------
    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        die_with_us: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run git in the repository.

        :param die_with_us: on Linux, git is killed when this process dies (a killed
            ``merge-pr`` must not leave a git still changing the work tree while the next
            one repairs it).
        """
        try:
            proc = subprocess.run(
                ["git", *args], cwd=self.root, env=clean_env(env), input=input,
                capture_output=True, text=True, encoding="utf-8", errors="replace",
                preexec_fn=_die_with_parent() if die_with_us else None,
            )  # fmt: skip
        except FileNotFoundError:
            raise GitError(
                "git is not installed or not on PATH: install git 2.38 or newer"
            ) from None
        if check and proc.returncode != 0:
            message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            detail = message[-1] if message else f"exit {proc.returncode}"
            raise GitError(f"git {args[0]} failed: {detail}")
        return proc

    def version(self) -> tuple[int, int]:
        if self._version is None:
            self._version = parse_version(self.run("--version").stdout)
        return self._version

    def require_merge_tree(self) -> None:
        if self.version() < MIN_GIT:
            have = ".".join(map(str, self.version()))
            raise GitError(
                f"git {have} is too old for conflict detection: `git merge-tree --write-tree` "
                "needs git 2.38 or newer; upgrade git"
            )

    # -- repository state ------------------------------------------------------------
    def has_commits(self) -> bool:
        return self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).returncode == 0

    def current_branch(self) -> str | None:
        proc = self.run("symbolic-ref", "-q", "--short", "HEAD", check=False)
        return proc.stdout.strip() or None

    def resolve(self, ref: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}",
                        check=False)  # fmt: skip
        return proc.stdout.strip() or None

    def branch_exists(self, name: str) -> bool:
        return self.resolve(f"refs/heads/{name}") is not None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant,
                        check=False).returncode == 0  # fmt: skip

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").stdout.strip() == "true"

    def is_bare(self) -> bool:
        return self.run("rev-parse", "--is-bare-repository").stdout.strip() == "true"

    def operation_in_progress(self) -> str | None:
        """'rebase', 'merge', 'cherry-pick' or 'revert' while one is under way."""
        git_dir = Path(self.run("rev-parse", "--absolute-git-dir").stdout.removesuffix("\n"))
        for name, marker in (("rebase", "rebase-merge"), ("rebase", "rebase-apply"),
                             ("merge", "MERGE_HEAD"), ("cherry-pick", "CHERRY_PICK_HEAD"),
                             ("revert", "REVERT_HEAD")):  # fmt: skip
            if (git_dir / marker).exists():
                return name
        return None

    def list_branches(self, pattern: str, *, remotes: bool = False) -> dict[str, str]:
        """Branch -> commit for local branches matching a glob like ``feature/*``.

        With ``remotes``, remote-tracking branches (``origin/feature/...``) are listed
        too, under their name without the remote, when no local branch has that name
        (which remote's, when several have it: see :meth:`branch_tips`).
        """
        return {
            name: tip.commit for name, tip in self.branch_tips(pattern, remotes=remotes).items()
        }

    def branch_tips(self, pattern: str, *, remotes: bool = False) -> dict[str, BranchTip]:
        """Like :meth:`list_branches`, with where each tip comes from.

        A local branch wins. Among remotes, the one ``checkout.defaultRemote`` names,
        then ``origin``, then one that is some local branch's upstream, then the first
        by name; the others' different tips are in ``others``.
        """
        refs = [f"refs/heads/{pattern}"]
        rank = self._remote_preference() if remotes else {}
        if remotes:  # a remote's name may hold '/', which '*' does not match
            refs += [f"refs/remotes/{r}/{pattern}" for r in rank if "/" in r]
            refs.append(f"refs/remotes/*/{pattern}")
        out = self.run("for-each-ref", "--format=%(objectname) %(refname)", *refs).stdout
        found: dict[str, BranchTip] = {}
        remote: dict[str, dict[str, str]] = {}  # name -> remote -> commit
        for line in out.splitlines():
            commit, ref = line.split(" ", 1)
            if ref.startswith("refs/heads/"):
                found[ref[len("refs/heads/") :]] = BranchTip(commit, None, ())
            elif ref.startswith("refs/remotes/"):
                rest = ref[len("refs/remotes/") :]
                # the longest configured remote name that fits
                names = (r for r in sorted(rank, key=len, reverse=True) if rest.startswith(f"{r}/"))
                owner = next(names, rest.split("/")[0])
                remote.setdefault(rest[len(owner) + 1 :], {})[owner] = commit
        if remote:
            for name, tips in remote.items():
                if name in found:
                    continue
                chosen = min(tips, key=lambda r: (rank.get(r, 3), r))
                others = tuple((r, c) for r, c in sorted(tips.items()) if c != tips[chosen])
                found[name] = BranchTip(tips[chosen], chosen, others)
        return found

    def _remote_preference(self) -> dict[str, int]:
        """Configured remote -> rank (lower wins): 0 ``checkout.defaultRemote``,
        1 ``origin``, 2 a local branch's upstream, 3 the rest."""
        proc = self.run("config", "-z", "--get-regexp",
                        r"^(checkout\.defaultremote|remote\..*\.(url|fetch)|branch\..*\.remote)$",
                        check=False)  # fmt: skip
        default: str | None = None
        configured: set[str] = set()
        upstreams: set[str] = set()
        for entry in filter(None, proc.stdout.split("\0")):
            key, _, value = entry.partition("\n")
            if key == "checkout.defaultremote":
                default = value
            elif key.startswith("remote."):
                configured.add(key[len("remote.") :].rsplit(".", 1)[0])
            else:
                upstreams.add(value)
        ranks = {r: 3 for r in configured}
        ranks.update({r: 2 for r in upstreams if r != "."})
        ranks["origin"] = 1
        if default:
            ranks[default] = 0
        return ranks

    def create_branch(self, name: str, start_point: str) -> bool:
        """Create ``name`` at ``start_point`` unless it exists (never moves a branch)."""
        import git  # GitPython, imported only where branches are created

        repo = git.Repo(self.root)
        if name in [head.name for head in repo.heads]:
            return False
        repo.create_head(name, start_point)
        return True

    def worktrees(self) -> dict[str, Path]:
        """Checked-out branch -> worktree path, for every worktree of the repository.

        Read from git's administrative files when the common directory is known (this
        runs after every event, and a process start costs more than the reads);
        ``git worktree list`` otherwise.
        """
        if self.common_dir is not None and (self.common_dir / "HEAD").is_file():
            return self._worktrees_from_files(self.common_dir)
        out = self.run("worktree", "list", "--porcelain", "-z").stdout
        result: dict[str, Path] = {}
        path: Path | None = None
        for line in out.split("\0"):
            if line.startswith("worktree "):
                path = Path(line[len("worktree ") :])
            elif line.startswith("branch refs/heads/") and path is not None:
                result[line[len("branch refs/heads/") :]] = path
        return result

    @staticmethod
    def _worktrees_from_files(common: Path) -> dict[str, Path]:
        def branch_of(head: Path) -> str | None:
            try:
                text = head.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            prefix = "ref: refs/heads/"
            return text[len(prefix) :] if text.startswith(prefix) else None

        result: dict[str, Path] = {}
        if common.name == ".git":  # a non-bare repository: the main worktree is its parent
            branch = branch_of(common / "HEAD")
            if branch is not None:
                result[branch] = common.parent
        admin = common / "worktrees"
        if admin.is_dir():
            for entry in sorted(admin.iterdir()):
                try:
                    dot_git = Path((entry / "gitdir").read_text(encoding="utf-8").strip())
                except OSError:
                    continue
                if not dot_git.exists():
                    continue  # prunable: the worktree was deleted
                branch = branch_of(entry / "HEAD")
                if branch is not None:
                    result.setdefault(branch, dot_git.parent)
        return result

    def add_worktree(self, path: Path, branch: str) -> None:
        # LC_ALL=C: the reason `worktree add` locks the new worktree with while it checks
        # out is translated, and finish_worktree recognises an interrupted add by it
        self.run("worktree", "add", "--quiet", str(path), branch, env={"LC_ALL": "C"})

    def worktree_entries(self) -> list[WorktreeEntry]:
        """Every worktree git has registered, with its lock and whether it is missing."""
        out = self.run("worktree", "list", "--porcelain", "-z").stdout
        entries: list[WorktreeEntry] = []
        for block in out.split("\0\0"):
            fields: dict[str, str] = {}
            for line in block.split("\0"):
                key, _, value = line.partition(" ")
                fields[key] = value
            if "worktree" not in fields:
                continue
            branch = fields.get("branch", "")
            entries.append(WorktreeEntry(
                Path(fields["worktree"]),
                branch[len("refs/heads/") :] if branch.startswith("refs/heads/") else None,
                fields.get("locked"),
                "prunable" in fields or not Path(fields["worktree"]).exists(),
            ))  # fmt: skip
        return entries

    def forget_missing_worktree(self, entry: WorktreeEntry) -> None:
        """Unregister a worktree whose directory was deleted (``git worktree prune``).

        A worktree that an interrupted ``worktree add`` left locked is unlocked first; one
        the user locked is refused (it may live on a disk that is not mounted). ``prune``
        unregisters every worktree whose directory is gone and that is not locked.
        """
        if entry.locked is not None and not entry.interrupted:
            raise GitError(f"the worktree at {entry.path} is locked: not unregistered")
        if entry.interrupted:
            self.run("worktree", "unlock", str(entry.path))
        self.run("worktree", "prune")

    def discard_worktree(self, entry: WorktreeEntry) -> None:
        """Remove a worktree an interrupted ``git worktree add`` left before its checkout
        began (locked "initializing", no branch yet, nothing in it but ``.git``)."""
        if not entry.interrupted or entry.branch is not None:
            raise GitError(f"the worktree at {entry.path} is not an interrupted one")
        self.run("worktree", "unlock", str(entry.path))
        self.run("worktree", "remove", "--force", str(entry.path))

    def finish_worktree(self, entry: WorktreeEntry) -> list[str]:
        """Finish the checkout of a worktree an interrupted ``git worktree add`` left
        (locked "initializing"); returns the files restored.

        git writes the worktree's index last: with an index, the checkout finished and
        only the lock is left. Without one, every file there must be ``HEAD``'s or a
        prefix of it (the file git was writing when it was killed); then the missing and
        partial files are checked out. Any other difference is the user's work: refused,
        nothing touched.
        """
        path = entry.path
        admin = Path(
            self.run("-C", str(path), "rev-parse", "--absolute-git-dir").stdout.removesuffix("\n")
        )
        restored: list[str] = []
        if not (admin / "index").exists():
            (admin / "index.lock").unlink(missing_ok=True)  # the killed checkout's
            self.run("-C", str(path), "read-tree", "HEAD")
            status = self.run("-C", str(path), "status", "--porcelain", "-z",
                              "--untracked-files=no").stdout  # fmt: skip
            for record in filter(None, status.split("\0")):
                code, name = record[:2], record[3:]
                if code == " D" or (code == " M" and self._is_partial_copy(path, name)):
                    restored.append(name)
                else:
                    raise GitError(
                        f"the worktree of {entry.branch} at {path} was left half-created by "
                        f"an interrupted checkout, and {name} is not what git was writing "
                        "there: save your changes, run `git worktree remove --force "
                        f"{path}`, then run this again"
                    )
            if restored:
                self.run("-C", str(path), "checkout-index", "--force", "-z", "--stdin",
                         input="\0".join(restored) + "\0")  # fmt: skip
        self.run("worktree", "unlock", str(path))
        return restored

    def _is_partial_copy(self, tree: Path, name: str) -> bool:
        """Whether ``tree/name`` holds the start of ``HEAD``'s version of the file."""
        try:
            have = (tree / name).read_bytes()
        except OSError:
            return False
        blob = subprocess.run(
            ["git", "-C", str(tree), "cat-file", "blob", f"HEAD:{name}"], env=clean_env(),
            capture_output=True, check=False,
        )  # fmt: skip
        return blob.returncode == 0 and blob.stdout.startswith(have)

    def show_file(self, ref: str, path: str) -> str | None:
        proc = self.run("show", f"{ref}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    # -- commits ---------------------------------------------------------------------
    def new_commits(
        self, tip: str, exclude: Sequence[str], *, first_parent: bool = False
    ) -> list[CommitInfo]:
        """Commits reachable from ``tip`` but from none of ``exclude``, oldest first,
        merges left out."""
        args = ["log", "--reverse", "--no-merges", "--format=%H%x00%s%x00%B%x1e"]
        if first_parent:
            args.append("--first-parent")
        args += [tip, *(f"^{ref}" for ref in exclude), "--"]
        out = self.run(*args).stdout
        commits = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            commit, subject, message = record.split("\x00", 2)
            commits.append(CommitInfo(commit, subject, message.strip()))
        return commits

    def patch_ids(self, commits: Sequence[str]) -> dict[str, str]:
        """commit -> ``git patch-id --stable`` (unchanged by a rebase that applies cleanly).

        A commit with an empty diff gets ``empty:<commit>``.
        """
        if not commits:
            return {}
        diff = self.run("show", "--format=commit %H", "--patch", "--no-color", *commits).stdout
        out = self.run("patch-id", "--stable", input=diff).stdout
        result = {}
        for line in out.splitlines():
            patch_id, commit = line.split()
            result[commit] = patch_id
        for commit in commits:
            result.setdefault(commit, f"empty:{commit}")
        return result

    def files_by_commit(self, base: str, tip: str) -> list[tuple[str, str, list[str]]]:
        """(commit, subject, changed files) for each commit in ``base..tip``, newest first.

        Read with ``-z``: file names come raw, as merge-tree gives them (not quoted by
        ``core.quotePath``), whatever characters they hold.
        """
        # -z: "\0<commit>\0<subject>\0" then "\n<name>\0<name>\0..." per commit; no
        # name is empty, so an empty field ends a commit's names
        out = self.run("log", "-z", "--format=%x00%H%x00%s", "--name-only", "--no-renames",
                       f"{base}..{tip}", "--").stdout  # fmt: skip
        fields = out.split("\0")
        result = []
        index = 0
        while index + 1 < len(fields):
            if fields[index] == "":
                index += 1
                continue
            commit, subject = fields[index], fields[index + 1]
            index += 2
            names = []
            while index < len(fields) and fields[index] != "":
                names.append(fields[index])
                index += 1
            if names:
                names[0] = names[0].removeprefix("\n")
            result.append((commit, subject, names))
        return result

    def renames(self, base: str, tip: str) -> list[tuple[str, str]]:
        """(old path, new path) of each file renamed between ``base`` and ``tip``, by git's
        rename detection (the same a merge of ``tip`` uses)."""
        out = self.run("diff", "--name-status", "-z", "-M", base, tip, "--").stdout
        fields = out.split("\0")
        found = []
        index = 0
        while index < len(fields) and fields[index]:
            status = fields[index]
            if status.startswith(("R", "C")):
                if status.startswith("R"):
                    found.append((fields[index + 1], fields[index + 2]))
                index += 3
            else:
                index += 2
        return found

    def merge_base(self, a: str, b: str) -> str | None:
        proc = self.run("merge-base", a, b, check=False)
        return proc.stdout.strip() or None

    # -- in-memory merges ------------------------------------------------------------
    @contextmanager
    def _scratch_objects(self) -> Iterator[dict[str, str]]:
        import shutil

        objects = Path(self.run("rev-parse", "--git-path", "objects").stdout.removesuffix("\n"))
        if not objects.is_absolute():
            objects = (self.root / objects).resolve()
        # Merges write thousands of small objects that are thrown away: on a RAM-backed
        # file system that costs a fraction of a disk's time (measured: 0.5 s instead of
        # 1-2 s for 528 merges), so use /dev/shm where there is one.
        # The name carries the owner's pid: a scan killed inside merge-tree leaves its
        # directory behind, and the next scan removes the ones whose owner is dead.
        shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private directory in it
        base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
        scratch = make_tagged_dir(SCRATCH_OBJECTS, base)
        try:
            yield {
                "GIT_OBJECT_DIRECTORY": scratch,
                "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(objects),
            }
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _attribute_files(self, commit: str) -> tuple[tuple[str, str], ...]:
        """``(path, blob)`` of every ``.gitattributes`` file in ``commit``."""
        listing = self.run("ls-tree", "-r", "-z", "--full-tree", commit).stdout
        found = []
        for entry in listing.split("\0"):
            info, _, path = entry.partition("\t")
            if not path or path.rsplit("/", 1)[-1] != ".gitattributes":
                continue
            mode, kind, blob = info.split()
            if kind == "blob" and mode != "120000":  # git ignores a symlinked one too
                found.append((path, blob))
        return tuple(sorted(found))

    @contextmanager
    def _attributes_of(
        self, commit: str, files: tuple[tuple[str, str], ...] | None = None
    ) -> Iterator[tuple[str, dict[str, str]]]:
        """A scratch work tree holding only ``commit``'s ``.gitattributes`` files.

        git reads merge drivers (``merge=union``...) and text/binary attributes from the
        work tree it runs in, then from the index. git 2.39 has no ``--attr-source`` (2.40)
        nor ``attr.tree`` (2.42), so merge-tree runs with this directory as its work tree
        and an empty index: the attributes are ``commit``'s wherever the tool was started.
        ``info/attributes`` and ``core.attributesFile`` still apply, as in any merge.

        :return: (directory to run git in, environment)
        """
        import shutil

        git_dir = self.run("rev-parse", "--absolute-git-dir").stdout.removesuffix("\n")
        scratch = Path(make_tagged_dir(SCRATCH_ATTRIBUTES))
        try:
            for path, blob in files if files is not None else self._attribute_files(commit):
                target = scratch / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(self.run("cat-file", "blob", blob).stdout, encoding="utf-8")
            yield (
                str(scratch),
                {
                    "GIT_DIR": git_dir,
                    "GIT_WORK_TREE": str(scratch),
                    "GIT_INDEX_FILE": str(scratch / ".git-index-none"),
                },
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def merge_conflicts(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        jobs: int | None = None,
        attributes_from: str | None = None,
    ) -> dict[tuple[str, str], MergeResult]:
        """Merge each pair of commits in memory; batches with ``--stdin`` (git >= 2.39).

        Pass commit ids (from one ``for-each-ref`` snapshot), not names: merge-tree exits
        1 for an unknown ref just as for a conflict. A pair git cannot merge at all
        (unrelated histories) gets a result with ``error`` set; the others still merge.

        :param jobs: merge-tree processes to run at once; default: one per core, at most
            :data:`MAX_MERGE_JOBS` and never more than there are pairs.
        :param attributes_from: the commit whose ``.gitattributes`` apply to every merge;
            by default each pair's first commit's (what ``git merge`` uses in a work tree
            with that commit checked out). Never the attributes of the current directory.
        """
        self.require_merge_tree()
        if not pairs:
            return {}
        # One batch per distinct set of .gitattributes (usually one: branches share them).
        listings: dict[str, tuple[tuple[str, str], ...]] = {}
        groups: dict[tuple[tuple[str, str], ...], tuple[str, list[tuple[str, str]]]] = {}
        for pair in dict.fromkeys(pairs):
            source = attributes_from or pair[0]
            if source not in listings:
                listings[source] = self._attribute_files(source)
            groups.setdefault(listings[source], (source, []))[1].append(pair)
        results: dict[tuple[str, str], MergeResult] = {}
        with self._scratch_objects() as objects:
            for files, (source, group) in groups.items():
                with self._attributes_of(source, files) as (cwd, attributes):
                    env = {**objects, **attributes}
                    results.update(self._merge_group(group, cwd, env, jobs))
        return results

    def _merge_group(
        self, pairs: list[tuple[str, str]], cwd: str, env: Mapping[str, str], jobs: int | None
    ) -> dict[tuple[str, str], MergeResult]:
        if self.version() < MERGE_TREE_STDIN:
            return {pair: self._merge_one(pair, cwd, env) for pair in pairs}
        count = jobs if jobs is not None else merge_jobs(len(pairs))
        chunks = [pairs[i::count] for i in range(count) if pairs[i::count]]
        if len(chunks) == 1:
            return self._merge_batch(chunks[0], cwd, env)
        from concurrent.futures import ThreadPoolExecutor

        results: dict[tuple[str, str], MergeResult] = {}
        with ThreadPoolExecutor(len(chunks)) as pool:
            for part in pool.map(lambda c: self._merge_batch(c, cwd, env), chunks):
                results.update(part)
        return results

    def _merge_batch(
        self, pairs: list[tuple[str, str]], cwd: str, env: Mapping[str, str]
    ) -> dict[tuple[str, str], MergeResult]:
        # Before git 2.49 merge-tree does not flush per merge: write all, then read.
        proc = self.run(
            "-C", cwd, "merge-tree", "--write-tree", "--stdin", "--name-only", "--no-messages",
            input="".join(f"{a} {b}\n" for a, b in pairs), env=env, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            # e.g. unrelated histories abort the whole batch: find the bad pair(s)
            return {pair: self._merge_one(pair, cwd, env) for pair in pairs}
        fields = proc.stdout.split("\0")
        results: dict[tuple[str, str], MergeResult] = {}
        index = 0
        for pair in pairs:
            status, tree = fields[index], fields[index + 1]
            index += 2
            files: list[str] = []
            while index < len(fields) and fields[index] != "":
                files.append(fields[index])
                index += 1
            index += 1  # the empty field that ends this merge
            if status not in ("0", "1") or not re.fullmatch(r"[0-9a-f]{40,64}", tree):
                results[pair] = self._merge_one(pair, cwd, env)
                continue
            # in --stdin mode the status is inverted: 1 = clean, 0 = conflicted
            results[pair] = MergeResult(status == "0", sorted(set(files)))
        return results

    def _merge_one(self, pair: tuple[str, str], cwd: str, env: Mapping[str, str]) -> MergeResult:
        a, b = pair
        proc = self.run("-C", cwd, "merge-tree", "--write-tree", "-z", "--name-only",
                        "--no-messages", a, b, env=env, check=False)  # fmt: skip
        fields = proc.stdout.split("\0")
        if proc.returncode not in (0, 1) or not re.fullmatch(r"[0-9a-f]{40,64}", fields[0]):
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return MergeResult(False, [], detail.removeprefix("fatal: "))
        return MergeResult(proc.returncode == 1, sorted({f for f in fields[1:] if f}))


def _die_with_parent() -> Callable[[], None] | None:
    """What the child runs before git starts, on Linux: SIGKILL when the parent dies
    (``PR_SET_PDEATHSIG``). Loaded here: nothing may be imported after a fork."""
    if sys.platform != "linux":
        return None
    import ctypes
    import signal

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_death_signal() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)

    return set_death_signal


def merge_jobs(pairs: int) -> int:
    """How many merge-tree processes to run for ``pairs`` merges: one per core, bounded."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_MERGE_JOBS, pairs))


__all__ = [
    "BranchTip", "CommitInfo", "GitError", "GitVCS", "MergeResult", "WorktreeEntry", "merge_jobs",
    "parse_version",
]  # fmt: skip
