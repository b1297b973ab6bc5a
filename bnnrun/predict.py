"""The posterior predictive: posterior draws pushed through the network, in bounded memory.

Draws come from NumPyro's ``Predictive`` over the guide. The network is then applied to chunks
of inputs, mapping over chunks of draws with ``lax.map``; on XLA's CPU backend that is far
faster than one ``vmap`` over all draws, and memory stays at one chunk of activations.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import Predictive

from bnnrun.model import params_from_sites
from bnnrun.nets import Network
from bnnrun.runtime import RUN_ONCE


def sample_guide(
    guide: Any, params: dict[str, Any], *, key: jax.Array, num_samples: int, model_args: tuple
) -> dict[str, np.ndarray]:
    """``num_samples`` joint draws of every latent site from the fitted guide.

    Returns:
        ``{site: array [num_samples, *site_shape]}``.
    """
    draws = _guide_sampler(guide, num_samples)(key, params, *model_args)
    return {k: np.asarray(v) for k, v in draws.items()}


@functools.lru_cache(maxsize=32)
def _guide_sampler(guide: Any, num_samples: int) -> Any:
    """``Predictive`` over ``guide``, compiled once per guide (one per model structure): called
    eagerly, it compiled anew for every run (about 1.5 s each in a sweep; bench/sweep_speed.py)."""

    def sample(key: jax.Array, params: dict[str, Any], *model_args: Any) -> dict[str, jax.Array]:
        return Predictive(guide, params=params, num_samples=num_samples)(key, *model_args)

    return jax.jit(sample, compiler_options=RUN_ONCE)


@functools.lru_cache(maxsize=16)
def _probs_fn(net: Network, sample_chunk: int) -> Any:
    def probs(params: Any, x: jax.Array) -> jax.Array:
        return jax.lax.map(
            lambda p: jax.nn.softmax(net.apply(p, x), axis=-1), params, batch_size=sample_chunk
        )

    return jax.jit(probs)


def predictive_probs(
    net: Network,
    draws: dict[str, np.ndarray],
    x: np.ndarray,
    *,
    data_chunk: int = 4096,
    sample_chunk: int = 64,
) -> np.ndarray:
    """Class probabilities under each posterior draw.

    Args:
        net: the network.
        draws: ``{site: [S, *shape]}`` posterior draws (extra sites such as scales are ignored).
        x: inputs ``[N, *input_shape]``.
        data_chunk: inputs per compiled call; the last chunk is padded to this size.
        sample_chunk: draws evaluated together inside a chunk.

    Returns:
        float32 array ``[S, N, num_classes]``.
    """
    params = jax.tree.map(jnp.asarray, params_from_sites(net, draws))
    n = x.shape[0]
    chunk = min(data_chunk, n)
    fn = _probs_fn(net, sample_chunk)
    out = []
    for start in range(0, n, chunk):
        xb = x[start : start + chunk]
        pad = chunk - xb.shape[0]
        if pad:
            xb = np.concatenate([xb, np.repeat(xb[-1:], pad, axis=0)])
        out.append(np.asarray(fn(params, jnp.asarray(xb)))[:, : chunk - pad])
    return np.concatenate(out, axis=1)
