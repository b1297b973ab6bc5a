"""A sweep's tables, statistics, verdict and report, from hand-made job directories."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml

from bnnrun import rundir
from bnnrun.sweep import figures
from bnnrun.sweep.aggregate import aggregate
from bnnrun.sweep.figures import SHOWN
from bnnrun.sweep.report import CONFIG, labelled, verdict_text, verdicts
from bnnrun.sweep.summary import MISSING_ERROR, by_config, read_sweep

#: Two groups of five accuracies, near 0.811 and 0.843.
BIMODAL = [0.81, 0.81, 0.817, 0.81, 0.84, 0.847, 0.84, 0.843, 0.81, 0.846]


def fake_job(root: Path, *, prior: str, hyperprior: str, seed: int, metrics: dict | None,
             dataset: str = "moons", extra: tuple[str, ...] = (),
             data: dict | None = None) -> Path:  # fmt: skip
    """A job directory as Hydra and bnnrun leave it (``metrics=None``: killed before the end);
    ``data``: more settings of its ``dataset`` group, as ``.hydra/config.yaml`` holds them."""
    overrides = [f"dataset={dataset}", f"prior={prior}", f"hyperprior={hyperprior}",
                 f"seed={seed}", *extra]  # fmt: skip
    run_dir = root / ",".join(sorted(overrides)).replace("/", "%2F")
    (run_dir / ".hydra").mkdir(parents=True)
    config = {"dataset": {"name": dataset, **(data or {})}, "prior": {"family": prior},
              "hyperprior": {"kind": hyperprior}, "seed": seed}  # fmt: skip
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        rundir.write_json(run_dir / rundir.METRICS, {"seed": seed, **metrics, "config": config})
    return run_dir


def ok(accuracy: float, nll: float = 0.4, ece: float = 0.05) -> dict:
    return {"status": "ok", "accuracy": accuracy, "nll": nll, "ece": ece, "fit_seconds": 2.0}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """moons: laplace/fixed clearly best by accuracy; circles: normal/fixed and laplace/fixed
    within the spread over seeds; one failed and one killed job."""
    for seed, (a, b) in enumerate([(0.90, 0.80), (0.91, 0.81), (0.92, 0.82)]):
        fake_job(tmp_path, prior="laplace", hyperprior="fixed", seed=seed, metrics=ok(a, 0.3))
        fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=seed, metrics=ok(b, 0.5))
    for seed, (a, b) in enumerate([(0.70, 0.72), (0.80, 0.76), (0.75, 0.74)]):
        for prior, acc in (("normal", a), ("laplace", b)):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed, metrics=ok(acc),
                     dataset="circles")  # fmt: skip
    fake_job(tmp_path, prior="normal", hyperprior="half_cauchy", seed=0,
             metrics={"status": "diverged", "error": "ELBO is not finite at step 7"})  # fmt: skip
    fake_job(tmp_path, prior="normal", hyperprior="half_cauchy", seed=1, metrics=None,
             extra=("runtime.cpu_threads=1",))  # fmt: skip
    return tmp_path


def test_summary_has_one_row_per_job_with_choices_status_and_metrics(sweep: Path) -> None:
    summary = read_sweep(sweep)
    runs = summary.runs
    assert len(runs) == 14
    assert summary.keys == ["dataset", "prior", "hyperprior", "seed"]  # runtime.* left out
    assert list(runs.columns[:7]) == [*summary.keys, "status", "error", "accuracy"]
    assert {"nll", "ece", "fit_seconds", "run_dir"} <= set(runs.columns)
    assert summary.metrics == ["accuracy", "nll", "ece", "fit_seconds"]
    bad = runs[runs["hyperprior"] == "half_cauchy"].set_index("seed")
    assert bad.loc[0, "status"] == "diverged" and "step 7" in bad.loc[0, "error"]
    assert bad.loc[1, "status"] == "missing" and bad.loc[1, "error"] == MISSING_ERROR
    assert all((sweep / d / ".hydra").is_dir() for d in runs["run_dir"])


def test_by_config_groups_over_seeds_from_ok_runs_only(sweep: Path) -> None:
    table = by_config(read_sweep(sweep)).set_index(["dataset", "prior", "hyperprior"])
    best = table.loc[("moons", "laplace", "fixed")]
    assert (best["runs"], best["ok"], best["accuracy_count"]) == (3, 3, 3)
    assert best["accuracy_mean"] == pytest.approx(0.91)
    assert best["accuracy_std"] == pytest.approx(np.std([0.90, 0.91, 0.92], ddof=1))
    failed = table.loc[("moons", "normal", "half_cauchy")]
    assert (failed["runs"], failed["ok"], failed["accuracy_count"]) == (2, 0, 0)
    assert np.isnan(failed["accuracy_mean"])


def test_verdict_ranks_by_mean_with_intervals_and_needs_five_seeds_to_test(sweep: Path) -> None:
    summary = read_sweep(sweep)
    found = {(v.dataset, v.metric.name): v for v in verdicts(by_config(summary), summary)}
    moons = found[("moons", "accuracy")]
    assert [s.label for s in moons.ranking] == [
        "prior=laplace, hyperprior=fixed",
        "prior=normal, hyperprior=fixed",
    ]  # fmt: skip  (normal/half_cauchy has no ok run)
    assert moons.lead == pytest.approx(0.10)
    low, high = scipy.stats.ttest_1samp([0.90, 0.91, 0.92], 0).confidence_interval(0.95)
    assert (moons.best.ci_low, moons.best.ci_high) == pytest.approx((low, high))
    text = verdict_text(moons)
    assert "On moons, the best configuration by test accuracy" in text
    assert f"(mean 0.9100, 95% CI {low:.4f} to {high:.4f}, over 3 seeds)" in text
    assert "the two share 3 seeds, fewer than the 5 a paired test needs" in text
    assert found[("moons", "nll")].best.label == "prior=laplace, hyperprior=fixed"


def test_one_seed_has_no_spread_to_compare_with(tmp_path: Path) -> None:
    fake_job(tmp_path, prior="laplace", hyperprior="fixed", seed=0, metrics=ok(0.9))
    fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=0, metrics=ok(0.8))
    summary = read_sweep(tmp_path)
    (v, _) = verdicts(by_config(summary), summary)
    text = verdict_text(v)
    assert "with a single seed there is no spread over seeds" in text
    assert "(0.9000, one seed)" in text


#: Accuracies over eight seeds: laplace above normal at every seed, cauchy level with normal.
EIGHT = {
    "laplace": [0.86, 0.87, 0.85, 0.88, 0.86, 0.87, 0.86, 0.88],
    "normal": [0.81, 0.82, 0.80, 0.83, 0.81, 0.82, 0.80, 0.83],
    "cauchy": [0.82, 0.81, 0.81, 0.82, 0.80, 0.83, 0.81, 0.82],
}


@pytest.fixture
def eight_seeds(tmp_path: Path) -> Path:
    for prior, accuracies in EIGHT.items():
        for seed, acc in enumerate(accuracies):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed,
                     metrics=ok(acc, nll=1 - acc))  # fmt: skip
    return tmp_path


def test_verdict_says_which_pairs_differ_beyond_chance(eight_seeds: Path) -> None:
    result = aggregate(eight_seeds)
    pairs = pd.read_csv(eight_seeds / "comparisons.csv")
    assert len(pairs) == 6  # 3 pairs x (accuracy, NLL)
    expected = scipy.stats.false_discovery_control(pairs["p_value"].to_numpy())
    np.testing.assert_allclose(pairs["p_adjusted"], expected)
    acc = pairs[pairs["metric"] == "accuracy"].set_index(["config_a", "config_b"])
    first = acc.loc[("prior=laplace", "prior=normal")]
    d = np.subtract(EIGHT["laplace"], EIGHT["normal"])
    assert first["difference"] == pytest.approx(d.mean())
    assert first["p_value"] == pytest.approx(scipy.stats.wilcoxon(d).pvalue)
    assert first["differs"]
    level = acc.loc[("prior=cauchy", "prior=normal")]
    assert not level["differs"]
    (v, _) = verdicts(result.by_config, result.summary, result.comparisons)
    assert [s.label for s in v.ranking] == ["prior=laplace", "prior=cauchy", "prior=normal"]
    text = verdict_text(v)
    assert "Paired over their 8 common seeds, prior=laplace is ahead by" in text
    assert "the lead is beyond chance" in text
    assert "The best differs beyond chance from every other configuration." in text
    page = result.report.read_text()
    assert "Wilcoxon signed-rank" in page and "Benjamini-Hochberg" in page
    assert "4 of them differ beyond chance" in page  # laplace against each, by both metrics


def test_configurations_level_with_the_best_are_named(tmp_path: Path) -> None:
    for prior, accuracies in (("normal", EIGHT["normal"]), ("cauchy", EIGHT["cauchy"])):
        for seed, acc in enumerate(accuracies):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed, metrics=ok(acc))
    summary = read_sweep(tmp_path)
    (v, _) = verdicts(by_config(summary), summary)
    assert "the lead is within chance" in verdict_text(v)
    assert v.not_separated() == ["prior=normal"]


def test_by_config_statistics_against_scipy(tmp_path: Path) -> None:
    """n, mean, 95% t interval, median, std, min, max and standard error over the seeds; the
    bimodality flag of a split configuration, of a unimodal one and of too few seeds."""
    rng = np.random.default_rng(0)
    samples = {"laplace": BIMODAL, "normal": list(rng.normal(0.82, 0.01, 10)),
               "cauchy": [0.80, 0.83, 0.85]}  # fmt: skip
    for prior, values in samples.items():
        for seed, acc in enumerate(values):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed,
                     metrics={**ok(acc), "num_test": 300})  # fmt: skip
    table = by_config(read_sweep(tmp_path)).set_index("prior")
    for prior, values in samples.items():
        row, x = table.loc[prior], np.asarray(values)
        ci = scipy.stats.ttest_1samp(x, 0).confidence_interval(0.95)
        assert row["accuracy_count"] == len(x)
        assert row["accuracy_mean"] == pytest.approx(x.mean())
        assert row["accuracy_std"] == pytest.approx(x.std(ddof=1))
        assert row["accuracy_sem"] == pytest.approx(scipy.stats.sem(x))
        assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == pytest.approx((ci.low, ci.high))
        assert row["accuracy_median"] == pytest.approx(np.median(x))
        assert (row["accuracy_min"], row["accuracy_max"]) == (x.min(), x.max())
    flags = table["accuracy_bimodal"]
    assert flags["laplace"] and not flags["normal"] and pd.isna(flags["cauchy"])


def test_a_sweep_over_data_files_gets_a_verdict_per_file(tmp_path: Path) -> None:
    """Issue 10: dataset.path=a.csv,b.csv are two data sets, ranked and compared apart."""
    for path, shift in (("/data/a.csv", 0.0), ("/data/b.csv", 0.1)):
        for prior, accuracies in (("normal", EIGHT["normal"]), ("laplace", EIGHT["laplace"])):
            for seed, acc in enumerate(accuracies):
                fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed, dataset="table",
                         metrics=ok(acc + shift), extra=(f"dataset.path={path}",))  # fmt: skip
    result = aggregate(tmp_path)
    summary = result.summary
    assert summary.data_keys == ["dataset", "dataset.path"]
    found = verdicts(result.by_config, summary, result.comparisons)
    assert [(v.dataset, v.metric.name) for v in found] == [
        (f"table (dataset.path=/data/{name}.csv)", metric)
        for name in ("a", "b")
        for metric in ("accuracy", "nll")
    ]
    assert [s.label for s in found[0].ranking] == ["prior=laplace", "prior=normal"]
    assert found[2].best.mean == pytest.approx(np.mean(EIGHT["laplace"]) + 0.1)
    pairs = result.comparisons
    assert len(pairs) == 4 and set(pairs["dataset.path"]) == {"/data/a.csv", "/data/b.csv"}
    assert set(pairs["config_a"]) | set(pairs["config_b"]) == {"prior=laplace", "prior=normal"}
    for path in ("a", "b"):
        assert (
            tmp_path / "plots" / f"strip_accuracy_dataset=table,dataset.path=_data_{path}.csv.png"
        ).is_file()


def test_a_data_setting_of_an_experiment_makes_another_data_set(tmp_path: Path) -> None:
    """Two experiments on moons at different noise: the noise, not overridden, still tells the
    data sets apart."""
    for experiment, noise in (("quiet", 0.1), ("noisy", 0.45)):
        for seed in range(2):
            fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=seed, metrics=ok(0.9),
                     extra=(f"experiment={experiment}",),
                     data={"noise": noise, "seed": 0})  # fmt: skip
    summary = read_sweep(tmp_path)
    assert summary.keys == ["dataset", "prior", "hyperprior", "experiment", "dataset.noise", "seed"]
    assert summary.data_keys == ["dataset", "dataset.noise"]
    assert len(verdicts(by_config(summary), summary)) == 4  # 2 data sets x 2 metrics


def test_report_page_links_only_to_files_beside_it(sweep: Path) -> None:
    result = aggregate(sweep)
    page = result.report.read_text()
    assert "http" not in page  # nothing to fetch: works offline
    targets = [unquote(t) for t in re.findall(r'(?:href|src)="([^"]+)"', page)]
    assert any(t.startswith("plots/heatmap_dataset=moons") for t in targets)
    files = [t for t in targets if not t.startswith("#")]
    assert all((sweep / t).exists() for t in files), files
    # The table of contents links to the page's own sections, and needs no script.
    anchors = [t[1:] for t in targets if t.startswith("#")]
    assert {"verdict", "runs", "figures"} <= set(anchors)
    assert all(f'id="{a}"' in page for a in anchors), anchors
    assert "2 runs did not finish" in page
    assert pd.read_csv(sweep / "summary.csv").shape[0] == 14
    assert pd.read_csv(sweep / "summary_by_config.csv").shape[0] == 5


def test_prior_only_sweep_is_compared_with_error_bars_and_skips_its_pretraining(
    tmp_path: Path,
) -> None:
    """A transfer sweep: prior=normal vs informed over seeds, its pretraining run kept beside
    the jobs (a single run, Hydra mode RUN) is not one of them."""
    for seed, (a, b) in enumerate([(0.95, 0.90), (0.96, 0.91), (0.94, 0.92)]):
        for prior, acc in (("informed", a), ("normal", b)):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed, metrics=ok(acc),
                     dataset="digits", extra=("experiment=transfer_digits",))  # fmt: skip
    pretrain = fake_job(tmp_path / "pretrain", prior="normal", hyperprior="fixed", seed=0,
                        metrics=ok(0.99), dataset="digits")  # fmt: skip
    (pretrain / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"mode": "RUN"}}))
    summary = read_sweep(tmp_path)
    assert len(summary.runs) == 6 and summary.varying() == ["prior"]
    (acc, _) = verdicts(by_config(summary), summary)
    assert (acc.best.label, acc.runner_up.label) == ("prior=informed", "prior=normal")
    assert "the two share 3 seeds, fewer than the 5 a paired test needs" in verdict_text(acc)
    result = aggregate(tmp_path)
    assert "plots/configs_dataset=digits.png" in [path for _, path in result.figures]
    assert (tmp_path / "plots" / "configs_dataset=digits.png").is_file()


def test_report_shows_intervals_bimodality_and_strip_plots(tmp_path: Path) -> None:
    level = [*EIGHT["normal"], 0.81, 0.82]  # ten seeds, one group
    for seed, (two_groups, one_group) in enumerate(zip(BIMODAL, level, strict=True)):
        for prior, acc in (("normal", two_groups), ("laplace", one_group)):
            fake_job(tmp_path, prior=prior, hyperprior="fixed", seed=seed,
                     metrics={**ok(acc), "num_test": 300})  # fmt: skip
    fake_job(tmp_path, prior="cauchy", hyperprior="fixed", seed=0, metrics=None)
    result = aggregate(tmp_path)
    page = result.report.read_text()
    assert "over seed (inference variation: the network&#x27;s initialisation" in page
    assert "on one fixed draw of the data" in page
    assert "mean ± standard error of the mean (std / sqrt(n)) [95% confidence interval" in page
    assert "Bimodal over seeds (two separated groups of outcomes" in page
    assert "prior=normal (bimodal)" not in page  # the figure's label, not the page's
    table = labelled(result.by_config, result.summary)
    normal = table.set_index("prior").loc["normal"]
    low, high = scipy.stats.ttest_1samp(BIMODAL, 0).confidence_interval(0.95)
    assert (
        f"{np.mean(BIMODAL):.4f} ± {scipy.stats.sem(BIMODAL):.4f} [{low:.4f}, {high:.4f}]" in page
    )
    assert bool(normal["accuracy_bimodal"])
    strip = tmp_path / "plots" / "strip_accuracy_dataset=moons.png"
    assert strip.is_file() and "plots/strip_accuracy_dataset=moons.png" in unquote(page)
    # The figure itself: one dot per run that finished ok, one mean per configuration.
    ok_runs = labelled(result.summary.runs[result.summary.runs["status"] == "ok"],
                       result.summary)  # fmt: skip
    fig = figures.strip_figure(ok_runs, table, config=CONFIG, metric=SHOWN[0], title="t",
                               what="seed")  # fmt: skip
    (ax,) = fig.axes
    (dots,) = [c for c in ax.collections if c.get_label() == "one seed"]
    assert len(dots.get_offsets()) == len(ok_runs) == 20
    assert sorted(dots.get_offsets()[:, 0]) == pytest.approx(sorted(BIMODAL + level))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # Best mean first; the cauchy job never finished, so it has no row.
    assert labels == ["prior=normal (bimodal)", "prior=laplace"]
    means = [line for line in ax.lines if line.get_marker() == "D"]
    np.testing.assert_allclose(means[0].get_xdata(), [np.mean(BIMODAL), np.mean(level)])


def uci_job(root: Path, prior: str, split: int, rmse: float) -> Path:
    metrics = {"status": "ok", "rmse": rmse, "nll": rmse + 1.0, "crps": rmse / 2}
    return fake_job(root, prior=prior, hyperprior="fixed", seed=0, metrics=metrics,
                    dataset="uci", extra=(f"dataset.split={split}",))  # fmt: skip


def test_a_sweep_over_splits_reports_data_variation_with_standard_errors(tmp_path: Path) -> None:
    """Issue 10: the UCI splits are data variation, shown as mean ± standard error."""
    rmse = {"normal": [3.1, 2.9, 3.4, 3.0, 3.3, 2.8], "laplace": [2.9, 2.8, 3.2, 2.9, 3.0, 2.7]}
    for prior, values in rmse.items():
        for split, value in enumerate(values):
            uci_job(tmp_path, prior, split, value)
    result = aggregate(tmp_path)
    summary = result.summary
    assert summary.config_keys == ["dataset", "prior", "hyperprior"]
    assert summary.replicate_noun() == "splits"
    page = result.report.read_text()
    assert "over dataset.split (data variation: another of the data set&#x27;s fixed" in page
    assert "grouped over splits" in page and "Configurations (over splits)" in page
    assert "seeds" not in page
    x = np.asarray(rmse["laplace"])
    assert f"{x.mean():.4f} ± {scipy.stats.sem(x):.4f}" in page  # mean ± standard error
    (v, _) = verdicts(result.by_config, summary, result.comparisons)
    assert v.metric.name == "rmse" and v.best.label == "prior=laplace"
    assert "Paired over their 6 common splits" in verdict_text(v)
    assert (tmp_path / "plots" / "strip_rmse_dataset=uci.png").is_file()


def test_data_seeds_are_replicates_of_data_variation(tmp_path: Path) -> None:
    for data_seed in range(3):
        for seed in (0, 1):
            fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=seed, metrics=ok(0.8),
                     extra=(f"dataset.seed={data_seed}",))  # fmt: skip
    both = read_sweep(tmp_path)
    assert both.config_keys == ["dataset", "prior", "hyperprior"]
    assert both.replicate_keys == ["seed", "dataset.seed"]
    assert both.replicate_noun() == "replicates (seed, dataset.seed)"
    assert "over seed (inference variation" in both.variation()
    assert "; and over dataset.seed (data variation: another random draw" in both.variation()
    assert by_config(both)["accuracy_count"].tolist() == [6]
    single = tmp_path / "single"
    fake_job(single, prior="normal", hyperprior="fixed", seed=0, metrics=ok(0.8))
    one = read_sweep(single)
    assert one.variation() == "Each configuration has one run, so there is no spread within one."


def test_a_seed_that_draws_the_data_is_both_kinds_of_variation(tmp_path: Path) -> None:
    """The transfer experiments set dataset.seed: ${seed}."""
    for seed in range(3):
        fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=seed, metrics=ok(0.8),
                 dataset="digits", data={"seed": "${seed}"})  # fmt: skip
    summary = read_sweep(tmp_path)
    assert summary.seeded_data and summary.keys == ["dataset", "prior", "hyperprior", "seed"]
    assert "over seed (inference and data variation together" in summary.variation()
