"""The CI contract suite run against the built-in github-actions plugin, and shown to
catch broken CI plugins: impure, escaping the repository, writing, not plain data."""

from __future__ import annotations

import json
import ntpath
import os
import posixpath
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.testing_ci import (
    CIContract,
    CIFactory,
    build,
    check_documents,
    check_paths,
    check_pure,
    config_for,
    context_for,
    data_problem,
    generated,
    path_problem,
)

pytest_plugins = ["pytester"]


class TestGitHubActions(CIContract):
    @pytest.fixture
    def factory(self) -> CIFactory:
        """What the built-in plugin registers, found as ``generate`` finds it."""
        return PluginRegistry(entrypoints=False).get("ci", "github-actions").factory


# --------------------------------------------------------------- broken CI plugins
class Fixed:
    """A CI whose documents are given; the variants below break one promise each."""

    documents: ClassVar[dict[str, Any]] = {".ci/pipeline.yml": {"jobs": {"run": "pytest"}}}

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def generate(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.documents))


def fixed(documents: dict[str, Any]) -> CIFactory:
    return type("Broken", (Fixed,), {"documents": documents})


class Counting(Fixed):
    calls = 0

    def generate(self) -> dict[str, Any]:
        Counting.calls += 1
        return {".ci/pipeline.yml": {"build": Counting.calls}}


SHARED: dict[str, Any] = {"steps": ["lint", "test"]}


class Shared(Fixed):
    def generate(self) -> dict[str, Any]:
        return {".ci/pipeline.yml": SHARED}  # the caller's changes reach the next call


class Writing(Fixed):
    def generate(self) -> dict[str, Any]:
        (self.context.root / "side-effect.txt").write_text("written by generate\n")
        return super().generate()


class WritingHere(Fixed):
    def generate(self) -> dict[str, Any]:
        Path("here.txt").write_text("relative to the current directory\n")
        return super().generate()


class ChangingConfig(Fixed):
    def generate(self) -> dict[str, Any]:
        self.context.config.data["ci"]["python"] = "3.9"
        return super().generate()


class WithASet(Fixed):
    def generate(self) -> dict[str, Any]:
        return {".ci/pipeline.yml": {"branches": {"main", "dev"}}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    return tmp_path / "repo"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "cwd"


def documents_of(factory: CIFactory, root: Path) -> dict[str, Any]:
    return generated(build(factory, context_for(config_for({}), root)))


def test_a_well_behaved_ci_passes(root: Path, cwd: Path) -> None:
    """The baseline the broken variants differ from in one point each."""
    documents = documents_of(Fixed, root)
    check_paths(documents, root, config_for({}))
    check_documents(documents)
    check_pure(Fixed, context_for(config_for({}), root), cwd)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../x.yml", "leaves the repository"),
        ("ci/../../x.yml", "leaves the repository"),
        ("/etc/x.yml", "is absolute"),
        ("C:/ci/x.yml", "colon"),
        ("ci/x.yml:stream", "colon"),
        ("ci\\x.yml", "backslash"),
        (".git/hooks/post-commit", "is inside .git"),
        ("sub/.GIT/config", "is inside .git"),
        ("ci//x.yml", "not normalised"),
        ("./x.yml", "not normalised"),
        ("ci/", "not normalised"),
        ("", "is empty"),
        ("x\n.yml", "control character"),
        (".claude/permissions-overseer.json", "a file `generate` writes itself"),
        (".orchestrator-generated.json", "a file `generate` writes itself"),
    ],
)
def test_unsafe_paths_fail_the_contract(root: Path, path: str, problem: str) -> None:
    documents = documents_of(fixed({path: {"on": "push"}}), root)
    with pytest.raises(AssertionError, match=re.escape(problem)):
        check_paths(documents, root, config_for({}))


@pytest.mark.parametrize(
    ("documents", "problem"),
    [
        ({"README.md": {"title": "x"}}, "a dict is written as YAML or JSON"),
        ({".ci/settings.json": "{}"}, "give a .json file as a dict"),
        ({".ci/pipeline.yml": 42}, "a int document"),
        ({".ci/pipeline.yml": "jobs: [unclosed"}, "as written does not parse"),
    ],
)
def test_documents_the_writer_cannot_write_fail_the_contract(
    root: Path, documents: dict[str, Any], problem: str
) -> None:
    with pytest.raises(AssertionError, match=re.escape(problem)):
        check_documents(documents_of(fixed(documents), root))


def test_documents_that_are_not_plain_data_fail_the_contract(root: Path) -> None:
    with pytest.raises(AssertionError, match=r"\['branches'\] is a set"):
        check_documents(documents_of(WithASet, root))


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        (Counting, "different documents for the same config"),
        (Shared, "different documents for the same config"),
        (Writing, "wrote in the repository"),
        (WritingHere, "wrote in the current directory"),
        (ChangingConfig, "changed the configuration"),
    ],
)
def test_impure_cis_fail_the_contract(
    root: Path, cwd: Path, factory: Callable[[PluginContext], Fixed], problem: str
) -> None:
    with pytest.raises(AssertionError, match=problem):
        check_pure(factory, context_for(config_for({}), root), cwd)


def test_the_whole_suite_fails_a_broken_plugin(pytester: pytest.Pytester) -> None:
    """Run as a plugin author runs it: the suite's own tests fail, each for its reason."""
    pytester.makepyfile(
        test_broken="""
        import pytest
        from claude_orchestrator.testing_ci import CIContract

        class Escaping:
            calls = 0
            def __init__(self, context):
                pass
            def generate(self):
                Escaping.calls += 1
                return {"../outside.yml": {"n": Escaping.calls}}

        class TestEscaping(CIContract):
            @pytest.fixture
            def factory(self):
                return Escaping
        """
    )
    result = pytester.runpytest_inprocess("-q")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        ["FAILED *::test_paths_are_safe - *", "FAILED *::test_generate_is_pure - *"]
    )
    result.stdout.fnmatch_lines(["E * generate() path '../outside.yml' leaves the repository *"])
    result.stdout.fnmatch_lines(["E * generate() gave different documents for the same config"])


# -------------------------------------------------------------- the checks themselves
segment = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="/\\:"),
    min_size=1,
).filter(lambda s: s not in (".", "..") and s.casefold() != ".git")
safe_path = st.lists(segment, min_size=1, max_size=4).map("/".join)


@given(safe_path)
def test_safe_paths_are_accepted(path: str) -> None:
    assert path_problem(path) is None


UNSAFE_FORMS = ["../{}", "{}/..", "/{}", "{}//x", "./{}", "{}/", "a\\{}", ".git/{}",
                "{}/.Git/x", "C:{}", "{}:x", "{}\x00", "{}/\x7f"]  # fmt: skip


@given(safe_path, st.sampled_from(UNSAFE_FORMS))
def test_an_unsafe_form_of_any_path_is_refused(path: str, form: str) -> None:
    assert path_problem(form.format(path)) is not None


@given(st.text(st.sampled_from("ab./\\:C\x00 "), max_size=12))
def test_every_accepted_path_stays_inside_on_posix_and_windows(path: str) -> None:
    """Whatever is accepted names a file below the root by either system's rules."""
    if path_problem(path) is not None:
        return
    for flavour, pure in ((posixpath, PurePosixPath), (ntpath, PureWindowsPath)):
        root = flavour.join(flavour.sep, "repo")
        joined = flavour.normpath(flavour.join(root, path))
        assert joined.startswith(root + flavour.sep) and not pure(path).is_absolute()
    assert os.path.normpath(path) == path.replace("/", os.sep)


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)  # fmt: skip
not_plain = st.sampled_from([{1, 2}, (1, 2), b"x", float("nan"), float("inf"), object()])


@given(plain)
def test_plain_data_is_accepted(value: object) -> None:
    assert data_problem(value) is None


@given(plain, not_plain, st.sampled_from(["list", "dict", "key"]))
def test_anything_else_anywhere_is_found(value: object, bad: object, how: str) -> None:
    if how == "list":
        wrapped: object = [value, [bad]]
    elif how == "dict":
        wrapped = {"a": value, "b": {"c": bad}}
    else:
        wrapped = {"a": {1: value}}
    assert data_problem(wrapped) is not None
