"""The data a run fits: a seeded train/test (and validation) split of inputs and labels."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """A classification data set.

    Attributes:
        x_train: float32 inputs, shape ``[n_train, *input_shape]``.
        y_train: int32 labels in ``[0, num_classes)``, shape ``[n_train]``.
        x_test: float32 inputs, shape ``[n_test, *input_shape]``.
        y_test: int32 labels, shape ``[n_test]``.
        num_classes: number of classes.
        name: the data set's config name.
        x_val: float32 validation inputs ``[n_val, *input_shape]``, or None without a
            validation split.
        y_val: int32 validation labels ``[n_val]``, or None.
        class_names: a name per class, or None (then the class index names it).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])
