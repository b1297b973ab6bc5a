"""The optimizer of ``inference.optimizer``: learning-rate schedules with warm-up, checked against
hand-computed rates; gradient clipping against a hand-computed global norm; and every optimizer
name taking the update of optax's own transformation of that name."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import make_config

from bnnrun.config import OptimizerConfig, OptimizerName, Schedule
from bnnrun.inference.optimizer import build_optimizer, learning_rate

LR, STEPS, WARMUP, FRACTION = 0.1, 100, 10, 0.01
AT = [0, 1, 5, 9, 10, 11, 37, 50, 99, 100, 150]


def rate(schedule: optax.ScalarOrSchedule, step: int) -> float:
    return float(schedule(step)) if callable(schedule) else float(schedule)


def expected_rate(schedule: str, warmup: int, t: int) -> float:
    """The rate at step ``t``, from the documented formulas: a linear ramp from 0 over
    ``warmup`` steps, then ``lr`` (constant), a half cosine from ``lr`` to ``lr * fraction``
    over the remaining steps (cosine), or ``lr * fraction ** (progress)`` (exponential)."""
    end = LR * FRACTION
    if t < warmup:
        return LR * t / warmup
    progress = min(t - warmup, STEPS - warmup) / (STEPS - warmup)
    if schedule == "constant":
        return LR
    if schedule == "cosine":
        return end + (LR - end) * 0.5 * (1 + math.cos(math.pi * progress))
    return max(LR * FRACTION**progress, end)


CASES = [(s.value, w) for s in Schedule for w in (0, WARMUP)]


@pytest.mark.parametrize(("schedule", "warmup"), CASES, ids=[f"{s}-warmup{w}" for s, w in CASES])
def test_schedule_rates_at_given_steps(schedule: str, warmup: int) -> None:
    cfg = OptimizerConfig(
        lr=LR, schedule=Schedule(schedule), warmup_steps=warmup, final_lr_fraction=FRACTION
    )
    lr = learning_rate(cfg, num_steps=STEPS)
    got = [rate(lr, t) for t in AT]
    want = [expected_rate(schedule, warmup, t) for t in AT]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    if schedule != "constant":  # decays to lr * final_lr_fraction by the last step
        assert rate(lr, STEPS) == pytest.approx(LR * FRACTION, rel=1e-5)


def test_warmup_longer_than_the_fit_ramps_over_the_whole_fit() -> None:
    cfg = OptimizerConfig(lr=LR, schedule=Schedule.constant, warmup_steps=1000)
    lr = learning_rate(cfg, num_steps=20)  # warm-up capped at 20 steps
    np.testing.assert_allclose([rate(lr, t) for t in (0, 5, 20)], [0.0, LR / 4, LR], rtol=1e-6)


def run_updates(
    tx: optax.GradientTransformation, params: dict, grads: list[dict]
) -> list[dict[str, np.ndarray]]:
    """The updates ``tx`` makes for each gradient in turn (params moved by each update)."""
    state = tx.init(params)
    out = []
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        out.append({k: np.asarray(v) for k, v in updates.items()})
    return out


PARAMS = {"w": jnp.array([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.array([0.3, -0.7])}
GRADS = [
    {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([-1.5, 0.2])},
    {"w": jnp.array([[-0.3, 0.1], [2.5, -1.0]]), "b": jnp.array([0.7, 0.4])},
    {"w": jnp.array([[0.0, 1.2], [-0.8, 0.6]]), "b": jnp.array([-0.1, -2.0])},
]


def test_sgd_with_a_cosine_schedule_steps_by_the_rate_of_each_step() -> None:
    """Plain SGD's update is -rate(t) * gradient: the schedule reaches the optimizer."""
    cfg = OptimizerConfig(
        name=OptimizerName.sgd,
        lr=LR,
        schedule=Schedule.cosine,
        warmup_steps=2,
        final_lr_fraction=FRACTION,
    )
    tx = build_optimizer(cfg, num_steps=4)
    got = run_updates(tx, PARAMS, GRADS)
    end = LR * FRACTION
    rates = [0.0, LR / 2, LR]  # steps 0, 1 ramp; step 2 starts the cosine at lr
    assert rates[2] == pytest.approx(end + (LR - end) * 0.5 * (1 + math.cos(0.0)))
    for update, g, r in zip(got, GRADS, rates, strict=True):
        for k in g:
            np.testing.assert_allclose(update[k], -r * np.asarray(g[k]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("clip", "factor"), [(1.0, 1 / 5), (2.5, 2.5 / 5), (10.0, 1.0)])
def test_clip_norm_clips_the_global_gradient_norm(clip: float, factor: float) -> None:
    """A gradient of global norm sqrt(3^2 + 4^2) = 5 over two arrays: SGD at lr 1 moves by
    -g * min(1, clip / 5)."""
    grad = {"w": jnp.array([[3.0, 0.0]]), "b": jnp.array([0.0, 4.0])}
    cfg = OptimizerConfig(name=OptimizerName.sgd, lr=1.0, clip_norm=clip)
    (update,) = run_updates(build_optimizer(cfg, num_steps=10), PARAMS, [grad])
    for k in grad:
        np.testing.assert_allclose(update[k], -factor * np.asarray(grad[k]), rtol=1e-6)
    norm = math.sqrt(sum(float((u**2).sum()) for u in update.values()))
    assert norm == pytest.approx(min(5.0, clip), rel=1e-6)


#: optax's own transformation of each name (its defaults), at a constant rate.
REFERENCE = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
    "rmsprop": optax.rmsprop,
    "adabelief": optax.adabelief,
}


@pytest.mark.parametrize("name", [n.value for n in OptimizerName])
def test_each_optimizer_takes_optax_reference_updates(name: str) -> None:
    cfg = OptimizerConfig(name=OptimizerName(name), lr=0.05)
    got = run_updates(build_optimizer(cfg, num_steps=10), PARAMS, GRADS)
    want = run_updates(REFERENCE[name](0.05), PARAMS, GRADS)
    for a, b in zip(got, want, strict=True):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-9)


def test_first_steps_of_sgd_rmsprop_and_adamw_by_hand() -> None:
    """The first update of each, from its textbook definition at optax's default constants:
    SGD -lr g; RMSProp (decay 0.9, eps 1e-8) -lr g / (sqrt(0.1 g^2) + eps); AdamW (bias-corrected
    moments m = g, v = g^2, eps 1e-8, weight decay 1e-4) -lr (g / (|g| + eps) + 1e-4 p)."""
    lr = 0.05
    g = {k: np.asarray(v, np.float64) for k, v in GRADS[0].items()}
    p = {k: np.asarray(v, np.float64) for k, v in PARAMS.items()}
    by_hand = {
        "sgd": {k: -lr * g[k] for k in g},
        "rmsprop": {k: -lr * g[k] / (np.sqrt(0.1 * g[k] ** 2) + 1e-8) for k in g},
        "adamw": {k: -lr * (g[k] / (np.abs(g[k]) + 1e-8) + 1e-4 * p[k]) for k in g},
    }
    for name, want in by_hand.items():
        cfg = OptimizerConfig(name=OptimizerName(name), lr=lr)
        (got,) = run_updates(build_optimizer(cfg, num_steps=10), PARAMS, GRADS[:1])
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, err_msg=f"{name} {k}")


def test_config_options_build_the_documented_chain() -> None:
    """``inference.optimizer.*`` from the command line: RMSProp after clipping, on a cosine
    schedule with warm-up over the run's steps; the same updates as the chain built by hand."""
    cfg = make_config(
        "inference.num_steps=50",
        "inference.optimizer.name=rmsprop",
        "inference.optimizer.lr=0.02",
        "inference.optimizer.schedule=cosine",
        "inference.optimizer.warmup_steps=1",
        "inference.optimizer.final_lr_fraction=0.1",
        "inference.optimizer.clip_norm=0.5",
    )
    opt = cfg.inference.optimizer
    assert (opt.name, opt.schedule, opt.clip_norm) == (OptimizerName.rmsprop, Schedule.cosine, 0.5)
    tx = build_optimizer(opt, num_steps=cfg.inference.num_steps)
    schedule = optax.warmup_cosine_decay_schedule(0.0, 0.02, 1, 50, end_value=0.002)
    reference = optax.chain(optax.clip_by_global_norm(0.5), optax.rmsprop(schedule))
    for a, b in zip(
        run_updates(tx, PARAMS, GRADS), run_updates(reference, PARAMS, GRADS), strict=True
    ):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-9)
    first = run_updates(tx, PARAMS, GRADS[:1])[0]
    assert all((u == 0).all() for u in first.values())  # step 0 of the warm-up has rate 0
