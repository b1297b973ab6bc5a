"""A sweep's runs as tables, read from the job directories on disk.

Every job directory under a sweep's root holds Hydra's ``.hydra/overrides.yaml`` and
``.hydra/config.yaml`` and, once the job ended, bnnrun's ``metrics.json``. Reading only these
files, never process memory, the summary is the same whichever launcher ran the jobs, in
whichever processes or machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from bnnrun.errors import DataError
from bnnrun.rundir import read_metrics
from bnnrun.sweep.figures import shown_metrics
from bnnrun.sweep.resume import NOT_COMPARED
from bnnrun.sweep.statistics import bimodality, t_interval

HYDRA_DIR = ".hydra"
#: Columns naming a run's choices, and where its saved config holds them.
CHOICES = {"dataset": ("dataset", "name"), "prior": ("prior", "family"),
           "hyperprior": ("hyperprior", "kind")}  # fmt: skip
#: Numbers in ``metrics.json`` that identify a run rather than measure it.
NOT_METRICS = frozenset(
    {"seed", "num_params", "num_steps", "num_train", "num_test", "num_classes", "diverged_at"}
    | {"target_loc", "target_scale", "num_dropped_rows"}
)
#: Keys whose values are replicates of one configuration, which tables group over: the seed
#: (inference variation), and the data draw (data variation): ``dataset.seed``, and the split of
#: a benchmark with fixed splits (the UCI sets' ``dataset.split``).
REPLICATES = ("seed", "dataset.seed", "dataset.split")
#: What the spread over each of the :data:`REPLICATES` is.
VARIATION = {
    "seed": "inference variation: the network's initialisation and the optimiser's random "
    "draws, on one fixed draw of the data",
    "dataset.seed": "data variation: another random draw of the data set and its train/test split",
    "dataset.split": "data variation: another of the data set's fixed train/test splits",
}
#: What one replicate over each of the :data:`REPLICATES` is called.
REPLICATE_NOUNS = {"seed": "seed", "dataset.seed": "data seed", "dataset.split": "split"}
#: A data set's config fields that are not part of its identity: replicates of it.
DATA_REPLICATE_FIELDS = ("seed", "split")
#: Metrics that lie on a grid: {metric: the count whose reciprocal is the grid's step}
#: (an accuracy on ``num_test`` points is a multiple of ``1 / num_test``).
DISCRETE = {"accuracy": "num_test", "accuracy_vote": "num_test"}
#: Statuses of jobs that were meant to finish and did not.
NOT_OK = ("failed", "diverged", "missing", "unreadable")
MISSING_ERROR = "no metrics.json: the job was killed, or is still running"


class Summary(NamedTuple):
    """The runs of a sweep.

    Attributes:
        runs: one row per job: ``keys``, ``status``, ``error``, every entry of ``metrics.json``
            that is a single value, and ``run_dir`` (relative to the sweep's root).
        keys: the columns that name a run's configuration: its dataset, prior and hyperprior,
            every key overridden in any job (``runtime.*`` aside), any other ``dataset.*``
            setting that differs between jobs of one data set (set by an experiment, say), and
            ``seed`` (last).
        metrics: the numeric columns that measure a run.
        seeded_data: some job's data set draws its data with the run's seed
            (``dataset.seed: ${seed}``, as the transfer experiments do), so that its spread over
            ``seed`` is data variation too.
    """

    runs: pd.DataFrame
    keys: list[str]
    metrics: list[str]
    seeded_data: bool = False

    @property
    def config_keys(self) -> list[str]:
        """``keys`` without the :data:`REPLICATES`: what a configuration is, over its
        replicates (seeds, data seeds, fixed splits)."""
        return [k for k in self.keys if k not in REPLICATES]

    @property
    def replicate_keys(self) -> list[str]:
        """The :data:`REPLICATES` among ``keys``: what tells the replicates of a configuration
        apart, and what paired comparisons pair them by."""
        return [k for k in REPLICATES if k in self.keys]

    @property
    def data_keys(self) -> list[str]:
        """The ``config_keys`` that say which data set a run used: ``dataset`` and every
        ``dataset.*`` key (``dataset.path``, ``dataset.noise``, ...). Configurations are ranked
        and compared only against others on the same data set."""
        return [k for k in self.config_keys if k == "dataset" or k.startswith("dataset.")]

    def varying(self) -> list[str]:
        """The ``config_keys`` that take more than one value in this sweep."""
        runs = self.runs
        return [k for k in self.config_keys if runs[k].nunique(dropna=False) > 1]

    def varying_replicates(self) -> list[str]:
        """The ``replicate_keys`` that take more than one value within some configuration."""
        runs = self.runs[self.runs["status"] != "skipped"]
        if runs.empty:
            return []
        groups = runs.groupby(self.config_keys, dropna=False, sort=False)
        return [k for k in self.replicate_keys if (groups[k].nunique(dropna=False) > 1).any()]

    def replicate_noun(self, *, plural: bool = True) -> str:
        """What one of a configuration's replicates is: ``seed``, ``split``, ``data seed``,
        or ``replicate`` when several keys vary (with ``plural``: ``seeds``, ...,
        ``replicates (seed, dataset.split)``)."""
        varying = self.varying_replicates()
        noun = REPLICATE_NOUNS[varying[0]] if len(varying) == 1 else "replicate"
        if not varying:
            noun = "seed"
        if not plural:
            return noun
        return f"{noun}s ({', '.join(varying)})" if len(varying) > 1 else f"{noun}s"

    def variation(self) -> str:
        """In words, which kind of variation the spread within a configuration is: over
        ``seed`` inference variation (the data fixed), over ``dataset.seed`` or
        ``dataset.split`` data variation."""
        varying = self.varying_replicates()
        if not varying:
            return "Each configuration has one run, so there is no spread within one."
        kinds = []
        for key in varying:
            kind = VARIATION[key]
            if key == "seed" and self.seeded_data:
                kind = (
                    "inference and data variation together: the seed also draws the data "
                    "(dataset.seed: ${seed})"
                )
            elif key == "seed" and len(varying) > 1:
                kind = kind.split(", on one fixed draw")[0]  # the data varies too, over its key
            kinds.append(f"over {key} ({kind})")
        return "The spread within a configuration is " + "; and ".join(kinds) + "."


def job_dirs(root: Path) -> list[Path]:
    """Directories under ``root`` that Hydra ran a job of the sweep in.

    A single run kept there (a transfer experiment's ``pretrain/``, whose ``hydra.yaml``
    records ``mode: RUN``) is not a job of the sweep.
    """
    root = Path(root)
    found = (p.parent.parent for p in root.glob(f"**/{HYDRA_DIR}/overrides.yaml"))
    return sorted(d for d in found if d != root and not _single_run(d))


def _single_run(run_dir: Path) -> bool:
    path = run_dir / HYDRA_DIR / "hydra.yaml"
    return path.is_file() and (_read_yaml(path) or {}).get("hydra", {}).get("mode") == "RUN"


def _override_values(lines: Iterable[str]) -> dict[str, Any]:
    """``{key: value}`` of a job's overrides, leaving out settings that do not change results."""
    values = {}
    for ov in OverridesParser.create().parse_overrides(list(lines)):
        if ov.key_or_group.split(".")[0] in NOT_COMPARED:
            continue
        value = ov.value()
        if not isinstance(value, str | int | float | bool) or value is None:
            value = ov.get_value_element_as_str()
        values[ov.key_or_group] = value
    return values


def _read_yaml(path: Path) -> Any:
    """The YAML file at ``path``.

    Raises:
        DataError: it is not valid YAML (or not text).
    """
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path} is not valid YAML ({first}): fix or remove the job's directory"
        ) from None


def _job_config(path: Path) -> dict[str, Any]:
    """A job's ``.hydra/config.yaml``, checked to hold what the summary reads from it.

    Raises:
        DataError: it does not.
    """
    cfg = _read_yaml(path)
    ok = isinstance(cfg, dict) and "seed" in cfg
    ok = ok and all(isinstance(cfg.get(group), dict) for group, _ in CHOICES.values())
    if not ok:
        needs = ", ".join(f"{group}.{k}" for group, k in CHOICES.values())
        raise DataError(
            f"{path} is not a job's config (it needs {needs} and seed): fix or remove the "
            "job's directory"
        )
    return cfg


def _job_overrides(path: Path) -> dict[str, Any]:
    """The values of a job's ``.hydra/overrides.yaml`` (see :func:`_override_values`).

    Raises:
        DataError: it is not a list of overrides.
    """
    lines = _read_yaml(path) or []
    try:
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ValueError("not a list of strings")
        return _override_values(lines)
    except (ValueError, HydraException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path} is not a list of overrides ({first}): fix or remove the job's directory"
        ) from None


def _job_record(run_dir: Path) -> dict[str, Any]:
    """A job's ``metrics.json``; one that is missing, or not a JSON object of UTF-8 text, reads
    as status ``missing`` or ``unreadable``."""
    try:
        record = read_metrics(run_dir)
    except (UnicodeDecodeError, OSError) as exc:  # bytes that are not text, a directory
        return {"status": "unreadable", "error": f"metrics.json cannot be read: {exc}"}
    if record is None or record == {}:
        return {"status": "missing", "error": MISSING_ERROR}
    if not isinstance(record, dict):
        return {"status": "unreadable", "error": "metrics.json is not a JSON object"}
    return record


def read_job(root: Path, run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One job: (its configuration: choices, overrides and seed; its outcome: status, error,
    the single values of its ``metrics.json`` and its directory relative to ``root``; its
    ``dataset`` group as Hydra saved it, interpolations such as ``${seed}`` unresolved)."""
    cfg = _job_config(run_dir / HYDRA_DIR / "config.yaml")
    key: dict[str, Any] = {col: cfg[group].get(k) for col, (group, k) in CHOICES.items()}
    key.update(_job_overrides(run_dir / HYDRA_DIR / "overrides.yaml"))
    key["seed"] = cfg["seed"]
    record = _job_record(run_dir)
    outcome: dict[str, Any] = {"status": record.get("status"), "error": record.get("error") or ""}
    outcome.update(
        (k, v)
        for k, v in record.items()
        if k not in outcome and k not in key and (v is None or isinstance(v, str | int | float))
    )
    outcome["run_dir"] = run_dir.relative_to(root).as_posix()
    return key, outcome, dict(cfg.get("dataset") or {})


def _data_settings(jobs: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> None:
    """Add to each job's key the ``dataset.*`` settings that differ between jobs of one data
    set without being overridden (an experiment's, say): they make another data set."""
    settings = [
        {
            f"dataset.{k}": str(v) if isinstance(v, list | dict) else v
            for k, v in data.items()
            if k != "name" and k not in DATA_REPLICATE_FIELDS
        }
        for _, _, data in jobs
    ]
    names = [key["dataset"] for key, _, _ in jobs]
    differ: set[str] = set()
    for name in set(names):
        same = [s for s, n in zip(settings, names, strict=True) if n == name]
        for field in {f for s in same for f in s}:
            if len({repr(s.get(field)) for s in same}) > 1:
                differ.add(field)
    for (key, _, _), setting in zip(jobs, settings, strict=True):
        for field in sorted(differ - set(key)):
            key[field] = setting.get(field)


def read_sweep(root: Path) -> Summary:
    """The summary of every job under ``root``, sorted by configuration and seed."""
    root = Path(root)
    jobs = [read_job(root, d) for d in job_dirs(root)]
    _data_settings(jobs)
    keys = [*dict.fromkeys(k for key, _, _ in jobs for k in key if k != "seed"), "seed"]
    outcome_cols = list(dict.fromkeys(k for _, out, _ in jobs for k in out if k != "run_dir"))
    frame = pd.DataFrame(
        [{**key, **out} for key, out, _ in jobs], columns=[*keys, *outcome_cols, "run_dir"]
    )
    metrics = [
        c
        for c in outcome_cols
        if c not in NOT_METRICS and c not in ("status", "error")
        and pd.api.types.is_numeric_dtype(frame[c])
    ]  # fmt: skip
    frame = frame.sort_values(keys, kind="stable", na_position="last", ignore_index=True)
    seeded = any("${seed}" in str(data.get("seed", "")) for _, _, data in jobs)
    return Summary(frame, keys, metrics, seeded_data=seeded)


def _step(rows: pd.DataFrame, metric: str) -> float | None:
    """The grid step of a :data:`DISCRETE` metric over ``rows`` (the finest, if it differs);
    None for another metric, or when the count is not recorded."""
    counts = rows[DISCRETE[metric]] if DISCRETE.get(metric) in rows else pd.Series(dtype=float)
    counts = counts[rows[metric].notna()].dropna()
    return 1.0 / float(counts.max()) if len(counts) and counts.max() > 0 else None


def by_config(summary: Summary, *, bimodal: Sequence[str] | None = None) -> pd.DataFrame:
    """The runs grouped over their replicates (seeds, data seeds, fixed splits).

    Per configuration: ``runs`` (jobs, impossible ones left out) and ``ok`` (of them finished
    ok); per metric, over its ``ok`` runs: ``<metric>_mean``, ``_std`` (sample standard
    deviation, ``ddof=1``), ``_count`` (n), ``_sem`` (standard error of the mean,
    ``std / sqrt(n)``), ``_ci_low`` and ``_ci_high`` (the 95% Student-t confidence interval of
    the mean, :func:`~bnnrun.sweep.statistics.t_interval`), ``_median``, ``_min`` and ``_max``;
    and for the ``bimodal`` metrics ``<metric>_bimodal`` (:func:`~bnnrun.sweep.statistics.
    bimodality`: True, False, or empty with too few replicates to tell; an accuracy's grid,
    ``1 / num_test``, as its resolution).

    Args:
        bimodal: the metrics to test for bimodality; None: those a report shows
            (:func:`~bnnrun.sweep.figures.shown_metrics`).
    """
    if bimodal is None:
        bimodal = [m.name for m in shown_metrics(summary.runs.columns)]
    bimodal = [m for m in bimodal if m in summary.metrics]
    runs = summary.runs[summary.runs["status"] != "skipped"].copy()
    runs.loc[runs["status"] != "ok", summary.metrics] = np.nan
    runs["ok"] = (runs["status"] == "ok").astype(int)
    groups = runs.groupby(summary.config_keys, dropna=False, sort=False)
    columns: dict[str, Any] = {"runs": groups.size(), "ok": groups["ok"].sum()}
    for metric in summary.metrics:
        part = groups[metric].agg(["mean", "std", "count", "sem", "median", "min", "max"])
        low, high = t_interval(part["mean"], part["sem"], part["count"])
        columns |= {
            f"{metric}_mean": part["mean"],
            f"{metric}_std": part["std"],
            f"{metric}_count": part["count"],
            f"{metric}_sem": part["sem"],
            f"{metric}_ci_low": pd.Series(low, index=part.index),
            f"{metric}_ci_high": pd.Series(high, index=part.index),
            f"{metric}_median": part["median"],
            f"{metric}_min": part["min"],
            f"{metric}_max": part["max"],
        }
        if metric in bimodal:
            # A group's rows come in the order of the aggregates' index.
            flags = [
                bimodality(rows[metric].to_numpy(), resolution=_step(rows, metric)).bimodal
                for _, rows in groups
            ]
            columns[f"{metric}_bimodal"] = pd.Series(flags, index=part.index, dtype="boolean")
    return pd.DataFrame(columns).reset_index()
