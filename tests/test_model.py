"""The model's log joint equals a scipy.stats hand computation, for every prior x hyperprior."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_config
from numpyro import handlers
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import log_softmax

from bnnrun.model.bnn import BNN, params_from_sites, site_name
from bnnrun.model.hparams import model_hparams
from bnnrun.model.nets import MLP

PRIORS = ["normal", "laplace", "cauchy", "student_t", "flat"]
HYPERPRIORS = ["fixed", "half_normal", "half_cauchy", "inverse_gamma"]
CASES = [(p, h) for p in PRIORS for h in HYPERPRIORS if p != "flat" or h == "fixed"]

# Non-default numbers, so a parameter that is silently ignored shows up.
PRIOR_ARGS = ["prior.loc=0.3", "prior.scale=0.7"]
HYPER_ARGS = {
    "fixed": [],
    "half_normal": ["hyperprior.scale=1.3"],
    "half_cauchy": ["hyperprior.scale=0.8"],
    "inverse_gamma": ["hyperprior.concentration=2.5", "hyperprior.rate=1.7"],
}


def scipy_prior(family: str, scale: float, cfg) -> stats.rv_continuous | None:
    loc = cfg.prior.loc if family != "flat" else 0.0
    return {
        "normal": lambda: stats.norm(loc, scale),
        "laplace": lambda: stats.laplace(loc, scale),
        "cauchy": lambda: stats.cauchy(loc, scale),
        "student_t": lambda: stats.t(cfg.prior.df, loc, scale),
        "flat": lambda: None,
    }[family]()


def scipy_hyperprior(kind: str, cfg) -> stats.rv_continuous:
    h = cfg.hyperprior
    return {
        "half_normal": lambda: stats.halfnorm(scale=h.scale),
        "half_cauchy": lambda: stats.halfcauchy(scale=h.scale),
        "inverse_gamma": lambda: stats.invgamma(h.concentration, scale=h.rate),
    }[kind]()


@pytest.mark.parametrize(("prior", "hyperprior"), CASES, ids=[f"{p}-{h}" for p, h in CASES])
def test_log_joint_matches_scipy(prior: str, hyperprior: str) -> None:
    overrides = [f"prior={prior}", f"hyperprior={hyperprior}", *HYPER_ARGS[hyperprior]]
    if prior != "flat":
        overrides += PRIOR_ARGS
    cfg = make_config(*overrides)
    net = MLP(sizes=(2, 4, 3, 2), activation="tanh")
    model = BNN(net=net, prior=prior, hyperprior=hyperprior, num_data=6)
    hp = model_hparams(cfg.prior, cfg.hyperprior)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0], np.int32)
    values: dict[str, np.ndarray] = {}
    expected = 0.0
    for layer, roles in net.param_shapes().items():
        for role, shape in roles.items():
            site = site_name(layer, role)
            w = rng.normal(size=shape).astype(np.float32)
            values[site] = w
            scale = getattr(cfg.prior, "scale", None)
            if hyperprior != "fixed":
                scale = float(rng.uniform(0.5, 2.0))
                values[f"{site}_scale"] = np.float32(scale)
                expected += scipy_hyperprior(hyperprior, cfg).logpdf(scale)
            dist = scipy_prior(prior, scale, cfg)
            if dist is not None:
                expected += dist.logpdf(w).sum()
    logits = np.asarray(net.apply(params_from_sites(net, values), jnp.asarray(x)), np.float64)
    expected += log_softmax(logits, axis=-1)[np.arange(6), y].sum()

    got, _ = log_density(
        model,
        (jnp.asarray(x), jnp.asarray(y), hp),
        {},
        {k: jnp.asarray(v) for k, v in values.items()},
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("prior", ["normal", "laplace", "cauchy", "student_t"])
def test_noncentered_model_samples_standard_noise_and_derives_the_weights(prior: str) -> None:
    """Non-centred: latent ``<site>_decentered`` z ~ prior(0, 1) and the scale s; the weight
    ``<site> = loc + s * z`` is deterministic, and the likelihood sees it."""
    cfg = make_config(f"prior={prior}", "hyperprior=inverse_gamma", *PRIOR_ARGS)
    net = MLP(sizes=(2, 3, 2), activation="tanh")
    model = BNN(net=net, prior=prior, hyperprior="inverse_gamma", num_data=4, noncentered=True)
    hp = model_hparams(cfg.prior, cfg.hyperprior)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2)).astype(np.float32)
    y = np.array([0, 1, 1, 0], np.int32)
    latent: dict[str, np.ndarray] = {}
    weights: dict[str, np.ndarray] = {}
    expected = 0.0
    for layer, roles in net.param_shapes().items():
        for role, shape in roles.items():
            site = site_name(layer, role)
            z = rng.normal(size=shape).astype(np.float32)
            scale = np.float32(rng.uniform(0.5, 2.0))
            latent[f"{site}_decentered"], latent[f"{site}_scale"] = z, scale
            weights[site] = cfg.prior.loc + scale * z
            expected += stats.invgamma(1.0, scale=1.0).logpdf(scale)
            expected += scipy_prior(prior, 1.0, cfg).logpdf(z + cfg.prior.loc).sum()
    logits = np.asarray(net.apply(params_from_sites(net, weights), jnp.asarray(x)), np.float64)
    expected += log_softmax(logits, axis=-1)[np.arange(4), y].sum()

    got, tr = log_density(model, (jnp.asarray(x), jnp.asarray(y), hp), {}, latent)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5, atol=1e-4)
    assert tr["layer1.w"]["type"] == "deterministic"
    derived = model.derived_params(latent, hp)
    assert sorted(derived) == sorted(weights)
    for site, w in weights.items():
        np.testing.assert_allclose(derived[site], w, rtol=1e-6)


def test_site_names_name_layer_and_role() -> None:
    net = MLP(sizes=(2, 5, 5, 2))
    model = BNN(net=net, prior="normal", hyperprior="half_cauchy", num_data=3)
    cfg = make_config("hyperprior=half_cauchy")
    tr = handlers.trace(handlers.seed(model, 0)).get_trace(
        jnp.zeros((3, 2)), jnp.zeros(3, jnp.int32), model_hparams(cfg.prior, cfg.hyperprior)
    )
    latent = [k for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]]
    assert latent == [
        "layer1.w_scale",
        "layer1.w",
        "layer1.b_scale",
        "layer1.b",
        "layer2.w_scale",
        "layer2.w",
        "layer2.b_scale",
        "layer2.b",
        "layer3.w_scale",
        "layer3.w",
        "layer3.b_scale",
        "layer3.b",
    ]
    assert tr["layer2.w"]["value"].shape == (5, 5)


def test_minibatch_scales_likelihood_to_full_data() -> None:
    """A subsample plate of 4 out of 8 points scales their log likelihood by 8 / 4. With eight
    identical points, the scaled minibatch log joint equals the full-data one exactly."""
    net = MLP(sizes=(2, 3, 2))
    cfg = make_config("prior=flat")
    hp = model_hparams(cfg.prior, cfg.hyperprior)
    x = jnp.tile(jnp.array([[0.5, -1.0]]), (8, 1))
    y = jnp.zeros(8, jnp.int32)
    shapes = {"layer1.w": (2, 3), "layer1.b": (3,), "layer2.w": (3, 2), "layer2.b": (2,)}
    params = {k: jnp.full(s, 0.1) for k, s in shapes.items()}
    full, _ = log_density(BNN(net, "flat", "fixed", num_data=8), (x, y, hp), {}, params)
    batched = handlers.seed(BNN(net, "flat", "fixed", num_data=8, batch_size=4), 0)
    mini, tr = log_density(batched, (x, y, hp), {}, params)
    assert tr["y"]["value"].shape == (4,)
    assert tr["y"]["scale"] == pytest.approx(2.0)
    assert float(mini) == pytest.approx(float(full), rel=1e-6)
