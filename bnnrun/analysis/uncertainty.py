"""What a classifier's posterior uncertainty says about its mistakes (the paper's MNIST analyses),
and how well it separates out-of-distribution inputs.

Pure NumPy on predictive probabilities ``probs`` ``[S, N, C]`` (S posterior draws, N inputs, C
classes) and integer labels ``y`` ``[N]``. Like the paper, these analyses judge an input by the
majority vote of the draws' classes (:func:`bnnrun.analysis.metrics.majority_vote`): a
*mistake* is an input whose vote is not its label.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnnrun.analysis.metrics import entropy, majority_vote, mutual_information


def expected_error_rate(probs: np.ndarray) -> np.ndarray:
    """Per input, the fraction of draws whose class differs from the mode of the draws'
    classes (the paper's "expected error rate"), ``[N]`` in ``[0, 1 - 1/C]``."""
    votes = probs.argmax(axis=-1)
    return (votes != majority_vote(probs)[None, :]).mean(axis=0)


def prediction_variance(probs: np.ndarray) -> np.ndarray:
    """Per input, the variance over draws of the predicted class probabilities, summed over
    classes (the trace of their covariance), ``[N]``."""
    return probs.astype(np.float64).var(axis=0).sum(axis=-1)


class ClassVariance(NamedTuple):
    """Mean :func:`prediction_variance` per true class (the paper's fig. 4, left), ``[C]`` each;
    NaN for a class without inputs in the group.

    Attributes:
        misclassified: over the inputs whose vote is wrong.
        correct: over the inputs whose vote is right.
        all: over every input.
    """

    misclassified: np.ndarray
    correct: np.ndarray
    all: np.ndarray


def class_variance(probs: np.ndarray, y: np.ndarray) -> ClassVariance:
    """Prediction variance averaged per true class over mistakes, correct inputs and all."""
    num_classes = probs.shape[-1]
    var = prediction_variance(probs)
    right = majority_vote(probs) == y

    def per_class(mask: np.ndarray) -> np.ndarray:
        total = np.bincount(y[mask], weights=var[mask], minlength=num_classes)
        count = np.bincount(y[mask], minlength=num_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count

    everything = np.ones_like(right)
    return ClassVariance(per_class(~right), per_class(right), per_class(everything))


def per_class_accuracy(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy of the predictive mean's class within each true class (its recall), ``[C]``;
    NaN for a class absent from ``y``."""
    pred = probs.mean(axis=0).argmax(axis=-1)
    from sklearn.metrics import recall_score

    labels = np.arange(probs.shape[-1])
    return recall_score(y, pred, labels=labels, average=None, zero_division=np.nan)


def confident_mistakes(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the mistakes on which every draw agrees (expected error rate 0): the model
    is wrong and certain of it (the paper's fig. 5). Sorted ascending."""
    wrong = majority_vote(probs) != y
    return np.flatnonzero(wrong & (expected_error_rate(probs) == 0))


def most_uncertain(probs: np.ndarray, *, k: int) -> np.ndarray:
    """Indices of the ``k`` inputs with the highest expected error rate (the paper's fig. 6),
    highest first; ties go to the lower index."""
    return np.argsort(-expected_error_rate(probs), kind="stable")[:k]


def ood_auroc(score_in: np.ndarray, score_out: np.ndarray) -> float:
    """Area under the ROC curve for telling out-of-distribution inputs (positives) from
    in-distribution ones by a score that should be higher out of distribution: 1 separates
    perfectly, 0.5 is chance."""
    from sklearn.metrics import roc_auc_score

    labels = np.concatenate([np.zeros(len(score_in)), np.ones(len(score_out))])
    return float(roc_auc_score(labels, np.concatenate([score_in, score_out])))


class OODScores(NamedTuple):
    """Per-input uncertainty scores, ``[N]`` each: predictive entropy and mutual information."""

    entropy: np.ndarray
    mutual_info: np.ndarray


def ood_scores(probs: np.ndarray) -> OODScores:
    """The scores that :func:`ood_auroc` ranks inputs by."""
    return OODScores(entropy=entropy(probs.mean(axis=0)), mutual_info=mutual_information(probs))


def uncertainty_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, object]:
    """The analyses' numbers for ``metrics.json``: ``per_class_accuracy`` (a list, one per
    class), ``confident_mistakes`` (their count) and ``expected_error_rate`` (mean over inputs).
    """
    return {
        "per_class_accuracy": [float(a) for a in per_class_accuracy(probs, y)],
        "confident_mistakes": len(confident_mistakes(probs, y)),
        "expected_error_rate": float(expected_error_rate(probs).mean()),
    }
