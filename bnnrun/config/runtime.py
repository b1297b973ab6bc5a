"""Schema of the ``runtime`` node: where and how JAX runs."""

from __future__ import annotations

from dataclasses import dataclass

from bnnrun.config.checks import require


@dataclass
class RuntimeConfig:
    """Where and how JAX runs.

    Attributes:
        platform: JAX's platform: ``cpu``, ``gpu`` (or ``cuda``) or ``tpu``; null: JAX's
            default (a GPU if JAX sees one).
        cpu_threads: Size of XLA's CPU thread pool; null: all cores.
        compilation_cache: Keep compiled programs in JAX's persistent cache (``jax/`` under
            ``~/.cache/bnnrun`` or ``$BNNRUN_CACHE_DIR``), so later processes skip compiling.
        progress: A progress bar on stderr, updated once per chunk of steps.
    """

    platform: str | None = None
    cpu_threads: int | None = None
    compilation_cache: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        require(
            self.platform in (None, "cpu", "gpu", "cuda", "tpu"),
            "runtime.platform",
            "one of null, cpu, gpu, cuda, tpu",
            self.platform,
        )
        if self.cpu_threads is not None:
            require(
                self.cpu_threads >= 1,
                "runtime.cpu_threads",
                "an integer >= 1 or null",
                self.cpu_threads,
            )
