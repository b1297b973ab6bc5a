"""The ``bnnrun`` command: Hydra's CLI, with bad input caught before anything is written.

Before Hydra starts a run, :func:`bnnrun.cli.precheck.check_args` composes the config exactly as
Hydra will and validates it. A bad option, key, type or value then costs one line on stderr and
exit code 2, and no run directory is created. With ``HYDRA_FULL_ERROR=1`` errors propagate with
their tracebacks instead.

This module imports nothing heavy, so that it can restart the interpreter cheaply (see
:func:`_fix_hash_seed`) before Hydra and JAX load.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType


def _fix_hash_seed() -> None:
    """Re-execute with ``PYTHONHASHSEED=0`` unless it is already set to it.

    NumPyro sums ELBO terms in the iteration order of a ``set`` of site names, which follows
    Python's per-process string-hash seed. A fixed seed makes the traced program, and so the
    numbers and JAX's persistent compilation cache key, the same in every process.
    """
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "bnnrun", *sys.argv[1:]])


def _exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a timeout) end the process as an exception does: the run's
    ``finally`` blocks then remove its temporary files. (Python's default ends it at once.)"""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, terminate)


@contextlib.contextmanager
def exit_on_broken_pipe() -> Iterator[None]:
    """End the process quietly, with exit code 1, when its stdout is a pipe whose reader has
    gone (``bnnrun --help | head``): no traceback, no "Exception ignored" at exit. The recipe
    of Python's docs ("Note on SIGPIPE", module ``signal``): point stdout at devnull and exit.
    """
    try:
        try:
            yield
        finally:  # also after sys.exit (argparse's --help), else the flush at exit fails
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)  # what Python itself exits with on EPIPE


def _unknown_flag(args: list[str]) -> str | None:
    """One line for the first command-line flag Hydra does not know (``--hlep``), with the
    closest one it does; None if every flag is known."""
    from hydra._internal.utils import get_args_parser

    from bnnrun.cli.precheck import did_you_mean

    parser = get_args_parser()
    _, extra = parser.parse_known_args(args)
    unknown = [a for a in extra if a.startswith("-")]
    if not unknown:
        return None
    flags = [f for action in parser._actions for f in action.option_strings]
    flag = unknown[0].partition("=")[0]
    return f"unknown flag {flag}{did_you_mean(flag, flags)}; see bnnrun --help"


def main() -> None:
    """Console entry point of ``bnnrun``."""
    _fix_hash_seed()
    _exit_on_sigterm()
    # Re-executed as `python -m bnnrun`, argv[0] is bnnrun/__main__.py: Hydra would then
    # name the program "__main__.py" and register shell completion for `python`.
    sys.argv[0] = "bnnrun"
    # No collections while the libraries load: each full one scans every object loaded so far
    # (five of them took ~0.5 s, bench/fixed_cost.py). What they made lives as long as the
    # process, so it is then exempted from collections (frozen) before they resume.
    gc.disable()
    from bnnrun import rundir
    from bnnrun.cli.app import hydra_main
    from bnnrun.cli.precheck import check_args, describe_error
    from bnnrun.config.compose import CONF_DIR
    from bnnrun.errors import BnnrunError, ExitCode, full_errors, say

    if not full_errors():
        if (problem := _unknown_flag(sys.argv[1:])) is not None:
            say(problem)
            sys.exit(ExitCode.BAD_INPUT)
        try:
            run_dir = check_args(sys.argv[1:], conf_dir=CONF_DIR)
            if run_dir is not None:
                # Locked before Hydra writes .hydra/ and bnnrun.log there, and held (the job
                # takes it again) until the process ends; then checked again, now that no
                # other run can finish there meanwhile.
                rundir.acquire(run_dir)
                rundir.ensure_fresh(run_dir)
        except BnnrunError as exc:
            say(str(exc))
            sys.exit(ExitCode.BAD_INPUT)
        except Exception as exc:
            say(describe_error(exc))
            sys.exit(ExitCode.BAD_INPUT)
    gc.freeze()
    gc.enable()
    try:
        with exit_on_broken_pipe():
            hydra_main()
    finally:
        # Exempt every object from the collections that Python runs while shutting down: with
        # JAX, NumPyro and matplotlib loaded they took over a second (bench/fixed_cost.py),
        # and the OS frees the memory at exit anyway.
        gc.freeze()
