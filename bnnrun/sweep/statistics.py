"""Statistics over a configuration's replicates: which differences between configurations are
real, and which configurations split into separated groups of outcomes.

SciPy and scikit-learn do the statistics; this module chooses them and handles the edge cases
(one replicate, no spread, differences that are all zero):

- :func:`t_interval`: the 95% confidence interval of a mean, Student's t with ``n - 1``
  degrees of freedom (``scipy.stats.t``): ``mean ± t(0.975, n - 1) · std / sqrt(n)``.
- :func:`bimodality`: a Gaussian mixture of two components against one
  (``sklearn.mixture.GaussianMixture``), compared by BIC, and the two components' separation
  (Ashman's D).
- :func:`paired_comparisons`: every pair of configurations on one data set, paired by
  replicate: the mean difference with its t interval, the two-sided Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``), and the Benjamini-Hochberg correction over every tested pair
  (``scipy.stats.false_discovery_control``).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

#: Coverage of the confidence intervals, and 1 - the level of the corrected tests.
CONFIDENCE = 0.95
#: A pair differs beyond chance when its corrected p-value is below this.
ALPHA = 1 - CONFIDENCE
#: Fewest common replicates for a paired test. With 5 the smallest two-sided Wilcoxon p-value
#: is 2 / 2**5 = 0.0625, so at least 6 are needed for any pair to be declared different.
MIN_PAIRED = 5
#: Fewest replicates for the bimodality rule to say anything.
MIN_BIMODAL = 6
#: Fewest replicates in each of the two groups of a bimodal configuration.
MIN_GROUP = 2
#: Least separation of the two groups, Ashman's D (two normals of equal weight and spread are
#: bimodal from D > 2 on).
MIN_SEPARATION = 2.0
#: Least BIC gain of two components over one: 6 is "strong" evidence on Kass & Raftery's (1995)
#: scale (2 ln Bayes factor > 6). Below it small unimodal samples, which often look clumped,
#: would be flagged too often.
MIN_BIC_GAIN = 6.0
#: Columns of :func:`paired_comparisons`, after the data-set keys.
COMPARISON_COLUMNS = [
    "metric", "config_a", "config_b", "n", "mean_a", "mean_b", "difference", "ci_low",
    "ci_high", "p_value", "p_adjusted", "differs",
]  # fmt: skip


def t_interval(
    mean: np.ndarray | float, sem: np.ndarray | float, count: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`CONFIDENCE` interval of a mean, by Student's t with ``count - 1`` degrees of
    freedom: ``mean ± t.ppf(0.975, count - 1) · sem``.

    Args:
        mean, sem, count: arrays of one shape (or scalars): sample means, standard errors of
            the mean (``std(ddof=1) / sqrt(count)``) and sample sizes.

    Returns:
        (low, high), each of that shape: NaN where ``count < 2`` (no spread to estimate);
        ``(mean, mean)`` where ``sem`` is 0 (every replicate gave the same value).
    """
    mean, sem, count = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (mean, sem, count))
    )
    ok = count >= 2
    df = np.where(ok, count - 1, 1.0)
    scale = np.where(ok & (sem > 0), sem, 1.0)
    low, high = scipy.stats.t.interval(CONFIDENCE, df, loc=mean, scale=scale)
    low = np.where(sem == 0, mean, low)
    high = np.where(sem == 0, mean, high)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


class Bimodality(NamedTuple):
    """Whether a configuration's replicate outcomes split into two separated groups.

    Attributes:
        bimodal: True: two groups (BIC gain, separation and group sizes all pass); False: not;
            None: fewer than :data:`MIN_BIMODAL` finite values, too few to tell.
        n: finite values.
        bic_gain: BIC of one Gaussian minus BIC of the two-component mixture (> 0: two fit
            better); NaN when not fitted.
        separation: Ashman's D of the two components,
            ``sqrt(2) |mu1 - mu2| / sqrt(var1 + var2)``; NaN when not fitted.
        groups: values assigned to the lower and the upper component.
        means: the two components' means (lower first), in the values' units.
    """

    bimodal: bool | None
    n: int
    bic_gain: float = float("nan")
    separation: float = float("nan")
    groups: tuple[int, int] = (0, 0)
    means: tuple[float, float] = (float("nan"), float("nan"))


def bimodality(
    values: Sequence[float] | np.ndarray, *, resolution: float | None = None
) -> Bimodality:
    """Whether ``values`` (one configuration's outcomes over its replicates, ``[n]``) split
    into two separated groups.

    The rule: with at least :data:`MIN_BIMODAL` finite values, fit Gaussian mixtures of one
    and two components (scikit-learn, full covariance, 5 k-means++ initialisations, fixed
    random state) to the standardised values; flag when the two-component mixture has a BIC
    lower by more than :data:`MIN_BIC_GAIN`, its components are separated by Ashman's D >
    :data:`MIN_SEPARATION`, and each holds at least :data:`MIN_GROUP` values. It is a flag to
    look at the values (the report's strip plots), not a test with a controlled error rate.

    Args:
        values: the outcomes; non-finite ones are left out.
        resolution: the step of the grid the values lie on, for a discrete metric (accuracy on
            ``m`` test points: ``1 / m``); None for a continuous one. A component on a few
            tied values would otherwise shrink to no width and win the BIC comparison by an
            arbitrarily large likelihood, so each component's variance gets the variance of
            rounding to that grid, ``resolution**2 / 12`` (Sheppard's correction), added as
            scikit-learn's ``reg_covar`` (never below its default 1e-6, in standardised units).
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < MIN_BIMODAL:
        return Bimodality(None, n)
    if np.ptp(x) == 0:
        return Bimodality(False, n)
    loc, scale = x.mean(), x.std()
    z = ((x - loc) / scale).reshape(-1, 1)
    reg = max(1e-6, (resolution or 0.0) ** 2 / 12 / scale**2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # k-means++ seeding: as good as scikit-learn's default full k-means here, at a fifth
        # of the time (a sweep fits two mixtures per configuration and metric).
        fit = {"reg_covar": reg, "init_params": "k-means++", "random_state": 0}
        one = GaussianMixture(1, **fit).fit(z)
        two = GaussianMixture(2, n_init=5, **fit).fit(z)
    gain = float(one.bic(z) - two.bic(z))
    mu, var = two.means_.ravel(), two.covariances_.ravel()
    separation = float(np.sqrt(2) * abs(mu[0] - mu[1]) / np.sqrt(var[0] + var[1]))
    order = np.argsort(mu)
    sizes = np.bincount(two.predict(z), minlength=2)[order]
    flag = gain > MIN_BIC_GAIN and separation > MIN_SEPARATION and sizes.min() >= MIN_GROUP
    return Bimodality(
        bool(flag),
        n,
        gain,
        separation,
        (int(sizes[0]), int(sizes[1])),
        (float(mu[order[0]] * scale + loc), float(mu[order[1]] * scale + loc)),
    )


class Paired(NamedTuple):
    """Two configurations' outcomes over their common replicates, ``a - b``.

    Attributes:
        n: common replicates (both finite).
        difference: mean of ``a - b`` over them.
        ci_low, ci_high: its :data:`CONFIDENCE` t interval (:func:`t_interval`); NaN when
            ``n < MIN_PAIRED``.
        p_value: two-sided Wilcoxon signed-rank p-value of the differences (zero differences
            dropped, scipy's default); 1 when every difference is 0; NaN when
            ``n < MIN_PAIRED``.
    """

    n: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float


def paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Paired:
    """The paired comparison of ``a`` and ``b`` (``[n]`` each, replicate ``i`` of both at
    index ``i``); pairs with a non-finite value are left out."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    # Rounded so that equal outcomes computed apart (0.8167 - 0.8133 against 0.8200 - 0.8167)
    # tie, as the test's handling of ties and zeros expects, instead of differing in the last bit.
    d = np.round(a[keep] - b[keep], 12)
    n = len(d)
    if n == 0:
        return Paired(0, float("nan"), float("nan"), float("nan"), float("nan"))
    mean = float(d.mean())
    if n < MIN_PAIRED:
        return Paired(n, mean, float("nan"), float("nan"), float("nan"))
    low, high = t_interval(mean, scipy.stats.sem(d), n)
    # scipy's wilcoxon has no ranks to test when every difference is 0: no evidence of any.
    p = 1.0 if not d.any() else float(scipy.stats.wilcoxon(d).pvalue)
    return Paired(n, mean, float(low), float(high), p)


def paired_comparisons(
    runs: pd.DataFrame,
    *,
    data_keys: Sequence[str],
    config: str,
    replicates: Sequence[str],
    metrics: Mapping[str, bool],
) -> pd.DataFrame:
    """Every pair of configurations on each data set, paired by replicate, with the p-values
    corrected for multiple comparisons.

    Args:
        runs: the runs that finished ok, one row per run: ``data_keys``, ``config``,
            ``replicates`` and each metric.
        data_keys: the columns that say which data set a run used; only configurations on the
            same data set are compared.
        config: the column naming a run's configuration (e.g. ``prior=laplace``).
        replicates: the columns that tell a configuration's replicates apart (``seed``,
            ``dataset.split``, ...): replicate ``r`` of one configuration is paired with
            replicate ``r`` of the other (they share the data).
        metrics: ``{metric column: higher is better}``.

    Returns:
        One row per data set, metric and pair: ``data_keys``, then :data:`COMPARISON_COLUMNS`:
        ``config_a`` is the one with the better mean over the ``n`` common replicates,
        ``difference`` the mean of ``a - b`` with its interval ``ci_low``-``ci_high``,
        ``p_value`` the Wilcoxon signed-rank p-value, ``p_adjusted`` the Benjamini-Hochberg
        adjusted p-value over every tested row of the frame, ``differs`` whether it is below
        :data:`ALPHA`. ``mean_a`` and ``mean_b`` are the means over the common replicates.
        Pairs with fewer than :data:`MIN_PAIRED` common replicates are listed with their ``n``
        and means, but not tested (NaN, and NA in ``differs``); pairs without a common
        replicate are left out.
    """
    rows = []
    groups = runs.groupby(list(data_keys), dropna=False, sort=True) if data_keys else [((), runs)]
    for data, frame in groups:
        data = data if isinstance(data, tuple) else (data,)
        names = list(dict.fromkeys(frame[config]))
        for metric, higher in metrics.items():
            if metric not in frame:
                continue
            table = (
                frame.groupby([config, *replicates], dropna=False)[metric].mean().unstack(config)
            )
            for x, y in itertools.combinations(names, 2):
                a, b = table[x].to_numpy(), table[y].to_numpy()
                common = np.isfinite(a) & np.isfinite(b)
                if not common.any():
                    continue
                mean_x, mean_y = a[common].mean(), b[common].mean()
                if (mean_y > mean_x) == higher and mean_y != mean_x:
                    (x, a, mean_x), (y, b, mean_y) = (y, b, mean_y), (x, a, mean_x)
                test = paired(a, b)
                rows.append([*data, metric, x, y, test.n, mean_x, mean_y, test.difference,
                             test.ci_low, test.ci_high, test.p_value])  # fmt: skip
    out = pd.DataFrame(rows, columns=[*data_keys, *COMPARISON_COLUMNS[:-2]])
    tested = out["p_value"].notna().to_numpy()
    out["p_adjusted"] = np.nan
    if tested.any():
        out.loc[tested, "p_adjusted"] = scipy.stats.false_discovery_control(
            out.loc[tested, "p_value"].to_numpy(), method="bh"
        )
    out["differs"] = pd.array(
        [bool(p < ALPHA) if ok else None for p, ok in zip(out["p_adjusted"], tested, strict=True)],
        dtype="boolean",
    )
    return out
