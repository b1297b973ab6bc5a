"""Prior families over a network's weights and biases, as NumPyro distributions.

A prior knows nothing of networks: it turns a parameter's shape and the family's numeric
hyperparameters into a distribution whose event shape is that parameter's shape. The numbers
arrive as traced arrays (see :func:`prior_hparams`), so one compiled program serves any value.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bnnrun.config import (
    FlatPriorConfig,
    InformedPriorConfig,
    PriorFamily,
    ScaledPriorConfig,
    StudentTPriorConfig,
)


def prior_hparams(
    cfg: ScaledPriorConfig | StudentTPriorConfig | FlatPriorConfig | InformedPriorConfig,
) -> dict[str, jax.Array]:
    """The family's numeric hyperparameters as float32 scalars (``loc``, ``scale``, ``df``;
    an informed prior adds ``default_scale``, the scale of the layers it does not inform)."""
    names = {"loc", "scale", "df", "default_scale"}
    return {k: jnp.asarray(v, jnp.float32) for k, v in vars(cfg).items() if k in names}


def distribution_family(
    cfg: ScaledPriorConfig | StudentTPriorConfig | FlatPriorConfig | InformedPriorConfig,
) -> str:
    """The distribution over each weight: ``cfg.family``, or for an informed prior the family
    it centres on the source (``cfg.distribution``)."""
    if isinstance(cfg, InformedPriorConfig):
        return cfg.distribution.value
    return cfg.family.value


def prior_distribution(
    family: str,
    hp: Mapping[str, jax.Array],
    *,
    shape: tuple[int, ...],
    scale: jax.Array | None = None,
    loc: jax.Array | None = None,
) -> dist.Distribution:
    """The prior over one parameter array of ``shape``, with event shape ``shape``.

    Args:
        family: a :class:`~bnnrun.config.PriorFamily` value.
        hp: numeric hyperparameters from :func:`prior_hparams`.
        shape: the parameter's shape.
        scale: overrides ``hp["scale"]``; a hyperprior passes its sampled scale here.
        loc: overrides ``hp["loc"]``: a scalar, or an array of ``shape`` (an informed prior's
            centres).
    """
    if family == PriorFamily.flat.value:
        return dist.ImproperUniform(constraints.real, batch_shape=(), event_shape=shape)
    s = hp["scale"] if scale is None else scale
    m = hp["loc"] if loc is None else loc
    if family == PriorFamily.normal.value:
        base = dist.Normal(m, s)
    elif family == PriorFamily.laplace.value:
        base = dist.Laplace(m, s)
    elif family == PriorFamily.cauchy.value:
        base = dist.Cauchy(m, s)
    elif family == PriorFamily.student_t.value:
        base = dist.StudentT(hp["df"], m, s)
    else:
        raise ValueError(f"unknown prior family {family!r}")
    return base.expand(shape).to_event(len(shape))
