"""Runs that differ only in numbers, fitted as one program (:mod:`bnnrun.inference.batched`).

A sweep's jobs often share everything but their seed or a prior's scale. :func:`batch_key`
says which jobs may share a program: the same key means the same data, network, guide,
optimizer and step plan, with only the numbers that are traced arguments of the compiled
program (the seed and everything in the model's ``hp``) left out. :func:`fit_together` fits
such jobs as one program and hands each job its fit; the job then predicts, analyses and
writes its own directory exactly as a run alone does (:func:`~bnnrun.pipeline.execute.execute`
with ``prefitted``).

The hand-over from the sweeper, which fits, to the job, which writes, goes through
:func:`offer` and :func:`claim`, keyed by the job's directory: both run in one process (the
in-process launcher). A job that finds nothing offered fits alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from bnnrun.analysis.predictive import activation_bytes
from bnnrun.config import CNNConfig, Config
from bnnrun.data import Dataset, load_dataset
from bnnrun.errors import BnnrunError, ModelError
from bnnrun.inference.batched import fit_svi_members
from bnnrun.inference.epochs import EpochFit, fit_epochs_members
from bnnrun.inference.program import FitResult
from bnnrun.pipeline.build import Built
from bnnrun.pipeline.reload import build_model

log = logging.getLogger(__name__)

#: Config keys whose numbers enter the compiled program as traced arguments (``hp``), per
#: group: any int or float value there may differ within a batch.
NUMBER_GROUPS = ("prior", "hyperprior", "likelihood")
#: ``inference`` keys that are numbers in ``hp`` (the objective's).
INFERENCE_NUMBERS = ("beta", "beta_warmup_steps", "temperature")
#: What a run does after its fit (or how it reports): free to differ within a batch.
AFTER_FIT = ("name", "seed", "resume", "analysis", "ood")


class Prefitted(NamedTuple):
    """A run's fit, made together with others.

    Attributes:
        fit: the SVI fit (or, if the MAP warm start diverged, that).
        warm_start: the MAP warm start's fit, if the run has one.
        members: how many fits the program ran together.
    """

    fit: FitResult
    warm_start: FitResult | None
    members: int


def batch_key(cfg: Config) -> Hashable | None:
    """What a run shares with every run it can be fitted with, or None if it fits alone
    (:func:`fits_alone`).

    Numbers of the prior, hyperprior and likelihood groups and the objective's numbers are
    masked; a key equal in everything else names the same model structure, data and step
    plan. (:func:`fit_together` checks that the built programs agree too.)
    """
    if fits_alone(cfg) is not None:
        return None
    tree = asdict(cfg)
    for name in AFTER_FIT:
        tree.pop(name, None)
    for group in NUMBER_GROUPS:
        tree[group] = {k: _mask(v) for k, v in tree[group].items()}
    tree["inference"] = {
        k: ("#" if k in INFERENCE_NUMBERS else v)
        for k, v in tree["inference"].items()
        if k not in ("num_predictive_samples", "checkpoint_every")
    }
    tree["runtime"] = {k: v for k, v in tree["runtime"].items() if k != "progress"}
    return repr(sorted(tree.items()))


def _mask(value: Any) -> Any:
    """A number (not a flag) becomes ``"#"``: it is free to differ within a batch."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return "#" if is_number else value


def member_limit(cfg: Config, *, net: Any, input_shape: tuple[int, ...], rows: int) -> int:
    """How many fits of this run's shape one program may hold: one step's activations
    (forward and backward, every particle, every row of a step) and the SVI state of each
    fit, within ``analysis.max_chunk_mb``, the budget a predictive chunk gets."""
    per_row = activation_bytes(net, input_shape)
    params = sum(int(np.prod(s)) for roles in net.param_shapes().values() for s in roles.values())
    per_fit = 3 * rows * cfg.inference.num_particles * per_row + 8 * 4 * params
    return max(1, (cfg.analysis.max_chunk_mb << 20) // per_fit)


def fits_alone(cfg: Config) -> str | None:
    """Why a run of ``cfg`` fits alone rather than with others, or None if it need not.

    NUTS samples by its own program; restarts already fit together; a resumed run continues
    its own checkpoint. A convolution on XLA's CPU backend under ``vmap`` over weights becomes
    a grouped convolution, far slower than one per fit (``bench/cnn_speed.py``).
    """
    inf = cfg.inference
    if inf.method != "svi":
        return f"inference={inf.method} fits alone"
    if inf.restarts > 1:
        return "a run with restarts fits them together, on its own"
    if cfg.resume:
        return "a resumed run continues its own checkpoint"
    if isinstance(cfg.architecture, CNNConfig) and jax.default_backend() == "cpu":
        return "a CNN fits alone on CPU, where XLA's batched convolutions are slow"
    return None


def fit_together(cfgs: Sequence[Config]) -> list[Prefitted | None]:
    """Fit runs that share a :func:`batch_key` as one program per model structure (several,
    if :func:`member_limit` says the fits would not fit in memory as one).

    Returns:
        Per run, its fit, or None where the run must fit alone: its data or model could not
        be built, or its initial values are not finite (it then fails on its own, with its
        own error).
    """
    if not cfgs:
        return []
    keys = {batch_key(c) for c in cfgs}
    if len(keys) != 1 or None in keys:
        raise ValueError("fit_together needs runs with one batch key")
    t0 = time.perf_counter()
    try:
        data = load_dataset(cfgs[0].dataset)
    except BnnrunError as exc:
        log.info("batch: the data could not be loaded (%s); the jobs run alone", exc)
        return [None] * len(cfgs)
    groups: dict[Hashable, list[int]] = {}
    built = []
    for i, cfg in enumerate(cfgs):
        try:
            b = build_model(cfg, data)
        except BnnrunError:
            built.append(None)
            continue
        built.append(b)
        shapes = tuple((np.shape(leaf), np.result_type(leaf).str) for leaf in jax.tree.leaves(b.hp))
        groups.setdefault((id(b.program), jax.tree.structure(b.hp), shapes), []).append(i)
    out: list[Prefitted | None] = [None] * len(cfgs)
    programs = 0
    for group in groups.values():
        first = built[group[0]]
        assert first is not None
        cfg = cfgs[group[0]]
        rows = cfg.inference.batch_size or len(data.y_train)
        limit = member_limit(cfg, net=first.net, input_shape=data.input_shape, rows=rows)
        for start in range(0, len(group), limit):
            members = group[start : start + limit]
            fits = fit_members(
                cfg,
                data,
                first,
                hps=[built[i].hp for i in members],  # type: ignore[union-attr]
                keys=[fit_key(cfgs[i].seed) for i in members],
            )
            programs += 1
            for i, f in zip(members, fits, strict=True):
                if not isinstance(f, ModelError):
                    out[i] = Prefitted(fit=f.fit, warm_start=f.warm_start, members=len(members))
    log.info(
        "fitted %d runs as %d program(s) in %.1f s",
        sum(p is not None for p in out),
        programs,
        time.perf_counter() - t0,
    )
    return out


def fit_key(seed: int) -> jax.Array:
    """The PRNG key of a run's fit (:func:`~bnnrun.pipeline.execute.execute` splits the seed's
    key into the fit's and the predictive's)."""
    return jax.random.split(jax.random.PRNGKey(seed))[0]


def fit_members(
    cfg: Config, data: Dataset, built: Built, *, hps: Sequence[Any], keys: Sequence[jax.Array]
) -> list[EpochFit | ModelError]:
    """The fits of ``built``'s model at each ``(hp, key)``, as one program; ``cfg`` gives the
    step plan (steps or epochs, warm start) that every member shares."""
    assert built.program is not None
    if cfg.inference.num_epochs is not None:
        return fit_epochs_members(
            cfg, data, model=built.model, hps=hps, program=built.program, keys=keys
        )
    return [
        f if isinstance(f, ModelError) else EpochFit(fit=f, warm_start=None)
        for f in fit_svi_members(
            built.program,
            data.x_train,
            data.y_train,
            hps,
            keys=keys,
            num_steps=cfg.inference.num_steps,
            chunk_size=cfg.inference.chunk_size,
            progress=cfg.runtime.progress,
        )
    ]


def restart_keys(key: jax.Array, restarts: int) -> list[jax.Array]:
    """The keys of ``inference.restarts`` fits: the run's own first, so that restart 0 is the
    fit the run makes without restarts, then keys folded from it."""
    return [key, *(jax.random.fold_in(key, k) for k in range(1, restarts))]


_OFFERED: dict[Path, Prefitted] = {}


def offer(run_dir: Path, prefitted: Prefitted) -> None:
    """Hand ``prefitted`` to the job that will run in ``run_dir``."""
    _OFFERED[Path(run_dir).resolve()] = prefitted


def claim(run_dir: Path) -> Prefitted | None:
    """The fit offered to the job in ``run_dir`` (once), or None."""
    return _OFFERED.pop(Path(run_dir).resolve(), None)
