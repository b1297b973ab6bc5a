"""SVI fitting: one compiled program per model structure, run in chunks of steps.

The loop is compiled once per structure and chunk length (``lax.scan`` over ``SVI.update``),
so the host only wakes between chunks: to advance the progress bar, to check the ELBO for
NaN/inf, to write a checkpoint, and to hand control back. Programs are cached per process: a
sweep whose jobs differ only in numbers (prior scales, hyperprior parameters, seeds) compiles
each structure once.

A fit can start from a checkpoint taken at a chunk boundary
(:mod:`bnnrun.inference.checkpoint`): the chunks after it are the same compiled programs on
the same state, so the resumed fit ends bit-identical to an uninterrupted one.

Epoch-based minibatch SVI (:func:`fit_svi_epochs`) shuffles the training set every epoch and
passes each minibatch's indices into the compiled step. It has two loop strategies: ``scan``
(a chunk of minibatches in one ``lax.scan``) and ``step`` (one jitted ``SVI.update`` per
minibatch, called from Python, the losses fetched once per chunk). XLA's CPU backend runs
convolutions an order of magnitude slower inside a loop, so CNNs on CPU take ``step``; small
MLPs take ``scan``, where per-call overhead would dominate (see :func:`resolve_loop` and
``bench/cnn_speed.py``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoContinuous
from numpyro.infer.elbo import ELBO
from numpyro.infer.svi import SVIState
from numpyro.optim import optax_to_numpyro
from tqdm.auto import tqdm

from bnnrun.errors import ModelError
from bnnrun.inference.checkpoint import Checkpoint

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
        start_step: the step a resumed fit started from (0 for a fresh fit); the ELBO trace
            and ``num_steps`` include the steps before it, the timings do not.
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
    start_step: int = 0
    init_seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        steps = self.num_steps - self.start_step
        return steps / self.run_seconds if self.run_seconds > 0 else float("nan")


class SVIProgram:
    """NumPyro SVI for one model structure, with its compiled chunk runners.

    Args:
        model: NumPyro model called as ``model(x, y, hp)``.
        guide: autoguide over ``model``.
        optimizer: optax transformation.
        loss: the ELBO estimator; default ``Trace_ELBO()``.
        loss_guide: the guide as it enters the loss (e.g. KL-weighted); default ``guide``.
        hp_at_step: ``hp_at_step(hp, step)`` gives the model's numbers at the 0-based optimizer
            step (e.g. a KL-weight warm-up); default: ``hp`` at every step.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optimizer: optax.GradientTransformation,
        *,
        loss: ELBO | None = None,
        loss_guide: Callable[..., Any] | None = None,
        hp_at_step: Callable[[Any, jax.Array], Any] | None = None,
    ) -> None:
        self.model = model
        self.guide = guide
        self.svi = SVI(
            model,
            guide if loss_guide is None else loss_guide,
            optax_to_numpyro(optimizer),
            Trace_ELBO() if loss is None else loss,
        )
        self._hp_at_step = hp_at_step
        self._scan = jax.jit(self._scan_chunk, static_argnames="length", donate_argnums=0)
        # Many fits as one program: the state, the numbers and the minibatches of each member
        # along a leading axis, the data shared (:mod:`bnnrun.inference.batched`).
        self._scan_vmapped = jax.jit(self._scan_members, static_argnames="length", donate_argnums=0)
        self._init = jax.jit(self._init_state)
        self._compiled: dict[Hashable, Any] = {}
        self._batch_runners: dict[tuple[str, bool], Any] = {}

    def _scan_chunk(
        self, state: SVIState, x: jax.Array, y: jax.Array, hp: Any, *, length: int
    ) -> tuple[SVIState, jax.Array]:
        def step(s: SVIState, _: None) -> tuple[SVIState, jax.Array]:
            return self.svi.update(s, x, y, self._hp_now(s, hp))

        return jax.lax.scan(step, state, None, length=length)

    def _scan_members(
        self, states: SVIState, x: jax.Array, y: jax.Array, hps: Any, *, length: int
    ) -> tuple[SVIState, jax.Array]:
        chunk = functools.partial(self._scan_chunk, length=length)
        return jax.vmap(chunk, in_axes=(0, None, None, 0))(states, x, y, hps)

    def init(
        self,
        key: jax.Array,
        x: jax.Array,
        y: jax.Array,
        hp: Any,
        *,
        init_params: dict[str, jax.Array] | None = None,
    ) -> SVIState:
        """A fresh SVI state; ``init_params`` overrides the guide's initial parameters (e.g.
        ``{"layer1.w_auto_loc": ...}``, unconstrained as the guide stores them).

        The guide is set up again from ``key``, so each run's seed decides its initial values,
        whatever ran before in this process.

        Raises:
            ModelError: the model's log density or its gradient is not finite at the initial
                values (NumPyro tries 100 draws of them).
        """
        if isinstance(self.guide, AutoContinuous):
            return self._init_eagerly(key, x, y, hp, init_params=init_params)
        state, valid = self._init(key, x, y, hp, init_params)
        if not bool(valid):
            raise ModelError(_NOT_FINITE)
        if init_params is not None:
            # Outputs may be the given arrays themselves, and the compiled chunks donate the
            # state's buffers: the caller's arrays must survive the fit.
            state = jax.tree.map(jnp.copy, state)
        return state

    def _init_eagerly(
        self,
        key: jax.Array,
        x: jax.Array,
        y: jax.Array,
        hp: Any,
        *,
        init_params: dict[str, jax.Array] | None,
    ) -> SVIState:
        """:meth:`init` op by op, for the guides over one flat latent vector (``lowrank``,
        ``mvn``): traced, NumPyro's set-up would order that vector's sites by name instead of
        as the model samples them, and the fit would differ from an eager one."""
        self.guide.prototype_trace = None
        try:
            state = self.svi.init(key, x, y, hp, init_params=init_params)
        except RuntimeError as exc:
            if "Cannot find valid initial parameters" not in str(exc):
                raise
            raise ModelError(_NOT_FINITE) from None
        # The guide keeps references to these arrays, and the compiled chunks donate the
        # state's buffers.
        return jax.tree.map(jnp.copy, state)

    def _init_state(
        self,
        key: jax.Array,
        x: jax.Array,
        y: jax.Array,
        hp: Any,
        init_params: dict[str, jax.Array] | None,
    ) -> tuple[SVIState, jax.Array]:
        """The initial state, and whether the model's log density and its gradient are finite
        there (what NumPyro checks eagerly, and cannot check under ``jit``).

        Traced once per argument structure: eagerly, NumPyro's set-up of the autoguide ran
        ~350 small programs, each lowered and fetched from the compilation cache, ~2 s per
        process (``bench/fixed_cost.py``); compiled whole, it is one cached program. The guide
        is set up inside this trace and keeps its tracers; later traces (the SVI steps, the
        posterior draws) use only their shapes and supports, never their values.
        """
        self.guide.prototype_trace = None
        state = self.svi.init(key, x, y, hp, init_params=init_params)
        # As NumPyro's check: the potential at the guide's initial values, a subsampling
        # plate's indices those of the model's prototype trace.
        guide = self.guide
        plates = {k: s["value"] for k, s in guide.prototype_trace.items() if s["type"] == "plate"}
        with handlers.substitute(data=plates):
            pe, grad = jax.value_and_grad(guide._potential_fn)(guide._init_locs)
        finite = [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grad)]
        return state, functools.reduce(jnp.logical_and, finite, jnp.isfinite(pe))

    def _hp_now(self, state: SVIState, hp: Any) -> Any:
        """The model's numbers at the state's optimizer step (e.g. during a KL warm-up)."""
        return hp if self._hp_at_step is None else self._hp_at_step(hp, state.optim_state[0])

    def _update_batch(
        self, state: SVIState, x: jax.Array, y: jax.Array, idx: jax.Array, hp: Any
    ) -> tuple[SVIState, jax.Array]:
        return self.svi.update(state, x[idx], y[idx], self._hp_now(state, hp))

    def _scan_batches(
        self, state: SVIState, x: jax.Array, y: jax.Array, idx: jax.Array, hp: Any
    ) -> tuple[SVIState, jax.Array]:
        def step(s: SVIState, i: jax.Array) -> tuple[SVIState, jax.Array]:
            return self._update_batch(s, x, y, i, hp)

        return jax.lax.scan(step, state, idx)

    def compiled_batches(
        self,
        state: SVIState,
        x: jax.Array,
        y: jax.Array,
        idx: np.ndarray,
        hp: Any,
        *,
        loop: str,
        members: bool = False,
    ) -> tuple[Callable[..., tuple[SVIState, jax.Array]], float]:
        """The compiled minibatch runner and the seconds spent compiling it now (0.0 if cached).

        With ``loop="step"`` it runs one step on the minibatch ``x[idx], y[idx]`` (``idx`` of
        shape ``[B]``); with ``loop="scan"`` one step per row of ``idx`` (``[L, B]``), returning
        the ``[L]`` losses. With ``members``, ``state``, ``idx`` and ``hp`` carry a leading axis
        of fits, each its own minibatches, and so do the losses.
        """
        if (loop, members) not in self._batch_runners:
            fn = self._update_batch if loop == "step" else self._scan_batches
            if members:
                fn = jax.vmap(fn, in_axes=(0, None, None, 0, 0))
            self._batch_runners[loop, members] = jax.jit(fn, donate_argnums=0)
        sig = (
            loop,
            members,
            *(
                jax.ShapeDtypeStruct(np.shape(a), a.dtype)
                for a in jax.tree.leaves((state, x, y, idx, hp))
            ),
        )
        if sig in self._compiled:
            return self._compiled[sig], 0.0
        t0 = time.perf_counter()
        compiled = self._batch_runners[loop, members].lower(state, x, y, idx, hp).compile()
        self._compiled[sig] = compiled
        return compiled, time.perf_counter() - t0

    def compiled_chunk(
        self,
        state: SVIState,
        x: jax.Array,
        y: jax.Array,
        hp: Any,
        *,
        length: int,
        members: bool = False,
    ) -> tuple[Callable[..., tuple[SVIState, jax.Array]], float]:
        """The compiled runner for ``length`` steps on these argument shapes, and the seconds
        spent compiling it now (0.0 if it was compiled before). With ``members``, ``state`` and
        ``hp`` carry a leading axis of fits, and the losses are ``[members, length]``."""
        sig = (
            length,
            members,
            *(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in jax.tree.leaves((state, x, y, hp))),
        )
        if sig in self._compiled:
            return self._compiled[sig], 0.0
        t0 = time.perf_counter()
        scan = self._scan_vmapped if members else self._scan
        compiled = scan.lower(state, x, y, hp, length=length).compile()
        self._compiled[sig] = compiled
        return compiled, time.perf_counter() - t0

    def params(self, state: SVIState) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.svi.get_params(state).items()}


_NOT_FINITE = (
    "the model's log density is not finite at its initial values: a prior or hyperprior "
    "parameter is probably extreme (e.g. a scale near 0)"
)

_PROGRAMS: dict[Hashable, SVIProgram] = {}


def cached_program(key: Hashable, build: Callable[[], SVIProgram]) -> SVIProgram:
    """The program cached under ``key``, built on first use.

    ``key`` must capture everything that changes the compiled program (model structure, guide,
    optimizer, particles); numbers passed as ``hp`` do not belong in it.
    """
    if key not in _PROGRAMS:
        _PROGRAMS[key] = build()
    return _PROGRAMS[key]


#: One chunk of steps: its length, and a function that runs it from a state, returning the new
#: state, the chunk's per-step losses and the seconds it spent compiling.
Chunk = tuple[int, Callable[[SVIState], tuple[SVIState, jax.Array, float]]]
OnChunk = Callable[[SVIState, int, list[np.ndarray]], None]


def _drive(
    program: SVIProgram,
    state: SVIState,
    chunks: Iterable[Chunk],
    *,
    num_steps: int,
    resume: Checkpoint | None,
    progress: bool,
    on_chunk: OnChunk | None,
    t_start: float,
    losses: list[np.ndarray],
    desc: str = "svi",
) -> FitResult:
    """Run ``chunks`` in order, checking each chunk's ELBO and reporting between chunks.

    ``chunks`` must start at the resumed step (or 0); ``losses`` is shared with the caller so
    that a chunk generator can read the trace so far. ``desc`` names the fit's phase on its
    progress bar.
    """
    init_s = time.perf_counter() - t_start  # callers start the clock, then set up the state
    done = 0 if resume is None else resume.step
    start = done
    compile_s = run_s = 0.0
    diverged_at: int | None = None
    bar = tqdm(
        total=num_steps, initial=done, disable=not progress, unit="step", desc=desc, leave=False
    )
    try:
        for length, run in chunks:
            t0 = time.perf_counter()
            new_state, chunk_loss, c = run(state)
            chunk_loss = np.asarray(chunk_loss)  # waits for the chunk
            compile_s += c
            run_s += time.perf_counter() - t0 - c
            bad = ~np.isfinite(chunk_loss)
            if bad.any():
                first = int(np.argmax(bad))
                losses.append(chunk_loss[: first + 1])
                diverged_at = done = done + first + 1
                break
            state = new_state
            losses.append(chunk_loss)
            done += length
            if on_chunk is not None:
                on_chunk(state, done, losses)
            bar.update(length)
            bar.set_postfix(elbo=f"{-chunk_loss[-1]:.4g}", refresh=False)
    finally:
        bar.close()
    if diverged_at is not None:
        log.warning("ELBO is not finite at step %d: stopping the fit", diverged_at)
    return FitResult(
        params={} if diverged_at is not None else program.params(state),
        elbo=-np.concatenate(losses) if losses else np.zeros(0),
        status="ok" if diverged_at is None else "diverged",
        diverged_at=diverged_at,
        num_steps=done,
        compile_seconds=compile_s,
        run_seconds=run_s,
        fit_seconds=time.perf_counter() - t_start,
        start_step=start,
        init_seconds=init_s,
    )


def _start(
    program: SVIProgram,
    key: jax.Array,
    x: jax.Array,
    y: jax.Array,
    hp: Any,
    *,
    init_params: dict[str, jax.Array] | None,
    resume: Checkpoint | None,
) -> tuple[SVIState, list[np.ndarray]]:
    """The initial state and loss trace: fresh, or the checkpoint's."""
    state = program.init(key, x, y, hp, init_params=init_params)
    if resume is None:
        return state, []
    return resume.restore(state), [resume.losses]


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
    resume: Checkpoint | None = None,
    on_chunk: OnChunk | None = None,
    desc: str = "svi",
) -> FitResult:
    """Run ``num_steps`` of SVI on all of ``x``, ``y`` in compiled chunks of ``chunk_size``
    steps (``lax.scan``).

    Stops early, with status ``"diverged"``, at the first chunk whose ELBO is not finite.

    Args:
        resume: continue from this checkpoint (taken at a chunk boundary of a fit with the
            same program, data, ``num_steps`` and ``chunk_size``) instead of from step 0.
        on_chunk: called after every finite chunk as ``on_chunk(state, steps_done, losses)``,
            ``losses`` being the per-step losses (negative ELBO) so far, chunk by chunk.
        desc: the progress bar's name (the fit's phase: ``"svi"``, ``"warm start"``).
    """
    t_start = time.perf_counter()
    x, y = jax.device_put(x), jax.device_put(y)  # jnp.asarray compiles a copy per shape
    state, losses = _start(program, key, x, y, hp, init_params=None, resume=resume)

    return _drive(
        program,
        state,
        full_batch_chunks(
            program,
            x,
            y,
            hp,
            start=0 if resume is None else resume.step,
            num_steps=num_steps,
            chunk_size=chunk_size,
        ),
        num_steps=num_steps,
        resume=resume,
        progress=progress,
        on_chunk=on_chunk,
        t_start=t_start,
        losses=losses,
        desc=desc,
    )


def full_batch_chunks(
    program: SVIProgram,
    x: jax.Array,
    y: jax.Array,
    hp: Any,
    *,
    start: int,
    num_steps: int,
    chunk_size: int,
    members: bool = False,
) -> Iterator[Chunk]:
    """The chunks of a full-batch fit from step ``start`` to ``num_steps``, each at most
    ``chunk_size`` steps of the compiled scan (``members``: of many fits at once)."""
    for done in range(start, num_steps, chunk_size):
        length = min(chunk_size, num_steps - done)

        def run(s: SVIState, length: int = length) -> tuple[SVIState, jax.Array, float]:
            runner, c = program.compiled_chunk(s, x, y, hp, length=length, members=members)
            return (*runner(s, x, y, hp), c)

        yield length, run


def steps_per_epoch(num_data: int, batch_size: int | None) -> int:
    """Minibatches per epoch: ``num_data // batch_size``, the remainder dropped so every step
    has the same shape (a different remainder each epoch, as the data is reshuffled)."""
    if batch_size is None or batch_size >= num_data:
        return 1
    return num_data // batch_size


def epoch_batches(key: jax.Array, *, num_data: int, batch_size: int, epoch: int) -> np.ndarray:
    """The minibatch indices of one epoch, ``[steps_per_epoch, batch_size]`` int32: a
    permutation of the data drawn by NumPy from the key's bits and the epoch number."""
    batch_size = min(batch_size, num_data)
    seed = [*np.asarray(jax.random.key_data(key)).ravel().tolist(), epoch]
    perm = np.random.default_rng(seed).permutation(num_data)
    steps = steps_per_epoch(num_data, batch_size)
    return perm[: steps * batch_size].reshape(steps, batch_size).astype(np.int32)


def resolve_loop(loop: str, *, has_convolutions: bool, backend: str) -> str:
    """``scan`` or ``step`` for the configured ``loop`` (``auto``, ``scan`` or ``step``).

    ``auto`` takes ``step`` for convolutional networks on CPU, where XLA runs a convolution
    inside ``lax.scan`` 10-40x slower than in a jitted step (``bench/cnn_speed.py``), and
    ``scan`` otherwise: small MLPs spend most of a per-step call in dispatch overhead.
    """
    if loop != "auto":
        return loop
    return "step" if has_convolutions and backend == "cpu" else "scan"


def fit_svi_epochs(
    program: SVIProgram,
    x: np.ndarray,
    y: np.ndarray,
    hp: Any,
    *,
    key: jax.Array,
    num_epochs: int,
    batch_size: int | None,
    loop: str,
    chunk_size: int,
    init_params: dict[str, jax.Array] | None = None,
    progress: bool = False,
    resume: Checkpoint | None = None,
    on_chunk: OnChunk | None = None,
    desc: str = "svi",
) -> FitResult:
    """Minibatch SVI for ``num_epochs`` epochs over ``x``, ``y`` (``[N, ...]``, ``[N]``).

    Each epoch visits a fresh permutation of the data in batches of ``batch_size`` (null: the
    full data each step); the program's model must take given batches (``BNN.given_batches``)
    so that the likelihood is scaled to N. Steps run ``loop="scan"`` (compiled chunks) or
    ``loop="step"`` (one jitted step per batch); the host checks the ELBO for NaN/inf and
    advances the progress bar once per chunk of at most ``chunk_size`` steps, never across an
    epoch's end. Stops early, with status ``"diverged"``, in the first chunk with a non-finite
    ELBO. ``resume`` and ``on_chunk`` work as in :func:`fit_svi`: chunk boundaries sit at the
    same steps in every fit with the same epochs, batch and chunk size; ``desc`` names the
    progress bar (the fit's phase: ``"svi"``, ``"warm start"``).
    """
    if loop not in ("scan", "step"):
        raise ValueError(f"loop must be 'scan' or 'step' (resolve 'auto' first), not {loop!r}")
    t_start = time.perf_counter()
    n = len(y)
    batch = n if batch_size is None else min(batch_size, n)
    per_epoch = steps_per_epoch(n, batch)
    key_init, key_shuffle = jax.random.split(key)
    # Any batch of the right shape sets up the guide; the first rows need no shuffle.
    state, losses = _start(
        program, key_init, x[:batch], y[:batch], hp, init_params=init_params, resume=resume
    )
    x, y = jax.device_put(x), jax.device_put(y)  # jnp.asarray compiles a copy per shape
    skip = 0 if resume is None else resume.step

    def run_rows(rows: np.ndarray) -> Callable[[SVIState], tuple[SVIState, jax.Array, float]]:
        def run(s: SVIState) -> tuple[SVIState, jax.Array, float]:
            probe = rows if loop == "scan" else rows[0]
            runner, c = program.compiled_batches(s, x, y, probe, hp, loop=loop)
            if loop == "scan":
                return (*runner(s, x, y, rows, hp), c)
            step_losses = []
            for r in rows:
                s, loss = runner(s, x, y, r, hp)
                step_losses.append(loss)
            return s, jnp.stack(step_losses), c

        return run

    def chunks() -> Iterator[Chunk]:
        for epoch in range(num_epochs):
            if (epoch + 1) * per_epoch <= skip:
                continue
            idx = epoch_batches(key_shuffle, num_data=n, batch_size=batch, epoch=epoch)
            for start in range(0, per_epoch, chunk_size):
                if epoch * per_epoch + start >= skip:
                    rows = idx[start : start + chunk_size]
                    yield len(rows), run_rows(rows)
            trace = np.concatenate(losses)[-per_epoch:]
            log.info(
                "epoch %d/%d: mean ELBO %.6g, %.1f s",
                epoch + 1,
                num_epochs,
                -trace.mean(),
                time.perf_counter() - t_start,
            )

    return _drive(
        program,
        state,
        chunks(),
        num_steps=num_epochs * per_epoch,
        resume=resume,
        progress=progress,
        on_chunk=on_chunk,
        t_start=t_start,
        losses=losses,
        desc=desc,
    )
