"""The model's numbers: ``hp``, the pytree of float32 arrays that a :class:`~bnnrun.model.bnn.BNN`
takes as its third argument.

Everything a run may change without changing the model's structure lives here (prior loc and
scale, hyperprior parameters, the objective's KL weight and temperature, an informed prior's
centres), so runs that differ only in these numbers share one compiled program.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import jax
import jax.numpy as jnp

from bnnrun.model.hyperpriors import hyperprior_hparams
from bnnrun.model.likelihoods import likelihood_hparams
from bnnrun.model.priors import prior_hparams


class HyperParams(TypedDict):
    """The model's ``hp`` argument. Every leaf is a float32 array.

    Attributes:
        prior: the weight prior's ``loc``, ``scale`` (``df``, ``default_scale``), scalars.
        hyperprior: the scale hyperprior's ``scale``, ``concentration``, ``rate``, scalars.
        objective: ``beta``, ``beta_warmup_steps``, ``kl_weight`` (beta at the current step)
            and ``temperature``, scalars.
        centres: an informed prior's centres ``{site: array of the site's shape}``.
        likelihood: a regression likelihood's ``scale``, ``concentration``, ``rate``, ``df``
            or ``min_scale``, scalars.
    """

    prior: dict[str, jax.Array]
    hyperprior: dict[str, jax.Array]
    objective: dict[str, jax.Array]
    centres: NotRequired[dict[str, jax.Array]]
    likelihood: NotRequired[dict[str, jax.Array]]


def model_hparams(
    prior_cfg: Any,
    hyperprior_cfg: Any,
    *,
    objective: Mapping[str, jax.Array] | None = None,
    centres: Mapping[str, Any] | None = None,
    likelihood: Any = None,
) -> HyperParams:
    """The numeric hyperparameters of a prior and hyperprior config, as the model's ``hp``.

    Args:
        objective: KL weight and temperature (:func:`bnnrun.inference.objective.objective_hparams`);
            default: the plain ELBO / posterior (both 1).
        centres: for an informed prior, ``{site: array}`` the prior centres of the informed
            layers' weights and biases (see :mod:`bnnrun.model.informed`).
        likelihood: a regression likelihood's config, whose numbers (noise scale, its
            prior, df) become ``hp["likelihood"]``; None: a categorical likelihood.
    """
    hp: HyperParams = {
        "prior": prior_hparams(prior_cfg),
        "hyperprior": hyperprior_hparams(hyperprior_cfg),
        "objective": dict(objective) if objective is not None else objective_hparams(),
    }
    if likelihood is not None:
        hp["likelihood"] = likelihood_hparams(likelihood)
    if centres is not None:
        hp["centres"] = {k: jnp.asarray(v, jnp.float32) for k, v in centres.items()}
    return hp


def objective_hparams(
    *, beta: float = 1.0, beta_warmup_steps: int = 0, temperature: float = 1.0
) -> dict[str, jax.Array]:
    """The objective's numbers as float32 scalars; ``kl_weight`` is the weight in force (beta
    until :func:`at_step` sets the warm-up's value for a step)."""
    f32 = jnp.float32
    return {
        "beta": jnp.asarray(beta, f32),
        "beta_warmup_steps": jnp.asarray(beta_warmup_steps, f32),
        "kl_weight": jnp.asarray(beta, f32),
        "temperature": jnp.asarray(temperature, f32),
    }


def kl_weight(beta: jax.Array, warmup_steps: jax.Array, step: jax.Array) -> jax.Array:
    """beta_t at the 0-based optimizer step ``step``: ``beta * min(1, (step + 1) / W)``, or
    ``beta`` when ``W = 0``."""
    ramp = jnp.minimum(1.0, (step + 1) / jnp.maximum(warmup_steps, 1.0))
    return beta * jnp.where(warmup_steps > 0, ramp, 1.0)


def at_step(hp: HyperParams, step: jax.Array) -> HyperParams:
    """``hp`` with the KL weight of the 0-based optimizer step ``step``."""
    obj = hp["objective"]
    weight = kl_weight(obj["beta"], obj["beta_warmup_steps"], step.astype(jnp.float32))
    return {**hp, "objective": {**obj, "kl_weight": weight}}
