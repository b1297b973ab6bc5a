"""Hyperpriors over a prior's scale: a delta (fixed scale) or a distribution on (0, inf).

A learned hyperprior gives each layer two scale variables, one for its weights and one for its
biases; the model names them ``<layer>.w_scale`` and ``<layer>.b_scale``.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bnnrun.config import (
    FixedHyperpriorConfig,
    HalfHyperpriorConfig,
    HyperpriorKind,
    InverseGammaHyperpriorConfig,
)


def hyperprior_hparams(
    cfg: FixedHyperpriorConfig | HalfHyperpriorConfig | InverseGammaHyperpriorConfig,
) -> dict[str, jax.Array]:
    """The hyperprior's numeric parameters as float32 scalars."""
    names = {"scale", "concentration", "rate"}
    return {k: jnp.asarray(v, jnp.float32) for k, v in vars(cfg).items() if k in names}


def scale_distribution(kind: str, hp: Mapping[str, jax.Array]) -> dist.Distribution | None:
    """The distribution of one prior scale, or None for the fixed (delta) hyperprior."""
    if kind == HyperpriorKind.fixed.value:
        return None
    if kind == HyperpriorKind.half_normal.value:
        return dist.HalfNormal(hp["scale"])
    if kind == HyperpriorKind.half_cauchy.value:
        return dist.HalfCauchy(hp["scale"])
    if kind == HyperpriorKind.inverse_gamma.value:
        return dist.InverseGamma(hp["concentration"], hp["rate"])
    raise ValueError(f"unknown hyperprior {kind!r}")
