"""SVI fitting: one compiled program per model structure, run in chunks of steps.

The loop is compiled once per structure and chunk length (``lax.scan`` over ``SVI.update``),
so the host only wakes between chunks: to advance the progress bar, to check the ELBO for
NaN/inf, and to hand control back. Programs are cached per process: a sweep whose jobs differ
only in numbers (prior scales, hyperprior parameters, seeds) compiles each structure once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
        compile_seconds: time spent waiting for the step chunks to compile, beyond what
            overlapped initialisation (zero when they were compiled before).
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
        self._states: dict[Hashable, Any] = {}  # abstract initial state per argument signature

    def _scan_chunk(
        self, state: SVIState, x: jax.Array, y: jax.Array, hp: Any, *, length: int
    ) -> tuple[SVIState, jax.Array]:
        def step(s: SVIState, _: None) -> tuple[SVIState, jax.Array]:
            return self.svi.update(s, x, y, hp)

        return jax.lax.scan(step, state, None, length=length)

    def init(self, key: jax.Array, x: jax.Array, y: jax.Array, hp: Any) -> SVIState:
        return self._init(key, x, y, hp)

    def prepare(
        self, key: jax.Array, x: jax.Array, y: jax.Array, hp: Any, *, chunks: Sequence[int]
    ) -> None:
        """Start compiling the runners for ``chunks`` (lengths in steps) on these argument
        shapes, on a background thread.

        An XLA compile of the step takes seconds on CPU; on the background thread it overlaps
        initialisation, or earlier jobs of a sweep, on another core. Tracing stays on this
        thread, because NumPyro's effect handlers live in one global stack.
        """
        sig = tuple(jax.tree.leaves(jax.tree.map(_abstract, (key, x, y, hp))))
        if sig in self._states:
            return
        # The autoguide sets itself up afresh under eval_shape; the chunks trace with that
        # set-up (its values are never computed with), and initialisation makes its own.
        self.guide.prototype_trace = None
        self._states[sig] = state = jax.eval_shape(self.svi.init, key, x, y, hp)
        for length in chunks:
            self._start_compiling(state, x, y, hp, length=length)
        self.guide.prototype_trace = None

    def _start_compiling(
        self, state: Any, x: jax.Array, y: jax.Array, hp: Any, *, length: int
    ) -> Future[Any]:
        args = jax.tree.map(_abstract, (state, x, y, hp))
        sig = (length, *jax.tree.leaves(args))
        if sig not in self._compiled:
            lowered = self._scan.lower(*args, length=length)
            self._compiled[sig] = _COMPILER.submit(lowered.compile)
        return self._compiled[sig]

    def compiled_chunk(
        self, state: SVIState, x: jax.Array, y: jax.Array, hp: Any, *, length: int
    ) -> tuple[Callable[..., tuple[SVIState, jax.Array]], float]:
        """The compiled runner for ``length`` steps on these argument shapes, and the seconds
        spent waiting for its compilation now (0.0 if it was ready)."""
        future = self._start_compiling(state, x, y, hp, length=length)
        if future.done():
            return future.result(), 0.0
        t0 = time.perf_counter()
        compiled = future.result()
        return compiled, time.perf_counter() - t0

    def params(self, state: SVIState) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.svi.get_params(state).items()}


def _abstract(a: Any) -> jax.ShapeDtypeStruct:
    """What a compiled program is specific to: shape, dtype and weak type."""
    return jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=getattr(a, "weak_type", False))


#: Compiles programs while the main thread works (one thread: the main thread needs a core).
_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bnnrun-compile")

_PROGRAMS: dict[Hashable, SVIProgram] = {}


def cached_program(key: Hashable, build: Callable[[], SVIProgram]) -> SVIProgram:
    """The program cached under ``key``, built on first use.

    ``key`` must capture everything that changes the compiled program (model structure, guide,
    optimizer, particles); numbers passed as ``hp`` do not belong in it.
    """
    if key not in _PROGRAMS:
        _PROGRAMS[key] = build()
    return _PROGRAMS[key]


def chunk_lengths(num_steps: int, chunk_size: int) -> list[int]:
    """The lengths of the compiled chunks that :func:`fit_svi` runs ``num_steps`` in."""
    return sorted({min(chunk_size, num_steps), num_steps % chunk_size} - {0}, reverse=True)


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
    program.prepare(key, x, y, hp, chunks=chunk_lengths(num_steps, chunk_size))
    state = program.init(key, x, y, hp)
    jax.block_until_ready(state)
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
