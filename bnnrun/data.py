"""Data sets as arrays: a seeded train/test split of features and integer labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

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
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str

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


def load_dataset(cfg: MoonsConfig) -> Dataset:
    """Build the data set that ``cfg.name`` names."""
    return LOADERS[cfg.name](cfg)
