"""The CLI end to end in a subprocess: files written, exit codes, one-line errors, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

RUN_FILES = [
    "metrics.json",
    "elbo.csv",
    "elbo.png",
    "predictive_mean.png",
    "predictive_std.png",
    "weights_last_layer.png",
    "posterior.npz",
    ".hydra/config.yaml",
    ".hydra/overrides.yaml",
]
METRIC_KEYS = {
    "status",
    "accuracy",
    "nll",
    "brier",
    "ece",
    "entropy",
    "mutual_info",
    "elbo_final",
    "fit_seconds",
    "steps_per_second",
    "num_steps",
    "num_params",
    "seed",
}


def test_smoke_run_writes_every_file(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("debug=smoke", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    assert metrics["status"] == "ok"
    assert metrics["num_steps"] == 200 and metrics["num_params"] == 57 and metrics["seed"] == 0
    elbo = np.loadtxt(out / "elbo.csv", delimiter=",", skiprows=1)
    assert elbo.shape == (200, 2) and (elbo[:, 0] == np.arange(1, 201)).all()
    with np.load(out / "posterior.npz", allow_pickle=False) as post:
        assert "layer3.w_auto_loc" in post.files and post["layer3.w_auto_scale"].shape == (5, 2)


def test_a_run_ends_with_a_summary_also_in_its_log(run_cli, tmp_path: Path) -> None:
    """The last lines of a run: status and headline metrics (as in metrics.json), the time by
    stage, and the run directory made absolute (given relative) with the file to open first;
    bnnrun.log holds the run's whole log, these lines included."""
    proc = run_cli("debug=smoke", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run"
    m = json.loads((out / "metrics.json").read_text())
    lines = [
        f"run ok: accuracy {m['accuracy']:.3f}, NLL {m['nll']:.4f}, ECE {m['ece']:.3f}",
        f"results: {out} (open predictive_std.png first)",
    ]
    log = (out / "bnnrun.log").read_text()
    for line in lines:
        assert f"[INFO] - {line}\n" in proc.stdout
        assert f"[INFO] - {line}\n" in log
    time_line = next(x for x in log.splitlines() if "[INFO] - time: " in x)
    assert f"(total {m['total_seconds']:.1f} s)" in time_line
    slowest = max(m["stage_seconds"], key=m["stage_seconds"].get)
    assert f"{slowest} {m['stage_seconds'][slowest]:.1f} s" in time_line
    assert "fitting MLP on moons by svi: 57 params" in log  # the lines before the summary
    assert log.splitlines()[-1].endswith(lines[-1])


def test_default_output_dir_and_console_script(cache_dir: Path, tmp_path: Path) -> None:
    """The installed ``bnnrun`` script, run from any directory, lands in ./outputs/runs/<name>."""
    script = Path(sys.executable).with_name("bnnrun")
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run(
        [
            str(script),
            "debug=smoke",
            "dataset=circles",
            "prior=laplace",
            "hyperprior=inverse_gamma",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "outputs" / "runs" / "circles-laplace-inverse_gamma").iterdir())
    assert len(runs) == 1
    assert json.loads((runs[0] / "metrics.json").read_text())["status"] == "ok"


def test_same_command_same_numbers(run_cli, tmp_path: Path) -> None:
    results = []
    for name in ["a", "b"]:
        proc = run_cli("debug=smoke", "seed=3", f"hydra.run.dir={tmp_path / name}")
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    for key in ["accuracy", "nll", "brier", "ece", "entropy", "mutual_info", "elbo_final"]:
        assert results[0][key] == results[1][key], key
    assert (tmp_path / "a" / "elbo.csv").read_bytes() == (tmp_path / "b" / "elbo.csv").read_bytes()


BAD_INPUTS = [
    (
        ["prior=bogus"],
        "unknown option prior=bogus; prior must be one of: cauchy, flat, informed, laplace",
    ),
    (["prior.bogus=1"], "unknown key 'prior.bogus'; keys of prior: family, loc, scale"),
    (["bogus=1"], "unknown key 'bogus'"),
    (["inference.num_steps=abc"], "inference.num_steps: Value 'abc'"),
    (["prior.scale=0"], "prior.scale must be > 0"),
    (["inference.num_steps=0"], "inference.num_steps must be an integer >= 1"),
    (["dataset.test_fraction=1.5"], "dataset.test_fraction must be in (0, 1)"),
    (["prior=flat", "hyperprior=half_normal"], "prior=flat has no scale"),
    (["architecture.activation=swish"], "architecture.activation: Invalid value 'swish'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_one_line_exit_2_nothing_written(run_cli, tmp_path: Path, args, message) -> None:
    out = tmp_path / "run"
    proc = run_cli(*args, f"hydra.run.dir={out}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("bnnrun: error: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()


def test_bad_sweep_value_is_caught_before_any_job(run_cli, tmp_path: Path) -> None:
    proc = run_cli("-m", "prior=normal,bogus", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert proc.returncode == 2
    assert "unknown option prior=bogus" in proc.stderr
    assert not (tmp_path / "sweep").exists()


def test_full_error_shows_traceback(run_cli, tmp_path: Path) -> None:
    proc = run_cli(
        "prior.scale=0", f"hydra.run.dir={tmp_path / 'run'}", env={"HYDRA_FULL_ERROR": "1"}
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_finished_run_is_never_overwritten(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text('{"status": "ok", "accuracy": 0.5}\n')
    proc = run_cli("debug=smoke", f"hydra.run.dir={out}")
    assert proc.returncode == 2
    assert "already holds a finished run" in proc.stderr
    assert (out / "metrics.json").read_text() == '{"status": "ok", "accuracy": 0.5}\n'
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]


def test_a_failed_record_is_replaced_by_a_fixed_run(run_cli, tmp_path: Path) -> None:
    """A run that failed (here: a net too large for the full-rank guide) left a ``failed``
    metrics.json; it is not a finished run, so the same directory takes the fixed run."""
    out = tmp_path / "run"
    failed = run_cli(
        "debug=smoke", "inference.guide=mvn", "architecture.hidden=[100,100]",
        f"hydra.run.dir={out}",
    )  # fmt: skip
    assert failed.returncode == 2
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"
    fixed = run_cli("debug=smoke", f"hydra.run.dir={out}")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "ok"
    log = (out / "bnnrun.log").read_text()
    assert f"re-running: {out / 'metrics.json'} recorded a run that did not finish " in log
    assert "(status failed); it is replaced" in log


@pytest.mark.slow
def test_a_second_run_into_a_busy_directory_is_refused(run_cli, cache_dir, tmp_path: Path) -> None:
    """Two real processes into one hydra.run.dir: the second is refused at once (one line
    naming the directory and the first's PID, exit 2) and writes nothing. Once the first is
    killed (no chance to unlock), its lock is stale and a new run takes the directory."""
    out = tmp_path / "run"
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    first = subprocess.Popen(
        [sys.executable, "-m", "bnnrun", "debug=smoke", "inference.num_steps=100000000",
         f"hydra.run.dir={out}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline, log = time.monotonic() + 120, out / "bnnrun.log"
        while not log.exists() or "fitting" not in log.read_text():
            assert first.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert (out / ".bnnrun.lock").read_text() == f"{first.pid}\n"
        second = run_cli("debug=smoke", "seed=1", f"hydra.run.dir={out}")
        assert first.poll() is None
        assert second.returncode == 2
        assert second.stderr == (
            f"bnnrun: error: {out} is in use by another run (PID {first.pid}); wait for it to "
            "end, or choose another directory\n"
        )
        after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert after.keys() == before.keys()
        for path in [out / ".hydra" / "overrides.yaml", out / ".hydra" / "config.yaml"]:
            assert after[path] == before[path], path  # the second run's seed=1 is not there
        assert "seed=1" not in after[out / "bnnrun.log"].decode()
    finally:
        first.kill()
        first.wait()
    third = run_cli("debug=smoke", f"hydra.run.dir={out}")
    assert third.returncode == 0, third.stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "ok"


def test_diverged_run_exits_nonzero(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "debug=smoke",
        "inference.optimizer.lr=1e30",
        "inference.num_steps=1000",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 3, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["diverged_at"] >= 1
    assert "ELBO is not finite at step" in proc.stderr


def test_help_lists_groups_and_options(run_cli) -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    out = proc.stdout
    assert "bnnrun" in out
    for line in [
        "prior: cauchy, flat, informed, laplace, normal, student_t",
        "hyperprior: fixed, half_cauchy, half_normal, inverse_gamma",
        "dataset: circles, diabetes, digits, fashion_mnist, mnist, moons, table, "
        "toy_regression, uci",
        "architecture: cnn, mlp",
        "ood: digits, fashion_mnist, mnist",
        "experiment: paper_mnist",
        "inference: nuts, svi",
    ]:
        assert line in out, line
    assert "schema" not in out.split("== Config ==")[0]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="needs a machine without a GPU")
def test_unavailable_platform_is_one_clear_error(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("debug=smoke", "runtime.platform=gpu", f"hydra.run.dir={out}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[0]] and "runtime.platform=gpu is not available" in lines[0], proc.stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"


def test_full_rank_guide_too_large_is_refused(run_cli, tmp_path: Path) -> None:
    """A 2-100-100-2 net has 2*100 + 100 + 100*100 + 100 + 100*2 + 2 = 10,602 parameters: more
    than the full-rank guide's 10,000. One line, exit 2, and the run records why it failed."""
    out = tmp_path / "run"
    proc = run_cli(
        "debug=smoke",
        "inference.guide=mvn",
        "architecture.hidden=[100,100]",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 2, proc.stderr
    message = (
        "inference.guide=mvn keeps a D x D covariance, and this network has D = 10602 "
        "parameters (mvn allows at most 10000): use inference.guide=lowrank or normal"
    )
    assert proc.stderr.strip().splitlines() == [f"bnnrun: error: {message}"]
    assert "Traceback" not in proc.stdout
    assert json.loads((out / "metrics.json").read_text()) == {"status": "failed", "error": message}
    assert not (out / "posterior.npz").exists()
