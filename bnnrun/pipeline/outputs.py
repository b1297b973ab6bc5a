"""What a run writes besides ``metrics.json``: the ELBO trace, the predictive maps, the
uncertainty figures and the out-of-distribution scores. Each function writes its files into the
run directory (atomically) and returns the numbers that go into ``metrics.json``. Figures are
written by :func:`bnnrun.analysis.figures.save`, as ``<name>.<analysis.figure_format>``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bnnrun import rundir
from bnnrun.analysis import (
    figures,
    inference_data,
    regression,
    regression_figures,
    uncertainty,
    uncertainty_figures,
)
from bnnrun.analysis.metrics import majority_vote, reliability
from bnnrun.config.analysis import AnalysisConfig
from bnnrun.config.prior import InformedPriorConfig
from bnnrun.data import Dataset, load_dataset
from bnnrun.inference.program import FitResult
from bnnrun.model.likelihoods import NOISE_SITE, output_size
from bnnrun.model.priors import distribution_family
from bnnrun.pipeline.posterior import FittedRun, LocScale

if TYPE_CHECKING:
    import arviz as az


def write_fit(
    run_dir: Path,
    fit: FitResult,
    analysis: AnalysisConfig,
    *,
    warm_start: FitResult | None = None,
    steps_per_epoch: int | None = None,
) -> None:
    """``elbo.csv``, the SVI ELBO at every step, and its figure ``elbo.<format>``, which also
    shows the MAP ``warm_start`` before it (if any) and, for epoch fits, an epoch axis."""
    steps = np.arange(1, len(fit.elbo) + 1)
    rundir.write_csv(run_dir / "elbo.csv", pd.DataFrame({"step": steps, "elbo": fit.elbo}))
    warm = warm_start if warm_start is not None and warm_start is not fit else None
    if fit is warm_start:  # the warm start itself diverged: its trace is the one to see
        fig = figures.elbo_figure(
            np.array([]), warm_start=fit.elbo, steps_per_epoch=steps_per_epoch
        )
    else:
        fig = figures.elbo_figure(
            fit.elbo,
            warm_start=None if warm is None else warm.elbo,
            steps_per_epoch=steps_per_epoch,
            diverged_at=fit.diverged_at,
        )
    figures.save(fig, run_dir, "elbo", analysis)


def log_likelihood_of_training(fitted: FittedRun, draws: dict[str, np.ndarray]) -> np.ndarray:
    """Each draw's log density of each training target the fit used, ``[S, N_train]`` float64
    (a regression's of the standardised targets the model saw, as ``observed_data`` holds
    them), in chunks of points whose network outputs ``[S, chunk, K]`` stay within
    ``cfg.analysis.max_chunk_mb``."""
    data, model = fitted.data, fitted.model
    num_draws = len(next(iter(draws.values())))
    width = output_size(model.likelihood, num_classes=data.num_classes)
    chunk = max(1, (fitted.cfg.analysis.max_chunk_mb << 20) // (4 * num_draws * width))
    return inference_data.pointwise_log_likelihood(
        lambda x: fitted.outputs(draws, x),
        data.x_train,
        data.y_train,
        kind=model.likelihood,
        hp=fitted.hp.get("likelihood", {}),
        precision=draws.get(NOISE_SITE) if model.learned_noise else None,
        chunk=chunk,
    )


def write_inference_data(
    run_dir: Path, fitted: FittedRun, draws: dict[str, np.ndarray], *, mcmc: Any = None
) -> az.InferenceData:
    """``posterior.nc``: the posterior ``draws`` ``{site: [S, *shape]}`` as one chain (SVI), or
    a NUTS run's ``mcmc`` (its chains, ``draws`` being them concatenated), with the training
    targets as ``observed_data`` and, with ``analysis.log_likelihood``, their
    ``log_likelihood`` (:func:`log_likelihood_of_training`), for PSIS-LOO. Returns the
    InferenceData."""
    data = fitted.data
    ll = log_likelihood_of_training(fitted, draws) if fitted.cfg.analysis.log_likelihood else None
    digest = inference_data.digest_of_training_set(data.x_train, data.y_train)
    if mcmc is None:
        idata = inference_data.from_draws(
            draws, y_observed=data.y_train, log_likelihood=ll, observed_digest=digest
        )
    else:
        if ll is not None:
            ll = ll.reshape(mcmc.num_chains, -1, ll.shape[-1])  # chain after chain
        idata = inference_data.from_mcmc(mcmc, log_likelihood=ll, observed_digest=digest)
    rundir.save_netcdf(run_dir / rundir.INFERENCE_DATA, idata)
    return idata


def write_maps(run_dir: Path, fitted: FittedRun, draws: dict[str, np.ndarray]) -> None:
    """For 2-D inputs: the predictive mean and std of p(class 1 | x) over a grid, as figures
    and as numbers (``predictive_maps.npz``, for a sweep's side-by-side figures)."""
    data = fitted.data
    grid, axes = figures.input_grid(
        np.concatenate([data.x_train, data.x_test]), size=fitted.cfg.analysis.grid_size
    )
    cls = 1  # the paper maps p(class 1); for more classes, the same class for comparability
    p_cls = fitted.probs(draws, grid)[..., cls]
    inputs = [f"x{i + 1}{_scaled(fitted)}" for i in range(2)]
    mean, std = p_cls.mean(axis=0), p_cls.std(axis=0)
    size = axes.shape[1]
    rundir.save_npz(  # the maps' numbers, for a sweep's side-by-side figures
        run_dir / rundir.MAPS,
        {"axes": axes, "mean": mean.reshape(size, size), "std": std.reshape(size, size)},
    )
    for name, values, cmap, vmax, label in (
        ("predictive_mean", mean, "RdBu_r", 1.0, f"mean of p(class {cls} | x) (probability)"),
        ("predictive_std", std, "viridis", None,
         f"std of p(class {cls} | x) over draws (probability)"),
    ):  # fmt: skip
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
            colorbar_label=label,
            input_labels=inputs,
        )
        figures.save(fig, run_dir, name, fitted.cfg.analysis)


def _class_names(data: Dataset) -> tuple[str, ...]:
    return data.class_names or tuple(str(c) for c in range(data.num_classes))


def write_uncertainty(
    run_dir: Path, data: Dataset, probs: np.ndarray, analysis: AnalysisConfig
) -> dict[str, Any]:
    """The reliability diagram for every run; for images also the paper's uncertainty
    analyses (figs. 4-6). Returns their numbers for ``metrics.json``."""
    mean = probs.mean(axis=0)
    num_images = analysis.num_images
    figures.save(
        uncertainty_figures.reliability_figure(reliability(mean, data.y_test)),
        run_dir,
        "reliability",
        analysis,
    )
    record = uncertainty.uncertainty_metrics(probs, data.y_test)
    if data.x_test.ndim != 4:
        return record
    names = _class_names(data)
    eer = uncertainty.expected_error_rate(probs)
    vote = majority_vote(probs)
    right = vote == data.y_test
    counts = {
        group: np.bincount(data.y_test[mask], minlength=len(names))
        for group, mask in (("misclassified", ~right), ("correct", right),
                            ("all", np.ones_like(right)))
    }  # fmt: skip
    made = {
        "class_variance": uncertainty_figures.class_variance_figure(
            uncertainty.class_variance(probs, data.y_test), class_names=names, counts=counts
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
        figures.save(fig, run_dir, name, analysis)
    return record


def write_ood(
    run_dir: Path, fitted: FittedRun, *, draws: dict[str, np.ndarray], probs: np.ndarray
) -> dict[str, Any]:
    """AUROCs of entropy and mutual information for the ``ood`` data set's test inputs against
    the run's own test inputs, and their histograms (``ood_hist.<format>``)."""
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
    figures.save(fig, run_dir, "ood_hist", fitted.cfg.analysis)
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
            x_label=f"{name}{_scaled(fitted)}",
            y_label="y (target's original units)",
        )
    for name, fig in made.items():
        figures.save(fig, run_dir, name, fitted.cfg.analysis)


def _scaled(fitted: FittedRun) -> str:
    """`` (standardised)`` for inputs scaled to mean 0 and std 1, else ``""``."""
    return " (standardised)" if getattr(fitted.cfg.dataset, "standardize", False) else ""


def write_weights(run_dir: Path, fitted: FittedRun, draws: dict[str, np.ndarray]) -> None:
    """``weights_last_layer.<format>``: the posterior of each weight of the network's last
    layer (the largest by |posterior mean| if there are many), with the run's prior over it; a
    learned scale's prior is drawn at that scale's posterior median, as its label says."""
    last = list(fitted.net.param_shapes())[-1]
    site = f"{last}.w"
    prior_cfg = fitted.cfg.prior
    family = distribution_family(prior_cfg)
    learned = draws.get(f"{site}_scale")
    if isinstance(prior_cfg, InformedPriorConfig) and (
        prior_cfg.layers is None or last in prior_cfg.layers
    ):
        prior = figures.PriorCurve(
            None, f"prior: {family}, centred on each weight's source value (not drawn)"
        )
    elif family == "flat":
        prior = figures.prior_curve("flat")
    else:
        informed = isinstance(prior_cfg, InformedPriorConfig)
        scale = prior_cfg.default_scale if informed else prior_cfg.scale
        note = ""
        if learned is not None:
            scale = float(np.median(learned))
            note = ", learned scale at its posterior median"
        prior = figures.prior_curve(
            family,
            loc=prior_cfg.loc,
            scale=scale,
            df=getattr(prior_cfg, "df", None),
            scale_note=note,
        )
    fig = figures.weight_density_figure(draws[site], layer=last, prior=prior)
    figures.save(fig, run_dir, "weights_last_layer", fitted.cfg.analysis)
