"""The README's Quick start: its first command's script, the whole loop on a scratch
repository, with the installed command (the test command installs the package)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import clean_env

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "quickstart.sh"


def test_the_quick_start_runs_to_its_end(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "demo")], env=clean_env(),
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert "$ claude-orchestrator generate --check" in result.stdout + result.stderr
    assert "Event store:" in result.stdout
