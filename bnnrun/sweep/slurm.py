"""What a sweep on Slurm needs beyond hydra-submitit-launcher: job states without accounting,
and a record for each job that Slurm ended before it could write one.

submitit learns a job's state from ``sacct``, which needs Slurm's accounting storage
(slurmdbd). Without it (a small cluster's default) ``sacct`` fails, every job reads as
``UNKNOWN``, and a job that ends without writing its result (cancelled with ``scancel``, out of
time, its node lost) is waited for forever. :class:`QueueWatcher` asks ``squeue`` instead once
``sacct`` says that accounting is disabled; a job that has left the queue (``MinJobAge``
seconds after it ended) reads as :data:`LEFT_QUEUE`.

A job that ended without a result gets a ``metrics.json`` with status ``failed`` saying how it
ended (:func:`record_lost_job`), unless it wrote one itself, so that the sweep's summary, report
and exit code name it and a re-run of the sweep runs it again (from its SVI checkpoint, if it
wrote one).

Used by ``hydra/launcher=slurm`` (``hydra_plugins/bnnrun_slurm``); needs the ``slurm`` extra.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

from submitit.slurm.slurm import SlurmInfoWatcher

from bnnrun import rundir
from bnnrun.errors import RunDirError

log = logging.getLogger(__name__)

#: The state of a job that ``squeue`` no longer lists: it ended over ``MinJobAge`` ago.
LEFT_QUEUE = "LEFT_QUEUE"
#: States after which a job never runs again (``sacct`` appends e.g. `` by 0`` to CANCELLED).
#: Others (PENDING, RUNNING, REQUEUED, PREEMPTED, SUSPENDED, CONFIGURING, ...) may go on.
ENDED = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
     "TIMEOUT", LEFT_QUEUE}
)  # fmt: skip
#: What ``sacct`` says on a cluster without accounting storage.
NO_ACCOUNTING = "accounting storage is disabled"
#: Seconds to wait for a lost job's process to let go of its directory (Slurm's KillWait,
#: 30 s by default, ends it after its state already says it ended).
UNLOCK_TIMEOUT_S = 120


class QueueWatcher(SlurmInfoWatcher):
    """submitit's job-state watcher (one ``sacct`` call for all jobs, at growing intervals up
    to ``delay_s``) that falls back to ``squeue`` where accounting is disabled, and that calls a
    job done only in a state after which it never runs again (:data:`ENDED`)."""

    def __init__(self, delay_s: int = 60) -> None:
        super().__init__(delay_s=delay_s)
        self.no_accounting = False

    def update(self) -> None:
        """Read the state of every registered job that has not ended."""
        ids = sorted({x.split("_")[0] for x in self._registered - self._finished})
        if not ids:
            return
        self._num_calls += 1
        info = None if self.no_accounting else self._sacct(ids)
        if self.no_accounting:
            info = self._squeue(ids)
        if info is not None:
            self._info_dict.update(info)
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        state = self.get_state(job_id, mode=mode)
        return state.split()[0].upper() in ENDED

    def _sacct(self, ids: list[str]) -> dict[str, dict[str, str]] | None:
        cmd = ["sacct", "-o", "JobID,State,NodeList", "--parsable2", *(f"-j{i}" for i in ids)]
        out = _run(cmd)
        if out is not None and out.returncode == 0:
            return self.read_info(out.stdout)
        if out is not None and NO_ACCOUNTING in out.stderr.lower():
            log.info("Slurm's accounting is disabled (sacct: %s): job states from squeue",
                     out.stderr.strip())  # fmt: skip
            self.no_accounting = True
        else:
            log.warning("sacct failed (%s); job states may be late", _why(out))
        return None

    def _squeue(self, ids: list[str]) -> dict[str, dict[str, str]] | None:
        """Every registered job's state from ``squeue`` (one line per array task); a job it does
        not list (all of them, if it knows none of the ids) has left the queue."""
        cmd = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%N",
               f"--jobs={','.join(ids)}"]  # fmt: skip
        out = _run(cmd)
        if out is None or (out.returncode != 0 and "invalid job id" not in out.stderr.lower()):
            log.warning("squeue failed (%s); job states may be late", _why(out))
            return None
        table = "JobID|State|NodeList\n" + (out.stdout if out.returncode == 0 else "")
        info = self.read_info(table)
        for job_id in self._registered - self._finished:
            info.setdefault(job_id, {"JobID": job_id, "State": LEFT_QUEUE, "NodeList": ""})
        return info


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s: %s", cmd[0], exc)
        return None


def _why(out: subprocess.CompletedProcess[str] | None) -> str:
    if out is None:
        return "did not run"
    return f"exit {out.returncode}: {out.stderr.strip() or out.stdout.strip()}"


def lost_job_error(job_id: str, state: str) -> str:
    """The ``error`` of the record of Slurm job ``job_id`` that ended in ``state`` without a
    result."""
    how = "left Slurm's queue" if state == LEFT_QUEUE else f"ended {state}"
    return (
        f"Slurm job {job_id} {how} without finishing (scancel, a time limit, a lost node); "
        "run the sweep again to finish it"
    )


def record_lost_job(run_dir: Path, error: str) -> bool:
    """Record a job that ended without a result as ``failed`` with ``error`` in ``run_dir``'s
    ``metrics.json``, unless the job recorded how it ended itself. Waits (up to
    :data:`UNLOCK_TIMEOUT_S`) for the job's process to let go of the directory. Returns whether
    it wrote the record."""
    deadline = time.monotonic() + UNLOCK_TIMEOUT_S
    while True:
        try:
            with rundir.locked(run_dir):
                if rundir.read_metrics(run_dir) is not None:
                    return False
                rundir.write_json(run_dir / rundir.METRICS, {"status": "failed", "error": error})
                return True
        except RunDirError as exc:
            if time.monotonic() > deadline:
                log.warning("%s; not recorded", exc)
                return False
            time.sleep(1)
