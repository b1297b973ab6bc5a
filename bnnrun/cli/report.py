"""``bnnrun-report DIR``: rebuild a sweep's tables, figures and report from its directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bnnrun.errors import BnnrunError, ExitCode


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``bnnrun-report``."""
    parser = argparse.ArgumentParser(
        prog="bnnrun-report",
        description="Rebuild summary.csv, summary_by_config.csv, plots/ and report.html of a "
        "sweep from its job directories (e.g. outputs/multirun/<date>/<time>).",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep's directory (hydra.sweep.dir)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"bnnrun-report: error: {args.sweep_dir} is not a directory", file=sys.stderr)
        sys.exit(ExitCode.BAD_INPUT)
    from bnnrun.sweep.aggregate import aggregate

    try:
        result = aggregate(args.sweep_dir)
    except BnnrunError as exc:
        print(f"bnnrun-report: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    counts = result.summary.runs["status"].value_counts()
    print(
        f"{result.report}: {len(result.summary.runs)} runs ("
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + ")"
    )


if __name__ == "__main__":
    main()
