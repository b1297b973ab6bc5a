"""Compare finished runs: two runs' posterior predictives on the same inputs
(:func:`bnnrun.analysis.compare.predictive_distance`), or any runs fitted to the same training
data ranked by ELPD-LOO (:func:`compare_loo`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bnnrun import rundir
from bnnrun.analysis.compare import loo_table, predictive_distance, regression_distance
from bnnrun.analysis.figures import input_grid
from bnnrun.analysis.regression import variance_split
from bnnrun.errors import ConfigError
from bnnrun.pipeline.posterior import LocScale
from bnnrun.pipeline.reload import FittedRun, load_run

if TYPE_CHECKING:
    import arviz as az
    import pandas as pd


def _inputs(fitted: FittedRun, which: str) -> np.ndarray:
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


def _summary(
    fitted: FittedRun, x: np.ndarray, *, num_samples: int | None, seed: int
) -> tuple[tuple[np.ndarray, ...], int]:
    """The posterior predictive at ``x`` summarised, and the number of draws behind it: the
    mean class probabilities ``([N, C],)``, or for a regression the predictive mean and
    standard deviation ``([N], [N])`` in original units."""
    pred = fitted.predictive(x, num_samples=num_samples, seed=seed)
    if isinstance(pred, LocScale):
        epistemic, aleatoric = variance_split(pred.loc, pred.scale, df=pred.df)
        return (pred.loc.mean(axis=0), np.sqrt(epistemic + aleatoric)), pred.loc.shape[0]
    return (pred.mean(axis=0),), pred.shape[0]


def _check_finished(name: str, run: Path) -> None:
    """Raise :class:`ConfigError` unless ``run`` holds a finished (``ok``) run."""
    try:
        found = (run / rundir.METRICS).is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ConfigError(f"{name}={run}: {exc.strerror}") from None
    if not found:
        raise ConfigError(f"{name}={run} is not a finished bnnrun run (no {rundir.METRICS})")
    try:
        record = rundir.read_metrics(run)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}={run}: its {rundir.METRICS} cannot be read ({exc})") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{name}={run}: its {rundir.METRICS} is not a JSON object")
    if not rundir.is_finished(record):
        error = " ".join(str(record.get("error") or "").split())
        raise ConfigError(
            f"{name}={run} is not a finished run: it ended with status "
            f"{record.get('status')!r}"
            + (f" ({error})" if error else "")
            + "; compare runs that finished (status ok)"
        )


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
        The :class:`~bnnrun.analysis.compare.PredictiveDistance` fields (for a regression,
        :class:`~bnnrun.analysis.compare.RegressionDistance`), with the runs, inputs and
        draws per run.
    """
    fitted = []
    for name, run in (("RUN_A", run_a), ("RUN_B", run_b)):
        _check_finished(name, Path(run))
        fitted.append(load_run(Path(run)))
    a, b = fitted
    shape_a, shape_b = a.data.x_train.shape[1:], b.data.x_train.shape[1:]
    if shape_a != shape_b:
        raise ConfigError(
            f"RUN_A's inputs have shape {shape_a} and RUN_B's {shape_b}: compare runs whose "
            "inputs have the same shape"
        )
    x = _inputs(a, inputs)
    if inputs != "grid" and not np.array_equal(x, _inputs(b, inputs)):
        raise ConfigError(
            f"the runs' {inputs} inputs differ (dataset={a.cfg.dataset} vs "
            f"dataset={b.cfg.dataset}); compare runs on the same data, or use --inputs grid"
        )
    if a.is_regression != b.is_regression:
        raise ConfigError(
            "RUN_A and RUN_B predict different kinds of target (one is a classifier, the other "
            "a regression): compare runs of the same task"
        )
    p_a, s_a = _summary(a, x, num_samples=num_samples, seed=seed)
    p_b, s_b = _summary(b, x, num_samples=num_samples, seed=seed)
    if p_a[0].shape != p_b[0].shape:
        raise ConfigError(
            f"RUN_A predicts {p_a[0].shape[-1]} classes and RUN_B {p_b[0].shape[-1]}: "
            "compare runs with the same classes"
        )
    if a.is_regression:
        distance = regression_distance(*p_a, *p_b)._asdict()
    else:
        distance = predictive_distance(*p_a, *p_b)._asdict()
    return {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "inputs": inputs,
        "draws_a": s_a,
        "draws_b": s_b,
        **distance,
    }


def _log_likelihood_of(name: str, run: Path) -> az.InferenceData:
    """The finished ``run``'s ``posterior.nc``, refused (:class:`ConfigError`) where it is
    missing, unreadable or has no ``log_likelihood`` group of the training points."""
    from bnnrun.analysis.inference_data import OBSERVED_DATA_ATTR, _arviz

    _check_finished(name, run)
    path = run / rundir.INFERENCE_DATA
    if not path.is_file():
        raise ConfigError(f"{name}={run} has no {rundir.INFERENCE_DATA}")
    try:
        idata = _arviz().from_netcdf(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{name}={run}: its {rundir.INFERENCE_DATA} cannot be read ({exc})"
        ) from None
    if (
        "log_likelihood" not in idata.groups()
        or OBSERVED_DATA_ATTR not in idata.log_likelihood.attrs
    ):
        raise ConfigError(
            f"{name}={run}: its {rundir.INFERENCE_DATA} has no log_likelihood of the training "
            "points (it was run with analysis.log_likelihood=false, the MNIST default, or "
            "before bnnrun wrote one); run it again with analysis.log_likelihood=true"
        )
    return idata


def compare_loo(runs: Sequence[Path]) -> pd.DataFrame:
    """Rank finished runs fitted to the same training data by ELPD-LOO (PSIS-LOO over each
    run's training points, :func:`~bnnrun.analysis.compare.loo_table`), best first, indexed
    by the run directories as given.

    Raises:
        ConfigError: fewer than two runs, a run given twice, a run that did not finish or
            has no training-point ``log_likelihood``, or runs fitted to different data.
    """
    if len(runs) < 2:
        raise ConfigError("--loo needs at least two runs to rank")
    names = [str(r) for r in runs]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{twice} is given twice; give each run once")
    from bnnrun.analysis.inference_data import OBSERVED_DATA_ATTR, TRAIN_POINT

    idatas = {name: _log_likelihood_of("RUN", Path(name)) for name in names}
    first, *rest = names
    digest = idatas[first].log_likelihood.attrs[OBSERVED_DATA_ATTR]
    for name in rest:
        if idatas[name].log_likelihood.attrs[OBSERVED_DATA_ATTR] != digest:
            n_a = idatas[first].log_likelihood.sizes.get(TRAIN_POINT)
            n_b = idatas[name].log_likelihood.sizes.get(TRAIN_POINT)
            raise ConfigError(
                f"{first} and {name} were fitted to different training data ({n_a} and {n_b} "
                "points, not the same data): LOO ranks runs fitted to the same data only"
            )
    return loo_table(idatas)
