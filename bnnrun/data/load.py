"""The data set a config names, by its loader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bnnrun.data.dataset import Dataset
from bnnrun.data.images import load_digits, load_idx_images
from bnnrun.data.regression import load_diabetes, load_toy_regression
from bnnrun.data.synthetic import load_circles, load_moons
from bnnrun.data.table import load_table
from bnnrun.data.uci import load_uci

LOADERS: dict[str, Callable[[Any], Dataset]] = {
    "moons": load_moons,
    "circles": load_circles,
    "digits": load_digits,
    "mnist": load_idx_images,
    "fashion_mnist": load_idx_images,
    "table": load_table,
    "uci": load_uci,
    "toy_regression": load_toy_regression,
    "diabetes": load_diabetes,
}


def load_dataset(cfg: Any) -> Dataset:
    """Build the data set that ``cfg.name`` names (a node of ``conf/dataset/`` or ``conf/ood/``)."""
    return LOADERS[cfg.name](cfg)
