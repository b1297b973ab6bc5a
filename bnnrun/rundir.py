"""The run directory: the only code that writes results, and every write is atomic.

A file appears under its final name only when it is complete (written to a temporary sibling,
then renamed), so a killed run never leaves a half-written ``metrics.json``. ``metrics.json`` is
written last: its presence marks a finished run, which is never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bnnrun.errors import DataError, RunDirError

if TYPE_CHECKING:  # pandas and matplotlib take ~0.5 s to import: the CLI's checks need neither
    import pandas as pd
    from matplotlib.figure import Figure

METRICS = "metrics.json"
POSTERIOR = "posterior.npz"
INFERENCE_DATA = "posterior.nc"
#: p(class 1 | x) on the input grid: ``axes [2, size]``, ``mean`` and ``std`` ``[size, size]``
#: (rows follow ``axes[1]``, columns ``axes[0]``).
MAPS = "predictive_maps.npz"


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp creates 0600; results are shared like any file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a missing value reads as null
    return value


def write_json(path: Path, obj: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_figure(path: Path, fig: Figure) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=120, bbox_inches="tight")


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})


def save_netcdf(path: Path, data: Any) -> None:
    """Write an ArviZ ``InferenceData`` (anything with ``to_netcdf(filename)``)."""
    with atomic_path(path) as tmp:
        data.to_netcdf(str(tmp))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file; object arrays are refused, so loading never runs code."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def ensure_fresh(run_dir: Path) -> None:
    """Refuse a run directory that already holds a finished run."""
    if (Path(run_dir) / METRICS).exists():
        raise RunDirError(
            f"{run_dir} already holds a finished run ({METRICS}); it is never overwritten: "
            "choose another hydra.run.dir"
        )


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``metrics.json``; None if there is none. One that is not valid JSON (it can
    only have been written by hand: bnnrun writes atomically) reads as status ``unreadable``."""
    try:
        return json.loads((Path(run_dir) / METRICS).read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        return {"status": "unreadable", "error": f"{METRICS} is not valid JSON: {exc}"}


def discard_unfinished(run_dir: Path) -> bool:
    """Remove a ``metrics.json`` that records no finished run (``failed``, ``diverged``,
    ``skipped``), so that a re-run sweep can run the job again. A finished (``ok``) run is
    never touched. Returns whether a record was removed."""
    record = read_metrics(run_dir)
    if record is None or record.get("status") == "ok":
        return False
    (Path(run_dir) / METRICS).unlink()
    return True
