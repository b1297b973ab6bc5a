"""The data a run fits: a seeded train/test (and validation) split of inputs and targets."""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

#: What a data set asks a model to predict: a class, or a real number.
Task = Literal["classification", "regression"]


class Dataset(NamedTuple):
    """A classification or a regression data set.

    For classification the targets are int32 labels in ``[0, num_classes)``. For regression
    they are float32 numbers, stored standardised by the training split's statistics: a
    target ``y`` is ``y * y_scale + y_loc`` in the original units (:meth:`y_original`), and
    ``num_classes`` is 0.

    Attributes:
        x_train: float32 inputs, shape ``[n_train, *input_shape]``.
        y_train: targets, shape ``[n_train]``: int32 labels (classification) or float32
            standardised numbers (regression).
        x_test: float32 inputs, shape ``[n_test, *input_shape]``.
        y_test: targets, shape ``[n_test]``, as ``y_train``.
        num_classes: number of classes; 0 for regression.
        name: the data set's config name.
        x_val: float32 validation inputs ``[n_val, *input_shape]``, or None without a
            validation split.
        y_val: validation targets ``[n_val]``, as ``y_train``, or None.
        class_names: a name per class, or None (then the class index names it); None for
            regression.
        task: ``"classification"`` or ``"regression"``.
        y_loc: regression only: the training targets' mean in original units (0.0 for
            classification).
        y_scale: regression only: the training targets' standard deviation in original units
            (1.0 for classification).
        feature_names: a name per input column of a table (``x_*`` of shape ``[n, d]``, one
            name per column; a one-hot column is named ``column=level``), or None.
        num_dropped: rows of the source left out because they had missing values
            (``dataset.missing=drop``); 0 otherwise.
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
    task: Task = "classification"
    y_loc: float = 0.0
    y_scale: float = 1.0
    feature_names: tuple[str, ...] | None = None
    num_dropped: int = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    def y_original(self, y: np.ndarray) -> np.ndarray:
        """Standardised regression targets (or predictive means) ``y`` in original units:
        ``y * y_scale + y_loc`` (a predictive scale converts by ``* y_scale`` alone)."""
        return np.asarray(y, np.float64) * self.y_scale + self.y_loc
