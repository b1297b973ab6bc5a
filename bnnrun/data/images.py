"""Image data sets as arrays: scikit-learn's digits, MNIST and Fashion-MNIST.

Images are float32 NHWC arrays ``[n, height, width, 1]`` with pixels in [0, 1]; labels are int32.
Every split is seeded by ``dataset.seed``: train / validation / test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits as sklearn_digits
from sklearn.model_selection import train_test_split

from bnnrun.config import DigitsConfig, IDXImagesConfig
from bnnrun.data.dataset import Dataset
from bnnrun.data.files import IDX_FILES, locate
from bnnrun.data.idx import read_idx, read_idx_shape
from bnnrun.errors import DataError

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "digits": tuple(str(d) for d in range(10)),
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}


def _images(pixels: np.ndarray, max_value: float) -> np.ndarray:
    """``[n, h, w]`` raw pixels -> float32 ``[n, h, w, 1]`` in [0, 1]."""
    return (pixels.astype(np.float32) / np.float32(max_value))[..., None]


def select_classes(
    x: np.ndarray, y: np.ndarray, classes: list[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The examples of ``classes`` only, relabelled ``classes[i] -> i`` (all, unchanged, if None).

    Args:
        x: inputs ``[n, ...]``; y: integer labels ``[n]``.
    """
    if classes is None:
        return x, y
    keep = np.isin(y, classes)
    relabel = np.zeros(max(int(y.max(initial=0)), *classes) + 1, dtype=np.int32)
    relabel[list(classes)] = np.arange(len(classes), dtype=np.int32)
    return x[keep], relabel[y[keep]]


def class_names(name: str, classes: list[int] | None) -> tuple[str, ...]:
    """The names of the data set's classes, in the order of ``classes`` (all if None)."""
    names = CLASS_NAMES[name]
    return names if classes is None else tuple(names[c] for c in classes)


def load_digits(cfg: DigitsConfig) -> Dataset:
    """The 1,797 8x8 digits (those of ``cfg.classes``), split stratified into train /
    validation / test; ``cfg.train_size`` then keeps a stratified subset of the training part."""
    bunch = sklearn_digits()
    x, y = select_classes(_images(bunch.images, 16.0), bunch.target.astype(np.int32), cfg.classes)
    x_rest, x_te, y_rest, y_te = train_test_split(
        x, y, test_size=cfg.test_fraction, random_state=cfg.seed, stratify=y
    )
    x_val = x_rest[:0]
    y_val = y_rest[:0]
    if cfg.validation_fraction > 0:
        x_rest, x_val, y_rest, y_val = train_test_split(
            x_rest,
            y_rest,
            test_size=cfg.validation_fraction / (1 - cfg.test_fraction),
            random_state=cfg.seed,
            stratify=y_rest,
        )
    if cfg.train_size is not None and cfg.train_size < len(y_rest):
        x_rest, _, y_rest, _ = train_test_split(
            x_rest, y_rest, train_size=cfg.train_size, random_state=cfg.seed, stratify=y_rest
        )
    names = class_names("digits", cfg.classes)
    return Dataset(
        x_train=x_rest,
        y_train=y_rest,
        x_test=x_te,
        y_test=y_te,
        num_classes=len(names),
        name="digits",
        x_val=x_val,
        y_val=y_val,
        class_names=names,
    )


def read_idx_pair(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[n, 28, 28]`` and labels ``[n]`` (uint8) of ``part`` (``train`` or ``test``).

    Raises:
        DataError: a file is corrupt, or images and labels do not match.
    """
    images = read_idx(folder / IDX_FILES[f"{part}_images"], ndim=3)
    labels = read_idx(folder / IDX_FILES[f"{part}_labels"], ndim=1)
    if len(images) != len(labels):
        raise DataError(
            f"{folder}: {len(images)} {part} images but {len(labels)} labels; the files do not "
            "belong together"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{folder}: {part} labels go up to {labels.max()}, not 0-9")
    return images, labels


def require_same_image_size(folder: Path, train: tuple[int, ...], test: tuple[int, ...]) -> None:
    """Refuse training and test images of different sizes (``[n, rows, cols]`` shapes): a
    network fitted to one cannot predict the other.

    Raises:
        DataError: naming both sizes and the folder.
    """
    if tuple(train[1:]) != tuple(test[1:]):
        raise DataError(
            f"{folder}: the training images are {train[1]}x{train[2]} pixels but the test "
            f"images {test[1]}x{test[2]}; the files do not belong together"
        )


def check_idx_folder(folder: Path) -> None:
    """Check from the four files' headers alone (without decompressing the images) that they
    can make a data set: images and labels of each part agree in number, and training and
    test images in size. What a run checks before it starts; loading checks every byte.

    Raises:
        DataError: a header is not an IDX one, or the files do not belong together.
    """
    shapes = {}
    for part in ("train", "test"):
        images = read_idx_shape(folder / IDX_FILES[f"{part}_images"], ndim=3)
        (labels,) = read_idx_shape(folder / IDX_FILES[f"{part}_labels"], ndim=1)
        if images[0] != labels:
            raise DataError(
                f"{folder}: {images[0]} {part} images but {labels} labels; the files do not "
                "belong together"
            )
        shapes[part] = images
    require_same_image_size(folder, shapes["train"], shapes["test"])


def _subset(n: int, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a random subset of ``size`` of ``n`` items (all if ``size`` is None)."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size, replace=False))


def load_idx_images(cfg: IDXImagesConfig, *, folder: Path | None = None) -> Dataset:
    """MNIST or Fashion-MNIST from its IDX files (:func:`bnnrun.data.files.locate` finds them
    unless ``folder`` is given): the seeded validation split comes from the training file."""
    if folder is None:
        folder = locate(cfg.name, data_dir=cfg.data_dir, allow_download=cfg.download)
    x_all, y_all = select_classes(*read_idx_pair(folder, "train"), cfg.classes)
    x_te, y_te = select_classes(*read_idx_pair(folder, "test"), cfg.classes)
    require_same_image_size(folder, x_all.shape, x_te.shape)
    if cfg.validation_size >= len(y_all):
        of = "" if cfg.classes is None else f" of classes {cfg.classes}"
        raise DataError(
            f"dataset.validation_size={cfg.validation_size} leaves no training images of the "
            f"{len(y_all)}{of} in {folder}"
        )
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(len(y_all))
    val, rest = perm[: cfg.validation_size], np.sort(perm[cfg.validation_size :])
    train = rest[_subset(len(rest), cfg.train_size, rng)]
    test = _subset(len(y_te), cfg.test_size, rng)
    names = class_names(cfg.name, cfg.classes)
    return Dataset(
        x_train=_images(x_all[train], 255.0),
        y_train=y_all[train].astype(np.int32),
        x_test=_images(x_te[test], 255.0),
        y_test=y_te[test].astype(np.int32),
        num_classes=len(names),
        name=cfg.name,
        x_val=_images(x_all[np.sort(val)], 255.0),
        y_val=y_all[np.sort(val)].astype(np.int32),
        class_names=names,
    )
