"""Predictive metrics, computed from posterior predictive probabilities and true labels.

Every function here is pure NumPy on arrays: ``probs`` has shape ``[S, N, C]`` (S posterior draws,
N inputs, C classes) and ``y`` holds N integer labels. Point metrics use the posterior
predictive mean ``p(y | x) = mean_s p_s(y | x)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss

_TINY = np.finfo(np.float64).tiny


def majority_vote(probs: np.ndarray) -> np.ndarray:
    """Most frequent class among the draws' argmax classes, ``[N]``; ties go to the lower class."""
    return stats.mode(probs.argmax(axis=-1), axis=0, keepdims=False).mode


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


def classification_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The run's headline metrics.

    Returns:
        ``accuracy`` (argmax of the mean), ``accuracy_vote`` (majority vote over draws),
        ``nll`` (mean negative log predictive), ``brier`` (multiclass, in [0, 2]),
        ``ece`` (15 bins), ``entropy`` (mean predictive entropy) and ``mutual_info``
        (mean mutual information).
    """
    num_classes = probs.shape[-1]
    labels = np.arange(num_classes)
    mean = probs.mean(axis=0).astype(np.float64)
    mean /= mean.sum(axis=-1, keepdims=True)  # float32 draws rarely sum to exactly 1
    return {
        "accuracy": float(accuracy_score(y, mean.argmax(axis=-1))),
        "accuracy_vote": float(accuracy_score(y, majority_vote(probs))),
        "nll": float(log_loss(y, mean, labels=labels)),
        "brier": float(brier_score_loss(y, mean, labels=labels, scale_by_half=False)),
        "ece": expected_calibration_error(mean, y),
        "entropy": float(entropy(mean).mean()),
        "mutual_info": float(mutual_information(probs).mean()),
    }
