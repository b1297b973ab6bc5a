"""Load (issue 12, item 5): a sweep of 200 tiny jobs through joblib with 2 workers loses none
and runs none twice; and with one worker killed mid-way, re-running the same command runs
exactly the missing jobs, leaves the finished ones' files untouched, and completes the summary.

Each job is as small as a run gets (40 points, 10 SVI steps, 2 predictive draws, a 2x2 map
grid), so what is measured is the sweep's bookkeeping, not the fits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
JOBS = 200
TINY = [
    "debug=smoke",
    "dataset.n_samples=40",
    "inference.num_steps=10",
    "inference.chunk_size=10",
    "inference.num_predictive_samples=2",
    "analysis.grid_size=2",
    "runtime.cpu_threads=1",
    "runtime.progress=false",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    f"seed=range({JOBS})",
]
#: Hydra's launchers log one line "#<job number> : <overrides>" per job they start.
LAUNCHED = re.compile(r"#(\d+) : .*\bseed=(\d+)\b")
#: The line a job's bnnrun.log holds once per fit.
FITTING = "fitting MLP on moons by svi"

pytestmark = pytest.mark.slow


def _command(root: Path) -> list[str]:
    return [sys.executable, "-m", "bnnrun", "-m", *TINY, f"hydra.sweep.dir={root}"]


def _env(cache_dir: Path) -> dict[str, str]:
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


#: Seconds a sweep may take: generous, for a shared machine (a job costs a few seconds of CPU,
#: most of it drawing its figures).
TIMEOUT = 3600


def _start(root: Path, cache_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """The sweep, in a session of its own, so that :func:`_stop` ends its workers too."""
    with open(log, "w") as out:
        return subprocess.Popen(_command(root), cwd=REPO, env=_env(cache_dir), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of a sweep: its process and its joblib workers (which outlive a
    killed parent)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _sweep(root: Path, cache_dir: Path, log: Path) -> tuple[int, str]:
    """Run the sweep to its end; its exit code and output."""
    proc = _start(root, cache_dir, log)
    try:
        code = proc.wait(timeout=TIMEOUT)
    finally:
        _stop(proc)
    return code, log.read_text()


def _launched_seeds(log: str) -> list[int]:
    return [int(m.group(2)) for m in LAUNCHED.finditer(log)]


def _job_dirs(root: Path) -> dict[int, Path]:
    """Each job's directory by its seed (the sweep's jobs differ only in it)."""
    dirs = {}
    for d in root.iterdir():
        if (d / ".hydra").is_dir():
            (seed,) = re.findall(r"\bseed=(\d+)$", d.name)
            assert int(seed) not in dirs, f"two directories for seed {seed}"
            dirs[int(seed)] = d
    return dirs


def _status(d: Path) -> str | None:
    path = d / "metrics.json"
    return json.loads(path.read_text())["status"] if path.is_file() else None


def _digests(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def _check_complete(root: Path) -> None:
    """Every job once: 200 directories of finished runs, one fit in each log, and a summary of
    exactly one row per seed."""
    dirs = _job_dirs(root)
    assert sorted(dirs) == list(range(JOBS))
    assert {s: _status(d) for s, d in dirs.items() if _status(d) != "ok"} == {}
    runs = pd.read_csv(root / "summary.csv")
    assert len(runs) == JOBS
    assert sorted(runs["seed"]) == list(range(JOBS))
    assert set(runs["status"]) == {"ok"}
    assert sorted(runs["run_dir"]) == sorted(d.name for d in dirs.values())
    assert not list(root.rglob(".tmp-*")) and not list(root.rglob("checkpoint.npz"))


def test_a_sweep_of_200_jobs_loses_none_and_runs_none_twice(
    cache_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "sweep"
    start = time.monotonic()
    code, log = _sweep(root, cache_dir, tmp_path / "sweep.out")
    seconds = time.monotonic() - start
    assert code == 0, log[-3000:]
    launched = _launched_seeds(log)
    assert sorted(launched) == list(range(JOBS))  # each job launched exactly once
    _check_complete(root)
    for d in _job_dirs(root).values():
        assert (d / "bnnrun.log").read_text().count(FITTING) == 1, d  # fitted once
    print(f"{JOBS} jobs, 2 joblib workers: {seconds:.1f} s")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: each task's children)."""
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:  # the process ended meanwhile
                continue
            out += [int(c) for c in children]
            todo += [int(c) for c in children]
    return out


def _loky_workers(pid: int) -> list[int]:
    """The loky worker processes (joblib's) under ``pid``."""
    workers = []
    for child in _descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"loky" in cmdline and b"resource_tracker" not in cmdline:
            workers.append(child)
    return workers


def test_a_killed_worker_costs_only_its_jobs_and_a_rerun_completes(
    cache_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL one joblib worker once 40 jobs have finished. The same command, run again, runs
    exactly the jobs without a finished run, redoes none of the finished ones (their files
    byte-identical), and the summary holds exactly 200 rows."""
    root = tmp_path / "sweep"
    start = time.monotonic()
    victim = _start(root, cache_dir, tmp_path / "victim.out")
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(list(root.glob("*/metrics.json"))) < 40:
            assert victim.poll() is None, (tmp_path / "victim.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "40 jobs did not finish in time"
            time.sleep(0.05)
        workers = _loky_workers(victim.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        code = victim.wait(timeout=TIMEOUT)  # joblib gives up on the sweep: it ends, exit 1
    finally:
        _stop(victim)
    said = (tmp_path / "victim.out").read_text()
    assert code == 1 and "Traceback" not in said, said[-3000:]
    assert "bnnrun: error: the sweep's launcher failed (TerminatedWorkerError" in said
    assert "run the same command again to finish the sweep" in said
    dirs = _job_dirs(root)
    finished = {s: d for s, d in dirs.items() if _status(d) == "ok"}
    missing = sorted(set(range(JOBS)) - set(finished))
    assert missing, "the sweep finished every job although a worker was killed"
    kept = {s: _digests(d) for s, d in finished.items()}

    code, log = _sweep(root, cache_dir, tmp_path / "again.out")
    assert code == 0, log[-3000:]
    assert sorted(_launched_seeds(log)) == missing
    assert f"{len(missing)} to run, {len(finished)} already finished (skipped)" in log
    assert {s: _digests(finished[s]) for s in kept} == kept  # nothing finished was redone
    _check_complete(root)
    print(
        f"killed after {len(finished)} finished; the re-run ran {len(missing)}; "
        f"{time.monotonic() - start:.1f} s in all"
    )
