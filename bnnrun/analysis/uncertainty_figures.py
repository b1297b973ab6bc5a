"""Figures of the uncertainty analyses (:mod:`bnnrun.analysis.uncertainty`). Like
:mod:`bnnrun.analysis.figures`, each function returns a ``matplotlib.figure.Figure`` and never
touches pyplot or the disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from bnnrun.analysis.metrics import Reliability
from bnnrun.analysis.uncertainty import ClassVariance


def class_variance_figure(
    cv: ClassVariance, *, class_names: Sequence[str], counts: Mapping[str, np.ndarray]
) -> Figure:
    """Mean prediction variance per true class over mistakes, correct inputs and all (the
    paper's fig. 4, left), as grouped bars, each with its number of inputs n above it; a class
    without mistakes gets an empty slot marked n=0, not a gap in a line.

    Args:
        counts: inputs per true class ``[C]`` in each group: ``misclassified``, ``correct``,
            ``all``.
    """
    groups = (
        ("misclassified", cv.misclassified, "tab:red"),
        ("correct", cv.correct, "tab:green"),
        ("all", cv.all, "tab:gray"),
    )
    fig = Figure(figsize=(max(6.4, 0.75 * len(class_names) + 2), 4.0), layout="constrained")
    ax = fig.subplots()
    ticks = np.arange(len(class_names))
    width = 0.8 / len(groups)
    top = max((float(np.nanmax(v)) for _, v, _ in groups if np.isfinite(v).any()), default=1.0)
    for k, (label, values, color) in enumerate(groups):
        xs = ticks + (k - (len(groups) - 1) / 2) * width
        heights = np.nan_to_num(values, nan=0.0)
        bars = ax.bar(xs, heights, width, color=color, label=label, edgecolor="k", lw=0.4)
        ax.bar_label(bars, labels=[f"n={n}" for n in counts[label]], fontsize=6, rotation=90,
                     padding=2)  # fmt: skip
    ax.set_ylim(0, 1.3 * top if top > 0 else 1.0)
    ax.set_xticks(ticks, class_names, rotation=30 if max(map(len, class_names)) > 2 else 0)
    ax.set_xlabel("true class")
    ax.set_ylabel("mean prediction variance (probability²)")
    ax.set_title("variance of p(y | x) over posterior draws, per class (n: test inputs)",
                 fontsize=10)  # fmt: skip
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3, axis="y")
    return fig


def expected_error_rate_figure(eer: np.ndarray, *, num_draws: int) -> Figure:
    """Histogram of the expected error rate over test inputs (the paper's fig. 4, right); the
    count axis is logarithmic, as nearly all inputs sit at 0."""
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    ax.hist(eer, bins=np.linspace(0, max(float(eer.max()), 1e-9) + 1 / num_draws, 26))
    ax.set_yscale("log")
    ax.set_xlabel("expected error rate (fraction of draws that disagree with the vote)")
    ax.set_ylabel("test inputs (log scale)")
    ax.set_title(f"expected error rate: mean {eer.mean():.4f} over {len(eer)} inputs")
    return fig


def image_grid_figure(
    images: np.ndarray,
    *,
    true: np.ndarray,
    pred: np.ndarray,
    eer: np.ndarray,
    class_names: Sequence[str],
    title: str,
    columns: int = 6,
) -> Figure:
    """Images ``[K, H, W, 1]`` in a grid, each captioned with its true and predicted class and
    expected error rate (the paper's figs. 5 and 6). With K = 0 the figure says so."""
    k = len(images)
    rows = max(1, -(-k // columns))
    cols = min(max(k, 1), columns)
    fig = Figure(figsize=(1.7 * cols, 1.9 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    if k == 0:
        axes[0].text(0.5, 0.5, "none", ha="center", va="center", fontsize=12)
    for ax, img, t, p, e in zip(axes, images, true, pred, eer, strict=False):
        ax.imshow(img[..., 0], cmap="gray_r", vmin=0.0, vmax=1.0)
        ax.set_title(
            f"true {class_names[t]}\npred {class_names[p]}, eer {e:.2f}", fontsize=7, pad=2
        )
    fig.suptitle(title, fontsize=9)
    return fig


def reliability_figure(rel: Reliability) -> Figure:
    """Reliability diagram: accuracy against mean confidence per bin, the diagonal of perfect
    calibration, and below it the number of test inputs per bin (logarithmic, each bar
    labelled with its count); the title gives the ECE."""
    fig = Figure(figsize=(5, 5.4), layout="constrained")
    ax, ax_count = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.2])
    centers = (rel.edges[:-1] + rel.edges[1:]) / 2
    width = np.diff(rel.edges)
    full = rel.count > 0
    ax.bar(centers[full], rel.accuracy[full], width[full], edgecolor="k", lw=0.5, label="accuracy")
    ax.bar(
        centers[full],
        rel.confidence[full],
        width[full],
        fill=False,
        edgecolor="tab:red",
        lw=1.2,
        label="mean confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"reliability (top label), ECE = {rel.ece:.4f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    bars = ax_count.bar(centers, rel.count, width, color="tab:gray", edgecolor="k", lw=0.4)
    ax_count.bar_label(bars, labels=[str(n) if n else "" for n in rel.count], fontsize=6,
                       padding=1)  # fmt: skip
    ax_count.set_yscale("log")
    ax_count.set_ylim(0.7, max(int(rel.count.max()), 1) * 8)
    ax_count.set_xlabel("confidence (mean predictive probability of the top class)")
    ax_count.set_ylabel("test inputs (log)")
    return fig


def ood_histogram_figure(
    scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    aurocs: Mapping[str, float],
    in_name: str,
    out_name: str,
) -> Figure:
    """One panel per score: its histogram on in-distribution and out-of-distribution inputs,
    with the score's AUROC. ``scores`` maps a score's name to ``(in, out)`` arrays."""
    fig = Figure(figsize=(5 * len(scores), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(scores)))
    for ax, (name, (s_in, s_out)) in zip(axes, scores.items(), strict=True):
        bins = np.linspace(0.0, max(float(s_in.max()), float(s_out.max()), 1e-9), 41)
        ax.hist(s_in, bins=bins, alpha=0.6, density=True, label=f"{in_name} (in)")
        ax.hist(s_out, bins=bins, alpha=0.6, density=True, label=f"{out_name} (out)")
        ax.set_xlabel(f"{name.replace('_', ' ')} (nats)")
        ax.set_ylabel("density")
        ax.set_title(f"{name.replace('_', ' ')}: AUROC {aurocs[name]:.3f}")
        ax.legend(fontsize=8)
    return fig
