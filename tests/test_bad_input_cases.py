"""The remaining examples of issue 12, each refused in one line with exit 2 before a run starts:
data whose shapes disagree, an informed prior's unusable source, run directories nothing can
be written to, and data files of the wrong kind (not "not found", not "pickled data").

Most cases go through ``bnnrun``'s own entry point in-process (:func:`bnnrun.cli.main.main`,
which stops before Hydra when the precheck refuses); a few through the real CLI.
"""

from __future__ import annotations

import gc
import gzip
import signal
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import unprivileged

from bnnrun import rundir
from bnnrun.data.files import IDX_FILES
from bnnrun.errors import ConfigError, DataError, RunDirError
from bnnrun.model.informed import select_centres

#: The parameters of the default network (moons: 2-5-5-2), as an informed source holds them.
SHAPES = {
    "layer1": {"w": (2, 5), "b": (5,)},
    "layer2": {"w": (5, 5), "b": (5,)},
    "layer3": {"w": (5, 2), "b": (2,)},
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped IDX file of unsigned bytes, as MNIST's are (written here, independently of
    bnnrun's reader)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_images(folder: Path, *, train: int = 28, test: int = 28) -> Path:
    """Four MNIST-format files: 60 training and 20 test images of ``train`` and ``test``
    pixels a side."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, n, side in (("train", 60, train), ("test", 20, test)):
        write_idx(folder / IDX_FILES[f"{part}_images"], rng.integers(0, 256, (n, side, side)))
        write_idx(folder / IDX_FILES[f"{part}_labels"], np.arange(n) % 10)
    return folder


def informed_source(path: Path, **changes: np.ndarray) -> Path:
    """An ``.npz`` source for the default network, zeros but for ``changes`` (by site)."""
    arrays: dict[str, np.ndarray] = {
        f"{layer}.{role}": np.zeros(shape, np.float32)
        for layer, roles in SHAPES.items()
        for role, shape in roles.items()
    }
    np.savez(path, **{**arrays, **changes})
    return path


# ---------------------------------------------------------------------------------------------
# The cases: (id, build(tmp_path, monkeypatch) -> bnnrun's arguments, the whole stderr line)

Case = Callable[[Path, pytest.MonkeyPatch], tuple[list[str], str]]


def _mixed_images(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    folder = write_images(tmp / "mixed", train=28, test=20)
    return (
        ["dataset=mnist", f"dataset.data_dir={folder}", "dataset.download=false"],
        f"{folder}: the training images are 28x28 pixels but the test images 20x20; the files "
        "do not belong together",
    )


def _images_and_labels(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    folder = write_images(tmp / "idx")
    write_idx(folder / IDX_FILES["test_labels"], np.zeros(19))
    return (
        ["dataset=mnist", f"dataset.data_dir={folder}", "dataset.download=false"],
        f"{folder}: 20 test images but 19 labels; the files do not belong together",
    )


def _idx_file_is_a_directory(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    folder = write_images(tmp / "idx")
    target = folder / IDX_FILES["train_images"]
    target.unlink()
    target.mkdir()
    return (
        ["dataset=mnist", f"dataset.data_dir={folder}", "dataset.download=false"],
        f"{target} is a directory, not an IDX file",
    )


def _data_dir_is_a_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    (tmp / "file").write_text("x")
    return (
        ["dataset=mnist", f"dataset.data_dir={tmp / 'file'}", "dataset.download=false"],
        f"dataset.data_dir={tmp / 'file'} is a file, not a directory: it must be the folder of "
        f"{', '.join(IDX_FILES.values())}",
    )


def _table_is_a_directory(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    (tmp / "t.csv").mkdir()
    return (
        ["dataset=table", f"dataset.path={tmp / 't.csv'}", "dataset.target=y"],
        f"dataset.path='{tmp / 't.csv'}' is a directory, not a file: it must be a CSV or "
        "Parquet file",
    )


def _uci_data_is_a_directory(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    (tmp / "uci" / "data.txt").mkdir(parents=True)
    return (
        ["dataset=uci", f"dataset.path={tmp / 'uci'}"],
        f"{tmp / 'uci' / 'data.txt'} is a directory, not a file",
    )


def _source_with_nan(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    w = np.zeros((5, 5), np.float32)
    w[1, 3] = np.nan
    source = informed_source(tmp / "nan.npz", **{"layer2.w": w})
    return (
        ["prior=informed", f"prior.source={source}"],
        f"prior.source='{source}': layer2.w holds 1 values that are not finite numbers in "
        "float32 (e.g. np.float32(nan)); a prior cannot be centred there",
    )


def _source_beyond_float32(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    source = informed_source(tmp / "huge.npz", **{"layer1.b": np.full(5, 1e39)})
    return (
        ["prior=informed", f"prior.source={source}"],
        f"prior.source='{source}': layer1.b holds 5 values that are not finite numbers in "
        "float32 (e.g. np.float64(1e+39)); a prior cannot be centred there",
    )


def _source_of_strings(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    source = informed_source(tmp / "str.npz", **{"layer1.w": np.full((2, 5), "0.5")})
    return (
        ["prior=informed", f"prior.source={source}"],
        f"prior.source='{source}': layer1.w holds <U3 values, not real numbers",
    )


def _source_of_random_bytes(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    source = tmp / "random.npz"
    source.write_bytes(bytes.fromhex("d3f95c4e") + np.random.default_rng(0).bytes(2000))
    return (
        ["prior=informed", f"prior.source={source}"],
        f"{source}: not an .npz file: an .npz is a zip archive, and this file does not start as "
        "one does (its first bytes are d3f95c4e)",
    )


def _run_dir_is_a_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    (tmp / "file").write_text("x")
    return (
        [f"hydra.run.dir={tmp / 'file'}"],
        f"hydra.run.dir={tmp / 'file'} is a file, not a directory: choose another hydra.run.dir",
    )


def _run_dir_under_a_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    (tmp / "file").write_text("x")
    out = tmp / "file" / "runs" / "a"
    return (
        [f"hydra.run.dir={out}"],
        f"hydra.run.dir={out} sits under {tmp / 'file'}, which is a file, not a directory: "
        "choose another hydra.run.dir",
    )


def _run_dir_under_proc(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    # /proc refuses new directories even to root (chmod would not stop root).
    return (
        ["hydra.run.dir=/proc/bnnrun-run"],
        "hydra.run.dir=/proc/bnnrun-run: nothing can be written in /proc (No such file or "
        "directory): choose another hydra.run.dir",
    )


def _default_name_too_long(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    mp.chdir(tmp)  # the default run directory, outputs/runs/<name>/<time>, is relative
    return (
        ["name=" + "n" * 300],
        "hydra.run.dir: its name nnnnnnnnnnnnnnnnnnnnnnnn... is 300 bytes, longer than its "
        "file system allows (255): shorten hydra.run.dir (or name, which it holds by default)",
    )


def _sweep_dir_is_a_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    (tmp / "file").write_text("x")
    return (
        ["-m", "seed=0,1", f"hydra.sweep.dir={tmp / 'file'}"],
        f"hydra.sweep.dir={tmp / 'file'} is a file, not a directory: choose another "
        "hydra.sweep.dir",
    )


def _source_name_too_long(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    name = "x" * 300  # one path component longer than the file system allows (255 bytes)
    return (
        ["prior=informed", f"prior.source={name}"],
        f"prior.source={name!r} cannot be used as a path (File name too long): prior.source "
        "must be a bnnrun run directory or an .npz file",
    )


def _uci_path_too_long(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    path = tmp / ("x" * 300)
    return (
        ["dataset=uci", f"dataset.path={path}"],
        f"cannot use the path '{str(path)[:60]}...{str(path)[-40:]} ({len(str(path))} "
        "characters)': File name too long",
    )


def _data_dir_too_long(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], str]:
    name = "x" * 300  # found by the property suite: stat() raises, it does not say "absent"
    return (
        ["dataset=mnist", f"dataset.data_dir={name}"],
        f"dataset.data_dir {name} cannot be searched: File name too long",
    )


CASES: dict[str, Case] = {
    "a data_dir whose name is too long": _data_dir_too_long,
    "an informed source whose name is too long": _source_name_too_long,
    "a UCI path whose name is too long": _uci_path_too_long,
    "train and test images of different sizes": _mixed_images,
    "images and labels of different counts": _images_and_labels,
    "an IDX file that is a directory": _idx_file_is_a_directory,
    "a data_dir that is a file": _data_dir_is_a_file,
    "a table that is a directory": _table_is_a_directory,
    "a UCI data.txt that is a directory": _uci_data_is_a_directory,
    "an informed source with NaN": _source_with_nan,
    "an informed source beyond float32": _source_beyond_float32,
    "an informed source of strings": _source_of_strings,
    "an informed source of random bytes": _source_of_random_bytes,
    "a run dir that is a file": _run_dir_is_a_file,
    "a run dir under a file": _run_dir_under_a_file,
    "a run dir under /proc": _run_dir_under_proc,
    "a default run dir name too long": _default_name_too_long,
    "a sweep dir that is a file": _sweep_dir_is_a_file,
}


def _no_run() -> None:
    raise AssertionError("the precheck let this input through to a run")


@pytest.fixture
def bnnrun_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``bnnrun ARGS`` through its entry point, in-process; returns (exit code, stdout,
    stderr). Only for input the precheck refuses: it exits before Hydra starts."""
    from bnnrun.cli import main as cli

    def run(args: list[str]) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["bnnrun", *args])
        monkeypatch.setenv("PYTHONHASHSEED", "0")  # no re-exec
        monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
        monkeypatch.setattr("bnnrun.cli.app.hydra_main", _no_run)
        handler = signal.getsignal(signal.SIGTERM)
        try:
            with pytest.raises(SystemExit) as info:
                cli.main()
        finally:
            gc.enable()  # main() collects again only once Hydra runs
            signal.signal(signal.SIGTERM, handler)
        out, err = capsys.readouterr()
        return int(info.value.code), out, err

    return run


@pytest.mark.parametrize("case", list(CASES))
def test_refused_in_one_line_before_anything_is_written(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bnnrun_main
) -> None:
    args, message = CASES[case](tmp_path, monkeypatch)
    out_dir = tmp_path / "run"
    if not any(a.startswith(("hydra.run.dir=", "name=", "-m")) for a in args):
        args = [*args, f"hydra.run.dir={out_dir}"]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = bnnrun_main(args)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"bnnrun: error: {message}"]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# ---------------------------------------------------------------------------------------------
# The real CLI: refused before the fit, in one line, no run directory


@pytest.mark.parametrize(
    "case", ["train and test images of different sizes", "an informed source of strings"]
)
def test_the_cli_refuses_before_the_fit(
    case: str, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """These two went through the whole fit and ended in a traceback (a shape error in the
    predictive; a failed float conversion)."""
    args, message = CASES[case](tmp_path, monkeypatch)
    out = tmp_path / "run"
    proc = run_cli(*args, f"hydra.run.dir={out}", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"bnnrun: error: {message}"]
    assert proc.stdout == ""
    assert not out.exists()


def test_a_default_run_dir_too_long_is_one_line_through_the_cli(run_cli, tmp_path: Path) -> None:
    """It was a traceback: Hydra's own mkdir failed, after the checks had passed."""
    proc = run_cli("name=" + "n" * 300, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "bnnrun: error: hydra.run.dir: its name nnnnnnnnnnnnnnnnnnnnnnnn... is 300 bytes, "
        "longer than its file system allows (255): shorten hydra.run.dir (or name, which it "
        "holds by default)"
    ]
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# The layers underneath


def test_load_npz_names_what_a_file_is(tmp_path: Path) -> None:
    """Random bytes are not "pickled data", a directory is not "no such file", and a single
    ``.npy`` array is not an ``.npz``."""
    (tmp_path / "random.npz").write_bytes(b"\x00\x01" + np.random.default_rng(1).bytes(100))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "dir.npz").mkdir()
    np.save(tmp_path / "one.npy", np.zeros(3))
    expected = {
        "random.npz": "not an .npz file: an .npz is a zip archive, and this file does not "
        "start as one does (its first bytes are 0001",
        "empty.npz": "(its first bytes are none: it is empty)",
        "dir.npz": "is a directory, not an .npz file",
        "one.npy": "a single .npy array, not an .npz file",
    }
    for name, words in expected.items():
        with pytest.raises(DataError) as info:
            rundir.load_npz(tmp_path / name)
        assert words in str(info.value) and "pickled" not in str(info.value), name
    np.savez(tmp_path / "ok.npz", a=np.arange(3))
    np.testing.assert_array_equal(rundir.load_npz(tmp_path / "ok.npz")["a"], [0, 1, 2])
    np.savez(tmp_path / "none.npz")  # a zip archive of no arrays: valid, and empty
    assert rundir.load_npz(tmp_path / "none.npz") == {}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.array([[np.inf] * 5, [0.0] * 5]), "holds 5 values that are not finite"),
        (np.ones((2, 5), bool), "holds bool values, not real numbers"),
        (np.ones((2, 5), complex), "holds complex128 values, not real numbers"),
        (np.full((2, 5), None), "holds object values"),
    ],
    ids=["inf", "bool", "complex", "object"],
)
def test_select_centres_refuses_unusable_arrays(value: np.ndarray, words: str) -> None:
    arrays = {"layer1.w": value, "layer1.b": np.zeros(5)}
    with pytest.raises(ConfigError, match=words):
        select_centres(arrays, SHAPES, ("layer1",), source="s.npz")


def test_select_centres_keeps_finite_numbers_as_float32() -> None:
    w = np.arange(10, dtype=np.int64).reshape(2, 5)
    got = select_centres({"layer1.w": w, "layer1.b": np.full(5, 0.25)}, SHAPES, ("layer1",),
                         source="s.npz")  # fmt: skip
    assert got["layer1.w"].dtype == np.float32 and got["layer1.b"].dtype == np.float32
    np.testing.assert_array_equal(got["layer1.w"], w)
    np.testing.assert_array_equal(got["layer1.b"], [0.25] * 5)


def test_loading_refuses_images_of_different_sizes(tmp_path: Path) -> None:
    """Also where the precheck is bypassed (the Python API): before anything is fitted."""
    from bnnrun.config import IDXImagesConfig
    from bnnrun.data.images import load_idx_images

    folder = write_images(tmp_path, train=28, test=27)
    with pytest.raises(DataError, match="28x28 pixels but the test images 27x27"):
        load_idx_images(IDXImagesConfig(name="mnist", validation_size=10), folder=folder)


def test_check_run_dir_accepts_a_new_or_empty_directory_and_leaves_nothing(tmp_path) -> None:
    rundir.check_run_dir(tmp_path / "a" / "b")
    rundir.check_run_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "done").mkdir()
    before = (tmp_path / "done").stat().st_mtime_ns
    rundir.check_run_dir(tmp_path / "done")  # an existing directory is not written to
    assert (tmp_path / "done").stat().st_mtime_ns == before
    with pytest.raises(RunDirError, match="longer than the file system allows"):
        rundir.check_run_dir(tmp_path / (("d" * 200 + "/") * 21))


def test_a_read_only_run_dir_is_refused(open_tmp: Path) -> None:
    """As a user whom permissions bind (root is one only in a child become nobody)."""
    folder = open_tmp / "ro"
    folder.mkdir()
    folder.chmod(0o555)

    def refusals() -> list[str]:
        said = []
        for target in (folder, folder / "run"):
            try:
                rundir.check_run_dir(target)
            except RunDirError as exc:
                said.append(str(exc))
        return said

    said = unprivileged(refusals)
    assert len(said) == 2, said
    assert "nothing can be written in it" in said[0]
    assert f"nothing can be written in {folder} " in said[1]
    assert list(folder.iterdir()) == []
