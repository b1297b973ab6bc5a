"""Errors a user can act on, the exit codes of bnnrun's commands, and the one line a user sees.

Exit codes, the same for ``bnnrun``, ``bnnrun-compare`` and ``bnnrun-report``:
0 ok, 1 failed, 2 bad input (config, data or an occupied run directory), 3 diverged.
Each error class carries the code the CLI returns for it.
"""

from __future__ import annotations

import os
import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of bnnrun's commands."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    DIVERGED = 3


def say(message: str) -> None:
    """Print the one line a user sees for an error, on stderr."""
    print(f"bnnrun: error: {message}", file=sys.stderr)


def full_errors() -> bool:
    """``HYDRA_FULL_ERROR=1``: let errors propagate with their tracebacks."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


class BnnrunError(Exception):
    """A failure with a one-line, user-facing message."""

    exit_code: int = ExitCode.FAILED


class ConfigError(BnnrunError, ValueError):
    """The config asks for something impossible. Exit code 2."""

    exit_code = ExitCode.BAD_INPUT


class InvalidCombination(ConfigError):
    """Two choices that are each valid cannot be combined (e.g. a flat prior with a hyperprior)."""


class DataError(BnnrunError):
    """A data file is missing, truncated or corrupt. Exit code 2."""

    exit_code = ExitCode.BAD_INPUT


class ModelError(BnnrunError):
    """The model cannot be fitted as configured (e.g. no finite log density to start from)."""


class RunDirError(BnnrunError):
    """The run directory already holds a finished run; nothing is overwritten. Exit code 2."""

    exit_code = ExitCode.BAD_INPUT
