"""The words around a run: the summary that ends it and a sweep's progress lines, built from
constructed records by pure functions (the CLI's use of them: tests/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnnrun.pipeline.summary import first_file, headline, stage_times, summary_lines
from bnnrun.sweep.progress import (
    SweepProgress,
    constants,
    duration,
    eta,
    left_out,
    varying_keys,
    varying_part,
)

CLASSIFICATION = {
    "status": "ok",
    "accuracy": 0.91666,
    "accuracy_vote": 0.9,
    "nll": 0.245049,
    "brier": 0.1,
    "ece": 0.04149,
    "total_seconds": 14.0,
    "stage_seconds": {"data": 0.12, "build": 0.01, "steps": 12.06, "predict": 0.84},
}
REGRESSION = {
    "status": "ok",
    "rmse": 2.71828,
    "log_likelihood": -1.5,
    "nll": 1.5,
    "coverage_50": 0.5,
    "coverage_90": 0.875,
    "width_90": 3.0,
}


def test_headline_shows_the_metrics_the_run_has_in_a_fixed_order() -> None:
    assert headline(CLASSIFICATION) == "accuracy 0.917, NLL 0.2450, ECE 0.041"
    assert headline(REGRESSION) == "RMSE 2.7183, NLL 1.5000, 90% coverage 0.875"
    assert headline({"status": "failed", "error": "x"}) == ""
    assert headline({"accuracy": float("nan"), "nll": float("nan")}) == "accuracy nan, NLL nan"


def test_stage_times_leave_out_the_instant_stages_but_count_them_in_the_total() -> None:
    assert stage_times(CLASSIFICATION["stage_seconds"], 14.0) == (
        "data 0.1 s, steps 12.1 s, predict 0.8 s (total 14.0 s)"
    )
    # Without a total, the stages' sum: 0.12 + 0.01 + 12.06 + 0.84 = 13.03.
    assert stage_times(CLASSIFICATION["stage_seconds"]).endswith("(total 13.0 s)")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["metrics.json", "elbo.png", "predictive_mean.png", "predictive_std.png"],
         "predictive_std.png"),
        (["metrics.json", "predicted_vs_observed.png", "predictive_bands.png"],
         "predictive_bands.png"),
        (["metrics.json", "reliability.png"], "metrics.json"),
    ],
)  # fmt: skip
def test_the_file_to_open_first(files: list[str], expected: str) -> None:
    assert first_file(files) == expected


def test_summary_lines_of_a_finished_and_of_a_diverged_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines = summary_lines(CLASSIFICATION, Path("run"), ["metrics.json", "predictive_std.png"])
    assert lines == [
        "run ok: accuracy 0.917, NLL 0.2450, ECE 0.041",
        "time: data 0.1 s, steps 12.1 s, predict 0.8 s (total 14.0 s)",
        f"results: {tmp_path / 'run'} (open predictive_std.png first)",
    ]
    diverged = {"status": "diverged", "error": "non-finite metrics: nll", "rmse": 1.0}
    assert summary_lines(diverged, tmp_path, ["metrics.json"]) == [
        "run diverged: RMSE 1.0000",
        "error: non-finite metrics: nll",
        f"results: {tmp_path} (open metrics.json first)",
    ]


# A grid as the sweeper plans it: constant overrides first, then the swept ones.
GRID = [
    ["debug=smoke", "dataset=moons", "prior=normal", "seed=0"],
    ["debug=smoke", "dataset=moons", "prior=laplace", "seed=0"],
    ["debug=smoke", "dataset=moons", "prior=normal", "seed=1"],
    ["debug=smoke", "dataset=moons", "prior=laplace", "seed=1"],
]


def test_only_the_overrides_that_vary_are_named() -> None:
    assert varying_keys(GRID) == ["prior", "seed"]
    assert constants(GRID, ["prior", "seed"]) == "debug=smoke dataset=moons"
    assert varying_part(GRID[1], ["prior", "seed"]) == "prior=laplace seed=0"
    # A key some jobs lack varies (prior.scale only where prior=normal).
    assert varying_keys([["prior=flat"], ["prior=flat", "prior.scale=2"]]) == ["prior.scale"]
    assert varying_keys([GRID[0]]) == []
    assert varying_keys([]) == []


def test_left_out_combinations_are_a_count_and_a_few_examples() -> None:
    impossible = [
        ["debug=smoke", "prior=flat", "hyperprior=half_normal", f"seed={s}"] for s in range(10)
    ]
    keys = ["prior", "hyperprior", "seed"]
    text = left_out(impossible, keys)
    assert text == (
        "10 left out (impossible combinations), e.g. prior=flat hyperprior=half_normal seed=0; "
        "prior=flat hyperprior=half_normal seed=1; prior=flat hyperprior=half_normal seed=2; "
        "and 7 more"
    )
    assert "\n" not in text
    assert left_out(impossible[:1], keys).endswith("seed=0")
    assert left_out([], keys) == ""


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (185, "3 min 05 s"),
     (7620, "2 h 07 min")],
)  # fmt: skip
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_eta_is_the_mean_time_per_job_times_the_jobs_left() -> None:
    assert eta(elapsed=30.0, done=2, total=8) == "ETA 1 min 30 s"  # 15 s x 6
    assert eta(elapsed=30.0, done=0, total=8) == "ETA unknown"
    assert eta(elapsed=30.0, done=8, total=8) == "done"


def test_sweep_progress_lines() -> None:
    progress = SweepProgress(total=4, keys=["prior", "seed"], start=100.0)
    assert progress.job_started(GRID[0]) == "job 1/4: prior=normal seed=0"
    assert progress.job_finished(CLASSIFICATION, now=110.0) == (
        "job 1/4 ok: accuracy 0.917, NLL 0.2450, ECE 0.041; ETA 30 s"
    )
    assert progress.job_started(GRID[1]) == "job 2/4: prior=laplace seed=0"
    assert progress.job_finished(None, now=140.0) == (
        "job 2/4 wrote no metrics.json; ETA 40 s"  # 20 s per job, 2 left
    )
    skipped = {"status": "skipped", "error": "a flat prior has no scale"}
    progress.job_started(GRID[2])
    assert progress.job_finished(skipped, now=160.0) == "job 3/4 skipped; ETA 20 s"
