"""NUTS on a tiny network: the same metrics and plots as SVI, from its samples, plus diagnostics;
and the InferenceData export of both methods."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import hand_metrics, make_config, run_predictive

from bnnrun import rundir
from bnnrun.analysis import inference_data
from bnnrun.config import ChainMethod
from bnnrun.data import load_dataset
from bnnrun.inference import mcmc
from bnnrun.pipeline import execute as execute_module
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import load_run


def recording_fit_nuts(monkeypatch: pytest.MonkeyPatch) -> list[mcmc.NUTSResult]:
    """The results of every NUTS fit the pipeline runs from now on (the sampler's state)."""
    results: list[mcmc.NUTSResult] = []

    def fit_nuts(*args, **kwargs) -> mcmc.NUTSResult:
        results.append(mcmc.fit_nuts(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(execute_module, "fit_nuts", fit_nuts)
    return results


def adapted_inverse_mass(result: mcmc.NUTSResult) -> np.ndarray:
    """The inverse mass matrix each chain adapted, ``[chains, D]`` (diagonal) or ``[chains, D,
    D]`` (dense): one block over all the weight arrays."""
    (sites, matrix), *others = result.mcmc.last_state.adapt_state.inverse_mass_matrix.items()
    assert others == [] and sorted(sites) == ["layer1.b", "layer1.w", "layer2.b", "layer2.w"]
    return np.asarray(matrix)


def test_nuts_on_a_tiny_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Vectorized chains (debug=smoke_nuts) with the default diagonal mass matrix."""
    import arviz as az

    results = recording_fit_nuts(monkeypatch)
    cfg = make_config("debug=smoke_nuts")
    assert cfg.inference.chain_method is ChainMethod.vectorized and not cfg.inference.dense_mass
    record = execute(cfg, tmp_path)
    (result,) = results
    assert result.mcmc.chain_method == "vectorized"
    inverse_mass = adapted_inverse_mass(result)
    assert inverse_mass.shape == (2, 17) and (inverse_mass > 0).all()
    assert record["status"] == "ok"
    assert record["num_samples"] == 100 and record["num_chains"] == 2
    assert record["num_params"] == 17  # 2-3-2
    for name in ["predictive_mean.png", "predictive_std.png", "weights_last_layer.png"]:
        assert (tmp_path / name).is_file(), name
    summary = pd.read_csv(tmp_path / "mcmc_summary.csv")
    assert len(summary) == 17 and {"parameter", "ess_bulk", "ess_tail", "r_hat"} <= set(summary)
    assert summary["r_hat"].max() == record["r_hat_max"]
    assert summary["ess_bulk"].min() == record["ess_bulk_min"]
    assert summary["ess_tail"].min() == record["ess_tail_min"]

    idata = az.from_netcdf(tmp_path / "posterior.nc")
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(idata.groups())
    assert idata.posterior["layer1.w"].shape == (2, 50, 2, 3)
    stats = idata.sample_stats
    assert stats["diverging"].shape == (2, 50)
    assert {"energy", "lp", "acceptance_rate", "n_steps"} <= set(stats.data_vars)
    # The record's sampler statistics are those of the draws the InferenceData holds.
    assert record["num_divergent"] == int(stats["diverging"].values.sum())
    assert record["accept_prob_mean"] == pytest.approx(float(stats["acceptance_rate"].mean()))
    assert record["leapfrog_steps_mean"] == pytest.approx(float(stats["n_steps"].mean()))
    # The observed labels are the training split's.
    np.testing.assert_array_equal(
        idata.observed_data["y"].values, load_dataset(cfg.dataset).y_train
    )

    # The metrics are those of the predictive over all 100 samples, chain after chain.
    fitted = load_run(tmp_path)
    draws = fitted.draws(key=jax.random.PRNGKey(0), num_samples=1000)
    np.testing.assert_array_equal(draws["layer1.w"][:50], idata.posterior["layer1.w"].values[0])
    np.testing.assert_array_equal(draws["layer1.w"][50:], idata.posterior["layer1.w"].values[1])
    probs = run_predictive(fitted)
    assert probs.shape == (100, len(fitted.data.y_test), 2)
    for key, value in hand_metrics(probs, fitted.data.y_test).items():
        assert value == pytest.approx(record[key], rel=1e-6, abs=1e-9), key
    thinned = fitted.draws(key=jax.random.PRNGKey(0), num_samples=10)
    assert thinned["layer1.w"].shape == (10, 2, 3)
    # Ten of the 100 evenly spaced: the first, the last and eight between.
    np.testing.assert_array_equal(thinned["layer1.w"][0], draws["layer1.w"][0])
    np.testing.assert_array_equal(thinned["layer1.w"][-1], draws["layer1.w"][-1])


@pytest.mark.slow
def test_sequential_chains_with_a_dense_mass_matrix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default chain method, sequential, through the whole run, with ``dense_mass=true``:
    each chain adapts a full D x D inverse mass matrix (D = 17), symmetric positive definite
    with correlations off the diagonal."""
    assert make_config("inference=nuts").inference.chain_method is ChainMethod.sequential
    results = recording_fit_nuts(monkeypatch)
    cfg = make_config(
        "debug=smoke_nuts",
        "inference.chain_method=sequential",
        "inference.dense_mass=true",
        "inference.num_warmup=30",
        "inference.num_samples=10",
    )
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok" and record["num_chains"] == 2 and record["num_samples"] == 20
    (result,) = results
    assert result.mcmc.chain_method == "sequential" and result.mcmc.num_chains == 2
    assert result.samples["layer1.w"].shape == (2, 10, 2, 3)
    assert not np.array_equal(result.samples["layer1.w"][0], result.samples["layer1.w"][1])
    matrix = adapted_inverse_mass(result)
    assert matrix.shape == (2, 17, 17)
    for chain in matrix:
        np.testing.assert_allclose(chain, chain.T, rtol=1e-5, atol=1e-7)
        assert np.linalg.eigvalsh(chain).min() > 0  # positive definite
        off_diagonal = chain - np.diag(np.diag(chain))
        assert np.abs(off_diagonal).max() > 1e-3 * np.abs(np.diag(chain)).max()  # adapted


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


@pytest.mark.slow
def test_nuts_on_a_noncentered_model_keeps_the_weights(tmp_path: Path) -> None:
    import arviz as az

    cfg = make_config("debug=smoke_nuts", "hyperprior=half_normal", "hyperprior.noncentered=true")
    assert execute(cfg, tmp_path)["status"] == "ok"
    post = az.from_netcdf(tmp_path / "posterior.nc").posterior
    w, z, s = (post[k].values for k in ["layer1.w", "layer1.w_decentered", "layer1.w_scale"])
    np.testing.assert_allclose(w, s[..., None, None] * z, rtol=1e-5)
