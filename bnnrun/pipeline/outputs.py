"""What a run writes besides ``metrics.json``: the ELBO trace, the predictive maps, the
uncertainty figures and the out-of-distribution scores. Each function writes its files into the
run directory (atomically) and returns the numbers that go into ``metrics.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bnnrun import rundir
from bnnrun.analysis import (
    figures,
    regression,
    regression_figures,
    uncertainty,
    uncertainty_figures,
)
from bnnrun.analysis.metrics import majority_vote, reliability
from bnnrun.data import Dataset, load_dataset
from bnnrun.inference.program import FitResult
from bnnrun.pipeline.posterior import FittedRun, LocScale


def write_fit(run_dir: Path, fit: FitResult) -> None:
    """``elbo.csv`` and ``elbo.png``: the ELBO at every step."""
    steps = np.arange(1, len(fit.elbo) + 1)
    rundir.write_csv(run_dir / "elbo.csv", pd.DataFrame({"step": steps, "elbo": fit.elbo}))
    rundir.save_figure(run_dir / "elbo.png", figures.elbo_figure(fit.elbo))


def write_maps(run_dir: Path, fitted: FittedRun, draws: dict[str, np.ndarray]) -> None:
    """For 2-D inputs: the predictive mean and std of p(class 1 | x) over a grid, as figures
    and as numbers (``predictive_maps.npz``, for a sweep's side-by-side figures)."""
    data = fitted.data
    grid, axes = figures.input_grid(
        np.concatenate([data.x_train, data.x_test]), size=fitted.cfg.analysis.grid_size
    )
    cls = 1  # the paper maps p(class 1); for more classes, the same class for comparability
    p_cls = fitted.probs(draws, grid)[..., cls]
    mean, std = p_cls.mean(axis=0), p_cls.std(axis=0)
    size = axes.shape[1]
    rundir.save_npz(  # the maps' numbers, for a sweep's side-by-side figures
        run_dir / rundir.MAPS,
        {"axes": axes, "mean": mean.reshape(size, size), "std": std.reshape(size, size)},
    )
    for name, values, cmap, vmax in (
        ("predictive_mean", mean, "RdBu_r", 1.0),
        ("predictive_std", std, "viridis", None),
    ):
        what = "mean" if name.endswith("mean") else "std"
        fig = figures.predictive_map_figure(
            axes,
            values,
            data.x_train,
            data.y_train,
            cmap=cmap,
            vmin=0.0,
            vmax=vmax,
            title=f"posterior predictive {what} of p(class {cls} | x)",
        )
        rundir.save_figure(run_dir / f"{name}.png", fig)


def _class_names(data: Dataset) -> tuple[str, ...]:
    return data.class_names or tuple(str(c) for c in range(data.num_classes))


def write_uncertainty(
    run_dir: Path, data: Dataset, probs: np.ndarray, *, num_images: int
) -> dict[str, Any]:
    """The reliability diagram for every run; for images also the paper's uncertainty
    analyses (figs. 4-6). Returns their numbers for ``metrics.json``."""
    mean = probs.mean(axis=0)
    rundir.save_figure(
        run_dir / "reliability.png",
        uncertainty_figures.reliability_figure(reliability(mean, data.y_test)),
    )
    record = uncertainty.uncertainty_metrics(probs, data.y_test)
    if data.x_test.ndim != 4:
        return record
    names = _class_names(data)
    eer = uncertainty.expected_error_rate(probs)
    vote = majority_vote(probs)
    made = {
        "class_variance": uncertainty_figures.class_variance_figure(
            uncertainty.class_variance(probs, data.y_test), class_names=names
        ),
        "expected_error_rate": uncertainty_figures.expected_error_rate_figure(
            eer, num_draws=probs.shape[0]
        ),
    }
    for name, idx, title in (
        (
            "confident_mistakes",
            uncertainty.confident_mistakes(probs, data.y_test),
            "misclassified with expected error rate 0",
        ),
        (
            "most_uncertain",
            uncertainty.most_uncertain(probs, k=num_images),
            "highest expected error rate",
        ),
    ):
        shown = idx[:num_images]
        made[name] = uncertainty_figures.image_grid_figure(
            data.x_test[shown],
            true=data.y_test[shown],
            pred=vote[shown],
            eer=eer[shown],
            class_names=names,
            title=f"{title} ({len(shown)} of {len(idx)})",
        )
    for name, fig in made.items():
        rundir.save_figure(run_dir / f"{name}.png", fig)
    return record


def write_ood(
    run_dir: Path, fitted: FittedRun, *, draws: dict[str, np.ndarray], probs: np.ndarray
) -> dict[str, Any]:
    """AUROCs of entropy and mutual information for the ``ood`` data set's test inputs against
    the run's own test inputs, and their histograms (``ood_hist.png``)."""
    ood_cfg = fitted.cfg.ood
    ood = load_dataset(ood_cfg)
    s_in = uncertainty.ood_scores(probs)
    s_out = uncertainty.ood_scores(fitted.probs(draws, ood.x_test))
    scores = {name: (getattr(s_in, name), getattr(s_out, name)) for name in s_in._fields}
    aurocs = {name: uncertainty.ood_auroc(*pair) for name, pair in scores.items()}
    fig = uncertainty_figures.ood_histogram_figure(
        scores,
        aurocs=aurocs,
        in_name=fitted.data.name,
        out_name=ood.name,
    )
    rundir.save_figure(run_dir / "ood_hist.png", fig)
    return {
        "ood_dataset": ood.name,
        "ood_num_test": len(ood.y_test),
        **{f"ood_auroc_{name}": value for name, value in aurocs.items()},
    }


#: Nominal levels of the interval calibration curve.
CALIBRATION_LEVELS = np.round(np.linspace(0.05, 0.95, 19), 2)
#: Points of the 1-D band figure across the inputs' range.
BAND_POINTS = 200


def write_regression(
    run_dir: Path, fitted: FittedRun, draws: dict[str, np.ndarray], *, pred: LocScale
) -> None:
    """A regression run's figures, in the target's original units: predicted against
    observed with 90% intervals, interval calibration, residual against predictive sd, and
    for 1-D inputs the predictive mean with epistemic and total bands. ``pred``: the
    predictive at the test inputs under ``draws``."""
    data = fitted.data
    y = data.y_original(data.y_test)
    mean = pred.loc.mean(axis=0)
    lower, upper = regression.central_interval(pred.loc, pred.scale, 0.9, df=pred.df)
    epistemic, aleatoric = regression.variance_split(pred.loc, pred.scale, df=pred.df)
    coverage, _ = regression.interval_coverage(
        pred.loc, pred.scale, y, CALIBRATION_LEVELS, df=pred.df
    )
    made = {
        "predicted_vs_observed": regression_figures.predicted_vs_observed_figure(
            y, mean, lower, upper, level=0.9
        ),
        "interval_calibration": regression_figures.calibration_figure(
            CALIBRATION_LEVELS, coverage, num_points=len(y)
        ),
        "residuals": regression_figures.residual_figure(y - mean, np.sqrt(epistemic + aleatoric)),
    }
    if data.input_shape == (1,):
        x_all = np.concatenate([data.x_train, data.x_test])[:, 0]
        lo, hi = x_all.min(), x_all.max()
        pad = 0.1 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, BAND_POINTS, dtype=np.float32)[:, None]
        band = fitted.loc_scale(draws, grid)
        epi, alea = regression.variance_split(band.loc, band.scale, df=band.df)
        name = data.feature_names[0] if data.feature_names else "x"
        made["predictive_bands"] = regression_figures.bands_figure(
            grid[:, 0],
            band.loc.mean(axis=0),
            np.sqrt(epi),
            np.sqrt(epi + alea),
            x_train=data.x_train[:, 0],
            y_train=data.y_original(data.y_train),
            x_label=f"{name} (standardised)" if _standardised(fitted) else name,
            y_label="y",
        )
    for name, fig in made.items():
        rundir.save_figure(run_dir / f"{name}.png", fig)


def _standardised(fitted: FittedRun) -> bool:
    return bool(getattr(fitted.cfg.dataset, "standardize", False))
