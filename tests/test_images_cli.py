"""The CNN on digits from the command line, end to end: every analysis file, in seconds."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert len(m["per_class_accuracy"]) == 10
    assert isinstance(m["confident_mistakes"], int) and 0 <= m["expected_error_rate"] < 0.9
    assert 0.0 <= m["ood_auroc_entropy"] <= 1.0 and 0.0 <= m["ood_auroc_mutual_info"] <= 1.0
    assert m["ood_dataset"] == "digits"
    for key in ("val_accuracy", "val_nll", "val_ece", "ece", "nll", "brier"):
        assert key in m, key
