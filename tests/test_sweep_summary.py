"""A sweep's tables, verdict and report, from hand-made job directories."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import yaml

from bnnrun import rundir
from bnnrun.sweep.aggregate import aggregate
from bnnrun.sweep.report import verdict_text, verdicts
from bnnrun.sweep.summary import MISSING_ERROR, by_config, read_sweep


def fake_job(root: Path, *, prior: str, hyperprior: str, seed: int, metrics: dict | None,
             dataset: str = "moons", extra: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """A job directory as Hydra and bnnrun leave it (``metrics=None``: killed before the end)."""
    overrides = [f"dataset={dataset}", f"prior={prior}", f"hyperprior={hyperprior}",
                 f"seed={seed}", *extra]  # fmt: skip
    run_dir = root / ",".join(sorted(overrides))
    (run_dir / ".hydra").mkdir(parents=True)
    config = {"dataset": {"name": dataset}, "prior": {"family": prior},
              "hyperprior": {"kind": hyperprior}, "seed": seed}  # fmt: skip
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        rundir.write_json(run_dir / rundir.METRICS, {"seed": seed, **metrics, "config": config})
    return run_dir


def ok(accuracy: float, nll: float = 0.4, ece: float = 0.05) -> dict:
    return {"status": "ok", "accuracy": accuracy, "nll": nll, "ece": ece, "fit_seconds": 2.0}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """moons: laplace/fixed clearly best by accuracy; circles: normal/fixed and laplace/fixed
    within the spread over seeds; one failed and one killed job."""
    for seed, (a, b) in enumerate([(0.90, 0.80), (0.91, 0.81), (0.92, 0.82)]):
        fake_job(tmp_path, prior="laplace", hyperprior="fixed", seed=seed, metrics=ok(a, 0.3))
        fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=seed, metrics=ok(b, 0.5))
    for seed, (a, b) in enumerate([(0.70, 0.72), (0.80, 0.76), (0.75, 0.74)]):
        for prior, acc in (("normal", a), ("laplace", b)):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed, metrics=ok(acc),
                     dataset="circles")  # fmt: skip
    fake_job(tmp_path, prior="normal", hyperprior="half_cauchy", seed=0,
             metrics={"status": "diverged", "error": "ELBO is not finite at step 7"})  # fmt: skip
    fake_job(tmp_path, prior="normal", hyperprior="half_cauchy", seed=1, metrics=None,
             extra=("runtime.cpu_threads=1",))  # fmt: skip
    return tmp_path


def test_summary_has_one_row_per_job_with_choices_status_and_metrics(sweep: Path) -> None:
    summary = read_sweep(sweep)
    runs = summary.runs
    assert len(runs) == 14
    assert summary.keys == ["dataset", "prior", "hyperprior", "seed"]  # runtime.* left out
    assert list(runs.columns[:7]) == [*summary.keys, "status", "error", "accuracy"]
    assert {"nll", "ece", "fit_seconds", "run_dir"} <= set(runs.columns)
    assert summary.metrics == ["accuracy", "nll", "ece", "fit_seconds"]
    bad = runs[runs["hyperprior"] == "half_cauchy"].set_index("seed")
    assert bad.loc[0, "status"] == "diverged" and "step 7" in bad.loc[0, "error"]
    assert bad.loc[1, "status"] == "missing" and bad.loc[1, "error"] == MISSING_ERROR
    assert all((sweep / d / ".hydra").is_dir() for d in runs["run_dir"])


def test_by_config_groups_over_seeds_from_ok_runs_only(sweep: Path) -> None:
    table = by_config(read_sweep(sweep)).set_index(["dataset", "prior", "hyperprior"])
    best = table.loc[("moons", "laplace", "fixed")]
    assert (best["runs"], best["ok"], best["accuracy_count"]) == (3, 3, 3)
    assert best["accuracy_mean"] == pytest.approx(0.91)
    assert best["accuracy_std"] == pytest.approx(np.std([0.90, 0.91, 0.92], ddof=1))
    failed = table.loc[("moons", "normal", "half_cauchy")]
    assert (failed["runs"], failed["ok"], failed["accuracy_count"]) == (2, 0, 0)
    assert np.isnan(failed["accuracy_mean"])


def test_verdict_says_whether_the_lead_exceeds_the_spread_over_seeds(sweep: Path) -> None:
    summary = read_sweep(sweep)
    found = {(v.dataset, v.metric.name): v for v in verdicts(by_config(summary), summary)}
    moons = found[("moons", "accuracy")]
    assert moons.best.label == "prior=laplace, hyperprior=fixed"
    assert moons.runner_up.label == "prior=normal, hyperprior=fixed"
    assert moons.lead == pytest.approx(0.10)
    text = verdict_text(moons)
    assert "On moons, the best configuration by test accuracy" in text
    assert "exceeds the spread over seeds" in text and "0.9100 ± 0.0100" in text
    assert found[("moons", "nll")].best.label == "prior=laplace, hyperprior=fixed"
    circles = verdict_text(found[("circles", "accuracy")])
    assert "does not exceed the spread over seeds" in circles


def test_one_seed_has_no_spread_to_compare_with(tmp_path: Path) -> None:
    fake_job(tmp_path, prior="laplace", hyperprior="fixed", seed=0, metrics=ok(0.9))
    fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=0, metrics=ok(0.8))
    summary = read_sweep(tmp_path)
    (v, _) = verdicts(by_config(summary), summary)
    assert "with a single seed there is no spread over seeds" in verdict_text(v)


def test_report_page_links_only_to_files_beside_it(sweep: Path) -> None:
    result = aggregate(sweep)
    page = result.report.read_text()
    assert "http" not in page  # nothing to fetch: works offline
    targets = [unquote(t) for t in re.findall(r'(?:href|src)="([^"]+)"', page)]
    assert any(t.startswith("plots/heatmap_dataset=moons") for t in targets)
    assert all((sweep / t).exists() for t in targets), targets
    assert "2 runs did not finish" in page
    assert pd.read_csv(sweep / "summary.csv").shape[0] == 14
    assert pd.read_csv(sweep / "summary_by_config.csv").shape[0] == 5


def test_prior_only_sweep_is_compared_with_error_bars_and_skips_its_pretraining(
    tmp_path: Path,
) -> None:
    """A transfer sweep: prior=normal vs informed over seeds, its pretraining run kept beside
    the jobs (a single run, Hydra mode RUN) is not one of them."""
    for seed, (a, b) in enumerate([(0.95, 0.90), (0.96, 0.91), (0.94, 0.92)]):
        for prior, acc in (("informed", a), ("normal", b)):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed, metrics=ok(acc),
                     dataset="digits", extra=("experiment=transfer_digits",))  # fmt: skip
    pretrain = fake_job(tmp_path / "pretrain", prior="normal", hyperprior="fixed", seed=0,
                        metrics=ok(0.99), dataset="digits")  # fmt: skip
    (pretrain / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"mode": "RUN"}}))
    summary = read_sweep(tmp_path)
    assert len(summary.runs) == 6 and summary.varying() == ["prior"]
    (acc, _) = verdicts(by_config(summary), summary)
    assert (acc.best.label, acc.runner_up.label) == ("prior=informed", "prior=normal")
    assert "exceeds the spread over seeds" in verdict_text(acc)
    result = aggregate(tmp_path)
    assert "plots/configs_dataset=digits.png" in [path for _, path in result.figures]
    assert (tmp_path / "plots" / "configs_dataset=digits.png").is_file()
