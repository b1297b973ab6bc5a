"""Regression end to end: a run writes the regression metrics and figures, its reload
reproduces them, the gap in toy_regression's inputs shows in the epistemic band, SVI and NUTS
runs compare, a UCI sweep summarises over splits, and a likelihood that does not fit the task
is refused before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import make_config
from scipy import stats
from scipy.special import logsumexp

from bnnrun.analysis.regression import variance_split
from bnnrun.pipeline.compare import compare_runs
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.posterior import LocScale
from bnnrun.pipeline.reload import load_run

FIGURES = ("predicted_vs_observed.png", "interval_calibration.png", "residuals.png")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("toy")
    cfg = make_config(
        "dataset=toy_regression",
        "inference.num_steps=6000",
        "inference.num_predictive_samples=200",
        "runtime.progress=false",
    )
    execute(cfg, run_dir)
    return run_dir


def test_a_regression_run_records_its_metrics_in_original_units(toy_run: Path) -> None:
    record = json.loads((toy_run / "metrics.json").read_text())
    assert record["status"] == "ok" and record["task"] == "regression"
    run = load_run(toy_run)
    key = jax.random.split(jax.random.PRNGKey(run.cfg.seed))[1]
    pred = run.loc_scale(run.draws(key=key, num_samples=200), run.data.x_test)
    y = run.data.y_original(run.data.y_test)
    # Independently of bnnrun.analysis.regression: the mixture's log density and mean, by hand.
    log_lik = logsumexp(stats.norm.logpdf(y, pred.loc, pred.scale), axis=0) - np.log(200)
    np.testing.assert_allclose(record["log_likelihood"], log_lik.mean(), rtol=1e-6)
    rmse = np.sqrt(np.mean((pred.loc.mean(axis=0) - y) ** 2))
    np.testing.assert_allclose(record["rmse"], rmse, rtol=1e-6)
    np.testing.assert_allclose(record["var_epistemic"], pred.loc.var(axis=0).mean(), rtol=1e-6)
    np.testing.assert_allclose(record["var_aleatoric"], (pred.scale**2).mean(), rtol=1e-6)
    # The target is standardised on the training split and reported back in its own units.
    assert record["target_loc"] == pytest.approx(float(y_train_original(run).mean()), rel=1e-5)
    for name in (*FIGURES, "predictive_bands.png", "posterior.nc", "elbo.png"):
        assert (toy_run / name).is_file(), name
    assert not (toy_run / "predictive_mean.png").exists()  # class maps are for classifiers


def y_train_original(run) -> np.ndarray:
    return run.data.y_original(run.data.y_train)


def test_the_gap_between_the_clusters_has_a_wider_epistemic_band(toy_run: Path) -> None:
    run = load_run(toy_run)
    pred = run.predictive(np.array([[-0.85], [0.0], [0.75]], np.float32), num_samples=300)
    assert isinstance(pred, LocScale)
    epistemic, _ = variance_split(pred.loc, pred.scale)
    in_cluster = max(epistemic[0], epistemic[2])
    assert epistemic[1] > 2 * in_cluster, epistemic


@pytest.mark.slow
def test_svi_and_nuts_regressions_compare(toy_run: Path, tmp_path: Path) -> None:
    cfg = make_config(
        "dataset=toy_regression",
        "inference=nuts",
        "inference.num_warmup=60",
        "inference.num_samples=60",
        "inference.num_chains=1",
        "runtime.progress=false",
    )
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok" and np.isfinite(record["rmse"])
    result = compare_runs(toy_run, tmp_path, num_samples=50)
    assert result["num_inputs"] == 200 and result["draws_a"] == 50
    a, b = load_run(toy_run), load_run(tmp_path)
    mean_a = a.predictive(a.data.x_test, num_samples=50, seed=0).loc.mean(axis=0)
    mean_b = b.predictive(b.data.x_test, num_samples=50, seed=0).loc.mean(axis=0)
    np.testing.assert_allclose(result["mean_abs_dmean"], np.abs(mean_a - mean_b).mean(), rtol=1e-6)
    assert result["kl_mean"] >= 0 and result["kl_reverse_mean"] >= 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "likelihood", ["likelihood=heteroscedastic", "likelihood=student_t", "likelihood.noise=fixed"]
)
def test_every_regression_likelihood_runs(likelihood: str, tmp_path: Path) -> None:
    extra = ["likelihood=gaussian", likelihood] if "noise" in likelihood else [likelihood]
    cfg = make_config(
        "dataset=diabetes", *extra, "inference.num_steps=300", "runtime.progress=false"
    )
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok", record.get("error")
    assert 0 <= record["coverage_50"] <= record["coverage_90"] <= record["coverage_95"] <= 1
    assert record["width_50"] < record["width_90"] < record["width_95"]


def _uci_dir(root: Path, *, splits: int) -> Path:
    rng = np.random.default_rng(0)
    n = 60
    x = rng.normal(size=(n, 2))
    y = x @ np.array([1.0, -0.5]) + 0.2 * rng.normal(size=n)
    np.savetxt(root / "data.txt", np.column_stack([x, y]))
    np.savetxt(root / "index_features.txt", [0, 1], fmt="%d")
    np.savetxt(root / "index_target.txt", [2], fmt="%d")
    for i in range(splits):
        perm = rng.permutation(n)
        np.savetxt(root / f"index_train_{i}.txt", perm[:54], fmt="%d")
        np.savetxt(root / f"index_test_{i}.txt", perm[54:], fmt="%d")
    return root


@pytest.mark.slow
def test_a_uci_sweep_summarises_over_splits(run_cli, tmp_path: Path) -> None:
    data = _uci_dir(tmp_path, splits=3)
    sweep = tmp_path / "sweep"
    done = run_cli(
        "-m",
        "experiment=uci",
        f"dataset.path={data}",
        "dataset.split=range(3)",
        "inference.num_steps=200",
        f"hydra.sweep.dir={sweep}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    runs = pd.read_csv(sweep / "summary.csv")
    table = pd.read_csv(sweep / "summary_by_config.csv")
    assert len(runs) == 3 and len(table) == 1  # the splits are replicates of one configuration
    rmse = runs["rmse"].to_numpy()
    np.testing.assert_allclose(table["rmse_mean"], rmse.mean())
    np.testing.assert_allclose(table["rmse_sem"], rmse.std(ddof=1) / np.sqrt(3))
    assert "RMSE" in (sweep / "report.html").read_text()


def test_experiment_uci_composes_with_either_inference_method(tmp_path: Path) -> None:
    import bnnrun

    data = str(_uci_dir(tmp_path, splits=1))
    nuts = bnnrun.compose(["experiment=uci", "inference=nuts", f"dataset.path={data}"])
    # NUTS's own defaults (conf/inference/nuts.yaml), the protocol's network and likelihood.
    assert nuts.inference.method == "nuts"
    assert (nuts.inference.num_warmup, nuts.inference.num_samples) == (1000, 1000)
    assert nuts.architecture.hidden == [50] and nuts.architecture.activation.value == "relu"
    assert nuts.likelihood.kind.value == "gaussian" and nuts.dataset.name == "uci"
    svi = bnnrun.compose(["experiment=uci", f"dataset.path={data}"])
    assert svi.inference.method == "svi"
    assert (svi.inference.num_steps, svi.inference.num_predictive_samples) == (20000, 500)
    # The command line still wins over the experiment's per-method settings.
    steps = bnnrun.compose(["experiment=uci", f"dataset.path={data}", "inference.num_steps=7"])
    assert steps.inference.num_steps == 7


@pytest.mark.slow  # ~30 s on 2 shared cores, most of it compiling NUTS
def test_experiment_uci_runs_with_nuts(run_cli, tmp_path: Path) -> None:
    data = _uci_dir(tmp_path, splits=1)
    out = tmp_path / "run"
    done = run_cli(
        "experiment=uci",
        "inference=nuts",
        f"dataset.path={data}",
        "inference.num_warmup=30",
        "inference.num_samples=20",
        "inference.num_chains=1",
        "inference.max_tree_depth=4",
        f"hydra.run.dir={out}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok" and np.isfinite(metrics["rmse"])
    assert metrics["config"]["inference"]["method"] == "nuts"
    assert metrics["config"]["architecture"]["hidden"] == [50]


def test_a_likelihood_that_does_not_fit_is_one_line_and_exit_2(run_cli, tmp_path: Path) -> None:
    done = run_cli("likelihood=gaussian", f"hydra.run.dir={tmp_path / 'run'}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bnnrun: error: likelihood=gaussian does not fit dataset=moons, a classification task: "
        "use likelihood=categorical (or auto)"
    ]
    assert not (tmp_path / "run").exists()


def test_a_table_with_a_continuous_target_is_a_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    frame["price"] = 3 * frame["a"] + rng.normal(size=80) + 100.0
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = make_config(
        "dataset=table",
        f"dataset.path={tmp_path / 't.csv'}",
        "dataset.target=price",
        "inference.num_steps=300",
        "runtime.progress=false",
    )
    record = execute(cfg, tmp_path / "run")
    assert record["task"] == "regression" and record["status"] == "ok"
    assert 95 < record["target_loc"] < 105  # the target's own units


def test_a_table_that_cannot_be_read_is_refused_before_anything_is_written(
    run_cli, tmp_path: Path
) -> None:
    missing = run_cli(
        "dataset=table",
        f"dataset.path={tmp_path / 'nope.csv'}",
        "dataset.target=y",
        f"hydra.run.dir={tmp_path / 'a'}",
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"bnnrun: error: dataset.path='{tmp_path / 'nope.csv'}' does not exist: it must be a "
        "CSV or Parquet file"
    ]
    pd.DataFrame({"x": np.arange(30.0), "y": np.linspace(0, 1, 30) ** 2}).to_csv(
        tmp_path / "t.csv", index=False
    )
    mismatch = run_cli(
        "dataset=table",
        f"dataset.path={tmp_path / 't.csv'}",
        "dataset.target=y",
        "likelihood=categorical",
        f"hydra.run.dir={tmp_path / 'b'}",
    )
    assert mismatch.returncode == 2
    assert mismatch.stderr.strip().splitlines() == [
        "bnnrun: error: likelihood=categorical does not fit dataset=table, a regression task: "
        "use likelihood=gaussian or heteroscedastic or student_t (or auto)"
    ]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
