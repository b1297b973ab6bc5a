"""Guides, ELBO estimators, the KL weight and the likelihood temperature."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import hand_metrics, make_config, run_predictive
from numpyro.infer import TraceMeanField_ELBO
from scipy.special import log_softmax

from bnnrun.config import ElboName, GuideName
from bnnrun.data import load_dataset
from bnnrun.errors import ConfigError
from bnnrun.inference.guides import build_guide
from bnnrun.inference.objective import (
    at_step,
    build_elbo,
    kl_estimators,
    kl_weighted,
    objective_hparams,
)
from bnnrun.inference.program import SVIProgram, fit_svi
from bnnrun.model.bnn import BNN, params_from_sites
from bnnrun.model.hparams import model_hparams
from bnnrun.model.nets import MLP, num_params
from bnnrun.pipeline.build import MVN_MAX_LATENT, build
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import load_run

SMALL = ["debug=smoke", "analysis.grid_size=8", "inference.num_predictive_samples=8"]

#: Parameter names each guide keeps (a sample of them), with their shapes for the 2-5-5-2 net.
GUIDE_PARAMS = {
    "normal": {"layer1.w_auto_loc": (2, 5), "layer3.b_auto_scale": (2,)},
    "lowrank": {"auto_loc": (57,), "auto_cov_factor": (57, 3), "auto_scale": (57,)},
    "mvn": {"auto_loc": (57,), "auto_scale_tril": (57, 57)},
    "delta": {"layer1.w_auto_loc": (2, 5), "layer3.b_auto_loc": (2,)},
}


#: One small run per guide; each also exercises other options, to compile fewer programs.
GUIDE_RUNS = {
    "normal": ["inference.elbo=TraceMeanField_ELBO", "hyperprior=half_normal"],
    "lowrank": ["inference.rank=3"],
    "mvn": [],
    "delta": ["prior=flat"],
}


# The default guide in make test; the others with the slow tests.
GUIDES = [
    g.value if g.value == "normal" else pytest.param(g.value, marks=pytest.mark.slow)
    for g in GuideName
]


@pytest.mark.parametrize("guide", GUIDES)
def test_each_guide_fits_reloads_and_exports(tmp_path: Path, guide: str) -> None:
    import arviz as az

    cfg = make_config(*SMALL, f"inference.guide={guide}", *GUIDE_RUNS[guide])
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok" and record["accuracy"] > 0.6
    with np.load(tmp_path / "posterior.npz") as post:
        for name, shape in GUIDE_PARAMS[guide].items():
            assert post[name].shape == shape, name
    fitted = load_run(tmp_path)
    # Reloaded from the directory alone, the run's own draws give the metrics it recorded.
    for key, value in hand_metrics(run_predictive(fitted), fitted.data.y_test).items():
        assert value == pytest.approx(record[key], rel=1e-6, abs=1e-9), key
    draws = fitted.draws(key=jax.random.PRNGKey(0), num_samples=4)
    assert draws["layer2.w"].shape == (4, 5, 5)
    spread = draws["layer2.w"].std(axis=0).max()
    assert spread == 0.0 if guide == "delta" else spread > 0.0
    # The point estimate an informed prior centres on: the guide's mean, or the MAP point.
    point = fitted.point_estimate()
    with np.load(tmp_path / "posterior.npz") as post:
        if guide in ("normal", "delta"):
            np.testing.assert_array_equal(point["layer2.w"], post["layer2.w_auto_loc"])
        else:  # one flat vector over the sites in sorted order
            flat = np.concatenate([point[k].ravel() for k in sorted(point)])
            np.testing.assert_array_equal(flat, post["auto_loc"])
    idata = az.from_netcdf(tmp_path / "posterior.nc")
    assert idata.posterior["layer2.w"].shape == (1, 8, 5, 5)
    assert "_auto_latent" not in idata.posterior
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    weights = [f"layer{i}.{r}" for i in (1, 2, 3) for r in ("w", "b")]
    if guide == "normal":  # TraceMeanField_ELBO with a learned scale per weight array
        assert on_disk["kl_analytic_sites"] == weights
        assert on_disk["kl_monte_carlo_sites"] == [f"{s}_scale" for s in weights]
    if guide == "mvn":  # Trace_ELBO
        assert on_disk["kl_analytic_sites"] == [] and on_disk["kl_monte_carlo_sites"] == weights


def test_delta_guide_maximises_likelihood_with_flat_prior_and_posterior_otherwise() -> None:
    """With AutoDelta, -loss is log p(y | w) + log p(w) at the point w: the log likelihood alone
    (MLE) under the flat prior, the log posterior (MAP) under a normal prior."""
    net = MLP(sizes=(2, 3, 2))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2)).astype(np.float32)
    y = rng.integers(0, 2, size=10).astype(np.int32)
    point = {
        "layer1.w": rng.normal(size=(2, 3)),
        "layer1.b": rng.normal(size=3),
        "layer2.w": rng.normal(size=(3, 2)),
        "layer2.b": rng.normal(size=2),
    }
    logits = np.asarray(net.apply(params_from_sites(net, point), jnp.asarray(x)), np.float64)
    log_lik = log_softmax(logits, axis=-1)[np.arange(10), y].sum()
    log_prior = sum(-0.5 * (v**2).sum() - 0.5 * v.size * np.log(2 * np.pi) for v in point.values())
    params = {f"{k}_auto_loc": jnp.asarray(v, jnp.float32) for k, v in point.items()}
    elbo = build_elbo(ElboName.Trace_ELBO, num_particles=1)
    for prior, expected in [("flat", log_lik), ("normal", log_lik + log_prior)]:
        cfg = make_config(f"prior={prior}")
        model = BNN(net=net, prior=prior, hyperprior="fixed", num_data=10)
        guide = build_guide(model, name=GuideName.delta, init_scale=0.1)
        hp = model_hparams(cfg.prior, cfg.hyperprior)
        loss = jax.jit(partial(elbo.loss, jax.random.PRNGKey(0), model=model, guide=guide))
        assert -float(loss(params, x=x, y=y, hp=hp)) == pytest.approx(expected, rel=1e-5)


def test_mean_field_elbo_takes_analytic_kl_where_numpyro_has_one() -> None:
    net = MLP(sizes=(2, 3, 2))
    x, y = jnp.zeros((4, 2)), jnp.zeros(4, jnp.int32)
    cases = [
        ("normal", "fixed", ElboName.TraceMeanField_ELBO, {"layer1.w": "analytic"}),
        # The scales' guides are log-normal: NumPyro has no KL rule against a half-normal.
        (
            "normal",
            "half_normal",
            ElboName.TraceMeanField_ELBO,
            {"layer1.w": "analytic", "layer1.w_scale": "monte_carlo"},
        ),
        ("laplace", "fixed", ElboName.TraceMeanField_ELBO, {"layer1.w": "monte_carlo"}),
        ("normal", "fixed", ElboName.Trace_ELBO, {"layer1.w": "monte_carlo"}),
    ]
    for prior, hyperprior, elbo, expected in cases:
        cfg = make_config(f"prior={prior}", f"hyperprior={hyperprior}")
        model = BNN(net=net, prior=prior, hyperprior=hyperprior, num_data=4)
        guide = build_guide(model, name=GuideName.normal, init_scale=0.1)
        found = kl_estimators(
            elbo,
            model=model,
            guide=guide,
            model_args=(x, y, model_hparams(cfg.prior, cfg.hyperprior)),
        )
        latent = 4 if hyperprior == "fixed" else 8
        assert len(found) == latent
        for site, how in expected.items():
            assert found[site] == how, (prior, hyperprior, elbo, site)
        assert len(set(v for k, v in found.items() if not k.endswith("_scale"))) == 1


def tiny_problem(rng: np.random.Generator, n: int) -> tuple[BNN, Any, jax.Array, jax.Array]:
    """A 2-3-2 BNN with a normal(0, 1) prior, its AutoNormal guide, and n random points."""
    model = BNN(net=MLP(sizes=(2, 3, 2)), prior="normal", hyperprior="fixed", num_data=n)
    guide = build_guide(model, name=GuideName.normal, init_scale=0.1)
    x = jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 2, size=n), jnp.int32)
    return model, guide, x, y


def test_kl_weight_and_temperature_enter_the_loss_as_documented() -> None:
    """With a normal prior every KL term is analytic under TraceMeanField_ELBO, so for one
    guide draw (a fixed key) the loss is -E/T + beta KL, E the draw's log likelihood and KL
    the closed-form Gaussian KL."""
    rng = np.random.default_rng(1)
    model, guide, x, y = tiny_problem(rng, 12)
    cfg = make_config()
    shapes = {"layer1.w": (2, 3), "layer1.b": (3,), "layer2.w": (3, 2), "layer2.b": (2,)}
    locs = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    scales = {k: rng.uniform(0.2, 0.9, size=s).astype(np.float32) for k, s in shapes.items()}
    params = {f"{k}_auto_loc": jnp.asarray(v) for k, v in locs.items()}
    params |= {f"{k}_auto_scale": jnp.asarray(v) for k, v in scales.items()}
    kl = sum((0.5 * (scales[k] ** 2 + locs[k] ** 2 - 1) - np.log(scales[k])).sum() for k in shapes)
    elbo = build_elbo(ElboName.TraceMeanField_ELBO, num_particles=1)
    loss_fn = jax.jit(
        lambda p, hp: elbo.loss(jax.random.PRNGKey(3), p, model, kl_weighted(guide), x, y, hp)
    )

    def loss(beta: float, temperature: float) -> float:
        objective = objective_hparams(beta=beta, temperature=temperature)
        return float(loss_fn(params, model_hparams(cfg.prior, cfg.hyperprior, objective=objective)))

    base = loss(1.0, 1.0)
    assert loss(3.0, 1.0) - base == pytest.approx(2 * kl, rel=1e-4)
    log_lik = -(base - kl)
    assert loss(1.0, 2.0) == pytest.approx(-log_lik / 2 + kl, rel=1e-4)
    assert loss(0.5, 4.0) == pytest.approx(-log_lik / 4 + 0.5 * kl, rel=1e-4)


def test_beta_warmup_ramps_linearly() -> None:
    hp = {"objective": objective_hparams(beta=2.0, beta_warmup_steps=10)}
    weights = [float(at_step(hp, jnp.asarray(t))["objective"]["kl_weight"]) for t in range(12)]
    np.testing.assert_allclose(weights, [2.0 * min(1, (t + 1) / 10) for t in range(12)], rtol=1e-6)
    flat = {"objective": objective_hparams(beta=0.3)}
    assert float(at_step(flat, jnp.asarray(0))["objective"]["kl_weight"]) == pytest.approx(0.3)


def test_fit_applies_the_warmup_weight_of_each_step() -> None:
    """The first step of a fit with a warm-up over 4 steps evaluates the loss at beta / 4."""
    model, guide, x, y = tiny_problem(np.random.default_rng(2), 10)
    cfg = make_config()
    program = SVIProgram(
        model,
        guide,
        optax.adam(0.01),
        loss=build_elbo(ElboName.Trace_ELBO, num_particles=1),
        loss_guide=kl_weighted(guide),
        hp_at_step=at_step,
    )
    objective = objective_hparams(beta=2.0, beta_warmup_steps=4)
    hp = model_hparams(cfg.prior, cfg.hyperprior, objective=objective)
    key = jax.random.PRNGKey(5)
    fit = fit_svi(program, x, y, hp, key=key, num_steps=1, chunk_size=1)
    state = program.init(key, x, y, hp)
    step_key = jax.random.split(state.rng_key)[1]
    params = program.svi.get_params(state)
    loss_at = jax.jit(partial(program.svi.loss.loss, step_key, params, model, program.svi.guide))

    def loss(weight: float) -> float:
        h = {**hp, "objective": {**hp["objective"], "kl_weight": jnp.float32(weight)}}
        return float(loss_at(x, y, h))

    assert -fit.elbo[0] == pytest.approx(loss(0.5), rel=1e-5)
    assert loss(0.5) != pytest.approx(loss(2.0), rel=1e-3)


def test_build_wires_the_chosen_elbo_and_particles() -> None:
    cfg = make_config(
        "debug=smoke", "inference.elbo=TraceMeanField_ELBO", "inference.num_particles=3"
    )
    _, _, hp, program = build(cfg, load_dataset(cfg.dataset))
    assert type(program.svi.loss) is TraceMeanField_ELBO
    assert program.svi.loss.num_particles == 3
    assert program.svi.guide is not program.guide  # the KL-weighted guide enters the loss
    assert float(hp["objective"]["kl_weight"]) == 1.0


@pytest.mark.parametrize(("hidden", "params"), [(1999, 9997), (2000, 10002)])
def test_full_rank_guide_is_allowed_up_to_its_limit(hidden: int, params: int) -> None:
    """One hidden layer of h units on 2-D inputs with 2 classes: 2h + h + 2h + 2 = 5h + 2
    parameters; the full-rank guide takes at most MVN_MAX_LATENT = 10,000 of them."""
    assert MVN_MAX_LATENT == 10_000
    cfg = make_config("debug=smoke", "inference.guide=mvn", f"architecture.hidden=[{hidden}]")
    data = load_dataset(cfg.dataset)
    if params <= MVN_MAX_LATENT:
        assert num_params(build(cfg, data).net) == params
        return
    with pytest.raises(ConfigError, match=f"this network has D = {params} parameters"):
        build(cfg, data)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["inference.beta=0"], "inference.beta must be > 0"),
        (["inference.temperature=-1"], "inference.temperature must be > 0"),
        (["inference.beta_warmup_steps=-5"], "inference.beta_warmup_steps must be an integer >= 0"),
        (["inference.rank=0"], "inference.rank must be an integer >= 1 or null"),
        (["inference.checkpoint_every=0"], "inference.checkpoint_every must be an integer >= 1"),
        (["inference=nuts", "inference.num_samples=1"], "inference.num_samples must be"),
        (["inference=nuts", "inference.target_accept_prob=1"], "target_accept_prob must be in"),
        (["inference=nuts", "resume=true"], "resume=true continues an SVI run"),
        (["prior=informed", "prior.distribution=flat"], "prior.distribution must be one of"),
        (["prior=informed", "prior.layers=[]"], "prior.layers must be a non-empty list"),
        (["prior=informed", "prior.default_scale=0"], "prior.default_scale must be > 0"),
    ],
)
def test_impossible_new_options_are_refused(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config(*overrides)


@pytest.mark.slow
def test_noncentered_run_reports_weights_by_their_own_names(tmp_path: Path) -> None:
    """A non-centred model's guide holds ``<site>_decentered``; draws, the point estimate, the
    ArviZ export and the plots still see each weight as ``<site> = s * z`` (loc 0)."""
    import arviz as az

    cfg = make_config(*SMALL, "hyperprior=half_normal", "hyperprior.noncentered=true")
    record = execute(cfg, tmp_path)
    assert record["status"] == "ok" and (tmp_path / "weights_last_layer.png").is_file()
    with np.load(tmp_path / "posterior.npz") as post:
        assert "layer2.w_decentered_auto_loc" in post and "layer2.w_auto_loc" not in post
    fitted = load_run(tmp_path)
    draws = fitted.draws(key=jax.random.PRNGKey(0), num_samples=4)
    np.testing.assert_allclose(
        draws["layer2.w"], draws["layer2.w_scale"][:, None, None] * draws["layer2.w_decentered"]
    )
    point = fitted.point_estimate()
    np.testing.assert_allclose(
        point["layer2.w"], point["layer2.w_scale"] * point["layer2.w_decentered"]
    )
    idata = az.from_netcdf(tmp_path / "posterior.nc")
    assert idata.posterior["layer2.w"].shape == (1, 8, 5, 5)
