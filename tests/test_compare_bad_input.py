"""``bnnrun-compare`` on bad arguments: one line on stderr, exit 2, never a traceback, nothing
written (issue 12)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config, unprivileged
from test_compare import constant_run

from bnnrun import rundir
from bnnrun.cli import compare


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    constant_run(tmp_path / "a", [0.0, 0.0])
    constant_run(tmp_path / "b", [0.0, 1.0])
    return tmp_path / "a", tmp_path / "b"


def one_line(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert out == ""
    return lines[0]


def test_a_failed_run_is_named_as_failed(runs, capsys, tmp_path: Path) -> None:
    failed = tmp_path / "failed"
    failed.mkdir()
    rundir.write_json(
        failed / rundir.METRICS, {"status": "failed", "error": "the log density is not finite"}
    )
    assert compare.main([str(runs[0]), str(failed)]) == 2
    assert one_line(capsys) == (
        f"bnnrun-compare: error: RUN_B={failed} is not a finished run: it ended with status "
        "'failed' (the log density is not finite); compare runs that finished (status ok)"
    )


@pytest.mark.parametrize("content", ["[1, 2]", "not json at all"])
def test_a_malformed_record_is_one_line(runs, capsys, tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / rundir.METRICS).write_text(content)
    assert compare.main([str(bad), str(runs[1])]) == 2
    assert one_line(capsys).startswith(f"bnnrun-compare: error: RUN_A={bad}")


def test_an_output_that_is_a_directory_is_refused_before_comparing(runs, capsys, tmp_path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    assert compare.main([*map(str, runs), "--output", str(target)]) == 2
    assert one_line(capsys) == (
        f"bnnrun-compare: error: --output {target}: is a directory; give a file name"
    )
    assert list(target.iterdir()) == []


def test_an_output_under_a_missing_or_file_folder_is_refused(runs, capsys, tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "nowhere" / "c.json", tmp_path / "file" / "c.json"):
        assert compare.main([*map(str, runs), "--output", str(target)]) == 2
        assert one_line(capsys) == (
            f"bnnrun-compare: error: --output {target}: its folder {target.parent} does not exist"
        )


def test_an_output_in_a_read_only_folder_is_refused(open_tmp: Path) -> None:
    """As a user whom permissions bind (root is one only in a child become nobody)."""
    import contextlib
    import io

    a, b = open_tmp / "a", open_tmp / "b"
    constant_run(a, [0.0, 0.0])
    constant_run(b, [0.0, 1.0])
    folder = open_tmp / "ro"
    folder.mkdir()
    folder.chmod(0o555)

    def compare_into_it() -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = compare.main([str(a), str(b), "--output", str(folder / "c.json")])
        return code, err.getvalue()

    code, err = unprivileged(compare_into_it)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"bnnrun-compare: error: --output {folder / 'c.json'}")
    assert "is not writable" in err
    assert list(folder.iterdir()) == []


def test_an_output_that_cannot_be_written_is_one_line(runs, capsys) -> None:
    # /proc refuses new files even to root; its folder exists and looks writable to root.
    target = Path("/proc/bnnrun-compare.json")
    code = compare.main([*map(str, runs), "--output", str(target)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"bnnrun-compare: error: --output {target}")
    assert "Traceback" not in err


@pytest.mark.parametrize("seed", ["-1", str(2**32), str(2**64)])
def test_a_seed_out_of_range_is_refused(runs, capsys, seed: str) -> None:
    with pytest.raises(SystemExit) as info:
        compare.main([*map(str, runs), "--seed", seed])
    assert info.value.code == 2
    assert "--seed must be an integer in [0, 4294967295]" in capsys.readouterr().err


def test_runs_with_inputs_of_different_shapes_are_refused(runs, capsys, tmp_path) -> None:
    """digits (8x8 images) against moons (two coordinates), on moons' grid."""
    other = tmp_path / "digits"
    other.mkdir()
    cfg = make_config("dataset=digits", "inference.guide=delta")
    shapes = {"layer1.w": (64, 5), "layer1.b": (5,), "layer2.w": (5, 5), "layer2.b": (5,)}
    shapes |= {"layer3.w": (5, 10), "layer3.b": (10,)}
    np.savez(
        other / "posterior.npz",
        **{f"{k}_auto_loc": np.zeros(s, np.float32) for k, s in shapes.items()},
    )
    rundir.write_json(other / rundir.METRICS, {"status": "ok", "config": asdict(cfg)})
    assert compare.main([str(runs[0]), str(other), "--inputs", "grid"]) == 2
    assert one_line(capsys) == (
        "bnnrun-compare: error: RUN_A's inputs have shape (2,) and RUN_B's (8, 8, 1): compare "
        "runs whose inputs have the same shape"
    )
