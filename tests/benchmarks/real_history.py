"""Conflict prediction against real merges, on a real project's pull requests.

Takes a git repository that holds pull-request heads (``refs/pull/<n>/head``, as a GitHub
mirror has them), picks the newest ``--count`` merged ones, makes each an implementor
branch of one feature (the overseer branch at their common merge base) in a scratch
clone, and compares:

* ``detect-conflicts --json`` (in-memory merges, all pairs at once) with a real
  ``git merge`` of every pair in a scratch worktree: pairs and files, precision/recall;
* the same scan in a fresh ``git clone -b <implementor branch>`` of the scratch
  repository, where the other branches exist only as remote-tracking ones;
* ``check-conflicts --json`` attribution: conflicting files whose commits are listed on
  one side only (the other empty).

    python tests/benchmarks/real_history.py /path/to/repo [--count 16] [--before N] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).parent / "claude-orchestrator")
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_ORCHESTRATOR", "GIT_"))}
ENV.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b",
           GIT_COMMITTER_EMAIL="b@b", GIT_CONFIG_GLOBAL=os.devnull)  # fmt: skip
SPEC = "001-real"


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=check)  # fmt: skip


def cli(cwd: Path, *args: str) -> Any:
    proc = subprocess.run([CLI, *args, "--json"], cwd=cwd, env=ENV, capture_output=True,
                          text=True)  # fmt: skip
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def merged_pull_heads(source: Path, count: int, before: int | None) -> list[tuple[int, str]]:
    """The newest ``count`` pull requests (numbered below ``before``) whose head is in the
    main branch's history."""
    refs = git(source, "for-each-ref", "--format=%(refname) %(objectname)", "refs/pull").stdout
    heads = sorted(((int(r.split("/")[2]), sha) for r, sha in
                    (line.split() for line in refs.splitlines()) if r.endswith("/head")),
                   reverse=True)  # fmt: skip
    main = git(source, "symbolic-ref", "--short", "HEAD").stdout.strip()
    chosen: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, sha in heads:
        if sha in seen or (before is not None and number >= before):
            continue
        if git(source, "merge-base", "--is-ancestor", sha, main, check=False).returncode == 0:
            chosen.append((number, sha))
            seen.add(sha)
        if len(chosen) == count:
            break
    return chosen


def build(source: Path, work: Path, heads: list[tuple[int, str]]) -> tuple[Path, list[str]]:
    repo = work / "repo"
    git(work, "clone", "-q", "--no-checkout", str(source), str(repo))
    base = git(repo, "merge-base", "--octopus", *(sha for _, sha in heads)).stdout.strip()
    git(repo, "checkout", "-q", "-B", "main", base)
    git(repo, "branch", f"feature/{SPEC}/overseer", base)
    branches = []
    for number, sha in heads:
        branch = f"feature/{SPEC}/impl-pr{number}"
        git(repo, "branch", branch, sha)
        branches.append(branch)
    subprocess.run([CLI, "init"], cwd=repo, env=ENV, check=True, capture_output=True)
    areas = ",".join(b.rsplit("impl-", 1)[1] for b in branches)
    subprocess.run([CLI, "events", "add-feature", SPEC, "real history", "--areas", areas],
                   cwd=repo, env=ENV, check=True, capture_output=True)  # fmt: skip
    return repo, [f"feature/{SPEC}/overseer", *branches]


def real_merges(repo: Path, branches: list[str]) -> dict[frozenset[str], frozenset[str]]:
    """Every pair merged for real: pair -> conflicting files (empty when clean)."""
    tree = repo.parent / "merge-tree"
    git(repo, "worktree", "add", "-q", "--detach", str(tree), branches[0])
    result: dict[frozenset[str], frozenset[str]] = {}
    for a, b in itertools.combinations(branches, 2):
        git(tree, "checkout", "-q", "--detach", "-f", a)
        merge = git(tree, "merge", "--no-commit", "--no-ff", "-q", b, check=False)
        files = git(tree, "diff", "--name-only", "--diff-filter=U").stdout.split()
        if merge.returncode != 0 and not files and "unrelated" not in merge.stderr:
            files = ["<merge failed>"]
        result[frozenset((a, b))] = frozenset(files)
        git(tree, "merge", "--abort", check=False)
        git(tree, "reset", "-q", "--hard")
        git(tree, "clean", "-qfdx")
    return result


def predicted(scan: Any) -> dict[frozenset[str], frozenset[str]]:
    found: dict[frozenset[str], frozenset[str]] = {}
    for feature in scan["features"]:
        for c in feature["conflicts"]:
            found[frozenset((c["branch"], c["other_branch"]))] = frozenset(c["files"])
    return found


def compare(real: dict[frozenset[str], frozenset[str]],
            guess: dict[frozenset[str], frozenset[str]]) -> dict[str, Any]:  # fmt: skip
    actual = {p for p, files in real.items() if files}
    said = set(guess)
    hits = actual & said
    same_files = sum(1 for p in hits if guess[p] == real[p])
    return {
        "pairs": len(real), "conflicting": len(actual), "predicted": len(said),
        "precision": round(len(hits) / len(said), 3) if said else 1.0,
        "recall": round(len(hits) / len(actual), 3) if actual else 1.0,
        "same_files": same_files,
    }  # fmt: skip


def one_sided(repo: Path, branches: list[str]) -> tuple[int, int]:
    """(file entries, entries with commits on one side only) over check-conflicts."""
    entries = empty = 0
    for branch in branches[1:]:
        for pair in cli(repo, "check-conflicts", "--branch", branch)["pairs"]:
            for touch in pair["touches"]:
                entries += 1
                empty += not touch["ours"] or not touch["theirs"]
    return entries, empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a git repository with refs/pull/*/head")
    parser.add_argument("--count", type=int, default=16, help="implementor branches")
    parser.add_argument("--before", type=int, help="only pull requests numbered below this")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    heads = merged_pull_heads(args.source.resolve(), args.count, args.before)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo, branches = build(args.source.resolve(), work, heads)
        start = time.perf_counter()
        scan = cli(repo, "detect-conflicts")
        scan_s = time.perf_counter() - start
        start = time.perf_counter()
        real = real_merges(repo, branches)
        real_s = time.perf_counter() - start
        clone = work / "clone"
        git(work, "clone", "-q", "-b", branches[1], str(repo), str(clone))
        subprocess.run([CLI, "init"], cwd=clone, env=ENV, check=True, capture_output=True)
        areas = ",".join(b.rsplit("impl-", 1)[1] for b in branches[1:])
        subprocess.run([CLI, "events", "add-feature", SPEC, "real", "--areas", areas],
                       cwd=clone, env=ENV, check=True, capture_output=True)  # fmt: skip
        fresh = cli(clone, "detect-conflicts")
        entries, empty = one_sided(repo, branches)
    report = {
        "source": str(args.source), "pull_requests": [n for n, _ in heads],
        "scan_seconds": round(scan_s, 2), "real_merge_seconds": round(real_s, 2),
        "scan": compare(real, predicted(scan)),
        "fresh_clone": {"pairs": sum(f["pairs"] for f in fresh["features"]),
                        **compare(real, predicted(fresh))},
        "attribution": {"entries": entries, "one_side_empty": empty},
    }  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
        return
    s, f = report["scan"], report["fresh_clone"]
    print(f"{args.source}: {len(heads)} pull requests as implementors, {s['pairs']} pairs, "
          f"{s['conflicting']} conflicting for real")  # fmt: skip
    print(f"  detect-conflicts: precision {s['precision']}, recall {s['recall']}, same files "
          f"{s['same_files']}/{s['conflicting']}, {report['scan_seconds']} s "
          f"(real merges {report['real_merge_seconds']} s)")  # fmt: skip
    print(f"  fresh clone: {f['pairs']} pairs scanned, precision {f['precision']}, "
          f"recall {f['recall']}")  # fmt: skip
    print(f"  attribution: {empty}/{entries} file entries with one side empty")


if __name__ == "__main__":
    main()
