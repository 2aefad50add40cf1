"""Debris a killed process leaves (temporary files, scratch directories) is removed by
the next process, by owner, and never a live process's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator import fsutil
from claude_orchestrator.plugins.git_vcs import SCRATCH_ATTRIBUTES, SCRATCH_OBJECTS, GitVCS

from .conftest import git


def tag_of(pid: int) -> str:
    return f"{fsutil._namespace()}-{pid}-{fsutil._start_time(pid)}"


@pytest.fixture
def dead_tag() -> str:
    """The owner tag of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    tag = tag_of(proc.pid)
    proc.kill()
    proc.wait()
    return tag


@pytest.fixture
def live_tag() -> Iterator[str]:
    """The owner tag of a process that is running (not this one)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield tag_of(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_owner_tags_tell_dead_live_and_reused_pids(dead_tag: str, live_tag: str) -> None:
    assert fsutil.owner_alive(fsutil.owner_tag()) is True
    assert fsutil.owner_alive(live_tag) is True
    assert fsutil.owner_alive(dead_tag) is False
    namespace, pid, start = live_tag.split("-")
    assert fsutil.owner_alive(f"{namespace}-{pid}-{int(start) + 1}") is False  # pid reused
    assert fsutil.owner_alive(f"1{namespace}-{pid}-{start}") is None  # another namespace
    assert fsutil.owner_alive("not-a-tag") is None


def test_next_write_removes_temporaries_of_dead_writers_only(
    tmp_path: Path, dead_tag: str, live_tag: str
) -> None:
    target = tmp_path / "tasks.md"
    dead = tmp_path / f".tasks.md.{dead_tag}.ab12cd34.tmp"
    live = tmp_path / f".tasks.md.{live_tag}.ab12cd34.tmp"
    other_target = tmp_path / f".notes.md.{dead_tag}.ab12cd34.tmp"
    old_untagged = tmp_path / ".tasks.md.k2j4h6g8.tmp"  # the names older versions made
    young_untagged = tmp_path / ".tasks.md.q1w2e3r4.tmp"
    foreign = tmp_path / f".tasks.md.{dead_tag}.x.tmp"  # not a name fsutil makes
    for path in (dead, live, other_target, old_untagged, young_untagged, foreign):
        path.write_text("partial")
    stale = time.time() - fsutil.STALE_AFTER - 60
    os.utime(old_untagged, (stale, stale))
    fsutil.atomic_write_text(target, "done\n")
    assert target.read_text() == "done\n"
    assert not dead.exists() and not old_untagged.exists()
    assert live.exists() and young_untagged.exists() and foreign.exists()
    assert other_target.exists()  # swept by the next write of notes.md, not this one
    fsutil.atomic_write_text(tmp_path / "notes.md", "x\n")
    assert not other_target.exists()


def test_a_killed_writer_leaves_a_temporary_the_next_write_removes(tmp_path: Path) -> None:
    target = tmp_path / "tasks.md"
    script = (
        "import os, signal, sys, pathlib\n"
        "from claude_orchestrator import fsutil\n"
        "real = os.replace\n"
        "def die(*a, **k): os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.replace = die\n"
        "fsutil.atomic_write_text(pathlib.Path(sys.argv[1]), 'half\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(target)], check=False)
    assert proc.returncode == -9
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    fsutil.atomic_write_text(target, "whole\n")
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.md"]


def test_scratch_directories_of_dead_scans_are_removed(
    repo: Path, dead_tag: str, live_tag: str
) -> None:
    vcs = GitVCS(repo)
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    places = {SCRATCH_OBJECTS: shm or "", SCRATCH_ATTRIBUTES: ""}
    made: dict[str, Path] = {}
    import tempfile

    for prefix, where in places.items():
        parent = Path(where or tempfile.gettempdir())
        for who, tag in (("dead", dead_tag), ("live", live_tag)):
            path = parent / f"{prefix}{tag}-abcd1234"
            (path / "pack").mkdir(parents=True)
            made[f"{prefix}{who}"] = path
    try:
        head = git(repo, "rev-parse", "HEAD")
        vcs.merge_conflicts([(head, head)])
        for prefix in places:
            assert not made[f"{prefix}dead"].exists()
            assert made[f"{prefix}live"].exists()
    finally:
        import shutil

        for path in made.values():
            shutil.rmtree(path, ignore_errors=True)
