"""A sweep's runs as tables, read from the job directories on disk.

Every job directory under a sweep's root holds Hydra's ``.hydra/overrides.yaml`` and
``.hydra/config.yaml`` and, once the job ended, bnnrun's ``metrics.json``. Reading only these
files, never process memory, the summary is the same whichever launcher ran the jobs, in
whichever processes or machines.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from bnnrun.rundir import read_metrics
from bnnrun.sweep.resume import NOT_COMPARED

HYDRA_DIR = ".hydra"
#: Columns naming a run's choices, and where its saved config holds them.
CHOICES = {"dataset": ("dataset", "name"), "prior": ("prior", "family"),
           "hyperprior": ("hyperprior", "kind")}  # fmt: skip
#: Numbers in ``metrics.json`` that identify a run rather than measure it.
NOT_METRICS = frozenset(
    {"seed", "num_params", "num_steps", "num_train", "num_test", "diverged_at"}
    | {"target_loc", "target_scale", "num_dropped_rows"}
)
#: Keys whose values are replicates of one configuration, which tables group over: the seed,
#: and the split of a benchmark with fixed splits (the UCI sets' ``dataset.split``).
REPLICATES = ("seed", "dataset.split")
#: Statuses of jobs that were meant to finish and did not.
NOT_OK = ("failed", "diverged", "missing", "unreadable")
MISSING_ERROR = "no metrics.json: the job was killed, or is still running"


class Summary(NamedTuple):
    """The runs of a sweep.

    Attributes:
        runs: one row per job: ``keys``, ``status``, ``error``, every entry of ``metrics.json``
            that is a single value, and ``run_dir`` (relative to the sweep's root).
        keys: the columns that name a run's configuration: its dataset, prior and hyperprior,
            every key overridden in any job (``runtime.*`` aside), and ``seed`` (last).
        metrics: the numeric columns that measure a run.
    """

    runs: pd.DataFrame
    keys: list[str]
    metrics: list[str]

    @property
    def config_keys(self) -> list[str]:
        """``keys`` without the :data:`REPLICATES`: what a configuration is, over seeds (and
        fixed splits)."""
        return [k for k in self.keys if k not in REPLICATES]

    def varying(self) -> list[str]:
        """The ``config_keys`` that take more than one value in this sweep."""
        runs = self.runs
        return [k for k in self.config_keys if runs[k].nunique(dropna=False) > 1]


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
    with open(path) as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_job(root: Path, run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """One job: (its configuration: choices, overrides and seed; its outcome: status, error,
    the single values of its ``metrics.json`` and its directory relative to ``root``)."""
    cfg = _read_yaml(run_dir / HYDRA_DIR / "config.yaml")
    key: dict[str, Any] = {col: cfg[group][k] for col, (group, k) in CHOICES.items()}
    key.update(_override_values(_read_yaml(run_dir / HYDRA_DIR / "overrides.yaml") or []))
    key["seed"] = cfg["seed"]
    record = read_metrics(run_dir) or {"status": "missing", "error": MISSING_ERROR}
    outcome: dict[str, Any] = {"status": record.get("status"), "error": record.get("error") or ""}
    outcome.update(
        (k, v)
        for k, v in record.items()
        if k not in outcome and k not in key and (v is None or isinstance(v, str | int | float))
    )
    outcome["run_dir"] = run_dir.relative_to(root).as_posix()
    return key, outcome


def read_sweep(root: Path) -> Summary:
    """The summary of every job under ``root``, sorted by configuration and seed."""
    root = Path(root)
    jobs = [read_job(root, d) for d in job_dirs(root)]
    keys = [*dict.fromkeys(k for key, _ in jobs for k in key if k != "seed"), "seed"]
    outcome_cols = list(dict.fromkeys(k for _, out in jobs for k in out if k != "run_dir"))
    frame = pd.DataFrame(
        [{**key, **out} for key, out in jobs], columns=[*keys, *outcome_cols, "run_dir"]
    )
    metrics = [
        c
        for c in outcome_cols
        if c not in NOT_METRICS and c not in ("status", "error")
        and pd.api.types.is_numeric_dtype(frame[c])
    ]  # fmt: skip
    frame = frame.sort_values(keys, kind="stable", na_position="last", ignore_index=True)
    return Summary(frame, keys, metrics)


def by_config(summary: Summary) -> pd.DataFrame:
    """The runs grouped over seeds (and fixed splits): per configuration, ``runs`` (jobs,
    impossible ones left out), ``ok`` (of them finished ok), and the mean, standard deviation,
    count and standard error of the mean (``std / sqrt(count)``) of each metric over its ``ok``
    runs (columns ``<metric>_mean``, ``<metric>_std``, ``<metric>_count``, ``<metric>_sem``).
    """
    runs = summary.runs[summary.runs["status"] != "skipped"].copy()
    runs.loc[runs["status"] != "ok", summary.metrics] = np.nan
    runs["ok"] = (runs["status"] == "ok").astype(int)
    groups = runs.groupby(summary.config_keys, dropna=False, sort=False)
    stats = groups[summary.metrics].agg(["mean", "std", "count"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    for metric in summary.metrics:
        stats[f"{metric}_sem"] = stats[f"{metric}_std"] / np.sqrt(stats[f"{metric}_count"])
    stats.insert(0, "runs", groups.size())
    stats.insert(1, "ok", groups["ok"].sum())
    return stats.reset_index()
