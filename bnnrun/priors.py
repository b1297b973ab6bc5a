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

from bnnrun.config import FlatPriorConfig, PriorFamily, ScaledPriorConfig, StudentTPriorConfig

#: Families with a scale parameter, i.e. those a hyperprior can sit over.
SCALED_FAMILIES = frozenset({"normal", "laplace", "cauchy", "student_t"})


def prior_hparams(
    cfg: ScaledPriorConfig | StudentTPriorConfig | FlatPriorConfig,
) -> dict[str, jax.Array]:
    """The family's numeric hyperparameters as float32 scalars (``loc``, ``scale``, ``df``)."""
    names = {"loc", "scale", "df"}
    return {k: jnp.asarray(v, jnp.float32) for k, v in vars(cfg).items() if k in names}


def prior_distribution(
    family: str,
    hp: Mapping[str, jax.Array],
    *,
    shape: tuple[int, ...],
    scale: jax.Array | None = None,
) -> dist.Distribution:
    """The prior over one parameter array of ``shape``, with event shape ``shape``.

    Args:
        family: a :class:`~bnnrun.config.PriorFamily` value.
        hp: numeric hyperparameters from :func:`prior_hparams`.
        shape: the parameter's shape.
        scale: overrides ``hp["scale"]``; a hyperprior passes its sampled scale here.
    """
    if family == PriorFamily.flat.value:
        return dist.ImproperUniform(constraints.real, batch_shape=(), event_shape=shape)
    s = hp["scale"] if scale is None else scale
    if family == PriorFamily.normal.value:
        base = dist.Normal(hp["loc"], s)
    elif family == PriorFamily.laplace.value:
        base = dist.Laplace(hp["loc"], s)
    elif family == PriorFamily.cauchy.value:
        base = dist.Cauchy(hp["loc"], s)
    elif family == PriorFamily.student_t.value:
        base = dist.StudentT(hp["df"], hp["loc"], s)
    else:
        raise ValueError(f"unknown prior family {family!r}")
    return base.expand(shape).to_event(len(shape))
