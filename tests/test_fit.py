"""SVI learns, reproduces itself, stops on divergence, and its posterior reloads from disk."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import make_config

from bnnrun.data import load_dataset
from bnnrun.inference.program import fit_svi
from bnnrun.pipeline.build import build
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import load_run

FAST = ["runtime.progress=false", "analysis.grid_size=16", "inference.chunk_size=500"]


def test_svi_learns_easy_moons_and_is_reproducible(tmp_path: Path) -> None:
    overrides = [
        "dataset.noise=0.1",
        "inference.num_steps=3000",
        "inference.num_predictive_samples=100",
        *FAST,
    ]
    first = execute(make_config(*overrides), tmp_path / "a")
    assert first["status"] == "ok"
    assert first["accuracy"] >= 0.95
    second = execute(make_config(*overrides), tmp_path / "b")
    for key in ["accuracy", "nll", "brier", "ece", "entropy", "mutual_info", "elbo_final"]:
        assert first[key] == second[key], key
    a = np.load(tmp_path / "a" / "posterior.npz")
    b = np.load(tmp_path / "b" / "posterior.npz")
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])


def test_different_seed_gives_different_fit(tmp_path: Path) -> None:
    args = ["inference.num_steps=300", "inference.num_predictive_samples=8", *FAST]
    a = execute(make_config(*args, "seed=1"), tmp_path / "a")
    b = execute(make_config(*args, "seed=2"), tmp_path / "b")
    assert a["elbo_final"] != b["elbo_final"]


@pytest.mark.parametrize("hyperprior", ["half_normal", "inverse_gamma"])
def test_learned_scales_are_fitted(tmp_path: Path, hyperprior: str) -> None:
    cfg = make_config(
        f"hyperprior={hyperprior}",
        "prior=laplace",
        "inference.num_steps=500",
        "inference.num_predictive_samples=8",
        *FAST,
    )
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok"
    post = np.load(tmp_path / "posterior.npz")
    assert "layer1.w_scale_auto_loc" in post.files and "layer3.b_scale_auto_scale" in post.files


def test_minibatch_svi_learns(tmp_path: Path) -> None:
    cfg = make_config(
        "dataset.noise=0.1",
        "inference.batch_size=64",
        "inference.num_steps=3000",
        "inference.num_predictive_samples=50",
        *FAST,
    )
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok"
    assert record["accuracy"] >= 0.9


def test_nan_elbo_stops_the_fit() -> None:
    cfg = make_config("inference.optimizer.lr=1e30", "inference.num_steps=2000", *FAST)
    data = load_dataset(cfg.dataset)
    _, _, hp, program = build(cfg, data)
    fit = fit_svi(
        program,
        data.x_train,
        data.y_train,
        hp,
        key=jax.random.PRNGKey(0),
        num_steps=2000,
        chunk_size=500,
    )
    assert fit.status == "diverged"
    assert fit.diverged_at is not None and 1 <= fit.diverged_at <= 2000
    assert fit.num_steps == fit.diverged_at
    assert len(fit.elbo) == fit.diverged_at and not np.isfinite(fit.elbo[-1])
    assert np.isfinite(fit.elbo[:-1]).all()


def test_diverged_run_is_never_ok(tmp_path: Path) -> None:
    cfg = make_config("inference.optimizer.lr=1e30", "inference.num_steps=1000", *FAST)
    record = execute(cfg, tmp_path)
    assert record["status"] == "diverged"
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["status"] == "diverged" and on_disk["diverged_at"] == record["diverged_at"]
    assert "accuracy" not in on_disk
    assert (tmp_path / "elbo.csv").exists()


def test_posterior_reloads_and_predicts_the_same(tmp_path: Path) -> None:
    cfg = make_config("inference.num_steps=300", "inference.num_predictive_samples=8", *FAST)
    execute(cfg, tmp_path)
    # load_run reads the config Hydra records; write it as Hydra would.
    from omegaconf import OmegaConf

    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.structured(cfg), tmp_path / ".hydra" / "config.yaml")
    fitted = load_run(tmp_path)
    key = jax.random.PRNGKey(7)
    draws = fitted.draws(key=key, num_samples=8)
    again = load_run(tmp_path).draws(key=key, num_samples=8)
    for k in draws:
        np.testing.assert_array_equal(draws[k], again[k])
    probs = fitted.probs(draws, fitted.data.x_test)
    assert probs.shape == (8, len(fitted.data.y_test), 2)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_init_depends_on_seed_not_on_earlier_runs() -> None:
    """A cached program set up by an earlier run starts the next run from that run's own seed."""
    from bnnrun.inference.guides import build_guide
    from bnnrun.inference.optimizer import build_optimizer
    from bnnrun.inference.program import SVIProgram

    cfg = make_config("inference.num_steps=10", *FAST)
    data = load_dataset(cfg.dataset)
    _, model, hp, _ = build(cfg, data)

    def fresh() -> SVIProgram:
        guide = build_guide(model, name=cfg.inference.guide, init_scale=cfg.inference.init_scale)
        return SVIProgram(model, guide, build_optimizer(cfg.inference.optimizer, num_steps=10))

    x, y = data.x_train, data.y_train
    used = fresh()
    first = used.params(used.init(jax.random.PRNGKey(1), x, y, hp))
    again = used.params(used.init(jax.random.PRNGKey(2), x, y, hp))
    new = fresh()
    alone = new.params(new.init(jax.random.PRNGKey(2), x, y, hp))
    assert not np.array_equal(first["layer1.w_auto_loc"], again["layer1.w_auto_loc"])
    for k in alone:
        np.testing.assert_array_equal(again[k], alone[k])
