"""moons and circles: ``dataset.standardize`` scales by the training split's statistics only, and
without it the points are scikit-learn's own, split stratified and seeded."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_config
from sklearn.datasets import make_circles, make_moons
from sklearn.preprocessing import StandardScaler

from bnnrun.data import load_dataset

GENERATORS = {
    "moons": lambda c: make_moons(n_samples=c.n_samples, noise=c.noise, random_state=c.seed),
    "circles": lambda c: make_circles(
        n_samples=c.n_samples, noise=c.noise, factor=c.factor, random_state=c.seed
    ),
}


def sorted_rows(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(x.T[::-1])]


@pytest.mark.parametrize("name", ["moons", "circles"])
def test_standardize_false_keeps_the_generators_points(name: str) -> None:
    cfg = make_config(f"dataset={name}", "dataset.standardize=false", "dataset.n_samples=200")
    data = load_dataset(cfg.dataset)
    x, y = GENERATORS[name](cfg.dataset)
    assert len(data.y_train) == 140 and len(data.y_test) == 60  # test_fraction 0.3
    # The same points, labels attached, split between train and test (float32, as the model).
    got = np.concatenate(
        [
            np.column_stack([data.x_train, data.y_train]),
            np.column_stack([data.x_test, data.y_test]),
        ]
    )
    want = np.column_stack([x, y]).astype(np.float32)
    np.testing.assert_array_equal(sorted_rows(got), sorted_rows(want))
    # Stratified: each class keeps its share in both splits.
    assert np.bincount(data.y_train).tolist() == [70, 70]
    assert np.bincount(data.y_test).tolist() == [30, 30]


@pytest.mark.parametrize("name", ["moons", "circles"])
def test_standardize_uses_the_training_splits_statistics(name: str) -> None:
    raw = load_dataset(make_config(f"dataset={name}", "dataset.standardize=false").dataset)
    std = load_dataset(make_config(f"dataset={name}").dataset)
    assert make_config(f"dataset={name}").dataset.standardize is True  # the default
    # Train: mean 0 and (population) std 1 per feature.
    np.testing.assert_allclose(std.x_train.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(std.x_train.std(axis=0), 1.0, rtol=1e-5)
    # Both splits are transformed by the raw training split's mean and std, computed here.
    x_tr, x_te = raw.x_train.astype(np.float64), raw.x_test.astype(np.float64)
    mean, scale = x_tr.mean(axis=0), x_tr.std(axis=0)
    np.testing.assert_allclose(std.x_train, (x_tr - mean) / scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.x_test, (x_te - mean) / scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        std.x_test, StandardScaler().fit(x_tr).transform(x_te), rtol=1e-5, atol=1e-6
    )
    # ... not by its own statistics, which would centre it too.
    assert np.abs(std.x_test.mean(axis=0)).max() > 1e-3
    np.testing.assert_array_equal(std.y_train, raw.y_train)
    np.testing.assert_array_equal(std.y_test, raw.y_test)
