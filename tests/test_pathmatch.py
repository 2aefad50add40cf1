"""The one path matcher (:mod:`claude_orchestrator.pathmatch`), checked against real git
and against the generated CI scope check run for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, find, given, settings
from hypothesis import strategies as st

from claude_orchestrator.config import Config, default_config, parse_text, validate_data
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.generators.github_actions import implementor_workflow, scope_script
from claude_orchestrator.pathmatch import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    PatternError,
    compile_pattern,
    compile_patterns,
    decide,
)

from .conftest import clean_env

#: The table of path cases, shared by every consumer of the matcher:
#: (patterns, repository-relative file path, whether the patterns match the path).
#: Here each case runs through pathmatch, through git (see GitOracle.decide) and
#: through the generated CI scope check.
PATH_CASES: list[tuple[list[str], str, bool]] = [
    # "**" as a whole segment
    (["src/**"], "src/a/b.py", True),
    (["src/**"], "srcx/a.py", False),
    (["src/**"], "lib/src/a.py", False),
    (["src/**"], "src", False),
    (["a/**/b.py"], "a/b.py", True),
    (["a/**/b.py"], "a/x/y/b.py", True),
    (["a/**/b.py"], "b.py", False),
    (["**/b.py"], "b.py", True),
    (["**/b.py"], "x/y/b.py", True),
    (["**"], "any/thing/at/all", True),
    (["a/**/"], "a/b", False),
    (["a/**/"], "a/b/c", True),
    # no slash: any depth; a slash at the start or in the middle: anchored
    (["*.md"], "docs/deep/a.md", True),
    (["*.md"], "a.md", True),
    (["*.md"], "a.mdx", False),
    (["README.md"], "docs/README.md", True),
    (["/README.md"], "README.md", True),
    (["/README.md"], "docs/README.md", False),
    (["state/impl-*.md"], "state/impl-db.md", True),
    (["state/impl-*.md"], "state/x/impl-db.md", False),
    (["state/impl-*.md"], "x/state/impl-db.md", False),
    # a trailing "/" names a directory; a directory covers its contents
    (["docs/"], "docs/a.txt", True),
    (["docs/"], "lib/docs/a.txt", True),
    (["docs/"], "docs", False),
    (["/docs/"], "lib/docs/a.txt", False),
    (["src/db"], "src/db/x.py", True),
    (["src/db"], "src/db", True),
    (["src/*"], "src/a/b.py", True),
    (["src/*.py"], "src/a/b.py", False),
    (["*"], "a/b/c", True),
    # "*" and "?" stay inside a segment
    (["src/?.py"], "src/a.py", True),
    (["src/?.py"], "src/ab.py", False),
    (["a?b"], "a/b", False),
    (["a*b"], "a/b", False),
    (["a*b"], "axyb", True),
    # bracket expressions
    (["src/[ab].py"], "src/a.py", True),
    (["src/[ab].py"], "src/c.py", False),
    (["src/[!ab].py"], "src/a.py", False),
    (["src/[!ab].py"], "src/c.py", True),
    (["src/[^ab].py"], "src/c.py", True),
    (["src/[a-c].py"], "src/b.py", True),
    (["src/[a-c].py"], "src/d.py", False),
    (["[]x]"], "]", True),
    # escapes
    (["\\*.py"], "*.py", True),
    (["\\*.py"], "a.py", False),
    (["\\#notes"], "#notes", True),
    (["\\!important"], "!important", True),
    (["a\\ "], "a ", True),
    (["x\\[a]"], "x[a]", True),
    (["x\\[a]"], "xa", False),
    # "!" excludes again; the last matching pattern decides
    (["src/**", "!src/secret/**"], "src/secret/key.py", False),
    (["src/**", "!src/secret/**"], "src/ok.py", True),
    (["src/**", "!src/secret/"], "src/secret/deep/key.py", False),
    (["src/", "!src/generated.py"], "src/generated.py", False),
    (["src/", "!src/generated.py"], "src/other.py", True),
    (["src/**", "!src/secret/**", "src/secret/public.txt"], "src/secret/public.txt", True),
    (["!src/a.py", "src/**"], "src/a.py", True),
    (["!src/a.py"], "src/a.py", False),
    (["!src/a.py"], "src/b.py", False),
    ([], "src/a.py", False),
]

#: Patterns refused at config load, with a word of the reason.
MALFORMED: list[tuple[str, str]] = [
    ("", "empty"),
    ("#notes", "comment"),
    ("src ", "trailing spaces"),
    ("src\\", "ends with an unescaped"),
    ("a**", "whole segment"),
    ("**a/b", "whole segment"),
    ("src/**.py", "whole segment"),
    ("src//a", "empty segment"),
    ("src/./x", "'.' and '..'"),
    ("src/../x", "'.' and '..'"),
    ("src/[ab", "closing ']'"),
    ("[a/b]", "'/' inside"),
    ("[b-a]", "backwards"),
    ("[[:alpha:]]", "character classes"),
    ("src\\/a", "cannot be escaped"),
    ("!", "names no path"),
    ("/", "names no path"),
    ("a\tb", "control character"),
    ("a" * (MAX_PATTERN_LENGTH + 1), "longer than"),
]


# ------------------------------------------------------------------------- git oracle
class GitOracle:
    """``git check-ignore`` in an empty repository, with the patterns in an excludes file."""

    def __init__(self, root: Path) -> None:
        self.repo = root / "repo"
        self.excludes = root / "patterns"
        self.env = clean_env(GIT_CONFIG_GLOBAL=os.devnull)
        subprocess.run(["git", "init", "-q", str(self.repo)], check=True, env=self.env)

    def ignored(self, patterns: list[str], paths: list[str]) -> dict[str, bool]:
        """git's verdict on a whole list: ignored when the last pattern that matches the
        path, or a directory above it, is not negated (an ignored directory stays ignored)."""
        self.excludes.write_text("".join(f"{p}\n" for p in patterns), encoding="utf-8")
        result = subprocess.run(
            ["git", "-c", f"core.excludesFile={self.excludes}", "-c", "core.ignoreCase=false",
             "check-ignore", "--no-index", "--verbose", "--non-matching", "-z", "--stdin"],
            cwd=self.repo, env=self.env, input="".join(f"{p}\0" for p in paths),
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        fields = result.stdout.split("\0")[:-1]
        verdicts = {}
        for i in range(0, len(fields), 4):
            _source, _line, pattern, path = fields[i : i + 4]
            verdicts[path] = bool(pattern) and not pattern.startswith("!")
        assert set(verdicts) == set(paths), result.stdout
        return verdicts

    def decide(self, patterns: list[str], paths: list[str]) -> dict[str, bool]:
        """Our rule, with git judging each pattern on its own: it matches a path when git
        ignores the path with that pattern alone (the path itself, or a directory above
        it, matches); the last pattern that matches decides."""
        verdicts = dict.fromkeys(paths, False)
        for pattern in patterns:
            negated = pattern.startswith("!")
            alone = pattern[1:] if negated else pattern
            if alone.startswith(("!", "#")):
                alone = "\\" + alone
            for path, hit in self.ignored([alone], paths).items():
                if hit:
                    verdicts[path] = not negated
        return verdicts


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> GitOracle:
    return GitOracle(tmp_path_factory.mktemp("oracle"))


@pytest.mark.parametrize(("patterns", "path", "expected"), PATH_CASES)
def test_path_cases(oracle: GitOracle, patterns: list[str], path: str, expected: bool) -> None:
    """Each case: pathmatch gives the expected answer, and so does git."""
    assert compile_patterns(patterns).matches(path) is expected
    assert oracle.decide(patterns, [path]) == {path: expected}


def test_git_cannot_re_include_below_an_ignored_directory(oracle: GitOracle) -> None:
    """Why git's verdict on a whole list is not ours (see the pathmatch docstring)."""
    for patterns, path in [
        (["src/**", "!src/secret/**"], "src/secret/key.py"),
        (["src/", "!src/generated.py"], "src/generated.py"),
    ]:
        assert oracle.ignored(patterns, [path]) == {path: True}
        assert oracle.decide(patterns, [path]) == {path: False}
        assert not compile_patterns(patterns).matches(path)


# Patterns and paths from small alphabets, so that they often match.
_ATOMS = ["a", "b", "*", "?", "[ab]", "[!a]", "[a-b]", "\\*"]
_SEGMENTS = st.one_of(
    st.just("**"), st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=3).map("".join)
)


def _valid(pattern: str) -> bool:
    try:
        compile_pattern(pattern)
    except PatternError:
        return False
    return True


PATTERNS = st.builds(
    lambda negated, lead, segments, trail: (
        "!" * negated + "/" * lead + "/".join(segments) + "/" * trail
    ),
    st.booleans(),
    st.booleans(),
    st.lists(_SEGMENTS, min_size=1, max_size=3),
    st.booleans(),
).filter(_valid)
PATHS = st.lists(st.sampled_from(["a", "b", "ab", "ba", "*", "a*b"]), min_size=1, max_size=4).map(
    "/".join
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patterns=st.lists(PATTERNS, min_size=1, max_size=4),
    paths=st.lists(PATHS, min_size=1, max_size=8, unique=True),
)
def test_matches_like_git(oracle: GitOracle, patterns: list[str], paths: list[str]) -> None:
    """Random patterns and paths: pathmatch decides as git does, pattern by pattern; without
    a negated pattern, as git does for the whole list."""
    policy = compile_patterns(patterns)
    verdicts = {path: policy.matches(path) for path in paths}
    assert verdicts == oracle.decide(patterns, paths)
    if not any(pattern.startswith("!") for pattern in patterns):
        assert verdicts == oracle.ignored(patterns, paths)
    for verdict in verdicts.values():
        event(f"matched: {verdict}")


def test_the_strategies_reach_every_outcome() -> None:
    """The property test above sees matches, misses and negations that decide."""
    pairs = st.tuples(st.lists(PATTERNS, min_size=1, max_size=4), PATHS)
    for wanted in (True, False):
        find(
            pairs, lambda pair, wanted=wanted: compile_patterns(pair[0]).matches(pair[1]) is wanted
        )
    find(
        pairs,
        lambda pair: (
            len(pair[0]) > 1
            and pair[0][-1].startswith("!")
            and compile_patterns(pair[0][:-1]).matches(pair[1])
            and not compile_patterns(pair[0]).matches(pair[1])
        ),
    )


# ---------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("pattern", "reason"), MALFORMED)
def test_malformed_patterns_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=re.escape(reason)) as info:
        compile_patterns(["src/**", pattern])
    assert info.value.index == 1 and info.value.pattern == pattern
    assert str(info.value).startswith(f"invalid path pattern {pattern!r}: ")


def test_too_many_patterns_are_refused() -> None:
    compile_patterns([f"f{i}" for i in range(MAX_PATTERNS)])
    with pytest.raises(PatternError, match=f"more than {MAX_PATTERNS} patterns"):
        compile_patterns([f"f{i}" for i in range(MAX_PATTERNS + 1)])


def test_config_load_refuses_malformed_patterns() -> None:
    """The error names the file, line, column and key, and says what is wrong."""
    text = "version: 1\npaths:\n  implementor: ['src/**', 'src/**.py']\n"
    document, positions = parse_text(text, Path("orchestrator.yaml"))
    with pytest.raises(ConfigError) as info:
        validate_data(document, Path("orchestrator.yaml"), positions)
    message = str(info.value)
    assert message.startswith("orchestrator.yaml:3:"), message
    assert "paths.implementor[1]: invalid path pattern 'src/**.py': '**' must be" in message
    text = "version: 1\nimplementors: {areas: [db]}\npaths:\n  areas: {db: ['[ab']}\n"
    document, positions = parse_text(text, Path("orchestrator.yaml"))
    with pytest.raises(ConfigError, match=re.escape("paths.areas.db[0]: invalid path pattern")):
        validate_data(document, Path("orchestrator.yaml"), positions)
    text = "version: 1\npaths:\n  implementor: ['/README.md', 'src/**', '!src/secret/**']\n"
    document, positions = parse_text(text, Path("orchestrator.yaml"))
    config = validate_data(document, Path("orchestrator.yaml"), positions)
    assert config.role_paths("implementor") == ["/README.md", "src/**", "!src/secret/**"]


@pytest.mark.parametrize(
    "pattern",
    ["*a*a*a*a*a*a*a*b", "**/a*/**/a*/**/a*/**/b", "a/**/a/**/a/**/a/**/b/", "*a*/*a*/*a*/c",
     "[!b]*[!b]*[!b]*[!b]*c", "**/**/**/a?*a?*b"],
)  # fmt: skip
def test_matching_never_backtracks_catastrophically(pattern: str) -> None:
    policy = compile_patterns([pattern])
    for path in ("a" * 4000, "/".join(["a"] * 2000), "/".join(["a" * 39] * 100)):
        started = time.perf_counter()
        assert not policy.matches(path)
        assert time.perf_counter() - started < 0.25, (pattern, path[:20])


# ------------------------------------------------------------------ the CI scope check
def _scope_config(areas: dict[str, list[str]]) -> Config:
    data = default_config().to_dict()
    data["implementors"]["areas"] = list(areas)
    data["paths"]["areas"] = areas
    return validate_data(data, Path("orchestrator.yaml"), {})


def _layers(paths: list[str]) -> list[list[str]]:
    """Paths in groups that can share one tree (no path is a directory of another)."""
    layers: list[list[str]] = []
    for path in dict.fromkeys(paths):
        for layer in layers:
            if not any(p.startswith(path + "/") or path.startswith(p + "/") for p in layer):
                layer.append(path)
                break
        else:
            layers.append([path])
    return layers


def _fast_import(commits: dict[str, list[str]], overseers: list[str]) -> str:
    """A fast-import stream: one base commit on every overseer branch (origin's), and a
    commit on top of it per branch that adds the files listed."""

    def quoted(path: str) -> str:
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def data(text: str) -> str:
        return f"data {len(text.encode())}\n{text}\n"

    who = "committer Test <test@example.com> 0 +0000\n"
    stream = f"commit {overseers[0]}\nmark :1\n{who}{data('base')}"
    stream += f"M 100644 inline {quoted('base.txt')}\n{data('base')}\n"
    stream += "".join(f"reset {ref}\nfrom :1\n\n" for ref in overseers[1:])
    for ref, files in commits.items():
        stream += f"commit {ref}\n{who}{data('change')}from :1\n"
        stream += "".join(f"M 100644 inline {quoted(f)}\n{data('x')}" for f in files) + "\n"
    return stream


@pytest.fixture(scope="module")
def scope_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], bool]:
    """{(area, path): allowed} from the generated scope check, run like the workflow runs it.

    Each distinct pattern list of PATH_CASES is an area's paths; each area's paths are
    committed on implementor branches off the overseer branch, and the step's script runs
    with python on each branch in turn."""
    groups = list(dict.fromkeys(tuple(patterns) for patterns, _, _ in PATH_CASES))
    areas = {f"p{i}": list(patterns) for i, patterns in enumerate(groups)}
    step = implementor_workflow(_scope_config(areas))["jobs"]["scope"]["steps"][-1]
    assert step["shell"] == "python3 {0}"
    root = tmp_path_factory.mktemp("scope")
    script = root / "scope.py"
    script.write_text(step["run"], encoding="utf-8")
    branches: dict[str, tuple[str, list[str]]] = {}
    for area, patterns in areas.items():
        paths = [path for p, path, _ in PATH_CASES if tuple(p) == tuple(patterns)]
        for n, layer in enumerate(_layers(paths)):
            branches[f"feature/s{n}/impl-{area}"] = (area, layer)
    specs = sorted({branch.split("/")[1] for branch in branches})
    overseers = [f"refs/remotes/origin/feature/{spec}/overseer" for spec in specs]
    repo = root / "clone.git"
    env = clean_env(GIT_CONFIG_GLOBAL=os.devnull)
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True, env=env)
    commits = {f"refs/heads/{branch}": files for branch, (_, files) in branches.items()}
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=repo, env=env, input=_fast_import(commits, overseers), text=True, check=True,
    )  # fmt: skip
    verdicts = {}
    for branch, (area, files) in branches.items():
        subprocess.run(
            ["git", "update-ref", "--no-deref", "HEAD", f"refs/heads/{branch}"],
            cwd=repo, env=env, check=True,
        )  # fmt: skip
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=repo, capture_output=True, text=True,
            env=clean_env(**{**step["env"], "BRANCH": branch}, GIT_CONFIG_GLOBAL=os.devnull),
        )  # fmt: skip
        lines = result.stdout.splitlines()
        outside = {line[2:] for line in lines if line.startswith("  ")}
        if result.returncode == 0:
            assert f"{len(files)} changed file(s) since" in result.stdout, result.stdout
        else:
            assert result.returncode == 1, result.stdout + result.stderr
            assert lines[0].startswith(f"::error::{len(outside)} changed file(s) outside")
        assert outside <= set(files), result.stdout
        verdicts.update({(area, path): path not in outside for path in files})
    return verdicts


@pytest.mark.parametrize(("patterns", "path", "expected"), PATH_CASES)
def test_ci_scope_check_decides_like_pathmatch(
    scope_verdicts: dict[tuple[str, str], bool], patterns: list[str], path: str, expected: bool
) -> None:
    groups = list(dict.fromkeys(tuple(p) for p, _, _ in PATH_CASES))
    assert scope_verdicts[f"p{groups.index(tuple(patterns))}", path] is expected


_ODD = st.lists(
    st.sampled_from(["a", "\u00e9", "'", '"', "\\\\", "\\'", "[!']", "[\"-']", "[]]", "*", "?",
                     " x", "#", "!", "/", "**/", "\\ "]),
    min_size=1, max_size=6,
).map("".join)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(patterns=st.lists(_ODD.filter(_valid), max_size=4), paths=st.lists(PATHS, max_size=5))
def test_ci_scope_check_carries_the_compiled_patterns(
    patterns: list[str], paths: list[str]
) -> None:
    """Whatever the characters, the script's embedded rules are pathmatch's, unchanged."""
    data = default_config().to_dict()
    data["implementors"]["areas"] = ["x"]
    data["paths"]["areas"] = {"x": patterns}
    namespace: dict[str, Any] = {"__name__": "scope"}
    exec(compile(scope_script(Config(data)), "scope.py", "exec"), namespace)
    policy = compile_patterns(patterns)
    scope = namespace["SCOPES"]["areas"]["x"]
    assert scope["patterns"] == patterns
    assert scope["rules"] == [list(rule) for rule in policy.export()]
    compiled = [(re.compile(source), negated) for source, negated in scope["rules"]]
    assert namespace["decide"] is not decide
    for path in paths:
        assert namespace["decide"](compiled, path) is policy.matches(path)


def test_dot_slash_anchors_like_a_slash() -> None:
    """``./src/**`` (as older configs wrote it) means ``/src/**``; git has no such form,
    so this is ours alone and not in the git-checked table."""
    from claude_orchestrator.pathmatch import compile_patterns

    policy = compile_patterns(["./src/**", "./README.md"])
    assert policy.matches("src/a.py") and policy.matches("README.md")
    assert not policy.matches("lib/src/a.py") and not policy.matches("docs/README.md")


#: the table's cases with a policy that allows something and a file path
SANDBOX_CASES = [c for c in PATH_CASES if c[0] and not c[0][0].startswith("!") and c[1] != "src"]


@pytest.mark.parametrize(("patterns", "path", "expected"), SANDBOX_CASES)
def test_the_guard_and_the_sandbox_agree(patterns: list[str], path: str, expected: bool) -> None:
    """The same table through the guard's write check and the sandbox's denyWrite list:
    a path the policy allows is writable to both, any other tracked path is refused by
    the guard and covered by a denyWrite entry."""
    from claude_orchestrator.config import validate_data
    from claude_orchestrator.generators.claude_permissions import sandbox_deny_write
    from claude_orchestrator.guard import matches

    config = validate_data({"version": 1, "paths": {"implementor": patterns}},
                           Path("orchestrator.yaml"), {})  # fmt: skip
    assert matches(config.role_paths("implementor"), path) == expected
    denied = sandbox_deny_write(config, None, [path])
    covered = any(path == d or path.startswith(d + "/") for d in denied)
    protected = path.startswith(("state/overseer.md", ".claude", ".github/workflows"))
    assert covered == (not expected or protected), (patterns, path, denied)
