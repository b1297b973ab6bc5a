"""Metrics give known values on hand-made predictive probabilities, and scikit-learn's values
on random ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss

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


def h(*p: float) -> float:
    """Entropy of the distribution p, written out."""
    return -sum(x * np.log(x) for x in p)


def test_classification_metrics_known_values() -> None:
    # Two draws, three inputs, two classes.
    probs = np.array(
        [
            [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]],
            [[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]],
        ]
    )
    y = np.array([0, 1, 0])
    # mean: [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]; argmax 0, 1, 1: the third is wrong.
    m = classification_metrics(probs, y)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["nll"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.4])))
    assert m["brier"] == pytest.approx(np.mean([2 * 0.2**2, 2 * 0.3**2, 2 * 0.6**2]))
    mean_entropy = [h(0.8, 0.2), h(0.3, 0.7), h(0.4, 0.6)]
    assert m["entropy"] == pytest.approx(np.mean(mean_entropy))
    draw_entropy = [
        (h(0.9, 0.1) + h(0.7, 0.3)) / 2,
        (h(0.2, 0.8) + h(0.4, 0.6)) / 2,
        (h(0.6, 0.4) + h(0.2, 0.8)) / 2,
    ]
    assert m["mutual_info"] == pytest.approx(np.mean(mean_entropy) - np.mean(draw_entropy))
    # Confidences 0.8, 0.7, 0.6 fall in three different bins of 15: |acc - conf| each.
    assert m["ece"] == pytest.approx((0.2 + 0.3 + 0.6) / 3)
    # votes: input 3 has one vote each -> tie -> class 0 (correct)
    assert m["accuracy_vote"] == pytest.approx(1.0)
    assert set(m) == {"accuracy", "accuracy_vote", "nll", "brier", "ece", "entropy", "mutual_info"}


@pytest.mark.parametrize("num_classes", [2, 3, 10])
def test_point_metrics_match_scikit_learn(num_classes: int) -> None:
    """Accuracy, NLL, Brier score and the majority vote on random predictives, against
    scikit-learn's ``accuracy_score``, ``log_loss`` and ``brier_score_loss`` and SciPy's mode."""
    rng = np.random.default_rng(num_classes)
    probs = rng.dirichlet(np.full(num_classes, 0.5), size=(7, 50))  # [S, N, C]
    probs = probs.astype(np.float32)  # as the network gives them: rows sum to 1 only roughly
    y = rng.integers(0, num_classes, size=50)
    m = classification_metrics(probs, y)
    mean = probs.mean(axis=0).astype(np.float64)
    mean /= mean.sum(axis=-1, keepdims=True)
    labels = np.arange(num_classes)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, mean.argmax(-1)), abs=1e-12)
    assert m["nll"] == pytest.approx(log_loss(y, mean, labels=labels), rel=1e-9)
    brier = brier_score_loss(y, mean, labels=labels, scale_by_half=False)
    assert m["brier"] == pytest.approx(brier, rel=1e-9)
    votes = stats.mode(probs.argmax(-1), axis=0, keepdims=False).mode  # ties: the lowest
    np.testing.assert_array_equal(majority_vote(probs), votes)
    assert m["accuracy_vote"] == pytest.approx(accuracy_score(y, votes), abs=1e-12)


def test_majority_vote() -> None:
    probs = np.array([[[0.6, 0.4]], [[0.3, 0.7]], [[0.2, 0.8]]])
    assert majority_vote(probs).tolist() == [1]
    tie = np.array([[[0.6, 0.4]], [[0.3, 0.7]]])
    assert majority_vote(tie).tolist() == [0]  # ties go to the lower class
