"""How far apart two posterior predictives are, over the same inputs.

Both runs predict the same inputs (the test split, the training split, or the 2-D grid of the
uncertainty maps). At each input x, with p_A(. | x) and p_B(. | x) the posterior predictive
means over each run's draws (SVI: fresh guide draws; NUTS: its samples):

- ``|dp|(x) = 1/2 sum_c |p_A(c | x) - p_B(c | x)|``, the total variation distance; with two
  classes it is ``|p_A(1 | x) - p_B(1 | x)|``. Reported as its mean and max over inputs.
- ``KL(p_A || p_B)(x) = sum_c p_A(c | x) log(p_A(c | x) / p_B(c | x))``, its mean and max over
  inputs, and the mean of the reverse KL(p_B || p_A).

:func:`loo_table` ranks any number of runs instead, by their expected log pointwise predictive
density (ELPD) of a new point, estimated by PSIS-LOO from each run's ``log_likelihood`` of its
training points (ArviZ's ``compare``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import arviz as az
    import pandas as pd

_TINY = np.finfo(np.float64).tiny
#: The inputs two runs can be compared on: the test split, the training split, or the 2-D grid
#: of the uncertainty maps.
INPUTS = ("test", "train", "grid")


class PredictiveDistance(NamedTuple):
    """Distances between two predictive distributions over the same N inputs."""

    mean_abs_dp: float
    max_abs_dp: float
    kl_mean: float
    kl_max: float
    kl_reverse_mean: float
    num_inputs: int


def _kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = np.clip(p, _TINY, None), np.clip(q, _TINY, None)
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def predictive_distance(p_a: np.ndarray, p_b: np.ndarray) -> PredictiveDistance:
    """Distances between class probabilities ``p_a`` and ``p_b``, both ``[N, C]``."""
    if p_a.shape != p_b.shape:
        raise ValueError(f"shapes differ: {p_a.shape} and {p_b.shape}")
    p_a, p_b = np.asarray(p_a, np.float64), np.asarray(p_b, np.float64)
    p_a = p_a / p_a.sum(axis=-1, keepdims=True)  # float32 draws rarely sum to exactly 1
    p_b = p_b / p_b.sum(axis=-1, keepdims=True)
    tv = 0.5 * np.abs(p_a - p_b).sum(axis=-1)
    kl_ab, kl_ba = _kl(p_a, p_b), _kl(p_b, p_a)
    return PredictiveDistance(
        mean_abs_dp=float(tv.mean()),
        max_abs_dp=float(tv.max()),
        kl_mean=float(kl_ab.mean()),
        kl_max=float(kl_ab.max()),
        kl_reverse_mean=float(kl_ba.mean()),
        num_inputs=len(tv),
    )


class RegressionDistance(NamedTuple):
    """Distances between two regression predictives over the same N inputs, each summarised
    by its mean and standard deviation per input (moment-matched Gaussians)."""

    mean_abs_dmean: float
    max_abs_dmean: float
    mean_abs_dsd: float
    kl_mean: float
    kl_max: float
    kl_reverse_mean: float
    num_inputs: int


def _kl_gauss(m1: np.ndarray, s1: np.ndarray, m2: np.ndarray, s2: np.ndarray) -> np.ndarray:
    return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def regression_distance(
    mean_a: np.ndarray, sd_a: np.ndarray, mean_b: np.ndarray, sd_b: np.ndarray
) -> RegressionDistance:
    """Distances between two predictives given by their means and standard deviations, all
    ``[N]``: ``|d mean|`` (mean and max over inputs), mean ``|d sd|``, and the KL divergence
    between the moment-matched Gaussians, ``KL(N_A || N_B)`` (mean and max) and its reverse."""
    arrays = [np.asarray(v, np.float64) for v in (mean_a, sd_a, mean_b, sd_b)]
    if len({v.shape for v in arrays}) != 1:
        raise ValueError(f"shapes differ: {[v.shape for v in arrays]}")
    mean_a, sd_a, mean_b, sd_b = arrays
    d_mean = np.abs(mean_a - mean_b)
    kl_ab, kl_ba = _kl_gauss(mean_a, sd_a, mean_b, sd_b), _kl_gauss(mean_b, sd_b, mean_a, sd_a)
    return RegressionDistance(
        mean_abs_dmean=float(d_mean.mean()),
        max_abs_dmean=float(d_mean.max()),
        mean_abs_dsd=float(np.abs(sd_a - sd_b).mean()),
        kl_mean=float(kl_ab.mean()),
        kl_max=float(kl_ab.max()),
        kl_reverse_mean=float(kl_ba.mean()),
        num_inputs=len(d_mean),
    )


def loo_table(idatas: Mapping[str, az.InferenceData]) -> pd.DataFrame:
    """Runs ranked by ELPD-LOO, best first: ArviZ's ``compare(..., ic="loo")`` table, one row
    per name of ``idatas`` (each with a ``log_likelihood`` group over the training points
    they were all fitted to: PSIS-LOO leaves out each point the posterior was fitted to).

    Columns: ``rank``, ``elpd_loo`` (log scale: higher is better), ``p_loo`` (effective
    number of parameters), ``elpd_diff`` (to the best), ``weight`` (stacking), ``se``,
    ``dse`` (standard error of ``elpd_diff``), ``warning`` (a Pareto k above ArviZ's
    threshold: the estimate is unreliable) and ``scale``.
    """
    from bnnrun.analysis.inference_data import _arviz

    az_ = _arviz()
    with warnings.catch_warnings():
        # A high Pareto k is reported in the table's warning column instead.
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        # ArviZ 0.x sorts in place, which pandas deprecates: not the user's concern.
        warnings.filterwarnings("ignore", message="The inplace keyword")
        return az_.compare(dict(idatas), ic="loo")
