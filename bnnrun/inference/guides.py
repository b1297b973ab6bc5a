"""Variational families (NumPyro autoguides) and where their means start.

``normal`` is AutoNormal (mean-field Gaussian), ``lowrank`` AutoLowRankMultivariateNormal
(Gaussian with a rank-r plus diagonal covariance), ``mvn`` AutoMultivariateNormal (full-rank
Gaussian: its covariance has D^2 entries for D latent values, so it is for small networks) and
``delta`` AutoDelta (a point mass: MAP, or maximum likelihood with the flat prior). All are
Gaussians or points in NumPyro's unconstrained space.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer.autoguide import (
    AutoDelta,
    AutoGuide,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from numpyro.infer.initialization import init_to_median
from numpyro.infer.util import unconstrain_fn

from bnnrun.config import GuideName

_glorot = jax.nn.initializers.glorot_normal(in_axis=-2, out_axis=-1)


def init_to_network_default(site: dict[str, Any] | None = None) -> Any:
    """NumPyro init strategy: weights (``*.w``) Glorot-normal, biases (``*.b``) zero, and every
    other latent site (the hyperprior scales) at its prior median; a non-centred model's
    ``*.w_decentered`` and ``*.b_decentered`` like ``*.w`` and ``*.b``.

    Prior medians would start every weight at 0 (or nowhere, for the flat prior); a standard
    network initialisation breaks the symmetry between hidden units. The random draw uses the
    key NumPyro passes to init strategies, so it follows the run's seed.
    """
    if site is None:
        return partial(init_to_network_default)  # NumPyro expects a partial
    if site["type"] == "sample" and not site["is_observed"]:
        # A non-centred model's weight is s * z: z starts where the weight would.
        name = site["name"].removesuffix("_decentered")
        shape = tuple(site["kwargs"].get("sample_shape", ())) + tuple(site["fn"].shape())
        if name.endswith(".w") and len(shape) >= 2:
            key = site["kwargs"].get("rng_key")
            if key is None:  # traced outside a seed handler: no randomness available
                return jnp.zeros(shape)
            return _glorot(jax.random.fold_in(key, 0), shape)
        if name.endswith(".b"):
            return jnp.zeros(shape)
    value = init_to_median(site)
    # Evaluated eagerly, the median is its own program and NumPyro's transform to the
    # unconstrained space (e.g. log) another; compiled whole (SVIProgram.init), XLA would fuse
    # the two and could round the last bit differently. The barrier keeps them apart, so a
    # compiled initialisation starts exactly where an eager one does.
    return value if value is None else jax.lax.optimization_barrier(value)


def build_guide(
    model: Callable[..., Any], *, name: GuideName, init_scale: float, rank: int | None = None
) -> AutoGuide:
    """The autoguide ``name`` over ``model``.

    Args:
        model: the NumPyro model.
        name: which variational family.
        init_scale: initial standard deviation of the guide's Gaussians (unconstrained space);
            unused by ``delta``.
        rank: the ``lowrank`` guide's rank; None: NumPyro's default (sqrt of the number of
            latent values).
    """
    init_loc_fn = partial(init_to_network_default)
    if name is GuideName.normal:
        return AutoNormal(model, init_loc_fn=init_loc_fn, init_scale=init_scale)
    if name is GuideName.lowrank:
        return AutoLowRankMultivariateNormal(
            model, init_loc_fn=init_loc_fn, init_scale=init_scale, rank=rank
        )
    if name is GuideName.mvn:
        return AutoMultivariateNormal(model, init_loc_fn=init_loc_fn, init_scale=init_scale)
    if name is GuideName.delta:
        return AutoDelta(model, init_loc_fn=init_loc_fn)
    raise ValueError(f"unknown guide {name!r}")


def guide_median(
    guide: AutoGuide, params: dict[str, Any], model_args: tuple
) -> dict[str, np.ndarray]:
    """The guide's median of every latent site, in constrained space: for the Gaussian guides
    over real-valued sites (weights, biases) that is the posterior mean; for ``delta``, the
    point (MAP).

    ``guide`` must be fresh (never called): autoguides keep values from the trace that first
    calls them, so its set-up and the median are computed inside one compiled trace here.
    """

    def median(p: dict[str, Any], args: tuple) -> dict[str, jax.Array]:
        handlers.substitute(handlers.seed(guide, 0), data=p)(*args)
        return guide.median(p)

    return {k: np.asarray(v) for k, v in jax.jit(median)(params, model_args).items()}


def locs_from_point(
    model: Callable[..., Any], model_args: tuple, point_params: dict[str, Any]
) -> dict[str, jax.Array]:
    """Initial means for an ``AutoNormal`` guide at a point estimate.

    Args:
        model: the NumPyro model both guides belong to.
        model_args: arguments to trace the model with (e.g. one minibatch).
        point_params: an ``AutoDelta`` guide's parameters, ``{"<site>_auto_loc": value}`` in
            constrained space (what ``SVI.get_params`` returns).

    Returns:
        ``{"<site>_auto_loc": value}`` in the unconstrained space where ``AutoNormal`` keeps its
        means (a positive scale ``s`` becomes ``log s``), for ``SVI.init(init_params=...)``.
    """
    suffix = "_auto_loc"
    point = {k.removesuffix(suffix): v for k, v in point_params.items() if k.endswith(suffix)}
    # Jitted: run eagerly, tracing the model would compile each of its operations separately.
    unconstrain = jax.jit(lambda args, p: unconstrain_fn(handlers.seed(model, 0), args, {}, p))
    unconstrained = unconstrain(model_args, point)
    return {f"{site}{suffix}": v for site, v in unconstrained.items()}
