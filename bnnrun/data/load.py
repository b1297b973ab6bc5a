"""The data set a config names, by its loader."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from bnnrun.data.dataset import Dataset
from bnnrun.data.synthetic import load_circles, load_moons


def _on_first_use(module: str, name: str) -> Callable[[Any], Dataset]:
    """The loader ``module.name``, imported when it first loads a data set: the image, table
    and regression loaders import scikit-learn and pandas, about a second that a run on
    moons or circles does not need (``bench/fixed_cost.py``)."""

    def load(cfg: Any) -> Dataset:
        return getattr(importlib.import_module(module), name)(cfg)

    load.__name__ = load.__qualname__ = name
    return load


LOADERS: dict[str, Callable[[Any], Dataset]] = {
    "moons": load_moons,
    "circles": load_circles,
    "digits": _on_first_use("bnnrun.data.images", "load_digits"),
    "mnist": _on_first_use("bnnrun.data.images", "load_idx_images"),
    "fashion_mnist": _on_first_use("bnnrun.data.images", "load_idx_images"),
    "table": _on_first_use("bnnrun.data.table", "load_table"),
    "uci": _on_first_use("bnnrun.data.uci", "load_uci"),
    "toy_regression": _on_first_use("bnnrun.data.regression", "load_toy_regression"),
    "diabetes": _on_first_use("bnnrun.data.regression", "load_diabetes"),
}


def load_dataset(cfg: Any) -> Dataset:
    """Build the data set that ``cfg.name`` names (a node of ``conf/dataset/`` or ``conf/ood/``)."""
    return LOADERS[cfg.name](cfg)
