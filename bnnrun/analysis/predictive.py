"""The posterior predictive: posterior draws pushed through the network, in bounded memory.

Draws come from NumPyro's ``Predictive`` over the guide. The network is then applied to chunks
of inputs, mapping over chunks of draws with ``lax.map``; on XLA's CPU backend that is far
faster than one ``vmap`` over all draws, and memory stays at one chunk of activations. For a
CNN on CPU even a small ``vmap`` over draws is slow (a batch of weights turns each convolution
into a grouped one), so there draws go one at a time (:func:`resolve_sample_chunk`), and the
inputs per chunk shrink until one chunk's activations fit ``max_bytes`` (:func:`chunk_sizes`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer import Predictive

from bnnrun.model.bnn import params_from_sites
from bnnrun.model.nets import CNN, Network
from bnnrun.runtime import RUN_ONCE

#: Draws evaluated together (``vmap``) inside a chunk, when not configured.
DEFAULT_SAMPLE_CHUNK = 64


def resolve_sample_chunk(sample_chunk: int | None, *, net: Network, backend: str) -> int:
    """``sample_chunk``, or when None: 1 for a CNN on CPU (measured 4-20x faster than
    ``vmap`` over draws, ``bench/cnn_speed.py``), else :data:`DEFAULT_SAMPLE_CHUNK`."""
    if sample_chunk is not None:
        return sample_chunk
    return 1 if isinstance(net, CNN) and backend == "cpu" else DEFAULT_SAMPLE_CHUNK


@functools.lru_cache(maxsize=32)
def activation_bytes(net: Network, input_shape: tuple[int, ...]) -> int:
    """Bytes of every intermediate value of ``net.apply`` for one input under one draw: an
    upper bound on the activations that stay alive at once."""
    params = {
        layer: {role: jax.ShapeDtypeStruct(shape, jnp.float32) for role, shape in roles.items()}
        for layer, roles in net.param_shapes().items()
    }
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    jaxpr = jax.make_jaxpr(net.apply)(params, x).jaxpr
    return sum(v.aval.size * v.aval.dtype.itemsize for eqn in jaxpr.eqns for v in eqn.outvars)


def chunk_sizes(
    net: Network,
    input_shape: tuple[int, ...],
    *,
    data_chunk: int,
    sample_chunk: int,
    max_bytes: int,
) -> tuple[int, int]:
    """``(data_chunk, sample_chunk)`` shrunk so that one chunk's activations,
    ``sample_chunk * data_chunk * activation_bytes``, stay within ``max_bytes``: first fewer
    inputs (down to 64), then fewer draws, then fewer inputs again (down to 1)."""
    per = activation_bytes(net, input_shape)
    fit = max(1, max_bytes // per)  # (input, draw) pairs per chunk
    data_chunk = max(min(data_chunk, fit // sample_chunk), min(data_chunk, 64))
    sample_chunk = max(1, min(sample_chunk, fit // data_chunk))
    data_chunk = max(1, min(data_chunk, fit // sample_chunk))
    return data_chunk, sample_chunk


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
        # An autoguide sets itself up on its first call, drawing from the key it is given. Set
        # it up here, on a key of its own, so that the draws take the same stream whether or
        # not this process fitted the guide (a reloaded run draws what the run drew).
        handlers.substitute(handlers.seed(guide, 0), data=params)(*model_args)
        return Predictive(guide, params=params, num_samples=num_samples)(key, *model_args)

    return jax.jit(sample, compiler_options=RUN_ONCE)


@functools.lru_cache(maxsize=16)
def _outputs_fn(net: Network, sample_chunk: int, softmax: bool) -> Any:
    def outputs(params: Any, x: jax.Array) -> jax.Array:
        def one(p: Any) -> jax.Array:
            out = net.apply(p, x)
            return jax.nn.softmax(out, axis=-1) if softmax else out

        return jax.lax.map(one, params, batch_size=sample_chunk)

    return jax.jit(outputs)


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
    return predictive_outputs(
        net, draws, x, data_chunk=data_chunk, sample_chunk=sample_chunk, softmax=True
    )


def predictive_outputs(
    net: Network,
    draws: dict[str, np.ndarray],
    x: np.ndarray,
    *,
    data_chunk: int = 4096,
    sample_chunk: int = 64,
    softmax: bool = False,
) -> np.ndarray:
    """The network's output under each posterior draw, ``[S, N, K]`` float32 (with
    ``softmax``: class probabilities); arguments as for :func:`predictive_probs`."""
    # device_put: jnp.asarray would compile a program per array shape (~30 ms each, once).
    params = jax.device_put(params_from_sites(net, draws))
    n = x.shape[0]
    chunk = min(data_chunk, n)
    fn = _outputs_fn(net, sample_chunk, softmax)
    out = []
    for start in range(0, n, chunk):
        xb = x[start : start + chunk]
        pad = chunk - xb.shape[0]
        if pad:
            xb = np.concatenate([xb, np.repeat(xb[-1:], pad, axis=0)])
        out.append(np.asarray(fn(params, jax.device_put(xb)))[:, : chunk - pad])
    return np.concatenate(out, axis=1)
