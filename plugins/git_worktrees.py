"""Worktrees for the ``git`` VCS plugin: listing them (from git's files where it can),
adding them, and repairing what an interrupted ``git worktree add`` left."""

from __future__ import annotations

from pathlib import Path

from claude_orchestrator.models_vcs import WorktreeEntry

from .git_run import GitBase, GitError, clean_env


class GitWorktrees(GitBase):
    """The repository's worktrees."""

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
        """Every worktree git has registered (the main one first), with its lock and whether
        it is missing."""
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
                "prunable" in fields,
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
        try:
            self.run("worktree", "remove", "--force", str(entry.path))
        except GitError:
            # Killed before its .git file, gitdir or commondir were all written, git no
            # longer knows it as a worktree it may remove; it holds nothing but .git, so
            # remove it here and let prune drop the administrative files.
            path = entry.path
            if path.is_dir() and {child.name for child in path.iterdir()} - {".git"}:
                raise
            (path / ".git").unlink(missing_ok=True)
            if path.is_dir():
                path.rmdir()
            self.run("worktree", "prune")

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
        import subprocess

        blob = subprocess.run(
            ["git", "-C", str(tree), "cat-file", "blob", f"HEAD:{name}"], env=clean_env(),
            capture_output=True, check=False,
        )  # fmt: skip
        return blob.returncode == 0 and blob.stdout.startswith(have)


__all__ = ["GitWorktrees"]
