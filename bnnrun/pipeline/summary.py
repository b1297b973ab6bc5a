"""What the end of a run says about it: a few lines built from its ``metrics.json`` record.

Pure formatting, no I/O: :func:`summary_lines` takes the record and the names of the files in
the run directory; the CLI logs the lines (to the console and ``bnnrun.log``), and a sweep
reports each finished job's :func:`headline`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The headline metrics, as (metrics.json key, label, digits), in the order shown: a run shows
#: those its record has (classification: accuracy, NLL, ECE; regression: RMSE, NLL and the
#: test points' coverage of the central 90% predictive interval).
HEADLINE = (
    ("accuracy", "accuracy", 3),
    ("rmse", "RMSE", 4),
    ("nll", "NLL", 4),
    ("ece", "ECE", 3),
    ("coverage_90", "90% coverage", 3),
)
#: The one file to open first, by preference: the 2-D classification map, the 1-D regression
#: band (in any of the figure formats, ``analysis.figure_format``), else the record itself.
FIRST_FILES = ("predictive_std", "predictive_bands")
#: The suffixes a figure may have.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
#: Stages faster than this are left out of the time line (they all count in the total).
MIN_STAGE_SECONDS = 0.05


def _number(value: Any, digits: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def headline(record: Mapping[str, Any]) -> str:
    """The headline metrics of a run's record, e.g. ``"accuracy 0.917, NLL 0.2450, ECE
    0.041"``; ``""`` if it has none (a failed run)."""
    return ", ".join(
        f"{label} {_number(record[key], digits)}"
        for key, label, digits in HEADLINE
        if key in record
    )


def stage_times(stage_seconds: Mapping[str, float], total: float | None = None) -> str:
    """``stage_seconds`` (stage -> wall seconds, in the order they ran) in one line, e.g.
    ``"data 0.1 s, fit 12.1 s, predict 0.8 s (total 13.0 s)"``; stages under
    :data:`MIN_STAGE_SECONDS` are left out. ``total`` defaults to the stages' sum."""
    shown = [f"{name} {s:.1f} s" for name, s in stage_seconds.items() if s >= MIN_STAGE_SECONDS]
    total = sum(stage_seconds.values()) if total is None else total
    return f"{', '.join(shown) or 'no stage'} (total {total:.1f} s)"


def first_file(files: Iterable[str]) -> str:
    """The file of a run directory to open first: the first of :data:`FIRST_FILES` among
    ``files`` (names in the directory; a figure in any format), else ``metrics.json``."""
    present = set(files)
    names = (stem + suffix for stem in FIRST_FILES for suffix in FIGURE_SUFFIXES)
    return next((name for name in names if name in present), "metrics.json")


def summary_lines(record: Mapping[str, Any], run_dir: Path, files: Iterable[str]) -> list[str]:
    """The lines that end a run: its status and headline metrics (or its error), the wall
    time by stage, and the absolute run directory with the file to open first.

    Args:
        record: the run's ``metrics.json``.
        run_dir: the run directory (made absolute here).
        files: names of the files in ``run_dir``.
    """
    status = record.get("status", "unknown")
    first = f"run {status}"
    if metrics := headline(record):
        first += f": {metrics}"
    lines = [first]
    if record.get("error"):
        lines.append(f"error: {record['error']}")
    if record.get("stage_seconds"):
        lines.append(f"time: {stage_times(record['stage_seconds'], record.get('total_seconds'))}")
    run_dir = Path(run_dir).absolute()
    lines.append(f"results: {run_dir} (open {first_file(files)} first)")
    return lines
