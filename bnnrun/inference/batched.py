"""Many SVI fits as one compiled program.

Fits that share a model structure, guide, optimizer, data and step plan, and differ only in
their numbers (the model's ``hp``: prior and hyperprior parameters, KL weight, temperature)
and their PRNG keys, run together: the SVI state, ``hp`` and each fit's minibatches gain a
leading axis of *members*, and one program steps them all (``vmap`` inside the compiled
chunk). A small network leaves most of an accelerator idle, so members come almost free
there; on a CPU they share its cores (``bench/batched_speed.py`` measures both).

Each member is initialised on its own (:meth:`SVIProgram.init`, the program a single fit
compiles), so its starting point is the single fit's exactly; the steps then agree with the
single fit's to float rounding (a batched matrix product may sum in another order). A member
whose ELBO turns non-finite is marked diverged at that step, as a single fit is; the others
go on unaffected, since members never mix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.svi import SVIState
from tqdm.auto import tqdm

from bnnrun.errors import ModelError
from bnnrun.inference.program import (
    FitResult,
    SVIProgram,
    epoch_batches,
    full_batch_chunks,
    steps_per_epoch,
)

log = logging.getLogger(__name__)

#: One chunk of steps for all members: its length, and a function that runs it from the
#: stacked state, returning the new state, the ``[members, length]`` losses and the seconds it
#: spent compiling.
Chunk = tuple[int, Callable[[SVIState], tuple[SVIState, jax.Array, float]]]
#: A member's outcome: its fit, or the error that stopped its initialisation (e.g. a
#: non-finite log density at the initial values); such a member took no steps.
Member = FitResult | ModelError


def stack(trees: Sequence[Any]) -> Any:
    """Pytrees of one structure stacked along a new leading axis (the members)."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def member(tree: Any, i: int) -> Any:
    """Member ``i`` of a stacked pytree."""
    return jax.tree.map(lambda leaf: leaf[i], tree)


def _init_members(
    program: SVIProgram,
    keys: Sequence[jax.Array],
    x: jax.Array,
    y: jax.Array,
    hps: Sequence[Any],
    init_params: Sequence[dict[str, jax.Array] | None],
) -> tuple[SVIState | None, list[ModelError | None]]:
    """Each member's initial state, as a single fit would start it, stacked; and per member
    the error that stopped its initialisation (its slot then holds another member's state,
    never used). The stacked state is None when no member could start."""
    states: list[SVIState | None] = []
    errors: list[ModelError | None] = []
    for key, hp, params in zip(keys, hps, init_params, strict=True):
        try:
            states.append(program.init(key, x, y, hp, init_params=params))
            errors.append(None)
        except ModelError as exc:
            states.append(None)
            errors.append(exc)
    started = [s for s in states if s is not None]
    if not started:
        return None, errors
    return stack([started[0] if s is None else s for s in states]), errors


def _drive(
    program: SVIProgram,
    states: SVIState,
    chunks: Iterator[Chunk],
    *,
    errors: Sequence[ModelError | None],
    num_steps: int,
    progress: bool,
    t_start: float,
    losses: list[list[np.ndarray]],
    desc: str = "svi",
) -> list[Member]:
    """Run ``chunks`` for every member; a member's trace ends at its first non-finite ELBO.

    ``losses`` (one list of chunk losses per member) is shared with the caller so that a
    chunk generator can read the traces so far. Stops early once every member diverged. The
    progress bar is named ``desc`` (the phase) and the number of members, e.g. ``svi x4``.
    """
    init_s = time.perf_counter() - t_start
    size = len(errors)
    live = [e is None for e in errors]
    diverged_at: list[int | None] = [None] * size
    done = 0
    compile_s = run_s = 0.0
    bar = tqdm(
        total=num_steps, disable=not progress, unit="step", desc=f"{desc} x{size}", leave=False
    )
    try:
        for length, run in chunks:
            t0 = time.perf_counter()
            states, chunk_loss, c = run(states)
            chunk_loss = np.asarray(chunk_loss)  # waits for the chunk
            compile_s += c
            run_s += time.perf_counter() - t0 - c
            for i in range(size):
                if not live[i]:
                    continue
                bad = ~np.isfinite(chunk_loss[i])
                if bad.any():
                    first = int(np.argmax(bad))
                    losses[i].append(chunk_loss[i, : first + 1])
                    diverged_at[i] = done + first + 1
                    live[i] = False
                    log.warning("member %d: ELBO is not finite at step %d", i, diverged_at[i])
                else:
                    losses[i].append(chunk_loss[i])
            done += length
            bar.update(length)
            if not any(live):
                break
    finally:
        bar.close()
    fit_s = time.perf_counter() - t_start
    out: list[Member] = []
    for i in range(size):
        error = errors[i]
        if error is not None:
            out.append(error)
            continue
        trace = -np.concatenate(losses[i]) if losses[i] else np.zeros(0)
        ok = diverged_at[i] is None
        out.append(
            FitResult(
                params=program.params(member(states, i)) if ok else {},
                elbo=trace,
                status="ok" if ok else "diverged",
                diverged_at=diverged_at[i],
                num_steps=len(trace),
                compile_seconds=compile_s,
                run_seconds=run_s,
                fit_seconds=fit_s,
                init_seconds=init_s,
            )
        )
    return out


def fit_svi_members(
    program: SVIProgram,
    x: jax.Array,
    y: jax.Array,
    hps: Sequence[Any],
    *,
    keys: Sequence[jax.Array],
    num_steps: int,
    chunk_size: int,
    progress: bool = False,
    desc: str = "svi",
) -> list[Member]:
    """:func:`~bnnrun.inference.program.fit_svi` for each ``(hp, key)`` pair, as one program.

    Args:
        hps: each member's ``hp``, all of one pytree structure and shapes.
        keys: each member's PRNG key (what its single fit would get).

    Returns:
        Per member, what its single fit would return (timings are the whole batch's), or the
        :class:`~bnnrun.errors.ModelError` that stopped its initialisation.
    """
    t_start = time.perf_counter()
    x, y = jax.device_put(x), jax.device_put(y)
    states, errors = _init_members(program, keys, x, y, hps, [None] * len(hps))
    if states is None:
        return list(errors)  # type: ignore[arg-type]
    hp = stack(hps)

    chunks = full_batch_chunks(
        program, x, y, hp, start=0, num_steps=num_steps, chunk_size=chunk_size, members=True
    )
    return _drive(
        program,
        states,
        chunks,
        errors=errors,
        num_steps=num_steps,
        progress=progress,
        t_start=t_start,
        losses=[[] for _ in hps],
        desc=desc,
    )


def fit_svi_epochs_members(
    program: SVIProgram,
    x: np.ndarray,
    y: np.ndarray,
    hps: Sequence[Any],
    *,
    keys: Sequence[jax.Array],
    num_epochs: int,
    batch_size: int | None,
    loop: str,
    chunk_size: int,
    init_params: Sequence[dict[str, jax.Array] | None] | None = None,
    progress: bool = False,
    desc: str = "svi",
) -> list[Member]:
    """:func:`~bnnrun.inference.program.fit_svi_epochs` for each ``(hp, key)`` pair, as one
    program: each member shuffles the data by its own key, as its single fit would."""
    if loop not in ("scan", "step"):
        raise ValueError(f"loop must be 'scan' or 'step' (resolve 'auto' first), not {loop!r}")
    t_start = time.perf_counter()
    n = len(y)
    batch = n if batch_size is None else min(batch_size, n)
    per_epoch = steps_per_epoch(n, batch)
    split = [jax.random.split(k) for k in keys]
    states, errors = _init_members(
        program,
        [k[0] for k in split],
        x[:batch],
        y[:batch],
        hps,
        [None] * len(hps) if init_params is None else init_params,
    )
    if states is None:
        return list(errors)  # type: ignore[arg-type]
    x, y = jax.device_put(x), jax.device_put(y)
    hp = stack(hps)
    losses: list[list[np.ndarray]] = [[] for _ in hps]

    def run_rows(rows: np.ndarray) -> Callable[[SVIState], tuple[SVIState, jax.Array, float]]:
        # rows: [members, L, batch]
        def run(s: SVIState) -> tuple[SVIState, jax.Array, float]:
            probe = rows if loop == "scan" else rows[:, 0]
            runner, c = program.compiled_batches(s, x, y, probe, hp, loop=loop, members=True)
            if loop == "scan":
                return (*runner(s, x, y, rows, hp), c)
            step_losses = []
            for j in range(rows.shape[1]):
                s, loss = runner(s, x, y, rows[:, j], hp)
                step_losses.append(loss)
            return s, jnp.stack(step_losses, axis=1), c

        return run

    def chunks() -> Iterator[Chunk]:
        for epoch in range(num_epochs):
            idx = np.stack(
                [epoch_batches(k[1], num_data=n, batch_size=batch, epoch=epoch) for k in split]
            )
            for start in range(0, per_epoch, chunk_size):
                rows = idx[:, start : start + chunk_size]
                yield rows.shape[1], run_rows(rows)
            log.info(
                "epoch %d/%d (%d fits): %.1f s",
                epoch + 1,
                num_epochs,
                len(hps),
                time.perf_counter() - t_start,
            )

    return _drive(
        program,
        states,
        chunks(),
        errors=errors,
        num_steps=num_epochs * per_epoch,
        progress=progress,
        t_start=t_start,
        losses=losses,
        desc=desc,
    )
