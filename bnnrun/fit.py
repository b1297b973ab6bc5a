"""SVI fitting: one compiled program per model structure, run in chunks of steps.

The loop is compiled once per structure and chunk length (``lax.scan`` over ``SVI.update``),
so the host only wakes between chunks: to advance the progress bar, to check the ELBO for
NaN/inf, and to hand control back. Programs are cached per process: a sweep whose jobs differ
only in numbers (prior scales, hyperprior parameters, seeds) compiles each structure once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.svi import SVIState
from numpyro.optim import optax_to_numpyro
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class FitResult(NamedTuple):
    """What a fit returns.

    Attributes:
        params: the guide's parameters (constrained), keyed by NumPyro param name.
        elbo: ELBO estimate at each completed step, shape ``[num_steps]``.
        status: ``"ok"``, or ``"diverged"`` when the ELBO became NaN or infinite.
        diverged_at: the first step (1-based) with a non-finite ELBO, else None.
        num_steps: steps completed (up to and including a divergent one).
        compile_seconds: time spent compiling (zero when the program was cached).
        run_seconds: time spent executing steps.
        fit_seconds: wall time of the whole fit, initialisation and compilation included.
        init_seconds: time spent initialising the SVI state, compiling its program included.
    """

    params: dict[str, np.ndarray]
    elbo: np.ndarray
    status: str
    diverged_at: int | None
    num_steps: int
    compile_seconds: float
    run_seconds: float
    fit_seconds: float
    init_seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.num_steps / self.run_seconds if self.run_seconds > 0 else float("nan")


class SVIProgram:
    """NumPyro SVI for one model structure, with its compiled chunk runners.

    Args:
        model: NumPyro model called as ``model(x, y, hp)``.
        guide: autoguide over ``model``.
        optimizer: optax transformation.
        num_particles: Monte Carlo samples of the ELBO per step.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optimizer: optax.GradientTransformation,
        *,
        num_particles: int = 1,
    ) -> None:
        self.guide = guide
        self.svi = SVI(model, guide, optax_to_numpyro(optimizer), Trace_ELBO(num_particles))
        self._scan = jax.jit(self._scan_chunk, static_argnames="length", donate_argnums=0)
        # Eager svi.init compiles every primitive separately (~10 s for a small MLP on CPU);
        # compiled whole it takes about one second. The autoguide keeps traced values from its
        # set-up, but they are never computed with: SVI substitutes the parameters it fits.
        self._init = jax.jit(self.svi.init)
        self._compiled: dict[Hashable, Any] = {}

    def _scan_chunk(
        self, state: SVIState, x: jax.Array, y: jax.Array, hp: Any, *, length: int
    ) -> tuple[SVIState, jax.Array]:
        def step(s: SVIState, _: None) -> tuple[SVIState, jax.Array]:
            return self.svi.update(s, x, y, hp)

        return jax.lax.scan(step, state, None, length=length)

    def init(self, key: jax.Array, x: jax.Array, y: jax.Array, hp: Any) -> SVIState:
        return self._init(key, x, y, hp)

    def compiled_chunk(
        self, state: SVIState, x: jax.Array, y: jax.Array, hp: Any, *, length: int
    ) -> tuple[Callable[..., tuple[SVIState, jax.Array]], float]:
        """The compiled runner for ``length`` steps on these argument shapes, and the seconds
        spent compiling it now (0.0 if it was compiled before)."""
        sig = (
            length,
            *(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in jax.tree.leaves((state, x, y, hp))),
        )
        if sig in self._compiled:
            return self._compiled[sig], 0.0
        t0 = time.perf_counter()
        compiled = self._scan.lower(state, x, y, hp, length=length).compile()
        self._compiled[sig] = compiled
        return compiled, time.perf_counter() - t0

    def params(self, state: SVIState) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.svi.get_params(state).items()}


_PROGRAMS: dict[Hashable, SVIProgram] = {}


def cached_program(key: Hashable, build: Callable[[], SVIProgram]) -> SVIProgram:
    """The program cached under ``key``, built on first use.

    ``key`` must capture everything that changes the compiled program (model structure, guide,
    optimizer, particles); numbers passed as ``hp`` do not belong in it.
    """
    if key not in _PROGRAMS:
        _PROGRAMS[key] = build()
    return _PROGRAMS[key]


def fit_svi(
    program: SVIProgram,
    x: jax.Array,
    y: jax.Array,
    hp: Any,
    *,
    key: jax.Array,
    num_steps: int,
    chunk_size: int,
    progress: bool = False,
) -> FitResult:
    """Run ``num_steps`` of SVI in compiled chunks of ``chunk_size`` steps.

    Stops early, with status ``"diverged"``, at the first chunk whose ELBO is not finite.
    """
    t_start = time.perf_counter()
    x, y = jnp.asarray(x), jnp.asarray(y)
    state = program.init(key, x, y, hp)
    init_s = time.perf_counter() - t_start
    losses: list[np.ndarray] = []
    compile_s = run_s = 0.0
    done = 0
    diverged_at: int | None = None
    bar = tqdm(total=num_steps, disable=not progress, unit="step", desc="svi", leave=False)
    try:
        while done < num_steps:
            length = min(chunk_size, num_steps - done)
            runner, c = program.compiled_chunk(state, x, y, hp, length=length)
            compile_s += c
            t0 = time.perf_counter()
            new_state, chunk_loss = runner(state, x, y, hp)
            chunk_loss = np.asarray(chunk_loss)  # waits for the chunk
            run_s += time.perf_counter() - t0
            bad = ~np.isfinite(chunk_loss)
            if bad.any():
                first = int(np.argmax(bad))
                losses.append(chunk_loss[: first + 1])
                diverged_at = done + first + 1
                done = diverged_at
                break
            state = new_state
            losses.append(chunk_loss)
            done += length
            bar.update(length)
            bar.set_postfix(elbo=f"{-chunk_loss[-1]:.4g}", refresh=False)
    finally:
        bar.close()
    if diverged_at is not None:
        log.warning("ELBO is not finite at step %d: stopping the fit", diverged_at)
    elbo = -np.concatenate(losses) if losses else np.zeros(0)
    return FitResult(
        params={} if diverged_at is not None else program.params(state),
        elbo=elbo,
        status="ok" if diverged_at is None else "diverged",
        diverged_at=diverged_at,
        num_steps=done,
        compile_seconds=compile_s,
        run_seconds=run_s,
        fit_seconds=time.perf_counter() - t_start,
        init_seconds=init_s,
    )
