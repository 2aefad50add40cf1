"""The git plugin's ``info/exclude`` edit (``init-feature`` ignores ``/state/`` there):
whatever the file held, it is kept, the pattern is added once, and a second call adds
nothing."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator.plugins.git_vcs import GitVCS

from .conftest import make_repo

#: what ends a line for str.splitlines (and so for the edit)
LINE_ENDS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
#: lines a user may have in info/exclude: never the pattern itself
LINES = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters=LINE_ENDS), max_size=20).filter(
        lambda line: line != "/state/"
    ),
    max_size=5,
)


@settings(max_examples=40)
@given(lines=LINES, final_newline=st.booleans())
def test_ignore_path_keeps_what_was_there(lines: list[str], final_newline: bool) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = make_repo(Path(scratch) / "repo")
        exclude = root / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        before = "\n".join(lines) + ("\n" if final_newline and lines else "")
        exclude.write_text(before, encoding="utf-8", newline="")
        vcs = GitVCS(root, root / ".git")
        assert vcs.ignore_path("/state/", "state files") is True
        after = exclude.read_text(encoding="utf-8")
        assert after.startswith(before)
        assert after.splitlines().count("/state/") == 1 and after.endswith("/state/\n")
        assert after.splitlines()[-2] == "# state files"
        assert vcs.ignore_path("/state/", "state files") is False
        assert exclude.read_text(encoding="utf-8") == after


def test_outside_a_repository_nothing_is_written(tmp_path: Path) -> None:
    assert GitVCS(tmp_path, None).ignore_path("/state/", "state files") is False
    assert list(tmp_path.iterdir()) == []
