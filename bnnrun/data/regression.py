"""Built-in regression data that needs no file: a 1-D problem with a gap in its inputs
(``dataset=toy_regression``) and scikit-learn's diabetes data (``dataset=diabetes``).

Like every regression :class:`~bnnrun.data.dataset.Dataset`, the targets are stored
standardised by the training split's mean and standard deviation (``y_loc``, ``y_scale``).
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_diabetes as sklearn_diabetes
from sklearn.model_selection import train_test_split

from bnnrun.config.dataset import DiabetesConfig, ToyRegressionConfig
from bnnrun.data.dataset import Dataset
from bnnrun.data.table import standardize

#: The two clusters of training inputs of ``toy_regression``; the gap lies between them.
TOY_CLUSTERS = ((-1.0, -0.7), (0.5, 1.0))
#: The range of ``toy_regression``'s test inputs (evenly spaced), the gap included.
TOY_TEST_RANGE = (-1.0, 1.0)


def toy_function(x: np.ndarray) -> np.ndarray:
    """The noiseless curve of ``toy_regression``: ``-(x + 0.5) sin(3 pi x)``."""
    return -(x + 0.5) * np.sin(3 * np.pi * x)


def _regression(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    name: str,
    feature_names: tuple[str, ...] | None,
) -> Dataset:
    """A regression Dataset: float32 arrays, the target standardised by the training split."""
    y_loc, y_scale = float(y_train.mean()), float(y_train.std())
    return Dataset(
        x_train=x_train.astype(np.float32),
        y_train=((y_train - y_loc) / y_scale).astype(np.float32),
        x_test=x_test.astype(np.float32),
        y_test=((y_test - y_loc) / y_scale).astype(np.float32),
        num_classes=0,
        name=name,
        task="regression",
        y_loc=y_loc,
        y_scale=y_scale,
        feature_names=feature_names,
    )


def load_toy_regression(cfg: ToyRegressionConfig) -> Dataset:
    """``n_samples`` training inputs, half drawn uniformly from each of :data:`TOY_CLUSTERS`,
    and ``n_test`` test inputs evenly spaced over :data:`TOY_TEST_RANGE`; targets are
    :func:`toy_function` plus Gaussian noise of standard deviation ``noise``. Inputs
    ``[n, 1]`` are not rescaled."""
    rng = np.random.default_rng(cfg.seed)
    first = cfg.n_samples // 2
    (a_lo, a_hi), (b_lo, b_hi) = TOY_CLUSTERS
    x_train = np.concatenate(
        [rng.uniform(a_lo, a_hi, first), rng.uniform(b_lo, b_hi, cfg.n_samples - first)]
    )
    x_test = np.linspace(*TOY_TEST_RANGE, cfg.n_test)
    y_train = toy_function(x_train) + cfg.noise * rng.standard_normal(len(x_train))
    y_test = toy_function(x_test) + cfg.noise * rng.standard_normal(len(x_test))
    return _regression(
        x_train[:, None], y_train, x_test[:, None], y_test, name=cfg.name, feature_names=("x",)
    )


def load_diabetes(cfg: DiabetesConfig) -> Dataset:
    """scikit-learn's diabetes data in its original units (``scaled=False``): 442 rows of 10
    features, split at random (seeded); features standardised by the training split if
    ``cfg.standardize``."""
    bunch = sklearn_diabetes(scaled=False)
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.float64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=cfg.test_fraction, random_state=cfg.seed
    )
    if cfg.standardize:
        x_train, (x_test,), _, _ = standardize(x_train, [x_test])
    return _regression(
        x_train,
        y_train,
        x_test,
        y_test,
        name=cfg.name,
        feature_names=tuple(bunch.feature_names),
    )
