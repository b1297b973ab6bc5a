"""Epoch-based minibatch SVI for one run, from its config.

With ``inference.num_epochs`` set, the fit walks the training set in shuffled minibatches
(``inference.batch_size``), a fresh permutation every epoch, drawn from the run's seed. With
``inference.warm_start_epochs`` > 0 it first finds a MAP estimate (SVI with a point-mass
``AutoDelta`` guide on the same model, the same minibatches and optimizer) and starts the
``AutoNormal`` guide's means there; the guide's scales start at ``inference.init_scale``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax

from bnnrun.config import Config, GuideName, SVIConfig
from bnnrun.data import Dataset
from bnnrun.errors import ModelError
from bnnrun.inference.batched import fit_svi_epochs_members
from bnnrun.inference.checkpoint import Checkpoint
from bnnrun.inference.guides import build_guide, locs_from_point
from bnnrun.inference.optimizer import build_optimizer
from bnnrun.inference.program import (
    FitResult,
    OnChunk,
    SVIProgram,
    cached_program,
    fit_svi_epochs,
    resolve_loop,
    steps_per_epoch,
)
from bnnrun.model.bnn import BNN
from bnnrun.model.hparams import HyperParams
from bnnrun.model.nets import CNN

log = logging.getLogger(__name__)


def total_steps(inf: SVIConfig, num_data: int) -> int:
    """SVI steps of the fit: ``num_epochs`` x minibatches per epoch, else ``num_steps``."""
    if inf.num_epochs is None:
        return inf.num_steps
    return inf.num_epochs * steps_per_epoch(num_data, inf.batch_size)


def warm_start_program(cfg: Config, model: BNN) -> SVIProgram:
    """The (cached) MAP program of the warm start: ``AutoDelta`` over ``model``, the run's
    optimizer with its schedule spread over the warm-start epochs."""
    inf = cfg.inference
    steps = inf.warm_start_epochs * steps_per_epoch(model.num_data, inf.batch_size)
    key = ("map", model, repr(inf.optimizer), steps)

    def make() -> SVIProgram:
        return SVIProgram(
            model,
            build_guide(model, name=GuideName.delta, init_scale=inf.init_scale),
            build_optimizer(inf.optimizer, num_steps=steps),
        )

    return cached_program(key, make)


class EpochFit(NamedTuple):
    """The SVI fit, and the MAP warm start's fit when there was one."""

    fit: FitResult
    warm_start: FitResult | None


def _loop(cfg: Config, model: BNN) -> str:
    return resolve_loop(
        cfg.inference.loop.value,
        has_convolutions=isinstance(model.net, CNN),
        backend=jax.default_backend(),
    )


def _common(cfg: Config, loop: str) -> dict[str, Any]:
    inf = cfg.inference
    return {
        "batch_size": inf.batch_size,
        "loop": loop,
        "chunk_size": inf.chunk_size,
        "progress": cfg.runtime.progress,
    }


def fit_epochs(
    cfg: Config,
    data: Dataset,
    *,
    model: BNN,
    hp: HyperParams,
    program: SVIProgram,
    key: jax.Array,
    resume: Checkpoint | None = None,
    on_chunk: OnChunk | None = None,
) -> EpochFit:
    """Fit the run's posterior by epochs (after the warm start, if configured).

    A fit resumed from a checkpoint of its SVI phase skips the warm start: the checkpoint
    holds the guide's parameters, which is all the warm start would have provided.
    """
    inf = cfg.inference
    loop = _loop(cfg, model)
    common = _common(cfg, loop)
    key_warm, key_svi = jax.random.split(key)
    warm: FitResult | None = None
    init_params = None
    if inf.warm_start_epochs > 0 and resume is None:
        log.info("warm start: %d epochs of MAP (%s loop)", inf.warm_start_epochs, loop)
        warm = fit_svi_epochs(
            warm_start_program(cfg, model),
            data.x_train,
            data.y_train,
            hp,
            key=key_warm,
            num_epochs=inf.warm_start_epochs,
            **common,
            desc="warm start",
        )
        if warm.status != "ok":
            return EpochFit(fit=warm, warm_start=warm)
        batch = min(inf.batch_size or len(data.y_train), len(data.y_train))
        args = (data.x_train[:batch], data.y_train[:batch], hp)
        init_params = locs_from_point(model, args, warm.params)
    log.info("SVI: %d epochs (%s loop)", inf.num_epochs, loop)
    fit = fit_svi_epochs(
        program,
        data.x_train,
        data.y_train,
        hp,
        key=key_svi,
        num_epochs=inf.num_epochs,
        init_params=init_params,
        resume=resume,
        on_chunk=on_chunk,
        **common,
    )
    return EpochFit(fit=fit, warm_start=warm)


def fit_epochs_members(
    cfg: Config,
    data: Dataset,
    *,
    model: BNN,
    hps: Sequence[HyperParams],
    program: SVIProgram,
    keys: Sequence[jax.Array],
) -> list[EpochFit | ModelError]:
    """:func:`fit_epochs` for each ``(hp, key)`` pair, the warm starts and the SVI fits each as
    one program (:mod:`bnnrun.inference.batched`). A member whose warm start diverged keeps
    that as its fit, as a single run would."""
    inf = cfg.inference
    loop = _loop(cfg, model)
    common = _common(cfg, loop)
    split = [jax.random.split(k) for k in keys]
    warm: list[FitResult | ModelError | None] = [None] * len(keys)
    init_params: list[dict[str, jax.Array] | None] = [None] * len(keys)
    if inf.warm_start_epochs > 0:
        log.info(
            "warm start: %d epochs of MAP (%s loop), %d fits",
            inf.warm_start_epochs,
            loop,
            len(keys),
        )
        warm = list(
            fit_svi_epochs_members(
                warm_start_program(cfg, model),
                data.x_train,
                data.y_train,
                hps,
                keys=[k[0] for k in split],
                num_epochs=inf.warm_start_epochs,
                **common,
                desc="warm start",
            )
        )
        batch = min(inf.batch_size or len(data.y_train), len(data.y_train))
        for i, w in enumerate(warm):
            if isinstance(w, FitResult) and w.status == "ok":
                args = (data.x_train[:batch], data.y_train[:batch], hps[i])
                init_params[i] = locs_from_point(model, args, w.params)
    log.info("SVI: %d epochs (%s loop), %d fits", inf.num_epochs, loop, len(keys))
    fits = fit_svi_epochs_members(
        program,
        data.x_train,
        data.y_train,
        hps,
        keys=[k[1] for k in split],
        num_epochs=inf.num_epochs,
        init_params=init_params,
        **common,
    )
    out: list[EpochFit | ModelError] = []
    for w, fit in zip(warm, fits, strict=True):
        if isinstance(w, ModelError):
            out.append(w)
        elif w is not None and w.status != "ok":
            out.append(EpochFit(fit=w, warm_start=w))
        elif isinstance(fit, ModelError):
            out.append(fit)
        else:
            out.append(EpochFit(fit=fit, warm_start=w))
    return out
