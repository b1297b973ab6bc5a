"""``report.html``: a sweep's tables, figures and verdict on one page that works offline.

The page links to its figures and to each run's directory by relative paths, so it opens from
the sweep's directory (or a copy of it) in any browser, without a network. It states in words
which configuration was best on each dataset, and whether its lead over the runner-up exceeds
the spread over seeds.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import NamedTuple
from urllib.parse import quote

import numpy as np
import pandas as pd

from bnnrun.sweep.figures import SHOWN, Metric, shown_metrics
from bnnrun.sweep.summary import NOT_OK, Summary

#: The metrics the verdict ranks configurations by.
RANKED = (SHOWN[0], SHOWN[1])  # accuracy, NLL; a sweep of regressions ranks by RMSE and NLL
#: Files of a run that the runs table links to, if the run has them.
RUN_FILES = ("metrics.json", "predictive_std.png", "predictive_mean.png", "elbo.png")


class Standing(NamedTuple):
    """A configuration's result on one metric over its seeds."""

    label: str
    mean: float
    std: float
    seeds: int


class Verdict(NamedTuple):
    """The best configuration on one dataset by one metric, against the runner-up."""

    dataset: str
    metric: Metric
    best: Standing
    runner_up: Standing | None

    @property
    def lead(self) -> float:
        return abs(self.best.mean - self.runner_up.mean) if self.runner_up else float("nan")

    @property
    def spread(self) -> float:
        """The larger of the two standard deviations over seeds (NaN with one seed)."""
        if self.runner_up is None or min(self.best.seeds, self.runner_up.seeds) < 2:
            return float("nan")
        return max(self.best.std, self.runner_up.std)


def config_label(row: pd.Series, keys: Sequence[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys) or "the only configuration"


def verdicts(table: pd.DataFrame, summary: Summary, *, metrics=RANKED) -> list[Verdict]:
    """Per dataset and ranked metric, the best configuration and the runner-up (by mean)."""
    keys = [k for k in summary.varying() if k != "dataset"]
    out = []
    for dataset, rows in table.groupby("dataset", sort=False):
        for metric in metrics:
            ranked = rows[rows[f"{metric.name}_count"] > 0].sort_values(
                f"{metric.name}_mean", ascending=not metric.higher_is_better, kind="stable"
            )
            standings = [
                Standing(
                    config_label(row, keys),
                    float(row[f"{metric.name}_mean"]),
                    float(row[f"{metric.name}_std"]),
                    int(row[f"{metric.name}_count"]),
                )
                for _, row in ranked.head(2).iterrows()
            ]
            if standings:
                runner_up = standings[1] if len(standings) > 1 else None
                out.append(Verdict(str(dataset), metric, standings[0], runner_up))
    return out


def _standing(s: Standing) -> str:
    if s.seeds < 2:
        return f"{s.label} ({s.mean:.4f}, one seed)"
    return f"{s.label} ({s.mean:.4f} ± {s.std:.4f}, mean ± std over {s.seeds} seeds)"


def verdict_text(v: Verdict) -> str:
    """The verdict in words."""
    direction = "higher" if v.metric.higher_is_better else "lower"
    text = (
        f"On {v.dataset}, the best configuration by test {v.metric.label} ({direction} is "
        f"better) is {_standing(v.best)}."
    )
    if v.runner_up is None:
        return text + " There is no other configuration to compare it with."
    text += f" The runner-up is {_standing(v.runner_up)}."
    if v.lead == 0:
        return text + " The two tie."
    if np.isnan(v.spread):
        return text + (
            f" Its lead is {v.lead:.4f}; with a single seed there is no spread over seeds to "
            "compare it with, so run more seeds to tell whether it is real."
        )
    if v.lead > v.spread:
        return text + (
            f" Its lead of {v.lead:.4f} exceeds the spread over seeds ({v.spread:.4f}, the "
            "larger of the two standard deviations), so the seeds separate the two."
        )
    return text + (
        f" Its lead of {v.lead:.4f} does not exceed the spread over seeds ({v.spread:.4f}, the "
        "larger of the two standard deviations), so the seeds do not separate the two."
    )


def _link(path: str, text: str) -> str:
    return f'<a href="{html.escape(quote(path))}">{html.escape(text)}</a>'


def _number(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.4f}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    """An HTML table of cells that are already HTML."""
    return frame.to_html(index=False, escape=False, border=0, classes="table", na_rep="")


def _config_table(table: pd.DataFrame, summary: Summary, metrics: Sequence[Metric]) -> str:
    cells = pd.DataFrame({k: table[k].map(_number) for k in summary.config_keys})
    cells["runs"] = table["runs"].astype(str)
    cells["ok"] = table["ok"].astype(str)
    for m in metrics:
        mean, std = table[f"{m.name}_mean"], table[f"{m.name}_std"]
        cells[m.label] = [
            "" if np.isnan(a) else f"{a:.4f}" + ("" if np.isnan(b) else f" ± {b:.4f}")
            for a, b in zip(mean, std, strict=True)
        ]
    return _table(cells)


def _runs_table(
    runs: pd.DataFrame,
    summary: Summary,
    files: dict[str, set[str]],
    metrics: Sequence[Metric],
) -> str:
    cells = pd.DataFrame({k: runs[k].map(_number) for k in summary.keys})
    cells["status"] = runs["status"].map(_number)
    for m in metrics:
        if m.name in runs:
            cells[m.label] = runs[m.name].map(_number)
    if "fit_seconds" in runs:
        cells["fit s"] = runs["fit_seconds"].map(lambda v: "" if np.isnan(v) else f"{v:.1f}")
    cells["run"] = [
        " ".join(
            [_link(d + "/", "dir")]
            + [_link(f"{d}/{f}", PurePosixPath(f).stem) for f in RUN_FILES if f in files[d]]
        )
        for d in runs["run_dir"]
    ]
    cells["error"] = runs["error"].map(_number)
    return _table(cells)


STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1400px; color: #222; }
h1, h2 { font-weight: 600; }
table.table { border-collapse: collapse; font-size: 12px; margin: 1em 0; }
table.table th, table.table td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; }
table.table th { background: #f0f0f0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
.bad { color: #a00; }
"""


def render(
    *,
    title: str,
    summary: Summary,
    table: pd.DataFrame,
    figures: Sequence[tuple[str, str]],
    run_files: dict[str, set[str]],
) -> str:
    """The report page.

    Args:
        title: the page's heading (e.g. the sweep's directory).
        summary: the runs; ``table``: them grouped over seeds (``summary_by_config``).
        figures: (caption, path relative to the sweep's root) of each figure.
        run_files: per run directory, the names of the files it holds.
    """
    runs = summary.runs
    metrics = shown_metrics(runs.columns)
    counts = runs["status"].value_counts()
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>bnnrun sweep: {html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>bnnrun sweep: {html.escape(title)}</h1>",
        f"<p>{len(runs)} runs: {html.escape(status)}. Tables: "
        f"{_link('summary.csv', 'summary.csv')} (one row per run), "
        f"{_link('summary_by_config.csv', 'summary_by_config.csv')} (grouped over seeds).</p>",
    ]
    bad = runs[runs["status"].isin(NOT_OK)]
    if len(bad):
        parts.append(f'<h2 class="bad">{len(bad)} runs did not finish</h2>')
        parts.append(_runs_table(bad, summary, run_files, metrics))
    parts.append("<h2>Verdict</h2><ul>")
    found = verdicts(table, summary, metrics=metrics[:2])
    parts += [f"<li>{html.escape(verdict_text(v))}</li>" for v in found]
    if not found:
        parts.append("<li>No run finished ok, so there is nothing to compare.</li>")
    parts.append("</ul>")
    if figures:
        parts.append("<h2>Figures</h2>")
    for caption, path in figures:
        parts.append(
            f'<figure><a href="{html.escape(quote(path))}"><img src="{html.escape(quote(path))}" '
            f'alt="{html.escape(caption)}"></a><figcaption>{html.escape(caption)}</figcaption>'
            "</figure>"
        )
    parts.append("<h2>Configurations (mean ± std over seeds)</h2>")
    parts.append(_config_table(table, summary, metrics))
    parts.append("<h2>Runs</h2>")
    parts.append(_runs_table(runs, summary, run_files, metrics))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
