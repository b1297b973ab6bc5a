"""What every tracker logs, read from a run's directory, and the callback hooks they share.

:class:`TrackerCallback` notes each job when it starts (its directory, its resolved config, the
time) and logs it when it ends (:meth:`TrackerCallback.log_job`), from the files alone:
:func:`read_outcome`. A single run that fails or diverges leaves Hydra through ``sys.exit``,
which skips ``on_job_end``; the job is then logged when the process exits (``atexit``), so a
failed run is recorded too.
"""

from __future__ import annotations

import atexit
import csv
import importlib.util
import json
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from bnnrun.config.dotted import flatten
from bnnrun.errors import ConfigError
from bnnrun.rundir import METRICS, read_metrics

log = logging.getLogger("bnnrun")

#: The ELBO trace a run writes (``step,elbo``, one row per step); NUTS runs have none.
ELBO = "elbo.csv"
#: Figure formats a run writes (``analysis.figure_format``).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
#: Hydra's record of the job: ``config.yaml``, ``overrides.yaml``, ``hydra.yaml``.
HYDRA_DIR = ".hydra"
#: Entries of ``metrics.json`` that are not measurements: the config it records.
NOT_LOGGED = ("config",)
#: Tracker's own files inside a run directory, never logged as the run's figures.
TRACKER_DIRS = ("tensorboard",)


def param_value(value: Any) -> str:
    """A config value as the text of a tracker's parameter: strings as they are, anything else
    as YAML and JSON spell it (``null``, ``true``, ``0.01``, ``[5, 5]``)."""
    return value if isinstance(value, str) else json.dumps(value)


_METRIC_KEY = re.compile(r"[^\w\-. /]")


def numbers(record: Mapping[str, Any]) -> dict[str, float]:
    """Every number of a run's ``metrics.json`` by dotted key: nested mappings give
    ``stage_seconds.fit``, lists of numbers ``per_class_accuracy.0`` (one key per item).
    Strings, booleans, nulls (a non-finite number, as JSON writes it) and the recorded
    ``config`` are left out; characters that trackers refuse in a key become ``_``."""
    out: dict[str, float] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{key}.{i}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[_METRIC_KEY.sub("_", key)] = float(value)

    walk({k: v for k, v in record.items() if k not in NOT_LOGGED}, "")
    return out


def read_elbo(run_dir: Path, *, chunk: int = 1) -> list[tuple[int, float]]:
    """The run's ``elbo.csv`` by chunk: ``(last step, mean ELBO)`` of each run of ``chunk``
    consecutive rows (the last chunk may be shorter); every row for ``chunk=1``. Empty if the
    run wrote none. Trackers get one point per compiled chunk, not per step: a 50,000-step
    history costs MLflow about 40 s to store and says no more."""
    path = Path(run_dir) / ELBO
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        rows = [(int(row["step"]), float(row["elbo"])) for row in csv.DictReader(f)]
    out = []
    for start in range(0, len(rows), max(chunk, 1)):
        part = rows[start : start + max(chunk, 1)]
        out.append((part[-1][0], math.fsum(v for _, v in part) / len(part)))
    return out


def figure_files(run_dir: Path) -> list[Path]:
    """The run's figures (PNG, PDF, SVG), in and below its directory, sorted; hidden
    directories and trackers' own directories are left out."""
    run_dir = Path(run_dir)

    def walk(folder: Path) -> Iterator[Path]:
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            if path.is_dir() and path.name not in TRACKER_DIRS:
                yield from walk(path)
            elif path.is_file() and path.suffix.lower() in FIGURE_SUFFIXES:
                yield path

    return list(walk(run_dir)) if run_dir.is_dir() else []


@dataclass(frozen=True)
class Outcome:
    """How a run ended, from its directory.

    Attributes:
        status: ``metrics.json``'s status (``ok``, ``failed``, ``diverged``, ``skipped``,
            ``unreadable``), or ``missing`` where the run wrote none.
        error: its error message, if any.
        metrics: every number of ``metrics.json`` (:func:`numbers`).
        elbo: ``(step, mean elbo)`` of each chunk of ``elbo.csv`` (:func:`read_elbo`).
        figures: the run's figure files (:func:`figure_files`).
    """

    status: str
    error: str | None
    metrics: dict[str, float]
    elbo: list[tuple[int, float]]
    figures: list[Path]

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def read_outcome(run_dir: Path, *, chunk: int = 1) -> Outcome:
    """What the run in ``run_dir`` wrote: its status, numbers, ELBO trace by ``chunk`` steps
    (:func:`read_elbo`) and figures."""
    record = read_metrics(run_dir)
    if record is None:
        record = {"status": "missing", "error": f"no {METRICS}: the job ended before writing it"}
    return Outcome(
        status=str(record.get("status", "missing")),
        error=record.get("error"),
        metrics=numbers(record),
        elbo=read_elbo(run_dir, chunk=chunk),
        figures=figure_files(run_dir),
    )


def job_config(config: DictConfig) -> dict[str, Any]:
    """A job's config without its ``hydra`` node, as plain values (enums as their names),
    resolved where it can be (``${hydra:...}`` needs the job's Hydra context)."""
    cfg = config.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except Exception:  # an interpolation that only the run could resolve: keep it as written
        plain = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items()}


@dataclass
class Job:
    """One job as its tracker sees it.

    Attributes:
        run_dir: The run's directory (absolute).
        sweep_dir: The sweep's directory (absolute) in a multirun; else None.
        name: What the tracker calls the run: in a sweep its job directory's name (its
            overrides), else ``<parent dir>/<run dir>`` (``moons-normal-fixed/<timestamp>``).
        config: The job's resolved config (:func:`job_config`), ``logger`` aside.
        settings: Its ``logger`` node.
        start_ms: When it started, in milliseconds since the epoch.
        overrides: Its command-line overrides (``hydra.overrides.task``).
    """

    run_dir: Path
    sweep_dir: Path | None
    name: str
    config: dict[str, Any]
    settings: dict[str, Any]
    start_ms: int = field(default_factory=lambda: now_ms())
    overrides: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: DictConfig) -> Job:
        """The job whose (full, ``hydra`` node included) ``config`` is given."""
        run_dir = Path(str(config.hydra.runtime.output_dir)).resolve()
        multirun = config.hydra.mode == RunMode.MULTIRUN
        plain = job_config(config)
        settings = plain.pop("logger", None) or {}
        overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        return cls(
            run_dir=run_dir,
            sweep_dir=Path(str(config.hydra.sweep.dir)).resolve() if multirun else None,
            name=run_dir.name if multirun else f"{run_dir.parent.name}/{run_dir.name}",
            config=plain,
            settings=settings,
            overrides=[str(o) for o in overrides] if isinstance(overrides, list) else [],
        )

    @property
    def chunk(self) -> int:
        """Steps per compiled chunk of its fit (``inference.chunk_size``; 1 if it has none)."""
        inference = self.config.get("inference")
        size = inference.get("chunk_size") if isinstance(inference, Mapping) else None
        return int(size) if isinstance(size, int) and size >= 1 else 1

    def params(self) -> dict[str, Any]:
        """The flattened config: ``{"dataset.name": "moons", "architecture.hidden": [5, 5]}``."""
        return flatten(self.config)


def now_ms() -> int:
    return int(time.time() * 1000)


def logger_settings(config: DictConfig) -> dict[str, Any]:
    """The ``logger`` node of a (job's or sweep's) config, resolved, as plain values."""
    node = config.get("logger")
    if node is None:
        return {}
    plain = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    return plain if isinstance(plain, dict) else {}


class TrackerCallback(Callback):
    """Hooks shared by the trackers: note a job when it starts, log it from its files when it
    ends (or, for a single run that exits early, when its process exits).

    Subclasses set :attr:`kind`, :attr:`extra` and :attr:`modules`, and implement
    :meth:`log_job`.
    """

    #: The ``logger`` option.
    kind: ClassVar[str]
    #: The pip extra that installs the tracker: ``pip install 'bnnrun[EXTRA]'``.
    extra: ClassVar[str]
    #: The modules the tracker imports.
    modules: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self.check_installed()
        self._pending: dict[Path, Job] = {}
        self._at_exit = False

    @classmethod
    def check_installed(cls) -> None:
        """Raise :class:`ConfigError` naming the extra to install if a module the tracker
        needs is missing (found without importing it: that takes seconds)."""
        missing = [m for m in cls.modules if importlib.util.find_spec(m) is None]
        if missing:
            which = "which is" if len(missing) == 1 else "which are"
            raise ConfigError(
                f"logger={cls.kind} needs {', '.join(missing)}, {which} not installed: "
                f"pip install 'bnnrun[{cls.extra}]' (or choose logger=none)"
            )

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        job = Job.from_config(config)
        self._pending[job.run_dir] = job
        if job.sweep_dir is None and not self._at_exit:
            atexit.register(self._log_pending)
            self._at_exit = True

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        run_dir = Path(str(config.hydra.runtime.output_dir)).resolve()
        job = self._pending.pop(run_dir, None) or Job.from_config(config)
        self.log_job(job, raised=job_return.status is JobStatus.FAILED)

    def _log_pending(self) -> None:
        """Log the jobs that never reached ``on_job_end`` (a single run ended by
        ``sys.exit``: it failed or diverged, or was terminated)."""
        while self._pending:
            _, job = self._pending.popitem()
            try:
                self.log_job(job, raised=False)
            except Exception as exc:  # the process is exiting: one line, no traceback
                log.warning("logger=%s could not log %s: %s", self.kind, job.run_dir, exc)

    def log_job(self, job: Job, *, raised: bool) -> None:
        """Log the ended ``job`` from its directory. ``raised``: the job's function raised
        (the run then counts as failed whatever its files say)."""
        raise NotImplementedError
