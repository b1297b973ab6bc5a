"""Observation models: from the network's output ``f(x)`` ``[N, K]`` to the distribution of y.

- ``categorical``: K = number of classes, ``y ~ Categorical(logits=f(x))``.
- ``gaussian``: K = 1, ``y ~ Normal(f(x), sigma)``, one sigma for every point.
- ``student_t``: K = 1, ``y ~ StudentT(df, f(x), sigma)``.
- ``heteroscedastic``: K = 2, ``y ~ Normal(f_1(x), softplus(f_2(x)) + min_scale)``.

A learned sigma is the latent site :data:`NOISE_SITE`, the noise precision ``1 / sigma^2``,
under a Gamma(concentration, rate) prior. Regression targets are standardised; everything here
is in those units. The numbers travel in ``hp["likelihood"]`` (:func:`likelihood_hparams`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

#: Sample site of a learned observation noise's precision ``1 / sigma^2`` (a scalar).
NOISE_SITE = "noise_precision"
#: Likelihoods of a regression target.
REGRESSION = ("gaussian", "student_t", "heteroscedastic")
#: Likelihoods whose one sigma may be learned (a latent precision).
ONE_NOISE = ("gaussian", "student_t")


def output_size(kind: str, *, num_classes: int) -> int:
    """Width K of the network's output for likelihood ``kind``."""
    if kind == "categorical":
        return num_classes
    return 2 if kind == "heteroscedastic" else 1


def likelihood_hparams(cfg: Any) -> dict[str, jax.Array]:
    """The likelihood's numbers as float32 scalars (``scale``, ``concentration``, ``rate``,
    ``df``, ``min_scale``, where the config has them)."""
    names = {"scale", "concentration", "rate", "df", "min_scale"}
    return {k: jnp.asarray(v, jnp.float32) for k, v in vars(cfg).items() if k in names}


def noise_prior(hp: Mapping[str, jax.Array]) -> dist.Distribution:
    """The Gamma prior of a learned noise precision."""
    return dist.Gamma(hp["concentration"], hp["rate"])


def observation(
    kind: str, out: jax.Array, hp: Mapping[str, jax.Array], *, precision: jax.Array | None
) -> dist.Distribution:
    """The distribution of y given the network's output ``out`` ``[N, K]``.

    Args:
        kind: the likelihood.
        hp: ``hp["likelihood"]``.
        precision: a learned noise precision (scalar), or None for a fixed one.
    """
    if kind == "categorical":
        return dist.Categorical(logits=out)
    mean, sigma = location_scale(kind, out, hp, precision=precision)
    if kind == "student_t":
        return dist.StudentT(hp["df"], mean, sigma)
    return dist.Normal(mean, sigma)


def location_scale(
    kind: str, out: jax.Array, hp: Mapping[str, jax.Array], *, precision: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    """Location ``[..., N]`` and scale ``[..., N]`` of a regression likelihood, from the
    output ``out`` ``[..., N, K]`` (leading axes, e.g. draws, broadcast with ``precision``)."""
    mean = out[..., 0]
    if kind == "heteroscedastic":
        return mean, jax.nn.softplus(out[..., 1]) + hp["min_scale"]
    if precision is None:
        return mean, jnp.broadcast_to(hp["scale"], mean.shape)
    precision = jnp.asarray(precision)
    return mean, jnp.broadcast_to(precision.reshape((*precision.shape, 1)) ** -0.5, mean.shape)
