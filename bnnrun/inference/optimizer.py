"""The optax optimizer and learning-rate schedule named by the inference config."""

from __future__ import annotations

import optax

from bnnrun.config import OptimizerConfig, OptimizerName, Schedule

_OPTIMIZERS = {
    OptimizerName.adam: optax.adam,
    OptimizerName.adamw: optax.adamw,
    OptimizerName.sgd: optax.sgd,
    OptimizerName.rmsprop: optax.rmsprop,
    OptimizerName.adabelief: optax.adabelief,
}


def learning_rate(cfg: OptimizerConfig, *, num_steps: int) -> optax.ScalarOrSchedule:
    """A constant rate, or an optax schedule with linear warm-up and decay over ``num_steps``."""
    end = cfg.lr * cfg.final_lr_fraction
    warmup = min(cfg.warmup_steps, num_steps)
    if cfg.schedule is Schedule.constant:
        if warmup == 0:
            return cfg.lr
        return optax.warmup_constant_schedule(0.0, cfg.lr, warmup)
    if cfg.schedule is Schedule.cosine:
        if warmup == 0:  # optax logs a warning for a warm-up of zero steps
            return optax.cosine_decay_schedule(cfg.lr, num_steps, alpha=cfg.final_lr_fraction)
        return optax.warmup_cosine_decay_schedule(0.0, cfg.lr, warmup, num_steps, end_value=end)
    if cfg.schedule is Schedule.exponential:
        return optax.warmup_exponential_decay_schedule(
            0.0 if warmup else cfg.lr,
            cfg.lr,
            warmup,
            transition_steps=max(num_steps - warmup, 1),
            decay_rate=cfg.final_lr_fraction,
            end_value=end,
        )
    raise ValueError(f"unknown schedule {cfg.schedule!r}")


def build_optimizer(cfg: OptimizerConfig, *, num_steps: int) -> optax.GradientTransformation:
    """``cfg.name`` at :func:`learning_rate`, after global-norm clipping if ``cfg.clip_norm``."""
    tx = _OPTIMIZERS[cfg.name](learning_rate(cfg, num_steps=num_steps))
    if cfg.clip_norm is not None:
        tx = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), tx)
    return tx
