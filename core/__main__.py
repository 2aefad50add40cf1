"""Console entry point: ``claude-orchestrator`` and ``python -m claude_orchestrator``."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from .lean import try_run

    code = try_run(args)
    if code is None:
        from .cli import run

        code = run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
