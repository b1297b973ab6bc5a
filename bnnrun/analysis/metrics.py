"""Predictive metrics, computed from posterior predictive probabilities and true labels.

Every function here is pure NumPy on arrays: ``probs`` has shape ``[S, N, C]`` (S posterior draws,
N inputs, C classes) and ``y`` holds N integer labels. Point metrics use the posterior
predictive mean ``p(y | x) = mean_s p_s(y | x)``.

The point metrics follow scikit-learn's definitions operation for operation (``accuracy_score``,
``log_loss``, ``brier_score_loss``; the tests check them against it), without importing it: a
run would spend about half a second loading scikit-learn and SciPy (``bench/fixed_cost.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_TINY = np.finfo(np.float64).tiny


def majority_vote(probs: np.ndarray) -> np.ndarray:
    """Most frequent class among the draws' argmax classes, ``[N]``; ties go to the lower class."""
    votes = probs.argmax(axis=-1)
    counts = np.stack([(votes == c).sum(axis=0) for c in range(probs.shape[-1])])
    return counts.argmax(axis=0)  # the first, i.e. lowest, of equal counts


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats along ``axis``; 0 log 0 = 0."""
    p = np.asarray(p, np.float64)
    return -np.sum(p * np.log(np.clip(p, _TINY, None)), axis=axis)


class Reliability(NamedTuple):
    """Top-label calibration in equal-width confidence bins over [0, 1].

    Attributes:
        edges: bin edges, ``[num_bins + 1]``; bin k holds confidences in ``(edges[k],
            edges[k+1]]`` (bin 0 also holds 0).
        count: inputs per bin, ``[num_bins]``.
        confidence: mean top-class probability per bin (NaN where empty), ``[num_bins]``.
        accuracy: fraction of correct top-class predictions per bin (NaN where empty).
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """``sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|``."""
        full = self.count > 0
        weights = self.count[full] / self.count.sum()
        return float(np.sum(weights * np.abs(self.accuracy[full] - self.confidence[full])))


def reliability(mean_probs: np.ndarray, y: np.ndarray, *, num_bins: int = 15) -> Reliability:
    """Bin the top-class confidence of ``mean_probs`` ``[N, C]`` against labels ``y``."""
    conf = mean_probs.max(axis=-1)
    correct = (mean_probs.argmax(axis=-1) == y).astype(np.float64)
    # ceil(conf * bins) - 1 puts conf in (k/B, (k+1)/B] into bin k; conf == 0 goes to bin 0.
    bins = np.clip(np.ceil(conf * num_bins).astype(int) - 1, 0, num_bins - 1)
    count = np.bincount(bins, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(bins, weights=conf, minlength=num_bins) / count
        accuracy = np.bincount(bins, weights=correct, minlength=num_bins) / count
    return Reliability(np.linspace(0.0, 1.0, num_bins + 1), count, confidence, accuracy)


def expected_calibration_error(
    mean_probs: np.ndarray, y: np.ndarray, *, num_bins: int = 15
) -> float:
    """Top-label ECE with ``num_bins`` equal-width confidence bins over [0, 1] (see
    :class:`Reliability`); a bin's upper edge is inclusive."""
    return reliability(mean_probs, y, num_bins=num_bins).ece


def mutual_information(probs: np.ndarray) -> np.ndarray:
    """Epistemic part of the predictive entropy per input, ``[N]``:
    ``H[mean_s p_s] - mean_s H[p_s]`` (the BALD score)."""
    return entropy(probs.mean(axis=0)) - entropy(probs).mean(axis=0)


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """``[N, C]`` float64 indicators of the labels ``y``."""
    return (np.asarray(y)[:, None] == np.arange(num_classes)).astype(np.float64)


def log_loss(y: np.ndarray, mean_probs: np.ndarray) -> float:
    """Mean negative log probability of the true labels under ``mean_probs`` ``[N, C]``,
    clipped to ``[eps, 1 - eps]`` (scikit-learn's ``log_loss``)."""
    eps = np.finfo(mean_probs.dtype).eps
    clipped = np.clip(mean_probs, eps, 1 - eps)
    onehot = one_hot(y, mean_probs.shape[-1]).astype(mean_probs.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(onehot == 0.0, 0.0, onehot * np.log(clipped))
    return float(np.average(-np.sum(terms, axis=1)))


def brier_score(y: np.ndarray, mean_probs: np.ndarray) -> float:
    """Multiclass Brier score: mean over inputs of ``sum_c (1[y = c] - p_c)^2``, in [0, 2]."""
    onehot = one_hot(y, mean_probs.shape[-1]).astype(mean_probs.dtype)
    return float(np.average(np.sum((onehot - mean_probs) ** 2, axis=1)))


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Fraction of ``pred`` equal to ``y``."""
    return float(np.average(np.asarray(y) == np.asarray(pred)))


def classification_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The run's headline metrics.

    Returns:
        ``accuracy`` (argmax of the mean), ``accuracy_vote`` (majority vote over draws),
        ``nll`` (mean negative log predictive), ``brier`` (multiclass, in [0, 2]),
        ``ece`` (15 bins), ``entropy`` (mean predictive entropy) and ``mutual_info``
        (mean mutual information).
    """
    mean = probs.mean(axis=0).astype(np.float64)
    mean /= mean.sum(axis=-1, keepdims=True)  # float32 draws rarely sum to exactly 1
    return {
        "accuracy": accuracy(y, mean.argmax(axis=-1)),
        "accuracy_vote": accuracy(y, majority_vote(probs)),
        "nll": log_loss(y, mean),
        "brier": brier_score(y, mean),
        "ece": expected_calibration_error(mean, y),
        "entropy": float(entropy(mean).mean()),
        "mutual_info": float(mutual_information(probs).mean()),
    }
