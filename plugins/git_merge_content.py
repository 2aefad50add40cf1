"""What an in-memory merge produced, for the ``git`` VCS plugin: the conflicted files'
contents with their conflict markers, the lines' origins (``git blame``), a patch tried
in memory, a chain of merges, and the merged tree put on disk.

Everything here runs ``git merge-tree --write-tree`` and friends with a temporary object
directory (:meth:`GitMergeTree._scratch_objects`): the repository's object store, index,
HEAD, branches and working trees are never touched, except by :meth:`apply_patch`, whose
job is to change one worktree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from claude_orchestrator.fsutil import make_tagged_dir
from claude_orchestrator.models_vcs import (
    ConflictedFile,
    ConflictStage,
    MergeDetail,
    MergeResult,
    MergeSequence,
    PatchCheck,
)

from .git_merge_tree import SCRATCH_ATTRIBUTES, GitMergeTree
from .git_run import GitError

#: a merged file larger than this is not read back (its hunks are not shown)
MAX_MERGED_BYTES = 1024 * 1024
#: the committer of the commits made in memory (never written to the repository)
_SCRATCH_IDENTITY = {
    "GIT_AUTHOR_NAME": "claude-orchestrator",
    "GIT_AUTHOR_EMAIL": "claude-orchestrator@localhost",
    "GIT_COMMITTER_NAME": "claude-orchestrator",
    "GIT_COMMITTER_EMAIL": "claude-orchestrator@localhost",
    "GIT_AUTHOR_DATE": "1700000000 +0000",
    "GIT_COMMITTER_DATE": "1700000000 +0000",
}
_OID = re.compile(r"[0-9a-f]{40,64}")
_ENTRY = re.compile(r"(?P<mode>[0-7]{6}) (?P<oid>[0-9a-f]{40,64}) (?P<stage>[123])\t(?P<path>.+)",
                    re.DOTALL)  # fmt: skip


def parse_merge_tree(output: str) -> tuple[str, list[ConflictedFile]] | None:
    """``git merge-tree --write-tree -z`` output (messages included) as (tree, files);
    None when it does not start with a tree id."""
    fields = output.split("\0")
    if not fields or not _OID.fullmatch(fields[0]):
        return None
    stages: dict[str, list[ConflictStage]] = {}
    index = 1
    while index < len(fields) and fields[index] != "":
        match = _ENTRY.fullmatch(fields[index])
        if match is None:
            return None
        stage = ConflictStage(int(match["stage"]), match["mode"], match["oid"])
        stages.setdefault(match["path"], []).append(stage)
        index += 1
    index += 1
    kinds: dict[str, list[str]] = {}
    messages: dict[str, list[str]] = {}
    # informational messages: <count> NUL <path>... NUL <type> NUL <message> NUL
    while index < len(fields) and fields[index].isdigit():
        count = int(fields[index])
        paths = fields[index + 1 : index + 1 + count]
        kind = fields[index + 1 + count] if index + 1 + count < len(fields) else ""
        message = fields[index + 2 + count] if index + 2 + count < len(fields) else ""
        index += 3 + count
        if not kind.startswith("CONFLICT"):
            continue
        label = kind.removeprefix("CONFLICT").strip().strip("()")
        for path in paths:
            kinds.setdefault(path, []).append(label)
            messages.setdefault(path, []).append(message.rstrip("\n"))
    files = [
        ConflictedFile(
            path,
            tuple(sorted(found)),
            tuple(kinds.get(path, ())),
            tuple(messages.get(path, ())),
            None,
        )
        for path, found in sorted(stages.items())
    ]
    # a conflict reported on a path with no stage (some directory renames)
    for path in sorted(set(kinds) - set(stages)):
        files.append(ConflictedFile(path, (), tuple(kinds[path]), tuple(messages[path]), None))
    return fields[0], files


def relabel(text: str, labels: Mapping[str, str]) -> str:
    """Conflict marker lines that name a commit id name the branch instead."""
    out = []
    for line in text.splitlines(keepends=True):
        for marker in ("<<<<<<< ", ">>>>>>> ", "||||||| "):
            if line.startswith(marker):
                rest = line[len(marker) :]
                for commit, label in labels.items():
                    if rest.startswith(commit):
                        line = marker + label + rest[len(commit) :]
                        break
        out.append(line)
    return "".join(out)


class GitMergeContent(GitMergeTree):
    """In-memory merges, read back."""

    @contextmanager
    def _merge_env(self, attributes_from: str) -> Iterator[tuple[str, dict[str, str]]]:
        """(directory to run merge-tree in, environment): scratch objects, and
        ``attributes_from``'s ``.gitattributes``."""
        with self._scratch_objects() as objects, \
                self._attributes_of(attributes_from) as (cwd, attributes):  # fmt: skip
            yield cwd, {**objects, **attributes, **_SCRATCH_IDENTITY}

    def _merge_tree(self, cwd: str, env: Mapping[str, str], ours: str, theirs: str,
                    ) -> tuple[bool, str, list[ConflictedFile]] | str:  # fmt: skip
        """(conflicted, tree, files) or why git could not merge them."""
        proc = self.run("-C", cwd, "merge-tree", "--write-tree", "-z", ours, theirs,
                        env=env, check=False)  # fmt: skip
        parsed = parse_merge_tree(proc.stdout) if proc.returncode in (0, 1) else None
        if parsed is None:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return detail.removeprefix("fatal: ")
        return proc.returncode == 1, *parsed

    def _blob_text(self, env: Mapping[str, str], spec: str, max_bytes: int) -> str | None:
        size = self.run("cat-file", "-s", spec, env=env, check=False)
        if size.returncode != 0 or not size.stdout.strip().isdigit():
            return None
        if int(size.stdout) > max_bytes:
            return None
        import subprocess

        from .git_run import clean_env

        raw = subprocess.run(
            ["git", "cat-file", "blob", spec], cwd=self.root, env=clean_env(env),
            capture_output=True, check=False,
        ).stdout  # fmt: skip
        if b"\0" in raw:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def merge_detail(
        self,
        ours: str,
        theirs: str,
        *,
        attributes_from: str | None = None,
        labels: Mapping[str, str] | None = None,
        max_bytes: int = MAX_MERGED_BYTES,
    ) -> MergeDetail:
        """Merge two commits in memory and read back each conflicted file as the merge
        left it, conflict markers and all (``merged``; None for a file that is absent
        from the merged tree, binary, not UTF-8 or over ``max_bytes``).

        :param labels: commit id -> the name the conflict markers give it.
        """
        self.require_merge_tree()
        with self._merge_env(attributes_from or ours) as (cwd, env):
            found = self._merge_tree(cwd, env, ours, theirs)
            if isinstance(found, str):
                return MergeDetail(False, None, [], found)
            conflicted, tree, files = found
            read = []
            for entry in files:
                text = self._blob_text(env, f"{tree}:{entry.path}", max_bytes)
                if text is not None and labels:
                    text = relabel(text, labels)
                read.append(entry._replace(merged=text))
        return MergeDetail(conflicted, tree, read, None)

    def blob_text(self, blob: str, *, max_bytes: int = MAX_MERGED_BYTES) -> str | None:
        """A blob's text; None when it is binary, not UTF-8, over ``max_bytes`` or
        unknown."""
        return self._blob_text({}, blob, max_bytes)

    def blame(
        self, base: str | None, tip: str, path: str, start: int, end: int
    ) -> list[str | None]:
        """The commit in ``base..tip`` that last changed each of lines ``start``..``end``
        (1-based, inclusive) of ``path`` at ``tip``; None for a line that comes from
        ``base`` or before it."""
        if end < start:
            return []
        span = f"{base}..{tip}" if base else tip
        proc = self.run("blame", "--line-porcelain", "-L", f"{start},{end}", span, "--", path,
                        check=False)  # fmt: skip
        if proc.returncode != 0:
            return [None] * (end - start + 1)
        origins: list[str | None] = []
        commit: str | None = None
        boundary = False
        for line in proc.stdout.splitlines():
            if line.startswith("\t"):
                origins.append(None if boundary or commit is None else commit)
                commit, boundary = None, False
            elif commit is None and _OID.match(line.split(" ", 1)[0]):
                commit = line.split(" ", 1)[0]
            elif line == "boundary":
                boundary = True
        return origins

    @contextmanager
    def _index_of(self, env: Mapping[str, str], tree: str) -> Iterator[dict[str, str]]:
        """An environment with a scratch index holding ``tree`` (no work tree)."""
        import shutil

        index = make_tagged_dir(SCRATCH_ATTRIBUTES)
        try:
            plain = {**env, "GIT_INDEX_FILE": str(Path(index) / "index")}
            plain.pop("GIT_WORK_TREE", None)
            self.run("read-tree", tree, env=plain)
            yield plain
        finally:
            shutil.rmtree(index, ignore_errors=True)

    def _tree_with_patch(self, env: Mapping[str, str], commit: str, patch: str) -> str:
        """The tree of ``commit`` with ``patch`` applied, in the scratch objects."""
        with self._index_of(env, commit) as patched:
            proc = self.run("apply", "--cached", "--whitespace=nowarn", "-", input=patch,
                            env=patched, check=False)  # fmt: skip
            if proc.returncode != 0:
                detail = proc.stderr.strip().splitlines() or ["the patch does not apply"]
                raise GitError(detail[-1].removeprefix("error: "))
            return self.run("write-tree", env=patched).stdout.strip()

    def patch_paths(self, patch: str) -> list[str]:
        """The files ``patch`` changes, in its order; raises when git cannot read it as
        a patch, or when it makes a symbolic link, carries a binary file or renames or
        copies one (a suggested resolution edits text in place)."""
        for line in patch.splitlines():
            if line.startswith("GIT binary patch") or line.startswith("Binary files "):
                raise GitError("the patch carries a binary file: only text changes are accepted")
            if re.fullmatch(r"(?:new file mode|new mode) 120000", line.strip()):
                raise GitError("the patch makes a symbolic link: only text changes are accepted")
            if line.startswith(("rename from ", "copy from ")):
                raise GitError("the patch renames or copies a file: a resolution edits the "
                               "conflicting files in place")  # fmt: skip
        proc = self.run("apply", "--numstat", "-z", "-", input=patch, check=False)
        if proc.returncode != 0 or not proc.stdout.strip("\0"):
            detail = (proc.stderr.strip().splitlines() or ["no file in it"])[-1]
            raise GitError(f"not a patch git can apply: {detail.removeprefix('error: ')}")
        found: list[str] = []
        fields = proc.stdout.split("\0")
        index = 0
        while index < len(fields):
            parts = fields[index].split("\t")
            if len(parts) == 3 and parts[2]:
                found.append(parts[2])
                index += 1
            else:
                index += 1
        return list(dict.fromkeys(found))

    def merge_with_patch(
        self, ours: str, patch: str, theirs: str, *, attributes_from: str | None = None
    ) -> PatchCheck:
        """Apply ``patch`` to ``ours`` in memory, commit it there, and merge that with
        ``theirs``: whether the patch applies, and whether the result still conflicts."""
        self.require_merge_tree()
        with self._merge_env(attributes_from or ours) as (cwd, env):
            try:
                tree = self._tree_with_patch(env, ours, patch)
            except GitError as exc:
                return PatchCheck(False, str(exc), None)
            commit = self.run("commit-tree", tree, "-p", ours, "-m", "suggested resolution",
                              env=env).stdout.strip()  # fmt: skip
            found = self._merge_tree(cwd, env, commit, theirs)
        if isinstance(found, str):
            return PatchCheck(True, found, None)
        conflicted, _, files = found
        return PatchCheck(True, None, MergeResult(conflicted, sorted({f.path for f in files})))

    def apply_patch(self, worktree: Path, patch: str, *, message: str | None = None) -> str | None:
        """Apply ``patch`` to the index and files of ``worktree`` (``git apply --index``:
        refused, nothing changed, when a file it touches has changes of its own), then
        commit it with ``message`` when given: the new commit's id, else None."""
        where = str(worktree)
        paths = self.patch_paths(patch)
        # a file saved unchanged (or copied in) looks changed until the index is refreshed
        self.run("-C", where, "update-index", "-q", "--refresh", check=False)
        check = self.run("-C", where, "apply", "--index", "--check", "-", input=patch, check=False)
        if check.returncode != 0:
            detail = (check.stderr.strip().splitlines() or ["the patch does not apply"])[-1]
            raise GitError(f"the patch does not apply in {worktree}: "
                           f"{detail.removeprefix('error: ')}")  # fmt: skip
        self.run("-C", where, "apply", "--index", "-", input=patch)
        if message is None:
            return None
        self.run("-C", where, "commit", "-q", "-m", message, "--", *paths)  # nothing else staged
        return self.run("-C", where, "rev-parse", "HEAD").stdout.strip()

    def merge_sequence(
        self,
        heads: Sequence[str],
        *,
        attributes_from: str | None = None,
        into: Path | None = None,
    ) -> MergeSequence:
        """Merge ``heads[1:]`` one after another into ``heads[0]``, in memory, stopping at
        the first that conflicts (or cannot be merged); when all merged and ``into`` is
        given, write the combined tree's files into that (empty) directory."""
        self.require_merge_tree()
        if not heads:
            raise ValueError("merge_sequence needs at least one commit")
        current = heads[0]
        merged = [heads[0]]
        with self._merge_env(attributes_from or heads[0]) as (cwd, env):
            tree = self.run("rev-parse", f"{current}^{{tree}}", env=env).stdout.strip()
            for head in heads[1:]:
                found = self._merge_tree(cwd, env, current, head)
                if isinstance(found, str):
                    return MergeSequence(merged, tree, head, [], found)
                conflicted, tree_now, files = found
                if conflicted:
                    return MergeSequence(merged, tree, head, sorted({f.path for f in files}), None)
                tree = tree_now
                current = self.run("commit-tree", tree, "-p", current, "-p", head, "-m",
                                   "integrate", env=env).stdout.strip()  # fmt: skip
                merged.append(head)
            if into is not None:
                self._materialise(env, tree, into)
        return MergeSequence(merged, tree, None, [], None)

    def _materialise(self, env: Mapping[str, str], tree: str, into: Path) -> None:
        with self._index_of(env, tree) as plain:
            target = str(into.resolve()).rstrip("/") + "/"
            self.run("checkout-index", "-a", "-f", f"--prefix={target}", env=plain)


__all__ = ["MAX_MERGED_BYTES", "GitMergeContent", "parse_merge_tree", "relabel"]
