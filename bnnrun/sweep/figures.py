"""Figures of a sweep. Each function builds and returns a ``matplotlib.figure.Figure`` from
tables and arrays, without pyplot or the disk; :mod:`bnnrun.sweep.aggregate` saves them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure


class Metric(NamedTuple):
    """A metric as figures show it: its column, label, direction and unit."""

    name: str
    label: str
    higher_is_better: bool
    unit: str = ""

    @property
    def axis_label(self) -> str:
        """``NLL (nats per test point)``: the label with its unit, for an axis or colour bar."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


#: The metrics a sweep of classifiers shows.
SHOWN = (
    Metric("accuracy", "accuracy", True, "fraction correct"),
    Metric("nll", "NLL", False, "nats per test point"),
    Metric("ece", "ECE", False, "fraction"),
)
#: The metrics a sweep of regressions shows.
SHOWN_REGRESSION = (
    Metric("rmse", "RMSE", False, "target's original units"),
    Metric("nll", "NLL", False, "nats per test point"),
    Metric("crps", "CRPS", False, "target's original units"),
)


def shown_metrics(columns: Iterable[str]) -> tuple[Metric, ...]:
    """The metrics to show for runs with these ``columns``: :data:`SHOWN_REGRESSION` for a
    sweep of regressions alone, else :data:`SHOWN`."""
    columns = set(columns)
    return SHOWN_REGRESSION if "rmse" in columns and "accuracy" not in columns else SHOWN


def metric_names(metrics: Sequence[Metric]) -> str:
    """``accuracy, NLL and ECE``."""
    labels = [m.label for m in metrics]
    return ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else labels[0]


def _cell_text(mean: float, std: float) -> str:
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f}\n±{std:.3f}"


def _grid_values(
    table: pd.DataFrame,
    column: str,
    *,
    rows: str,
    cols: str,
    row_order: Sequence[object],
    col_order: Sequence[object],
) -> np.ndarray:
    """``table[column]`` laid out as ``[len(row_order), len(col_order)]``; NaN where absent."""
    out = np.full((len(row_order), len(col_order)), np.nan)
    row_at = {v: i for i, v in enumerate(row_order)}
    col_at = {v: j for j, v in enumerate(col_order)}
    for r, c, value in zip(table[rows], table[cols], table[column], strict=True):
        if r in row_at and c in col_at:
            out[row_at[r], col_at[c]] = value
    return out


def metric_limits(table: pd.DataFrame, metrics: Sequence[Metric]) -> dict[str, tuple[float, float]]:
    """Each metric's colour range over every configuration of ``table`` (all data sets and
    facets): ``{name: (min, max)}`` of ``<name>_mean``, so that heat maps drawn per data set
    share one scale. Metrics without a finite value are left out."""
    limits = {}
    for metric in metrics:
        column = f"{metric.name}_mean"
        values = table[column].to_numpy(dtype=float) if column in table else np.array([])
        values = values[np.isfinite(values)]
        if values.size:
            limits[metric.name] = (float(values.min()), float(values.max()))
    return limits


def heatmap_figure(
    table: pd.DataFrame,
    *,
    rows: str,
    cols: str,
    row_order: Sequence[object],
    col_order: Sequence[object],
    title: str,
    metrics: Sequence[Metric] = SHOWN,
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> Figure:
    """One heat map per metric of its mean over seeds, ``rows`` x ``cols``, annotated ± std.

    Args:
        table: configurations (rows of ``summary_by_config``), one per (``rows``, ``cols``)
            pair, with columns ``<metric>_mean`` and ``<metric>_std``.
        row_order, col_order: the values of ``rows`` and ``cols`` in display order; cells
            without a configuration (or without a finished run) show ``n/a``.
        limits: ``{metric: (vmin, vmax)}`` of the colour scale (:func:`metric_limits` over
            the whole sweep, so that panels of different data sets compare); a metric left out
            spans its values in ``table``.
    """
    width = (2.6 + 0.95 * len(col_order)) * len(metrics)  # room for the colour bar's label
    fig = Figure(figsize=(width, 1.6 + 0.5 * len(row_order)), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    where = {"rows": rows, "cols": cols, "row_order": row_order, "col_order": col_order}
    for ax, metric in zip(axes, metrics, strict=True):
        mean = _grid_values(table, f"{metric.name}_mean", **where)
        std = _grid_values(table, f"{metric.name}_std", **where)
        cmap = colormaps["viridis" if metric.higher_is_better else "viridis_r"]
        vmin, vmax = (limits or {}).get(metric.name, (None, None))
        image = ax.imshow(np.ma.masked_invalid(mean), cmap=cmap.with_extremes(bad="0.9"),
                          aspect="auto", vmin=vmin, vmax=vmax)  # fmt: skip
        bar = fig.colorbar(image, ax=ax)
        bar.set_label(f"mean {metric.axis_label}", fontsize=8)
        for i, j in np.ndindex(mean.shape):
            rgb = image.cmap(image.norm(mean[i, j]))[:3] if np.isfinite(mean[i, j]) else (1, 1, 1)
            dark = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 0.5
            ax.text(j, i, _cell_text(mean[i, j], std[i, j]), ha="center", va="center",
                    fontsize=7, color="w" if dark else "k")  # fmt: skip
        ax.set_xticks(range(len(col_order)), [str(c) for c in col_order], rotation=30, ha="right")
        ax.set_yticks(range(len(row_order)), [str(r) for r in row_order])
        ax.set_xlabel(cols)
        ax.set_ylabel(rows)
        better = "higher" if metric.higher_is_better else "lower"
        ax.set_title(f"{metric.label} ({better} is better)", fontsize=10)
    fig.suptitle(title)
    return fig


class Map(NamedTuple):
    """One run's map over a 2-D input grid: ``axes [2, size]``, ``values [size, size]``."""

    axes: np.ndarray
    values: np.ndarray


def map_tiles_figure(
    maps: Mapping[tuple[object, object], Map],
    *,
    rows: str,
    cols: str,
    row_order: Sequence[object],
    col_order: Sequence[object],
    title: str,
    label: str,
    inputs: Sequence[str] = ("x1 (standardised)", "x2 (standardised)"),
) -> Figure:
    """Maps of several runs side by side, ``rows`` x ``cols``, on one colour scale.

    Args:
        maps: ``{(row value, col value): Map}``; tiles without a map stay empty.
        label: what the colour shows, with its unit.
        inputs: the two inputs' names, said under the tiles (which have no ticks).
    """
    fig = Figure(
        figsize=(1.2 + 2.0 * len(col_order), 1.1 + 2.0 * len(row_order)), layout="constrained"
    )
    axes = fig.subplots(len(row_order), len(col_order), squeeze=False)
    vmax = max((float(np.nanmax(m.values)) for m in maps.values()), default=1.0)
    mesh = None
    for (i, r), (j, c) in ((ri, cj) for ri in enumerate(row_order) for cj in enumerate(col_order)):
        ax = axes[i, j]
        ax.set_xticks([])
        ax.set_yticks([])
        if (r, c) in maps:
            m = maps[(r, c)]
            mesh = ax.pcolormesh(m.axes[0], m.axes[1], m.values, cmap="viridis", vmin=0.0,
                                 vmax=vmax, shading="auto")  # fmt: skip
        else:
            ax.set_facecolor("0.9")
            ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
        if i == 0:
            ax.set_title(f"{cols}={c}", fontsize=9)
        if j == 0:
            ax.set_ylabel(f"{rows}={r}", fontsize=9)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, shrink=0.6, label=label)
    fig.supxlabel(f"each tile: {inputs[0]} across, {inputs[1]} up", fontsize=9)
    fig.suptitle(title)
    return fig


def metric_vs_figure(
    table: pd.DataFrame,
    *,
    x: str,
    lines: Sequence[str],
    title: str,
    metrics: Sequence[Metric] = SHOWN,
    chance: Sequence[float] = (),
) -> Figure:
    """Each metric against the numeric key ``x``: mean over seeds with ± std error bars, one
    line per combination of the ``lines`` keys. The x axis is logarithmic when ``x`` spans
    more than a decade of positive values (a log-spaced grid of scales).

    Args:
        chance: the accuracy of guessing, ``1 / num_classes``, for each data set in ``table``:
            a dotted line on the accuracy panel.
    """
    fig = Figure(figsize=(4.2 * len(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    xs = table[x].astype(float)
    log_x = bool((xs > 0).all() and xs.max() / xs.min() > 10)
    groups = table.groupby(list(lines), dropna=False, sort=False) if lines else [((), table)]
    for ax, metric in zip(axes, metrics, strict=True):
        for name, group in groups:
            group = group.sort_values(x)
            values = name if isinstance(name, tuple) else (name,)
            label = ", ".join(f"{k}={v}" for k, v in zip(lines, values, strict=True)) or None
            ax.errorbar(group[x].astype(float), group[f"{metric.name}_mean"],
                        yerr=group[f"{metric.name}_std"].fillna(0.0), marker="o", ms=3,
                        capsize=2, label=label)  # fmt: skip
        if metric.name == "accuracy":
            for level in sorted(set(chance)):
                ax.axhline(level, color="0.3", lw=1, ls=":",
                           label=f"chance (1/{round(1 / level)} classes)")  # fmt: skip
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(metric.axis_label)
        ax.grid(alpha=0.3)
        better = "higher" if metric.higher_is_better else "lower"
        ax.set_title(f"{metric.label} ({better} is better)", fontsize=10)
    for ax, metric in zip(axes, metrics, strict=True):
        if (lines and ax is axes[-1]) or (metric.name == "accuracy" and chance):
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    return fig


def configs_figure(
    table: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    keys: Sequence[str],
    title: str,
    metrics: Sequence[Metric] = SHOWN,
    what: str = "seed",
) -> Figure:
    """Each metric per configuration, one row each (labelled by its ``keys``): the mean over
    replicates with ± std error bars, and every replicate's own value as a cross.

    Args:
        table: one row per configuration (``summary_by_config``: ``<metric>_mean``, ``_std``).
        runs: the runs that finished ok, one row per run, with the same ``keys`` columns.
        keys: the non-numeric keys that tell the configurations apart (e.g. ``prior``).
        what: what one replicate is (``seed``, ``split``, ...), for the legend.
    """

    def labels(frame: pd.DataFrame) -> list[str]:
        return [", ".join(f"{k}={row[k]}" for k in keys) for _, row in frame.iterrows()]

    names = labels(table)
    at = {name: i for i, name in enumerate(names)}
    run_rows = [at.get(name, -1) for name in labels(runs)]
    fig = Figure(figsize=(4.2 * len(metrics), 1.2 + 0.45 * len(names)), layout="constrained")
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    ys = np.arange(len(names))
    for ax, metric in zip(axes, metrics, strict=True):
        seeds = [(v, y) for v, y in zip(runs[metric.name], run_rows, strict=True) if y >= 0]
        if seeds:
            values, rows = zip(*seeds, strict=True)
            ax.scatter(values, rows, marker="x", s=18, color="0.55", label=f"one {what}", zorder=2)
        ax.errorbar(table[f"{metric.name}_mean"], ys, xerr=table[f"{metric.name}_std"].fillna(0.0),
                    fmt="o", capsize=4, color="C0", label="mean ± std", zorder=3)  # fmt: skip
        better = "higher" if metric.higher_is_better else "lower"
        ax.set_title(f"{metric.label} ({better} is better)", fontsize=10)
        ax.set_xlabel(metric.axis_label)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_ylabel("configuration")
    axes[0].set_yticks(ys, names)
    axes[0].set_ylim(len(names) - 0.5, -0.5)
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    return fig


def strip_figure(
    runs: pd.DataFrame,
    table: pd.DataFrame,
    *,
    config: str,
    metric: Metric,
    title: str,
    what: str,
) -> Figure:
    """One metric's outcomes per configuration, each replicate a dot: a strip plot, so that a
    split into groups shows, not only a mean. Each configuration also gets its mean with the
    95% confidence interval; bimodal configurations are drawn in red and labelled so.

    Configurations run from the best mean (top) down; those without a finished run are left
    out.

    Args:
        runs: the runs that finished ok on one data set, one row per run, with the ``config``
            label and the metric's column.
        table: one row per configuration on that data set (``summary_by_config`` with the
            ``config`` label): ``<metric>_mean``, ``_ci_low``, ``_ci_high``, ``_count`` and,
            if tested, ``_bimodal``.
        config: the column that labels a configuration in both frames.
        what: what one replicate is (``seed``, ``split``, ...), for the legend.
    """
    name = metric.name
    table = table[table[f"{name}_count"] > 0].sort_values(
        f"{name}_mean", ascending=not metric.higher_is_better, kind="stable"
    )
    labels = list(table[config])
    bimodal = (
        table[f"{name}_bimodal"].fillna(False).astype(bool).to_numpy()
        if f"{name}_bimodal" in table
        else np.zeros(len(table), dtype=bool)
    )
    at = {label: i for i, label in enumerate(labels)}
    shown = runs[runs[config].isin(at) & np.isfinite(runs[name].astype(float))]
    rows = shown[config].map(at).to_numpy(dtype=int)
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, size=len(rows))
    fig = Figure(figsize=(7.0, 1.4 + 0.38 * max(len(labels), 1)), layout="constrained")
    ax = fig.subplots()
    ax.scatter(shown[name].astype(float), rows + jitter, s=16, alpha=0.7, zorder=2,
               c=["C3" if bimodal[r] else "C0" for r in rows], edgecolors="none",
               label=f"one {what}")  # fmt: skip
    mean = table[f"{name}_mean"].to_numpy(dtype=float)
    low = table[f"{name}_ci_low"].to_numpy(dtype=float)
    high = table[f"{name}_ci_high"].to_numpy(dtype=float)
    err = np.nan_to_num(np.vstack([mean - low, high - mean]))
    ax.errorbar(mean, np.arange(len(labels)), xerr=err, fmt="D", ms=4, color="k", capsize=3,
                zorder=3, label="mean, 95% CI (t)")  # fmt: skip
    ticks = [f"{label} (bimodal)" if b else label for label, b in zip(labels, bimodal, strict=True)]
    ax.set_yticks(range(len(labels)), ticks, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    better = "higher" if metric.higher_is_better else "lower"
    ax.set_xlabel(f"test {metric.axis_label}, {better} is better")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=10)
    return fig


class Curve(NamedTuple):
    """One run's ELBO trace: its replicate's label (``seed=1``), steps ``[T]`` and ELBO ``[T]``."""

    label: str
    steps: np.ndarray
    elbo: np.ndarray


def elbo_overlay_figure(
    curves: Mapping[str, Sequence[Curve]], *, title: str, max_points: int = 600
) -> Figure:
    """The ELBO traces of a sweep's runs: one panel per configuration, its replicates overlaid.

    Each trace is drawn as the loss, ``-ELBO``, smoothed by a centred rolling mean over 1% of
    its steps (``pandas.Series.rolling``), on a log scale when every smoothed value is
    positive, so that both the first steps and the end stay in view. A replicate keeps its
    colour in every panel.

    Args:
        curves: ``{configuration label: its runs' curves}``, panels in this order.
        title: the figure's title.
        max_points: the most points drawn per trace (evenly spaced, after smoothing).
    """
    labels = sorted({c.label for runs in curves.values() for c in runs})
    colour = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    ncols = min(3, max(len(curves), 1))
    nrows = max(1, -(-len(curves) // ncols))
    fig = Figure(figsize=(4.4 * ncols, 0.9 + 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(curves) :]:
        ax.set_visible(False)
    for ax, (config, runs) in zip(axes.flat, curves.items(), strict=False):
        positive = True
        for curve in runs:
            loss = pd.Series(-np.asarray(curve.elbo, dtype=float))
            window = max(1, len(loss) // 100)
            smooth = loss.rolling(window, center=True, min_periods=1).mean().to_numpy()
            keep = np.unique(np.linspace(0, len(loss) - 1, min(len(loss), max_points)).astype(int))
            ys = smooth[keep]
            finite = ys[np.isfinite(ys)]
            positive &= bool(finite.size == 0 or finite.min() > 0)
            ax.plot(np.asarray(curve.steps)[keep], ys, lw=1, alpha=0.85,
                    color=colour[curve.label], label=curve.label)  # fmt: skip
        if positive:
            ax.set_yscale("log")
        ax.set_title(config, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("-ELBO (nats)" + (", log scale" if positive else ""), fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(alpha=0.3)
    if labels and len(labels) <= 12:
        from matplotlib.lines import Line2D  # only for the legend's handles

        handles = [Line2D([], [], color=colour[label], lw=1.5, label=label) for label in labels]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(labels), 6),
                   fontsize=8, frameon=False)  # fmt: skip
    fig.suptitle(title, fontsize=10)
    return fig
