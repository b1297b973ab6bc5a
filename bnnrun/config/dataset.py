"""Schemas of ``conf/dataset/`` (and ``conf/ood/``): synthetic 2-D sets, image sets, tables
(CSV or Parquet), the UCI regression benchmark's files, and built-in regression data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from bnnrun.config.checks import require, require_split, split_sizes
from bnnrun.errors import ConfigError


def absolute(path: str) -> str:
    """``path`` made absolute against the working directory (``~`` expanded)."""
    return str(Path(path).expanduser().absolute())


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
        # The split is stratified: each part needs a point of each of the two classes.
        require_split(
            self.n_samples,
            self.test_fraction,
            key="dataset.test_fraction",
            per_part=2,
            what="points (one per class)",
            got=self.test_fraction,
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

#: Images of each digit 0-9 in scikit-learn's digits, which bound the stratified splits.
DIGITS_PER_CLASS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)

#: Rows of scikit-learn's diabetes data.
DIABETES_ROWS = 442


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
        self._check_splits()
        if self.train_size is not None:
            num_classes = IMAGE_CLASSES if self.classes is None else len(self.classes)
            require(
                self.train_size >= num_classes,
                "dataset.train_size",
                f"an integer >= {num_classes} (one image per class: the subset is stratified) "
                "or null",
                self.train_size,
            )

    def _check_splits(self) -> None:
        """Each stratified split (test, then validation, then the ``train_size`` subset) must
        leave one image per class in each of its parts, as scikit-learn requires."""
        classes = range(IMAGE_CLASSES) if self.classes is None else self.classes
        k, n = len(classes), sum(DIGITS_PER_CLASS[c] for c in classes)
        what = "images (one per class)"
        require_split(
            n,
            self.test_fraction,
            key="dataset.test_fraction",
            per_part=k,
            what=what,
            got=self.test_fraction,
        )
        rest = split_sizes(n, self.test_fraction)[0]
        if self.validation_fraction > 0:
            require_split(
                rest,
                self.validation_fraction / (1 - self.test_fraction),
                key="dataset.validation_fraction",
                per_part=k,
                what=what,
                got=self.validation_fraction,
            )
            rest = split_sizes(rest, self.validation_fraction / (1 - self.test_fraction))[0]
        if self.train_size is not None and self.train_size < rest:
            require(
                rest - self.train_size >= k,
                "dataset.train_size",
                f"at least {rest}, or at most {rest - k}: the stratified subset of the {rest} "
                f"training images must leave out at least one per class",
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


class TaskChoice(StrEnum):
    """What a table's target is: ``auto`` decides from the target column (see
    :class:`TableConfig`)."""

    auto = "auto"
    classification = "classification"
    regression = "regression"


class MissingValues(StrEnum):
    """What to do with rows that have a missing value in a used column."""

    refuse = "refuse"
    drop = "drop"


def _check_fraction(value: float) -> None:
    require(0 < value < 1, "dataset.test_fraction", "in (0, 1)", value)


@dataclass
class TableConfig:
    """A table from a CSV or Parquet file (read with pandas; the suffix tells which: ``.csv``,
    ``.tsv``, either compressed, or ``.parquet`` / ``.pq``).

    Feature columns of text (or pandas' category type) are one-hot encoded, with the levels of
    the training split (a level seen only in the test split encodes as all zeros); numeric
    columns are used as numbers, boolean ones as 0/1. A text column that mixes numbers and
    words, has more than ``max_categories`` distinct values, or a column of dates or other
    objects, is refused.

    ``task=auto`` picks classification for a text, boolean or categorical target, and for an
    integer-valued target (integers, or floats that are all whole numbers) with 2 distinct
    values, or at most 20 distinct values and at least 10 rows per distinct value; anything
    else is regression. The pick is logged and recorded as the data set's task. Class names
    are the target's distinct values, sorted.

    The split is seeded and random (stratified for classification) unless ``train_index``
    and ``test_index`` name files of row numbers. Row numbers count the table's data rows
    from 0 (a CSV's header is not a row).

    Attributes:
        name: Which data set (set by the option).
        path: The CSV or Parquet file; relative paths start at the working directory.
        target: The column to predict.
        features: The input columns; null: every column but the target.
        categorical: Columns one-hot encoded whatever their type (e.g. integer codes); text
            columns are one-hot encoded anyway.
        max_categories: A text feature column with more distinct values than this is refused
            (free text or identifiers, not categories), unless listed in ``categorical``.
        task: ``auto``, ``classification`` or ``regression``; ``auto`` decides from the target
            column as described above.
        missing: ``refuse`` rows with a missing value in a used column (the error gives their
            count and first row numbers) or ``drop`` them (the count is recorded).
        test_fraction: Fraction of the rows held out as the test set (random split; stratified
            for classification). Unused with index files.
        train_index: A file of whitespace-separated row numbers of the training split; with
            ``test_index``, replaces the random split.
        test_index: A file of whitespace-separated row numbers of the test split.
        standardize: Scale numeric feature columns to mean 0 and std 1 by the training
            split's statistics (one-hot and boolean columns stay 0/1). A regression target is
            always standardised (metrics are reported in its original units).
        seed: Seed of the random split.
    """

    name: str = "table"
    path: str = MISSING
    target: str = MISSING
    features: list[str] | None = None
    categorical: list[str] = field(default_factory=list)
    max_categories: int = 50
    task: TaskChoice = TaskChoice.auto
    missing: MissingValues = MissingValues.refuse
    test_fraction: float = 0.2
    train_index: str | None = None
    test_index: str | None = None
    standardize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        # Built in Python rather than composed, the enums may arrive as their values.
        self.task, self.missing = TaskChoice(self.task), MissingValues(self.missing)
        # Absolute, so that a finished run reloads from any working directory.
        self.path = absolute(self.path)
        self.train_index = None if self.train_index is None else absolute(self.train_index)
        self.test_index = None if self.test_index is None else absolute(self.test_index)
        _check_fraction(self.test_fraction)
        if (self.train_index is None) != (self.test_index is None):
            given, other = (
                ("train_index", "test_index")
                if self.test_index is None
                else ("test_index", "train_index")
            )
            raise ConfigError(
                f"dataset.{given} is set but dataset.{other} is not: give both index files, "
                "or neither for a random split"
            )
        require(
            self.max_categories >= 2,
            "dataset.max_categories",
            "an integer >= 2",
            self.max_categories,
        )
        if self.features is not None:
            require(
                len(self.features) >= 1 and len(set(self.features)) == len(self.features),
                "dataset.features",
                "a list of distinct column names, or null for every column but the target",
                self.features,
            )
            require(
                self.target not in self.features,
                "dataset.features",
                f"a list of columns without the target {self.target!r}",
                self.features,
            )
        require(
            self.target not in self.categorical,
            "dataset.categorical",
            f"a list of feature columns; the target {self.target!r} is not a feature",
            self.categorical,
        )
        if self.features is not None:
            stray = [c for c in self.categorical if c not in self.features]
            require(
                not stray,
                "dataset.categorical",
                f"a list of columns of dataset.features; {stray} are not among them",
                self.categorical,
            )


@dataclass
class UCIConfig:
    """One split of a regression data set in the UCI benchmark's published format
    (Hernandez-Lobato & Adams 2015; Gal & Ghahramani 2016, ``UCI_Datasets/<name>``).

    The directory (or its ``data/`` subdirectory) holds ``data.txt`` (whitespace-separated
    numbers, one row per line), ``index_features.txt`` and ``index_target.txt`` (column
    numbers, from 0), and ``index_train_<i>.txt`` / ``index_test_<i>.txt`` (row numbers, from
    0, of split ``i``). Features and target are standardised by the training split's
    statistics, as the published protocol does (a feature constant on the training split is
    centred and left unscaled).

    Attributes:
        name: Which data set (set by the option).
        path: The data set's directory, e.g. ``UCI_Datasets/yacht``.
        split: Which split to load: ``i`` of ``index_train_<i>.txt`` (usually 0-19).
    """

    name: str = "uci"
    path: str = MISSING
    split: int = 0

    def __post_init__(self) -> None:
        require(self.split >= 0, "dataset.split", "an integer >= 0", self.split)
        self.path = absolute(self.path)


@dataclass
class ToyRegressionConfig:
    """A 1-D regression problem with a gap between two clusters of inputs, after Foong et al.
    2019 ("'In-Between' Uncertainty in Bayesian Neural Networks").

    Training inputs are drawn uniformly from [-1, -0.7] and [0.5, 1], half from each; targets
    are ``y = -(x + 0.5) sin(3 pi x) + noise``, Gaussian noise of standard deviation ``noise``.
    The test inputs are evenly spaced over [-1, 1], the gap included, with noisy targets drawn
    the same way. Inputs are not rescaled; the target is standardised by the training
    split's statistics.

    Attributes:
        name: Which data set (set by the option).
        n_samples: Training points, half in each cluster.
        n_test: Test points, evenly spaced over [-1, 1].
        noise: Standard deviation of the Gaussian noise on every target.
        seed: Seed of the inputs and the noise.
    """

    name: str = "toy_regression"
    n_samples: int = 100
    n_test: int = 200
    noise: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.n_samples >= 4, "dataset.n_samples", "an integer >= 4", self.n_samples)
        require(self.n_test >= 1, "dataset.n_test", "an integer >= 1", self.n_test)
        require(self.noise >= 0, "dataset.noise", ">= 0", self.noise)


@dataclass
class DiabetesConfig:
    """scikit-learn's bundled diabetes data (442 patients, 10 features, a disease progression
    score a year later), split at random, seeded.

    Attributes:
        name: Which data set (set by the option).
        test_fraction: Fraction of the patients held out as the test set.
        standardize: Scale every feature to mean 0 and std 1 by the training split's
            statistics (the target is always standardised).
        seed: Seed of the split.
    """

    name: str = "diabetes"
    test_fraction: float = 0.2
    standardize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        _check_fraction(self.test_fraction)
        require_split(
            DIABETES_ROWS,
            self.test_fraction,
            key="dataset.test_fraction",
            per_part=2,
            what="rows",
            got=self.test_fraction,
        )


#: Data sets whose task is regression whatever their settings, by config name.
REGRESSION_DATASETS = frozenset({"uci", "toy_regression", "diabetes"})


def configured_task(cfg: Any) -> str | None:
    """The task a dataset node asks for before any data is read: ``"regression"``,
    ``"classification"``, or None where the data decide (a table with ``task=auto``)."""
    if cfg.name in REGRESSION_DATASETS:
        return "regression"
    task = getattr(cfg, "task", None)
    if task is None:
        return "classification"
    return None if task == TaskChoice.auto else str(task)
