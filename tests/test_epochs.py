"""Epoch-based minibatch SVI: seeded shuffles, two loop strategies with one result, divergence,
and the MAP warm start that places the guide's means."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import hand_auroc, hand_metrics, make_config, recorded_draws
from test_image_data import write_mnist_files

from bnnrun.data import load_dataset
from bnnrun.inference.epochs import fit_epochs, warm_start_program
from bnnrun.inference.guides import locs_from_point
from bnnrun.inference.program import epoch_batches, fit_svi_epochs, resolve_loop, steps_per_epoch
from bnnrun.pipeline.build import build
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import load_run

# One model for every test here, so they share compiled programs.
DIGITS_MLP = [
    "dataset=digits",
    "architecture.hidden=[16]",
    "prior=laplace",
    "hyperprior=half_normal",
    "inference.num_epochs=2",
    "inference.batch_size=100",
    "inference.chunk_size=6",
    "inference.num_predictive_samples=8",
    "runtime.progress=false",
]


def test_epoch_batches_are_seeded_permutations() -> None:
    key = jax.random.PRNGKey(3)
    a = epoch_batches(key, num_data=103, batch_size=10, epoch=0)
    assert a.shape == (10, 10) and a.dtype == np.int32
    assert len(set(a.ravel())) == 100 and a.max() < 103  # no index twice; 3 dropped
    np.testing.assert_array_equal(a, epoch_batches(key, num_data=103, batch_size=10, epoch=0))
    assert not np.array_equal(a, epoch_batches(key, num_data=103, batch_size=10, epoch=1))
    other = epoch_batches(jax.random.PRNGKey(4), num_data=103, batch_size=10, epoch=0)
    assert not np.array_equal(a, other)
    assert steps_per_epoch(103, 10) == 10 and steps_per_epoch(103, None) == 1
    assert epoch_batches(key, num_data=5, batch_size=64, epoch=0).shape == (1, 5)


def test_auto_loop_takes_steps_for_convolutions_on_cpu_only() -> None:
    assert resolve_loop("auto", has_convolutions=True, backend="cpu") == "step"
    assert resolve_loop("auto", has_convolutions=False, backend="cpu") == "scan"
    assert resolve_loop("auto", has_convolutions=True, backend="gpu") == "scan"
    assert resolve_loop("scan", has_convolutions=True, backend="cpu") == "scan"


def _fit(cfg, loop: str, *, x: np.ndarray | None = None):
    data = load_dataset(cfg.dataset)
    _, _, hp, program = build(cfg, data)
    return fit_svi_epochs(
        program,
        data.x_train if x is None else x,
        data.y_train,
        hp,
        key=jax.random.PRNGKey(0),
        num_epochs=cfg.inference.num_epochs,
        batch_size=cfg.inference.batch_size,
        loop=loop,
        chunk_size=cfg.inference.chunk_size,
    )


@pytest.mark.slow
def test_step_and_scan_loops_fit_the_same_posterior_reproducibly() -> None:
    cfg = make_config(*DIGITS_MLP)
    scan, step = _fit(cfg, "scan"), _fit(cfg, "step")
    assert scan.status == step.status == "ok"
    assert scan.num_steps == step.num_steps == 2 * (1257 // 100)
    np.testing.assert_allclose(scan.elbo, step.elbo, rtol=1e-4)
    for k in scan.params:
        np.testing.assert_allclose(scan.params[k], step.params[k], rtol=1e-4, atol=1e-6)
    assert np.mean(scan.elbo[-5:]) > np.mean(scan.elbo[:5])  # it learns
    np.testing.assert_array_equal(_fit(cfg, "step").elbo, step.elbo)


@pytest.mark.parametrize("loop", ["scan", "step"])
def test_non_finite_elbo_stops_an_epoch_fit(loop: str) -> None:
    cfg = make_config(*DIGITS_MLP)
    x = load_dataset(cfg.dataset).x_train.copy()
    x[700:] = np.nan  # the first minibatch that draws one of these has a NaN ELBO
    fit = _fit(cfg, loop, x=x)
    assert fit.status == "diverged" and fit.params == {}
    assert 1 <= fit.diverged_at <= 3 and fit.num_steps == fit.diverged_at
    assert len(fit.elbo) == fit.diverged_at and not np.isfinite(fit.elbo[-1])
    assert np.isfinite(fit.elbo[:-1]).all()


@pytest.mark.slow
def test_warm_start_places_the_guides_means_at_the_map_estimate() -> None:
    cfg = make_config(*DIGITS_MLP, "inference.warm_start_epochs=1")
    data = load_dataset(cfg.dataset)
    _, model, hp, program = build(cfg, data)
    warm = fit_svi_epochs(
        warm_start_program(cfg, model),
        data.x_train,
        data.y_train,
        hp,
        key=jax.random.PRNGKey(1),
        num_epochs=1,
        batch_size=100,
        loop="scan",
        chunk_size=50,
    )
    assert warm.status == "ok"
    args = (data.x_train[:100], data.y_train[:100], hp)
    locs = locs_from_point(model, args, warm.params)
    state = program.init(jax.random.PRNGKey(2), *args, init_params=locs)
    start = program.params(state)
    np.testing.assert_allclose(start["layer1.w_auto_loc"], warm.params["layer1.w_auto_loc"])
    # AutoNormal keeps a positive scale's mean in log space.
    np.testing.assert_allclose(
        start["layer2.b_scale_auto_loc"], np.log(warm.params["layer2.b_scale_auto_loc"]), rtol=1e-5
    )
    np.testing.assert_allclose(start["layer1.w_auto_scale"], cfg.inference.init_scale, rtol=1e-5)
    result = fit_epochs(cfg, data, model=model, hp=hp, program=program, key=jax.random.PRNGKey(0))
    assert result.warm_start is not None and result.warm_start.num_steps == 12
    assert result.fit.status == "ok" and result.fit.num_steps == 24


@pytest.mark.slow
def test_idx_dataset_with_ood_end_to_end(tmp_path: Path) -> None:
    """MNIST-format files through the whole run (an MLP, for speed), with another IDX data
    set as out-of-distribution inputs."""
    write_mnist_files(tmp_path / "mnist", n_train=300, n_test=60, seed=0)
    write_mnist_files(tmp_path / "other", n_train=20, n_test=40, seed=9)
    overrides = [
        *DIGITS_MLP[1:],
        "dataset=mnist",
        f"dataset.data_dir={tmp_path / 'mnist'}",
        "dataset.validation_size=50",
        "ood=fashion_mnist",
        f"ood.data_dir={tmp_path / 'other'}",
        "ood.validation_size=0",
        "analysis.num_images=4",
        "analysis.data_chunk=40",  # one compiled predictive for test, validation and OOD sets
    ]
    first = execute(make_config(*overrides), tmp_path / "a")
    assert first["status"] == "ok"
    assert first["num_train"] == 250 and first["num_test"] == 60 and first["ood_num_test"] == 40
    # The validation and OOD numbers again, from the run's draws and their definitions.
    run = load_run(tmp_path / "a")
    draws = recorded_draws(tmp_path / "a")
    assert len(run.data.y_val) == 50
    val = hand_metrics(run.probs(draws, run.data.x_val), run.data.y_val)
    assert first["val_accuracy"] == pytest.approx(val["accuracy"])
    assert first["val_nll"] == pytest.approx(val["nll"], rel=1e-6)
    ood = load_dataset(run.cfg.ood)
    assert len(ood.y_test) == 40 and not np.array_equal(ood.x_test[:40], run.data.x_test[:40])
    scores = []
    for x in (run.data.x_test, ood.x_test):
        probs = run.probs(draws, x).astype(np.float64)  # [S, N, C]
        mean = probs.mean(axis=0)
        h_mean = -(mean * np.log(np.clip(mean, 1e-300, None))).sum(-1)
        h_draws = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(-1).mean(0)
        scores.append((h_mean, h_mean - h_draws))
    (in_h, in_mi), (out_h, out_mi) = scores
    # Within two of the 60 x 40 pairs: float32 rounding may swap near-equal scores.
    assert first["ood_auroc_entropy"] == pytest.approx(hand_auroc(in_h, out_h), abs=1e-3)
    assert first["ood_auroc_mutual_info"] == pytest.approx(hand_auroc(in_mi, out_mi), abs=1e-3)
    assert len(first["per_class_accuracy"]) == 10
    for name in ("reliability", "class_variance", "most_uncertain", "ood_hist"):
        assert (tmp_path / "a" / f"{name}.png").is_file(), name


def test_progress_bars_are_named_by_phase_and_silenced_by_the_runtime_flag(capsys) -> None:
    """The MAP warm start's bar says ``warm start``, the SVI fit's says ``svi``;
    ``runtime.progress=false`` draws neither."""
    for progress in (True, False):
        cfg = make_config(
            *DIGITS_MLP, "inference.warm_start_epochs=1", f"runtime.progress={progress}"
        )
        data = load_dataset(cfg.dataset)
        _, model, hp, program = build(cfg, data)
        capsys.readouterr()
        fit_epochs(cfg, data, model=model, hp=hp, program=program, key=jax.random.PRNGKey(0))
        err = capsys.readouterr().err
        if progress:
            assert "warm start: " in err and "svi: " in err
            assert err.index("warm start: ") < err.index("svi: ")
        else:
            assert err == ""
