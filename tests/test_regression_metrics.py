"""Regression metrics of a mixture predictive, against closed forms and numerical integration.

Expected values come from scipy.stats (densities, CDFs, quantiles), scipy.integrate.quad and
scipy.optimize.brentq, or by hand; never from the code under test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from bnnrun.analysis.regression import (
    CRPS_RTOL,
    EXACT_PAIR_DRAWS,
    EXACT_PAIR_DRAWS_T,
    LEVELS,
    central_interval,
    crps_gaussian_mixture,
    crps_mixture,
    interval_coverage,
    mean_pair_distance,
    mixture_cdf,
    mixture_logpdf,
    mixture_quantile,
    regression_metrics,
    variance_split,
)


def _mixture_cdf(z: float, mu: np.ndarray, sigma: np.ndarray, df: float | None) -> float:
    """The CDF of an equally weighted mixture, by scipy.stats."""
    if df is None:
        return float(np.mean(stats.norm.cdf(z, mu, sigma)))
    return float(np.mean(stats.t.cdf(z, df, mu, sigma)))


def _crps_by_quad(y: float, mu: np.ndarray, sigma: np.ndarray, df: float | None = None) -> float:
    """``int (F(z) - 1{z >= y})^2 dz`` by scipy.integrate.quad, split at y."""
    left = integrate.quad(lambda z: _mixture_cdf(z, mu, sigma, df) ** 2, -np.inf, y)[0]
    right = integrate.quad(lambda z: (1 - _mixture_cdf(z, mu, sigma, df)) ** 2, y, np.inf)[0]
    return left + right


# ------------------------------------------------------------------ one draw: closed forms


@pytest.fixture
def one_draw() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = np.array([[0.0, 1.0, -2.0, 3.0, 10.0]])
    sigma = np.array([[1.0, 0.5, 2.0, 1.5, 3.0]])
    y = np.array([0.3, 2.5, -2.0, 0.0, 14.0])
    return mu, sigma, y


def test_single_gaussian_matches_closed_forms(one_draw) -> None:
    mu, sigma, y = one_draw
    m, s = mu[0], sigma[0]
    got = regression_metrics(mu, sigma, y)
    z = (y - m) / s
    nll = np.mean(0.5 * np.log(2 * np.pi * s**2) + (y - m) ** 2 / (2 * s**2))
    crps = s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    assert got["nll"] == pytest.approx(nll, rel=1e-12)
    assert got["log_likelihood"] == pytest.approx(-nll, rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((y - m) ** 2)), rel=1e-12)
    assert got["crps"] == pytest.approx(crps.mean(), rel=1e-10)
    # Central intervals of N(m, s): m +- z_q s; 1.6449 s either side for 90%.
    for level, half in (
        (0.5, 0.6744897501960817),
        (0.9, 1.6448536269514722),
        (0.95, 1.959963984540054),
    ):
        key = f"{round(100 * level)}"
        assert got[f"width_{key}"] == pytest.approx(np.mean(2 * half * s), rel=1e-9)
        inside = np.abs(y - m) <= half * s
        assert got[f"coverage_{key}"] == pytest.approx(inside.mean())
    assert got["var_epistemic"] == 0.0
    assert got["var_aleatoric"] == pytest.approx(np.mean(s**2))
    assert set(got) == {
        "rmse", "log_likelihood", "nll", "crps", "var_epistemic", "var_aleatoric",
        "coverage_50", "coverage_90", "coverage_95", "width_50", "width_90", "width_95",
    }  # fmt: skip


def test_single_gaussian_coverage_counts_points_by_hand(one_draw) -> None:
    mu, sigma, y = one_draw
    # |z| = 0.3, 3, 0, 2, 1.333: inside the 50% interval (|z| <= 0.674) are points 0 and 2;
    # inside 90% (1.645) also point 4; inside 95% (1.96) the same three.
    coverage, _ = interval_coverage(mu, sigma, y, (0.5, 0.9, 0.95))
    np.testing.assert_allclose(coverage, [2 / 5, 3 / 5, 3 / 5])


def test_single_gaussian_crps_is_the_gaussian_closed_form_and_the_integral() -> None:
    mu, sigma, y = np.array([[1.0]]), np.array([[2.0]]), np.array([0.0])
    z = (0.0 - 1.0) / 2.0
    closed = 2.0 * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    got = crps_gaussian_mixture(mu, sigma, y)
    assert got[0] == pytest.approx(closed, rel=1e-12)
    assert got[0] == pytest.approx(_crps_by_quad(0.0, mu[:, 0], sigma[:, 0]), rel=1e-8)


# --------------------------------------------------- mixtures against numerical integration


@pytest.fixture
def two_components() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two draws at three points: well separated, overlapping, and of unequal scales."""
    mu = np.array([[-2.0, 0.0, 1.0], [2.0, 0.5, 4.0]])
    sigma = np.array([[0.5, 1.0, 0.2], [1.0, 1.0, 3.0]])
    y = np.array([0.1, 0.2, 5.0])
    return mu, sigma, y


def test_mixture_logpdf_is_log_of_mean_density(two_components) -> None:
    mu, sigma, y = two_components
    expected = np.log(np.mean(stats.norm.pdf(y, mu, sigma), axis=0))
    np.testing.assert_allclose(mixture_logpdf(y, mu, sigma), expected, rtol=1e-12)


def test_mixture_logpdf_is_finite_far_in_the_tail() -> None:
    # exp(-0.5 * 60^2) underflows: a naive log(mean(pdf)) is -inf; logsumexp is not.
    mu, sigma, y = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]]), np.array([60.0])
    expected = np.logaddexp(stats.norm.logpdf(60, 0, 1), stats.norm.logpdf(60, 1, 1)) - np.log(2)
    assert mixture_logpdf(y, mu, sigma)[0] == pytest.approx(expected, rel=1e-12)


def test_mixture_cdf_matches_scipy(two_components) -> None:
    mu, sigma, _ = two_components
    z = np.array([-1.0, 0.3, 2.0])
    expected = [_mixture_cdf(z[n], mu[:, n], sigma[:, n], None) for n in range(3)]
    np.testing.assert_allclose(mixture_cdf(z, mu, sigma), expected, rtol=1e-12)


def test_mixture_quantiles_are_the_roots_of_the_cdf(two_components) -> None:
    mu, sigma, _ = two_components
    levels = [0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975]
    got = mixture_quantile(levels, mu, sigma)
    assert got.shape == (len(levels), 3)
    for i, level in enumerate(levels):
        for n in range(3):
            root = optimize.brentq(
                lambda z, n=n, level=level: _mixture_cdf(z, mu[:, n], sigma[:, n], None) - level,
                -50,
                50,
                xtol=1e-14,
            )
            assert got[i, n] == pytest.approx(root, abs=1e-9)


def test_central_interval_is_symmetric_in_probability(two_components) -> None:
    mu, sigma, _ = two_components
    lower, upper = central_interval(mu, sigma, 0.9)
    low_cdf = [_mixture_cdf(lower[n], mu[:, n], sigma[:, n], None) for n in range(3)]
    up_cdf = [_mixture_cdf(upper[n], mu[:, n], sigma[:, n], None) for n in range(3)]
    np.testing.assert_allclose(low_cdf, 0.05, atol=1e-12)
    np.testing.assert_allclose(up_cdf, 0.95, atol=1e-12)


def test_gaussian_mixture_crps_matches_numerical_integration(two_components) -> None:
    mu, sigma, y = two_components
    expected = [_crps_by_quad(y[n], mu[:, n], sigma[:, n]) for n in range(3)]
    np.testing.assert_allclose(crps_gaussian_mixture(mu, sigma, y), expected, rtol=1e-7)


def test_many_draw_crps_matches_numerical_integration() -> None:
    rng = np.random.default_rng(3)
    mu, sigma = rng.normal(size=(40, 2)), rng.uniform(0.2, 2.0, size=(40, 2))
    y = np.array([0.4, -2.5])
    expected = [_crps_by_quad(y[n], mu[:, n], sigma[:, n]) for n in range(2)]
    np.testing.assert_allclose(crps_mixture(mu, sigma, y), expected, rtol=1e-7)


def test_variance_split_adds_up_to_the_mixture_variance(two_components) -> None:
    mu, sigma, _ = two_components
    epistemic, aleatoric = variance_split(mu, sigma)
    np.testing.assert_allclose(epistemic, ((mu[0] - mu[1]) / 2) ** 2)
    np.testing.assert_allclose(aleatoric, (sigma[0] ** 2 + sigma[1] ** 2) / 2)
    for n in range(3):

        def density(z: float, n: int = n) -> float:
            return float(np.mean(stats.norm.pdf(z, mu[:, n], sigma[:, n])))

        mean = integrate.quad(lambda z: z * density(z), -np.inf, np.inf)[0]
        second = integrate.quad(lambda z: z**2 * density(z), -np.inf, np.inf)[0]
        assert epistemic[n] + aleatoric[n] == pytest.approx(second - mean**2, rel=1e-8)


# ---------------------------------------------------------------------------- Student-t


def test_single_student_t_matches_scipy() -> None:
    df, m, s = 4.0, np.array([[0.5, -1.0]]), np.array([[2.0, 0.3]])
    y = np.array([1.0, 3.0])
    np.testing.assert_allclose(
        mixture_logpdf(y, m, s, df=df), stats.t.logpdf(y, df, m[0], s[0]), rtol=1e-12
    )
    q = mixture_quantile([0.05, 0.95], m, s, df=df)
    np.testing.assert_allclose(q, stats.t.ppf([[0.05], [0.95]], df, m[0], s[0]), rtol=1e-10)
    _, aleatoric = variance_split(m, s, df=df)
    np.testing.assert_allclose(aleatoric, stats.t.var(df, m[0], s[0]))


def test_single_student_t_crps_matches_its_closed_form() -> None:
    # CRPS of t_nu(m, s) at y (Jordan, Krueger & Lerch 2019, scoringRules):
    # s [z (2 F(z) - 1) + 2 f(z) (nu + z^2) / (nu - 1) - 2 sqrt(nu) B(1/2, nu - 1/2)
    #    / ((nu - 1) B(1/2, nu/2)^2)], z = (y - m) / s.
    nu, m, s, y = 3.5, 1.0, 2.0, np.array([-1.5, 1.0, 6.0])
    z = (y - m) / s
    closed = s * (
        z * (2 * stats.t.cdf(z, nu) - 1)
        + 2 * stats.t.pdf(z, nu) * (nu + z**2) / (nu - 1)
        - 2
        * np.sqrt(nu)
        * special.beta(0.5, nu - 0.5)
        / ((nu - 1) * special.beta(0.5, nu / 2) ** 2)
    )
    got = crps_mixture(np.full((1, 3), m), np.full((1, 3), s), y, df=nu)
    np.testing.assert_allclose(got, closed, rtol=1e-6)


def test_student_t_mixture_against_numerical_integration(two_components) -> None:
    mu, sigma, y = two_components
    df = 5.0
    expected = [_crps_by_quad(y[n], mu[:, n], sigma[:, n], df) for n in range(3)]
    np.testing.assert_allclose(crps_mixture(mu, sigma, y, df=df), expected, rtol=1e-6)
    q = mixture_quantile(0.9, mu, sigma, df=df)
    cdf = [_mixture_cdf(q[n], mu[:, n], sigma[:, n], df) for n in range(3)]
    np.testing.assert_allclose(cdf, 0.9, atol=1e-10)


def test_student_t_crps_needs_a_finite_mean() -> None:
    with pytest.raises(ValueError, match="df > 1"):
        crps_mixture(np.zeros((1, 2)), np.ones((1, 2)), np.zeros(2), df=1.0)


# ------------------------------------------- many draws: the discretised pair term's tolerance


def _student_t_crps(y: np.ndarray, m: float, s: float, nu: float) -> np.ndarray:
    """CRPS of one t_nu(m, s) at y, in closed form (Jordan, Krueger & Lerch 2019)."""
    z = (y - m) / s
    return s * (
        z * (2 * stats.t.cdf(z, nu) - 1)
        + 2 * stats.t.pdf(z, nu) * (nu + z**2) / (nu - 1)
        - 2
        * np.sqrt(nu)
        * special.beta(0.5, nu - 0.5)
        / ((nu - 1) * special.beta(0.5, nu / 2) ** 2)
    )


@pytest.mark.parametrize("df", [None, 2.5, 4.0])
def test_many_identical_draws_give_the_single_distributions_closed_form(df) -> None:
    # 500 identical draws are one distribution, whose CRPS has a closed form; 500 draws take
    # the discretised pair term. Identical, fully overlapping draws are its hardest case.
    num_draws = 500
    assert num_draws > max(EXACT_PAIR_DRAWS, EXACT_PAIR_DRAWS_T)
    m, s = np.array([0.0, 1.0, -2.0, 30.0]), np.array([1.0, 0.5, 2.0, 0.01])
    y = np.array([0.3, 2.5, -2.0, 30.02])
    mu, sigma = np.tile(m, (num_draws, 1)), np.tile(s, (num_draws, 1))
    if df is None:
        z = (y - m) / s
        closed = s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    else:
        closed = np.array([_student_t_crps(y[n], m[n], s[n], df) for n in range(4)])
    np.testing.assert_allclose(crps_mixture(mu, sigma, y, df=df), closed, rtol=CRPS_RTOL)


@pytest.mark.parametrize("df", [None, 4.0])
@pytest.mark.parametrize("regime", ["overlapping", "separated", "bimodal"])
def test_many_draw_crps_is_within_its_tolerance_of_numerical_integration(df, regime) -> None:
    rng = np.random.default_rng(7)
    num_draws = EXACT_PAIR_DRAWS + 16
    if regime == "overlapping":  # noise dominates, as in most regression
        mu, sigma = 0.3 * rng.normal(size=(num_draws, 2)), rng.uniform(0.5, 1, (num_draws, 2))
    elif regime == "separated":  # narrow draws far apart: the posterior dominates
        mu, sigma = 5 * rng.normal(size=(num_draws, 2)), rng.uniform(0.01, 0.1, (num_draws, 2))
    else:
        mu = np.where(rng.uniform(size=(num_draws, 2)) < 0.5, -2.0, 2.0)
        sigma = np.full((num_draws, 2), 0.4)
    y = np.array([0.4, -2.5])
    expected = [_crps_by_pieces(y[n], mu[:, n], sigma[:, n], df) for n in range(2)]
    np.testing.assert_allclose(crps_mixture(mu, sigma, y, df=df), expected, rtol=CRPS_RTOL)


def _crps_by_pieces(y: float, mu: np.ndarray, sigma: np.ndarray, df: float | None) -> float:
    """``int (F(z) - 1{z >= y})^2 dz`` by scipy.integrate.quad between consecutive component
    locations (a mixture of narrow, separated draws is a staircase that one adaptive
    quadrature over the whole line misses), out to 200 units beyond them (where F(1 - F) of
    a Student-t with df = 4 and scale <= 1 is below 1e-8; of a Gaussian, 0)."""
    knots = np.unique(np.concatenate([mu, [y, mu.min() - 200, mu.max() + 200]]))
    total = 0.0
    for a, b in itertools.pairwise(knots):
        if b <= y:
            total += integrate.quad(lambda z: _mixture_cdf(z, mu, sigma, df) ** 2, a, b)[0]
        else:
            total += integrate.quad(lambda z: (1 - _mixture_cdf(z, mu, sigma, df)) ** 2, a, b)[0]
    return total


def test_discretised_pair_distance_matches_the_exact_pair_sum() -> None:
    # E|X - X'| of a Gaussian mixture: (1/S^2) sum_{s,t} E|N(mu_s - mu_t, sigma_s^2 +
    # sigma_t^2)|, here with scipy's folded normal mean, pair by pair.
    rng = np.random.default_rng(2)
    mu, sigma = rng.normal(size=(60, 3)), rng.uniform(0.2, 1.5, size=(60, 3))
    diff = mu[:, None, :] - mu[None, :, :]
    scale = np.sqrt(sigma[:, None, :] ** 2 + sigma[None, :, :] ** 2)
    expected = stats.foldnorm.mean(np.abs(diff) / scale, scale=scale).mean(axis=(0, 1))
    np.testing.assert_allclose(mean_pair_distance(mu, sigma), expected, rtol=CRPS_RTOL)


def test_many_draw_student_t_with_mixed_df_matches_numerical_integration() -> None:
    rng = np.random.default_rng(4)
    num_draws = EXACT_PAIR_DRAWS_T + 40
    mu, sigma = rng.normal(size=(num_draws, 2)), rng.uniform(0.3, 1.0, size=(num_draws, 2))
    df = np.where(np.arange(num_draws) % 2 == 0, 3.0, 8.0)[:, None]
    y = np.array([0.1, 2.0])

    def cdf(z: float, n: int) -> float:
        return float(np.mean(stats.t.cdf(z, df[:, 0], mu[:, n], sigma[:, n])))

    expected = [
        integrate.quad(lambda z, n=n: cdf(z, n) ** 2, -np.inf, y[n])[0]
        + integrate.quad(lambda z, n=n: (1 - cdf(z, n)) ** 2, y[n], np.inf)[0]
        for n in range(2)
    ]
    np.testing.assert_allclose(crps_mixture(mu, sigma, y, df=df), expected, rtol=CRPS_RTOL)


# ------------------------------------------------- coverage on data drawn from the predictive


def test_coverage_of_data_drawn_from_the_predictive_is_nominal() -> None:
    rng = np.random.default_rng(0)
    num_draws, num_points = 20, 4000
    mu = rng.normal(size=(num_draws, num_points)) * rng.uniform(0.1, 2, num_points)
    sigma = rng.uniform(0.2, 1.5, size=(num_draws, num_points))
    pick = rng.integers(0, num_draws, num_points)  # one mixture component per point
    cols = np.arange(num_points)
    y = mu[pick, cols] + sigma[pick, cols] * rng.standard_normal(num_points)
    coverage, width = interval_coverage(mu, sigma, y, LEVELS)
    for level, got in zip(LEVELS, coverage, strict=True):
        se = np.sqrt(level * (1 - level) / num_points)
        assert abs(got - level) < 4 * se, (level, got)
    assert (np.diff(width) > 0).all()  # wider intervals at higher levels


# ----------------------------------------------------------------------- shapes and inputs


def test_sigma_broadcasts_like_its_full_array() -> None:
    rng = np.random.default_rng(1)
    mu, y = rng.normal(size=(6, 5)), rng.normal(size=5)
    per_draw = rng.uniform(0.5, 1.5, size=(6, 1))
    full = regression_metrics(mu, np.broadcast_to(per_draw, (6, 5)).copy(), y)
    assert regression_metrics(mu, per_draw, y) == pytest.approx(full, rel=1e-12)
    assert regression_metrics(mu, 0.7, y) == pytest.approx(
        regression_metrics(mu, np.full((6, 5), 0.7), y), rel=1e-12
    )


def test_levels_name_their_keys() -> None:
    got = regression_metrics(np.zeros((1, 4)), 1.0, np.zeros(4), levels=(0.8, 0.99))
    assert {"coverage_80", "coverage_99", "width_80", "width_99"} <= set(got)
    assert got["width_99"] == pytest.approx(2 * stats.norm.ppf(0.995))


@pytest.mark.parametrize(
    ("mu", "sigma", "y", "message"),
    [
        (np.zeros(3), 1.0, np.zeros(3), r"mu must have shape \[S, N\]"),
        (np.zeros((2, 3)), 0.0, np.zeros(3), "sigma must be positive"),
        (np.zeros((2, 3)), np.ones((2, 2)), np.zeros(3), "broadcast"),
        (np.zeros((2, 3)), 1.0, np.zeros(4), r"y must have shape \[N\] = \[3\]"),
    ],
)
def test_bad_shapes_and_scales_are_refused(mu, sigma, y, message) -> None:
    with pytest.raises(ValueError, match=message):
        regression_metrics(mu, sigma, y)
