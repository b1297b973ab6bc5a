"""``bnnrun-report DIR``: rebuild a sweep's tables, figures and report from its directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bnnrun.cli.main import exit_on_broken_pipe
from bnnrun.errors import BnnrunError, ExitCode


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error in one line on stderr (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        # Escaped: an argument may hold a newline or another control character.
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        print(f"{self.prog}: error: {shown}", file=sys.stderr)
        sys.exit(ExitCode.BAD_INPUT)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``bnnrun-report``."""
    with exit_on_broken_pipe():  # `bnnrun-report ... | head`
        _main(argv)


def _main(argv: Sequence[str] | None = None) -> None:
    """The command, which :func:`main` runs."""
    parser = OneLineParser(
        prog="bnnrun-report",
        description="Rebuild summary.csv, summary_by_config.csv, plots/ and report.html of a "
        "sweep from its job directories (e.g. outputs/multirun/<timestamp>).",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep's directory (hydra.sweep.dir)")
    args = parser.parse_args(argv)
    if not str(args.sweep_dir).isprintable():  # a newline in it would break the one-line error
        parser.error(f"{str(args.sweep_dir)!r} holds characters that are not printable")
    try:
        is_dir = args.sweep_dir.is_dir()
    except OSError as exc:  # e.g. a name longer than the file system allows
        print(f"bnnrun-report: error: {args.sweep_dir}: {exc.strerror}", file=sys.stderr)
        sys.exit(ExitCode.BAD_INPUT)
    if not is_dir:
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
