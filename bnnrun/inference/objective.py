"""The objective SVI maximises: a KL-weighted, tempered ELBO, and NumPyro's estimators of it.

For a guide q over the latent sites w (weights, biases and any learned prior scales), a data
set of N points and a step that sees a minibatch B of them, the objective at step t is

    L_t(q) = E_q[ (N / |B|) (1 / T) sum_{i in B} log p(y_i | x_i, w) ] - beta_t KL(q(w) || p(w))

with the likelihood tempered by T (``temperature``) and the KL weighted by beta_t, which is
``beta`` after a linear warm-up: beta_t = beta min(1, t / W) at step t = 1, 2, ... for
``beta_warmup_steps`` W > 0. ``Trace_ELBO`` estimates the KL by Monte Carlo
(``log q(w) - log p(w)`` at the guide's draws); ``TraceMeanField_ELBO`` uses NumPyro's analytic
KL for every site where it has one. Both average over ``num_particles`` draws.

The model applies beta_t to its prior sites and 1/T to its likelihood with NumPyro's ``scale``
handler; :func:`kl_weighted` applies beta_t to the guide's sites, so every part of the KL term,
analytic or not, carries the same weight. beta_t and T are traced numbers in the model's ``hp``
(``hp["objective"]``), so runs that differ only in them share one compiled program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from numpyro import handlers
from numpyro.distributions.kl import kl_divergence
from numpyro.infer import Trace_ELBO, TraceMeanField_ELBO
from numpyro.infer.elbo import ELBO

from bnnrun.config import ElboName
from bnnrun.model.hparams import HyperParams, at_step, kl_weight, objective_hparams

__all__ = [
    "ANALYTIC",
    "MONTE_CARLO",
    "at_step",
    "build_elbo",
    "kl_estimators",
    "kl_weight",
    "kl_weighted",
    "objective_hparams",
]

ANALYTIC, MONTE_CARLO = "analytic", "monte_carlo"


def kl_weighted(guide: Callable[..., Any]) -> Callable[..., Any]:
    """The guide as it enters the ELBO: its sites' log densities scaled by the KL weight, so
    ``log q`` (or NumPyro's analytic KL, which takes the guide site's scale) is weighted like
    the model's prior sites. Called as ``guide(x, y, hp)``."""

    def weighted(x: jax.Array, y: jax.Array | None, hp: HyperParams) -> Any:
        with handlers.scale(scale=hp["objective"]["kl_weight"]):
            return guide(x, y, hp)

    return weighted


def build_elbo(name: ElboName, *, num_particles: int) -> ELBO:
    """NumPyro's ELBO estimator ``name`` averaging over ``num_particles`` draws."""
    if name is ElboName.Trace_ELBO:
        return Trace_ELBO(num_particles=num_particles)
    if name is ElboName.TraceMeanField_ELBO:
        return TraceMeanField_ELBO(num_particles=num_particles)
    raise ValueError(f"unknown ELBO {name!r}")


def kl_estimators(
    name: ElboName, *, model: Callable[..., Any], guide: Callable[..., Any], model_args: tuple
) -> dict[str, str]:
    """How the ELBO ``name`` estimates each latent site's KL term: ``analytic`` or
    ``monte_carlo``, in model order.

    ``TraceMeanField_ELBO`` takes the analytic KL exactly where NumPyro's ``kl_divergence`` has
    a rule for the pair (guide site, prior site), and falls back to Monte Carlo elsewhere; this
    asks the same question. The traces are abstract (``jax.eval_shape``): nothing is computed.
    ``guide`` must be a fresh autoguide, since its set-up happens inside this trace.
    """
    found: dict[str, str] = {}

    def probe(key: jax.Array, args: tuple) -> None:
        guide_seed, model_seed = jax.random.split(key)
        guide_tr = handlers.trace(handlers.seed(guide, guide_seed)).get_trace(*args)
        replayed = handlers.replay(handlers.seed(model, model_seed), guide_tr)
        model_tr = handlers.trace(replayed).get_trace(*args)
        for site, msg in model_tr.items():
            if msg["type"] != "sample" or msg["is_observed"]:
                continue
            kind = MONTE_CARLO
            if name is ElboName.TraceMeanField_ELBO:
                try:
                    kl_divergence(guide_tr[site]["fn"], msg["fn"])
                    kind = ANALYTIC
                except NotImplementedError:
                    pass
            found[site] = kind

    jax.eval_shape(probe, jax.random.PRNGKey(0), model_args)
    return found
