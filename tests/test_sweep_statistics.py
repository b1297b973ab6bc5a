"""The statistics of a sweep (bnnrun.sweep.statistics), each against an independent computation:
SciPy called directly, or the numbers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from bnnrun.sweep.statistics import (
    MIN_PAIRED,
    bimodality,
    paired,
    paired_comparisons,
    t_interval,
)

#: Two groups of five accuracies, near 0.811 and 0.843: clearly bimodal.
BIMODAL = [0.81, 0.81, 0.817, 0.81, 0.84, 0.847, 0.84, 0.843, 0.81, 0.846]
#: Issue 11: moons at noise 0.45, hyperprior=inverse_gamma, seeds 3-7.
MOONS_SEEDS_3_7 = [0.840, 0.847, 0.810, 0.817, 0.810]
RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def test_t_interval_is_scipys_one_sample_t_interval() -> None:
    x = np.array([0.80, 0.83, 0.79, 0.85, 0.82, 0.81])
    low, high = t_interval(x.mean(), scipy.stats.sem(x), len(x))
    expected = scipy.stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-12)
    # By hand: mean ± t(0.975, 5) · s / sqrt(6), with t(0.975, 5) = 2.5706 from a t table.
    half = 2.570582 * x.std(ddof=1) / np.sqrt(6)
    assert (low, high) == pytest.approx((x.mean() - half, x.mean() + half), abs=1e-6)


def test_t_interval_of_one_value_is_nan_and_of_equal_values_a_point() -> None:
    low, high = t_interval([0.8, 0.7, 0.9], [0.0, np.nan, 0.01], [4, 1, 3])
    assert (low[0], high[0]) == (0.8, 0.8)
    assert np.isnan(low[1]) and np.isnan(high[1])
    half = scipy.stats.t.ppf(0.975, 2) * 0.01
    assert (low[2], high[2]) == pytest.approx((0.9 - half, 0.9 + half))


def test_two_separated_groups_are_bimodal() -> None:
    assert bimodality(BIMODAL, resolution=1 / 300).bimodal is True
    found = bimodality(BIMODAL)
    assert found.bimodal is True
    assert found.groups == (5, 5)
    # The components sit on the two groups' means, worked out by hand.
    assert found.means == pytest.approx((0.8114, 0.8432), abs=5e-4)
    assert found.separation > 2 and found.bic_gain > 6


def test_one_normal_a_constant_and_too_few_values_are_not_flagged() -> None:
    draws = np.random.default_rng(0).normal(0.82, 0.02, size=20)
    assert bimodality(draws).bimodal is False
    assert bimodality(np.full(10, 0.81)).bimodal is False
    # Accuracies on 300 test points, from one binomial: discrete values with ties.
    accuracies = np.random.default_rng(1).binomial(300, 0.82, size=20) / 300
    assert len(np.unique(accuracies)) < 20
    assert bimodality(accuracies, resolution=1 / 300).bimodal is False
    # Five seeds are too few to tell, even for issue 11's split.
    assert bimodality(MOONS_SEEDS_3_7).bimodal is None
    assert bimodality([*BIMODAL[:5], np.nan]).n == 5


def test_issue_11s_moons_seeds_are_flagged_once_there_are_six() -> None:
    """The committed runs of experiment=paper_synthetic on moons, prior=normal,
    hyperprior=inverse_gamma: seeds 0-2 from the paper's grid, 3-7 from their own sweep."""
    grid = pd.read_csv(RESULTS / "paper_grid" / "summary.csv")
    grid = grid[(grid["dataset"] == "moons") & (grid["prior"] == "normal")]
    grid = grid[grid["hyperprior"] == "inverse_gamma"]
    more = pd.read_csv(RESULTS / "moons_inverse_gamma_seeds" / "summary.csv")
    runs = pd.concat([grid, more]).sort_values("seed")
    assert list(runs["seed"]) == list(range(8)) and set(runs["num_test"]) == {300}
    assert bimodality(more["accuracy"], resolution=1 / 300).bimodal is None  # 5: too few
    found = bimodality(runs["accuracy"], resolution=1 / 300)
    assert found.bimodal is True and found.groups == (6, 2)
    # Seeds 3 and 4 (0.840, 0.847) are the upper group.
    upper = runs["accuracy"].to_numpy()[[3, 4]]
    assert found.means[1] == pytest.approx(upper.mean(), abs=1e-3)


def test_a_group_needs_two_members() -> None:
    """Accuracies on 300 test points: nine seeds at one value and one elsewhere is an outlier,
    not a second mode; two elsewhere are a second group."""
    assert bimodality([0.81] * 9 + [0.84], resolution=1 / 300).bimodal is False
    two = bimodality([0.81] * 8 + [0.84] * 2, resolution=1 / 300)
    assert two.bimodal is True and two.groups == (8, 2)


def test_the_resolution_keeps_tied_values_from_making_a_mode() -> None:
    """Accuracies on 300 test points that happen to tie: without their grid step, a component
    shrinks onto the tied values and the BIC gain grows without bound."""
    ties = np.array([0.81, 0.81, 0.81, 0.8133, 0.8167, 0.82, 0.8233, 0.8267])
    assert bimodality(ties, resolution=1 / 300).bimodal is False
    assert bimodality(ties).bimodal is True  # three ties at 0.81 taken for a mode


def test_paired_difference_interval_and_wilcoxon_p_value() -> None:
    a = np.array([0.84, 0.85, 0.83, 0.86, 0.85, 0.84, 0.86])
    b = np.array([0.81, 0.83, 0.82, 0.82, 0.80, 0.83, 0.81])
    found = paired(a, b)
    d = a - b
    assert found.n == 7 and found.difference == pytest.approx(d.mean())
    expected = scipy.stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (found.ci_low, found.ci_high) == pytest.approx((expected.low, expected.high))
    assert found.p_value == pytest.approx(scipy.stats.wilcoxon(a, b).pvalue)
    # Every difference positive: the exact two-sided p-value is 2 / 2**7.
    assert found.p_value == pytest.approx(2 / 2**7)


def test_paired_edge_cases() -> None:
    same = paired([0.8, 0.81, 0.82, 0.83, 0.84, 0.85], [0.8, 0.81, 0.82, 0.83, 0.84, 0.85])
    assert (same.difference, same.ci_low, same.ci_high, same.p_value) == (0, 0, 0, 1.0)
    few = paired([0.9, 0.8, 0.7, np.nan, 0.9, 0.9], [0.8, 0.7, 0.6, 0.5, np.nan, 0.8])
    assert few.n == MIN_PAIRED - 1 and few.difference == pytest.approx(0.1)
    assert np.isnan(few.p_value) and np.isnan(few.ci_low)


@pytest.fixture
def runs() -> pd.DataFrame:
    """Three configurations on one data set over 8 seeds, rows shuffled: A is clearly above
    B, C is level with B; and a second data set where only 4 seeds are common."""
    rng = np.random.default_rng(3)
    base = rng.normal(0.8, 0.02, size=8)
    rows = []
    for seed in range(8):
        rows += [
            ("moons", "A", seed, base[seed] + 0.05 + rng.normal(0, 0.003), 0.3),
            ("moons", "B", seed, base[seed], 0.4 + 0.001 * seed),
            ("moons", "C", seed, base[seed] + rng.normal(0, 0.01), 0.5),
        ]
    for seed in range(6):
        rows += [
            ("circles", "A", seed, 0.7 + 0.01 * seed, 0.5),
            ("circles", "B", seed + 2, 0.6, 0.6),
        ]
    frame = pd.DataFrame(rows, columns=["dataset", "config", "seed", "accuracy", "nll"])
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_paired_comparisons_pair_by_seed_and_correct_over_every_tested_pair(
    runs: pd.DataFrame,
) -> None:
    out = paired_comparisons(runs, data_keys=["dataset"], config="config", replicates=["seed"],
                             metrics={"accuracy": True, "nll": False})  # fmt: skip
    moons = out[(out["dataset"] == "moons") & (out["metric"] == "accuracy")]
    pairs = {frozenset((r.config_a, r.config_b)): r for r in moons.itertuples()}
    assert len(pairs) == 3

    def by_seed(config: str) -> np.ndarray:
        rows = runs[(runs["dataset"] == "moons") & (runs["config"] == config)]
        return rows.sort_values("seed")["accuracy"].to_numpy()

    ab = pairs[frozenset("AB")]
    assert (ab.config_a, ab.config_b, ab.n) == ("A", "B", 8)  # the better one first
    assert ab.difference == pytest.approx(np.mean(by_seed("A") - by_seed("B")))
    assert ab.p_value == pytest.approx(scipy.stats.wilcoxon(by_seed("A"), by_seed("B")).pvalue)
    assert ab.differs
    bc = pairs[frozenset("BC")]
    assert bc.p_value == pytest.approx(scipy.stats.wilcoxon(by_seed("B"), by_seed("C")).pvalue)
    assert not bc.differs and bc.p_adjusted > 0.05
    # Lower is better for NLL: the first of a pair is the lower one.
    nll = out[(out["dataset"] == "moons") & (out["metric"] == "nll")]
    assert set(zip(nll["config_a"], nll["config_b"], strict=True)) == {
        ("A", "B"), ("A", "C"), ("B", "C")
    }  # fmt: skip
    # circles: 4 common seeds (2-5), listed but not tested.
    circles = out[out["dataset"] == "circles"]
    assert list(circles["n"]) == [4, 4] and circles["p_value"].isna().all()
    assert circles["differs"].isna().all()
    # Benjamini-Hochberg over every tested row of the frame, by SciPy run here.
    tested = out["p_value"].notna()
    assert tested.sum() == 6
    expected = scipy.stats.false_discovery_control(out.loc[tested, "p_value"].to_numpy())
    np.testing.assert_allclose(out.loc[tested, "p_adjusted"], expected)
    assert (out.loc[tested, "differs"] == (out.loc[tested, "p_adjusted"] < 0.05)).all()
