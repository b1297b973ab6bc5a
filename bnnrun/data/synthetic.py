"""scikit-learn's 2-D generators, moons and circles, with a seeded, stratified train/test split.

The points, the split and the standardisation are scikit-learn's (``make_moons``,
``make_circles``, ``train_test_split(..., stratify=y)``, ``StandardScaler``), computed here
operation for operation with NumPy's ``RandomState``: the arrays are bit-identical to
scikit-learn's (the tests compare them), and a run on these data sets does not import
scikit-learn, which with SciPy and pandas took about a second of every run
(``bench/fixed_cost.py``).
"""

from __future__ import annotations

from math import ceil

import numpy as np

from bnnrun.config import CirclesConfig, MoonsConfig
from bnnrun.data.dataset import Dataset


def _shuffle_and_noise(
    x: np.ndarray, y: np.ndarray, *, noise: float, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """The generators' last steps: shuffle the points, then add Gaussian noise."""
    order = np.arange(len(y))
    rng.shuffle(order)
    x, y = x[order], y[order]
    x += rng.normal(scale=noise, size=x.shape)
    return x, y


def _labels(n_out: int, n_in: int) -> np.ndarray:
    return np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])


def make_moons(n_samples: int, *, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``sklearn.datasets.make_moons(n_samples, noise=noise, random_state=seed)``: points
    ``[n, 2]`` on two interleaved half circles, and their labels ``[n]``."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    x = np.vstack(
        [
            np.append(np.cos(outer), 1 - np.cos(inner)),
            np.append(np.sin(outer), 1 - np.sin(inner) - 0.5),
        ]
    ).T
    return _shuffle_and_noise(x, _labels(n_out, n_in), noise=noise, rng=np.random.RandomState(seed))


def make_circles(
    n_samples: int, *, noise: float, factor: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``sklearn.datasets.make_circles(n_samples, noise=noise, factor=factor,
    random_state=seed)``: a circle ``[n, 2]`` around a smaller one, and their labels ``[n]``."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    inner = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    x = np.vstack(
        [
            np.append(np.cos(outer), np.cos(inner) * factor),
            np.append(np.sin(outer), np.sin(inner) * factor),
        ]
    ).T
    return _shuffle_and_noise(x, _labels(n_out, n_in), noise=noise, rng=np.random.RandomState(seed))


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Draws per class, in proportion to ``counts``, the remainder to the largest fractional
    parts, ties broken at random (scikit-learn's ``_approximate_mode``)."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (ties,) = np.where(remainder == value)
            now = min(len(ties), need)
            floored[rng.choice(ties, size=now, replace=False)] += 1
            need -= now
            if need == 0:
                break
    return floored.astype(int)


def stratified_split(
    y: np.ndarray, *, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices, stratified by ``y`` (scikit-learn's ``train_test_split(...,
    test_size=test_fraction, random_state=seed, stratify=y)``)."""
    n_test = ceil(test_fraction * len(y))
    n_train = len(y) - n_test
    if n_train == 0:
        raise ValueError(
            f"With n_samples={len(y)}, test_size={test_fraction} and train_size=None, the "
            "resulting train set will be empty. Adjust any of the aforementioned parameters."
        )
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ValueError(
            "The least populated classes in y have only 1 member, which is too few. The "
            "minimum number of groups for any class cannot be less than 2. Classes with too "
            f"few members are: {classes[counts < 2].tolist()}"
        )
    for size, what in ((n_train, "train_size"), (n_test, "test_size")):
        if size < len(classes):
            raise ValueError(
                f"The {what} = {size} should be greater or equal to the number of classes = "
                f"{len(classes)}"
            )
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for i in range(len(classes)):
        members = by_class[i].take(rng.permutation(counts[i]), mode="clip")
        train.extend(members[: n_i[i]])
        test.extend(members[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both splits scaled by the training split's mean and standard deviation, a (nearly)
    constant feature's scale taken as 1 (scikit-learn's ``StandardScaler``)."""
    n = x_train.shape[0]
    total = np.sum(x_train, axis=0)
    mean = total / n
    # Two-pass variance with Chan, Golub and LeVeque's correction term, as scikit-learn.
    centred = x_train - total / n
    correction = np.sum(centred, axis=0)
    var = (np.sum(centred**2, axis=0) - correction**2 / n) / n
    eps = np.finfo(np.float64).eps
    scale = np.sqrt(var)
    scale[var <= n * eps * var + (n * mean * eps) ** 2] = 1.0
    return (x_train - mean) / scale, (x_test - mean) / scale


def _split(x: np.ndarray, y: np.ndarray, cfg: MoonsConfig, name: str) -> Dataset:
    train, test = stratified_split(y, test_fraction=cfg.test_fraction, seed=cfg.seed)
    x_tr, x_te, y_tr, y_te = x[train], x[test], y[train], y[test]
    if cfg.standardize:  # statistics of the training split only
        x_tr, x_te = standardize(x_tr, x_te)
    return Dataset(
        x_train=x_tr.astype(np.float32),
        y_train=y_tr.astype(np.int32),
        x_test=x_te.astype(np.float32),
        y_test=y_te.astype(np.int32),
        num_classes=int(y.max()) + 1,
        name=name,
    )


def load_moons(cfg: MoonsConfig) -> Dataset:
    x, y = make_moons(cfg.n_samples, noise=cfg.noise, seed=cfg.seed)
    return _split(x, y, cfg, "moons")


def load_circles(cfg: CirclesConfig) -> Dataset:
    x, y = make_circles(cfg.n_samples, noise=cfg.noise, factor=cfg.factor, seed=cfg.seed)
    return _split(x, y, cfg, "circles")
