"""NUTS on a tiny network: the same metrics and plots as SVI, from its samples, plus diagnostics;
and the InferenceData export of both methods."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import make_config
from omegaconf import OmegaConf

from bnnrun import rundir
from bnnrun.analysis import inference_data
from bnnrun.analysis.metrics import classification_metrics
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import load_run


def test_nuts_on_a_tiny_network(tmp_path: Path) -> None:
    import arviz as az

    cfg = make_config("debug=smoke_nuts")
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok"
    assert record["num_samples"] == 100 and record["num_chains"] == 2
    assert record["num_params"] == 17  # 2-3-2
    assert record["r_hat_max"] >= 0.99 and record["ess_bulk_min"] > 0
    assert 0 <= record["accept_prob_mean"] <= 1 and record["num_divergent"] >= 0
    for name in ["predictive_mean.png", "predictive_std.png", "weights_last_layer.png"]:
        assert (tmp_path / name).is_file(), name
    summary = pd.read_csv(tmp_path / "mcmc_summary.csv")
    assert len(summary) == 17 and {"parameter", "ess_bulk", "ess_tail", "r_hat"} <= set(summary)
    assert summary["r_hat"].max() == record["r_hat_max"]

    idata = az.from_netcdf(tmp_path / "posterior.nc")
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(idata.groups())
    assert idata.posterior["layer1.w"].shape == (2, 50, 2, 3)
    assert idata.sample_stats["diverging"].shape == (2, 50)
    assert {"energy", "lp", "acceptance_rate", "n_steps"} <= set(idata.sample_stats.data_vars)

    # The metrics are those of the predictive over all 100 samples, chain after chain.
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.structured(cfg), tmp_path / ".hydra" / "config.yaml")
    fitted = load_run(tmp_path)
    draws = fitted.draws(key=jax.random.PRNGKey(0), num_samples=1000)
    np.testing.assert_array_equal(draws["layer1.w"][50:], idata.posterior["layer1.w"].values[1])
    metrics = classification_metrics(fitted.probs(draws, fitted.data.x_test), fitted.data.y_test)
    for key, value in metrics.items():
        assert record[key] == value, key
    thinned = fitted.draws(key=jax.random.PRNGKey(0), num_samples=10)
    assert thinned["layer1.w"].shape == (10, 2, 3)


def test_inference_data_round_trip(tmp_path: Path) -> None:
    import arviz as az

    rng = np.random.default_rng(0)
    draws = {
        "layer1.w": rng.normal(size=(7, 2, 5)).astype(np.float32),
        "layer1.w_scale": rng.uniform(size=7).astype(np.float32),
        "_auto_latent": rng.normal(size=(7, 11)).astype(np.float32),
    }
    y = np.array([0, 1, 1, 0], np.int32)
    rundir.save_netcdf(tmp_path / "posterior.nc", inference_data.from_draws(draws, y_observed=y))
    back = az.from_netcdf(tmp_path / "posterior.nc")
    assert set(back.posterior.data_vars) == {"layer1.w", "layer1.w_scale"}
    np.testing.assert_array_equal(back.posterior["layer1.w"].values[0], draws["layer1.w"])
    np.testing.assert_array_equal(
        back.posterior["layer1.w_scale"].values[0], draws["layer1.w_scale"]
    )
    np.testing.assert_array_equal(back.observed_data["y"].values, y)
    assert back.posterior.sizes["chain"] == 1 and back.posterior.sizes["draw"] == 7
    assert [p.name for p in tmp_path.iterdir()] == ["posterior.nc"]  # no temporary left behind


@pytest.mark.slow
def test_two_nuts_runs_in_one_process(tmp_path: Path) -> None:
    """As in a sweep: ArviZ's NumPyro converter must work for a second run in the process."""
    for seed in [0, 1]:
        cfg = make_config("debug=smoke_nuts", f"seed={seed}")
        assert execute(cfg, tmp_path / str(seed))["status"] == "ok"
        assert (tmp_path / str(seed) / "posterior.nc").is_file()


def test_nuts_on_a_noncentered_model_keeps_the_weights(tmp_path: Path) -> None:
    import arviz as az

    cfg = make_config("debug=smoke_nuts", "hyperprior=half_normal", "hyperprior.noncentered=true")
    assert execute(cfg, tmp_path)["status"] == "ok"
    post = az.from_netcdf(tmp_path / "posterior.nc").posterior
    w, z, s = (post[k].values for k in ["layer1.w", "layer1.w_decentered", "layer1.w_scale"])
    np.testing.assert_allclose(w, s[..., None, None] * z, rtol=1e-5)
