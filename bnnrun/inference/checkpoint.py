"""Checkpoints of a running SVI fit, and the rules for resuming one.

A checkpoint is ``checkpoint.npz`` in the run directory, written atomically with plain arrays
only (no pickle, so loading one never runs code). It holds the whole SVI state, i.e. the
guide's parameters, the optimizer's state with its step count, and the RNG key, as the leaves
of the state's pytree keyed by their paths; the per-step losses so far; and the part of the
config that determines the fit (:func:`fingerprint`). A fit resumes from it by rebuilding the
state's structure from a fresh initialisation and refilling its leaves.

Resuming (``resume=true``) is allowed only in a directory that holds a checkpoint of the same
fit and no ``metrics.json``; without ``resume=true`` a directory holding a checkpoint is an
interrupted run, which is never overwritten.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnnrun import rundir
from bnnrun.config.dotted import flatten
from bnnrun.errors import DataError, RunDirError

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.npz"

#: Sections of the config that determine a fit; a checkpoint resumes only under equal ones.
FIT_SECTIONS = ("dataset", "architecture", "prior", "hyperprior", "inference", "likelihood", "seed")
#: Fingerprint keys added after checkpoints were first written, with the value such a
#: checkpoint implies.
ADDED_KEYS = {"likelihood.kind": "auto"}
#: Keys that may change between an interrupted run and its resumption.
FREE_KEYS = frozenset({"inference.checkpoint_every"})


def fingerprint(cfg: Any) -> dict[str, Any]:
    """The fit-determining part of a :class:`~bnnrun.config.Config`, as plain JSON values
    flattened to dotted keys (``{"inference.num_steps": 50000, ...}``)."""
    full = asdict(cfg)
    record = json.loads(json.dumps({k: full[k] for k in FIT_SECTIONS}))
    return {k: v for k, v in flatten(record).items() if k not in FREE_KEYS}


class Checkpoint(NamedTuple):
    """A fit stopped at a chunk boundary.

    Attributes:
        step: steps completed.
        losses: float32 per-step losses (negative ELBO) of those steps, ``[step]``.
        leaves: the SVI state's leaves, keyed by pytree path (``jax.tree_util.keystr``).
        config: the :func:`fingerprint` of the config that wrote it.
    """

    step: int
    losses: np.ndarray
    leaves: dict[str, np.ndarray]
    config: dict[str, Any]

    def restore(self, template: Any) -> Any:
        """The saved state, in the structure of ``template`` (a fresh state of the same fit).

        Raises:
            RunDirError: the saved leaves do not match the template's paths, shapes or dtypes.
        """
        flat, treedef = jax.tree_util.tree_flatten_with_path(template)
        leaves = []
        for path, leaf in flat:
            key = jax.tree_util.keystr(path)
            saved = self.leaves.get(key)
            if saved is None or saved.shape != leaf.shape or saved.dtype != leaf.dtype:
                got = "missing" if saved is None else f"{saved.dtype}{list(saved.shape)}"
                raise RunDirError(
                    f"the checkpoint does not match this run's SVI state at {key} "
                    f"(saved: {got}; expected: {leaf.dtype}{list(leaf.shape)})"
                )
            leaves.append(jnp.asarray(saved))
        return jax.tree_util.tree_unflatten(treedef, leaves)


def save_checkpoint(
    path: Path, state: Any, *, step: int, losses: list[np.ndarray], config: dict[str, Any]
) -> None:
    """Write ``state`` after ``step`` steps atomically to ``path`` (an ``.npz``)."""
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    arrays: dict[str, np.ndarray] = {
        "step": np.asarray(step, np.int64),
        "losses": np.concatenate(losses).astype(np.float32) if losses else np.zeros(0, np.float32),
        "config": np.asarray(json.dumps(config)),
        "paths": np.asarray([jax.tree_util.keystr(p) for p, _ in flat]),
    }
    for i, (_, leaf) in enumerate(flat):
        arrays[f"leaf_{i:05d}"] = np.array(leaf)  # a copy: the next chunk donates the buffers
    rundir.save_npz(path, arrays)


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        RunDirError: the file is not a readable bnnrun checkpoint.
    """
    try:
        arrays = rundir.load_npz(path)
        paths = [str(p) for p in arrays["paths"]]
        return Checkpoint(
            step=int(arrays["step"]),
            losses=arrays["losses"],
            leaves={p: arrays[f"leaf_{i:05d}"] for i, p in enumerate(paths)},
            config=json.loads(str(arrays["config"])),
        )
    except (DataError, KeyError, ValueError) as exc:
        raise RunDirError(f"{path} is not a readable bnnrun checkpoint ({exc})") from None


def check_resumable(run_dir: Path, cfg: Any) -> Checkpoint | None:
    """The checkpoint that run ``cfg`` in ``run_dir`` continues from, if any.

    Returns None when the directory holds no checkpoint (a fresh start, also with
    ``resume=true``).

    Raises:
        RunDirError: the directory holds a checkpoint but ``cfg.resume`` is false (an
            interrupted run is never overwritten), or the checkpoint belongs to another config.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    ckpt = load_checkpoint(path)
    if not cfg.resume:
        raise RunDirError(
            f"{run_dir} holds an interrupted run ({CHECKPOINT} at step {ckpt.step}): continue "
            "it with resume=true, or choose another hydra.run.dir"
        )
    here = fingerprint(cfg)
    ckpt = ckpt._replace(config={**ADDED_KEYS, **ckpt.config})
    diff = sorted(k for k in here.keys() | ckpt.config.keys() if here.get(k) != ckpt.config.get(k))
    if diff:
        shown = "; ".join(
            f"{k}: {ckpt.config.get(k)!r} there, {here.get(k)!r} here" for k in diff[:3]
        )
        raise RunDirError(
            f"{run_dir} holds a checkpoint of another config ({shown}): resume it with the "
            "config it was started with, or choose another hydra.run.dir"
        )
    return ckpt


class Checkpointer:
    """Called after each chunk of a fit (``fit_svi(on_chunk=...)``): writes a checkpoint at
    the first chunk boundary at or after every ``every`` steps, and after the last step.

    Args:
        path: the checkpoint file.
        every: steps between checkpoints.
        num_steps: the fit's total steps.
        config: the :func:`fingerprint` to store.
        start: the step the fit starts from (a resumed fit's checkpoint step).
    """

    def __init__(
        self, path: Path, *, every: int, num_steps: int, config: dict[str, Any], start: int = 0
    ) -> None:
        self.path, self.every, self.num_steps, self.config = path, every, num_steps, config
        self.last = start

    def __call__(self, state: Any, step: int, losses: list[np.ndarray]) -> None:
        if step // self.every > self.last // self.every or step == self.num_steps:
            save_checkpoint(self.path, state, step=step, losses=losses, config=self.config)
            self.last = step
            log.debug("checkpoint at step %d", step)
