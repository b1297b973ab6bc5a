"""The uncertainty analyses and OOD AUROC give known values on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import hand_auroc
from sklearn.metrics import recall_score, roc_auc_score

from bnnrun.analysis.metrics import expected_calibration_error, reliability
from bnnrun.analysis.uncertainty import (
    class_variance,
    confident_mistakes,
    expected_error_rate,
    most_uncertain,
    ood_auroc,
    ood_scores,
    per_class_accuracy,
    prediction_variance,
    uncertainty_metrics,
)


def one_hot_draws(classes: list[list[int]], num_classes: int = 3) -> np.ndarray:
    """``probs [S, N, C]`` whose draw s puts all mass on ``classes[s][n]``."""
    return np.eye(num_classes)[np.array(classes)]


# Four draws (rows) of three inputs (columns).
CLASSES = [
    [0, 1, 2],
    [0, 1, 1],
    [0, 2, 1],
    [0, 1, 0],
]


def test_expected_error_rate_of_a_known_matrix() -> None:
    # Input 0: all agree -> 0. Input 1: mode 1, one of four disagrees -> 1/4.
    # Input 2: mode 1 (twice), two of four disagree -> 1/2.
    np.testing.assert_allclose(expected_error_rate(one_hot_draws(CLASSES)), [0.0, 0.25, 0.5])


def test_prediction_variance_of_one_hot_draws() -> None:
    # Input 1: p(class 1) is 1 in 3 of 4 draws (variance 3/16), p(class 2) 1 in 4 (3/16).
    got = prediction_variance(one_hot_draws(CLASSES))
    np.testing.assert_allclose(got, [0.0, 6 / 16, 1 / 4 * 3 / 4 * 2 + 2 / 4 * 2 / 4])


def test_class_variance_groups_by_true_class_and_correctness() -> None:
    probs = one_hot_draws(CLASSES)
    y = np.array([0, 2, 1])  # votes are 0, 1, 1: input 1 is a mistake
    var = [0.0, 6 / 16, 10 / 16]  # as in test_prediction_variance_of_one_hot_draws
    cv = class_variance(probs, y)
    np.testing.assert_allclose(cv.all, [var[0], var[2], var[1]])
    np.testing.assert_allclose(cv.correct, [var[0], var[2], np.nan])
    np.testing.assert_allclose(cv.misclassified, [np.nan, np.nan, var[1]])


def test_confident_mistakes_are_wrong_with_every_draw_agreeing() -> None:
    classes = [[0, 1, 2, 2], [0, 1, 2, 1], [0, 1, 2, 2]]
    probs = one_hot_draws(classes)
    y = np.array([0, 2, 1, 2])
    # Input 0 right and certain; 1 wrong and certain; 2 wrong and certain; 3 right, uncertain.
    np.testing.assert_array_equal(confident_mistakes(probs, y), [1, 2])


def test_most_uncertain_orders_by_expected_error_rate() -> None:
    probs = one_hot_draws(CLASSES)
    np.testing.assert_array_equal(most_uncertain(probs, k=2), [2, 1])
    np.testing.assert_array_equal(most_uncertain(probs, k=10), [2, 1, 0])


def test_per_class_accuracy_and_metrics_record() -> None:
    mean = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.5, 0.0, 0.5]])
    probs = mean[None]  # one draw
    y = np.array([0, 1, 2, 0])
    # class 0: inputs 0 (right) and 3 (argmax ties -> class 0, right); 1: right; 2: wrong.
    np.testing.assert_allclose(per_class_accuracy(probs, y), [1.0, 1.0, 0.0])
    record = uncertainty_metrics(probs, y)
    assert record["per_class_accuracy"] == [1.0, 1.0, 0.0]
    assert record["confident_mistakes"] == 1  # input 2, with a single draw
    assert record["expected_error_rate"] == 0.0


def test_reliability_bins_and_ece() -> None:
    mean = np.array([[0.95, 0.05], [0.95, 0.05], [0.62, 0.38], [0.28, 0.72]])
    y = np.array([0, 1, 0, 1])
    rel = reliability(mean, y, num_bins=10)
    assert rel.count.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0, 2]
    np.testing.assert_allclose(rel.confidence[[6, 7, 9]], [0.62, 0.72, 0.95])
    np.testing.assert_allclose(rel.accuracy[[6, 7, 9]], [1.0, 1.0, 0.5])
    expected = (0.38 + 0.28 + 2 * 0.45) / 4
    assert rel.ece == pytest.approx(expected)
    assert expected_calibration_error(mean, y, num_bins=10) == pytest.approx(expected)


def test_ood_auroc_on_constructed_scores() -> None:
    s_in = np.array([0.1, 0.2, 0.3])
    assert ood_auroc(s_in, np.array([0.5, 0.6])) == 1.0
    assert ood_auroc(s_in, np.array([0.0, 0.05])) == 0.0
    assert ood_auroc(s_in, s_in.copy()) == 0.5
    # Pairs (in, out) where out scores higher: 0.25 beats 0.1 and 0.2 -> 2 of 3; 0.05 none.
    assert ood_auroc(s_in, np.array([0.25, 0.05])) == pytest.approx(2 / 6)


def test_ood_scores_rank_disagreeing_draws_higher() -> None:
    confident = np.tile(np.array([[[0.98, 0.01, 0.01]]]), (4, 1, 1))
    disagreeing = one_hot_draws([[0], [1], [2], [0]])
    s_in, s_out = ood_scores(confident), ood_scores(disagreeing)
    # Entropy of the mean: (0.98, 0.01, 0.01) in; (1/2, 1/4, 1/4) out, i.e. 1.5 log 2.
    np.testing.assert_allclose(s_in.entropy, [-(0.98 * np.log(0.98) + 0.02 * np.log(0.01))])
    np.testing.assert_allclose(s_out.entropy, [1.5 * np.log(2)])
    np.testing.assert_allclose(s_in.mutual_info, 0.0, atol=1e-12)  # the draws agree
    np.testing.assert_allclose(s_out.mutual_info, [1.5 * np.log(2)])  # one-hot: H(p_s) = 0


def test_per_class_accuracy_and_auroc_match_scikit_learn() -> None:
    """Per-class accuracy is scikit-learn's recall per class (NaN for an absent class), and
    the AUROC its ``roc_auc_score`` and the fraction of (in, out) pairs ranked right."""
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=(5, 60))
    y = rng.choice([0, 1, 3], size=60)  # class 2 absent
    pred = probs.mean(axis=0).argmax(axis=-1)
    want = recall_score(y, pred, labels=[0, 1, 2, 3], average=None, zero_division=np.nan)
    np.testing.assert_allclose(per_class_accuracy(probs, y), want)
    assert np.isnan(per_class_accuracy(probs, y)[2])
    s_in = rng.normal(size=40).round(1)  # rounded: ties between the two sets too
    s_out = rng.normal(0.5, 1.0, size=30).round(1)
    labels = np.r_[np.zeros(40), np.ones(30)]
    got = ood_auroc(s_in, s_out)
    assert got == pytest.approx(roc_auc_score(labels, np.r_[s_in, s_out]))
    assert got == pytest.approx(hand_auroc(s_in, s_out))
