"""Schemas of ``conf/logger/``: the experiment tracker a run is also recorded in.

A tracker is a Hydra callback (``hydra.callbacks``, added by the option), not part of the run:
when a job ends it reads what the run wrote in its directory (``metrics.json``, ``elbo.csv``,
the figures, ``.hydra/config.yaml``) and logs it (:mod:`bnnrun.tracking`). ``none`` (the
default) adds no callback: the run directory is the run's only record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bnnrun.config.checks import require


class LoggerKind(StrEnum):
    none = "none"
    mlflow = "mlflow"
    tensorboard = "tensorboard"


@dataclass
class NoLoggerConfig:
    """No experiment tracker: the run directory is the run's only record.

    Attributes:
        kind: The tracker (set by the option).
    """

    kind: LoggerKind = LoggerKind.none


@dataclass
class MLflowLoggerConfig:
    """MLflow: each run's flattened config as params, the numbers of its ``metrics.json`` as
    metrics, its ELBO as a metric history (step = SVI step), its figures, ``metrics.json``,
    ``bnnrun.log`` and ``.hydra/`` files as artifacts. A sweep is a parent run with one child
    run per job. Needs ``pip install 'bnnrun[mlflow]'``.

    Attributes:
        kind: The tracker (set by the option).
        tracking_uri: Where runs are recorded: an SQLite file (``sqlite:///PATH``, relative to
            the working directory; works offline, nothing to start), a tracking server
            (``http://host:5000``) or any other MLflow store URI.
        experiment_name: The MLflow experiment the runs belong to (created if absent).
        artifact_location: Where a new experiment keeps its artifacts; null: beside an SQLite
            store, ``mlartifacts/`` in the database's directory (``outputs/mlartifacts``),
            else the store's own default. An existing experiment keeps its location.
    """

    kind: LoggerKind = LoggerKind.mlflow
    tracking_uri: str = "sqlite:///outputs/mlflow.db"
    experiment_name: str = "bnnrun"
    artifact_location: str | None = None

    def __post_init__(self) -> None:
        require(
            bool(self.tracking_uri.strip()),
            "logger.tracking_uri",
            "a store URI, e.g. sqlite:///outputs/mlflow.db",
            self.tracking_uri,
        )
        require(
            bool(self.experiment_name.strip()),
            "logger.experiment_name",
            "a non-empty name",
            self.experiment_name,
        )


@dataclass
class TensorBoardLoggerConfig:
    """TensorBoard event files (written with tensorboardX): the ELBO at every step, the final
    metrics and the run's hyperparameters. Needs ``pip install 'bnnrun[tensorboard]'``.

    Attributes:
        kind: The tracker (set by the option).
        log_dir: Where event files go; null: ``tensorboard/`` in each run's directory. Set,
            each run writes to its own subdirectory (the run directory's path relative to the
            working directory), so ``tensorboard --logdir LOG_DIR`` shows them all.
    """

    kind: LoggerKind = LoggerKind.tensorboard
    log_dir: str | None = None

    def __post_init__(self) -> None:
        require(
            self.log_dir is None or bool(self.log_dir.strip()),
            "logger.log_dir",
            "a directory, or null (each run's tensorboard/)",
            self.log_dir,
        )
