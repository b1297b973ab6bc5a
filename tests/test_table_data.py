"""Tables (CSV, Parquet), the UCI benchmark's files and the built-in regression data load as
configured, and every kind of bad input is refused with one line that names the problem.

Files are written by the tests. Expected values come from pandas, scikit-learn
(StandardScaler, OneHotEncoder, load_diabetes) or by hand, not from the loaders.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_config
from omegaconf import OmegaConf
from sklearn.datasets import load_diabetes as sklearn_diabetes
from sklearn.datasets import make_moons
from sklearn.preprocessing import StandardScaler

from bnnrun.config import load_config
from bnnrun.config.dataset import (
    DiabetesConfig,
    TableConfig,
    ToyRegressionConfig,
    UCIConfig,
)
from bnnrun.data import load_dataset
from bnnrun.data import table as table_module
from bnnrun.data.regression import TOY_CLUSTERS, toy_function
from bnnrun.data.table import auto_task, feature_kind, load_table
from bnnrun.data.uci import count_splits, load_uci
from bnnrun.errors import ConfigError, DataError, InvalidCombination


def moons_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Moons with a string label and a categorical feature (three colours)."""
    x, y = make_moons(n_samples=n, noise=0.2, random_state=seed)
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": x[:, 0],
            "b": x[:, 1],
            "colour": rng.choice(["red", "green", "blue"], n),
            "label": np.where(y == 1, "upper", "lower"),
        }
    )


def regression_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u, v = rng.normal(3, 2, n), rng.uniform(-5, 5, n)
    return pd.DataFrame({"u": u, "v": v, "price": 100 + 7 * u - 3 * v + rng.normal(0, 1, n)})


def write_csv(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def write_index(path: Path, rows) -> str:
    path.write_text("\n".join(str(int(r)) for r in rows) + "\n")
    return str(path)


def table(path: str, target: str, **kw) -> TableConfig:
    return TableConfig(path=path, target=target, **kw)


# ---------------------------------------------------------------------------- CSV, one-hot


def test_csv_classification_with_string_labels_and_a_categorical_feature(tmp_path: Path) -> None:
    frame = moons_frame()
    data = load_dataset(table(write_csv(frame, tmp_path / "m.csv"), "label"))
    assert data.task == "classification" and data.name == "table"
    assert data.num_classes == 2 and data.class_names == ("lower", "upper")
    assert data.feature_names == ("a", "b", "colour=blue", "colour=green", "colour=red")
    assert data.x_train.shape == (160, 5) and data.x_test.shape == (40, 5)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    # Stratified: each part holds the classes in the file's proportion (100 / 100).
    assert np.bincount(data.y_train).tolist() == [80, 80]
    assert np.bincount(data.y_test).tolist() == [20, 20]
    # One-hot columns are 0/1 with one 1 per row; the numeric ones are standardised.
    onehot = data.x_train[:, 2:]
    assert set(np.unique(onehot)) == {0.0, 1.0} and (onehot.sum(axis=1) == 1).all()
    np.testing.assert_allclose(data.x_train[:, :2].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(data.x_train[:, :2].std(axis=0), 1, atol=1e-6)
    assert data.num_dropped == 0


def test_labels_and_one_hot_follow_the_rows(tmp_path: Path) -> None:
    frame = moons_frame(60)
    path = write_csv(frame, tmp_path / "m.csv")
    train, test = np.arange(0, 60, 2), np.arange(1, 60, 2)
    data = load_table(
        table(
            path,
            "label",
            train_index=write_index(tmp_path / "train.txt", train),
            test_index=write_index(tmp_path / "test.txt", test),
            standardize=False,
        )
    )
    names = np.array(data.class_names)
    assert names[data.y_train].tolist() == frame.label[train].tolist()
    assert names[data.y_test].tolist() == frame.label[test].tolist()
    expected = pd.get_dummies(frame.colour).astype(float).to_numpy()  # columns sorted by name
    np.testing.assert_array_equal(data.x_train[:, 2:], expected[train])
    np.testing.assert_array_equal(data.x_test[:, :2], frame[["a", "b"]].to_numpy(np.float32)[test])


def test_one_hot_levels_come_from_the_training_split(tmp_path: Path) -> None:
    frame = regression_frame(30)
    frame["site"] = ["north"] * 10 + ["south"] * 10 + ["east"] * 10
    path = write_csv(frame, tmp_path / "t.csv")
    data = load_table(
        table(
            path,
            "price",
            train_index=write_index(tmp_path / "tr.txt", range(20)),  # no "east" here
            test_index=write_index(tmp_path / "te.txt", range(20, 30)),
        )
    )
    assert data.feature_names == ("u", "v", "site=north", "site=south")
    np.testing.assert_array_equal(data.x_test[:, 2:], 0)  # an unseen level: all zeros


def test_integer_codes_listed_as_categorical_are_one_hot_encoded(tmp_path: Path) -> None:
    frame = regression_frame(40)
    frame["zone"] = np.arange(40) % 4 + 1
    data = load_table(table(write_csv(frame, tmp_path / "t.csv"), "price", categorical=["zone"]))
    assert data.feature_names[2:] == ("zone=1", "zone=2", "zone=3", "zone=4")


def test_boolean_columns_stay_zero_one(tmp_path: Path) -> None:
    frame = regression_frame(40)
    # pandas reads True/False with a hole (row 5) as a column of Python objects.
    frame["sunny"] = [None if i == 5 else i % 3 == 0 for i in range(40)]
    data = load_table(table(write_csv(frame, tmp_path / "b.csv"), "price", missing="drop"))
    assert data.feature_names == ("u", "v", "sunny") and data.num_dropped == 1
    assert set(np.unique(data.x_train[:, 2])) == {0.0, 1.0}


def test_features_select_and_order_the_columns(tmp_path: Path) -> None:
    frame = moons_frame(80)
    frame["ignored"] = "x"  # constant, but not used
    data = load_table(table(write_csv(frame, tmp_path / "m.csv"), "label", features=["b", "a"]))
    assert data.feature_names == ("b", "a")


def test_tsv_and_compressed_csv_are_read(tmp_path: Path) -> None:
    frame = moons_frame(50)
    frame.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    frame.to_csv(tmp_path / "m.csv.gz", index=False)
    a = load_table(table(str(tmp_path / "m.tsv"), "label"))
    b = load_table(table(str(tmp_path / "m.csv.gz"), "label"))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (40, 5)


# --------------------------------------------------------------------- standardisation


def test_features_are_standardised_by_the_training_rows_only(tmp_path: Path) -> None:
    frame = regression_frame()
    path = write_csv(frame, tmp_path / "r.csv")
    raw = load_table(table(path, "price", standardize=False))
    scaled = load_table(table(path, "price"))
    scaler = StandardScaler().fit(raw.x_train.astype(np.float64))
    np.testing.assert_allclose(scaled.x_train, scaler.transform(raw.x_train), atol=1e-6)
    np.testing.assert_allclose(scaled.x_test, scaler.transform(raw.x_test), atol=1e-6)
    # Not by all rows: the test rows' statistics differ.
    everything = StandardScaler().fit(frame[["u", "v"]].to_numpy())
    assert not np.allclose(scaled.x_test, everything.transform(raw.x_test), atol=1e-3)


def test_regression_target_is_standardised_by_the_training_rows(tmp_path: Path) -> None:
    frame = regression_frame()
    train, test = np.arange(0, 120, 3), np.setdiff1d(np.arange(120), np.arange(0, 120, 3))
    data = load_table(
        table(
            write_csv(frame, tmp_path / "r.csv"),
            "price",
            train_index=write_index(tmp_path / "tr.txt", train),
            test_index=write_index(tmp_path / "te.txt", test),
        )
    )
    price = frame.price.to_numpy()
    assert data.task == "regression" and data.num_classes == 0 and data.class_names is None
    assert data.y_loc == pytest.approx(price[train].mean())
    assert data.y_scale == pytest.approx(price[train].std())  # ddof 0, as StandardScaler
    assert data.y_train.dtype == np.float32
    np.testing.assert_allclose(data.y_original(data.y_test), price[test], rtol=1e-5)
    scaler = StandardScaler().fit(frame[["u", "v"]].to_numpy()[train])
    np.testing.assert_allclose(
        data.x_test, scaler.transform(frame[["u", "v"]].to_numpy()[test]), atol=1e-5
    )


# ---------------------------------------------------------------------------- task=auto


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (np.arange(150) % 3, "classification"),  # 3 values, 50 rows each
        (np.where(np.arange(12) % 2, 7, 9), "classification"),  # 2 values, however few rows
        ((np.arange(150) % 3).astype(float), "classification"),  # whole floats count as integers
        (np.arange(40) % 5, "regression"),  # 5 values but 8 rows each (< 10)
        (np.arange(1000) % 25, "regression"),  # 25 distinct values (> 20)
        (np.linspace(0, 1, 100), "regression"),  # non-integer numbers
        (np.array(["a", "b"] * 5), "classification"),
        (np.array([True, False] * 5), "classification"),
    ],
)
def test_auto_task_rule(values: np.ndarray, task: str) -> None:
    assert auto_task(pd.Series(values, name="y"))[0] == task


def test_auto_task_is_logged_and_recorded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame = regression_frame(200)
    frame["grade"] = np.arange(200) % 4
    path = write_csv(frame, tmp_path / "g.csv")
    with caplog.at_level(logging.INFO, logger="bnnrun.data.table"):
        data = load_table(table(path, "grade"))
    assert data.task == "classification" and data.class_names == ("0", "1", "2", "3")
    assert "dataset.task=auto chose classification for target 'grade'" in caplog.text
    assert "4 distinct integer values in 200 rows" in caplog.text
    forced = load_table(table(path, "grade", task="regression"))
    assert forced.task == "regression" and forced.num_classes == 0
    assert load_table(table(path, "grade", task="classification")).num_classes == 4


# ------------------------------------------------------------------------ missing values


def _with_holes(tmp_path: Path) -> tuple[pd.DataFrame, str]:
    frame = regression_frame(50)
    frame.loc[[3, 10, 11, 12, 20, 41], "u"] = np.nan
    frame.loc[[10, 30], "price"] = np.nan
    frame["notes"] = np.nan  # an unused column's holes do not count
    return frame, write_csv(frame, tmp_path / "holes.csv")


def test_missing_values_are_refused_with_count_and_rows(tmp_path: Path) -> None:
    _, path = _with_holes(tmp_path)
    with pytest.raises(DataError) as err:
        load_table(table(path, "price", features=["u", "v"]))
    msg = str(err.value)
    assert "7 of 50 rows have missing values" in msg
    assert "rows 3, 10, 11, 12, 20, ..." in msg and "'u', 'price'" in msg
    assert "dataset.missing=drop" in msg


def test_missing_values_dropped_are_counted(tmp_path: Path) -> None:
    _, path = _with_holes(tmp_path)
    data = load_table(table(path, "price", features=["u", "v"], missing="drop"))
    assert data.num_dropped == 7
    assert len(data.y_train) + len(data.y_test) == 43


def test_dropped_rows_leave_the_index_splits(tmp_path: Path) -> None:
    _, path = _with_holes(tmp_path)
    data = load_table(
        table(
            path,
            "price",
            features=["u", "v"],
            missing="drop",
            train_index=write_index(tmp_path / "tr.txt", range(0, 25)),  # holes at 3, 10-12, 20
            test_index=write_index(tmp_path / "te.txt", range(25, 50)),  # holes at 30, 41
        )
    )
    assert (len(data.y_train), len(data.y_test), data.num_dropped) == (20, 23, 7)


# ----------------------------------------------------------------------------- Parquet
# pyarrow comes with the dev extra (pip install -e '.[dev]'), so these run wherever the tests do.


def test_parquet_is_read_like_csv(tmp_path: Path) -> None:
    frame = moons_frame(100)
    frame.to_parquet(tmp_path / "m.parquet")
    from_parquet = load_table(table(str(tmp_path / "m.parquet"), "label"))
    from_csv = load_table(table(write_csv(frame, tmp_path / "m.csv"), "label"))
    np.testing.assert_allclose(from_parquet.x_train, from_csv.x_train)
    assert from_parquet.class_names == from_csv.class_names


def test_parquet_keeps_types_categories_and_dates(tmp_path: Path) -> None:
    frame = moons_frame(100)
    frame["colour"] = frame.colour.astype("category")
    frame["label"] = frame.label.astype("category")
    frame.to_parquet(tmp_path / "m.parquet")
    data = load_table(table(str(tmp_path / "m.parquet"), "label"))
    assert data.class_names == ("lower", "upper")
    assert data.feature_names[2:] == ("colour=blue", "colour=green", "colour=red")
    frame["when"] = pd.date_range("2024-01-01", periods=100)
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"column 'when' holds datetime64\[.*\] values"):
        load_table(table(str(tmp_path / "d.parquet"), "label"))


def test_parquet_without_an_engine_is_refused(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    monkeypatch.setattr(table_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        DataError, match=r"reading Parquet needs pyarrow or fastparquet.*pip install pyarrow"
    ):
        load_table(table(str(tmp_path / "t.parquet"), "y"))


# --------------------------------------------------------------------------- bad tables


def _bad(tmp_path: Path, frame: pd.DataFrame, target: str, **kw) -> str:
    with pytest.raises((DataError, ConfigError)) as err:
        load_table(table(write_csv(frame, tmp_path / "bad.csv"), target, **kw))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv' does not exist: it must be a CSV or Parquet"):
        load_table(table(str(tmp_path / "nope.csv"), "y"))
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(ConfigError, match=r"must be a CSV or Parquet file, named by its suffix"):
        load_table(table(str(tmp_path / "data.xlsx"), "y"))


def test_unknown_target_and_feature_columns(tmp_path: Path) -> None:
    frame = regression_frame(20)
    msg = _bad(tmp_path, frame, "cost")
    assert "no column 'cost' (dataset.target); its columns: u, v, price" in msg
    msg = _bad(tmp_path, frame, "price", features=["u", "w"])
    assert "no column 'w' (dataset.features)" in msg


def test_mixed_numbers_and_text_are_refused(tmp_path: Path) -> None:
    frame = regression_frame(20)
    frame["dose"] = ["1", "2", "high", "1.5"] * 5
    msg = _bad(tmp_path, frame, "price")
    assert "column 'dose' mixes numbers and text (row 0: '1'; row 2: 'high')" in msg
    assert "dataset.categorical" in msg
    # Listed as categorical, its values are one-hot encoded as text.
    data = load_table(table(str(tmp_path / "bad.csv"), "price", categorical=["dose"]))
    assert data.feature_names[2:] == ("dose=1", "dose=1.5", "dose=2", "dose=high")


def test_free_text_is_not_a_category(tmp_path: Path) -> None:
    frame = regression_frame(80)
    frame["comment"] = [f"note {i}" for i in range(80)]
    msg = _bad(tmp_path, frame, "price")
    assert (
        "column 'comment' is text with 80 distinct values, more than dataset.max_categories=50"
        in msg
    )


def test_dates_are_refused() -> None:
    dates = pd.Series(pd.date_range("2024-01-01", periods=5), name="when")
    with pytest.raises(
        DataError,
        match=r"column 'when' holds datetime64\[.*\] values; bnnrun reads numbers and text",
    ):
        feature_kind(dates, forced=False, max_categories=50, where="t.parquet")


def test_constant_feature_and_constant_target(tmp_path: Path) -> None:
    frame = regression_frame(30)
    frame["unit"] = "kg"
    assert "feature column 'unit' is constant ('kg' in every row)" in _bad(tmp_path, frame, "price")
    frame = regression_frame(30).assign(price=4.5)
    msg = _bad(tmp_path, frame, "price", task="regression")
    assert (
        "target column 'price' is constant (4.5 in every row): there is nothing to predict" in msg
    )


def test_target_with_one_class(tmp_path: Path) -> None:
    frame = regression_frame(30).assign(kind="cat")
    msg = _bad(tmp_path, frame, "kind")
    assert (
        "target column 'kind' has one class ('cat' in every row): classification needs at least 2"
        in msg
    )


def test_text_target_cannot_be_regressed(tmp_path: Path) -> None:
    msg = _bad(tmp_path, moons_frame(40), "label", task="regression")
    assert "target column 'label' holds" in msg and "not numbers" in msg


def test_infinite_values_are_refused(tmp_path: Path) -> None:
    frame = regression_frame(20)
    frame.loc[4, "v"] = np.inf
    assert "column 'v' holds infinite values (rows 4)" in _bad(tmp_path, frame, "price")


def test_too_few_rows_for_the_split(tmp_path: Path) -> None:
    msg = _bad(tmp_path, regression_frame(3), "price", test_fraction=0.5)
    assert "3 rows are too few for the split: dataset.test_fraction=0.5 leaves 1 training" in msg
    assert "and 2 test rows; regression needs at least 2 training rows and 1 test row" in msg
    frame = moons_frame(40)
    frame.loc[0, "label"] = "middle"  # a class of one row cannot be stratified
    msg = _bad(tmp_path, frame, "label")
    assert "1 classes have a single row" in msg and "at least 2 rows of each class" in msg
    frame = pd.DataFrame({"x": np.arange(12.0), "y": list("abc") * 4})
    msg = _bad(tmp_path, frame, "y", test_fraction=0.1)  # 2 test rows for 3 classes
    assert "stratified split of 3 classes needs at least 3 in each" in msg


# -------------------------------------------------------------------------- index files


@pytest.mark.parametrize(
    ("train", "test", "message"),
    [
        (
            "0 1 2 3 4 5",
            "6 7 8 20",
            r"row 20 is out of range \(1 such\): the data have 10 rows, numbered 0-9",
        ),
        ("0 1 2 3 4 5", "5 6 7", r"share 1 rows \(5\): a row may be in one split only"),
        ("0 1 2 2 3", "6 7", r"rows 2 appear more than once"),
        ("0 1 two", "6 7", r"holds 'two' \(entry 2\): it must hold whole numbers"),
        ("0 1 2.5", "6 7", r"holds '2.5' \(entry 2\)"),
        ("", "6 7", r"holds no row numbers"),
    ],
)
def test_bad_index_files(tmp_path: Path, train: str, test: str, message: str) -> None:
    path = write_csv(regression_frame(10), tmp_path / "r.csv")
    (tmp_path / "tr.txt").write_text(train)
    (tmp_path / "te.txt").write_text(test)
    cfg = table(
        path, "price", train_index=str(tmp_path / "tr.txt"), test_index=str(tmp_path / "te.txt")
    )
    with pytest.raises(DataError, match=message):
        load_table(cfg)


def test_index_files_written_as_floats_are_read(tmp_path: Path) -> None:
    path = write_csv(regression_frame(10), tmp_path / "r.csv")
    np.savetxt(tmp_path / "tr.txt", np.arange(7, dtype=float))  # 0.000000000000000000e+00 ...
    np.savetxt(tmp_path / "te.txt", np.arange(7, 10, dtype=float))
    cfg = table(
        path, "price", train_index=str(tmp_path / "tr.txt"), test_index=str(tmp_path / "te.txt")
    )
    data = load_table(cfg)
    assert (len(data.y_train), len(data.y_test)) == (7, 3)


def test_missing_index_file(tmp_path: Path) -> None:
    path = write_csv(regression_frame(10), tmp_path / "r.csv")
    cfg = table(
        path, "price", train_index=str(tmp_path / "none.txt"), test_index=str(tmp_path / "none.txt")
    )
    with pytest.raises(DataError, match=r"dataset.train_index=.*none.txt does not exist"):
        load_table(cfg)


# ------------------------------------------------------------------------------ schemas


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.test_fraction=1.0", r"dataset.test_fraction=1.0 is not allowed: .* in \(0, 1\)"),
        ("dataset.train_index=tr.txt", "dataset.train_index is set but dataset.test_index is not"),
        ("dataset.features=[y,x]", "a list of columns without the target 'y'"),
        (
            "dataset.categorical=[z]",
            r"a list of columns of dataset.features; \['z'\] are not among them",
        ),
        ("dataset.max_categories=1", "dataset.max_categories=1 is not allowed"),
    ],
)
def test_table_schema_refuses_bad_values(override: str, message: str) -> None:
    base = ["dataset=table", "dataset.path=t.csv", "dataset.target=y", "dataset.features=[x]"]
    with pytest.raises(ConfigError, match=message):
        make_config(*base, override)


def test_regression_data_sets_take_a_regression_likelihood() -> None:
    for option in ("toy_regression", "diabetes"):
        assert make_config(f"dataset={option}").likelihood.kind.value == "auto"
        with pytest.raises(InvalidCombination, match=f"does not fit dataset={option}"):
            make_config(f"dataset={option}", "likelihood=categorical")
    with pytest.raises(InvalidCombination, match="does not fit dataset=uci, a regression task"):
        make_config("dataset=uci", "dataset.path=UCI/yacht", "likelihood=categorical")
    with pytest.raises(InvalidCombination, match="does not fit dataset=table, a regression task"):
        make_config(
            "dataset=table",
            "dataset.path=t.csv",
            "dataset.target=y",
            "dataset.task=regression",
            "likelihood=categorical",
        )
    cfg = make_config("dataset=table", "dataset.path=t.csv", "dataset.target=y")
    assert isinstance(cfg.dataset, TableConfig) and cfg.dataset.task == "auto"


def test_saved_table_config_reads_back_typed(tmp_path: Path) -> None:
    cfg = make_config(
        "dataset=table", "dataset.path=t.csv", "dataset.target=y", "dataset.missing=drop"
    )
    OmegaConf.save(OmegaConf.structured(cfg), tmp_path / "config.yaml")
    back = load_config(tmp_path / "config.yaml")
    assert isinstance(back.dataset, TableConfig) and back.dataset == cfg.dataset


# ---------------------------------------------------------------------------------- UCI


def write_uci(folder: Path, *, rows: int = 40, splits: int = 3, seed: int = 0) -> np.ndarray:
    """A UCI directory in the published layout (``folder/data/``): data.txt of 4 columns (3
    features, the target last) and ``splits`` random 90/10 splits; returns the data."""
    data_dir = folder / "data"
    data_dir.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, 4)) * [1, 10, 0.1, 5] + [0, 50, 1, 20]
    np.savetxt(data_dir / "data.txt", data)  # whitespace-separated, as the published files
    np.savetxt(data_dir / "index_features.txt", np.arange(3), fmt="%d")
    np.savetxt(data_dir / "index_target.txt", np.array([3]), fmt="%d")
    for i in range(splits):
        perm = rng.permutation(rows)
        end = round(rows * 0.9)
        np.savetxt(data_dir / f"index_train_{i}.txt", perm[:end], fmt="%d")
        np.savetxt(data_dir / f"index_test_{i}.txt", perm[end:], fmt="%d")
    return data


def test_uci_split_is_standardised_by_its_training_rows(tmp_path: Path) -> None:
    data = write_uci(tmp_path / "yacht")
    folder = tmp_path / "yacht" / "data"
    for split in (0, 2):
        train = np.loadtxt(folder / f"index_train_{split}.txt", dtype=int)
        test = np.loadtxt(folder / f"index_test_{split}.txt", dtype=int)
        got = load_uci(UCIConfig(path=str(tmp_path / "yacht"), split=split))
        assert got.task == "regression" and got.num_classes == 0
        assert got.x_train.shape == (36, 3) and got.x_test.shape == (4, 3)
        scaler = StandardScaler().fit(data[train, :3])
        np.testing.assert_allclose(got.x_train, scaler.transform(data[train, :3]), atol=1e-5)
        np.testing.assert_allclose(got.x_test, scaler.transform(data[test, :3]), atol=1e-5)
        assert got.y_loc == pytest.approx(data[train, 3].mean())
        assert got.y_scale == pytest.approx(data[train, 3].std())
        np.testing.assert_allclose(got.y_original(got.y_test), data[test, 3], rtol=1e-5)


def test_uci_files_may_sit_in_the_directory_itself(tmp_path: Path) -> None:
    write_uci(tmp_path / "a")
    flat = tmp_path / "flat"
    (tmp_path / "a" / "data").rename(flat)
    got = load_dataset(UCIConfig(path=str(flat), split=1))
    assert got.x_train.shape == (36, 3)
    assert count_splits(flat) == 3


def test_uci_counts_its_splits(tmp_path: Path) -> None:
    write_uci(tmp_path / "d", splits=5)
    assert count_splits(tmp_path / "d") == 5
    (tmp_path / "d" / "data" / "index_test_3.txt").unlink()  # a gap ends the count
    assert count_splits(tmp_path / "d") == 3


def _uci_error(path: Path, split: int = 0) -> str:
    with pytest.raises(DataError) as err:
        load_uci(UCIConfig(path=str(path), split=split))
    assert "\n" not in str(err.value)
    return str(err.value)


def test_uci_bad_directories(tmp_path: Path) -> None:
    assert "does not exist: it must be a UCI data set directory" in _uci_error(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    assert (
        "is not a UCI data set directory: neither it nor its data/ folder holds data.txt"
        in _uci_error(tmp_path / "empty")
    )
    write_uci(tmp_path / "partial")
    (tmp_path / "partial" / "data" / "index_target.txt").unlink()
    assert "holds data.txt but not index_target.txt" in _uci_error(tmp_path / "partial")


def test_uci_split_out_of_range(tmp_path: Path) -> None:
    write_uci(tmp_path / "d", splits=3)
    msg = _uci_error(tmp_path / "d", split=7)
    assert "dataset.split=7 is not allowed" in msg and "has splits 0-2" in msg


def test_uci_bad_rows(tmp_path: Path) -> None:
    write_uci(tmp_path / "d")
    folder = tmp_path / "d" / "data"
    np.savetxt(folder / "index_test_0.txt", [1, 2, 40], fmt="%d")
    assert "row 40 is out of range (1 such): the data have 40 rows, numbered 0-39" in _uci_error(
        tmp_path / "d"
    )
    np.savetxt(folder / "index_train_0.txt", np.arange(0, 30), fmt="%d")
    np.savetxt(folder / "index_test_0.txt", np.arange(28, 40), fmt="%d")
    assert "share 2 rows (28, 29): a row may be in one split only" in _uci_error(tmp_path / "d")


def test_uci_bad_data(tmp_path: Path) -> None:
    data = write_uci(tmp_path / "d")
    folder = tmp_path / "d" / "data"
    lines = (folder / "data.txt").read_text().splitlines()
    (folder / "data.txt").write_text("\n".join([*lines[:5], "1 2 3", *lines[6:]]) + "\n")
    assert "not whitespace-separated numbers with the same count on every line" in _uci_error(
        tmp_path / "d"
    )
    data[7, 1] = np.nan
    np.savetxt(folder / "data.txt", data)
    assert "1 rows hold missing or infinite values (first: row 7" in _uci_error(tmp_path / "d")
    data[7, 1], data[:, 3] = 0.0, 2.5
    np.savetxt(folder / "data.txt", data)
    assert "the target (column 3) is constant (2.5)" in _uci_error(tmp_path / "d")
    np.savetxt(folder / "index_target.txt", [4], fmt="%d")
    assert "column 4 is out of range: data.txt has 4 columns" in _uci_error(tmp_path / "d")


def test_uci_constant_feature_is_centred_not_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_uci(tmp_path / "d")
    data[:, 1] = 7.0
    np.savetxt(tmp_path / "d" / "data" / "data.txt", data)
    with caplog.at_level(logging.WARNING, logger="bnnrun.data.uci"):
        got = load_uci(UCIConfig(path=str(tmp_path / "d")))
    np.testing.assert_array_equal(got.x_train[:, 1], 0)
    assert "feature columns 1 are constant on the training rows of split 0" in caplog.text


# ------------------------------------------------------------------ built-in regression data


def test_toy_regression_has_a_gap_and_tests_across_it() -> None:
    data = load_dataset(ToyRegressionConfig(n_samples=100, n_test=200, noise=0.1, seed=3))
    (a_lo, a_hi), (b_lo, b_hi) = TOY_CLUSTERS
    x = data.x_train[:, 0]
    assert data.x_train.shape == (100, 1) and data.x_test.shape == (200, 1)
    assert ((x >= a_lo) & (x <= a_hi)).sum() == 50 and ((x >= b_lo) & (x <= b_hi)).sum() == 50
    assert not ((x > a_hi) & (x < b_lo)).any()  # nothing in the gap (-0.7, 0.5)
    xt = data.x_test[:, 0]
    assert xt.min() == -1 and xt.max() == 1 and ((xt > a_hi) & (xt < b_lo)).sum() > 50
    residual = data.y_original(data.y_train) - toy_function(x.astype(np.float64))
    assert residual.std() == pytest.approx(0.1, rel=0.25)  # the configured noise
    assert data.y_train.mean() == pytest.approx(0, abs=1e-6)
    again = load_dataset(ToyRegressionConfig(seed=3))
    np.testing.assert_array_equal(again.x_train, data.x_train)


def test_diabetes_shapes_and_units() -> None:
    data = load_dataset(DiabetesConfig())
    assert data.x_train.shape == (353, 10) and data.x_test.shape == (89, 10)
    assert data.task == "regression" and data.feature_names[:3] == ("age", "sex", "bmi")
    targets = np.concatenate([data.y_original(data.y_train), data.y_original(data.y_test)])
    np.testing.assert_allclose(np.sort(targets), np.sort(sklearn_diabetes().target), rtol=1e-5)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)


# ---------------------------------------------------------------------------------- CLI


def test_cli_refuses_a_classifier_for_a_regression_data_set_in_one_line(
    run_cli, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc = run_cli("dataset=toy_regression", "likelihood=categorical", f"hydra.run.dir={out}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "bnnrun: error: likelihood=categorical does not fit dataset=toy_regression, a "
        "regression task: use likelihood=gaussian or heteroscedastic or student_t (or auto)"
    ]
    assert not out.exists()  # nothing written


@pytest.mark.slow
def test_classification_table_runs_end_to_end(run_cli, tmp_path: Path) -> None:
    path = write_csv(moons_frame(300), tmp_path / "moons.csv")
    out = tmp_path / "run"
    proc = run_cli(
        "dataset=table",
        f"dataset.path={path}",
        "dataset.target=label",
        "inference.num_steps=200",
        "inference.num_predictive_samples=16",
        "runtime.progress=false",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok"
    assert (metrics["num_train"], metrics["num_test"]) == (240, 60)
    assert metrics["config"]["dataset"]["target"] == "label"
    assert 0.5 < metrics["accuracy"] <= 1.0
