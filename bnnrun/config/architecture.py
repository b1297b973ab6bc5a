"""Schemas of ``conf/architecture/``: the MLP and the CNN."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bnnrun.config.checks import require


class Activation(StrEnum):
    tanh = "tanh"
    relu = "relu"
    gelu = "gelu"
    elu = "elu"
    silu = "silu"
    sigmoid = "sigmoid"
    softplus = "softplus"


@dataclass
class MLPConfig:
    """Fully connected network; the output layer's width is the likelihood's (one logit per
    class for ``categorical``, 1 or 2 for a regression).

    Attributes:
        name: Which network (set by the option).
        hidden: Widths of the hidden layers, from input to output.
        activation: Activation after every hidden layer (none after the output layer).
    """

    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [5, 5])
    activation: Activation = Activation.tanh

    def __post_init__(self) -> None:
        for width in self.hidden:
            require(width >= 1, "architecture.hidden", "a list of positive widths", self.hidden)


class Padding(StrEnum):
    same = "same"
    valid = "valid"


@dataclass
class CNNConfig:
    """Convolution + max-pool blocks, then dense layers (softmax output over the classes).

    One conv layer per entry of ``filters`` (``kernel x kernel``, stride 1, ``padding``), each
    followed by the activation and ``pool x pool`` max pooling; then one dense layer per entry
    of ``dense``. The defaults are the paper's MNIST network (with ``padding: valid``).

    Attributes:
        name: Which network (set by the option).
        filters: Output channels of each convolution layer, one layer per entry.
        kernel: Side of each square convolution kernel (stride 1).
        pool: Side of the max-pooling window after each convolution (stride = side).
        padding: ``same`` keeps each convolution's output size; ``valid`` shrinks it by
            ``kernel - 1`` (the paper's).
        dense: Widths of the dense layers between the convolutions and the output layer.
        activation: Activation after every convolution and hidden dense layer.
    """

    name: str = "cnn"
    filters: list[int] = field(default_factory=lambda: [32, 32])
    kernel: int = 5
    pool: int = 2
    padding: Padding = Padding.same
    dense: list[int] = field(default_factory=lambda: [64])
    activation: Activation = Activation.tanh

    def __post_init__(self) -> None:
        require(
            len(self.filters) >= 1 and all(f >= 1 for f in self.filters),
            "architecture.filters",
            "a non-empty list of positive channel counts",
            self.filters,
        )
        require(self.kernel >= 1, "architecture.kernel", "an integer >= 1", self.kernel)
        require(self.pool >= 1, "architecture.pool", "an integer >= 1", self.pool)
        for width in self.dense:
            require(width >= 1, "architecture.dense", "a list of positive widths", self.dense)
