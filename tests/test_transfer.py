"""Transfer experiments: the pretraining callback's overrides, its reuse and refusal rules (unit
tests, with the pretraining process replaced by a recorder), the error for a missing
pretraining, and a tiny transfer sweep end to end through the CLI, whose pretraining runs for
real (as in every experiment's smoke test, tests/test_experiments.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, make_config
from hydra import initialize_config_dir
from omegaconf import OmegaConf

from bnnrun import rundir
from bnnrun.config.compose import CONF_DIR
from bnnrun.data import load_dataset
from bnnrun.errors import ConfigError
from bnnrun.experiments import transfer
from bnnrun.pipeline.reload import build_model, run_config
from bnnrun.sweep.summary import job_dirs

#: The pretraining overrides of conf/experiment/transfer_digits.yaml.
PRETRAIN = ["experiment=transfer_digits_pretrain", "prior=normal", "seed=0"]


def test_pretraining_takes_the_fixed_overrides_and_its_own_win() -> None:
    task = [
        "experiment=transfer_digits",  # the pretraining names its own experiment
        "seed=0,1",  # swept: the jobs' only
        "prior=informed",  # the pretraining chooses its own prior ...
        "prior.layers=[layer1]",  # ... so keys inside the command line's prior go too
        "prior.scale=tag(log,interval(0.1,1))",
        "runtime.cpu_threads=1",
        "dataset.train_size=50",
        "dataset.seed=${seed}",  # kept as written, unresolved
    ]
    assert transfer.pretraining_overrides(task, PRETRAIN) == [
        "runtime.cpu_threads=1",
        "dataset.train_size=50",
        "dataset.seed=${seed}",
        *PRETRAIN,
    ]
    assert transfer.pretraining_overrides(task, ["dataset=mnist", "seed=0"]) == [
        "experiment=transfer_digits", "prior=informed", "prior.layers=[layer1]",
        "runtime.cpu_threads=1", "dataset=mnist", "seed=0",
    ]  # fmt: skip


@pytest.fixture
def callback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``(Pretrain callback, its sweep config, the commands it ran, the pretraining's config)``;
    its subprocess is replaced by one that records the command and exits with ``code[0]``."""
    task = ["experiment=transfer_digits", "debug=smoke_images", "seed=0,1"]
    # All the callback reads of the sweep's config: its command line, as Hydra records it.
    config = OmegaConf.create({"hydra": {"overrides": {"task": task}}})
    commands: list[list[str]] = []
    code = [0]

    def fake_run(command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, code[0])

    monkeypatch.setattr(transfer.subprocess, "run", fake_run)
    cb = transfer.Pretrain(run_dir=str(tmp_path / "pretrain"), overrides=PRETRAIN)
    expected = make_config("debug=smoke_images", *PRETRAIN, "resume=true")

    def start() -> None:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cb.on_multirun_start(config=config, config_name="config")

    return cb, start, commands, code, expected


def test_pretraining_runs_once_into_its_directory(callback) -> None:
    cb, start, commands, _, _ = callback
    start()
    assert commands == [[
        sys.executable, "-m", "bnnrun", "debug=smoke_images", *PRETRAIN, "resume=true",
        f"hydra.run.dir={cb.run_dir}",
    ]]  # fmt: skip


def test_finished_pretraining_of_the_same_config_is_reused(callback) -> None:
    cb, start, commands, _, expected = callback
    rundir.write_json(cb.run_dir / rundir.METRICS, {"status": "ok", "config": asdict(expected)})
    start()
    assert commands == []


def test_finished_pretraining_of_another_config_is_never_overwritten(callback, capsys) -> None:
    cb, start, commands, _, expected = callback
    other = asdict(expected) | {"seed": 1}
    rundir.write_json(cb.run_dir / rundir.METRICS, {"status": "ok", "config": other})
    with pytest.raises(SystemExit) as exit_:
        start()
    assert exit_.value.code == 2 and commands == []
    assert "already holds a finished pretraining of another config" in capsys.readouterr().err
    assert json.loads((cb.run_dir / rundir.METRICS).read_text())["config"]["seed"] == 1


def test_failed_pretraining_runs_again_and_a_new_failure_stops_the_sweep(callback) -> None:
    cb, start, commands, code, _ = callback
    rundir.write_json(cb.run_dir / rundir.METRICS, {"status": "failed", "error": "boom"})
    code[0] = 3
    with pytest.raises(SystemExit) as exit_:
        start()
    assert exit_.value.code == 3 and len(commands) == 1
    assert not (cb.run_dir / rundir.METRICS).exists()  # the old failure record was dropped


def test_informed_job_without_its_pretraining_is_refused(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("experiment=transfer_digits", "prior=informed",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.run.dir={out}")  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"bnnrun: error: prior.source='{tmp_path / 'sweep' / 'pretrain'}', the pretraining of "
        "experiment=transfer_digits, does not exist: the sweep pretrains it first (bnnrun -m "
        "experiment=transfer_digits); for one run, set hydra.sweep.dir to a sweep of it that "
        "has run, or set prior.source"
    ]
    assert not out.exists()
    # A sweep's job finds out when it builds its prior (and records it as its failure).
    cfg = make_config("experiment=transfer_digits", "prior=informed",
                      f"hydra.sweep.dir={tmp_path / 'sweep'}")  # fmt: skip
    with pytest.raises(ConfigError, match=r"pretrain' does not exist"):
        build_model(cfg, load_dataset(cfg.dataset))


def test_transfer_job_reloads_from_the_config_it_recorded(tmp_path: Path) -> None:
    cfg = make_config("experiment=transfer_digits", "prior=informed", f"hydra.sweep.dir={tmp_path}")
    job = tmp_path / "prior=informed,seed=0"
    (job / ".hydra").mkdir(parents=True)
    # Hydra saves the config unresolved; outside the sweep this cannot be resolved.
    (job / ".hydra" / "config.yaml").write_text("prior:\n  source: ${hydra:sweep.dir}/pretrain\n")
    rundir.write_json(job / rundir.METRICS, {"status": "ok", "config": asdict(cfg)})
    assert run_config(job) == cfg
    assert run_config(job).prior.source == str(tmp_path / "pretrain")


# A small MLP instead of the experiment's CNN: the same sweep, in a fraction of the compile time.
TINY = ["experiment=transfer_digits", "debug=smoke_images", "architecture=mlp",
        "architecture.hidden=[16,16]", "seed=0,1"]  # fmt: skip


def sweep(cache_dir: Path, root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    command = [sys.executable, "-m", "bnnrun", "-m", *TINY, f"hydra.sweep.dir={root}"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # 42-65 s on 2 shared cores, most of it compiling three model structures
def test_transfer_sweep_pretrains_once_and_centres_the_informed_priors_there(
    cache_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "sweep"
    proc = sweep(cache_dir, root)
    assert proc.returncode == 0, proc.stderr
    log = proc.stdout + proc.stderr
    assert log.count("pretraining into") == 1
    pretrain = root / "pretrain"
    assert rundir.read_metrics(pretrain)["status"] == "ok"
    assert rundir.read_metrics(pretrain)["num_train"] == 630  # digits 0-4, all of them
    jobs = job_dirs(root)
    assert len(jobs) == 4 and pretrain not in jobs  # the pretraining is not a job
    runs = pd.read_csv(root / "summary.csv")
    assert sorted(runs["prior"]) == ["informed", "informed", "normal", "normal"]
    assert set(runs["status"]) == {"ok"} and set(runs["num_train"]) == {100}
    posterior = rundir.load_npz(pretrain / rundir.POSTERIOR)
    for job in jobs:
        centres = job / "prior_centres.npz"
        if "prior=normal" in job.name:
            assert not centres.exists()
            continue
        assert run_config(job).prior.source == str(pretrain)
        got = rundir.load_npz(centres)
        assert sorted(got) == ["layer1.b", "layer1.w", "layer2.b", "layer2.w"]  # not the head
        for site, value in got.items():
            np.testing.assert_array_equal(value, posterior[f"{site}_auto_loc"])
    page = (root / "report.html").read_text()
    assert "prior=informed" in page and "prior=normal" in page
    assert (root / "plots" / "configs_dataset=digits.png").is_file()

    # The same command again: every job skipped, the pretraining reused, nothing rewritten.
    stamp = (pretrain / rundir.METRICS).stat().st_mtime_ns
    again = sweep(cache_dir, root)
    assert again.returncode == 0, again.stderr
    log = again.stdout + again.stderr
    assert "already holds it (same config); reusing it" in log
    assert "0 to run, 4 already finished (skipped)" in log
    assert (pretrain / rundir.METRICS).stat().st_mtime_ns == stamp
