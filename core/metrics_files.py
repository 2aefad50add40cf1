"""``metrics report`` and ``metrics plot``: the feature's figures (:mod:`.metrics`) drawn
(:mod:`.metrics_plot`) and put in one HTML page (:mod:`.metrics_report`), written to
disk by write-then-rename."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ValidationError

if TYPE_CHECKING:
    from .api import Orchestrator

#: the groupings the report shows, in order
REPORT_GROUPINGS = ("agent", "task", "pr", "day")


def write_plots(orch: Orchestrator, spec_id: str, out_dir: Path, fmt: str) -> list[Path]:
    """Draw the feature's three plots into ``out_dir`` (created); the files written."""
    from . import metrics
    from .metrics_plot import write_plots as draw

    spec_id = orch.feature(spec_id).spec_id
    points = metrics.cost_points(orch, spec_id)
    flow = metrics.flow(orch, spec_id)
    return draw(out_dir, spec_id, points, metrics.burn_down(orch, spec_id), flow.tasks, fmt=fmt)


def write_report(orch: Orchestrator, spec_id: str, out_file: Path) -> Path:
    """Write the feature's self-contained HTML report to ``out_file``."""
    from . import metrics
    from .fsutil import atomic_write_text
    from .metrics_report import render

    spec_id = orch.feature(spec_id).spec_id
    shown = str(out_file)[:200]
    try:
        if out_file.is_dir():
            raise ValidationError(f"--out {shown}: a folder; name the HTML file to write")
        if not out_file.parent.is_dir():
            raise ValidationError(f"--out {shown}: no folder {out_file.parent}; create it first")
    except OSError as exc:
        raise ValidationError(f"--out {shown!r}: {exc.strerror or exc}; name a shorter path "
                              "to an HTML file") from None  # fmt: skip
    costs = {by: metrics.costs(orch, spec_id, by) for by in REPORT_GROUPINGS}
    page = render(spec_id, costs, metrics.flow(orch, spec_id), metrics.cost_points(orch, spec_id),
                  metrics.burn_down(orch, spec_id), generated_at=metrics.now_text())  # fmt: skip
    try:
        atomic_write_text(out_file, page)
    except OSError as exc:
        raise ValidationError(f"--out {shown}: cannot write it: {exc.strerror or exc}") from None
    return out_file
