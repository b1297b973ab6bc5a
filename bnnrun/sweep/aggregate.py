"""Everything a sweep writes at its root, from its job directories on disk.

``summary.csv`` (one row per run), ``summary_by_config.csv`` (grouped over replicates: seeds,
data seeds or fixed splits), ``comparisons.csv`` (every pair of configurations on a data set,
paired by replicate), figures in ``plots/`` and ``report.html``. The files are derived from the
runs, so rebuilding them (``bnnrun-report DIR``) replaces them; the runs' own files are only
read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from bnnrun import rundir
from bnnrun.analysis.figures import save
from bnnrun.config import HyperpriorKind, PriorFamily
from bnnrun.config.analysis import AnalysisConfig, FigureFormat
from bnnrun.errors import ConfigError, DataError
from bnnrun.sweep import figures, report
from bnnrun.sweep.summary import Summary, by_config, read_sweep

log = logging.getLogger(__name__)

SUMMARY = "summary.csv"
BY_CONFIG = "summary_by_config.csv"
COMPARISONS = "comparisons.csv"
REPORT = "report.html"
PLOTS = "plots"
#: Heat maps and map tiles put these on their rows and columns.
ROWS, COLS = "prior", "hyperprior"


class Aggregate(NamedTuple):
    """What :func:`aggregate` read and wrote."""

    summary: Summary
    by_config: pd.DataFrame
    comparisons: pd.DataFrame
    figures: list[tuple[str, str]]  # (caption, path relative to the root)
    report: Path


def _ordered(values: Sequence[Any], canonical: Sequence[str] = ()) -> list[Any]:
    """Distinct ``values``: those in ``canonical`` in its order, then the rest sorted."""
    distinct = list(dict.fromkeys(values))
    known = [v for v in canonical if v in distinct]
    return known + sorted((v for v in distinct if v not in known), key=str)


def _name(facet: dict[str, Any]) -> str:
    """A file-name part such as ``dataset=moons,prior.scale=0.1``."""
    return ",".join(f"{k}={v}" for k, v in facet.items()).replace("/", "_") or "all"


def _panels(frame: pd.DataFrame, keys: Sequence[str]) -> Iterator[tuple[dict[str, Any], Any]]:
    """``frame`` split by the values of ``keys``: (facet {key: value}, rows)."""
    if not keys:
        yield {}, frame
        return
    for values, rows in frame.groupby(list(keys), dropna=False, sort=True):
        yield dict(zip(keys, values, strict=True)), rows


def _load_map(root: Path, run_dir: str) -> figures.Map | None:
    path = root / run_dir / rundir.MAPS
    if not path.is_file():
        return None
    arrays = rundir.load_npz(path)
    return figures.Map(arrays["axes"], arrays["std"])


def _figure_settings(root: Path, summary: Summary) -> AnalysisConfig:
    """The figure format and resolution of the sweep's jobs (``analysis.figure_format`` and
    ``analysis.dpi`` in the first job's ``.hydra/config.yaml``; the defaults if it has none).

    Raises:
        DataError: the values there are not allowed.
    """
    path = root / summary.runs["run_dir"].iloc[0] / ".hydra" / "config.yaml"
    with open(path, encoding="utf-8") as f:
        saved = (yaml.safe_load(f) or {}).get("analysis") or {}
    try:
        return AnalysisConfig(
            figure_format=FigureFormat(saved.get("figure_format", "png")),
            dpi=int(saved.get("dpi", AnalysisConfig.dpi)),
        )
    except (ValueError, TypeError, ConfigError) as exc:
        raise DataError(f"{path}: {exc}") from None


def _figures(
    root: Path, summary: Summary, table: pd.DataFrame
) -> Iterator[tuple[str, str, Figure]]:
    """(file name without its format's suffix, caption, figure) of every figure the sweep
    gets."""
    varying = summary.varying()
    shown = figures.shown_metrics(summary.runs.columns)
    metrics = [m for m in shown if f"{m.name}_mean" in table]
    if not metrics:
        return  # no run recorded any of them: nothing to draw
    names = figures.metric_names(metrics)
    over = summary.replicate_noun()
    data = ["dataset", *(k for k in summary.data_keys if k in varying and k != "dataset")]
    facets = [*data, *(k for k in varying if k not in (*data, ROWS, COLS))]
    ok = summary.runs[summary.runs["status"] == "ok"]
    yield from _strip_figures(summary, table, data)
    yield from _elbo_figures(root, summary, data)
    if ROWS in varying or COLS in varying:
        order = {
            "row_order": _ordered(table[ROWS], list(PriorFamily)),
            "col_order": _ordered(table[COLS], list(HyperpriorKind)),
        }
        limits = figures.metric_limits(table, metrics)  # one scale across data sets
        for facet, rows in _panels(table, facets):
            yield (
                f"heatmap_{_name(facet)}",
                f"{names} over prior x hyperprior, mean ± std over {over}, on one colour scale "
                f"per metric across the sweep: {_name(facet)}",
                figures.heatmap_figure(
                    rows,
                    rows=ROWS,
                    cols=COLS,
                    title=_name(facet),
                    metrics=metrics,
                    limits=limits,
                    **order,
                ),
            )
        for facet, rows in _panels(ok, [*facets, *summary.replicate_keys]):
            maps = {
                (r.prior, r.hyperprior): m
                for r in rows.itertuples()
                if (m := _load_map(root, r.run_dir)) is not None
            }
            if maps:
                yield (
                    f"std_maps_{_name(facet)}",
                    "Predictive std of p(class 1 | x) over the input plane, priors as rows and "
                    f"hyperpriors as columns, on one colour scale: {_name(facet)}",
                    figures.map_tiles_figure(
                        maps,
                        rows=ROWS,
                        cols=COLS,
                        title=f"predictive std of p(class 1 | x): {_name(facet)}",
                        label="std of p(class 1 | x) over posterior draws (probability)",
                        **order,
                    ),
                )
    choices = [k for k in varying if k not in data]
    if choices and not any(pd.api.types.is_numeric_dtype(table[k]) for k in choices):
        # Configurations told apart by choices only (e.g. prior=normal vs prior=informed).
        for facet, rows in _panels(table, data):
            title = f"mean ± std over {over}, each one a cross: {_name(facet)}"
            yield (
                f"configs_{_name(facet)}",
                f"{names} per configuration, mean ± std over {over}: {_name(facet)}",
                figures.configs_figure(
                    rows,
                    _select(ok, facet),
                    keys=choices,
                    title=title,
                    metrics=metrics,
                    what=summary.replicate_noun(plural=False),
                ),
            )
    for x in varying:
        if x not in (ROWS, COLS, "dataset") and pd.api.types.is_numeric_dtype(table[x]):
            lines = [k for k in varying if k != x]
            title = f"metrics against {x} (mean ± std over {over})"
            fig = figures.metric_vs_figure(
                table, x=x, lines=lines, title=title, metrics=metrics, chance=_chance(ok)
            )
            yield f"vs_{x.replace('/', '_')}", f"{names} against {x}", fig


def _chance(runs: pd.DataFrame) -> list[float]:
    """The accuracy of guessing, ``1 / num_classes``, of each data set of ``runs`` (those
    whose ``metrics.json`` records ``num_classes``)."""
    if "num_classes" not in runs:
        return []
    return sorted({1.0 / n for n in runs["num_classes"].dropna() if n >= 1})


def _select(frame: pd.DataFrame, facet: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``frame`` whose columns hold the ``facet``'s values (NaN matching NaN)."""
    mask = pd.Series(True, index=frame.index)
    for key, value in facet.items():
        mask &= frame[key].isna() if pd.isna(value) else frame[key] == value
    return frame[mask]


def _strip_figures(
    summary: Summary, table: pd.DataFrame, data: list[str]
) -> Iterator[tuple[str, str, Figure]]:
    """A strip plot per data set and shown metric: every replicate a dot, per configuration."""
    ok = report.labelled(summary.runs[summary.runs["status"] == "ok"], summary)
    table = report.labelled(table, summary)
    what = summary.replicate_noun(plural=False)
    for facet, rows in _panels(table, data):
        runs = _select(ok, facet)
        for metric in figures.shown_metrics(summary.runs.columns):
            if f"{metric.name}_count" not in rows or not (rows[f"{metric.name}_count"] > 0).any():
                continue
            yield (
                f"strip_{metric.name}_{_name(facet)}",
                f"Test {metric.label} per configuration, each {what} a dot, with the mean and its "
                f"95% confidence interval; bimodal configurations in red: {_name(facet)}",
                figures.strip_figure(
                    runs,
                    rows,
                    config=report.CONFIG,
                    metric=metric,
                    title=f"{metric.label} over {summary.replicate_noun()}: {_name(facet)}",
                    what=what,
                ),
            )


def _elbo_curve(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, ELBO) of a run's ``elbo.csv``; None when it has none or it cannot be read."""
    try:
        frame = pd.read_csv(path)
        return frame["step"].to_numpy(dtype=float), frame["elbo"].to_numpy(dtype=float)
    except (OSError, ValueError, KeyError, UnicodeDecodeError, pd.errors.ParserError):
        return None


def _elbo_figures(
    root: Path, summary: Summary, data: list[str]
) -> Iterator[tuple[str, str, Figure]]:
    """Per data set, the ELBO traces of every run with an ``elbo.csv``: a panel per
    configuration, its replicates overlaid."""
    runs = report.labelled(summary.runs, summary)
    what = summary.replicate_keys or ["seed"]
    for facet, rows in _panels(runs, data):
        curves: dict[str, list[figures.Curve]] = {}
        for _, row in rows.iterrows():
            found = _elbo_curve(root / row["run_dir"] / "elbo.csv")
            if found is not None and len(found[0]):
                label = ", ".join(f"{k}={row[k]}" for k in what)
                curves.setdefault(row[report.CONFIG], []).append(figures.Curve(label, *found))
        if curves:
            yield (
                f"elbo_{_name(facet)}",
                f"ELBO traces (-ELBO, smoothed) of every run, one panel per configuration, its "
                f"{summary.replicate_noun()} overlaid: {_name(facet)}",
                figures.elbo_overlay_figure(curves, title=f"-ELBO per step: {_name(facet)}"),
            )


def aggregate(root: Path) -> Aggregate:
    """Read every job under ``root`` and write the sweep's tables, figures and report there.

    Raises:
        DataError: ``root`` holds no job directories.
    """
    root = Path(root)
    summary = read_sweep(root)
    if summary.runs.empty:
        raise DataError(
            f"{root} holds no job directories (with .hydra/overrides.yaml): "
            "is it the directory of a sweep (hydra.sweep.dir)?"
        )
    table = by_config(summary)
    pairs = report.comparisons(summary)
    rundir.write_csv(root / SUMMARY, summary.runs)
    rundir.write_csv(root / BY_CONFIG, table)
    rundir.write_csv(root / COMPARISONS, pairs)
    written = []
    style = _figure_settings(root, summary)
    for name, caption, fig in _figures(root, summary, table):
        path = save(fig, root / PLOTS, name, style)
        written.append((caption, f"{PLOTS}/{path.name}"))
    run_files = {d: {p.name for p in (root / d).iterdir()} for d in summary.runs["run_dir"]}
    page = report.render(
        title=str(root),
        summary=summary,
        table=table,
        figures=written,
        run_files=run_files,
        pairs=pairs,
        command=report.read_command(root),
    )
    with rundir.atomic_path(root / REPORT) as tmp:
        tmp.write_text(page)
    return Aggregate(summary, table, pairs, written, root / REPORT)
