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
from typing import Any, NamedTuple

import numpy as np

from bnnrun.errors import BnnrunError, ConfigError

_TINY = np.finfo(np.float64).tiny
INPUTS = ("test", "train", "grid")


class PredictiveDistance(NamedTuple):
    """Distances between two predictive distributions over the same N inputs."""

    mean_abs_dp: float
    max_abs_dp: float
    kl_mean: float
    kl_max: float
    kl_reverse_mean: float
    num_inputs: int


def _kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = np.clip(p, _TINY, None), np.clip(q, _TINY, None)
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def predictive_distance(p_a: np.ndarray, p_b: np.ndarray) -> PredictiveDistance:
    """Distances between class probabilities ``p_a`` and ``p_b``, both ``[N, C]``."""
    if p_a.shape != p_b.shape:
        raise ValueError(f"shapes differ: {p_a.shape} and {p_b.shape}")
    p_a, p_b = np.asarray(p_a, np.float64), np.asarray(p_b, np.float64)
    p_a = p_a / p_a.sum(axis=-1, keepdims=True)  # float32 draws rarely sum to exactly 1
    p_b = p_b / p_b.sum(axis=-1, keepdims=True)
    tv = 0.5 * np.abs(p_a - p_b).sum(axis=-1)
    kl_ab, kl_ba = _kl(p_a, p_b), _kl(p_b, p_a)
    return PredictiveDistance(
        mean_abs_dp=float(tv.mean()),
        max_abs_dp=float(tv.max()),
        kl_mean=float(kl_ab.mean()),
        kl_max=float(kl_ab.max()),
        kl_reverse_mean=float(kl_ba.mean()),
        num_inputs=len(tv),
    )


def _inputs(fitted: Any, which: str) -> np.ndarray:
    from bnnrun.plots import input_grid

    data = fitted.data
    if which == "test":
        return data.x_test
    if which == "train":
        return data.x_train
    if data.x_train.ndim != 2 or data.x_train.shape[1] != 2:
        raise ConfigError("--inputs grid needs 2-D inputs; use test or train")
    grid, _ = input_grid(
        np.concatenate([data.x_train, data.x_test]), size=fitted.cfg.analysis.grid_size
    )
    return grid


def _mean_predictive(
    fitted: Any, x: np.ndarray, *, num_samples: int | None, seed: int
) -> tuple[np.ndarray, int]:
    """The posterior predictive mean ``[N, C]`` at ``x``, and the number of draws behind it."""
    import jax

    if num_samples is None:
        num_samples = getattr(fitted.cfg.inference, "num_predictive_samples", None)
        if fitted.samples is not None:
            num_samples = len(next(iter(fitted.samples.values())))
    draws = fitted.draws(key=jax.random.PRNGKey(seed), num_samples=num_samples)
    probs = fitted.probs(draws, x)
    return probs.mean(axis=0), probs.shape[0]


def compare_runs(
    run_a: Path,
    run_b: Path,
    *,
    inputs: str = "test",
    num_samples: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare the posterior predictives of two finished runs on the same inputs.

    Args:
        inputs: ``test`` or ``train`` (the runs' data must then be identical) or ``grid``
            (the 2-D grid of RUN_A's uncertainty maps).
        num_samples: draws per run; None: each run's own (SVI: ``num_predictive_samples``,
            NUTS: every sample).
        seed: seeds the SVI guide draws.

    Returns:
        The :class:`PredictiveDistance` fields, with the runs, inputs and draws per run.
    """
    from bnnrun.run import load_fitted

    fitted = []
    for name, run in (("RUN_A", run_a), ("RUN_B", run_b)):
        if not (Path(run) / "metrics.json").is_file():
            raise ConfigError(f"{name}={run} is not a finished bnnrun run (no metrics.json)")
        fitted.append(load_fitted(Path(run)))
    a, b = fitted
    x = _inputs(a, inputs)
    if inputs != "grid" and not np.array_equal(x, _inputs(b, inputs)):
        raise ConfigError(
            f"the runs' {inputs} inputs differ (dataset={a.cfg.dataset} vs "
            f"dataset={b.cfg.dataset}); compare runs on the same data, or use --inputs grid"
        )
    p_a, s_a = _mean_predictive(a, x, num_samples=num_samples, seed=seed)
    p_b, s_b = _mean_predictive(b, x, num_samples=num_samples, seed=seed)
    return {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "inputs": inputs,
        "draws_a": s_a,
        "draws_b": s_b,
        **predictive_distance(p_a, p_b)._asdict(),
    }


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
