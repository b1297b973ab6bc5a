"""Informed priors: where each informed weight's prior is centred, read from a pretrained source.

A source is a finished bnnrun run directory (its posterior point estimate: guide means, MAP
values for a ``delta`` guide, sample means for NUTS) or an ``.npz`` file holding one array per
parameter under its site name ``<layer>.<role>`` (``layer1.w``, ``conv2.b``, ...). Layers are
matched by name over the network's ``{layer: {role: shape}}`` (``Network.param_shapes()``),
so any architecture works; a source whose array has another shape is refused, naming the
layer and both shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bnnrun import rundir
from bnnrun.config import InformedPriorConfig
from bnnrun.errors import ConfigError
from bnnrun.model.bnn import site_name
from bnnrun.model.nets import Shapes

#: An informed run keeps its prior centres here, so it reloads without its source.
CENTRES = "prior_centres.npz"


def resolve_source(source: str | None) -> Path:
    """The source's path, checked to be a finished run directory or an ``.npz`` file.

    Raises:
        ConfigError: no source is set, or it is neither.
    """
    if source is None:
        raise ConfigError(
            "prior=informed needs a source: prior.source=<a bnnrun run directory or an .npz file>"
        )
    path = Path(source)
    try:
        exists = path.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ConfigError(
            f"prior.source={source!r} cannot be used as a path ({exc.strerror}): prior.source "
            "must be a bnnrun run directory or an .npz file"
        ) from None
    if not exists:
        raise ConfigError(
            f"prior.source={source!r} does not exist: prior.source must be a bnnrun run "
            "directory or an .npz file"
        )
    if path.is_dir():
        record = rundir.read_metrics(path)
        if record is None or not (path / rundir.POSTERIOR).is_file():
            raise ConfigError(
                f"prior.source={source!r} is not a finished bnnrun run directory "
                f"(it needs {rundir.METRICS} and {rundir.POSTERIOR})"
            )
        status = record.get("status")
        if status != "ok":
            raise ConfigError(f"prior.source={source!r} is a run with status {status!r}, not ok")
        return path
    if path.is_file() and path.suffix == ".npz":
        return path
    raise ConfigError(
        f"prior.source={source!r} is not allowed: prior.source must be a bnnrun run directory "
        "or an .npz file"
    )


def informed_layers(cfg: InformedPriorConfig, shapes: Shapes) -> tuple[str, ...]:
    """The layers ``cfg.layers`` selects (all if null), in network order.

    Raises:
        ConfigError: a selected layer is not in the network.
    """
    if cfg.layers is None:
        return tuple(shapes)
    for layer in cfg.layers:
        if layer not in shapes:
            raise ConfigError(
                f"prior.layers: this network has no layer {layer!r}; its layers are: "
                f"{', '.join(shapes)}"
            )
    return tuple(layer for layer in shapes if layer in cfg.layers)


def select_centres(
    arrays: dict[str, np.ndarray], shapes: Shapes, layers: tuple[str, ...], *, source: str
) -> dict[str, np.ndarray]:
    """The centres ``{site: float32 array}`` of every weight and bias of ``layers``.

    Raises:
        ConfigError: the source lacks a parameter, or has it in another shape.
    """
    centres: dict[str, np.ndarray] = {}
    for layer in layers:
        for role, shape in shapes[layer].items():
            site = site_name(layer, role)
            if site not in arrays:
                have = ", ".join(sorted(arrays)) or "nothing"
                raise ConfigError(f"prior.source={source!r} has no {site} (it has: {have})")
            value = np.asarray(arrays[site])
            if value.shape != tuple(shape):
                raise ConfigError(
                    f"prior.source={source!r}: layer {layer} does not fit: {site} has shape "
                    f"{value.shape} in the source but {tuple(shape)} in this network"
                )
            centres[site] = as_centre(value, site, source=source)
    return centres


def as_centre(value: np.ndarray, site: str, *, source: str) -> np.ndarray:
    """``value`` as float32 prior centres.

    Raises:
        ConfigError: it is not an array of real numbers (strings, booleans, complex numbers),
            or a value is NaN, infinite or beyond float32's range (which JAX computes in).
    """
    if value.dtype.kind not in "iuf":
        raise ConfigError(
            f"prior.source={source!r}: {site} holds {value.dtype} values, not real numbers"
        )
    with np.errstate(over="ignore"):
        centre = value.astype(np.float32)
    bad = ~np.isfinite(centre)
    if bad.any():
        first = value.reshape(-1)[np.flatnonzero(bad)[0]]
        raise ConfigError(
            f"prior.source={source!r}: {site} holds {int(bad.sum())} values that are not finite "
            f"numbers in float32 (e.g. {first!r}); a prior cannot be centred there"
        )
    return centre


def check_source(source: str | None) -> Path:
    """The source's path (:func:`resolve_source`), with every array of an ``.npz`` source
    checked to be finite real numbers (:func:`as_centre`); a run directory's are its run's.
    Cheap: what a run checks before it starts.

    Raises:
        ConfigError: the source is missing, of the wrong kind, or holds unusable arrays.
        DataError: the ``.npz`` file cannot be read.
    """
    path = resolve_source(source)
    if path.is_file():
        for site, value in rundir.load_npz(path).items():
            as_centre(value, site, source=str(source))
    return path


def load_centres(
    cfg: InformedPriorConfig,
    shapes: Shapes,
    layers: tuple[str, ...],
    *,
    read_run: Callable[[Path], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """The prior centres of ``layers`` from ``cfg.source``.

    Args:
        read_run: a run directory's posterior point estimate ``{site: array}``
            (:meth:`bnnrun.pipeline.posterior.FittedRun.point_estimate` of the loaded run).
    """
    path = resolve_source(cfg.source)
    arrays = read_run(path) if path.is_dir() else rundir.load_npz(path)
    return select_centres(arrays, shapes, layers, source=str(cfg.source))
