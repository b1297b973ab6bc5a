"""Networks as pure functions of a parameter pytree and their inputs.

A network knows nothing of priors or NumPyro. Its parameters are a two-level dict,
``{layer: {role: array}}`` (e.g. ``params["layer1"]["w"]``), and it is a frozen, hashable
dataclass so that a compiled program can be cached per network shape.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import jax
import jax.numpy as jnp

from bnnrun.config import CNNConfig, MLPConfig
from bnnrun.errors import ConfigError

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


def dense_layers(params: Params, h: jax.Array, *, first: int, last: int, act: str) -> jax.Array:
    """Dense layers ``layer<first> ... layer<last>`` on ``h`` ``[batch, features]``: the
    activation after each but the last, which returns the logits."""
    for i in range(first, last + 1):
        p = params[f"layer{i}"]
        h = h @ p["w"] + p["b"]
        if i < last:
            h = ACTIVATIONS[act](h)
    return h


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
        h = x.reshape(x.shape[0], -1)
        return dense_layers(params, h, first=1, last=len(self.sizes) - 1, act=self.activation)

    def init(self, key: jax.Array) -> dict[str, dict[str, jax.Array]]:
        return glorot_init(self.param_shapes(), key)


@dataclass(frozen=True)
class CNN:
    """Convolutions with max pooling, then dense layers: the paper's MNIST network by default.

    Layers ``layer1 ... layerK`` are ``kernel x kernel`` convolutions (stride 1) with ``filters[k]``
    output channels, each followed by the activation and ``pool x pool`` max pooling; then dense
    layers of ``dense`` widths with the activation, and a dense output layer of ``num_classes``
    logits. Images are NHWC: ``x`` has shape ``[batch, height, width, channels]``; conv weights
    are HWIO, ``[kernel, kernel, in, out]``.
    """

    input_shape: tuple[int, int, int]
    filters: tuple[int, ...] = (32, 32)
    kernel: int = 5
    pool: int = 2
    padding: str = "VALID"
    dense: tuple[int, ...] = (64,)
    num_classes: int = 10
    activation: str = "tanh"

    def feature_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` after the last pooling layer."""
        h, w, c = self.input_shape
        for f in self.filters:
            if self.padding == "VALID":
                h, w = h - self.kernel + 1, w - self.kernel + 1
            h, w, c = h // self.pool, w // self.pool, f
        return h, w, c

    def param_shapes(self) -> Shapes:
        shapes: Shapes = {}
        c_in = self.input_shape[-1]
        for i, f in enumerate(self.filters):
            shapes[f"layer{i + 1}"] = {"w": (self.kernel, self.kernel, c_in, f), "b": (f,)}
            c_in = f
        sizes = (math.prod(self.feature_shape()), *self.dense, self.num_classes)
        for j, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
            shapes[f"layer{len(self.filters) + j + 1}"] = {"w": (d_in, d_out), "b": (d_out,)}
        return shapes

    def apply(self, params: Params, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        window = (1, self.pool, self.pool, 1)
        h = x
        for i in range(1, len(self.filters) + 1):
            p = params[f"layer{i}"]
            h = jax.lax.conv_general_dilated(
                h, p["w"], (1, 1), self.padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            h = act(h + p["b"])
            h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, window, window, "VALID")
        h = h.reshape(h.shape[0], -1)
        first, last = len(self.filters) + 1, len(self.filters) + len(self.dense) + 1
        return dense_layers(params, h, first=first, last=last, act=self.activation)

    def init(self, key: jax.Array) -> dict[str, dict[str, jax.Array]]:
        return glorot_init(self.param_shapes(), key)


def build_network(
    cfg: MLPConfig | CNNConfig, *, input_shape: tuple[int, ...], num_classes: int
) -> Network:
    """The network that ``cfg`` describes, for the data's input shape and classes.

    Raises:
        ConfigError: a CNN over inputs that are not images, or too small for its layers.
    """
    if isinstance(cfg, CNNConfig):
        return build_cnn(cfg, input_shape=input_shape, num_classes=num_classes)
    return MLP(
        sizes=(math.prod(input_shape), *cfg.hidden, num_classes), activation=cfg.activation.value
    )


def build_cnn(cfg: CNNConfig, *, input_shape: tuple[int, ...], num_classes: int) -> CNN:
    """The :class:`CNN` of ``cfg`` for images of ``input_shape`` ``(height, width, channels)``."""
    if len(input_shape) != 3:
        raise ConfigError(
            f"architecture=cnn needs images (height, width, channels), but the data's inputs "
            f"have shape {input_shape}: use an image dataset (digits, mnist, fashion_mnist)"
        )
    net = CNN(
        input_shape=(input_shape[0], input_shape[1], input_shape[2]),
        filters=tuple(cfg.filters),
        kernel=cfg.kernel,
        pool=cfg.pool,
        padding=cfg.padding.value.upper(),
        dense=tuple(cfg.dense),
        num_classes=num_classes,
        activation=cfg.activation.value,
    )
    if min(net.feature_shape()[:2]) < 1:
        raise ConfigError(
            f"architecture=cnn with {len(cfg.filters)} conv layers of kernel {cfg.kernel}, "
            f"padding {cfg.padding.value} and pool {cfg.pool} leaves nothing of "
            f"{input_shape[0]}x{input_shape[1]} images: use architecture.padding=same, "
            "a smaller kernel or pool, or fewer filters"
        )
    return net


def num_params(net: Network) -> int:
    """Number of scalar weights and biases."""
    return sum(
        math.prod(shape) for roles in net.param_shapes().values() for shape in roles.values()
    )
