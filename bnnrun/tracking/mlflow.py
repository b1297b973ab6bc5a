"""``logger=mlflow``: every run in MLflow, a sweep as a parent run with its jobs as children.

Each job's run gets its flattened config as params, every number of its ``metrics.json`` as a
metric, its ELBO by chunk as the metric history ``elbo`` (the mean over each
``inference.chunk_size`` steps, at the chunk's last step), and its figures,
``metrics.json``, ``bnnrun.log`` and ``.hydra/`` files as artifacts. Its status is FINISHED
for a run that ended ``ok``, FAILED otherwise; a sweep's impossible combinations (``skipped``)
are not logged. A sweep's parent run is created when the multirun starts and its id written to
``mlflow_run.json`` in the sweep's directory, where every job finds it, whichever process or
machine runs the job; a re-run of the sweep into the same directory continues that parent.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from bnnrun import rundir
from bnnrun.tracking.common import (
    HYDRA_DIR,
    Job,
    Outcome,
    TrackerCallback,
    logger_settings,
    now_ms,
    param_value,
    read_outcome,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger("bnnrun")

#: In a sweep's directory: its parent run (``run_id``, ``experiment_id``, ``tracking_uri``).
PARENT_FILE = "mlflow_run.json"
#: MLflow's tag naming a child run's parent (``mlflow.utils.mlflow_tags``).
PARENT_TAG = "mlflow.parentRunId"
#: MLflow's limits on a param's key and value (``mlflow.utils.validation``).
MAX_PARAM_KEY, MAX_PARAM_VALUE = 250, 6000
MAX_TAG_VALUE = 5000
#: The run files logged as artifacts (besides the figures), with the artifact folder of each.
RUN_FILES = {
    rundir.METRICS: None,
    "bnnrun.log": None,
    f"{HYDRA_DIR}/config.yaml": "hydra",
    f"{HYDRA_DIR}/overrides.yaml": "hydra",
}


def store_uri(uri: str) -> str:
    """``uri`` with an SQLite file's relative path made absolute (from the working directory)
    and its directory created, so that every job's process finds the same store."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri == prefix:
        return uri
    path = Path(uri[len(prefix) :]).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"{prefix}{path}"


def artifact_root(settings: dict[str, Any], uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``logger.artifact_location`` (a path is
    made absolute), or ``mlartifacts/`` beside an SQLite store; else None (the store's
    default)."""
    location = settings.get("artifact_location")
    if location:
        return location if "://" in location else Path(location).resolve().as_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlartifacts").as_uri()
    return None


def _quiet() -> None:
    """MLflow creates an SQLite store's tables through Alembic, which logs every migration at
    INFO: dozens of lines in the run's log that say nothing about the run."""
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.store.db.db_types"):
        logging.getLogger(name).setLevel(logging.WARNING)


def client_for(settings: dict[str, Any]) -> tuple[MlflowClient, str]:
    """A client of the store ``settings`` (a ``logger`` node) name, and the id of its
    experiment ``logger.experiment_name`` (created if absent)."""
    _quiet()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = store_uri(str(settings.get("tracking_uri") or "sqlite:///outputs/mlflow.db"))
    client = MlflowClient(tracking_uri=uri)
    name = str(settings.get("experiment_name") or "bnnrun")
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client, client.create_experiment(
                name, artifact_location=artifact_root(settings, uri)
            )
        except MlflowException:  # another job created it meanwhile
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    return client, experiment.experiment_id


def read_parent(sweep_dir: Path, tracking_uri: str) -> str | None:
    """The id of the sweep's parent run in the store ``tracking_uri``; None if there is none."""
    try:
        saved = json.loads((sweep_dir / PARENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("tracking_uri") != tracking_uri:
        return None
    run_id = saved.get("run_id")
    return run_id if isinstance(run_id, str) else None


def _status(job_ok: bool) -> str:
    return "FINISHED" if job_ok else "FAILED"


class MLflowCallback(TrackerCallback):
    """Log each job to MLflow when it ends; a sweep as a parent run with a child per job."""

    kind = "mlflow"
    extra = "mlflow"
    # The SQLite store, the default, needs SQLAlchemy and Alembic (mlflow-skinny has neither).
    modules = ("mlflow", "sqlalchemy", "alembic")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = logger_settings(config)
        client, experiment_id = client_for(settings)
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        uri = client.tracking_uri
        parent = read_parent(sweep_dir, uri)
        if parent is not None:  # a re-run of the sweep: its jobs join the same parent
            client.update_run(parent, status="RUNNING")
            log.info("MLflow: sweep continues parent run %s (%s)", parent, uri)
            return
        overrides = [str(o) for o in config.hydra.overrides.task]
        run = client.create_run(
            experiment_id,
            run_name=f"{sweep_dir.parent.name}/{sweep_dir.name}",
            tags={
                "bnnrun.sweep_dir": str(sweep_dir),
                "bnnrun.overrides": " ".join(overrides)[:MAX_TAG_VALUE],
            },
        )
        rundir.write_json(
            sweep_dir / PARENT_FILE,
            {"run_id": run.info.run_id, "experiment_id": experiment_id, "tracking_uri": uri},
        )
        log.info("MLflow: sweep is parent run %s in %s", run.info.run_id, uri)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.entities import RunTag

        client, _ = client_for(logger_settings(config))
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        parent = read_parent(sweep_dir, client.tracking_uri)
        if parent is None:
            return
        children = client.search_runs(
            [client.get_run(parent).info.experiment_id],
            filter_string=f"tags.`{PARENT_TAG}` = '{parent}'",
        )
        # A job re-run by a re-run sweep has a child per attempt: its latest one counts.
        latest: dict[str, Any] = {}
        for run in sorted(children, key=lambda r: r.info.start_time):
            latest[run.data.tags.get("bnnrun.run_dir", run.info.run_id)] = run
        failed = sum(run.info.status != "FINISHED" for run in latest.values())
        client.log_batch(
            parent,
            tags=[
                RunTag("bnnrun.jobs_logged", str(len(latest))),
                RunTag("bnnrun.jobs_not_ok", str(failed)),
            ],
        )
        client.set_terminated(parent, status=_status(failed == 0))

    def log_job(self, job: Job, *, raised: bool) -> None:
        outcome = read_outcome(job.run_dir, chunk=job.chunk)
        if outcome.status == "skipped":  # an impossible combination of a sweep: not a run
            return
        client, experiment_id = client_for(job.settings)
        tags = {"bnnrun.run_dir": str(job.run_dir), "bnnrun.status": outcome.status}
        if outcome.error:
            tags["bnnrun.error"] = str(outcome.error)[:MAX_TAG_VALUE]
        if job.overrides:
            tags["bnnrun.overrides"] = " ".join(job.overrides)[:MAX_TAG_VALUE]
        parent = read_parent(job.sweep_dir, client.tracking_uri) if job.sweep_dir else None
        if parent is not None:
            tags[PARENT_TAG] = parent
        run_id = client.create_run(
            experiment_id, start_time=job.start_ms, tags=tags, run_name=job.name
        ).info.run_id
        try:
            self._log_files(client, run_id, job, outcome)
        except BaseException:
            client.set_terminated(run_id, status="FAILED")  # not left RUNNING for ever
            raise
        client.set_terminated(run_id, status=_status(outcome.ok and not raised))

    @staticmethod
    def _log_files(client: MlflowClient, run_id: str, job: Job, outcome: Outcome) -> None:
        """Log the run's config, numbers, ELBO history and files into ``run_id``."""
        from mlflow.entities import Metric, Param

        stamp = now_ms()
        params = [
            Param(key[:MAX_PARAM_KEY], param_value(value)[:MAX_PARAM_VALUE])
            for key, value in job.params().items()
        ]
        metrics = [Metric(k, v, stamp, 0) for k, v in outcome.metrics.items()]
        metrics += [Metric("elbo", value, stamp, step) for step, value in outcome.elbo]
        client.log_batch(run_id, metrics=metrics, params=params)
        for name, folder in RUN_FILES.items():
            if (job.run_dir / name).is_file():
                client.log_artifact(run_id, str(job.run_dir / name), folder)
        for path in outcome.figures:
            sub = path.parent.relative_to(job.run_dir).as_posix()
            client.log_artifact(run_id, str(path), "figures" if sub == "." else f"figures/{sub}")
