"""Load a finished run back: its config, and its posterior as an :class:`SVIRun` or a
:class:`NUTSRun`, ready to draw from and predict with."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np

from bnnrun import rundir
from bnnrun.config import Config, config_from_record, load_config
from bnnrun.data import Dataset, load_dataset
from bnnrun.errors import DataError
from bnnrun.model.informed import CENTRES
from bnnrun.pipeline.build import Built, build
from bnnrun.pipeline.posterior import FittedRun, NUTSRun, SVIRun

__all__ = [
    "FittedRun",
    "NUTSRun",
    "SVIRun",
    "build_model",
    "load_run",
    "run_config",
    "source_point_estimate",
]


def run_config(run_dir: str | Path) -> Config:
    """The config of a finished run: the resolved one its ``metrics.json`` records, else (a
    run that recorded none) Hydra's ``.hydra/config.yaml``.

    The recorded one comes first because Hydra saves its config unresolved: a transfer job's
    ``prior.source: ${hydra:sweep.dir}/pretrain`` resolves only inside that sweep.

    Raises:
        DataError: ``run_dir`` holds neither.
    """
    run_dir = Path(run_dir)
    record = rundir.read_metrics(run_dir) or {}
    if "config" in record:
        return config_from_record(record["config"], where=run_dir / rundir.METRICS)
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise DataError(f"{run_dir} holds no finished bnnrun run (no config recorded)")
    return load_config(saved)


def load_run(run_dir: str | Path) -> SVIRun | NUTSRun:
    """Rebuild a finished run's posterior from its config (:func:`run_config`) and its
    ``posterior.npz`` (an informed run's prior centres from its ``prior_centres.npz``).

    Raises:
        DataError: ``run_dir`` holds no finished run, or its files are unreadable.
    """
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    data = load_dataset(cfg.dataset)
    centres = rundir.load_npz(run_dir / CENTRES) if (run_dir / CENTRES).exists() else None
    built = build(cfg, data, centres=centres, read_run=source_point_estimate)
    saved = rundir.load_npz(run_dir / rundir.POSTERIOR)
    common = {"cfg": cfg, "data": data, "net": built.net, "model": built.model, "hp": built.hp}
    if built.program is None:
        return NUTSRun(**common, samples=saved)
    params = jax.device_put(saved)
    return SVIRun(**common, program=built.program, params=params)


def build_model(cfg: Config, data: Dataset) -> Built:
    """:func:`~bnnrun.pipeline.build.build`, with an informed prior's centres read from its
    source, a finished run (its point estimate) or an ``.npz`` file."""
    return build(cfg, data, read_run=source_point_estimate)


@functools.lru_cache(maxsize=4)
def source_point_estimate(run_dir: Path) -> dict[str, np.ndarray]:
    """The point estimate of a finished run (an informed prior's source).

    Cached: the informed jobs of a sweep share one source, and a finished run never changes.
    """
    return load_run(run_dir).point_estimate()
