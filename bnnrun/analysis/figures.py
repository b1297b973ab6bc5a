"""Figures of a run. Each function builds and returns a ``matplotlib.figure.Figure`` without
touching pyplot's global state or the disk; :mod:`bnnrun.rundir` saves them."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def input_grid(x: np.ndarray, *, size: int, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A ``size x size`` grid over the bounding box of 2-D inputs ``x``, widened by ``margin``.

    Returns:
        ``(points [size*size, 2], axes [2, size])``.
    """
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = margin * (hi - lo)
    axes = np.stack([np.linspace(a, b, size) for a, b in zip(lo - pad, hi + pad, strict=True)])
    gx, gy = np.meshgrid(axes[0], axes[1])
    return np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32), axes


def elbo_figure(elbo: np.ndarray, *, max_points: int = 2000) -> Figure:
    """ELBO per step, with a running mean over 1% of the steps.

    Beyond ``max_points`` steps the per-step values are drawn as their range (min to max) in
    ``max_points // 2`` bins: a figure's width shows no more, and drawing 50,000 vertices took
    about a second per run (see ``bench/sweep_speed.py``).
    """
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    steps = np.arange(1, len(elbo) + 1)
    if len(elbo) > max_points:
        starts = np.unique(np.linspace(0, len(elbo), max_points // 2, endpoint=False).astype(int))
        lo, hi = np.minimum.reduceat(elbo, starts), np.maximum.reduceat(elbo, starts)
        ax.fill_between(steps[starts], lo, hi, step="post", lw=0, alpha=0.35,
                        color="tab:blue", label="per step (range)")  # fmt: skip
    else:
        ax.plot(steps, elbo, lw=0.5, alpha=0.35, color="tab:blue", label="per step")
    window = max(1, len(elbo) // 100)
    if window > 1 and len(elbo) >= window:
        smooth = np.convolve(elbo, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color="tab:blue", label=f"mean of {window}")
        lo, hi = np.percentile(smooth, [1, 100])
        ax.set_ylim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    ax.set_xlabel("step")
    ax.set_ylabel("ELBO")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def predictive_map_figure(
    axes: np.ndarray,
    values: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    title: str,
    cmap: str,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """A heat map of ``values`` (``[size*size]`` on the grid ``axes``) with labelled points."""
    size = axes.shape[1]
    fig = Figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    mesh = ax.pcolormesh(
        axes[0],
        axes[1],
        values.reshape(size, size),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        shading="auto",
    )
    fig.colorbar(mesh, ax=ax)
    for cls, marker in zip(np.unique(y), "o^sDvP*X", strict=False):
        pts = x[y == cls]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=8,
            marker=marker,
            facecolor="none",
            edgecolor="k",
            linewidths=0.5,
            label=f"class {cls}",
        )
    ax.set_xlim(axes[0, 0], axes[0, -1])
    ax.set_ylim(axes[1, 0], axes[1, -1])
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
    return fig


def weight_density_figure(samples: np.ndarray, *, layer: str, max_curves: int = 64) -> Figure:
    """Posterior density (Gaussian KDE) of each weight of one layer, as in the paper's fig. 3.

    Args:
        samples: posterior draws ``[S, *weight_shape]``.
        layer: the layer's name, for the title.
        max_curves: plot at most this many weights (those with the largest |posterior mean|).
    """
    # Imported on first use: SciPy's statistics are slow to import.
    from scipy.stats import gaussian_kde

    flat = samples.reshape(samples.shape[0], -1)
    order = np.argsort(-np.abs(flat.mean(axis=0)))[:max_curves]
    lo, hi = np.percentile(flat[:, order], [0.5, 99.5])
    pad = 0.1 * (hi - lo + 1e-9)
    grid = np.linspace(lo - pad, hi + pad, 400)
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for j in order:
        w = flat[:, j]
        if np.ptp(w) > 0:
            ax.plot(grid, gaussian_kde(w)(grid), lw=1, alpha=0.8)
        else:
            ax.axvline(w[0], lw=1, alpha=0.8)
    shown = f"{len(order)} of {flat.shape[1]}" if len(order) < flat.shape[1] else flat.shape[1]
    ax.set_title(f"posterior densities of {layer}.w ({shown} weights)")
    ax.set_xlabel("weight")
    ax.set_ylabel("density")
    ax.axvline(0.0, color="k", lw=0.5, ls=":")
    return fig
