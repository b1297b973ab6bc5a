"""Data sets as arrays: a seeded train/test split of features and integer labels.

Image data sets (digits, MNIST, Fashion-MNIST) are loaded by :mod:`bnnrun.image_data`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from sklearn.datasets import make_circles, make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bnnrun.config import CirclesConfig, MoonsConfig


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


def _split(x: np.ndarray, y: np.ndarray, cfg: MoonsConfig, name: str) -> Dataset:
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=cfg.test_fraction, random_state=cfg.seed, stratify=y
    )
    if cfg.standardize:  # statistics of the training split only
        scaler = StandardScaler().fit(x_tr)
        x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
    return Dataset(
        x_train=x_tr.astype(np.float32),
        y_train=y_tr.astype(np.int32),
        x_test=x_te.astype(np.float32),
        y_test=y_te.astype(np.int32),
        num_classes=int(y.max()) + 1,
        name=name,
    )


def load_moons(cfg: MoonsConfig) -> Dataset:
    x, y = make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=cfg.seed)
    return _split(x, y, cfg, "moons")


def load_circles(cfg: CirclesConfig) -> Dataset:
    x, y = make_circles(
        n_samples=cfg.n_samples, noise=cfg.noise, factor=cfg.factor, random_state=cfg.seed
    )
    return _split(x, y, cfg, "circles")


LOADERS: dict[str, Callable[..., Dataset]] = {"moons": load_moons, "circles": load_circles}


def load_dataset(cfg: Any) -> Dataset:
    """Build the data set that ``cfg.name`` names."""
    from bnnrun import image_data  # it builds on Dataset, defined here

    loaders = {
        **LOADERS,
        "digits": image_data.load_digits,
        "mnist": image_data.load_idx_images,
        "fashion_mnist": image_data.load_idx_images,
    }
    return loaders[cfg.name](cfg)
