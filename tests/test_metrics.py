"""Metrics give known values on hand-made predictive probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from bnnrun.analysis.metrics import (
    classification_metrics,
    entropy,
    expected_calibration_error,
    majority_vote,
    mutual_information,
)


def test_entropy_known_values() -> None:
    np.testing.assert_allclose(entropy(np.array([0.5, 0.5])), np.log(2))
    np.testing.assert_allclose(entropy(np.array([1.0, 0.0])), 0.0)
    np.testing.assert_allclose(entropy(np.full(4, 0.25)), np.log(4))


def test_mutual_information_zero_when_draws_agree_and_positive_when_not() -> None:
    agree = np.tile(np.array([[[0.7, 0.3]]]), (5, 1, 1))  # [S=5, N=1, C=2]
    np.testing.assert_allclose(mutual_information(agree), 0.0, atol=1e-12)
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    # H(mean) = log 2, mean H = 0.
    np.testing.assert_allclose(mutual_information(disagree), np.log(2))


def test_ece_hand_computed() -> None:
    # Confidences 0.9, 0.9, 0.6, 0.6 in two bins; accuracy 1/2 in each.
    mean = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 0, 0, 0])
    # bin of 0.9: correct = [1, 0] -> acc 0.5, conf 0.9; bin of 0.6: acc 0.5, conf 0.6
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(0.5 - 0.6)
    assert expected_calibration_error(mean, y) == pytest.approx(expected)


def test_ece_zero_for_perfect_calibration() -> None:
    mean = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(mean, np.array([0, 1])) == 0.0


def test_ece_bin_edges_are_upper_inclusive() -> None:
    # 15 bins: 1/15 -> bin 0; just above -> bin 1. Two singletons, each off by its confidence.
    c0, c1 = 1 / 15, 1 / 15 + 1e-9
    mean = np.array([[c0, 1 - c0, 0.0], [c1, 1 - c1, 0.0]])
    mean = mean[:, [0, 2, 1]]
    y = np.array([1, 1])  # predicted class 2 both times (conf 1-c): wrong
    got = expected_calibration_error(mean, y, num_bins=15)
    assert got == pytest.approx(0.5 * (1 - c0) + 0.5 * (1 - c1))


def test_classification_metrics_known_values() -> None:
    # Two draws, three inputs, two classes.
    probs = np.array(
        [
            [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]],
            [[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]],
        ]
    )
    y = np.array([0, 1, 0])
    mean = probs.mean(axis=0)  # [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    m = classification_metrics(probs, y)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["nll"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.4])))
    assert m["brier"] == pytest.approx(np.mean([2 * 0.2**2, 2 * 0.3**2, 2 * 0.6**2]))
    assert m["entropy"] == pytest.approx(np.mean(entropy(mean)))
    mi = entropy(mean) - entropy(probs).mean(axis=0)
    assert m["mutual_info"] == pytest.approx(mi.mean())
    # votes: input 3 has one vote each -> tie -> class 0 (correct)
    assert m["accuracy_vote"] == pytest.approx(1.0)
    assert set(m) == {"accuracy", "accuracy_vote", "nll", "brier", "ece", "entropy", "mutual_info"}


def test_majority_vote() -> None:
    probs = np.array([[[0.6, 0.4]], [[0.3, 0.7]], [[0.2, 0.8]]])
    assert majority_vote(probs).tolist() == [1]
    tie = np.array([[[0.6, 0.4]], [[0.3, 0.7]]])
    assert majority_vote(tie).tolist() == [0]  # ties go to the lower class
