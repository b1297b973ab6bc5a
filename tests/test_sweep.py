"""Sweeps end to end through the CLI: files at the root, failures, re-runs, launchers, report."""

from __future__ import annotations

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
SMOKE = ["debug=smoke"]
#: Hydra's launchers log one line "#<job number> : <overrides>" per job they run.
LAUNCHED = re.compile(r"#(\d+) : (.*)")


def bnnrun(cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "bnnrun", "-m", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def launched(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The overrides of every job the sweep ran."""
    return [m.group(2) for m in LAUNCHED.finditer(proc.stdout + proc.stderr)]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


GRID = [*SMOKE, "dataset=moons,circles", "prior=normal,flat", "hyperprior=fixed,half_normal"]


@pytest.fixture(scope="module")
def sweep(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """2 datasets x 2 priors x 2 hyperpriors, of which flat + half_normal cannot be: 6 jobs."""
    root = tmp_path_factory.mktemp("sweep") / "grid"
    proc = bnnrun(cache_dir, *GRID, f"hydra.sweep.dir={root}")
    return root, proc


def test_sweep_writes_tables_plots_and_report(sweep) -> None:
    root, proc = sweep
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_csv(root / "summary.csv")
    assert len(runs) == 6 and set(runs["status"]) == {"ok"}
    assert list(runs.columns[:6]) == ["dataset", "prior", "hyperprior", "debug", "seed", "status"]
    assert {"error", "accuracy", "nll", "ece", "brier", "fit_seconds", "run_dir"} <= set(runs)
    assert all((root / d / "metrics.json").is_file() for d in runs["run_dir"])
    first = runs.iloc[0]
    assert first["accuracy"] == metrics(root / first["run_dir"])["accuracy"]
    by_config = pd.read_csv(root / "summary_by_config.csv")
    assert len(by_config) == 6
    assert {"accuracy_mean", "accuracy_std", "accuracy_count", "nll_mean", "ece_std"} <= set(
        by_config
    )
    for name in ["heatmap_dataset=moons", "heatmap_dataset=circles",
                 "std_maps_dataset=moons,seed=0", "std_maps_dataset=circles,seed=0",
                 "strip_accuracy_dataset=moons", "strip_nll_dataset=circles"]:  # fmt: skip
        assert (root / "plots" / f"{name}.png").is_file(), name
    page = (root / "report.html").read_text()
    assert "On moons, the best configuration by test accuracy" in page
    assert "On circles, the best configuration by test NLL" in page
    assert "with a single seed there is no spread over seeds to compare it with" in page
    pairs = pd.read_csv(root / "comparisons.csv")  # 3 configurations per data set, one seed
    assert len(pairs) == 2 * 3 * 2 and pairs["n"].eq(1).all() and pairs["p_value"].isna().all()
    assert all(f'href="{d}/"' in page.replace("%3D", "=").replace("%2C", ",")
               for d in runs["run_dir"])  # fmt: skip


def test_impossible_combinations_are_left_out_not_failed(sweep) -> None:
    root, proc = sweep
    assert "6 to run, 0 already finished (skipped), 2 impossible combinations left out" in (
        proc.stdout + proc.stderr
    )
    assert len(launched(proc)) == 6
    assert not any("prior=flat" in o and "hyperprior=half_normal" in o for o in launched(proc))
    assert not list(root.glob("*hyperprior=half_normal*prior=flat*"))


def test_sweep_reports_its_plan_and_each_jobs_progress(sweep) -> None:
    """Only the swept overrides are named, the left-out combinations are one line, and each
    job is counted k/N with its headline metric (its metrics.json's accuracy) and an ETA."""
    root, proc = sweep
    out = proc.stdout + proc.stderr
    assert "\tvarying: dataset prior hyperprior\n" in out
    assert "\tthe same in every job: debug=smoke\n" in out
    assert out.count("left out") == 2  # the count in the plan's first line, then one line
    assert "2 left out (impossible combinations), e.g. dataset=moons prior=flat " in out
    runs = pd.read_csv(root / "summary.csv")
    assert "job 1/6: dataset=moons prior=normal hyperprior=fixed\n" in out
    for k in range(1, 7):
        assert f"job {k}/6: " in out
    # Each job's directory is named by the overrides that vary, debug=smoke left out.
    named = {
        ",".join(sorted(f"{k}={getattr(r, k)}" for k in ("dataset", "prior", "hyperprior")))
        for r in runs.itertuples()
    }
    assert set(runs["run_dir"]) == named and len(named) == 6
    first = metrics(root / "dataset=moons,hyperprior=fixed,prior=normal")
    assert f"job 1/6 ok: accuracy {first['accuracy']:.3f}, NLL {first['nll']:.4f}, ECE " in out
    assert len(runs) == 6 and out.count("; ETA ") == 5 and "job 6/6 ok: " in out
    assert out.rstrip().count("; done") == 1


def test_a_key_the_chosen_option_lacks_is_an_impossible_combination(
    cache_dir: Path, tmp_path: Path
) -> None:
    """The paper's log grid of scales over every prior: the flat prior has no scale to sweep."""
    root = tmp_path / "scales"
    args = [*SMOKE, "dataset=moons", "prior=normal,flat", "prior.scale=0.5,2"]
    proc = bnnrun(cache_dir, *args, f"hydra.sweep.dir={root}")
    assert proc.returncode == 0, proc.stderr
    assert "2 to run, 0 already finished (skipped), 2 impossible combinations left out" in (
        proc.stdout + proc.stderr
    )
    assert sorted(pd.read_csv(root / "summary.csv")["prior.scale"]) == [0.5, 2.0]
    typo = bnnrun(cache_dir, *SMOKE, "prior=normal,flat", "prior.scael=1")
    assert typo.returncode == 2 and "unknown key 'prior.scael'" in typo.stderr
    only = bnnrun(cache_dir, *SMOKE, "prior=flat", "prior.scale=0.5,2")
    assert only.returncode == 2
    assert "every combination of this sweep sets prior.scale, which prior=flat has not" in (
        only.stderr
    )


def test_report_command_rebuilds_the_same_summary(sweep) -> None:
    root, _ = sweep
    names = ["summary.csv", "summary_by_config.csv", "comparisons.csv"]
    before = {n: (root / n).read_bytes() for n in names}
    for name in [*before, "report.html"]:
        (root / name).unlink()
    script = Path(sys.executable).with_name("bnnrun-report")
    proc = subprocess.run([str(script), str(root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "6 runs (6 ok)" in proc.stdout
    assert {n: (root / n).read_bytes() for n in before} == before
    assert (root / "report.html").is_file()


def test_report_command_refuses_a_directory_without_jobs(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("bnnrun-report")
    proc = subprocess.run([str(script), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("bnnrun-report: error: ")
    assert "holds no job directories" in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.slow
def test_failed_jobs_are_recorded_and_rerun_skips_finished_ones(
    cache_dir: Path, tmp_path: Path
) -> None:
    """A 2-point log grid of prior scales: at 1e-30 the prior's log density overflows, so the
    model has no finite starting point and the job fails. Then one finished run is lost (as if
    killed) and the same command runs again: only the lost and the failed jobs run."""
    root = tmp_path / "sweep"
    args = [*SMOKE, "prior.scale=tag(log,interval(1e-30,1))", "hydra.sweeper.interval_points=2",
            "seed=0,1", f"hydra.sweep.dir={root}"]  # fmt: skip
    proc = bnnrun(cache_dir, *args)
    assert proc.returncode == 1
    assert len(launched(proc)) == 4
    assert "2 of 4 jobs did not finish ok" in proc.stderr
    runs = pd.read_csv(root / "summary.csv")
    assert sorted(runs["prior.scale"]) == [1e-30, 1e-30, 1.0, 1.0]
    bad = runs[runs["prior.scale"] == 1e-30]
    assert set(bad["status"]) == {"failed"}
    assert bad["error"].str.startswith("the model's log density is not finite").all()
    assert all(f"{d}: failed" in proc.stderr for d in bad["run_dir"])
    good = runs[runs["prior.scale"] == 1.0]
    assert set(good["status"]) == {"ok"} and good["accuracy"].notna().all()
    assert (root / "plots" / "vs_prior.scale.png").is_file()

    lost, kept = root / good["run_dir"].iloc[0], root / good["run_dir"].iloc[1]
    (lost / "metrics.json").unlink()
    stamp = (kept / "metrics.json").stat().st_mtime_ns
    again = bnnrun(cache_dir, *args)
    assert again.returncode == 1
    rerun = launched(again)
    assert len(rerun) == 3, rerun  # 2 failed + 1 lost; the finished one is skipped
    assert "3 to run, 1 already finished (skipped)" in again.stdout + again.stderr
    assert (kept / "metrics.json").stat().st_mtime_ns == stamp
    assert metrics(lost)["status"] == "ok"
    counts = pd.read_csv(root / "summary.csv")["status"].value_counts().to_dict()
    assert counts == {"ok": 2, "failed": 2}


def test_job_dirs_are_named_by_what_varies_and_a_rerun_finds_them(
    cache_dir: Path, tmp_path: Path
) -> None:
    """``prior=laplace seed=0,1`` names its jobs seed=0 and seed=1. Adding a seed to the same
    sweep runs only the new one; changing the shared prior there is refused (exit 2), and the
    finished runs are untouched."""
    root = tmp_path / "sweep"
    common = [*SMOKE, "inference.num_steps=50", f"hydra.sweep.dir={root}"]
    proc = bnnrun(cache_dir, *common, "prior=laplace", "seed=0,1")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in root.iterdir() if (p / "metrics.json").is_file()) == [
        "seed=0",
        "seed=1",
    ]
    assert metrics(root / "seed=1")["config"]["prior"]["family"] == "laplace"
    stamps = {d: (root / d / "metrics.json").stat().st_mtime_ns for d in ("seed=0", "seed=1")}
    more = bnnrun(cache_dir, *common, "prior=laplace", "seed=0,1,2")
    assert more.returncode == 0, more.stderr
    assert "1 to run, 2 already finished (skipped)" in more.stdout + more.stderr
    assert sorted(pd.read_csv(root / "summary.csv")["run_dir"]) == ["seed=0", "seed=1", "seed=2"]
    other = bnnrun(cache_dir, *common, "prior=normal", "seed=0,1")
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"bnnrun: error: {root / 'seed=0'} already holds a finished run of another config; it "
        "is never overwritten: choose another hydra.sweep.dir"
    ]
    assert {d: (root / d / "metrics.json").stat().st_mtime_ns for d in stamps} == stamps


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_launcher_runs_jobs_in_other_processes(cache_dir: Path, tmp_path: Path, launcher) -> None:
    root = tmp_path / "sweep"
    proc = bnnrun(cache_dir, *SMOKE, *launcher, "seed=0,1", f"hydra.sweep.dir={root}")
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_csv(root / "summary.csv")
    assert sorted(runs["seed"]) == [0, 1] and set(runs["status"]) == {"ok"}
    for d in runs["run_dir"]:
        log = (root / d / "bnnrun.log").read_text()
        assert "XLA CPU threads: 1 (the launcher runs jobs side by side)" in log
    assert (root / "report.html").is_file()


@pytest.mark.slow
def test_killed_sweep_finishes_when_the_command_is_rerun(cache_dir: Path, tmp_path: Path) -> None:
    """SIGKILL a real sweep in mid-job, once the second job has checkpointed; the same command
    then redoes nothing finished (its files byte-identical), continues the interrupted job from
    its checkpoint to the numbers of an uninterrupted run, and completes the summary."""
    steps, every = 40_000, 2_000
    common = ["debug=smoke", f"inference.num_steps={steps}", f"inference.chunk_size={every}",
              f"inference.checkpoint_every={every}", "runtime.cpu_threads=1"]  # fmt: skip
    root, whole = tmp_path / "sweep", tmp_path / "whole"
    args = ["-m", *common, "seed=0,1", "hydra.sweeper.batch=1", f"hydra.sweep.dir={root}"]
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)

    def start(argv: list[str], name: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.err", "w") as err:
            return subprocess.Popen([sys.executable, "-m", "bnnrun", *argv], cwd=REPO, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip

    reference = start([*common, "seed=1", f"hydra.run.dir={whole}"], "whole")
    victim = start(args, "victim")
    deadline = time.monotonic() + 400
    while not list(root.glob("*seed=1*/checkpoint.npz")) and victim.poll() is None:
        assert time.monotonic() < deadline, "the second job did not checkpoint"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert reference.wait(timeout=400) == 0, (tmp_path / "whole.err").read_text()
    (first,) = root.glob("*seed=0*")
    (cut,) = root.glob("*seed=1*")
    assert metrics(first)["status"] == "ok"
    assert not (cut / "metrics.json").exists(), "the job finished before it was killed"
    kept = {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}

    again = bnnrun(cache_dir, *args[1:])
    assert again.returncode == 0, again.stderr
    (rerun,) = launched(again)  # the finished job is not redone
    assert "seed=1" in rerun
    assert "job #1 was interrupted: it continues from its checkpoint" in again.stdout + again.stderr
    assert {p: p.read_bytes() for p in first.rglob("*") if p.is_file()} == kept
    a, b = metrics(whole), metrics(cut)
    assert b["status"] == "ok" and b["num_steps"] == steps
    assert every <= b["resumed_from_step"] < steps
    for key in ["accuracy", "nll", "elbo_final"]:
        assert a[key] == b[key], key
    assert (whole / "elbo.csv").read_bytes() == (cut / "elbo.csv").read_bytes()
    runs = pd.read_csv(root / "summary.csv")
    assert sorted(runs["seed"]) == [0, 1] and list(runs["status"]) == ["ok", "ok"]
    assert not list(root.rglob("checkpoint.npz")) and not list(root.rglob(".tmp-*"))
