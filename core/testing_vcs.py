"""A contract suite for :class:`~claude_orchestrator.protocols_vcs.VCS` implementations.

Subclass it and provide two fixtures: ``vcs`` (the implementation, for a repository
with one commit on ``main`` checked out) and ``history`` (a :class:`History` that makes
commits with the backend's own tool, so the suite needs no method outside the
protocol)::

    class TestMyVCS(VCSContract):
        @pytest.fixture
        def vcs(self, tmp_path): ...

        @pytest.fixture
        def history(self, vcs): ...
"""

from __future__ import annotations

from typing import Protocol

import pytest

from .models_vcs import HookSettings
from .protocols_vcs import VCS

SETTINGS = HookSettings("claude-orchestrator", "feature", "main")


class History(Protocol):
    """How the suite makes history in the repository under test."""

    def commit(self, branch: str, path: str, text: str, message: str) -> str:
        """Check out ``branch`` (created at the current commit if new), write ``text``
        to ``path``, commit it with ``message``; returns the commit id."""

    def checkout(self, branch: str) -> None: ...


class VCSContract:
    """Behaviour every VCS plugin must have for the core to work with it."""

    @pytest.fixture
    def vcs(self) -> VCS:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `vcs` fixture")

    @pytest.fixture
    def history(self) -> History:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `history` fixture")

    def test_satisfies_protocol(self, vcs: VCS) -> None:
        assert isinstance(vcs, VCS)
        major, minor = vcs.version()
        assert isinstance(major, int) and isinstance(minor, int) and major > 0

    def test_branches(self, vcs: VCS, history: History) -> None:
        main = vcs.resolve("main")
        assert main is not None and vcs.has_commits() and not vcs.is_bare()
        assert vcs.current_branch() == "main"
        assert vcs.create_branch("feature/x/overseer", main) is True
        tip = history.commit("feature/x/overseer", "a.txt", "a\n", "T001: a")
        assert vcs.create_branch("feature/x/overseer", main) is False  # never moved
        assert vcs.resolve("refs/heads/feature/x/overseer") == tip
        assert vcs.branch_exists("feature/x/overseer") and not vcs.branch_exists("nope")
        assert vcs.list_branches("feature/*/*") == {"feature/x/overseer": tip}
        tips = vcs.branch_tips("feature/*/*")
        assert (
            tips["feature/x/overseer"].commit == tip and tips["feature/x/overseer"].remote is None
        )
        assert sorted(vcs.local_branches()) == ["feature/x/overseer", "main"]
        assert vcs.is_ancestor(main, tip) and not vcs.is_ancestor(tip, main)
        assert vcs.merge_base(main, tip) == main
        assert vcs.resolve("no-such-ref") is None

    def test_commits_and_files(self, vcs: VCS, history: History) -> None:
        main = vcs.resolve("main")
        assert main is not None
        first = history.commit("work", "src/a.py", "x = 1\n", "T001: first")
        second = history.commit("work", "src/a.py", "x = 2\n", "T001 done\n\nbody")
        commits = vcs.new_commits(second, [main])
        assert [(c.commit, c.subject) for c in commits] == [(first, "T001: first"),
                                                              (second, "T001 done")]  # fmt: skip
        assert commits[1].message == "T001 done\n\nbody"
        assert set(vcs.patch_ids([first, second])) == {first, second}
        assert [(c, f) for c, _, f in vcs.files_by_commit(main, second)] == [
            (second, ["src/a.py"]), (first, ["src/a.py"])]  # fmt: skip
        assert vcs.show_file(second, "src/a.py") == "x = 2\n"
        assert vcs.show_file(second, "missing.py") is None
        blob = vcs.blob_id(second, "src/a.py")
        assert blob is not None and vcs.read_blob(blob) == "x = 2\n"
        assert vcs.blob_id(first, "src/a.py") != blob and vcs.blob_id(main, "src/a.py") is None
        assert "src/a.py" in vcs.tracked_files()
        assert vcs.commit_files(second) == ["src/a.py"] and vcs.commit_files("f" * 40) == []

    def test_file_names_come_back_as_stored(self, vcs: VCS, history: History) -> None:
        """Names git would quote or split (non-ASCII, space, tab, newline) stay whole."""
        names = ["café.txt", "a b.txt", "tab\there.txt", "new\nline.txt"]
        tip = ""
        for name in names:
            tip = history.commit("names", name, "x\n", f"add {name!r}")
        assert set(names) <= set(vcs.tracked_files())
        assert vcs.commit_files(tip) == [names[-1]]
        main = vcs.resolve("main")
        assert main is not None
        touched = {f for _, _, files in vcs.files_by_commit(main, tip) for f in files}
        assert set(names) <= touched

    def test_in_memory_merges(self, vcs: VCS, history: History) -> None:
        ours = history.commit("ours", "f.txt", "ours\n", "ours")
        history.checkout("main")
        theirs = history.commit("theirs", "f.txt", "theirs\n", "theirs")
        history.checkout("main")
        other = history.commit("other", "g.txt", "g\n", "other")
        result = vcs.merge_conflicts([(ours, theirs), (ours, other)])
        assert result[(ours, theirs)].conflicted and result[(ours, theirs)].files == ["f.txt"]
        assert not result[(ours, other)].conflicted and result[(ours, other)].error is None

    def test_merge_commit(self, vcs: VCS, history: History) -> None:
        head = history.commit("topic", "t.txt", "t\n", "topic")
        history.checkout("main")
        base = vcs.resolve("main")
        assert base is not None and vcs.recover_interrupted_merge() is False
        vcs.merge_commit(base, head, "Merge topic", pr=1)
        merged = vcs.resolve("main")
        assert merged not in (base, head) and vcs.is_ancestor(head, "main")
        assert vcs.show_file("main", "t.txt") == "t\n"
        assert vcs.operation_in_progress() is None

    def test_ignore_path_once(self, vcs: VCS) -> None:
        assert vcs.ignore_path("/state/", "the tool's state") is True
        assert vcs.ignore_path("/state/", "the tool's state") is False

    def test_hooks_chain_and_restore(self, vcs: VCS) -> None:
        directory = vcs.hooks_dir()
        assert directory.is_absolute()
        before = vcs.hook_status(SETTINGS)
        assert before and not any(s.installed for s in before)
        directory.mkdir(parents=True, exist_ok=True)
        foreign = directory / before[0].hook
        foreign.write_text("#!/bin/sh\nexit 0\n")
        installed = vcs.install_hooks(SETTINGS)
        assert all(s.installed and s.current for s in installed)
        assert [s.chained for s in installed] == [s.hook == before[0].hook for s in installed]
        changed = HookSettings(SETTINGS.command, "work", SETTINGS.main_branch)
        assert not all(s.current for s in vcs.hook_status(changed))  # the naming is in them
        after = vcs.uninstall_hooks(SETTINGS)
        assert not any(s.installed for s in after)
        assert foreign.read_text() == "#!/bin/sh\nexit 0\n"

    def test_worktrees(
        self, vcs: VCS, history: History, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        main = vcs.resolve("main")
        assert main is not None and vcs.create_branch("side", main)
        path = tmp_path_factory.mktemp("trees") / "side"
        vcs.add_worktree(path, "side")
        entries = vcs.worktree_entries()
        assert [e.branch for e in entries] == ["main", "side"]
        assert entries[1].path.resolve() == path.resolve() and not entries[1].missing
        trees = {branch: tree.resolve() for branch, tree in vcs.worktrees().items()}
        assert trees == {"main": entries[0].path.resolve(), "side": path.resolve()}
        import shutil

        shutil.rmtree(path)
        gone = next(e for e in vcs.worktree_entries() if e.branch == "side")
        assert gone.missing and gone.prunable
        vcs.forget_missing_worktree(gone)
        assert [e.branch for e in vcs.worktree_entries()] == ["main"]


__all__ = ["SETTINGS", "History", "VCSContract"]
