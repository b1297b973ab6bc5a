"""``logger=tensorboard``: TensorBoard event files (tensorboardX) for every run.

When a job ends, its run's event files get the scalar ``elbo`` by chunk (the mean over each
``inference.chunk_size`` steps of ``elbo.csv``), every number of its ``metrics.json`` as
``metrics/<key>`` (at the last step), and in the subdirectory ``hparams/`` the run's flattened
config with those metrics, for TensorBoard's HParams dashboard. They go to ``tensorboard/`` in the
run's directory, or, with ``logger.log_dir``, to ``<log_dir>/<the run directory's path>``. A sweep's
impossible combinations (``skipped``) are not logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bnnrun.tracking.common import Job, TrackerCallback, read_outcome

#: Events' directory inside a run's directory (when ``logger.log_dir`` is null).
EVENTS_DIR = "tensorboard"
#: Subdirectory of the events' directory holding the HParams session.
HPARAMS_DIR = "hparams"


def events_dir(job: Job) -> Path:
    """Where the job's event files go: ``<run>/tensorboard``, or under ``logger.log_dir`` the
    run directory's path relative to the working directory (its name, if it lies elsewhere)."""
    log_dir = job.settings.get("log_dir")
    if not log_dir:
        return job.run_dir / EVENTS_DIR
    try:
        relative = job.run_dir.relative_to(Path.cwd().resolve())
    except ValueError:
        relative = Path(job.run_dir.name)
    return Path(log_dir).expanduser().resolve() / relative


def hparam_value(value: Any) -> bool | int | float | str:
    """A config value as TensorBoard's HParams take it: numbers, booleans and strings as they
    are, anything else (null, a list) as its text."""
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


class TensorBoardCallback(TrackerCallback):
    """Write each job's ELBO trace, final metrics and hyperparameters as TensorBoard events."""

    kind = "tensorboard"
    extra = "tensorboard"
    modules = ("tensorboardX",)

    def log_job(self, job: Job, *, raised: bool) -> None:
        from tensorboardX import SummaryWriter

        outcome = read_outcome(job.run_dir, chunk=job.chunk)
        if outcome.status == "skipped":
            return
        logdir = events_dir(job)
        last = outcome.elbo[-1][0] if outcome.elbo else 0
        metrics = {f"metrics/{k}": v for k, v in outcome.metrics.items()}
        with SummaryWriter(logdir=os.fspath(logdir)) as writer:
            for step, value in outcome.elbo:
                writer.add_scalar("elbo", value, step)
            for key, value in metrics.items():
                writer.add_scalar(key, value, last)
            status = outcome.status + (f": {outcome.error}" if outcome.error else "")
            if raised:
                status += " (the job raised an exception)"
            writer.add_text("status", status)
            hparams = {k: hparam_value(v) for k, v in job.params().items()}
            writer.add_hparams(hparams, metrics, name=HPARAMS_DIR, global_step=last)
