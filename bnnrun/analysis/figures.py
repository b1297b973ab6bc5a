"""Figures of a run. Each ``*_figure`` function builds and returns a ``matplotlib.figure.Figure``
without touching pyplot's global state or the disk; :func:`save` writes any figure of a run or a
sweep, in the configured format and resolution."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatter

from bnnrun import rundir
from bnnrun.config.analysis import AnalysisConfig


def save(fig: Figure, directory: Path, name: str, analysis: AnalysisConfig) -> Path:
    """Write ``fig`` as ``directory/<name>.<analysis.figure_format>`` at ``analysis.dpi``,
    atomically. Every figure of a run or a sweep is saved here. Returns the path written."""
    path = Path(directory) / f"{name}.{analysis.figure_format.value}"
    rundir.save_figure(path, fig, dpi=analysis.dpi)
    return path


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


class Rolling(NamedTuple):
    """A trace's centred rolling mean and quantile band at some of its steps, ``[K]`` each."""

    at: np.ndarray  # 0-based indices into the trace
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def rolling_band(
    values: np.ndarray,
    *,
    window: int,
    at: np.ndarray | None = None,
    quantiles: tuple[float, float] = (0.1, 0.9),
) -> Rolling:
    """The mean and two quantiles (linear interpolation) of ``values`` ``[N]`` over a centred
    window of ``window`` steps (odd; shortened at the ends, as pandas'
    ``rolling(window, center=True, min_periods=1)``), evaluated only at the indices ``at``
    (default: all). Non-finite values (a diverged fit) are left out of their windows.

    Only the steps a figure draws are computed: a 50,000-step trace needs ~1,000 of them.
    """
    values = np.where(np.isfinite(values), values, np.nan).astype(np.float64)
    at = np.arange(len(values)) if at is None else np.asarray(at, dtype=int)
    half = window // 2
    mean, low, high = (np.full(len(at), np.nan) for _ in range(3))
    for k, i in enumerate(at):
        chunk = values[max(0, i - half) : i + half + 1]
        chunk = chunk[~np.isnan(chunk)]
        if chunk.size:
            mean[k] = chunk.mean()
            low[k], high[k] = np.quantile(chunk, quantiles)
    return Rolling(at, mean, low, high)


def elbo_window(num_steps: int) -> int:
    """The rolling window of :func:`elbo_figure`: an odd number of steps near 2% of the fit."""
    return 2 * (num_steps // 100) + 1


def elbo_figure(
    elbo: np.ndarray,
    *,
    warm_start: np.ndarray | None = None,
    steps_per_epoch: int | None = None,
    diverged_at: int | None = None,
    max_points: int = 1000,
) -> Figure:
    """The fit's objective per step, as its loss (−ELBO, in nats) on a logarithmic axis so that
    the first steps show: a centred rolling mean with its 10-90% quantile band (the per-step
    noise); beside it, the last half of the SVI steps on a linear axis, where the noise and
    any remaining trend show.

    Args:
        elbo: the SVI ELBO per step, ``[N]``.
        warm_start: the MAP warm start's objective (log joint) per step, ``[W]``, drawn first
            in its own colour and shaded; its steps come before the SVI steps on the x axis.
        steps_per_epoch: for epoch fits: an epoch axis on top.
        diverged_at: the first non-finite step of ``elbo`` (1-based), marked.
        max_points: the rolling statistics are drawn at most at this many steps per phase.
    """
    warm = np.asarray(warm_start if warm_start is not None else [], dtype=np.float64)
    phases = [(warm, 0, "MAP warm start: −log joint", "tab:orange")] if warm.size else []
    phases.append((np.asarray(elbo, dtype=np.float64), len(warm), "SVI: −ELBO", "tab:blue"))
    fig = Figure(figsize=(8.4, 3.8), layout="constrained")
    ax, ax_end = fig.subplots(1, 2, width_ratios=[2, 1])
    drawn: list[tuple[np.ndarray, Rolling]] = []
    for values, offset, label, color in phases:
        if not values.size:
            continue
        window = elbo_window(len(values))
        at = np.unique(np.linspace(0, len(values) - 1, min(len(values), max_points)).astype(int))
        band = rolling_band(-values, window=window, at=at)
        steps = offset + band.at + 1
        if window > 1:
            ax.fill_between(steps, band.low, band.high, color=color, alpha=0.25, lw=0,
                            label=f"10-90% quantile over {window} steps")  # fmt: skip
        what = f"mean of {window} steps" if window > 1 else "per step"
        ax.plot(steps, band.mean, color=color, lw=1.2, label=f"{label} ({what})")
        drawn.append((steps, band))
    finite = np.concatenate([np.r_[b.low, b.high] for _, b in drawn]) if drawn else np.array([])
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() > 0:
        ax.set_yscale("log")
        scale = "log scale"
        plain = LogFormatter(labelOnlyBase=False)  # 200, not 2 x 10^2
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    else:  # a loss that crosses 0 (densities above 1): symmetric log, linear near 0
        top = float(np.abs(finite).max()) if finite.size else 1.0
        ax.set_yscale("symlog", linthresh=max(top * 1e-3, 1e-6))
        scale = "symmetric log scale"
    if warm.size:
        ax.axvspan(0.5, len(warm) + 0.5, color="tab:orange", alpha=0.08, lw=0)
        ax.axvline(len(warm) + 0.5, color="tab:orange", lw=0.8, ls="--")
    if diverged_at is not None:
        ax.axvline(len(warm) + diverged_at, color="tab:red", lw=1, ls=":",
                   label=f"not finite from step {diverged_at}")  # fmt: skip
    ax.set_xlim(0.5, len(warm) + len(elbo) + 0.5)
    ax.set_xlabel("step (one optimiser update)" + (", MAP warm start first" if warm.size else ""))
    ax.set_ylabel(f"loss (nats, {scale})")
    ax.set_title("whole fit", fontsize=9)
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    for axis in (ax, ax_end) if steps_per_epoch else ():
        top_axis = axis.secondary_xaxis(
            "top", functions=(lambda s: s / steps_per_epoch, lambda e: e * steps_per_epoch)
        )
        top_axis.set_xlabel("epoch", fontsize=8)
    svi = drawn[-1] if drawn and len(elbo) else None
    if svi is not None:
        svi_steps, band = svi
        half = band.at >= len(elbo) // 2
        ax_end.fill_between(svi_steps[half], band.low[half], band.high[half], color="tab:blue",
                            alpha=0.25, lw=0)  # fmt: skip
        ax_end.plot(svi_steps[half], band.mean[half], color="tab:blue", lw=1.2)
    ax_end.set_title("last half of SVI, linear scale", fontsize=9)
    ax_end.set_xlabel("step")
    ax_end.set_ylabel("loss (nats)")
    ax_end.grid(alpha=0.3)
    fig.suptitle("training loss, −ELBO (lower is better)", fontsize=10)
    return fig


def predictive_map_figure(
    axes: np.ndarray,
    values: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    title: str,
    cmap: str,
    colorbar_label: str,
    input_labels: Sequence[str] = ("x1", "x2"),
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """A heat map of ``values`` (``[size*size]`` on the grid ``axes``) with labelled points.

    Args:
        colorbar_label: what the colour shows, with its unit.
        input_labels: the two inputs' axis labels (say so if they are standardised).
    """
    size = axes.shape[1]
    fig = Figure(figsize=(5.4, 4.4), layout="constrained")
    ax = fig.subplots()
    mesh = ax.pcolormesh(
        axes[0],
        axes[1],
        values.reshape(size, size),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        shading="auto",
        rasterized=True,  # a vector file stays small
    )
    fig.colorbar(mesh, ax=ax, label=colorbar_label)
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
            label=f"training, class {cls}",
        )
    ax.set_xlim(axes[0, 0], axes[0, -1])
    ax.set_ylim(axes[1, 0], axes[1, -1])
    ax.set_xlabel(input_labels[0])
    ax.set_ylabel(input_labels[1])
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
    return fig


class PriorCurve(NamedTuple):
    """The prior drawn over a weight-posterior figure: its density and what it is.

    ``pdf`` is None where no density can be drawn (a flat, improper prior); ``label`` then
    says why."""

    pdf: Callable[[np.ndarray], np.ndarray] | None
    label: str


def prior_curve(
    family: str,
    *,
    loc: float = 0.0,
    scale: float | None = None,
    df: float | None = None,
    scale_note: str = "",
) -> PriorCurve:
    """The density of one weight's prior: ``family`` (a :class:`~bnnrun.config.PriorFamily`
    value) with ``loc``, ``scale`` (and ``df`` for Student-t), by SciPy; ``scale_note`` is
    added to the label (e.g. that a learned scale is drawn at its posterior median)."""
    from scipy import stats  # slow to import: on first use

    if family == "flat" or scale is None:
        return PriorCurve(None, "prior: flat (improper), no density drawn")
    made = {
        "normal": lambda: (stats.norm(loc, scale), f"Normal({loc:g}, {scale:.3g})"),
        "laplace": lambda: (stats.laplace(loc, scale), f"Laplace({loc:g}, {scale:.3g})"),
        "cauchy": lambda: (stats.cauchy(loc, scale), f"Cauchy({loc:g}, {scale:.3g})"),
        "student_t": lambda: (
            stats.t(df, loc, scale),
            f"StudentT({df:g}, {loc:g}, {scale:.3g})",
        ),
    }
    if family not in made:
        raise ValueError(f"no density for prior family {family!r}")
    frozen, name = made[family]()
    return PriorCurve(frozen.pdf, f"prior {name}{scale_note}")


#: Weight posteriors with at most this many curves get one legend entry per weight.
MAX_NAMED_CURVES = 10


def weight_density_figure(
    samples: np.ndarray,
    *,
    layer: str,
    prior: PriorCurve | None = None,
    max_curves: int = 64,
) -> Figure:
    """Posterior density (Gaussian KDE) of each weight of one layer, as in the paper's fig. 3,
    with the prior's density over it.

    Args:
        samples: posterior draws ``[S, *weight_shape]``.
        layer: the layer's name, for the title.
        prior: the prior of each weight (see :func:`prior_curve`), drawn in black.
        max_curves: plot at most this many weights: those with the largest |posterior mean|,
            as the title says.
    """
    from scipy.stats import gaussian_kde  # slow to import: on first use

    flat = samples.reshape(samples.shape[0], -1)
    order = np.argsort(-np.abs(flat.mean(axis=0)))[:max_curves]
    lo, hi = np.percentile(flat[:, order], [0.5, 99.5])
    pad = 0.1 * (hi - lo + 1e-9)
    grid = np.linspace(lo - pad, hi + pad, 400)
    named = len(order) <= MAX_NAMED_CURVES
    fig = Figure(figsize=(7.0, 4.8 if named else 4.4), layout="constrained")
    ax = fig.subplots()
    shape = samples.shape[1:]
    for j in order:
        w = flat[:, j]
        index = ",".join(str(int(i)) for i in np.unravel_index(j, shape))
        label = f"{layer}.w[{index}]" if named else None
        if np.ptp(w) > 0:
            ax.plot(grid, gaussian_kde(w)(grid), lw=1, alpha=0.8, label=label)
        else:
            ax.axvline(w[0], lw=1, alpha=0.8, label=label)
    handles, labels = ax.get_legend_handles_labels()
    if not named:
        handles = [Line2D([], [], color="0.4", lw=1)]
        labels = [f"posterior of one weight (KDE of {samples.shape[0]} draws), {len(order)} shown"]
    if prior is not None:
        line = Line2D([], [], color="none")
        if prior.pdf is not None:
            density = prior.pdf(grid)
            top = ax.get_ylim()[1]
            # A prior far flatter than the posteriors would lie flat on the x axis: own axis.
            on = ax.twinx() if density.max() * 20 < top else ax
            (line,) = on.plot(grid, density, color="k", lw=1.8, ls="--")
            if on is not ax:
                on.set_ylim(0, density.max() * 1.1)
                on.set_ylabel("prior density (1 / weight unit), dashed")
        handles.append(line)
        labels.append(prior.label + (", right axis" if prior.pdf is not None and on is not ax
                                     else ""))  # fmt: skip
    total = flat.shape[1]
    if len(order) < total:
        chosen = f"the {len(order)} of {total} weights with the largest |posterior mean|"
    else:
        chosen = f"all {total} weights"
    dims = " x ".join(map(str, shape))
    ax.set_title(f"posterior of {layer}.w ({dims}): {chosen}", fontsize=10)
    ax.set_xlabel("weight value (network's own units)")
    ax.set_ylabel("probability density (1 / weight unit)")
    ax.axvline(0.0, color="k", lw=0.5, ls=":")
    # Below the plot (and the prior's own axis): one entry per weight would hide the peaks.
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=3 if named else 1)
    return fig
