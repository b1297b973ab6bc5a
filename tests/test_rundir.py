"""Result files appear whole or not at all, .npz loading never unpickles, and a run directory
belongs to one run at a time (its lock), with only an ``ok`` record counting as finished."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnnrun import rundir
from bnnrun.errors import DataError, RunDirError


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    with pytest.raises(KeyboardInterrupt), rundir.atomic_path(target) as tmp:
        tmp.write_text('{"status": "o')  # half-written ...
        raise KeyboardInterrupt  # ... when the run is killed
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_until_the_new_one_is_complete(tmp_path: Path) -> None:
    target = tmp_path / "elbo.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), rundir.atomic_path(target) as tmp:
        tmp.write_text("new, partial")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"


def test_write_json_replaces_nan_with_null(tmp_path: Path) -> None:
    rundir.write_json(tmp_path / "m.json", {"nll": float("nan"), "acc": np.float32(0.5)})
    assert json.loads((tmp_path / "m.json").read_text()) == {"nll": None, "acc": 0.5}


def test_npz_round_trip_and_pickle_refused(tmp_path: Path) -> None:
    arrays = {"layer1.w_auto_loc": np.arange(6.0).reshape(2, 3)}
    rundir.save_npz(tmp_path / "p.npz", arrays)
    np.testing.assert_array_equal(
        rundir.load_npz(tmp_path / "p.npz")["layer1.w_auto_loc"], arrays["layer1.w_auto_loc"]
    )
    np.savez(tmp_path / "evil.npz", obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"not a readable \.npz file"):
        rundir.load_npz(tmp_path / "evil.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"junk\.npz"):
        rundir.load_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="no such file"):
        rundir.load_npz(tmp_path / "missing.npz")


def test_finished_run_directory_is_refused(tmp_path: Path) -> None:
    rundir.ensure_fresh(tmp_path)  # empty: fine
    (tmp_path / "metrics.json").write_text('{"status": "ok"}')
    with pytest.raises(RunDirError, match="never overwritten"):
        rundir.ensure_fresh(tmp_path)


def test_only_an_ok_record_is_a_finished_run(tmp_path: Path) -> None:
    """The rule: metrics.json with status ok is a finished run, refused; any other record
    (failed, diverged, skipped, unreadable) is a run that did not finish, replaced."""
    for status in ("failed", "diverged", "skipped"):
        (tmp_path / "metrics.json").write_text(json.dumps({"status": status}))
        rundir.ensure_fresh(tmp_path)
        assert rundir.discard_unfinished(tmp_path)
        assert not (tmp_path / "metrics.json").exists()
    (tmp_path / "metrics.json").write_text('{"status": "ok", "accuracy": 0.9}')
    with pytest.raises(RunDirError, match=r"already holds a finished run.*status ok"):
        rundir.ensure_fresh(tmp_path)
    assert not rundir.discard_unfinished(tmp_path)
    assert (tmp_path / "metrics.json").read_text() == '{"status": "ok", "accuracy": 0.9}'


_HOLD = """
import sys, time
from bnnrun import rundir
rundir.acquire(sys.argv[1])
print("locked", flush=True)
time.sleep(600)
"""


def test_a_locked_directory_is_refused_and_a_dead_holders_lock_is_stale(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the lock: refused, naming the directory and its PID. Once that
    process is killed (no chance to unlock), the lock is free, and the 0-byte temporary
    file it left is removed when the next run takes the directory."""
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(RunDirError) as refused:
            rundir.acquire(run_dir)
        assert str(refused.value) == (
            f"{run_dir} is in use by another run (PID {holder.pid}); wait for it to end, or "
            "choose another directory"
        )
        with pytest.raises(RunDirError, match=f"PID {holder.pid}"):
            rundir.acquire(run_dir)  # a refused attempt leaves the holder's PID in place
        (run_dir / ".tmp-metrics-k1ll3d_0.json").write_bytes(b"")  # as a killed write leaves
    finally:
        holder.kill()
        holder.wait()
    (run_dir / "elbo.csv").write_text("kept\n")
    caplog.set_level(logging.INFO, logger="bnnrun.rundir")
    with rundir.locked(run_dir):
        assert (run_dir / rundir.LOCK).read_text() == f"{os.getpid()}\n"
        assert f"the lock of PID {holder.pid} is stale" in caplog.text
        assert sorted(p.name for p in run_dir.iterdir()) == [rundir.LOCK, "elbo.csv"]
        with rundir.locked(run_dir):  # the holder may take it again (run_job, then execute)
            pass
        assert _locked_by_someone(run_dir)
    assert not _locked_by_someone(run_dir)
    assert (run_dir / rundir.LOCK).read_text() == ""


def _locked_by_someone(run_dir: Path) -> bool:
    """Whether a new open file description cannot take the lock (fcntl, like bnnrun)."""
    with open(run_dir / rundir.LOCK) as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def test_stale_temps_are_removed_but_not_those_of_a_locked_job(tmp_path: Path) -> None:
    """A sweep directory: its own and plots/ temporaries go; those in a job directory that
    another process has locked (a job in progress) stay, as do ordinary hidden files."""
    (tmp_path / "plots").mkdir()
    busy = tmp_path / "seed=1"
    busy.mkdir()
    for path in [tmp_path / ".tmp-summary-abc.csv", tmp_path / "plots" / ".tmp-x-1.png",
                 tmp_path / ".hidden"]:  # fmt: skip
        path.write_bytes(b"")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(busy)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        (busy / ".tmp-elbo-2.csv").write_bytes(b"")  # the job's write in progress
        assert rundir.remove_stale_temps(tmp_path) == 2
        assert (busy / ".tmp-elbo-2.csv").exists() and (tmp_path / ".hidden").exists()
        assert not (tmp_path / ".tmp-summary-abc.csv").exists()
        assert not (tmp_path / "plots" / ".tmp-x-1.png").exists()
    finally:
        holder.kill()
        holder.wait()
    assert rundir.remove_stale_temps(tmp_path) == 1  # the job's, now that it is dead


_WRITE_UNTIL_TERM = """
import sys
from pathlib import Path
from bnnrun.cli.main import _exit_on_sigterm
from bnnrun import rundir
_exit_on_sigterm()
with rundir.atomic_path(Path(sys.argv[1]) / "metrics.json") as tmp:
    tmp.write_text('{"status": "o')
    print(tmp.name, flush=True)
    sys.stdin.read()  # until killed
"""


def test_sigterm_removes_the_temporary_file(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITE_UNTIL_TERM, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()
    assert name.startswith(rundir.TMP_PREFIX) and (tmp_path / name).exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
