"""Errors a user can act on. Each carries the process exit code the CLI returns for it."""

from __future__ import annotations


class BnnrunError(Exception):
    """A failure with a one-line, user-facing message."""

    exit_code: int = 1


class ConfigError(BnnrunError, ValueError):
    """The config asks for something impossible. Exit code 2."""

    exit_code = 2


class InvalidCombination(ConfigError):
    """Two choices that are each valid cannot be combined (e.g. a flat prior with a hyperprior)."""


class DataError(BnnrunError):
    """A data file is missing, truncated or corrupt. Exit code 2."""

    exit_code = 2


class ModelError(BnnrunError):
    """The model cannot be fitted as configured (e.g. no finite log density to start from)."""


class RunDirError(BnnrunError):
    """The run directory already holds a finished run; nothing is overwritten. Exit code 2."""

    exit_code = 2
