"""``bnnrun-compare RUN_A RUN_B``: how far apart two runs' posterior predictives are.

Both runs predict the same inputs (the test split, the training split, or the 2-D grid of the
uncertainty maps). At each input x, with p_A(. | x) and p_B(. | x) the posterior predictive
means over each run's draws (SVI: fresh guide draws; NUTS: its samples):

- ``|dp|(x) = 1/2 sum_c |p_A(c | x) - p_B(c | x)|``, the total variation distance; with two
  classes it is ``|p_A(1 | x) - p_B(1 | x)|``. Reported as its mean and max over inputs.
- ``KL(p_A || p_B)(x) = sum_c p_A(c | x) log(p_A(c | x) / p_B(c | x))``, its mean and max over
  inputs, and the mean of the reverse KL(p_B || p_A).

``bnnrun-compare --loo RUN_A RUN_B [RUN ...]`` ranks runs fitted to the same training data by
ELPD-LOO instead (PSIS-LOO over their training points,
:func:`bnnrun.pipeline.compare.compare_loo`), prints the table and writes it as CSV.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bnnrun.analysis.compare import INPUTS
from bnnrun.cli.main import exit_on_broken_pipe
from bnnrun.errors import BnnrunError, ExitCode

#: Seeds of the guide draws: JAX's PRNGKey takes any, but bnnrun's seeds are NumPy's range.
SEED_MAX = 2**32 - 1


def _unwritable(path: Path) -> str | None:
    """Why the JSON cannot be written to ``path`` (a new file, or one replaced), or None."""
    try:
        if path.is_dir():
            return "is a directory; give a file name"
        parent = path.parent
        if not parent.is_dir():
            return f"its folder {parent} does not exist"
    except OSError as exc:  # e.g. a name longer than the file system allows
        return str(exc.strerror)
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"its folder {parent} is not writable"
    if len(path.name.encode()) > 255:
        return "the file name is longer than the file system allows"
    return None


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error in one line on stderr (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        # Escaped: an argument may hold a newline or another control character.
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        print(f"{self.prog}: error: {shown}", file=sys.stderr)
        sys.exit(ExitCode.BAD_INPUT)


#: Where ``--loo`` writes its table unless ``--output`` says.
LOO_CSV = "loo_compare.csv"


def main_loo(argv: Sequence[str]) -> int:
    """``bnnrun-compare --loo RUN_A RUN_B [RUN ...]``: print the runs ranked by ELPD-LOO
    (ArviZ's compare table) and write the table as CSV."""
    parser = OneLineParser(
        prog="bnnrun-compare --loo",
        description="Rank finished runs fitted to the same training data by ELPD-LOO "
        "(PSIS-LOO over each run's log_likelihood of its training points in posterior.nc, "
        "ArviZ's compare); print the table and write it as CSV.",
    )
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="finished run dirs")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(LOO_CSV),
        help=f"the table as CSV (default: {LOO_CSV})",
    )
    args = parser.parse_args(argv)
    for path in (*args.runs, args.output):
        if not str(path).isprintable():  # a newline would break the line
            parser.error(f"{str(path)!r} holds characters that are not printable")
    if len(args.runs) < 2:
        parser.error("--loo needs at least two runs to rank")
    if problem := _unwritable(args.output):
        print(f"bnnrun-compare: error: --output {args.output}: {problem}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    from bnnrun import rundir
    from bnnrun.pipeline.compare import compare_loo

    try:
        table = compare_loo(args.runs)
    except BnnrunError as exc:
        print(f"bnnrun-compare: error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        rundir.write_csv(args.output, table.reset_index(names="run"))
    except OSError as exc:  # the path changed since the check above
        print(f"bnnrun-compare: error: --output {args.output}: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(table.to_string())
    print(f"written to {args.output}")
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``bnnrun-compare``; prints the comparison as JSON."""
    with exit_on_broken_pipe():  # `bnnrun-compare ... | head`
        return _main(argv)


def _main(argv: Sequence[str] | None = None) -> int:
    """The command, which :func:`main` runs."""
    args_given = list(sys.argv[1:] if argv is None else argv)
    if "--loo" in args_given:  # another command: any number of runs, a table
        return main_loo([a for a in args_given if a != "--loo"])
    parser = OneLineParser(
        prog="bnnrun-compare",
        description="Distance between two finished runs' posterior predictive distributions: "
        "mean and max |dp| (total variation) and KL(A || B) over the same inputs.",
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="a finished run directory")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="a finished run directory")
    parser.add_argument("--inputs", choices=INPUTS, default="test", help="default: test")
    parser.add_argument(
        "--num-samples",
        type=int,
        default=None,
        help="posterior draws per run (default: each run's own; NUTS: all its samples)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the SVI guide draws")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--loo",
        action="store_true",
        help="rank two or more runs by ELPD-LOO instead: --loo RUN_A RUN_B [RUN ...]",
    )
    args = parser.parse_args(argv)
    for path in (args.run_a, args.run_b, args.output):
        if path is not None and not str(path).isprintable():  # a newline would break the line
            parser.error(f"{str(path)!r} holds characters that are not printable")
    if args.num_samples is not None and args.num_samples < 1:
        parser.error("--num-samples must be >= 1")
    if not 0 <= args.seed <= SEED_MAX:
        parser.error(f"--seed must be an integer in [0, {SEED_MAX}]")
    if args.output is not None and (problem := _unwritable(args.output)):
        print(f"bnnrun-compare: error: --output {args.output}: {problem}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    from bnnrun import rundir
    from bnnrun.pipeline.compare import compare_runs
    from bnnrun.runtime import configure_jax

    configure_jax()
    try:
        result = compare_runs(
            args.run_a,
            args.run_b,
            inputs=args.inputs,
            num_samples=args.num_samples,
            seed=args.seed,
        )
    except BnnrunError as exc:
        print(f"bnnrun-compare: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.output is not None:
        try:
            rundir.write_json(args.output, result)
        except OSError as exc:  # the path changed since the check above
            print(f"bnnrun-compare: error: --output {args.output}: {exc}", file=sys.stderr)
            return ExitCode.BAD_INPUT
    print(json.dumps(result, indent=2))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
