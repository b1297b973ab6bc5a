"""``bnnrun-compare RUN_A RUN_B``: how far apart two runs' posterior predictives are.

Both runs predict the same inputs (the test split, the training split, or the 2-D grid of the
uncertainty maps). At each input x, with p_A(. | x) and p_B(. | x) the posterior predictive
means over each run's draws (SVI: fresh guide draws; NUTS: its samples):

- ``|dp|(x) = 1/2 sum_c |p_A(c | x) - p_B(c | x)|``, the total variation distance; with two
  classes it is ``|p_A(1 | x) - p_B(1 | x)|``. Reported as its mean and max over inputs.
- ``KL(p_A || p_B)(x) = sum_c p_A(c | x) log(p_A(c | x) / p_B(c | x))``, its mean and max over
  inputs, and the mean of the reverse KL(p_B || p_A).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bnnrun.analysis.compare import INPUTS
from bnnrun.errors import BnnrunError, ExitCode


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``bnnrun-compare``; prints the comparison as JSON."""
    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
    if args.num_samples is not None and args.num_samples < 1:
        parser.error("--num-samples must be >= 1")
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
        rundir.write_json(args.output, result)
    print(json.dumps(result, indent=2))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
