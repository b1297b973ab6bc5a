"""Checkpoints and resumption: an interrupted fit continues to the same bits as an uninterrupted
one, in process and across a real kill, and interrupted or foreign checkpoints are protected."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import REPO, make_config

from bnnrun.data import load_dataset
from bnnrun.errors import RunDirError
from bnnrun.inference.checkpoint import (
    CHECKPOINT,
    Checkpointer,
    check_resumable,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from bnnrun.inference.program import fit_svi, fit_svi_epochs
from bnnrun.pipeline.build import build


class Interrupted(Exception):
    pass


def test_resumed_fit_ends_bit_identical(tmp_path: Path) -> None:
    cfg = make_config("debug=smoke", "inference.checkpoint_every=100")
    data = load_dataset(cfg.dataset)
    _, _, hp, program = build(cfg, data)
    key = jax.random.PRNGKey(4)
    args = (program, data.x_train, data.y_train, hp)
    opts = {"key": key, "num_steps": 200, "chunk_size": 50}
    whole = fit_svi(*args, **opts)

    path = tmp_path / CHECKPOINT
    saver = Checkpointer(path, every=100, num_steps=200, config=fingerprint(cfg))

    def save_then_die(state, step, losses) -> None:
        saver(state, step, losses)
        if step == 150:
            raise Interrupted

    with pytest.raises(Interrupted):
        fit_svi(*args, **opts, on_chunk=save_then_die)
    ckpt = load_checkpoint(path)
    assert ckpt.step == 100 and ckpt.losses.shape == (100,)
    np.testing.assert_array_equal(-ckpt.losses, whole.elbo[:100])

    resumed = fit_svi(*args, **opts, resume=ckpt)
    assert resumed.start_step == 100 and resumed.num_steps == 200
    np.testing.assert_array_equal(resumed.elbo, whole.elbo)
    for name, value in whole.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


@pytest.mark.parametrize("loop", [pytest.param("scan", marks=pytest.mark.slow), "step"])
def test_resumed_epoch_fit_ends_bit_identical(tmp_path: Path, loop: str) -> None:
    """Epoch fits checkpoint and resume too, mid-epoch included, in either loop strategy."""
    cfg = make_config(
        "dataset=digits",
        "architecture.hidden=[8]",
        "inference.num_epochs=3",
        "inference.batch_size=200",
        "runtime.progress=false",
    )
    data = load_dataset(cfg.dataset)
    _, _, hp, program = build(cfg, data)
    args = (program, data.x_train, data.y_train, hp)
    opts = {
        "key": jax.random.PRNGKey(5),
        "num_epochs": 3,
        "batch_size": 200,
        "loop": loop,
        "chunk_size": 4,
    }
    whole = fit_svi_epochs(*args, **opts)  # 6 steps per epoch, chunks of 4 and 2
    path = tmp_path / CHECKPOINT
    saver = Checkpointer(path, every=1, num_steps=18, config=fingerprint(cfg))

    def save_then_die(state, step, losses) -> None:
        saver(state, step, losses)
        if step == 10:  # mid-epoch 2
            raise Interrupted

    with pytest.raises(Interrupted):
        fit_svi_epochs(*args, **opts, on_chunk=save_then_die)
    ckpt = load_checkpoint(path)
    assert ckpt.step == 10
    resumed = fit_svi_epochs(*args, **opts, resume=ckpt)
    assert resumed.start_step == 10 and resumed.num_steps == 18
    np.testing.assert_array_equal(resumed.elbo, whole.elbo)
    for name, value in whole.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


def test_checkpoints_are_refused_unless_resumed_with_the_same_config(tmp_path: Path) -> None:
    cfg = make_config("debug=smoke")
    assert check_resumable(tmp_path, cfg) is None
    state = {"w": np.arange(3.0, dtype=np.float32), "step": np.int32(7)}
    losses = [np.ones(40, np.float32)]
    save_checkpoint(tmp_path / CHECKPOINT, state, step=40, losses=losses, config=fingerprint(cfg))
    with pytest.raises(RunDirError, match=r"holds an interrupted run .* at step 40.*resume=true"):
        check_resumable(tmp_path, cfg)
    other = make_config("debug=smoke", "resume=true", "inference.num_steps=300")
    with pytest.raises(RunDirError, match=r"inference\.num_steps: 200 there, 300 here"):
        check_resumable(tmp_path, other)
    same = make_config("debug=smoke", "resume=true", "inference.checkpoint_every=50")
    ckpt = check_resumable(tmp_path, same)
    assert ckpt is not None and ckpt.step == 40
    restored = ckpt.restore({"w": np.zeros(3, np.float32), "step": np.int32(0)})
    np.testing.assert_array_equal(restored["w"], state["w"])
    with pytest.raises(RunDirError, match=r"\['w'\].*saved: float32\[3\].*expected: float32\[4\]"):
        ckpt.restore({"w": np.zeros(4, np.float32), "step": np.int32(0)})


def _bnnrun(args: list[str], cache_dir: Path, log: Path) -> subprocess.Popen:
    """Start ``bnnrun ARGS``; its stderr goes to ``log`` (a pipe nobody reads could fill up)."""
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    with open(log, "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "bnnrun", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_numbers(cache_dir: Path, tmp_path: Path) -> None:
    """Kill a real run after its first checkpoint; resuming it gives the uninterrupted run's
    ELBO trace, posterior and metrics, bit for bit."""
    steps, every = 40_000, 2_000
    args = [
        "debug=smoke",
        f"inference.num_steps={steps}",
        f"inference.chunk_size={every}",
        f"inference.checkpoint_every={every}",
        "runtime.cpu_threads=1",  # the two runs below share the machine's cores
    ]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    logs = {name: tmp_path / f"{name}.err" for name in ["whole", "cut", "refused", "resumed"]}
    reference = _bnnrun([*args, f"hydra.run.dir={whole}"], cache_dir, logs["whole"])
    victim = _bnnrun([*args, f"hydra.run.dir={cut}"], cache_dir, logs["cut"])
    deadline = time.monotonic() + 240
    while not (cut / CHECKPOINT).exists() and victim.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert reference.wait(timeout=300) == 0, logs["whole"].read_text()
    assert not (cut / "metrics.json").exists(), "the run finished before it was killed"
    killed_at = load_checkpoint(cut / CHECKPOINT).step
    assert every <= killed_at < steps

    refused = _bnnrun([*args, f"hydra.run.dir={cut}"], cache_dir, logs["refused"])
    assert refused.wait(timeout=120) == 2
    assert "holds an interrupted run" in logs["refused"].read_text()

    resumed = _bnnrun([*args, "resume=true", f"hydra.run.dir={cut}"], cache_dir, logs["resumed"])
    assert resumed.wait(timeout=300) == 0, logs["resumed"].read_text()
    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((cut / "metrics.json").read_text())
    assert b["resumed_from_step"] == killed_at and b["num_steps"] == steps
    for key in ["accuracy", "nll", "brier", "ece", "entropy", "mutual_info", "elbo_final"]:
        assert a[key] == b[key], key
    assert (whole / "elbo.csv").read_bytes() == (cut / "elbo.csv").read_bytes()
    with np.load(whole / "posterior.npz") as pa, np.load(cut / "posterior.npz") as pb:
        for name in pa.files:
            np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)
    assert not (cut / CHECKPOINT).exists() and not (whole / CHECKPOINT).exists()
