"""Schemas of ``conf/dataset/`` (and ``conf/ood/``): synthetic 2-D sets and image sets."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from bnnrun.config.checks import require
from bnnrun.errors import ConfigError


@dataclass
class MoonsConfig:
    """Two interleaving half-circles (``sklearn.datasets.make_moons``).

    Attributes:
        name: Which data set (set by the option).
        n_samples: Points generated, train and test together.
        noise: Standard deviation of the Gaussian noise added to every point.
        test_fraction: Fraction of the points held out as the test set (stratified split).
        standardize: Scale both inputs to mean 0 and std 1, by the training split's statistics.
        seed: Seed of the generated points and of the train/test split.
    """

    name: str = "moons"
    n_samples: int = 1000
    noise: float = 0.3
    test_fraction: float = 0.3
    standardize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.n_samples >= 4, "dataset.n_samples", "an integer >= 4", self.n_samples)
        require(self.noise >= 0, "dataset.noise", ">= 0", self.noise)
        require(
            0 < self.test_fraction < 1, "dataset.test_fraction", "in (0, 1)", self.test_fraction
        )


@dataclass
class CirclesConfig(MoonsConfig):
    """A large circle containing a smaller one (``sklearn.datasets.make_circles``).

    Attributes:
        name: Which data set (set by the option).
        factor: Radius of the inner circle relative to the outer one.
    """

    name: str = "circles"
    factor: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 < self.factor < 1, "dataset.factor", "in (0, 1)", self.factor)


#: Every image data set (digits, MNIST, Fashion-MNIST) has ten classes, labelled 0-9.
IMAGE_CLASSES = 10


def _check_classes(classes: list[int] | None, dataset: str) -> None:
    """``dataset.classes``: null, or at least two distinct labels of the data set."""
    if classes is None:
        return
    require(
        len(classes) >= 2 and len(set(classes)) == len(classes),
        "dataset.classes",
        f"a list of at least 2 distinct classes of {dataset} (0-{IMAGE_CLASSES - 1}), or null",
        classes,
    )
    missing = [c for c in classes if not 0 <= c < IMAGE_CLASSES]
    if missing:
        raise ConfigError(
            f"dataset.classes={classes!r} is not allowed: {dataset} has no class "
            f"{', '.join(map(str, missing))}; its classes are 0-{IMAGE_CLASSES - 1}"
        )


@dataclass
class DigitsConfig:
    """scikit-learn's bundled 8x8 digits (1,797 images), split train / validation / test,
    stratified and seeded; pixels scaled from 0..16 to [0, 1].

    ``classes`` keeps only those digits, relabelled ``0 .. k-1`` in the order given, before
    the split (null: all ten); ``train_size`` keeps a stratified, seeded subset of that many
    training images (null: all).

    Attributes:
        name: Which data set (set by the option).
        test_fraction: Fraction of all images held out as the test set.
        validation_fraction: Fraction of all images held out for validation, from the training
            part.
        classes: Keep only these digits, relabelled ``0 .. k-1`` in this order; null: all ten.
        train_size: Keep a stratified, seeded subset of this many training images; null: all.
        seed: Seed of the splits and of the ``train_size`` subset.
    """

    name: str = "digits"
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    classes: list[int] | None = None
    train_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        require(
            0 < self.test_fraction < 1, "dataset.test_fraction", "in (0, 1)", self.test_fraction
        )
        require(
            0 <= self.validation_fraction < 1 - self.test_fraction,
            "dataset.validation_fraction",
            "in [0, 1 - test_fraction)",
            self.validation_fraction,
        )
        _check_classes(self.classes, self.name)
        if self.train_size is not None:
            num_classes = IMAGE_CLASSES if self.classes is None else len(self.classes)
            require(
                self.train_size >= num_classes,
                "dataset.train_size",
                f"an integer >= {num_classes} (one image per class: the subset is stratified) "
                "or null",
                self.train_size,
            )


@dataclass
class IDXImagesConfig:
    """MNIST-format images from the four gzipped IDX files (train and t10k, images and labels).

    The validation images are a seeded random subset of the training file; the test images are
    the t10k file. ``train_size`` and ``test_size`` keep a seeded random subset (null: all).
    ``classes`` keeps only those classes of both files, relabelled ``0 .. k-1`` in the order
    given, before anything else (so the sizes count images of those classes; null: all ten).
    Pixels are scaled from 0..255 to [0, 1].

    Attributes:
        name: Which data set: ``mnist`` or ``fashion_mnist`` (set by the option).
        data_dir: Folder holding the four IDX files; null: the folder named by the data set's
            environment variable, the system location, then bnnrun's cache.
        download: Download missing files into bnnrun's cache, each checked against its
            published SHA-256.
        validation_size: Validation images, a seeded random subset of the training file.
        train_size: Keep a seeded random subset of this many training images; null: all the
            rest.
        test_size: Keep a seeded random subset of this many test images; null: all.
        classes: Keep only these classes of both files, relabelled ``0 .. k-1`` in this order;
            null: all ten.
        seed: Seed of the validation split and of the size subsets.
    """

    name: str = MISSING
    data_dir: str | None = None
    download: bool = True
    validation_size: int = 10_000
    train_size: int | None = None
    test_size: int | None = None
    classes: list[int] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check_classes(self.classes, self.name)
        require(
            0 <= self.validation_size < 60_000,
            "dataset.validation_size",
            "an integer in [0, 60000)",
            self.validation_size,
        )
        for key in ("train_size", "test_size"):
            value = getattr(self, key)
            if value is not None:
                require(value >= 1, f"dataset.{key}", "an integer >= 1 or null", value)


#: Input shape ``(height, width, channels)`` of each image data set, by config name.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (8, 8, 1),
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
}
