"""The CNN on digits from the command line, end to end: every analysis file, in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import hand_auroc, hand_metrics, recorded_draws

import bnnrun
from bnnrun.data import load_dataset

IMAGE_FILES = [
    "metrics.json",
    "elbo.csv",
    "elbo.png",
    "posterior.npz",
    "weights_last_layer.png",
    "reliability.png",
    "class_variance.png",
    "expected_error_rate.png",
    "confident_mistakes.png",
    "most_uncertain.png",
    "ood_hist.png",
]


@pytest.mark.slow
def test_cnn_on_digits_writes_every_analysis(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "dataset=digits",
        "architecture=cnn",
        "debug=smoke_images",
        "ood=digits",  # the same distribution: exercises the path, AUROC near chance
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    for name in IMAGE_FILES:
        assert (out / name).is_file(), name
    assert not (out / "predictive_mean.png").exists()  # maps are for 2-D inputs only
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "ok" and m["num_steps"] == 2 * (1257 // 128)
    assert m["num_train"] == 1257 and m["num_test"] == 360
    assert m["accuracy"] > 0.5  # two epochs of a CNN on digits: far above chance (0.1)
    assert m["ood_dataset"] == "digits" and m["ood_num_test"] == 360

    # Every number again, from the draws the run predicted with and the definitions.
    run = bnnrun.load_run(out)
    draws = recorded_draws(out)
    probs = run.probs(draws, run.data.x_test)
    y = run.data.y_test
    assert probs.shape == (16, 360, 10)
    for key, value in hand_metrics(probs, y).items():
        assert value == pytest.approx(m[key], rel=1e-6, abs=1e-9), key
    pred = probs.mean(axis=0).argmax(axis=-1)
    per_class = [float((pred[y == c] == c).mean()) for c in range(10)]
    np.testing.assert_allclose(m["per_class_accuracy"], per_class)
    votes = probs.argmax(axis=-1)  # [S, N]
    counts = np.stack([(votes == c).sum(axis=0) for c in range(10)])
    mode = counts.argmax(axis=0)
    error_rate = (votes != mode).mean(axis=0)
    assert m["expected_error_rate"] == pytest.approx(error_rate.mean())
    assert m["confident_mistakes"] == int(((mode != y) & (error_rate == 0)).sum())
    val = hand_metrics(run.probs(draws, run.data.x_val), run.data.y_val)
    assert m["val_accuracy"] == pytest.approx(val["accuracy"]) and len(run.data.y_val) == 180
    assert m["val_nll"] == pytest.approx(val["nll"], rel=1e-6)
    assert m["val_ece"] == pytest.approx(val["ece"], rel=1e-6)
    # OOD: the digits test set against itself; entropy of the mean as the score.
    ood = load_dataset(run.cfg.ood)
    ood_probs = run.probs(draws, ood.x_test)

    def mean_entropy(p: np.ndarray) -> np.ndarray:
        mean = p.astype(np.float64).mean(axis=0)
        return -(mean * np.log(np.clip(mean, 1e-300, None))).sum(axis=-1)

    auroc = hand_auroc(mean_entropy(probs), mean_entropy(ood_probs))
    assert m["ood_auroc_entropy"] == pytest.approx(auroc, abs=1e-9)
    assert m["ood_auroc_entropy"] == pytest.approx(0.5, abs=1e-9)  # the same inputs, the same draws
