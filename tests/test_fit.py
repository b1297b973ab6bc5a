"""SVI learns, reproduces itself, stops on divergence, and its posterior reloads from disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import hand_metrics, make_config, run_predictive
from scipy import optimize, stats

import bnnrun
from bnnrun.data import load_dataset
from bnnrun.errors import DataError
from bnnrun.inference.program import fit_svi
from bnnrun.pipeline.build import build
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import load_run, run_config

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


def expected_abs(loc: np.ndarray, scale: np.ndarray) -> float:
    """E|w| summed over w ~ Normal(loc, scale) elementwise (the folded normal's mean)."""
    loc, scale = loc.astype(np.float64), scale.astype(np.float64)
    folded = scale * np.sqrt(2 / np.pi) * np.exp(-(loc**2) / (2 * scale**2))
    return float((folded + loc * (1 - 2 * stats.norm.cdf(-loc / scale))).sum())


def optimal_log_scale(cfg, n: int, abs_sum: float, tau: float) -> float:
    """The mean mu of the Gaussian guide q(log s) = N(mu, tau^2) of a laplace(0, s) prior's scale
    over n weights with E_q sum |w| = abs_sum, at which the ELBO is stationary in mu.

    In u = log s the ELBO's terms in s are E_q[-n u - abs_sum e^-u + log p_h(e^u) + u]:
    half_normal(sigma): -n + abs_sum e^(tau^2/2 - mu) - e^(2 mu + 2 tau^2) / sigma^2 + 1 = 0;
    inverse_gamma(a, b): -(n + a) + (abs_sum + b) e^(tau^2/2 - mu) = 0.
    """
    h = cfg.hyperprior
    if h.kind == "inverse_gamma":
        return float(np.log((abs_sum + h.rate) / (n + h.concentration)) + tau**2 / 2)

    def stationary(mu: float) -> float:
        grow = np.exp(2 * mu + 2 * tau**2) / h.scale**2
        return -n + abs_sum * np.exp(tau**2 / 2 - mu) - grow + 1

    return float(optimize.brentq(stationary, -20.0, 20.0))


@pytest.mark.parametrize(
    "hyperprior", ["half_normal", pytest.param("inverse_gamma", marks=pytest.mark.slow)]
)
def test_learned_scales_are_fitted(tmp_path: Path, hyperprior: str) -> None:
    """Each layer's learned scale ends where the ELBO is stationary given its layer's fitted
    weights (within 0.25 in log space), far from where it started, the hyperprior's median."""
    cfg = make_config(
        f"hyperprior={hyperprior}",
        "prior=laplace",
        "inference.num_steps=500",
        "inference.num_predictive_samples=8",
        *FAST,
    )
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok"
    h = cfg.hyperprior
    start = np.log(
        stats.halfnorm(scale=h.scale).median()
        if hyperprior == "half_normal"
        else stats.invgamma(h.concentration, scale=h.rate).median()
    )
    post = np.load(tmp_path / "posterior.npz")
    sites = [f"layer{i}.{r}" for i in (1, 2, 3) for r in ("w", "b")]
    moved = []
    for site in sites:
        loc, scale = post[f"{site}_auto_loc"], post[f"{site}_auto_scale"]
        mu = float(post[f"{site}_scale_auto_loc"])  # AutoNormal: the mean of log s
        tau = float(post[f"{site}_scale_auto_scale"])
        target = optimal_log_scale(cfg, loc.size, expected_abs(loc, scale), tau)
        assert abs(mu - target) < 0.25, (site, mu, target)
        moved.append(abs(start - target))
    assert max(moved) > 1.0  # a scale left at its start would miss by more than 1


@pytest.mark.slow
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


def test_reloaded_run_reproduces_its_recorded_metrics(tmp_path: Path) -> None:
    """``bnnrun.load_run`` rebuilds the posterior from the run directory (its config from
    metrics.json, the guide's parameters from posterior.npz): the pipeline's draws (same key,
    same number) give the metrics it recorded. (Here, in the process that ran it; in a new
    process, see the next test.)"""
    cfg = make_config("inference.num_steps=300", "inference.num_predictive_samples=8", *FAST)
    execute(cfg, tmp_path)
    recorded = json.loads((tmp_path / "metrics.json").read_text())
    run = bnnrun.load_run(tmp_path)
    assert run.cfg == cfg
    probs = run_predictive(run)
    assert probs.shape == (8, len(run.data.y_test), 2)
    for key, value in hand_metrics(probs, run.data.y_test).items():
        assert value == pytest.approx(recorded[key], rel=1e-6, abs=1e-9), key


#: Reload a run in a new process, as a notebook would, and save its predictive on the test set
#: from the pipeline's draws: the key ``execute`` uses, as many draws as it took.
RELOAD = """
import sys, jax, numpy as np, bnnrun
run = bnnrun.load_run(sys.argv[1])
key = jax.random.split(jax.random.PRNGKey(run.cfg.seed))[1]
draws = run.draws(key=key, num_samples=run.default_num_draws)
np.save(sys.argv[2], run.probs(draws, run.data.x_test))
"""


def test_run_reloaded_in_a_new_process_reproduces_its_recorded_metrics(tmp_path: Path) -> None:
    out = tmp_path / "run"
    execute(make_config("debug=smoke"), out)
    recorded = json.loads((out / "metrics.json").read_text())
    reload = subprocess.run(
        [sys.executable, "-c", RELOAD, str(out), str(tmp_path / "probs.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reload.returncode == 0, reload.stderr
    probs = np.load(tmp_path / "probs.npy")
    y = bnnrun.load_dataset(bnnrun.run_config(out).dataset).y_test
    assert probs.shape == (16, len(y), 2)
    for key, value in hand_metrics(probs, y).items():
        assert value == pytest.approx(recorded[key], rel=1e-6, abs=1e-9), key


def test_run_without_a_recorded_config_reloads_from_hydras(tmp_path: Path) -> None:
    """A run directory whose metrics.json records no config (older runs) falls back to the
    ``.hydra/config.yaml`` Hydra saved."""
    from omegaconf import OmegaConf

    cfg = make_config("inference.num_steps=300", "inference.num_predictive_samples=8", *FAST)
    execute(cfg, tmp_path)
    record = json.loads((tmp_path / "metrics.json").read_text())
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "ok"}))
    with pytest.raises(DataError, match="no config recorded"):
        run_config(tmp_path)
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.structured(cfg), tmp_path / ".hydra" / "config.yaml")
    assert run_config(tmp_path) == cfg
    probs = run_predictive(load_run(tmp_path))
    assert hand_metrics(probs, load_run(tmp_path).data.y_test)["accuracy"] == record["accuracy"]


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
