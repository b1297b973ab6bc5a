"""Figures fit for a paper: the configured format and resolution, labelled axes and colour bars,
the ELBO's rolling band, the prior over the weight posteriors, counts on per-class and
per-bin figures, and heat maps on one colour scale across data sets. The figures are inspected
as matplotlib objects; the numbers they draw are checked against pandas, NumPy and SciPy."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bnnrun import rundir
from bnnrun.analysis import figures, regression_figures, uncertainty_figures
from bnnrun.analysis.metrics import Reliability, reliability
from bnnrun.analysis.uncertainty import ClassVariance
from bnnrun.config.analysis import AnalysisConfig, FigureFormat
from bnnrun.errors import ConfigError
from bnnrun.sweep import figures as sweep_figures
from bnnrun.sweep.aggregate import aggregate


def _colorbars(fig: Figure) -> list[Colorbar]:
    return [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


# --- format and resolution ------------------------------------------------------------------


def test_analysis_config_validates_format_and_dpi() -> None:
    assert AnalysisConfig().figure_format == FigureFormat.png and AnalysisConfig().dpi == 150
    with pytest.raises(ConfigError, match=r"analysis\.dpi"):
        AnalysisConfig(dpi=0)
    with pytest.raises(ValueError):
        FigureFormat("jpg")


@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_save_writes_the_configured_format_only(tmp_path: Path, fmt: str, magic: bytes) -> None:
    fig = figures.elbo_figure(-np.linspace(100, 10, 50))
    path = figures.save(fig, tmp_path, "elbo", AnalysisConfig(figure_format=FigureFormat(fmt)))
    assert path == tmp_path / f"elbo.{fmt}"
    assert path.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"elbo.{fmt}"]  # no png, no temporary


@pytest.mark.parametrize("dpi", [50, 100])
def test_save_honours_dpi(tmp_path: Path, dpi: int) -> None:
    # A 4 x 2 inch figure filled to its edges: "tight" keeps all of it and adds
    # savefig.pad_inches on each side, so its pixels are (inches + 2 pad) times dpi.
    fig = Figure(figsize=(4, 2))
    fig.add_artist(Rectangle((0, 0), 1, 1, color="0.5"))
    path = figures.save(fig, tmp_path, "box", AnalysisConfig(dpi=dpi))
    pad = 2 * matplotlib.rcParams["savefig.pad_inches"]
    assert _png_size(path) == (round((4 + pad) * dpi), round((2 + pad) * dpi))


@pytest.mark.slow  # a whole run (~45 s on a loaded 2-core machine); save() is tested above
def test_a_run_writes_its_figures_in_the_configured_format(tmp_path: Path) -> None:
    import bnnrun

    # debug=smoke as other tests run it: the compiled programs are shared through the cache.
    cfg = bnnrun.compose(["debug=smoke", "analysis.figure_format=svg"])
    record = bnnrun.execute(cfg, tmp_path)
    assert record["status"] == "ok"
    names = {p.name for p in tmp_path.iterdir()}
    expected = {"elbo", "predictive_mean", "predictive_std", "weights_last_layer", "reliability"}
    assert {f"{n}.svg" for n in expected} <= names
    assert not [n for n in names if n.endswith(".png")]


# --- the ELBO ---------------------------------------------------------------------------------


def test_rolling_band_matches_pandas() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=537).cumsum()
    values[100:104] = np.nan  # a gap, as a diverged step leaves
    at = np.sort(rng.choice(len(values), size=80, replace=False))
    at = np.r_[0, 1, at, len(values) - 1]  # the shortened windows at both ends
    band = figures.rolling_band(values, window=11, at=at, quantiles=(0.1, 0.9))
    rolling = pd.Series(values).rolling(11, center=True, min_periods=1)
    np.testing.assert_allclose(band.mean, rolling.mean().to_numpy()[at], rtol=1e-12)
    np.testing.assert_allclose(band.low, rolling.quantile(0.1).to_numpy()[at], rtol=1e-12)
    np.testing.assert_allclose(band.high, rolling.quantile(0.9).to_numpy()[at], rtol=1e-12)


def test_elbo_figure_draws_the_rolling_mean_on_a_log_axis_with_the_warm_start() -> None:
    rng = np.random.default_rng(1)
    elbo = -(50 + 5000 * np.exp(-np.arange(3000) / 200) + rng.normal(scale=3, size=3000))
    warm = -np.linspace(4000, 300, 400)
    fig = figures.elbo_figure(elbo, warm_start=warm, steps_per_epoch=100, max_points=3000)
    ax, ax_end = fig.axes[:2]
    assert ax.get_yscale() == "log"  # the first steps (loss ~5000) are not clipped
    assert ax.get_ylim()[1] >= 5000
    assert "nats" in ax.get_ylabel() and "step" in ax.get_xlabel()
    assert ax_end.get_ylabel() and ax_end.get_xlabel()
    window = figures.elbo_window(len(elbo))
    expected = pd.Series(-elbo).rolling(window, center=True, min_periods=1).mean().to_numpy()
    (svi_line,) = [line for line in ax.lines if line.get_label().startswith("SVI")]
    np.testing.assert_allclose(svi_line.get_xdata(), np.arange(1, 3001) + len(warm))
    np.testing.assert_allclose(svi_line.get_ydata(), expected, rtol=1e-9)
    labels = ax.get_legend_handles_labels()[1]
    assert any(label.startswith("MAP warm start") for label in labels)
    assert any("10-90% quantile" in label for label in labels)  # a band, not a min-max block
    epochs = [child.get_xlabel() for child in ax.child_axes]
    assert "epoch" in epochs


def test_elbo_figure_handles_a_loss_below_zero_and_a_divergence() -> None:
    elbo = np.r_[np.linspace(-100, 50, 40), [np.nan]]  # loss from 100 to -50, then NaN
    fig = figures.elbo_figure(elbo, diverged_at=41)
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    assert any("not finite from step 41" in label for label in ax.get_legend_handles_labels()[1])


# --- maps, weights, per-class and per-bin figures ------------------------------------------


def test_predictive_map_labels_its_inputs_and_colour_bar() -> None:
    x = np.random.default_rng(0).normal(size=(20, 2))
    grid, axes = figures.input_grid(x, size=5)
    fig = figures.predictive_map_figure(
        axes, grid[:, 0], x, (x[:, 0] > 0).astype(int), title="t", cmap="viridis",
        colorbar_label="std of p (probability)",
        input_labels=("x1 (standardised)", "x2 (standardised)"),
    )  # fmt: skip
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1 (standardised)", "x2 (standardised)")
    (bar,) = _colorbars(fig)
    assert bar.ax.get_ylabel() == "std of p (probability)"


def test_weight_figure_overlays_the_prior_and_states_the_selection() -> None:
    samples = np.random.default_rng(0).normal(0.3, 0.2, size=(200, 8, 10))
    prior = figures.prior_curve("laplace", loc=0.0, scale=0.5)
    fig = figures.weight_density_figure(samples, layer="layer4", prior=prior, max_curves=16)
    ax = fig.axes[0]
    assert "16 of 80" in ax.get_title() and "largest |posterior mean|" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("prior Laplace(0, 0.5)") for t in legend)
    (prior_line,) = [line for a in fig.axes for line in a.lines if line.get_linestyle() == "--"]
    x = prior_line.get_xdata()
    # Laplace density by hand: exp(-|x| / b) / (2 b).
    np.testing.assert_allclose(prior_line.get_ydata(), np.exp(-np.abs(x) / 0.5) / 1.0, rtol=1e-9)


def test_prior_curve_families() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    normal = figures.prior_curve("normal", loc=1.0, scale=2.0)
    np.testing.assert_allclose(
        normal.pdf(x), np.exp(-((x - 1) ** 2) / 8) / np.sqrt(2 * np.pi * 4), rtol=1e-12
    )
    cauchy = figures.prior_curve("cauchy", scale=1.0)
    np.testing.assert_allclose(cauchy.pdf(x), 1 / (np.pi * (1 + x**2)), rtol=1e-12)
    learned = figures.prior_curve("normal", scale=0.3, scale_note=", learned scale")
    assert learned.label.endswith(", learned scale")
    flat = figures.prior_curve("flat")
    assert flat.pdf is None and "flat" in flat.label


def test_class_variance_is_bars_with_n_and_no_gap_for_a_class_without_mistakes() -> None:
    cv = ClassVariance(
        misclassified=np.array([0.02, np.nan, 0.03]),
        correct=np.array([0.01, 0.005, 0.002]),
        all=np.array([0.012, 0.005, 0.01]),
    )
    counts = {"misclassified": np.array([3, 0, 2]), "correct": np.array([7, 9, 6]),
              "all": np.array([10, 9, 8])}  # fmt: skip
    fig = uncertainty_figures.class_variance_figure(cv, class_names=["a", "b", "c"], counts=counts)
    ax = fig.axes[0]
    assert not ax.lines  # no line drawn across categories
    assert ax.get_xlabel() == "true class" and "variance" in ax.get_ylabel()
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [0.02, 0.0, 0.03, 0.01, 0.005, 0.002, 0.012, 0.005, 0.01])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["n=3", "n=0", "n=2", "n=7", "n=9", "n=6", "n=10", "n=9", "n=8"]


def test_reliability_counts_per_bin_match_numpy_histogram() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet([0.6, 0.6, 0.6], size=500)
    y = rng.integers(0, 3, size=500)
    rel = reliability(probs, y, num_bins=10)
    fig = uncertainty_figures.reliability_figure(rel)
    ax, ax_count = fig.axes
    expected, _ = np.histogram(probs.max(axis=1), bins=np.linspace(0, 1, 11))
    np.testing.assert_array_equal([p.get_height() for p in ax_count.patches], expected)
    assert [t.get_text() for t in ax_count.texts] == [str(n) if n else "" for n in expected]
    assert ax_count.get_xlabel() and ax_count.get_ylabel() and ax.get_ylabel()


def test_reliability_figure_of_a_single_bin() -> None:
    rel = Reliability(np.linspace(0, 1, 3), np.array([0, 4]), np.array([np.nan, 0.9]),
                      np.array([np.nan, 1.0]))  # fmt: skip
    fig = uncertainty_figures.reliability_figure(rel)
    assert [t.get_text() for t in fig.axes[1].texts] == ["", "4"]


def test_regression_figures_say_their_units() -> None:
    rng = np.random.default_rng(0)
    y, mean = rng.normal(size=30), rng.normal(size=30)
    figs = [
        regression_figures.predicted_vs_observed_figure(y, mean, mean - 1, mean + 1, level=0.9),
        regression_figures.calibration_figure(
            np.array([0.5, 0.9]), np.array([0.4, 0.8]), num_points=30
        ),
        regression_figures.residual_figure(y - mean, np.abs(mean) + 0.1),
    ]
    for fig in figs:
        ax = fig.axes[0]
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert "(" in label and label.endswith(")"), label  # a unit or a scale, in brackets


# --- sweep figures ----------------------------------------------------------------------------


def _config_table() -> pd.DataFrame:
    rows = []
    for dataset, base in (("moons", 0.76), ("circles", 0.95)):
        for i, prior in enumerate(("normal", "laplace")):
            for j, hyper in enumerate(("fixed", "inverse_gamma")):
                acc = base + 0.01 * i + 0.005 * j
                rows.append({"dataset": dataset, "prior": prior, "hyperprior": hyper,
                             "accuracy_mean": acc, "accuracy_std": 0.01,
                             "nll_mean": 1 - acc, "nll_std": 0.02,
                             "ece_mean": 0.05, "ece_std": 0.01})  # fmt: skip
    return pd.DataFrame(rows)


def test_heat_maps_share_one_colour_range_per_metric_across_data_sets() -> None:
    table = _config_table()
    limits = sweep_figures.metric_limits(table, sweep_figures.SHOWN)
    assert limits["accuracy"] == (0.76, 0.965)  # by hand: moons' lowest, circles' highest
    assert limits["nll"] == pytest.approx((0.035, 0.24))
    climits = []
    for dataset in ("moons", "circles"):
        fig = sweep_figures.heatmap_figure(
            table[table["dataset"] == dataset], rows="prior", cols="hyperprior",
            row_order=["normal", "laplace"], col_order=["fixed", "inverse_gamma"],
            title=dataset, limits=limits,
        )  # fmt: skip
        images = [ax.images[0] for ax in fig.axes if ax.images]
        climits.append([im.get_clim() for im in images])
        labels = [bar.ax.get_ylabel() for bar in _colorbars(fig)]
        assert labels == ["mean accuracy (fraction correct)", "mean NLL (nats per test point)",
                          "mean ECE (fraction)"]  # fmt: skip
    assert climits[0] == climits[1]
    assert climits[0][0] == pytest.approx((0.76, 0.965))


def test_metric_against_a_swept_number_draws_chance_level() -> None:
    table = pd.DataFrame(
        {"prior.scale": [0.1, 1.0, 10.0], "accuracy_mean": [0.6, 0.8, 0.7],
         "accuracy_std": [0.01] * 3, "nll_mean": [0.6, 0.4, 0.5], "nll_std": [0.01] * 3,
         "ece_mean": [0.1] * 3, "ece_std": [0.0] * 3}
    )  # fmt: skip
    fig = sweep_figures.metric_vs_figure(table, x="prior.scale", lines=[], title="t", chance=[0.5])
    acc, nll, _ = fig.axes[:3]
    chance = [line for line in acc.lines if line.get_label().startswith("chance")]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == [0.5, 0.5]
    assert "1/2 classes" in chance[0].get_label()
    assert not [line for line in nll.lines if line.get_label().startswith("chance")]
    assert acc.get_ylabel() == "accuracy (fraction correct)" and acc.get_xlabel() == "prior.scale"


def _job(root: Path, dataset: str, prior: str, seed: int, accuracy: float, fmt: str) -> None:
    overrides = [f"dataset={dataset}", f"prior={prior}", f"seed={seed}"]
    run_dir = root / ",".join(overrides)
    (run_dir / ".hydra").mkdir(parents=True)
    config = {"dataset": {"name": dataset}, "prior": {"family": prior},
              "hyperprior": {"kind": "fixed"}, "seed": seed,
              "analysis": {"figure_format": fmt, "dpi": 80}}  # fmt: skip
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    record = {"status": "ok", "accuracy": accuracy, "nll": 0.4, "ece": 0.05, "num_classes": 2}
    rundir.write_json(run_dir / rundir.METRICS, {"seed": seed, **record})


def test_a_sweep_writes_its_figures_in_the_jobs_format(tmp_path: Path) -> None:
    fmt = "svg"
    for dataset, base in (("moons", 0.8), ("circles", 0.9)):
        for i, prior in enumerate(("normal", "laplace")):
            for seed in (0, 1):
                _job(tmp_path, dataset, prior, seed, base + 0.02 * i + 0.01 * seed, fmt)
    result = aggregate(tmp_path)
    written = [path for _, path in result.figures]
    assert written and all(path.endswith(f".{fmt}") for path in written)
    on_disk = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert on_disk == sorted(path.removeprefix("plots/") for path in written)
    assert "plots/heatmap_dataset=moons." + fmt in written


def test_student_t_prior_is_scipy_t_rescaled() -> None:
    grid = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(
        figures.prior_curve("student_t", scale=2.0, df=3.0).pdf(grid),
        scipy.stats.t.pdf(grid / 2.0, 3.0) / 2.0,
        rtol=1e-12,
    )


def test_the_file_to_open_first_is_found_in_any_figure_format() -> None:
    from bnnrun.pipeline.summary import first_file

    assert first_file(["metrics.json", "elbo.pdf", "predictive_std.pdf"]) == "predictive_std.pdf"
    assert first_file(["metrics.json", "predictive_bands.svg"]) == "predictive_bands.svg"
    assert first_file(["metrics.json", "predictive_std.jpg"]) == "metrics.json"
