"""JAX process settings: device platform, XLA CPU thread pool, persistent compilation cache.

These must be applied before JAX creates its backend (the first array op), so the CLI calls
:func:`configure_jax` before any other bnnrun code touches JAX. Later calls in the same process
(e.g. the second job of a sweep) only apply what can still change.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax

from bnnrun.errors import ConfigError

log = logging.getLogger(__name__)

_PLATFORM_ALIASES = {"gpu": "cuda"}

#: XLA options for programs that run once per fit (the posterior draws): without
#: LLVM's optimisations they compile in about half the time, and their run time is negligible.
RUN_ONCE = {"xla_backend_optimization_level": 0}


def default_cache_dir() -> Path:
    """``$BNNRUN_CACHE_DIR`` or ``$XDG_CACHE_HOME/bnnrun`` (``~/.cache/bnnrun``)."""
    if env := os.environ.get("BNNRUN_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bnnrun"


def _backend_started() -> bool:
    from jax._src import xla_bridge

    return bool(getattr(xla_bridge, "_backends", {}))


def _with_thread_pool_size(n: int) -> None:
    """Start JAX's CPU backend with an ``n``-thread pool.

    XLA sizes its CPU pool from the process's CPU affinity when the backend starts. We narrow
    the affinity for that moment and then restore it on every thread, so the pool is small but
    its threads are not pinned to particular cores (parallel jobs would otherwise share one).
    """
    if not hasattr(os, "sched_setaffinity"):
        log.warning("runtime.cpu_threads is not supported on this OS; ignored")
        jax.devices()
        return
    full = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(sorted(full)[:n]))
    try:
        jax.devices()
    finally:
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(tid), full)


def configure_jax(
    *,
    platform: str | None = None,
    cpu_threads: int | None = None,
    compilation_cache: bool = True,
    cache_dir: Path | None = None,
) -> str:
    """Apply process-wide JAX settings and return the backend in use (``cpu``, ``gpu``, ...).

    Args:
        platform: ``cpu``, ``gpu``/``cuda`` or ``tpu``; None keeps JAX's default choice.
        cpu_threads: size of XLA's CPU thread pool; None uses every core. Small networks run
            fastest on one thread (see ``bench/``); parallel sweep jobs should split the cores.
        compilation_cache: keep compiled programs on disk so later processes skip compilation.
        cache_dir: root of bnnrun's cache (default :func:`default_cache_dir`).
    """
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU" noise
    if not _backend_started():
        if platform is not None:
            jax.config.update("jax_platforms", _PLATFORM_ALIASES.get(platform, platform))
        if compilation_cache:
            path = (cache_dir or default_cache_dir()) / "jax"
            jax.config.update("jax_compilation_cache_dir", str(path))
            # Every program, however small: SVI's eager initialisation compiles hundreds of
            # tiny ones, which together cost seconds per process.
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        if cpu_threads is not None and (platform in (None, "cpu")):
            _with_thread_pool_size(cpu_threads)
        if platform is not None:
            _require_backend(platform)
    elif platform is not None and jax.default_backend() != _PLATFORM_ALIASES.get(
        platform, platform
    ).replace("cuda", "gpu"):
        log.warning(
            "JAX already runs on %s; runtime.platform=%s ignored", jax.default_backend(), platform
        )
    return jax.default_backend()


def _require_backend(platform: str) -> None:
    """Start JAX's backend for ``platform``, or say clearly that this JAX has none."""
    try:
        jax.devices()
    except Exception as exc:  # JAX raises a bare AssertionError or a RuntimeError here
        gpu = platform in ("gpu", "cuda")
        hint = " (NVIDIA GPUs: install bnnrun's `cuda` extra)" if gpu else ""
        raise ConfigError(
            f"runtime.platform={platform} is not available: this JAX ({jax.__version__}) has no "
            f"working {platform} backend{hint}; use runtime.platform=cpu, or null for JAX's "
            "default device"
        ) from exc


def cpu_model() -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``), else what Python's ``platform`` knows:
    benchmarks record it with their numbers."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which a scheduler may narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_job(launcher: Mapping[str, Any], *, cores: int | None = None) -> int | None:
    """XLA CPU threads for one job of a sweep, so that jobs running at once share the cores.

    Args:
        launcher: the sweep's ``hydra.launcher`` config.
        cores: cores to share (default :func:`available_cores`).

    Returns:
        ``cpus_per_task`` for submitit launchers that set it; ``cores // n_jobs`` (at least 1)
        for joblib, whose ``n_jobs=-1`` means one job per core; None (every core) for launchers
        that run one job at a time.
    """
    if launcher.get("cpus_per_task") is not None:
        return int(launcher["cpus_per_task"])
    n_jobs = launcher.get("n_jobs")
    if n_jobs is None:
        return None
    cores = cores or available_cores()
    if n_jobs < 0:  # joblib: -1 is all cores, -2 all but one, ...
        n_jobs = max(1, cores + 1 + n_jobs)
    return max(1, cores // n_jobs)
