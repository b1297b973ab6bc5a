"""Networks as pure functions of a parameter pytree and their inputs.

A network knows nothing of priors or NumPyro. Its parameters are a two-level dict,
``{layer: {role: array}}`` (e.g. ``params["layer1"]["w"]``), and it is a frozen, hashable
dataclass so that a compiled program can be cached per network shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import jax
import jax.numpy as jnp

from bnnrun.config import MLPConfig

Params = Mapping[str, Mapping[str, jax.Array]]
Shapes = dict[str, dict[str, tuple[int, ...]]]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
}


class Network(Protocol):
    """What the model, the fit and the predictive need from a network."""

    def param_shapes(self) -> Shapes:
        """``{layer: {role: shape}}`` in forward order; roles are ``w`` and ``b``."""
        ...

    def apply(self, params: Params, x: jax.Array) -> jax.Array:
        """Logits of shape ``[batch, num_classes]`` for inputs ``x`` of shape
        ``[batch, *input_shape]``."""
        ...

    def init(self, key: jax.Array) -> dict[str, dict[str, jax.Array]]:
        """Initial parameters: Glorot-normal weights, zero biases."""
        ...


def glorot_init(shapes: Shapes, key: jax.Array) -> dict[str, dict[str, jax.Array]]:
    """Glorot-normal weights (fan over the last two axes' receptive field) and zero biases."""
    init_w = jax.nn.initializers.glorot_normal(in_axis=-2, out_axis=-1)
    keys = jax.random.split(key, len(shapes))
    return {
        layer: {
            role: init_w(k, shape) if role == "w" else jnp.zeros(shape)
            for role, shape in roles.items()
        }
        for k, (layer, roles) in zip(keys, shapes.items(), strict=True)
    }


@dataclass(frozen=True)
class MLP:
    """Dense layers ``layer1 ... layerL``; ``sizes = (d_in, h_1, ..., num_classes)``."""

    sizes: tuple[int, ...]
    activation: str = "tanh"

    def param_shapes(self) -> Shapes:
        return {
            f"layer{i + 1}": {"w": (d_in, d_out), "b": (d_out,)}
            for i, (d_in, d_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        }

    def apply(self, params: Params, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        h = x.reshape(x.shape[0], -1)
        last = len(self.sizes) - 1
        for i in range(1, last + 1):
            p = params[f"layer{i}"]
            h = h @ p["w"] + p["b"]
            if i < last:
                h = act(h)
        return h

    def init(self, key: jax.Array) -> dict[str, dict[str, jax.Array]]:
        return glorot_init(self.param_shapes(), key)


def build_network(cfg: MLPConfig, *, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """The network that ``cfg`` describes, for the data's input shape and classes."""
    return MLP(
        sizes=(math.prod(input_shape), *cfg.hidden, num_classes), activation=cfg.activation.value
    )


def num_params(net: Network) -> int:
    """Number of scalar weights and biases."""
    return sum(
        math.prod(shape) for roles in net.param_shapes().values() for shape in roles.values()
    )
