"""``report.html``: a sweep's tables, figures and verdict on one page that works offline.

The page links to its figures and to each run's directory by relative paths, so it opens from
the sweep's directory (or a copy of it) in any browser, without a network. Per data set and
ranked metric, its verdict ranks the configurations by their mean over replicates (with 95%
confidence intervals), says whether the best one's lead over the runner-up is beyond chance by
a paired test over their common replicates, corrected for the number of pairs tested
(:mod:`~bnnrun.sweep.statistics`), and names the configurations whose outcomes split into two
groups.

The page is for exploring: a table of contents, the command that made the sweep
(:data:`COMMAND`, written by :class:`~bnnrun.sweep.callback.SweepReport` when the multirun
starts), the settings every run shares shown once, tables that sort on a header's click and
filter by a box (their best value per metric column and data set highlighted), each run's
figures as thumbnails and links to every file it wrote, and the ELBO curves of all runs. Its
CSS and JavaScript are inline (:mod:`~bnnrun.sweep.report_assets`).
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple
from urllib.parse import quote

import numpy as np
import pandas as pd
import yaml

from bnnrun.sweep.figures import SHOWN, Metric, shown_metrics
from bnnrun.sweep.report_assets import SCRIPT, STYLE
from bnnrun.sweep.statistics import ALPHA, CONFIDENCE, MIN_BIMODAL, MIN_PAIRED, paired_comparisons
from bnnrun.sweep.summary import NOT_OK, Summary

#: The metrics the verdict ranks configurations by.
RANKED = (SHOWN[0], SHOWN[1])  # accuracy, NLL; a sweep of regressions ranks by RMSE and NLL
#: Suffixes of a run's figures (``analysis.figure_format``); of them, a browser shows
#: :data:`THUMBNAIL_SUFFIXES` as images, so the runs table shows those as thumbnails.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
THUMBNAIL_SUFFIXES = (".png", ".svg")
#: A run's files that the runs table links first, in this order, with these names; the rest
#: follow by file name.
NAMED_FILES = {".hydra/config.yaml": "config", ".hydra/overrides.yaml": "overrides",
               "bnnrun.log": "log", "metrics.json": "metrics"}  # fmt: skip
#: The file at a sweep's root that holds the command line that made it.
COMMAND = "command.txt"
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


def _link(path: str, text: str, *, title: str | None = None) -> str:
    tip = f' title="{html.escape(title)}"' if title else ""
    return f'<a href="{html.escape(quote(path))}"{tip}>{html.escape(text)}</a>'


def _number(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.4f}"
    return html.escape(str(value))


def _sort_value(value: object) -> float | None:
    """The number a cell sorts by (NaN for an empty one); None for a value that is not a
    number, which sorts by its text."""
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return None


class Cell(NamedTuple):
    """A table cell: its HTML, the number it sorts by (None: by its text; NaN: empty, sorted
    last), whether it holds its column's best value, and its CSS classes."""

    html: str
    value: float | None = None
    best: bool = False
    kind: str = ""


def _cell(value: object, *, best: bool = False) -> Cell:
    """A cell showing ``value`` (a number to 4 decimals), sorted by it if it is a number."""
    number = _sort_value(value)
    return Cell(_number(value), number, best, "num" if number is not None else "")


def _table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    table_id: str,
    row_attrs: Sequence[str] | None = None,
) -> str:
    """A sortable table with a filter box above it.

    Args:
        columns: the headers (plain text).
        rows: per row, one :class:`Cell` per column.
        table_id: the table's HTML id (unique on the page).
        row_attrs: per row, the value of its ``data-run`` attribute (its run directory).
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        attr = f' data-run="{html.escape(row_attrs[i])}"' if row_attrs is not None else ""
        cells = []
        for cell in row:
            classes = " ".join(c for c in (cell.kind, "best" if cell.best else "") if c)
            klass = f' class="{classes}"' if classes else ""
            value = ""
            if cell.value is not None:
                value = f' data-v="{"" if np.isnan(cell.value) else repr(cell.value)}"'
            cells.append(f"<td{klass}{value}>{cell.html}</td>")
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return (
        f'<div class="filterbar"><input type="search" class="filter" data-table="{table_id}" '
        'placeholder="filter: words a row must hold" aria-label="filter the rows of the table '
        'below"><span class="count"></span></div>'
        f'<div class="scroll"><table class="table sortable" id="{table_id}"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _best(values: pd.Series, higher_is_better: bool, groups: Sequence[str]) -> pd.Series:
    """True where a value is the best of its group (ties all best); never for NaN, nor in a
    group with a single value to compare."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    by = v.groupby(pd.Series(list(groups), index=v.index), sort=False)
    target = by.transform("max" if higher_is_better else "min")
    return (v == target) & v.notna() & (by.transform("count") > 1)


def _data_groups(frame: pd.DataFrame, summary: Summary) -> list[str]:
    """The data set of each row in words: best values are per data set."""
    return [data_label(row, summary) for _, row in frame.iterrows()]


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


def shown_keys(summary: Summary) -> list[str]:
    """The ``keys`` that take more than one value over the sweep's runs (the tables' key
    columns; the others are shown once, by :func:`constant_settings`)."""
    runs = summary.runs
    return [k for k in summary.keys if runs[k].nunique(dropna=False) > 1]


def constant_settings(summary: Summary) -> dict[str, object]:
    """``{key: value}`` of the ``keys`` that take one value in every run of the sweep."""
    runs = summary.runs
    return {k: runs[k].iloc[0] for k in summary.keys if runs[k].nunique(dropna=False) == 1}


def _config_table(table: pd.DataFrame, summary: Summary, metrics: Sequence[Metric]) -> str:
    keys = [k for k in summary.config_keys if k in shown_keys(summary)]
    groups = _data_groups(table, summary)
    columns = [*keys, "runs", "ok"]
    cols: list[list[Cell]] = [[_cell(v) for v in table[k]] for k in keys]
    cols += [[_cell(int(v)) for v in table["runs"]], [_cell(int(v)) for v in table["ok"]]]
    for m in metrics:
        stats = [f"{m.name}_{stat}" for stat in ("mean", "sem", "ci_low", "ci_high")]
        if stats[0] not in table:
            continue
        best = _best(table[stats[0]], m.higher_is_better, groups)
        columns.append(f"{m.label} mean ± SE [95% CI]")
        values = zip(*(table[c] for c in stats), strict=True)
        cols.append(
            [
                Cell(_mean_cell(*v), float(v[0]), bool(b), "num")
                for v, b in zip(values, best, strict=True)
            ]
        )
        if f"{m.name}_bimodal" in table:
            columns.append(f"{m.label} bimodal")
            cols.append([Cell(_flag(v)) for v in table[f"{m.name}_bimodal"]])
    rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
    return _table(columns, rows, table_id="configurations-table")


def _ranking_table(v: Verdict, table_id: str) -> str:
    """The configurations of a verdict, best first, each against the best."""
    means = pd.Series([s.mean for s in v.ranking])
    best = _best(means, v.metric.higher_is_better, [""] * len(means))
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
            [
                _cell(rank),
                Cell(html.escape(s.label)),
                _cell(s.n),
                Cell(f"{s.mean:.4f}", s.mean, bool(best[rank - 1]), "num"),
                Cell(ci, s.ci_low, kind="num"),
                Cell(_flag(s.bimodal)),
                Cell(html.escape(against)),
            ]
        )
    columns = ["rank", "configuration", f"{v.noun}s", f"mean {v.metric.label}", "95% CI",
               "bimodal", "against the best"]  # fmt: skip
    return _table(columns, rows, table_id=table_id)


def _pairs_table(pairs: pd.DataFrame, summary: Summary) -> str:
    """The pairs that differ beyond chance, smallest corrected p-value first."""
    found = pairs[pairs["differs"].fillna(False).astype(bool)].sort_values("p_adjusted")
    rows = [
        [
            Cell(html.escape(data_label(row, summary))),
            Cell(html.escape(str(row["metric"]))),
            Cell(html.escape(str(row["config_a"]))),
            Cell(html.escape(str(row["config_b"]))),
            _cell(int(row["n"])),
            Cell(
                f"{row['difference']:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]",
                float(row["difference"]),
                kind="num",
            ),
            Cell(f"{row['p_value']:.3g}", float(row["p_value"]), kind="num"),
            Cell(f"{row['p_adjusted']:.3g}", float(row["p_adjusted"]), kind="num"),
        ]
        for _, row in found.iterrows()
    ]
    columns = ["data set", "metric", "better", "than", "n", "better - than [95% CI]", "p",
               "corrected p"]  # fmt: skip
    return _table(columns, rows, table_id="pairs-table")


def _figure_cell(run_dir: str, names: set[str]) -> Cell:
    """Thumbnails of a run's figures that a browser shows, each opening its file; links to
    the others (PDFs)."""
    out = []
    for name in sorted(n for n in names if n.lower().endswith(FIGURE_SUFFIXES)):
        path = f"{run_dir}/{name}"
        stem = PurePosixPath(name).stem
        if name.lower().endswith(THUMBNAIL_SUFFIXES):
            out.append(
                f'<a class="thumb" href="{html.escape(quote(path))}" title="{html.escape(name)}">'
                f'<img class="thumb" src="{html.escape(quote(path))}" alt="{html.escape(stem)}" '
                f'loading="lazy"><span>{html.escape(stem).replace("_", "_<wbr>")}</span></a>'
            )
        else:
            out.append(_link(path, f"{stem} ({PurePosixPath(name).suffix[1:]})"))
    return Cell(" ".join(out), kind="figs")


def run_links(run_dir: str, names: set[str]) -> list[tuple[str, str]]:
    """(path relative to the sweep's root, text) of every file of a run the page links to:
    its directory, config, overrides, log and metrics, then its other files by name (figures
    aside: :func:`_figure_cell` shows them; hidden files, such as the lock, aside).

    Args:
        names: the names in the run's directory.
    """
    out = [(f"{run_dir}/", "dir")]
    for path, text in NAMED_FILES.items():
        if path.split("/")[0] in names:
            out.append((f"{run_dir}/{path}", text))
    named = {p.split("/")[0] for p in NAMED_FILES}
    rest = sorted(
        n
        for n in names
        if not n.startswith(".") and n not in named and not n.lower().endswith(FIGURE_SUFFIXES)
    )
    out += [(f"{run_dir}/{n}", n) for n in rest]
    return out


def _runs_table(
    runs: pd.DataFrame,
    summary: Summary,
    files: dict[str, set[str]],
    metrics: Sequence[Metric],
    *,
    table_id: str,
) -> str:
    keys = shown_keys(summary)
    groups = _data_groups(runs, summary)
    ok = runs["status"] == "ok"
    columns = [*keys, "status"]
    cols: list[list[Cell]] = [[_cell(v) for v in runs[k]] for k in keys]
    cols.append([_cell(v) for v in runs["status"]])
    for m in metrics:
        if m.name in runs:
            best = _best(runs[m.name].where(ok), m.higher_is_better, groups)
            columns.append(m.label)
            cols.append([_cell(v, best=bool(b)) for v, b in zip(runs[m.name], best, strict=True)])
    if "fit_seconds" in runs:
        columns.append("fit s")
        cols.append(
            [
                Cell("" if np.isnan(v) else f"{v:.1f}", float(v), kind="num")
                for v in runs["fit_seconds"].astype(float)
            ]
        )
    columns += ["figures", "files", "error"]
    cols.append([_figure_cell(d, files.get(d, set())) for d in runs["run_dir"]])
    cols.append(
        [
            Cell(" ".join(_link(p, t) for p, t in run_links(d, files.get(d, set()))), kind="files")
            for d in runs["run_dir"]
        ]
    )
    cols.append([_cell(v) for v in runs["error"]])
    rows = [list(r) for r in zip(*cols, strict=True)]
    return _table(columns, rows, table_id=table_id, row_attrs=list(runs["run_dir"]))


class Command(NamedTuple):
    """The command line that made a sweep, and where it was read from."""

    text: str
    source: str


def command_line(argv: Sequence[str], cwd: str) -> str:
    """The shell command that ran ``bnnrun`` with ``argv`` (``sys.argv``) in ``cwd``, every
    word shell-quoted: ``cd /dir && bnnrun -m prior=normal,laplace``."""
    return f"cd {shlex.quote(cwd)} && {shlex.join(['bnnrun', *argv[1:]])}"


def read_command(root: Path) -> Command | None:
    """The command that made the sweep at ``root``: its :data:`COMMAND` file (written when
    the multirun started), else rebuilt from the overrides in Hydra's ``multirun.yaml``;
    None when neither can be read."""
    try:
        text = (root / COMMAND).read_text(encoding="utf-8").strip()
        if text:
            return Command(text, COMMAND)
    except (OSError, UnicodeDecodeError):
        pass
    try:
        saved = yaml.safe_load((root / "multirun.yaml").read_text(encoding="utf-8"))
        overrides = saved["hydra"]["overrides"]
        words = [w for w in overrides.get("hydra") or [] if not w.startswith("hydra.mode=")]
        words += list(overrides.get("task") or [])
        if not all(isinstance(w, str) for w in words):
            return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    return Command(
        shlex.join(["bnnrun", "-m", *words]),
        "multirun.yaml's overrides (the working directory was not recorded)",
    )


def _gallery(figures: Sequence[tuple[str, str]]) -> str:
    """The sweep's figures, each opening its file: an image where a browser shows the format,
    else (a PDF) a link."""
    items = []
    for caption, path in figures:
        if path.lower().endswith(THUMBNAIL_SUFFIXES):
            shown = (
                f'<a href="{html.escape(quote(path))}"><img src="{html.escape(quote(path))}" '
                f'alt="{html.escape(caption)}" loading="lazy"></a>'
            )
        else:
            shown = _link(path, PurePosixPath(path).name)
        items.append(f"<figure>{shown}<figcaption>{html.escape(caption)}</figcaption></figure>")
    return f'<div class="gallery">{"".join(items)}</div>'


def render(
    *,
    title: str,
    summary: Summary,
    table: pd.DataFrame,
    figures: Sequence[tuple[str, str]],
    run_files: dict[str, set[str]],
    pairs: pd.DataFrame | None = None,
    command: Command | None = None,
) -> str:
    """The report page: one HTML file, its CSS and JavaScript inline
    (:mod:`~bnnrun.sweep.report_assets`), every other file linked by a relative path.

    Args:
        title: the page's heading (e.g. the sweep's directory).
        summary: the runs; ``table``: them grouped over replicates (``summary_by_config``).
        figures: (caption, path relative to the sweep's root) of each figure; those named
            ``elbo_*`` go under "Training curves".
        run_files: per run directory, the names of the files it holds.
        pairs: the paired comparisons (``comparisons.csv``, :func:`comparisons`); computed
            when None.
        command: the command line that made the sweep (:func:`read_command`).
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
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>bnnrun sweep: {html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>bnnrun sweep: {html.escape(title)}</h1>",
        f"<p>{len(runs)} runs: {html.escape(status)}.</p>",
    ]
    if command is not None:
        parts.append(
            f'<p class="note">The command that made it (from {html.escape(command.source)}):</p>'
            f'<pre class="command" id="command">{html.escape(command.text)}</pre>'
        )
    else:
        parts.append('<p class="note">The command that made this sweep was not recorded.</p>')
    parts.append(TOC)  # filled in below, once every section is known
    parts.append('<h2 id="settings">Settings and files</h2>')
    constant = constant_settings(summary)
    if constant:
        parts.append("<p>The same in every run (not repeated in the tables):</p>")
        parts.append(
            '<dl class="settings">'
            + "".join(
                f"<dt>{html.escape(k)}</dt><dd>{_number(v)}</dd>" for k, v in constant.items()
            )
            + "</dl>"
        )
    varying = shown_keys(summary)
    parts.append(
        f"<p>Varying: {html.escape(', '.join(varying) or 'nothing (one run)')}. "
        f"{html.escape(summary.variation())}</p>"
    )
    parts.append(
        f"<p>Tables: {_link('summary.csv', 'summary.csv')} (one row per run), "
        f"{_link('summary_by_config.csv', 'summary_by_config.csv')} (grouped over "
        f"{html.escape(summary.replicate_noun())}), "
        f"{_link('comparisons.csv', 'comparisons.csv')} (every pair of configurations on a data "
        "set, paired by replicate). In the tables below, click a header to sort by it (again to "
        "reverse); type words in a table's box to show only the rows that hold them all. The "
        "best value of each metric column (among the runs that finished ok, per data set) is "
        'shown <span class="best-key">in bold on green</span>.</p>'
    )
    bad = runs[runs["status"].isin(NOT_OK)]
    if len(bad):
        parts.append(f'<h2 class="bad" id="failed">{len(bad)} runs did not finish</h2>')
        parts.append(_runs_table(bad, summary, run_files, metrics, table_id="failed-table"))
    parts.append('<h2 id="verdict">Verdict</h2>')
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
    for i, v in enumerate(found):
        parts.append(f"<p>{html.escape(verdict_text(v))}</p>")
        if len(v.ranking) > 1:
            parts.append(_ranking_table(v, f"ranking-{i}"))
    if not found:
        parts.append("<p>No run finished ok, so there is nothing to compare.</p>")
    tested = int(pairs["p_value"].notna().sum())
    differ = int(pairs["differs"].fillna(False).astype(bool).sum())
    parts.append('<h2 id="pairs">Pairs that differ beyond chance</h2>')
    parts.append(
        f"<p>{len(pairs)} pairs of configurations (by {', '.join(m.label for m in ranked)}), "
        f"{tested} with at least {MIN_PAIRED} common {noun}s tested, {differ} of them differ "
        f"beyond chance (corrected p &lt; {ALPHA:.2g}). Every pair is in "
        f"{_link('comparisons.csv', 'comparisons.csv')}.</p>"
    )
    if differ:
        parts.append(_pairs_table(pairs, summary))
    curves = [f for f in figures if PurePosixPath(f[1]).name.startswith("elbo_")]
    others = [f for f in figures if f not in curves]
    if others:
        parts.append('<h2 id="figures">Figures</h2>')
        parts.append('<p class="note">Click a figure to open it at full size.</p>')
        parts.append(_gallery(others))
    if curves:
        parts.append('<h2 id="training">Training curves</h2>')
        parts.append(_gallery(curves))
    parts.append(
        f'<h2 id="configurations">Configurations (over {html.escape(summary.replicate_noun())})'
        "</h2>"
    )
    parts.append(
        f"<p>{html.escape(summary.variation())} Each cell: mean ± standard error of the mean "
        f"(std / sqrt(n)) [{CONFIDENCE:.0%} confidence interval, Student t with n - 1 degrees "
        "of freedom]; a column sorts by the mean.</p>"
    )
    parts.append(_config_table(table, summary, metrics))
    parts.append('<h2 id="runs">Runs</h2>')
    parts.append(
        '<p class="note">Each run\'s figures as thumbnails (click one to open it; figures a '
        "browser does not show, such as PDFs, as links) and every file it wrote.</p>"
    )
    parts.append(_runs_table(runs, summary, run_files, metrics, table_id="runs-table"))
    parts.append(f"<script>{SCRIPT}</script>")
    parts.append("</body></html>")
    parts[parts.index(TOC)] = _contents(parts)
    return "\n".join(parts) + "\n"


#: Where the table of contents goes, until :func:`_contents` makes it.
TOC = "<!-- contents -->"
_SECTION = re.compile(r'<h2[^>]*\bid="([^"]+)"[^>]*>(.*?)</h2>', re.S)


def _contents(parts: Sequence[str]) -> str:
    """The table of contents: a link to every ``h2`` with an id, in page order."""
    items = "".join(
        f'<li><a href="#{anchor}">{text}</a></li>'
        for part in parts
        for anchor, text in _SECTION.findall(part)
    )
    return f'<nav id="toc" aria-label="contents"><strong>Contents</strong><ol>{items}</ol></nav>'
