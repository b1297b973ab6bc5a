"""bnnrun-compare: distances between predictive distributions, on numbers and on real run
directories whose predictives are known exactly."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config

from bnnrun import rundir
from bnnrun.analysis.compare import predictive_distance
from bnnrun.cli import compare


def test_predictive_distance_on_known_distributions() -> None:
    p_a = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    p_b = np.array([[0.25, 0.75], [0.9, 0.1], [0.6, 0.4]])
    d = predictive_distance(p_a, p_b)
    assert d.mean_abs_dp == pytest.approx((0.25 + 0.0 + 0.4) / 3)
    assert d.max_abs_dp == pytest.approx(0.4)
    kl = [
        0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75),
        0.0,
        0.2 * np.log(0.2 / 0.6) + 0.8 * np.log(0.8 / 0.4),
    ]
    assert d.kl_mean == pytest.approx(np.mean(kl))
    assert d.kl_max == pytest.approx(max(kl))
    assert predictive_distance(p_a, p_a).kl_mean == 0.0
    three = predictive_distance(np.array([[0.2, 0.3, 0.5]]), np.array([[0.5, 0.3, 0.2]]))
    assert three.mean_abs_dp == pytest.approx(0.3)  # total variation, half the L1 distance


def constant_run(run_dir: Path, head_bias: list[float], *overrides: str) -> None:
    """A finished MAP (delta) run whose network ignores its input: all weights 0, so that
    p(y | x) = softmax(head_bias) at every x."""
    cfg = make_config("debug=smoke", "inference.guide=delta", *overrides)
    run_dir.mkdir(parents=True)
    shapes = {"layer1.w": (2, 5), "layer1.b": (5,), "layer2.w": (5, 5), "layer2.b": (5,)}
    shapes |= {"layer3.w": (5, 2)}
    params = {f"{k}_auto_loc": np.zeros(s, np.float32) for k, s in shapes.items()}
    params["layer3.b_auto_loc"] = np.asarray(head_bias, np.float32)
    np.savez(run_dir / "posterior.npz", **params)
    rundir.write_json(run_dir / rundir.METRICS, {"status": "ok", "config": asdict(cfg)})


def test_compare_two_runs_with_known_predictives(tmp_path: Path, capsys) -> None:
    constant_run(tmp_path / "a", [0.0, 0.0])  # p = (1/2, 1/2)
    constant_run(tmp_path / "b", [0.0, float(np.log(3.0))])  # p = (1/4, 3/4)
    out = tmp_path / "compare.json"
    assert compare.main([str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads(out.read_text())
    assert result["num_inputs"] == 36 and result["draws_a"] == result["draws_b"] == 16
    assert result["mean_abs_dp"] == pytest.approx(0.25, abs=1e-6)
    assert result["max_abs_dp"] == pytest.approx(0.25, abs=1e-6)
    assert result["kl_mean"] == pytest.approx(0.5 * np.log(4 / 3), abs=1e-6)
    assert result["kl_reverse_mean"] == pytest.approx(
        0.25 * np.log(0.5) + 0.75 * np.log(1.5), abs=1e-6
    )
    assert compare.main([str(tmp_path / "a"), str(tmp_path / "b"), "--inputs", "grid"]) == 0
    assert json.loads(capsys.readouterr().out)["num_inputs"] == 24 * 24


def test_compare_refuses_an_unfinished_run_and_other_data(tmp_path: Path, capsys) -> None:
    constant_run(tmp_path / "a", [0.0, 0.0])
    (tmp_path / "b").mkdir()
    assert compare.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"bnnrun-compare: error: RUN_B={tmp_path / 'b'} is not a finished bnnrun run "
        "(no metrics.json)"
    ]
    constant_run(tmp_path / "c", [0.0, 0.0], "dataset.noise=0.1")
    assert compare.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 2
    assert "the runs' test inputs differ" in capsys.readouterr().err
