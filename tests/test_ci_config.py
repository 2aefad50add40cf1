"""Validation of the ``ci`` keys, by property: what the schema accepts reaches the
workflows as exactly that value (shell words included), and what it refuses is one line
that names the key."""

from __future__ import annotations

import re
import shlex
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.config import Config, validate_data
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.generators.github_actions import implementor_workflow, overseer_workflow

PATH = Path("orchestrator.yaml")
HEX = "0123456789abcdef"
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_ci(ci: dict[str, Any]) -> Config:
    return validate_data({"version": 1, "ci": ci}, PATH, {})


def refused(ci: dict[str, Any], key: str) -> str:
    """The one-line error for ``ci``, which names ``ci.<key>`` (``ci`` alone: "")."""
    with pytest.raises(ConfigError) as info:
        load_ci(ci)
    message = str(info.value)
    assert message.startswith("orchestrator.yaml") and "\n" not in message
    assert (f"ci.{key}" if key else "ci: ") in message, message
    return message


# ------------------------------------------------------------------------ strategies
alnum = st.sampled_from(string.ascii_letters + string.digits)
names = (
    st.builds(
        lambda first, middle, last: first + middle + last,
        alnum,
        st.text(string.ascii_letters + string.digits + "._-", max_size=12),
        alnum,
    )
    | alnum
)
versions = st.lists(st.integers(0, 999), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
hashes = st.text(HEX, min_size=64, max_size=64)
hosts = st.lists(
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8), min_size=1, max_size=3
).map(".".join)
url_paths = st.lists(
    st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=10),
    min_size=1,
    max_size=3,
).map("/".join)


def fmt(template: str, **parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Strings ``template.format(**drawn parts)``."""
    return st.builds(lambda **drawn: template.format(**drawn), **parts)


commits = st.text(HEX, min_size=40, max_size=40)
hash_options = st.lists(hashes, min_size=1, max_size=3).map(
    lambda hs: " ".join(f"--hash=sha256:{h}" for h in hs)
)
pinned_tools = st.one_of(
    fmt("{n}=={v}", n=names, v=versions),
    fmt("{n}=={v} {hs}", n=names, v=versions, hs=hash_options),
    fmt("git+https://{h}/{p}@{c}", h=hosts, p=url_paths, c=commits),
    fmt("https://{h}/{p}-1.0-py3-none-any.whl#sha256={d}", h=hosts, p=url_paths, d=hashes),
)
# Unpinned by construction: no ==, a range or a wildcard, a branch or tag where the
# commit goes, no commit, a wheel without its hash or with a short one, shell after it.
refs = st.text(string.ascii_lowercase + string.digits + "./-", min_size=1, max_size=20).filter(
    lambda ref: re.fullmatch("[0-9a-f]{40}", ref) is None
)
operators = st.sampled_from([">=", "~=", "<", "!=", "==="])
tails = st.sampled_from(["; rm -rf ~", "\n", " x", "'", "$(id)"])
unpinned_tools = st.one_of(
    names,
    fmt("{n}{op}{v}", n=names, op=operators, v=versions),
    fmt("{n}=={v}.*", n=names, v=versions),
    fmt("git+https://{h}/{p}@{r}", h=hosts, p=url_paths, r=refs),
    fmt("git+https://{h}/{p}", h=hosts, p=url_paths),
    fmt("https://{h}/{p}.whl", h=hosts, p=url_paths),
    fmt("https://{h}/{p}.whl#sha256={d}", h=hosts, p=url_paths, d=st.text(HEX, max_size=63)),
    fmt("{n}=={v}{t}", n=names, v=versions, t=tails),
)
specifiers = st.builds(
    lambda op, v: op + v, st.sampled_from(["==", ">=", "<=", "~=", "!=", "<", ">"]), versions
)
requirements = st.builds(
    lambda n, extras, specs: n + (f"[{','.join(extras)}]" if extras else "") + ",".join(specs),
    names,
    st.lists(names, max_size=2),
    st.lists(specifiers, max_size=2),
)
not_requirements = st.one_of(
    st.builds(
        lambda r, s: r + s,
        requirements,
        st.sampled_from([" ", ";x", "\n", "'", "$(id)", " @ https://x/y"]),
    ),
    st.builds(
        lambda s, r: s + r,
        st.sampled_from(["-r ", "--index-url=", "-e", ".", "/", "./"]),
        requirements,
    ),
)


def install_words(config: Config) -> list[list[str]]:
    """The argument lists of every ``pip install`` line the workflows run."""
    lines = []
    for workflow in (implementor_workflow(config), overseer_workflow(config)):
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                for line in step.get("run", "").splitlines():
                    if line.startswith("pip install") or line.startswith("printf"):
                        lines.append(shlex.split(line))
    return lines


# ----------------------------------------------------------------------------- tool
@SETTINGS
@given(pinned_tools)
def test_pinned_tools_are_accepted_and_reach_pip_as_one_word(tool: str) -> None:
    config = load_ci({"tool": tool})
    assert config.ci["tool"] == tool
    words = install_words(config)
    requirement, *hashed = tool.split(" ")
    if hashed:
        assert ["printf", "%s\\n", tool, ">", "$requirements"] in words
        assert ["pip", "install", requirement] in words
    else:
        assert ["pip", "install", tool] in words


@SETTINGS
@given(unpinned_tools)
def test_unpinned_tools_are_refused(tool: str) -> None:
    message = refused({"tool": tool}, "tool")
    assert "NAME==X.Y.Z" in message and "git+https://HOST/PATH@<40-hex commit>" in message


# -------------------------------------------------------------------------- install
@SETTINGS
@given(st.lists(requirements, unique=True, max_size=4))
def test_requirements_are_accepted_and_installed_word_for_word(install: list[str]) -> None:
    config = load_ci({"install": install})
    assert config.ci["install"] == install
    tools = [w for w in install_words(config) if w[2:] == install]
    # the two implementor command jobs and the three overseer ones
    assert len(tools) == (5 if install else 0)


@SETTINGS
@given(st.lists(requirements, unique=True, max_size=2), not_requirements)
def test_anything_but_a_requirement_is_refused(good: list[str], bad: str) -> None:
    assert "ci.install[" in refused({"install": [*good, bad]}, "install")


def test_install_lists_each_requirement_once() -> None:
    assert "lists the same item twice" in refused({"install": ["ruff", "ruff"]}, "install")


# ---------------------------------------------------------------- the other ci keys
@SETTINGS
@given(st.integers(0, 99))
def test_python_versions(minor: int) -> None:
    config = load_ci({"python": f"3.{minor}"})
    step = implementor_workflow(config)["jobs"]["unit"]["steps"][1]
    assert step["with"] == {"python-version": f"3.{minor}"}


@SETTINGS
@given(st.text(max_size=6).filter(lambda t: re.fullmatch(r"3\.[0-9]+", t) is None))
def test_other_python_versions_are_refused(text: str) -> None:
    refused({"python": text}, "python")


commands = st.text(string.printable, min_size=1, max_size=30)
OPTIONAL = ["build", "typecheck", "audit", "deploy_preview"]


@SETTINGS
@given(st.sampled_from(OPTIONAL), st.none() | commands, commands)
def test_commands_run_as_written(key: str, command: str | None, setup: str) -> None:
    config = load_ci({key: command, "setup": setup})
    runs = [
        step["run"]
        for workflow in (implementor_workflow(config), overseer_workflow(config))
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    assert setup in runs
    assert (command in runs) == (command is not None)


@SETTINGS
@given(
    st.sampled_from([*OPTIONAL, "setup"]),
    st.just("") | st.integers() | st.lists(commands, max_size=1),
)
def test_commands_are_non_empty_strings(key: str, value: object) -> None:
    refused({key: value}, key)


@SETTINGS
@given(st.lists(st.sampled_from(["postgres", "redis"]), unique=True))
def test_services(services: list[str]) -> None:
    integration = overseer_workflow(load_ci({"services": services}))["jobs"]["integration"]
    assert list(integration.get("services", {})) == services


@SETTINGS
@given(
    st.lists(st.sampled_from(["postgres", "redis"]), min_size=1, max_size=2),
    st.text(string.ascii_lowercase, min_size=1, max_size=8).filter(
        lambda s: s not in ("postgres", "redis")
    ),
)
def test_unknown_or_repeated_services_are_refused(services: list[str], other: str) -> None:
    refused({"services": [*services, other]}, "services")
    refused({"services": [*services, services[0]]}, "services")


def test_unknown_ci_keys_are_refused() -> None:
    assert "ci: unknown key 'extras'" in refused({"extras": ["test"]}, "")
