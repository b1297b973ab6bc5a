"""scikit-learn's 2-D generators, moons and circles, with a seeded, stratified train/test split."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_circles, make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bnnrun.config import CirclesConfig, MoonsConfig
from bnnrun.data.dataset import Dataset


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
