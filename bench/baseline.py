"""What the SVI speed benchmarks time: a run's own compiled SVI, and a deterministic network of
the same shape trained by optax in the same way (one ``lax.scan`` per chunk of steps, Adam at
the run's learning rate), the baseline measured in the same process.

Imported by ``bench/svi_speed.py`` and ``bench/uci_speed.py`` (run as scripts, so ``bench/`` is
on the path).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import optax

from bnnrun.inference.program import SVIProgram, fit_svi


def deterministic_rate(
    net: Any,
    loss_fn: Callable[[Any], jax.Array],
    *,
    lr: float,
    chunk: int,
    steps: int,
) -> Callable[[], float]:
    """A function that trains ``net`` (its parameters by ``loss_fn(params)``) for ``steps``
    steps in chunks of ``chunk`` and returns its steps per second; compiled before it is
    returned, so a call times steps only."""
    tx = optax.adam(lr)

    def det_step(carry: Any, _: None) -> tuple[Any, jax.Array]:
        params, opt = carry
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

    det_chunk = jax.jit(lambda c: jax.lax.scan(det_step, c, None, length=chunk))
    params0 = net.init(jax.random.PRNGKey(0))
    det_state = (params0, tx.init(params0))
    jax.block_until_ready(det_chunk(det_state))

    def run() -> float:
        state = det_state
        t0 = time.perf_counter()
        for _ in range(steps // chunk):
            state, losses = det_chunk(state)
        jax.block_until_ready(losses)
        return steps / (time.perf_counter() - t0)

    return run


def svi_rate(
    program: SVIProgram, x: jax.Array, y: jax.Array, hp: Any, *, chunk: int, steps: int
) -> Callable[[], float]:
    """A function that fits ``program`` for ``steps`` steps as a run does (``fit_svi``) and
    returns its steps per second (compilation excluded)."""

    def run() -> float:
        fit = fit_svi(
            program, x, y, hp, key=jax.random.PRNGKey(0), num_steps=steps, chunk_size=chunk
        )
        assert fit.status == "ok", fit.status
        return fit.steps_per_second

    return run
