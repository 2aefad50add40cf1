"""Property tests for input validation and the lean argument parser."""

from __future__ import annotations

import json
import re
import string
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator import validate as v
from claude_orchestrator.errors import ValidationError
from claude_orchestrator.lean import parse

SHELL_META = set(";&|`$(){}<>*?[]!~#'\"\\ \t\n")

# Spec ids: what must be accepted ...
good_spec = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}(\.[a-z0-9-]{1,5}){0,2})?[a-z0-9]\Z")


@given(good_spec)
def test_good_spec_ids_are_accepted(spec: str) -> None:
    if ".." in spec or spec.endswith(".lock") or spec.endswith((".", "-")):
        return
    assert v.check_spec_id(spec) == spec


@given(st.text(max_size=40))
def test_accepted_spec_ids_are_safe_ref_components(value: str) -> None:
    try:
        spec = v.check_spec_id(value)
    except ValidationError as exc:
        assert "invalid spec id" in str(exc) and "\n" not in str(exc)
        return
    assert spec and "/" not in spec and ".." not in spec
    assert not set(spec) & SHELL_META
    assert all(c in string.ascii_lowercase + string.digits + ".-" for c in spec)
    assert not spec.startswith((".", "-")) and not spec.endswith(".lock")


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(good_spec)
def test_accepted_spec_ids_are_valid_for_git(spec: str) -> None:
    try:
        v.check_spec_id(spec)
    except ValidationError:
        return
    ref = f"refs/heads/feature/{spec}/overseer"
    result = subprocess.run(["git", "check-ref-format", ref], capture_output=True)
    assert result.returncode == 0, ref


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "..",
        "a..b",
        "a/b",
        "a b",
        "A1",
        "x;y",
        "$(id)",
        "-x",
        "x-",
        ".x",
        "x.lock",
        "a\x00b",
        "a\nb",
        "`x`",
        "a" * 101,
    ],
)
def test_bad_spec_ids_are_rejected(bad: str) -> None:
    with pytest.raises(ValidationError, match="invalid spec id"):
        v.check_spec_id(bad)


@given(st.text(max_size=30))
def test_roles(value: str) -> None:
    try:
        role = v.check_role(value)
    except ValidationError:
        return
    assert role == "overseer" or re.fullmatch(r"implementor-[a-z][a-z0-9-]*", role)


@given(st.lists(st.from_regex(r"\A[a-z][a-z0-9_]{0,8}(/[a-z0-9_.]{1,8}){0,3}\Z"), min_size=1))
def test_files_lists_round_trip_json_and_commas(paths: list[str]) -> None:
    expected = sorted(set(paths))
    assert v.check_path_list(json.dumps(paths)) == expected
    assert v.check_path_list(", ".join(paths)) == expected


@given(st.text(max_size=30))
def test_files_list_never_accepts_escaping_paths(text: str) -> None:
    try:
        paths = v.check_path_list(text)
    except ValidationError as exc:
        assert "\n" not in str(exc)
        return
    for path in paths:
        assert not path.startswith("/") and ".." not in path.split("/")
        assert not any(ord(c) < 32 for c in path)


@given(st.one_of(st.text(max_size=20), st.integers()))
def test_positive_ids(value: object) -> None:
    try:
        number = v.check_positive_id(value, "conflict")  # type: ignore[arg-type]
    except ValidationError as exc:
        assert "invalid conflict id" in str(exc)
        return
    assert number > 0 and int(str(value).strip()) == number


@given(st.text(max_size=30))
def test_metadata_must_be_an_object(text: str) -> None:
    try:
        data = v.check_metadata(text)
    except ValidationError:
        return
    assert data is None or isinstance(data, dict)


# --------------------------------------------------------------- lean parser
positional = st.text(min_size=1, max_size=8).filter(lambda s: not s.startswith("-"))


@given(
    st.lists(positional, min_size=4, max_size=6),
    st.one_of(st.none(), st.text(max_size=10)),
    st.booleans(),
    st.booleans(),
)
def test_lean_parser_recovers_what_was_given(
    args: list[str], metadata: str | None, as_json: bool, equals: bool
) -> None:
    argv = list(args)
    if metadata is not None:
        argv += [f"--metadata={metadata}"] if equals else ["--metadata", metadata]
    if as_json:
        argv.insert(1, "--json")
    parsed = parse(argv, minimum=4, maximum=6, options={"--metadata", "--db"}, flags={"--json"})
    assert parsed is not None
    assert parsed.positional == args
    assert parsed.options.get("--metadata") == metadata
    assert ("--json" in parsed.flags) == as_json


@pytest.mark.parametrize(
    "argv",
    [
        ["a", "b", "c"],
        ["a", "b", "c", "d", "e", "f", "g"],
        ["a", "b", "c", "d", "--help"],
        ["a", "b", "c", "d", "--nope"],
        ["a", "b", "c", "d", "--metadata"],
        ["-h"],
    ],
)
def test_lean_parser_hands_anything_unusual_to_typer(argv: list[str]) -> None:
    assert parse(argv, minimum=4, maximum=6, options={"--metadata"}, flags={"--json"}) is None


def test_lean_parser_double_dash_allows_dash_messages() -> None:
    parsed = parse(
        ["s", "r", "t", "--", "-starts with dash"], minimum=4, maximum=6, options=set(), flags=set()
    )
    assert parsed is not None and parsed.positional[-1] == "-starts with dash"
