"""``report.html``: a sweep's tables, figures and verdict on one page that works offline.

The page links to its figures and to each run's directory by relative paths, so it opens from
the sweep's directory (or a copy of it) in any browser, without a network. Per data set and
ranked metric, its verdict ranks the configurations by their mean over replicates (with 95%
confidence intervals), says whether the best one's lead over the runner-up is beyond chance by
a paired test over their common replicates, corrected for the number of pairs tested
(:mod:`~bnnrun.sweep.statistics`), and names the configurations whose outcomes split into two
groups.
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
from bnnrun.sweep.statistics import ALPHA, CONFIDENCE, MIN_BIMODAL, MIN_PAIRED, paired_comparisons
from bnnrun.sweep.summary import NOT_OK, Summary

#: The metrics the verdict ranks configurations by.
RANKED = (SHOWN[0], SHOWN[1])  # accuracy, NLL; a sweep of regressions ranks by RMSE and NLL
#: Files of a run that the runs table links to, if the run has them.
RUN_FILES = ("metrics.json", "predictive_std.png", "predictive_mean.png", "elbo.png")
#: The column of a run's (or configuration's) label in the frames of this module.
CONFIG = "configuration"


def ranked_metrics(summary: Summary) -> tuple[Metric, ...]:
    """The metrics the verdict ranks by: the first two that the report shows."""
    return shown_metrics(summary.runs.columns)[:2]


class Standing(NamedTuple):
    """A configuration's result on one metric over its replicates.

    Attributes:
        label: the configuration (``prior=laplace, hyperprior=fixed``).
        mean, ci_low, ci_high: the mean and its 95% t interval (NaN with one replicate).
        n: replicates that finished ok.
        bimodal: the bimodality flag (None: too few replicates to tell, or not tested).
    """

    label: str
    mean: float
    ci_low: float
    ci_high: float
    n: int
    bimodal: bool | None = None


class Verdict(NamedTuple):
    """The configurations on one data set, ranked by one metric, and their paired comparisons.

    Attributes:
        dataset: the data set in words (``moons``, or ``uci (dataset.path=...)``).
        metric: the metric ranked by.
        ranking: every configuration with an ok run, best mean first.
        pairs: the rows of :func:`comparisons` for this data set and metric.
        noun: what one replicate is (``seed``, ``split``, ...).
    """

    dataset: str
    metric: Metric
    ranking: list[Standing]
    pairs: pd.DataFrame
    noun: str = "seed"

    @property
    def best(self) -> Standing:
        return self.ranking[0]

    @property
    def runner_up(self) -> Standing | None:
        return self.ranking[1] if len(self.ranking) > 1 else None

    @property
    def lead(self) -> float:
        """The best mean minus the runner-up's, in absolute value (NaN without a runner-up)."""
        return abs(self.best.mean - self.runner_up.mean) if self.runner_up else float("nan")

    def pair(self, a: str, b: str) -> pd.Series | None:
        """The comparison of configurations ``a`` and ``b`` (in either order), if listed."""
        rows = self.pairs[
            ((self.pairs["config_a"] == a) & (self.pairs["config_b"] == b))
            | ((self.pairs["config_a"] == b) & (self.pairs["config_b"] == a))
        ]
        return rows.iloc[0] if len(rows) else None

    def not_separated(self) -> list[str]:
        """The other configurations that the paired tests do not separate from the best:
        corrected p-value at least :data:`~bnnrun.sweep.statistics.ALPHA`, or too few common
        replicates to test."""
        out = []
        for s in self.ranking[1:]:
            row = self.pair(self.best.label, s.label)
            if row is None or pd.isna(row["differs"]) or not row["differs"]:
                out.append(s.label)
        return out


def config_label(row: pd.Series, keys: Sequence[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys) or "the only configuration"


def label_keys(summary: Summary) -> list[str]:
    """The keys that tell the configurations on one data set apart: the varying
    ``config_keys`` that are not ``data_keys``."""
    return [k for k in summary.varying() if k not in summary.data_keys]


def data_label(row: pd.Series, summary: Summary) -> str:
    """The data set of ``row`` in words: ``moons``, or ``uci (dataset.path=...)`` when other
    data keys vary in the sweep."""
    extra = [k for k in summary.varying() if k in summary.data_keys and k != "dataset"]
    return str(row["dataset"]) + (f" ({config_label(row, extra)})" if extra else "")


def labelled(frame: pd.DataFrame, summary: Summary) -> pd.DataFrame:
    """``frame`` (runs or configurations) with the :data:`CONFIG` label column added."""
    keys = label_keys(summary)
    out = frame.copy()
    out[CONFIG] = [config_label(row, keys) for _, row in frame.iterrows()]
    return out


def comparisons(summary: Summary, metrics: Sequence[Metric] | None = None) -> pd.DataFrame:
    """Every pair of configurations on each data set, paired by replicate (``comparisons.csv``):
    :func:`~bnnrun.sweep.statistics.paired_comparisons` of the runs that finished ok, by the
    ranked metrics (default: :func:`ranked_metrics`), with configurations labelled by
    :func:`label_keys`."""
    metrics = ranked_metrics(summary) if metrics is None else metrics
    ok = labelled(summary.runs[summary.runs["status"] == "ok"], summary)
    return paired_comparisons(
        ok,
        data_keys=summary.data_keys,
        config=CONFIG,
        replicates=summary.replicate_keys,
        metrics={m.name: m.higher_is_better for m in metrics if m.name in summary.runs},
    )


def verdicts(
    table: pd.DataFrame,
    summary: Summary,
    pairs: pd.DataFrame | None = None,
    *,
    metrics: Sequence[Metric] | None = None,
) -> list[Verdict]:
    """Per data set and ranked metric, the configurations ranked by mean, with their paired
    comparisons.

    Args:
        table: the configurations (:func:`~bnnrun.sweep.summary.by_config`).
        pairs: :func:`comparisons` of the sweep (computed when None).
        metrics: the metrics to rank by (default: :func:`ranked_metrics`).
    """
    metrics = ranked_metrics(summary) if metrics is None else metrics
    pairs = comparisons(summary, metrics) if pairs is None else pairs
    table = labelled(table, summary)
    noun = summary.replicate_noun(plural=False)
    data_keys = summary.data_keys
    out = []
    for _, rows in table.groupby(data_keys, dropna=False, sort=False):
        here = pairs
        for k in data_keys:
            value = rows[k].iloc[0]
            here = here[here[k].isna()] if pd.isna(value) else here[here[k] == value]
        for metric in metrics:
            name = metric.name
            if f"{name}_count" not in rows:
                continue
            ranked = rows[rows[f"{name}_count"] > 0].sort_values(
                f"{name}_mean", ascending=not metric.higher_is_better, kind="stable"
            )
            flags = ranked.get(f"{name}_bimodal", pd.Series(pd.NA, index=ranked.index))
            ranking = [
                Standing(
                    row[CONFIG],
                    float(row[f"{name}_mean"]),
                    float(row[f"{name}_ci_low"]),
                    float(row[f"{name}_ci_high"]),
                    int(row[f"{name}_count"]),
                    None if pd.isna(flag) else bool(flag),
                )
                for (_, row), flag in zip(ranked.iterrows(), flags, strict=True)
            ]
            if ranking:
                dataset = data_label(rows.iloc[0], summary)
                mine = here[here["metric"] == name].reset_index(drop=True)
                out.append(Verdict(dataset, metric, ranking, mine, noun))
    return out


def _standing(s: Standing, noun: str) -> str:
    if s.n < 2:
        return f"{s.label} ({s.mean:.4f}, one {noun})"
    return (
        f"{s.label} (mean {s.mean:.4f}, 95% CI {s.ci_low:.4f} to {s.ci_high:.4f}, "
        f"over {s.n} {noun}s)"
    )


def _pair_text(v: Verdict) -> str:
    """Whether the best configuration's lead over the runner-up is beyond chance."""
    best, second, noun = v.best, v.runner_up, v.noun
    row = v.pair(best.label, second.label)
    n = 0 if row is None else int(row["n"])
    if n < MIN_PAIRED:
        if n <= 1 and min(best.n, second.n) <= 1:
            spread = f"with a single {noun} there is no spread over {noun}s to compare it with"
        else:
            spread = (
                f"the two share {n or 'no'} {noun}{'' if n == 1 else 's'}, fewer than the "
                f"{MIN_PAIRED} a paired test needs"
            )
        return (
            f" Its lead is {v.lead:.4f}; {spread}, so run more {noun}s to tell whether it is real."
        )
    beyond = bool(row["differs"])
    # The lead of config_a (the better one) in the metric's good direction, with its interval.
    sign = 1.0 if v.metric.higher_is_better else -1.0
    low, high = sorted((sign * row["ci_low"], sign * row["ci_high"]))
    return (
        f" Paired over their {n} common {noun}s, {row['config_a']} is ahead by "
        f"{sign * row['difference']:.4f} (95% CI {low:.4f} to {high:.4f}); Wilcoxon "
        f"signed-rank p = {row['p_value']:.3g}, "
        f"{row['p_adjusted']:.3g} after the Benjamini-Hochberg correction over every tested "
        f"pair: the lead is {'beyond' if beyond else 'within'} chance (at the {ALPHA:.2g} "
        "level)."
    )


def verdict_text(v: Verdict) -> str:
    """The verdict in words."""
    direction = "higher" if v.metric.higher_is_better else "lower"
    text = (
        f"On {v.dataset}, the best configuration by test {v.metric.label} ({direction} is "
        f"better) is {_standing(v.best, v.noun)}."
    )
    if v.runner_up is None:
        return text + " There is no other configuration to compare it with."
    text += f" The runner-up is {_standing(v.runner_up, v.noun)}."
    text += " The two tie." if v.lead == 0 else _pair_text(v)
    if len(v.ranking) > 2:
        tied = v.not_separated()
        if tied:
            text += (
                f" Not separated from the best ({len(tied)} of {len(v.ranking) - 1}): "
                + "; ".join(tied)
                + "."
            )
        else:
            text += " The best differs beyond chance from every other configuration."
    bimodal = [s.label for s in v.ranking if s.bimodal]
    if bimodal:
        text += (
            f" Bimodal over {v.noun}s (two separated groups of outcomes, the mean between "
            "them; see the strip plot): " + "; ".join(bimodal) + "."
        )
    return text


def _link(path: str, text: str) -> str:
    return f'<a href="{html.escape(quote(path))}">{html.escape(text)}</a>'


def _number(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.4f}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    """An HTML table of cells that are already HTML."""
    return frame.to_html(index=False, escape=False, border=0, classes="table", na_rep="")


def _flag(value: object) -> str:
    if value is None or pd.isna(value):
        return f"n < {MIN_BIMODAL}"
    return "yes" if value else "no"


def _mean_cell(mean: float, sem: float, low: float, high: float) -> str:
    """``mean ± SE [CI low, CI high]``."""
    if np.isnan(mean):
        return ""
    if np.isnan(sem):
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {sem:.4f} [{low:.4f}, {high:.4f}]"


def _config_table(table: pd.DataFrame, summary: Summary, metrics: Sequence[Metric]) -> str:
    cells = pd.DataFrame({k: table[k].map(_number) for k in summary.config_keys})
    cells["runs"] = table["runs"].astype(str)
    cells["ok"] = table["ok"].astype(str)
    for m in metrics:
        columns = [f"{m.name}_{stat}" for stat in ("mean", "sem", "ci_low", "ci_high")]
        if columns[0] not in table:
            continue
        cells[m.label] = [
            _mean_cell(*values) for values in zip(*(table[c] for c in columns), strict=True)
        ]
        if f"{m.name}_bimodal" in table:
            cells[f"{m.label} bimodal"] = table[f"{m.name}_bimodal"].map(_flag)
    return _table(cells)


def _ranking_table(v: Verdict) -> str:
    """The configurations of a verdict, best first, each against the best."""
    rows = []
    for rank, s in enumerate(v.ranking, start=1):
        pair = v.pair(v.best.label, s.label) if rank > 1 else None
        if rank == 1:
            against = ""
        elif pair is None:
            against = f"not tested (no common {v.noun}s)"
        elif pd.isna(pair["p_adjusted"]):
            against = f"not tested ({int(pair['n'])} common {v.noun}s)"
        else:
            verdict = "differs" if pair["differs"] else "not separated"
            against = f"{verdict} (corrected p = {pair['p_adjusted']:.3g}, n = {int(pair['n'])})"
        ci = "" if np.isnan(s.ci_low) else f"[{s.ci_low:.4f}, {s.ci_high:.4f}]"
        rows.append(
            {
                "rank": str(rank),
                "configuration": html.escape(s.label),
                v.noun + "s": str(s.n),
                f"mean {v.metric.label}": f"{s.mean:.4f}",
                "95% CI": ci,
                "bimodal": _flag(s.bimodal),
                "against the best": html.escape(against),
            }
        )
    return _table(pd.DataFrame(rows))


def _pairs_table(pairs: pd.DataFrame, summary: Summary) -> str:
    """The pairs that differ beyond chance, smallest corrected p-value first."""
    found = pairs[pairs["differs"].fillna(False).astype(bool)].sort_values("p_adjusted")
    cells = pd.DataFrame(
        {
            "data set": [data_label(row, summary) for _, row in found.iterrows()],
            "metric": found["metric"],
            "better": found["config_a"],
            "than": found["config_b"],
            "n": found["n"].astype(str),
            "better - than [95% CI]": [
                f"{d:.4f} [{lo:.4f}, {hi:.4f}]"
                for d, lo, hi in zip(
                    found["difference"], found["ci_low"], found["ci_high"], strict=True
                )
            ],
            "p": found["p_value"].map(lambda p: f"{p:.3g}"),
            "corrected p": found["p_adjusted"].map(lambda p: f"{p:.3g}"),
        }
    )
    cells[["data set", "metric", "better", "than"]] = cells[
        ["data set", "metric", "better", "than"]
    ].map(html.escape)
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
    pairs: pd.DataFrame | None = None,
) -> str:
    """The report page.

    Args:
        title: the page's heading (e.g. the sweep's directory).
        summary: the runs; ``table``: them grouped over replicates (``summary_by_config``).
        figures: (caption, path relative to the sweep's root) of each figure.
        run_files: per run directory, the names of the files it holds.
        pairs: the paired comparisons (``comparisons.csv``, :func:`comparisons`); computed
            when None.
    """
    runs = summary.runs
    metrics = shown_metrics(runs.columns)
    ranked = ranked_metrics(summary)
    pairs = comparisons(summary, ranked) if pairs is None else pairs
    noun = summary.replicate_noun(plural=False)
    counts = runs["status"].value_counts()
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>bnnrun sweep: {html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>bnnrun sweep: {html.escape(title)}</h1>",
        f"<p>{len(runs)} runs: {html.escape(status)}. Tables: "
        f"{_link('summary.csv', 'summary.csv')} (one row per run), "
        f"{_link('summary_by_config.csv', 'summary_by_config.csv')} (grouped over "
        f"{html.escape(summary.replicate_noun())}), "
        f"{_link('comparisons.csv', 'comparisons.csv')} (every pair of configurations on a data "
        "set, paired by replicate).</p>",
        f"<p>{html.escape(summary.variation())}</p>",
    ]
    bad = runs[runs["status"].isin(NOT_OK)]
    if len(bad):
        parts.append(f'<h2 class="bad">{len(bad)} runs did not finish</h2>')
        parts.append(_runs_table(bad, summary, run_files, metrics))
    parts.append("<h2>Verdict</h2>")
    parts.append(
        f"<p>Configurations are ranked by their mean over {noun}s, with its "
        f"{CONFIDENCE:.0%} confidence interval (Student t, n - 1 degrees of freedom). Two "
        f"configurations on one data set are compared {noun} by {noun} (they share the data): "
        f"with at least {MIN_PAIRED} common {noun}s, by the two-sided Wilcoxon signed-rank "
        "test of their differences, its p-values corrected over every tested pair of the sweep "
        f"(Benjamini-Hochberg); a pair differs beyond chance when the corrected p-value is "
        f"below {ALPHA:.2g}. A configuration is bimodal when its outcomes split into two "
        f"separated groups (at least {MIN_BIMODAL} {noun}s; see docs/sweeps.md).</p>"
    )
    found = verdicts(table, summary, pairs, metrics=ranked)
    for v in found:
        parts.append(f"<p>{html.escape(verdict_text(v))}</p>")
        if len(v.ranking) > 1:
            parts.append(_ranking_table(v))
    if not found:
        parts.append("<p>No run finished ok, so there is nothing to compare.</p>")
    tested = int(pairs["p_value"].notna().sum())
    differ = int(pairs["differs"].fillna(False).astype(bool).sum())
    parts.append("<h2>Pairs that differ beyond chance</h2>")
    parts.append(
        f"<p>{len(pairs)} pairs of configurations (by {', '.join(m.label for m in ranked)}), "
        f"{tested} with at least {MIN_PAIRED} common {noun}s tested, {differ} of them differ "
        f"beyond chance (corrected p &lt; {ALPHA:.2g}). Every pair is in "
        f"{_link('comparisons.csv', 'comparisons.csv')}.</p>"
    )
    if differ:
        parts.append(_pairs_table(pairs, summary))
    if figures:
        parts.append("<h2>Figures</h2>")
    for caption, path in figures:
        parts.append(
            f'<figure><a href="{html.escape(quote(path))}"><img src="{html.escape(quote(path))}" '
            f'alt="{html.escape(caption)}"></a><figcaption>{html.escape(caption)}</figcaption>'
            "</figure>"
        )
    parts.append(f"<h2>Configurations (over {html.escape(summary.replicate_noun())})</h2>")
    parts.append(
        f"<p>{html.escape(summary.variation())} Each cell: mean ± standard error of the mean "
        f"(std / sqrt(n)) [{CONFIDENCE:.0%} confidence interval, Student t with n - 1 degrees "
        "of freedom].</p>"
    )
    parts.append(_config_table(table, summary, metrics))
    parts.append("<h2>Runs</h2>")
    parts.append(_runs_table(runs, summary, run_files, metrics))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
