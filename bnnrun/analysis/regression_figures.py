"""Figures of a regression run, in the target's original units. Like
:mod:`bnnrun.analysis.figures`, each function returns a ``matplotlib.figure.Figure`` and never
touches pyplot or the disk."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def bands_figure(
    x: np.ndarray,
    mean: np.ndarray,
    sd_epistemic: np.ndarray,
    sd_total: np.ndarray,
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_label: str,
    y_label: str,
) -> Figure:
    """For 1-D inputs: the predictive mean over ``x`` ``[M]`` (sorted), with bands of ±2
    standard deviations of the epistemic part (the spread of the mean across posterior draws)
    and of the total predictive (epistemic + noise), over the training points."""
    order = np.argsort(x)
    x, mean = x[order], mean[order]
    sd_epistemic, sd_total = sd_epistemic[order], sd_total[order]
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    ax.fill_between(x, mean - 2 * sd_total, mean + 2 * sd_total, color="tab:blue", alpha=0.18,
                    lw=0, label="±2 sd, total (epistemic + noise)")  # fmt: skip
    ax.fill_between(x, mean - 2 * sd_epistemic, mean + 2 * sd_epistemic, color="tab:blue",
                    alpha=0.4, lw=0, label="±2 sd, epistemic")  # fmt: skip
    ax.plot(x, mean, color="tab:blue", lw=1.5, label="predictive mean")
    ax.scatter(x_train, y_train, s=8, color="black", alpha=0.7, label="training data", zorder=3)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title("posterior predictive")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def predicted_vs_observed_figure(
    y: np.ndarray, mean: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, level: float
) -> Figure:
    """Predictive mean against the observed target ``[N]``, with the central ``level``
    predictive interval ``[lower, upper]`` of each point as a bar, and the diagonal."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    inside = (y >= lower) & (y <= upper)
    # A mixture's mean can lie outside its central interval: draw the interval, clipped at it.
    yerr = np.stack([np.maximum(mean - lower, 0), np.maximum(upper - mean, 0)])
    ax.errorbar(y, mean, yerr=yerr, fmt="none",
                ecolor="tab:blue", alpha=0.35, lw=0.8)  # fmt: skip
    ax.scatter(y[inside], mean[inside], s=10, color="tab:blue", label="y inside the interval")
    ax.scatter(y[~inside], mean[~inside], s=12, color="tab:red", marker="x",
               label="y outside the interval")  # fmt: skip
    lo = float(min(y.min(), lower.min()))
    hi = float(max(y.max(), upper.max()))
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1, ls="--", label="predicted = observed")
    ax.set_xlabel("observed y (target's original units)")
    ax.set_ylabel("predictive mean of y (original units)")
    ax.set_title(f"test points, {level:.0%} predictive intervals ({inside.mean():.0%} cover y)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def calibration_figure(levels: np.ndarray, observed: np.ndarray, *, num_points: int) -> Figure:
    """Interval calibration: the fraction of test targets inside the central predictive
    interval, ``observed`` ``[L]``, against its nominal level ``levels`` ``[L]``."""
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="gray", lw=1, ls="--", label="calibrated")
    ax.plot(levels, observed, marker="o", ms=3, color="tab:blue", label="this run")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal coverage of the central interval (fraction)")
    ax.set_ylabel(f"observed coverage (fraction of {num_points} test points)")
    ax.set_title("interval calibration")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def residual_figure(residual: np.ndarray, sd: np.ndarray) -> Figure:
    """Absolute residual ``|y - mean|`` ``[N]`` against the predictive standard deviation
    ``sd`` ``[N]``, with the lines ``|r| = sd`` and ``|r| = 2 sd``."""
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ax.scatter(sd, np.abs(residual), s=10, color="tab:blue", alpha=0.7, label="test points")
    top = float(sd.max()) * 1.05
    for k, style in ((1, "--"), (2, ":")):
        ax.plot([0, top], [0, k * top], color="gray", lw=1, ls=style, label=f"|residual| = {k} sd")
    ax.set_xlabel("predictive standard deviation of y (original units)")
    ax.set_ylabel("|y - predictive mean| (original units)")
    ax.set_title("residual against predictive uncertainty")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig
