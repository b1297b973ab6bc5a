"""Sweeps on a real Slurm cluster (``hydra/launcher=slurm``): a single-node cluster on localhost
(:mod:`slurm_cluster`), without accounting storage, as a small cluster has it.

- a sweep runs its jobs as Slurm jobs and ends with its summary and report, although ``sacct``
  fails (job states come from ``squeue``);
- jobs requeued in mid-fit, by ``scontrol requeue`` (as preemption does) and by the ``USR2``
  that Slurm sends before a time limit (submitit checkpoints and requeues), continue from their
  SVI checkpoints and end with the numbers of an uninterrupted run;
- a job cancelled with ``scancel`` is recorded as failed and named by the summary, the report
  and the exit code; the same command then finishes it from its checkpoint.

The tests that need a cluster are slow, and skipped without Slurm (``apt-get install slurm-wlm
munge``, as ``.ci/run`` does) or root; the others give :mod:`bnnrun.sweep.slurm` Slurm's
answers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf
from slurm_cluster import SlurmCluster, missing, slurm_cluster

from bnnrun import rundir
from bnnrun.sweep import slurm
from bnnrun.sweep.slurm import LEFT_QUEUE, QueueWatcher, record_lost_job

REPO = Path(__file__).resolve().parents[1]
#: The tests that start a cluster.
needs_slurm = pytest.mark.skipif(missing() is not None, reason=missing() or "")

#: Tiny runs, one core each, as Slurm jobs of the test cluster.
SLURM = ["debug=smoke", "runtime.progress=false", "runtime.cpu_threads=1", "hydra/launcher=slurm",
         "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=30"]  # fmt: skip
#: A fit long enough to be interrupted between its checkpoints (~8,000 steps/s on one core).
STEPS, EVERY = 100_000, 2_000
FIT = [f"inference.num_steps={STEPS}", f"inference.chunk_size={EVERY}",
       f"inference.checkpoint_every={EVERY}"]  # fmt: skip
#: Seconds a sweep may take on a loaded 2-core machine.
TIMEOUT_S = 480
LAUNCHED = re.compile(r"#(\d+) : (.*)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as c:
        yield c


def start(cluster: SlurmCluster, cache_dir: Path, *args: str, log: Path) -> subprocess.Popen:
    """``bnnrun -m ARGS`` against the cluster (``SLURM_CONF``), output to ``log``."""
    env = {**cluster.env, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "bnnrun", "-m", *args], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def finish(proc: subprocess.Popen, log: Path, cluster: SlurmCluster) -> str:
    """Wait for ``proc``; its output. On a timeout, the output and the daemons' logs fail the
    test."""
    try:
        proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        queue = cluster.run("squeue", "--states=all", check=False).stdout
        pytest.fail(f"no end in {TIMEOUT_S} s:\n{log.read_text()}\n{queue}\n{cluster.logs()}")
    return log.read_text()


def sweep(cluster: SlurmCluster, cache_dir: Path, *args: str, log: Path) -> tuple[int, str]:
    """Run ``bnnrun -m ARGS`` against the cluster to its end: (exit code, output)."""
    proc = start(cluster, cache_dir, *args, log=log)
    out = finish(proc, log, cluster)
    return proc.returncode, out


def job_dir(root: Path, pattern: str, proc: subprocess.Popen, log: Path) -> Path:
    """The one job directory of ``root`` matching ``pattern``, once it holds a checkpoint (the
    job is in mid-fit)."""
    deadline = time.monotonic() + TIMEOUT_S
    while not (found := list(root.glob(f"{pattern}/checkpoint.npz"))):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no checkpoint in {root}/{pattern}:\n{log.read_text()}")
        time.sleep(0.1)
    (path,) = found
    return path.parent


def slurm_job_id(run_dir: Path) -> str:
    """The Slurm job id of a sweep job (``hydra.job.id``, which the launcher sets to it)."""
    return str(OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.job.id)


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
@needs_slurm
def test_sweep_runs_as_slurm_jobs_without_accounting(
    cluster: SlurmCluster, cache_dir: Path, tmp_path: Path
) -> None:
    """The cluster has no accounting storage, so sacct, which submitit asks for job states,
    fails; the sweep still ends, with every job ok, summarised and reported."""
    sacct = cluster.run("sacct", check=False)
    assert sacct.returncode != 0 and "accounting storage is disabled" in sacct.stderr
    root = tmp_path / "sweep"
    code, out = sweep(cluster, cache_dir, *SLURM, "seed=0,1", f"hydra.sweep.dir={root}",
                      log=tmp_path / "sweep.log")  # fmt: skip
    assert code == 0, out
    assert "job states from squeue" in out
    runs = pd.read_csv(root / "summary.csv")
    assert sorted(runs["seed"]) == [0, 1] and set(runs["status"]) == {"ok"}
    assert (root / "report.html").is_file()
    for d in runs["run_dir"]:
        job = slurm_job_id(root / d)
        assert re.fullmatch(r"\d+_[01]", job), job  # one array task per job
        # It ran as that Slurm job: submitit's log of the task, in the sweep's folder.
        (task_log,) = (root / ".submitit" / job).glob("*_log.out")
        assert f"Starting with JobEnvironment(job_id={job}," in task_log.read_text()


@pytest.mark.slow
@needs_slurm
def test_requeued_jobs_continue_from_their_checkpoints(
    cluster: SlurmCluster, cache_dir: Path, tmp_path: Path
) -> None:
    """Two jobs in mid-fit: the first is requeued by ``scontrol requeue`` (what preemption
    does; the job is killed and starts again), the second gets the ``USR2`` that Slurm sends
    before a time limit (submitit calls the launcher's checkpoint() and requeues it). Both
    continue from their checkpoints, at a step k with 0 < k < STEPS, and end with the metrics
    and ELBO trace of uninterrupted runs (the same sweep without Slurm, fitting alone)."""
    root, whole = tmp_path / "sweep", tmp_path / "whole"
    common = [*FIT, "seed=0,1"]
    reference = start(cluster, cache_dir, "debug=smoke", "runtime.cpu_threads=1", *common,
                      "hydra.sweeper.batch=1", f"hydra.sweep.dir={whole}",
                      log=tmp_path / "whole.log")  # fmt: skip
    log = tmp_path / "sweep.log"
    proc = start(cluster, cache_dir, *SLURM, *common, f"hydra.sweep.dir={root}", log=log)
    first = job_dir(root, "*seed=0", proc, log)
    cluster.run("scontrol", "requeue", slurm_job_id(first))
    second = job_dir(root, "*seed=1", proc, log)
    cluster.run("scancel", "--signal=USR2", slurm_job_id(second))
    out = finish(proc, log, cluster)
    assert proc.returncode == 0, out
    whole_out = finish(reference, tmp_path / "whole.log", cluster)
    assert reference.returncode == 0, whole_out

    for run_dir in (first, second):
        job = slurm_job_id(run_dir)
        shown = cluster.run("scontrol", "show", "job", "--oneliner", job).stdout
        assert "Restarts=1 " in shown, shown
        m = metrics(run_dir)
        assert m["status"] == "ok" and m["num_steps"] == STEPS
        k = m["resumed_from_step"]
        # Mid-fit as a rule; on a loaded machine the signal may land after the last step's
        # checkpoint, while the run analyses (k == STEPS): it still continues from it.
        assert 0 < k <= STEPS and k % EVERY == 0
        assert f"resuming from the checkpoint at step {k}" in (run_dir / "bnnrun.log").read_text()
        ref = whole / run_dir.name
        for key in ["accuracy", "nll", "elbo_final"]:
            assert m[key] == metrics(ref)[key], (run_dir.name, key)
        assert (run_dir / "elbo.csv").read_bytes() == (ref / "elbo.csv").read_bytes()
        assert not (run_dir / "checkpoint.npz").exists()
    # The USR2 went through the launcher's checkpoint(), which requeued the same call.
    assert (
        "requeued, it will continue from its last checkpoint" in (second / "bnnrun.log").read_text()
    )
    runs = pd.read_csv(root / "summary.csv")
    assert list(runs["status"]) == ["ok", "ok"]


@pytest.mark.slow
@needs_slurm
def test_cancelled_job_is_reported_and_the_rerun_finishes_it(
    cluster: SlurmCluster, cache_dir: Path, tmp_path: Path
) -> None:
    """``scancel`` a job in mid-fit: it is recorded as failed (no result: Slurm killed it),
    the sweep names it and exits 1; the same command then runs that job alone, from its
    checkpoint, and the sweep ends ok."""
    root = tmp_path / "sweep"
    # Job 0 is quick; job 1 fits long enough to be cancelled in mid-fit.
    args = [*SLURM, *FIT[1:], f"inference.num_steps=200,{STEPS}", f"hydra.sweep.dir={root}"]
    log = tmp_path / "sweep.log"
    proc = start(cluster, cache_dir, *args, log=log)
    cut = job_dir(root, f"*num_steps={STEPS}*", proc, log)
    job = slurm_job_id(cut)
    cluster.run("scancel", job)
    out = finish(proc, log, cluster)
    assert proc.returncode == 1, out
    error = f"Slurm job {job} ended CANCELLED without finishing"
    assert "1 of 2 jobs did not finish ok" in out
    assert f"{cut.name}: failed: {error}" in out
    runs = pd.read_csv(root / "summary.csv").set_index("inference.num_steps")
    assert runs.loc[200, "status"] == "ok"
    assert runs.loc[STEPS, "status"] == "failed" and runs.loc[STEPS, "error"].startswith(error)
    assert error in (root / "report.html").read_text()
    assert (cut / "checkpoint.npz").exists()

    log = tmp_path / "again.log"
    again = finish(start(cluster, cache_dir, *args, log=log), log, cluster)
    assert "1 to run, 1 already finished (skipped)" in again
    assert [m.group(1) for m in LAUNCHED.finditer(again)] == ["1"]
    assert "job #1 was interrupted: it continues from its checkpoint" in again
    m = metrics(cut)
    k = m["resumed_from_step"]
    # Mid-fit as a rule; the job may also reach its last checkpoint within Slurm's KillWait
    # and be killed while it analyses (k == STEPS): the re-run still continues from there.
    assert m["status"] == "ok" and 0 < k <= STEPS and k % EVERY == 0
    assert f"resuming from the checkpoint at step {k}" in (cut / "bnnrun.log").read_text()
    runs = pd.read_csv(root / "summary.csv")
    assert list(runs["status"]) == ["ok", "ok"]


@pytest.mark.slow
@needs_slurm
def test_cluster_stops_every_process_it_started(tmp_path: Path) -> None:
    """A cluster that ran a job leaves no daemon or job process behind when it stops."""
    with slurm_cluster(tmp_path / "c") as c:
        c.run("sbatch", "--wrap=sleep 300", f"--output={tmp_path / 'job.out'}")
        deadline = time.monotonic() + 60
        while "RUNNING" not in c.run("squeue", "--noheader", "--format=%T").stdout:
            assert time.monotonic() < deadline, c.logs()
            time.sleep(0.2)
        running = c.processes()
        assert len(running) >= 4, running  # munged, slurmctld, slurmd and the job's
    assert c.processes() == []


def fake_slurm(monkeypatch: pytest.MonkeyPatch, **replies: tuple[int, str, str]) -> list[list[str]]:
    """Make :mod:`bnnrun.sweep.slurm` see ``replies[command] = (exit code, stdout, stderr)``
    from Slurm's commands; returns the list of the commands it runs."""
    calls: list[list[str]] = []

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, *replies[cmd[0]])

    monkeypatch.setattr(slurm, "_run", run)
    return calls


def states(watcher: QueueWatcher, ids: list[str]) -> dict[str, tuple[str, bool]]:
    return {i: (watcher.get_state(i, mode="cache"), watcher.is_done(i, mode="cache")) for i in ids}


def test_watcher_asks_squeue_once_sacct_says_accounting_is_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sacct fails as it does without accounting storage; squeue lists the array's tasks,
    one of them no longer (it ended over MinJobAge ago). Ended: completed, cancelled, gone."""
    squeue = "7_0|COMPLETED|n1\n7_1|CANCELLED|n1\n7_2|RUNNING|n1\n7_3|PENDING|\n"
    calls = fake_slurm(monkeypatch, sacct=(1, "", "Slurm accounting storage is disabled\n"),
                       squeue=(0, squeue, ""))  # fmt: skip
    watcher = QueueWatcher()
    ids = [f"7_{i}" for i in range(5)]
    for i in ids:
        watcher.register_job(i)
    watcher.update()
    assert states(watcher, ids) == {
        "7_0": ("COMPLETED", True), "7_1": ("CANCELLED", True), "7_2": ("RUNNING", False),
        "7_3": ("PENDING", False), "7_4": (LEFT_QUEUE, True),
    }  # fmt: skip
    watcher.update()  # squeue only, now; for the array of the tasks still running
    assert [c[0] for c in calls] == ["sacct", "squeue", "squeue"]
    assert "--jobs=7" in calls[-1] and "--array" in calls[-1]


def test_watcher_reads_jobs_squeue_no_longer_knows_as_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_slurm(monkeypatch, sacct=(1, "", "Slurm accounting storage is disabled"),
               squeue=(1, "", "slurm_load_jobs error: Invalid job id specified"))  # fmt: skip
    watcher = QueueWatcher()
    watcher.register_job("9")
    watcher.update()
    assert states(watcher, ["9"]) == {"9": (LEFT_QUEUE, True)}


def test_watcher_keeps_waiting_when_slurm_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    down = "slurm_load_jobs error: Unable to contact slurm controller"
    fake_slurm(monkeypatch, sacct=(1, "", "Slurm accounting storage is disabled"),
               squeue=(1, "", down))  # fmt: skip
    watcher = QueueWatcher()
    watcher.register_job("9")
    watcher.update()
    assert states(watcher, ["9"]) == {"9": ("UNKNOWN", False)}


def test_watcher_uses_sacct_where_accounting_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """With accounting, sacct's states: a job that may still run again (requeued, suspended)
    is not done; one cancelled is ('CANCELLED by <uid>')."""
    sacct = (
        "JobID|State|NodeList\n5_0|CANCELLED by 0|n1\n5_0.batch|CANCELLED|n1\n"
        "5_1|REQUEUED|n1\n5_2|SUSPENDED|n1\n5_3|TIMEOUT|n1\n"
    )
    calls = fake_slurm(monkeypatch, sacct=(0, sacct, ""))
    watcher = QueueWatcher()
    ids = [f"5_{i}" for i in range(4)]
    for i in ids:
        watcher.register_job(i)
    watcher.update()
    assert states(watcher, ids) == {
        "5_0": ("CANCELLED by 0", True), "5_1": ("REQUEUED", False),
        "5_2": ("SUSPENDED", False), "5_3": ("TIMEOUT", True),
    }  # fmt: skip
    assert [c[0] for c in calls] == ["sacct"] and not watcher.no_accounting


def test_a_lost_job_is_recorded_failed_unless_it_recorded_itself(tmp_path: Path) -> None:
    error = slurm.lost_job_error("4_1", "CANCELLED")
    assert error.startswith("Slurm job 4_1 ended CANCELLED without finishing")
    assert record_lost_job(tmp_path / "never_started", error)
    assert rundir.read_metrics(tmp_path / "never_started") == {"status": "failed", "error": error}
    own = {"status": "diverged", "error": "ELBO is not finite at step 7"}
    rundir.write_json(tmp_path / "own" / "metrics.json", own)
    assert not record_lost_job(tmp_path / "own", error)
    assert rundir.read_metrics(tmp_path / "own") == own
    assert "left Slurm's queue" in slurm.lost_job_error("4_1", LEFT_QUEUE)
