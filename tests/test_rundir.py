"""Result files appear whole or not at all, and .npz loading never unpickles."""

from __future__ import annotations

import json
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
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(RunDirError, match="never overwritten"):
        rundir.ensure_fresh(tmp_path)
