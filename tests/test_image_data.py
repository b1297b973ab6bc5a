"""IDX files are read exactly or refused; MNIST-format files are found in order or downloaded and
checked; digits and IDX data sets are split as configured, with pixels in [0, 1]."""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config

from bnnrun.data import files as datafiles
from bnnrun.data import load_dataset
from bnnrun.data.files import IDX_FILES, IDXSource, locate
from bnnrun.data.idx import read_idx
from bnnrun.data.images import class_names, load_idx_images, select_classes
from bnnrun.errors import ConfigError, DataError


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped IDX file of unsigned bytes, as MNIST's are."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_mnist_files(folder: Path, *, n_train: int = 60, n_test: int = 20, seed: int = 0) -> None:
    """Four small MNIST-format files: labels cycle through 0-9, image i's pixels all equal i."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for part, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 10
        images = np.broadcast_to(np.arange(n)[:, None, None] % 256, (n, 28, 28)).copy()
        images[:, 0, 0] = rng.integers(0, 256, n)
        write_idx(folder / IDX_FILES[f"{part}_images"], images)
        write_idx(folder / IDX_FILES[f"{part}_labels"], labels)


# ------------------------------------------------------------------------------ the IDX reader
def test_idx_reads_back_what_was_written(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, (7, 5, 3)).astype(np.uint8)
    write_idx(tmp_path / "img.gz", images)
    got = read_idx(tmp_path / "img.gz", ndim=3)
    assert got.dtype == np.uint8 and got.shape == (7, 5, 3)
    np.testing.assert_array_equal(got, images)


def _corrupt(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.gz"
    good = tmp_path / "good.gz"
    write_idx(good, (np.arange(600) % 256).reshape(6, 10, 10))
    raw = good.read_bytes()
    if kind == "truncated_gzip":
        path.write_bytes(raw[: len(raw) // 2])
    elif kind == "not_gzip":
        path.write_bytes(b"these are not the bytes you are looking for")
    elif kind == "bad_crc":
        path.write_bytes(raw[:-8] + bytes(b ^ 0xFF for b in raw[-8:-4]) + raw[-4:])
    elif kind == "short_payload":  # a valid gzip whose IDX header promises more than it holds
        data = gzip.decompress(raw)
        path.write_bytes(gzip.compress(data[:-7]))
    elif kind == "wrong_dims":
        write_idx(path, np.zeros((6, 10), np.uint8))
    elif kind == "not_ubyte":
        data = bytearray(gzip.decompress(raw))
        data[2] = 0x0D  # float32
        path.write_bytes(gzip.compress(bytes(data)))
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated_gzip", "cannot decompress"),
        ("not_gzip", "cannot decompress"),
        ("bad_crc", "cannot decompress"),
        ("short_payload", "promises 600 values of shape (6, 10, 10) but it holds 593"),
        ("wrong_dims", "with 3 dimensions"),
        ("not_ubyte", "not an IDX file of unsigned bytes"),
    ],
)
def test_corrupt_idx_file_is_refused_with_a_clear_error(
    tmp_path: Path, kind: str, message: str
) -> None:
    path = _corrupt(tmp_path, kind)
    with pytest.raises(DataError) as err:
        read_idx(path, ndim=3)
    text = str(err.value)
    assert str(path) in text and message in text and "truncated or corrupt" in text
    assert "\n" not in text


def test_images_and_labels_must_match(tmp_path: Path) -> None:
    write_mnist_files(tmp_path)
    write_idx(tmp_path / IDX_FILES["test_labels"], np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="20 test images but 19 labels"):
        load_idx_images(make_config("dataset=mnist").dataset, folder=tmp_path)


# ------------------------------------------------------------------------------ lookup order
@pytest.fixture
def fake_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """``mnist`` with a system folder and cache under tmp_path; mirrors are local folders."""
    dirs = {name: tmp_path / name for name in ("config", "env", "system", "cache", "mirror")}
    source = IDXSource(
        env_var="BNNRUN_MNIST_DIR",
        system_dirs=(str(dirs["system"]),),
        mirrors=(dirs["mirror"].as_uri() + "/",),
        sha256={},
    )
    monkeypatch.setitem(datafiles.SOURCES, "mnist", source)
    monkeypatch.delenv("BNNRUN_MNIST_DIR", raising=False)
    monkeypatch.setenv("BNNRUN_CACHE_DIR", str(tmp_path / "bnnrun-cache"))
    dirs["cache"] = tmp_path / "bnnrun-cache" / "data" / "mnist"
    return dirs


@pytest.mark.parametrize("winner", ["config", "env", "system", "cache"])
def test_each_location_is_found_and_earlier_ones_win(
    fake_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch, winner: str
) -> None:
    order = ["config", "env", "system", "cache"]
    for name in order[order.index(winner) :]:  # the winner and every later location hold files
        write_mnist_files(fake_source[name])
    monkeypatch.setenv("BNNRUN_MNIST_DIR", str(fake_source["env"]))
    got = locate("mnist", data_dir=str(fake_source["config"]), allow_download=False)
    assert got == fake_source[winner]


def test_a_folder_with_some_files_missing_is_passed_over(fake_source: dict[str, Path]) -> None:
    write_mnist_files(fake_source["config"])
    (fake_source["config"] / IDX_FILES["test_labels"]).unlink()
    write_mnist_files(fake_source["cache"])
    assert locate("mnist", data_dir=str(fake_source["config"])) == fake_source["cache"]


def test_missing_files_without_download_say_where_to_put_them(
    fake_source: dict[str, Path],
) -> None:
    with pytest.raises(DataError) as err:
        locate("mnist", data_dir=str(fake_source["config"]), allow_download=False)
    text = str(err.value)
    for name in ("config", "system", "cache"):
        assert str(fake_source[name]) in text
    assert "train-images-idx3-ubyte.gz" in text and "dataset.data_dir" in text
    assert "$BNNRUN_MNIST_DIR" in text


# ------------------------------------------------------------------------------ download
def _publish(fake_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Put files on the local mirror and register their true checksums."""
    write_mnist_files(fake_source["mirror"], seed=5)
    sums = {
        f: hashlib.sha256((fake_source["mirror"] / f).read_bytes()).hexdigest()
        for f in IDX_FILES.values()
    }
    source = datafiles.SOURCES["mnist"]
    monkeypatch.setitem(
        datafiles.SOURCES,
        "mnist",
        IDXSource(source.env_var, source.system_dirs, source.mirrors, sums),
    )
    return sums


def test_download_verifies_checksums_into_the_cache(
    fake_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sums = _publish(fake_source, monkeypatch)
    got = locate("mnist")
    assert got == fake_source["cache"]
    for f, digest in sums.items():
        assert datafiles.sha256_of(got / f) == digest
    data = load_idx_images(make_config("dataset=mnist", "dataset.validation_size=10").dataset)
    assert len(data.y_train) == 50 and len(data.y_val) == 10 and len(data.y_test) == 20


def test_wrong_checksum_fails_and_leaves_nothing_behind(
    fake_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sums = _publish(fake_source, monkeypatch)
    bad = {**sums, IDX_FILES["test_images"]: "0" * 64}
    source = datafiles.SOURCES["mnist"]
    monkeypatch.setitem(
        datafiles.SOURCES,
        "mnist",
        IDXSource(source.env_var, source.system_dirs, source.mirrors, bad),
    )
    with pytest.raises(DataError) as err:
        locate("mnist")
    assert "is not the published 0000" in str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)
    assert not (fake_source["cache"] / IDX_FILES["test_images"]).exists()
    leftovers = [p.name for p in fake_source["cache"].iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_download_falls_back_to_the_next_mirror(
    fake_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sums = _publish(fake_source, monkeypatch)
    fetched: list[str] = []

    def fetch(url: str):
        fetched.append(url)
        if url.startswith("https://unreachable.invalid/"):
            raise OSError("network is unreachable")
        return datafiles._urlopen(url)

    source = datafiles.SOURCES["mnist"]
    mirrors = ("https://unreachable.invalid/", *source.mirrors)
    monkeypatch.setitem(
        datafiles.SOURCES, "mnist", IDXSource(source.env_var, source.system_dirs, mirrors, sums)
    )
    assert locate("mnist", fetch=fetch) == fake_source["cache"]
    assert len(fetched) == 8 and fetched[0].startswith("https://unreachable.invalid/")


# ------------------------------------------------------------------------------ data sets
def test_idx_split_is_seeded_disjoint_and_scaled(tmp_path: Path) -> None:
    write_mnist_files(tmp_path, n_train=100, n_test=30)
    cfg = make_config(
        "dataset=mnist",
        "dataset.validation_size=20",
        "dataset.train_size=50",
        "dataset.test_size=25",
    ).dataset
    a = load_idx_images(cfg, folder=tmp_path)
    b = load_idx_images(cfg, folder=tmp_path)
    assert a.x_train.shape == (50, 28, 28, 1) and a.x_val.shape == (20, 28, 28, 1)
    assert a.x_test.shape == (25, 28, 28, 1)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int32
    for split in ("x_train", "x_val", "x_test"):
        x = getattr(a, split)
        assert x.min() >= 0.0 and x.max() <= 1.0
        np.testing.assert_array_equal(x, getattr(b, split))
    # Image i of the file has pixels i/255 (away from the corner): recover the file indices.
    train_ids = set(np.rint(a.x_train[:, 5, 5, 0] * 255).astype(int))
    val_ids = set(np.rint(a.x_val[:, 5, 5, 0] * 255).astype(int))
    assert not train_ids & val_ids
    assert all(a.y_train == np.array(sorted(train_ids)) % 10)
    other = load_idx_images(
        make_config("dataset=mnist", "dataset.validation_size=20", "dataset.seed=1").dataset,
        folder=tmp_path,
    )
    assert set(np.rint(other.x_val[:, 5, 5, 0] * 255).astype(int)) != val_ids


def test_digits_split_sizes_and_pixel_range() -> None:
    data = load_dataset(make_config("dataset=digits").dataset)
    assert data.input_shape == (8, 8, 1) and data.num_classes == 10
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 1797
    assert len(data.y_test) == 360 and len(data.y_val) == 180
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert set(np.unique(data.y_test)) == set(range(10))


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)",
)
def test_fashion_mnist_from_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BNNRUN_FASHION_MNIST_DIR", raising=False)
    cfg = make_config("dataset=fashion_mnist", "dataset.download=false").dataset
    assert locate("fashion_mnist", allow_download=False) == Path(
        "/usr/share/datasets/fashion-mnist"
    )
    data = load_dataset(cfg)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (50_000, 10_000, 10_000)
    assert data.class_names[0] == "T-shirt/top" and data.x_test.max() == 1.0
    assert np.bincount(data.y_test).tolist() == [1000] * 10


# ------------------------------------------------------------------ class subsets, small sets
def test_select_classes_keeps_and_relabels_in_the_order_given() -> None:
    x = np.arange(10)[:, None] * 1.0
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=np.int32)
    xs, ys = select_classes(x, y, [7, 2, 9])
    np.testing.assert_array_equal(xs[:, 0], [2.0, 7.0, 9.0])  # original order kept
    np.testing.assert_array_equal(ys, [1, 0, 2])  # 7 -> 0, 2 -> 1, 9 -> 2
    assert ys.dtype == np.int32
    assert select_classes(x, y, None)[1] is y
    assert class_names("fashion_mnist", [9, 0]) == ("Ankle boot", "T-shirt/top")


def test_idx_classes_subset_both_files_before_the_sizes(tmp_path: Path) -> None:
    write_mnist_files(tmp_path, n_train=100, n_test=30)
    cfg = make_config(
        "dataset=mnist",
        "dataset.classes=[5,6,7,8,9]",
        "dataset.validation_size=10",
        "dataset.train_size=20",
    ).dataset
    data = load_idx_images(cfg, folder=tmp_path)
    assert data.num_classes == 5 and data.class_names == ("5", "6", "7", "8", "9")
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (20, 10, 15)
    # Image i has label i % 10 and pixels i / 255: each kept image's new label is its class - 5.
    splits = [(data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)]
    for x, y in splits:
        ids = np.rint(x[:, 5, 5, 0] * 255).astype(int)
        np.testing.assert_array_equal(y, ids % 10 - 5)


def test_digits_classes_and_stratified_train_size() -> None:
    cfg = make_config("dataset=digits", "dataset.classes=[5,6,7,8,9]", "dataset.train_size=100")
    data = load_dataset(cfg.dataset)
    assert data.num_classes == 5 and data.class_names == ("5", "6", "7", "8", "9")
    assert np.bincount(data.y_train).tolist() == [20] * 5  # stratified: 20 per class
    assert set(np.unique(data.y_test)) == set(range(5)) and len(data.y_val) > 0
    full = load_dataset(make_config("dataset=digits", "dataset.classes=[5,6,7,8,9]").dataset)
    np.testing.assert_array_equal(full.x_test, data.x_test)  # the subset leaves test alone
    other = load_dataset(
        make_config(
            "dataset=digits", "dataset.classes=[5,6,7,8,9]", "dataset.train_size=100",
            "dataset.seed=1",
        ).dataset
    )  # fmt: skip
    assert not np.array_equal(other.x_train, data.x_train)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dataset=digits", "dataset.classes=[3,10]"], "digits has no class 10; its classes are"),
        (["dataset=mnist", "dataset.classes=[4]"], "at least 2 distinct classes of mnist"),
        (["dataset=fashion_mnist", "dataset.classes=[1,1]"], "at least 2 distinct classes"),
        (["dataset=digits", "dataset.classes=[0,1,2]", "dataset.train_size=2"],
         "dataset.train_size must be an integer >= 3 (one image per class"),
    ],
)  # fmt: skip
def test_bad_classes_and_train_size_are_refused(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config(*overrides)
