"""Property tests for input validation and the lean argument parser."""

from __future__ import annotations

import json
import string
import subprocess

import pytest
from hypothesis import HealthCheck, assume, given, settings
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


good_areas = st.from_regex(r"\A[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,5}){0,2}\Z")


@given(good_areas)
def test_roles_of_valid_areas_are_accepted(area: str) -> None:
    assert v.check_role(f"implementor-{area}") == f"implementor-{area}"
    assert v.check_role("overseer") == "overseer"


@given(st.one_of(
    good_areas.map(lambda a: f"implementor-{a.upper()}" if a.upper() != a else f"impl-{a}"),
    good_areas.map(lambda a: f"implementor-{a}-"), good_areas.map(lambda a: f"implementor--{a}"),
    good_areas.map(lambda a: f"implementor-{a} "), good_areas.map(lambda a: f"{a}"),
    st.just("implementor-"), st.just("Overseer"), st.just("implementor-" + "a" * 41),
    good_areas.map(lambda a: f"implementor-1{a}"),
))  # fmt: skip
def test_roles_that_break_the_rule_are_refused(value: str) -> None:
    assume(value != "overseer")
    with pytest.raises(ValidationError, match="invalid role"):
        v.check_role(value)


# Path segments: plain names, which are kept, and "." or "" (as in "a/./b", "a//b"),
# which are dropped; ".." is never generated here (see the test after next).
name_segment = st.from_regex(r"\A[a-z0-9_][a-z0-9_.]{0,7}\Z").filter(lambda s: s != "..")
plain_path = st.builds(
    lambda first, rest: "/".join([first, *rest]),
    st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\Z"),
    st.lists(name_segment, max_size=3),
)


@given(st.lists(plain_path, min_size=1))
def test_files_lists_round_trip_json_and_commas(paths: list[str]) -> None:
    expected = sorted(set(paths))
    assert v.check_path_list(json.dumps(paths)) == expected
    assert v.check_path_list(", ".join(paths)) == expected


@given(st.lists(st.one_of(name_segment, st.sampled_from([".", "", ".."])), min_size=1,
                max_size=6))  # fmt: skip
def test_dot_segments_are_normalised_and_dotdot_refused(segments: list[str]) -> None:
    """'.' and empty segments are dropped (a/./b is a/b); '..' is refused, never resolved."""
    path = "/".join(segments)
    kept = [s for s in segments if s not in ("", ".")]
    if not kept or ".." in kept or path.startswith("/"):
        with pytest.raises(ValidationError, match="invalid path") as info:
            v.check_repo_path(path)
        assert "\n" not in str(info.value)
        return
    assert v.check_repo_path(path) == "/".join(kept)
    assert v.check_path_list([path, "/".join(kept)]) == ["/".join(kept)]


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


@given(st.one_of(st.text(max_size=20), st.integers(), st.integers(min_value=2**62)))
def test_positive_ids(value: object) -> None:
    try:
        number = v.check_positive_id(value, "conflict")  # type: ignore[arg-type]
    except ValidationError as exc:
        assert "invalid conflict id" in str(exc)
        return
    assert 0 < number <= 2**63 - 1 and int(str(value).strip()) == number


@given(st.one_of(st.integers(), st.integers(min_value=2**62), st.integers(max_value=-(2**62))))
def test_counts_fit_sqlite_integers(value: int) -> None:
    if 0 <= value < 2**63:
        assert v.check_count(value, "total") == value
    else:
        with pytest.raises(ValidationError, match="give a whole number from 0 to"):
            v.check_count(value, "total")


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_objects = st.dictionaries(st.text(max_size=5), json_scalars, max_size=4)
json_non_objects = json_scalars | st.lists(json_scalars, max_size=3)


@given(json_objects)
def test_metadata_objects_are_accepted(value: dict[str, object]) -> None:
    assert v.check_metadata(json.dumps(value)) == value


@given(json_non_objects.filter(lambda x: x is not None and x != ""))
def test_metadata_must_be_an_object(value: object) -> None:
    with pytest.raises(ValidationError, match="metadata must be a JSON object"):
        v.check_metadata(json.dumps(value))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)  # fmt: skip
#: (JSON text, what the error says): each breaks one rule of strict, bounded metadata
bad_metadata = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]).map(lambda x: (f'{{"a": {x}}}',
                                                                               "JSON")),
    st.sampled_from(["\\ud800", "\\udfff", "x\\udc80y"]).map(lambda x: (f'{{"a": "{x}"}}',
                                                                          "surrogate")),
    st.integers(40, 60_000).map(lambda n: ('{"a": ' + "[" * n + "]" * n + "}", "deeply")),
    st.integers(64 * 1024, 200_000).map(lambda n: (json.dumps({"a": "x" * n}), "bytes long")),
)  # fmt: skip


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_accepted_metadata_is_strict_json(data: dict[str, object]) -> None:
    text = json.dumps(data)
    checked = v.check_metadata(text)
    assert checked == data
    if checked is not None:
        out = json.dumps(checked, allow_nan=False)  # what `events recent --json` prints
        out.encode("utf-8")
        assert json.loads(out) == data


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(bad_metadata)
def test_bad_metadata_is_one_clean_error(case: tuple[str, str]) -> None:
    """Issue #9 items 19, 20, 24: NaN, lone surrogates, deep nesting, > 64 KiB."""
    text, reason = case
    with pytest.raises(ValidationError, match=reason) as info:
        v.check_metadata(text)
    assert "\n" not in str(info.value)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return  # Python's own parser gives up too: no dict to give the API
    with pytest.raises(ValidationError):  # the same data given as a dict, through the API
        v.check_metadata(data)


def test_deep_metadata_dict_through_the_api_is_a_clean_error() -> None:
    data: dict[str, object] = {}
    for _ in range(50_000):
        data = {"a": data}
    with pytest.raises(ValidationError, match="nested too deeply"):
        v.check_metadata(data)


def test_deep_files_list_is_a_clean_error() -> None:
    with pytest.raises(ValidationError, match="malformed files list"):
        v.check_path_list("[" * 50_000 + "]" * 50_000)


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
