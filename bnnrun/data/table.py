"""A data set from a table: a CSV or Parquet file read with pandas (``dataset=table``).

Rows are numbered from 0 in the file's order (a CSV's header is not a row); errors and split
index files use those numbers. What :func:`load_table` does, in order:

1. read the file (:func:`read_table`) and pick the target and feature columns;
2. with index files, keep the rows they name (:func:`read_row_numbers`, checked for range,
   repeats and overlap);
3. refuse a column that is neither numbers nor categories (:func:`feature_kind`);
4. refuse, or drop, rows with a missing value in a used column;
5. decide the task (:func:`auto_task` for ``task=auto``) and encode the target;
6. refuse a constant feature, a constant target, a target with one class;
7. split (seeded, stratified for classification; or the index files), one-hot encode text
   columns with the training split's levels, standardise by the training split.

Every refusal is a :class:`~bnnrun.errors.DataError` (or
:class:`~bnnrun.errors.ConfigError`) with one line naming the file, the column or rows, and
what is allowed.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder

from bnnrun.config.dataset import MissingValues, TableConfig, TaskChoice
from bnnrun.data.dataset import Dataset, Task
from bnnrun.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: File suffixes read as CSV, with their separator (each may end in a compression suffix).
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
#: Compression suffixes pandas reads a CSV through.
COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")
#: File suffixes read as Parquet.
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Python packages pandas reads Parquet with, in the order it tries them.
PARQUET_ENGINES = ("pyarrow", "fastparquet")
#: ``task=auto``: an integer-valued target is classification with at most this many values...
AUTO_MAX_CLASSES = 20
#: ... and at least this many rows per distinct value on average (or exactly 2 values).
AUTO_MIN_ROWS_PER_CLASS = 10
#: How many row numbers or values an error message shows.
SHOWN = 5

#: What a feature column is used as: numbers (standardised), indicators (0/1, kept as they
#: are: booleans) or categories (one-hot encoded).
Kind = Literal["numeric", "indicator", "categorical"]


def _py(value: object) -> object:
    """A NumPy scalar as the Python value it holds (its repr reads ``3``, not ``np.int64(3)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _rows(rows: Sequence[int] | np.ndarray) -> str:
    """``3, 10, 12, ...``: the first :data:`SHOWN` row numbers."""
    numbers = [int(r) for r in rows]
    return ", ".join(map(str, numbers[:SHOWN])) + (", ..." if len(numbers) > SHOWN else "")


# ---------------------------------------------------------------------------------- reading


def table_format(path: Path) -> Literal["csv", "parquet"]:
    """``csv`` or ``parquet``, by the file's suffix.

    Raises:
        ConfigError: the suffix is neither.
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in CSV_SUFFIXES:
        return "csv"
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    allowed = ", ".join([*CSV_SUFFIXES, *PARQUET_SUFFIXES])
    raise ConfigError(
        f"dataset.path={str(path)!r} is not allowed: dataset.path must be a CSV or Parquet "
        f"file, named by its suffix ({allowed}; a CSV may be compressed: "
        f"{', '.join(COMPRESSIONS)})"
    )


def parquet_engine() -> str | None:
    """The first installed Parquet engine pandas can use, or None."""
    for name in PARQUET_ENGINES:
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def read_table(path: str | Path) -> pd.DataFrame:
    """The table in ``path`` (CSV or Parquet, by suffix), rows numbered 0, 1, ... as its index
    and column names as strings.

    Raises:
        ConfigError: the suffix is neither CSV nor Parquet.
        DataError: the file is missing, unreadable, or Parquet without a Parquet engine.
    """
    path = Path(path).expanduser()
    kind = table_format(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"dataset.path={str(path)!r} {what}: it must be a CSV or Parquet file")
    try:
        if kind == "parquet":
            engine = parquet_engine()
            if engine is None:
                raise DataError(
                    f"{path}: reading Parquet needs pyarrow or fastparquet, and neither is "
                    "installed: `pip install pyarrow`, or save the table as CSV"
                )
            frame = pd.read_parquet(path, engine=engine)
        else:
            suffixes = [s.lower() for s in path.suffixes]
            sep = CSV_SUFFIXES[next(s for s in reversed(suffixes) if s in CSV_SUFFIXES)]
            frame = pd.read_csv(path, sep=sep)
    except DataError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read it as {kind.upper()}: {first}") from None
    except Exception as exc:  # the Parquet engines raise their own types
        raise DataError(f"{path}: cannot read it as {kind.upper()}: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: the table has no rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame.reset_index(drop=True)


def read_row_numbers(path: str | Path, *, what: str) -> np.ndarray:
    """Whole numbers from a text file, whitespace-separated, as int64 ``[k]`` (numbers
    written as floats, ``3.0`` or ``3.000e+00``, are accepted if whole).

    Args:
        what: names the file in errors, e.g. ``dataset.train_index`` or ``index_test_3.txt``.

    Raises:
        DataError: the file is missing, empty, or holds something other than whole numbers.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{what}: {path} does not exist")
    tokens = path.read_text().split()
    if not tokens:
        raise DataError(f"{what}: {path} holds no row numbers")
    values = np.empty(len(tokens), np.float64)
    for i, token in enumerate(tokens):
        try:
            values[i] = float(token)
        except ValueError:
            values[i] = np.nan
        if not (np.isfinite(values[i]) and values[i] == round(values[i])):
            raise DataError(
                f"{what}: {path} holds {token!r} (entry {i}): it must hold whole numbers, "
                "separated by whitespace"
            )
    return values.astype(np.int64)


def check_row_numbers(rows: np.ndarray, *, num_rows: int, what: str) -> None:
    """Raise if ``rows`` names a row outside ``0 .. num_rows - 1``, or one row twice."""
    bad = rows[(rows < 0) | (rows >= num_rows)]
    if bad.size:
        raise DataError(
            f"{what}: row {int(bad[0])} is out of range ({bad.size} such): the data have "
            f"{num_rows} rows, numbered 0-{num_rows - 1}"
        )
    values, counts = np.unique(rows, return_counts=True)
    if (counts > 1).any():
        twice = values[counts > 1]
        raise DataError(
            f"{what}: rows {_rows(twice)} appear more than once; each row may be named once"
        )


def check_disjoint(train: np.ndarray, test: np.ndarray, *, what: tuple[str, str]) -> None:
    """Raise if the row numbers ``train`` and ``test`` share a row."""
    both = np.intersect1d(train, test)
    if both.size:
        raise DataError(
            f"{what[0]} and {what[1]} share {both.size} rows ({_rows(both)}): a row may be in "
            "one split only"
        )


# ---------------------------------------------------------------------------------- columns


def _is_text(series: pd.Series) -> bool:
    return ptypes.is_string_dtype(series.dtype) or ptypes.is_object_dtype(series.dtype)


def _first_row(mask: pd.Series) -> int:
    return int(mask.index[mask.to_numpy()][0])


def feature_kind(series: pd.Series, *, forced: bool, max_categories: int, where: str) -> Kind:
    """How a column is used as input; ``forced`` (listed in ``dataset.categorical``) makes it
    categorical whatever its type.

    Raises:
        DataError: the column mixes numbers and text, is text with more than
            ``max_categories`` distinct values, or holds dates or other objects.
    """
    name, dtype = series.name, series.dtype
    values = series.dropna()
    if forced or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if ptypes.is_bool_dtype(dtype):
        return "indicator"
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return "numeric"
    if _is_text(series):
        if ptypes.is_object_dtype(dtype):  # Python objects: all numbers, all booleans, or text
            if values.map(lambda v: isinstance(v, bool | np.bool_)).all():
                return "indicator"
            numeric = values.map(lambda v: isinstance(v, int | float | np.number))
            if numeric.all() and not values.map(lambda v: isinstance(v, bool | np.bool_)).any():
                return "numeric"
            is_str = values.map(lambda v: isinstance(v, str))
        else:  # a string dtype holds text only
            is_str = pd.Series(True, index=values.index)
        if not is_str.all():
            other = values[~is_str]
            example = _py(other.iloc[0])
            if isinstance(example, int | float | np.number) and is_str.any():
                raise DataError(
                    f"{where}: column {name!r} mixes numbers and text (row "
                    f"{_first_row(~is_str)}: {example!r}; row {_first_row(is_str)}: "
                    f"{values[is_str].iloc[0]!r}): fix the cells, or list it in "
                    "dataset.categorical to one-hot encode its values as text"
                )
            raise DataError(
                f"{where}: column {name!r} holds {type(example).__name__} values (row "
                f"{_first_row(~is_str)}: {example!r}); bnnrun reads numbers and text: convert "
                "it, or leave it out with dataset.features"
            )
        numbers = pd.to_numeric(values, errors="coerce").notna()
        if numbers.any() and not numbers.all():
            raise DataError(
                f"{where}: column {name!r} mixes numbers and text (row {_first_row(numbers)}: "
                f"{values[numbers].iloc[0]!r}; row {_first_row(~numbers)}: "
                f"{values[~numbers].iloc[0]!r}): fix the cells, or list it in "
                "dataset.categorical to one-hot encode its values as text"
            )
        levels = values.nunique()
        if levels > max_categories:
            raise DataError(
                f"{where}: column {name!r} is text with {levels} distinct values, more than "
                f"dataset.max_categories={max_categories} (free text or identifiers, not "
                "categories): leave it out with dataset.features, list it in "
                "dataset.categorical, or raise dataset.max_categories"
            )
        return "categorical"
    raise DataError(
        f"{where}: column {name!r} holds {dtype} values; bnnrun reads numbers and text: "
        "convert it, or leave it out with dataset.features"
    )


def _as_labels(series: pd.Series) -> pd.Series:
    """A column's values as sortable labels: numbers (whole floats as ints), booleans, or
    strings."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(series.cat.categories.dtype)
    if ptypes.is_bool_dtype(series.dtype):
        return series.astype(bool)
    if ptypes.is_numeric_dtype(series.dtype):
        values = series.to_numpy(np.float64)
        if np.all(values == np.round(values)):
            return pd.Series(values.astype(np.int64), index=series.index, name=series.name)
        return series.astype(np.float64)
    return series.map(str)


def auto_task(target: pd.Series) -> tuple[Task, str]:
    """``task=auto``: the task for a target column (without missing values), and why.

    Classification for a text, boolean or categorical target, and for an integer-valued one
    (integers, or floats that are all whole numbers, as pandas reads an integer column with
    missing cells) with exactly 2 distinct values, or at most :data:`AUTO_MAX_CLASSES` of
    them and at least :data:`AUTO_MIN_ROWS_PER_CLASS` rows per value on average; else
    regression.
    """
    dtype = target.dtype
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_bool_dtype(dtype) or _is_text(target):
        kind = "categorical" if isinstance(dtype, pd.CategoricalDtype) else str(dtype)
        return "classification", f"the target column has {kind} values"
    values = target.to_numpy(np.float64)
    n, k = len(values), len(np.unique(values))
    if not np.all(values == np.round(values)):
        return "regression", "the target column has non-integer numbers"
    counted = f"{k} distinct integer values in {n} rows"
    if k == 2 or (k <= AUTO_MAX_CLASSES and n >= AUTO_MIN_ROWS_PER_CLASS * k):
        return "classification", f"the target column has {counted}"
    return "regression", (
        f"the target column has {counted} (classification takes at most {AUTO_MAX_CLASSES}, "
        f"with {AUTO_MIN_ROWS_PER_CLASS} rows each on average)"
    )


# ---------------------------------------------------------------------------------- splits


def check_split_sizes(
    labels: np.ndarray | None, *, num_rows: int, test_fraction: float, where: str
) -> None:
    """Raise if a random split of ``num_rows`` rows (stratified by ``labels`` if given)
    cannot leave 2 training rows and 1 test row (and each class in both parts)."""
    num_test = math.ceil(test_fraction * num_rows)
    num_train = num_rows - num_test
    if labels is None:
        if num_train < 2 or num_test < 1:
            raise DataError(
                f"{where}: {num_rows} rows are too few for the split: dataset.test_fraction="
                f"{test_fraction} leaves {num_train} training and {num_test} test rows; "
                "regression needs at least 2 training rows and 1 test row"
            )
        return
    classes, counts = np.unique(labels, return_counts=True)
    if (counts < 2).any():
        raise DataError(
            f"{where}: {int((counts < 2).sum())} classes have a single row (class index "
            f"{int(classes[counts < 2][0])}): a stratified split needs at least 2 rows of each "
            "class"
        )
    k = len(classes)
    if num_train < k or num_test < k:
        raise DataError(
            f"{where}: {num_rows} rows are too few for the split: dataset.test_fraction="
            f"{test_fraction} leaves {num_train} training and {num_test} test rows, and a "
            f"stratified split of {k} classes needs at least {k} in each"
        )


def standardize(
    x_train: np.ndarray, others: Sequence[np.ndarray], *, columns: np.ndarray | None = None
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """Scale ``columns`` (a boolean mask; None: all) of ``x_train`` ``[n, d]`` and of each
    array in ``others`` to the training split's mean 0 and standard deviation 1 (ddof 0, as
    scikit-learn's StandardScaler; a column constant on the training split is only
    centred).

    Returns:
        ``(x_train, others, mean, scale)``, ``mean`` and ``scale`` of shape ``[d]`` (0 and 1
        for the columns left alone).
    """
    d = x_train.shape[1]
    mask = np.ones(d, bool) if columns is None else np.asarray(columns, bool)
    mean = np.where(mask, x_train.mean(axis=0), 0.0) if len(x_train) else np.zeros(d)
    std = np.where(mask, x_train.std(axis=0), 1.0)
    scale = np.where(std > 0, std, 1.0)
    return (x_train - mean) / scale, [(x - mean) / scale for x in others], mean, scale


# ---------------------------------------------------------------------------------- loader


def _columns(frame: pd.DataFrame, cfg: TableConfig, where: str) -> list[str]:
    """The feature columns, after checking that they and the target exist."""
    known = list(frame.columns)
    asked = [cfg.target, *(cfg.features or []), *cfg.categorical]
    unknown = [c for c in dict.fromkeys(asked) if c not in known]
    if unknown:
        keys = []
        for column in unknown:
            key = (
                "dataset.target"
                if column == cfg.target
                else (
                    "dataset.features" if column in (cfg.features or []) else "dataset.categorical"
                )
            )
            keys.append(f"{column!r} ({key})")
        shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
        raise DataError(f"{where}: no column {', '.join(keys)}; its columns: {shown}")
    features = cfg.features if cfg.features is not None else [c for c in known if c != cfg.target]
    if not features:
        raise DataError(f"{where}: the table has no column besides the target {cfg.target!r}")
    return list(features)


def _index_split(cfg: TableConfig, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    assert cfg.train_index is not None and cfg.test_index is not None
    keys = (f"dataset.train_index={cfg.train_index}", f"dataset.test_index={cfg.test_index}")
    train = read_row_numbers(cfg.train_index, what=keys[0])
    test = read_row_numbers(cfg.test_index, what=keys[1])
    check_row_numbers(train, num_rows=num_rows, what=keys[0])
    check_row_numbers(test, num_rows=num_rows, what=keys[1])
    check_disjoint(train, test, what=keys)
    return train, test


def _drop_missing(
    frame: pd.DataFrame, used: list[str], cfg: TableConfig, where: str
) -> tuple[pd.DataFrame, int]:
    """``frame`` without rows that miss a value in a used column (or the refusal)."""
    missing = frame[used].isna()
    rows = missing.any(axis=1)
    count = int(rows.sum())
    if count == 0:
        return frame, 0
    numbers = frame.index[rows.to_numpy()]
    columns = [c for c in used if missing[c].any()]
    if cfg.missing is MissingValues.refuse:
        raise DataError(
            f"{where}: {count} of {len(frame)} rows have missing values (rows "
            f"{_rows(numbers)}, counted from 0; in columns {', '.join(map(repr, columns))}): "
            "fill them in, or set dataset.missing=drop to leave those rows out"
        )
    log.info(
        "dataset.missing=drop: dropped %d of %d rows with missing values (rows %s)",
        count,
        len(frame),
        _rows(numbers),
    )
    return frame.loc[~rows], count


def _check_finite(frame: pd.DataFrame, numeric: list[str], where: str) -> None:
    for column in numeric:
        values = frame[column].to_numpy(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"{where}: column {column!r} holds infinite values (rows "
                f"{_rows(frame.index[bad])}): only finite numbers can be standardised"
            )


def _check_not_constant(frame: pd.DataFrame, features: list[str], where: str) -> None:
    for column in features:
        values = frame[column]
        if values.nunique(dropna=False) <= 1:
            raise DataError(
                f"{where}: feature column {column!r} is constant ({_py(values.iloc[0])!r} in every "
                f"row): it carries no information; leave it out with dataset.features"
            )


def _encode_target(
    target: pd.Series, task: Task, where: str
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Int labels and sorted class names (classification), or float64 numbers (regression)."""
    name = target.name
    if task == "classification":
        labels = _as_labels(target)
        classes = sorted(labels.unique())
        if len(classes) < 2:
            raise DataError(
                f"{where}: target column {name!r} has one class ({_py(classes[0])!r} in every "
                "row): classification needs at least 2"
            )
        codes = labels.map({c: i for i, c in enumerate(classes)}).to_numpy(np.int32)
        return codes, tuple(str(c) for c in classes)
    dtype = target.dtype
    if (
        _is_text(target)
        or ptypes.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or not ptypes.is_numeric_dtype(dtype)
    ):
        raise DataError(
            f"{where}: target column {name!r} holds {dtype} values, not numbers: regression "
            "needs a numeric target (dataset.task=classification for categories)"
        )
    values = target.to_numpy(np.float64)
    if not np.isfinite(values).all():
        bad = target.index[~np.isfinite(values)]
        raise DataError(
            f"{where}: target column {name!r} holds infinite values (rows {_rows(bad)})"
        )
    if np.all(values == values[0]):
        raise DataError(
            f"{where}: target column {name!r} is constant ({_py(values[0])!r} in every row): "
            "there is nothing to predict"
        )
    return values, None


def _split(
    cfg: TableConfig,
    frame: pd.DataFrame,
    labels: np.ndarray | None,
    index_rows: tuple[np.ndarray, np.ndarray] | None,
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into ``frame``) of the training and the test rows."""
    n = len(frame)
    if index_rows is None:
        check_split_sizes(labels, num_rows=n, test_fraction=cfg.test_fraction, where=where)
        train, test = train_test_split(
            np.arange(n), test_size=cfg.test_fraction, random_state=cfg.seed, stratify=labels
        )
        return np.sort(train), np.sort(test)
    # Index files name rows of the file; rows dropped for missing values leave both splits.
    position = pd.Series(np.arange(n), index=frame.index)
    train = position.reindex(index_rows[0]).dropna().to_numpy(np.int64)
    test = position.reindex(index_rows[1]).dropna().to_numpy(np.int64)
    if len(train) < 2 or len(test) < 1:
        raise DataError(
            f"{where}: the index files leave {len(train)} training and {len(test)} test rows "
            "(after dropping rows with missing values); the split needs at least 2 training "
            "rows and 1 test row"
        )
    if labels is not None and len(np.unique(labels[train])) < 2:
        raise DataError(
            f"{where}: the training rows of dataset.train_index hold one class only: "
            "classification needs at least 2 classes to learn from"
        )
    return train, test


def _features(
    frame: pd.DataFrame, kinds: dict[str, Kind], train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Feature matrices ``[n_train, d]``, ``[n_test, d]`` (float64), which columns are
    numeric (to standardise), and a name per column."""
    blocks_train, blocks_test, numeric, names = [], [], [], []
    for column, kind in kinds.items():
        if kind == "categorical":
            text = _as_labels(frame[column]).map(str).to_numpy(object)[:, None]
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            encoder.fit(text[train])
            block_train, block_test = encoder.transform(text[train]), encoder.transform(text[test])
            levels = [str(level) for level in encoder.categories_[0]]
            names += [f"{column}={level}" for level in levels]
            numeric += [False] * len(levels)
        else:
            values = frame[column].to_numpy(np.float64)[:, None]
            block_train, block_test = values[train], values[test]
            names.append(column)
            numeric.append(kind == "numeric")
        blocks_train.append(block_train)
        blocks_test.append(block_test)
    return np.hstack(blocks_train), np.hstack(blocks_test), np.array(numeric), tuple(names)


def load_table(cfg: TableConfig) -> Dataset:
    """The data set of a table (``dataset=table``); see the module's docstring for the steps.

    Raises:
        DataError, ConfigError: one line naming what is wrong with the file or the config.
    """
    where = str(cfg.path)
    frame = read_table(cfg.path)
    features = _columns(frame, cfg, where)
    index_rows = None
    if cfg.train_index is not None:
        index_rows = _index_split(cfg, len(frame))
        frame = frame.loc[np.sort(np.concatenate(index_rows))]
    used = [*features, cfg.target]
    forced = set(cfg.categorical)
    kinds: dict[str, Kind] = {
        c: feature_kind(
            frame[c], forced=c in forced, max_categories=cfg.max_categories, where=where
        )
        for c in features
    }
    frame, num_dropped = _drop_missing(frame, used, cfg, where)
    if frame.empty:
        raise DataError(f"{where}: every row has a missing value; nothing is left to fit")
    _check_finite(frame, [c for c, k in kinds.items() if k == "numeric"], where)

    if cfg.task is TaskChoice.auto:
        task, why = auto_task(frame[cfg.target])
        log.info("dataset.task=auto chose %s for target %r: %s", task, cfg.target, why)
    else:
        task = "classification" if cfg.task is TaskChoice.classification else "regression"
    y, class_names = _encode_target(frame[cfg.target], task, where)
    _check_not_constant(frame, features, where)

    labels = y if task == "classification" else None
    train, test = _split(cfg, frame, labels, index_rows, where)
    x_train, x_test, numeric, names = _features(frame, kinds, train, test)
    if cfg.standardize:
        x_train, (x_test,), _, _ = standardize(x_train, [x_test], columns=numeric)
    y_loc, y_scale = 0.0, 1.0
    if task == "regression":
        y_loc, y_scale = float(y[train].mean()), float(y[train].std())
        if y_scale == 0:
            raise DataError(
                f"{where}: target column {cfg.target!r} is constant on the training split "
                f"({y_loc!r}): there is nothing to learn; use another split"
            )
        y = (y - y_loc) / y_scale
        y_dtype = np.float32
    else:
        y_dtype = np.int32
    return Dataset(
        x_train=x_train.astype(np.float32),
        y_train=y[train].astype(y_dtype),
        x_test=x_test.astype(np.float32),
        y_test=y[test].astype(y_dtype),
        num_classes=len(class_names) if class_names else 0,
        name=cfg.name,
        class_names=class_names,
        task=task,
        y_loc=y_loc,
        y_scale=y_scale,
        feature_names=names,
        num_dropped=num_dropped,
    )
