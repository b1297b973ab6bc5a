"""The run directory: the only code that writes results, and every write is atomic.

A file appears under its final name only when it is complete (written to a temporary sibling,
then renamed), so a killed run never leaves a half-written ``metrics.json``. ``metrics.json`` is
written last. A directory holds a *finished* run when its ``metrics.json`` says ``ok``; a
finished run is never overwritten. Any other record (``failed``, ``diverged``, ``skipped``, or
unreadable) is a run that did not finish: a new run there replaces it.

A run holds the directory's lock (:func:`locked`, an OS lock on :data:`LOCK`) for its whole
life, so a second run into the same directory is refused at once; the OS drops the lock when
its process dies, so a killed run never blocks the directory. The lock file holds the holder's
PID, for the message only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
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
#: The run directory's lock file (kept after the run: removing it would race with a new holder).
LOCK = ".bnnrun.lock"
#: Name prefix of the temporary files of atomic writes.
TMP_PREFIX = ".tmp-"

log = logging.getLogger(__name__)


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
    fd, tmp = tempfile.mkstemp(
        prefix=f"{TMP_PREFIX}{path.stem}-", suffix=path.suffix, dir=path.parent
    )
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


def save_figure(path: Path, fig: Figure, *, dpi: int = 150) -> None:
    """Save ``fig`` in the format its suffix names (``.png``, ``.pdf``, ``.svg``) at ``dpi``."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=dpi, bbox_inches="tight")


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})


def save_netcdf(path: Path, data: Any) -> None:
    """Write an ArviZ ``InferenceData`` (anything with ``to_netcdf(filename)``)."""
    with atomic_path(path) as tmp:
        data.to_netcdf(str(tmp))


#: The first bytes of an ``.npz`` file (a zip archive; an empty one starts with its end
#: record) and of a single ``.npy`` array.
_NPZ_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file; object arrays are refused, so loading never runs code.

    Raises:
        DataError: the file is missing, a directory, not a zip archive of ``.npy`` arrays
            (NumPy would take any other bytes for a pickle), truncated, or holds objects.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not an .npz file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    if head == _NPY_MAGIC:
        raise DataError(f"{path}: a single .npy array, not an .npz file (numpy.savez writes one)")
    if not head.startswith(_NPZ_MAGIC):
        raise DataError(
            f"{path}: not an .npz file: an .npz is a zip archive, and this file does not start "
            f"as one does (its first bytes are {head[:4].hex() or 'none: it is empty'})"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def is_finished(record: Mapping[str, Any] | None) -> bool:
    """Whether a ``metrics.json`` record (None: there is none) is a finished run: status ``ok``."""
    return record is not None and record.get("status") == "ok"


def ensure_fresh(run_dir: Path) -> None:
    """Refuse a run directory that already holds a finished (``ok``) run; a record of a run
    that did not finish is no obstacle (:func:`discard_unfinished` removes it)."""
    if is_finished(read_metrics(run_dir)):
        raise RunDirError(
            f"{run_dir} already holds a finished run ({METRICS}, status ok); it is never "
            "overwritten: choose another hydra.run.dir"
        )


def _name_max(folder: Path) -> int:
    """The most bytes of one name in ``folder``'s file system (255 where it does not say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_run_dir(run_dir: Path, *, key: str = "hydra.run.dir") -> None:
    """Refuse a directory that no run can write: a name longer than its file system allows,
    an existing file, a path under a file, or a place where nothing can be created (``/proc``,
    a read-only folder or file system). Leaves nothing behind: whether a directory that does
    not exist yet can be made is tried with a temporary one, in the nearest folder that
    exists, removed at once; an existing one is only checked for write permission.

    Raises:
        RunDirError: naming ``key`` (``hydra.run.dir``, ``hydra.sweep.dir``) and the reason.
    """
    shown = f"{key}={run_dir}"
    path = Path(os.path.abspath(run_dir))
    if len(os.fsencode(str(path))) >= 4096:  # PATH_MAX of Linux, with the ending NUL
        raise RunDirError(f"{key}: the path is longer than the file system allows (4095 bytes)")
    folder = Path(path.anchor)
    names = path.parts[1:]
    for i, name in enumerate(names):
        limit = _name_max(folder)
        for rest in names[i:]:  # this name, and those of the folders still to make under it
            if len(os.fsencode(rest)) > limit:
                raise RunDirError(  # the path itself is too long to show
                    f"{key}: its name {rest[:24]}... is {len(os.fsencode(rest))} bytes, "
                    f"longer than its file system allows ({limit}): shorten {key}"
                    + (" (or name, which it holds by default)" if key == "hydra.run.dir" else "")
                )
        child = folder / name
        if not child.exists():
            break
        if not child.is_dir():
            where = "is a file" if child == path else f"sits under {child}, which is a file"
            raise RunDirError(f"{shown} {where}, not a directory: choose another {key}")
        folder = child
    if folder == path:  # it exists: left untouched (it may hold a finished run)
        if not os.access(path, os.W_OK | os.X_OK):
            raise RunDirError(f"{shown}: nothing can be written in it: choose another {key}")
        return
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}probe-", dir=folder))
    except OSError as exc:
        raise RunDirError(
            f"{shown}: nothing can be written in {folder} ({exc.strerror}): choose another {key}"
        ) from None


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
    ``skipped``, unreadable), so that a new run can take the directory. A finished (``ok``) run
    is never touched. Returns whether a record was removed."""
    record = read_metrics(run_dir)
    if record is None or is_finished(record):
        return False
    (Path(run_dir) / METRICS).unlink()
    return True


#: The locks this process holds: resolved directory -> [open lock file, times entered].
_held: dict[Path, list[Any]] = {}


def _lock_file(run_dir: Path) -> Any:
    run_dir.mkdir(parents=True, exist_ok=True)
    return open(os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, _FILE_MODE), "r+")


def _try_lock(f: Any) -> bool:
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def acquire(run_dir: Path) -> None:
    """Take the exclusive lock of ``run_dir`` (creating the directory) for this process, until
    :func:`release` (or the process ends). Taking it again in the same process only counts.
    Then remove the temporary files that killed runs left there (:func:`remove_stale_temps`).

    Raises:
        RunDirError: another process holds the lock (a run in progress there).
    """
    key = Path(run_dir).resolve()
    if key in _held:
        _held[key][1] += 1
        return
    try:
        f = _lock_file(key)
    except OSError as exc:
        raise RunDirError(f"{run_dir}: cannot create or lock the run directory ({exc})") from None
    if not _try_lock(f):
        holder = f.read().strip() or "unknown"
        f.close()
        raise RunDirError(
            f"{run_dir} is in use by another run (PID {holder}); wait for it to end, or "
            "choose another directory"
        )
    previous = f.read().strip()
    if previous and previous != str(os.getpid()):
        # Its process ended without unlocking (killed): the OS dropped its lock.
        log.info("%s: the lock of PID %s is stale (that run ended); taking it", run_dir, previous)
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    _held[key] = [f, 1]
    removed = remove_stale_temps(key)
    if removed:
        log.info("%s: removed %d temporary files left by a killed run", run_dir, removed)


def release(run_dir: Path) -> None:
    """Give back a lock taken by :func:`acquire` (the last release unlocks)."""
    key = Path(run_dir).resolve()
    entry = _held.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _held[key]
    f = entry[0]
    with contextlib.suppress(OSError):
        f.seek(0)
        f.truncate()  # no holder: an empty lock file
    f.close()  # closing the only descriptor drops the lock


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block (see :func:`acquire`)."""
    acquire(run_dir)
    try:
        yield
    finally:
        release(run_dir)


def _locked_elsewhere(directory: Path) -> bool:
    """Whether another process holds ``directory``'s lock."""
    if Path(directory).resolve() in _held or not (directory / LOCK).exists():
        return False
    with open(directory / LOCK) as f:
        free = _try_lock(f)  # closing the file drops it again
    return not free


def remove_stale_temps(run_dir: Path, *, depth: int = 1) -> int:
    """Remove the temporary files of atomic writes (``.tmp-*``) in ``run_dir`` and its
    subdirectories ``depth`` levels down (a run writes at its top level, a sweep also in
    ``plots/``), which only a killed process leaves behind; a subdirectory locked by another
    run in progress (a sweep's job) is left alone. Call it with ``run_dir`` locked. Returns how
    many were removed."""
    removed = 0
    for path in Path(run_dir).iterdir():
        if path.is_dir() and not path.is_symlink():
            if depth > 0 and not _locked_elsewhere(path):
                removed += remove_stale_temps(path, depth=depth - 1)
        elif path.name.startswith(TMP_PREFIX) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed
