"""Validate command-line arguments before Hydra runs anything.

:func:`check_args` composes the config with Hydra's compose API, exactly as ``@hydra.main``
will, and validates it. For a sweep (``-m``) it composes once per value of each swept key, on
the command line or in an experiment's ``hydra.sweeper.params``, so a typo in any value is
caught up front (an interval by its two ends); combinations are left to the sweeper, which
leaves impossible ones out. A single run also passes the checks that its experiment registers
(:func:`check_experiment`). :func:`describe_error` turns Hydra's and OmegaConf's multi-line
errors into one line that names the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from bnnrun.config import Config, InformedPriorConfig, absent_key, to_run_config
from bnnrun.config.compose import compose_config, without_hydra
from bnnrun.errors import ConfigError
from bnnrun.rundir import check_run_dir, ensure_fresh
from bnnrun.sweep.grid import endpoints
from bnnrun.sweep.options import check_options


def _sweep_variants(overrides: Sequence[str]) -> list[list[str]]:
    """One override list per value of each swept key, the other keys at their first value."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    choices: list[list[str]] = []
    for ov in parsed:
        prefix = ov.get_key_element()
        if ov.is_sweep_override() and not ov.is_interval_sweep():
            choices.append([f"{prefix}={v}" for v in ov.sweep_string_iterator()])
        elif ov.is_sweep_override():
            choices.append(endpoints(ov))  # an interval's grid lies between its ends
        else:
            choices.append([ov.input_line])
    base = [c[0] for c in choices if c]
    variants = [base]
    for i, values in enumerate(choices):
        for value in values[1:]:
            variant = [c[0] for c in choices[:i] if c] + [value]
            variant += [c[0] for c in choices[i + 1 :] if c]
            variants.append(variant)
    return variants


def check_args(args: Sequence[str], *, conf_dir: Path) -> Path | None:
    """Raise if the run or sweep that ``args`` ask for has a bad config.

    Arguments that ask Hydra for something other than a run (``--help``, ``--cfg``, ``--info``,
    ``--shell-completion``, another config) are left to Hydra.

    Returns:
        A single run's directory, where it does not depend on the time (``hydra.run.dir``
        without ``${now:...}``, e.g. one given on the command line); else None.
    """
    parsed = get_args_parser().parse_args(list(args))
    if (
        parsed.help
        or parsed.hydra_help
        or parsed.cfg
        or parsed.info
        or parsed.shell_completion
        or parsed.config_path
        or parsed.config_name
        or parsed.config_dir
        or parsed.experimental_rerun
    ):
        return None
    if parsed.multirun:
        checked: set[tuple[str, ...]] = set()
        absent: tuple[str, str] | None = None  # a combination the sweeper will leave out
        sweep_dir_checked = False
        for variant in _sweep_variants(parsed.overrides):
            if (found := absent_key(variant)) is not None:
                absent = found
                continue
            base = compose_config(variant, conf_dir=conf_dir)
            check_callbacks(base.hydra)  # a tracker's package, before the sweep starts
            if not sweep_dir_checked:
                check_sweeper(base.hydra.sweeper)
                check_run_dir(Path(base.hydra.sweep.dir), key="hydra.sweep.dir")
                sweep_dir_checked = True
            params = base.hydra.sweeper.get("params") or {}
            # An experiment's own grid (hydra.sweeper.params) is checked value by value too.
            for full in _sweep_variants(with_sweeper_params(variant, params)):
                if tuple(full) in checked:
                    continue
                if (found := absent_key(full)) is not None:
                    absent = found
                    continue
                checked.add(tuple(full))
                cfg = base if full == variant else compose_config(full, conf_dir=conf_dir)
                to_run_config(without_hydra(cfg), check_combination=False)
        if not checked and absent is not None:
            option, key = absent
            raise ConfigError(f"every combination of this sweep sets {key}, which {option} has not")
        return None
    return check_run(compose_config(parsed.overrides, conf_dir=conf_dir))


def check_run(cfg: DictConfig) -> Path | None:
    """Raise if the single run of the composed ``cfg`` (``hydra`` node included) cannot start:
    a value, a combination, its experiment's own checks, its inputs or its run directory.

    Returns:
        The run's directory, where it does not depend on the time; else None.
    """
    run_cfg = to_run_config(without_hydra(cfg))
    check_run_dir(Path(cfg.hydra.run.dir))
    ensure_fresh(Path(cfg.hydra.run.dir))
    check_experiment(run_cfg, cfg.hydra)
    check_callbacks(cfg.hydra)
    check_inputs(run_cfg, Path(cfg.hydra.run.dir))
    raw = OmegaConf.to_container(cfg.hydra.run, resolve=False)
    timed = isinstance(raw, dict) and "${now:" in str(raw.get("dir"))
    return None if timed else Path(cfg.hydra.run.dir)


def with_sweeper_params(overrides: Sequence[str], params: Mapping[str, str]) -> list[str]:
    """``hydra.sweeper.params`` (an experiment's grid, ``{key: "a,b"}``) as overrides, then
    ``overrides``; a key in both keeps the value of ``overrides``, as the sweeper does."""
    given = {ov.key_or_group for ov in OverridesParser.create().parse_overrides(list(overrides))}
    return [f"{k}={v}" for k, v in params.items() if k not in given] + list(overrides)


def check_experiment(cfg: Config, hydra_cfg: DictConfig) -> None:
    """Run the checks that an experiment registers for its runs.

    An experiment plugs into Hydra through its callbacks (``hydra.callbacks``); a callback
    class with a ``check_run(cfg, hydra_cfg)`` class method declares what a single run of its
    experiment needs before it starts (e.g. :class:`bnnrun.experiments.transfer.Pretrain`: the
    pretraining that only the sweep makes). Raises what the check raises.
    """
    for node in (hydra_cfg.get("callbacks") or {}).values():
        target = node.get("_target_") if node is not None else None
        check = getattr(get_class(target), "check_run", None) if target else None
        if check is not None:
            check(cfg, hydra_cfg)


def check_sweeper(sweeper: DictConfig) -> None:
    """Raise if bnnrun's sweeper has an impossible option: before Hydra starts the multirun,
    whose callbacks write into the sweep's directory (its command, a tracker's parent run)."""
    if str(sweeper.get("_target_", "")).endswith("BnnrunSweeper"):
        check_options(interval_points=sweeper.get("interval_points"), batch=sweeper.get("batch"))


def check_callbacks(hydra_cfg: DictConfig) -> None:
    """Raise if a callback of ``hydra.callbacks`` cannot work here: one whose class has a
    ``check_installed()`` class method (a tracker, :mod:`bnnrun.tracking`, whose package is an
    extra) raises what it raises, naming the extra to install."""
    for node in (hydra_cfg.get("callbacks") or {}).values():
        target = node.get("_target_") if node is not None else None
        check = getattr(get_class(target), "check_installed", None) if target else None
        if check is not None:
            check()


#: Data sets read from the user's own files, checked before a single run starts.
USER_FILES = ("table", "uci")
#: Data sets read from IDX files, whose headers are checked before a single run starts.
IDX_DATASETS = ("mnist", "fashion_mnist")


def check_inputs(cfg: Config, run_dir: Path) -> None:
    """Raise if the run directory holds a checkpoint this run may not continue or overwrite,
    if an informed prior's source is missing or holds unusable arrays, if the IDX files found
    for MNIST or Fashion-MNIST do not belong together (their headers), or if a user's data
    file (a table, a UCI directory) cannot be read or does not fit the likelihood."""
    # Imported here: they load JAX, which only a run that is about to start needs.
    from bnnrun.inference.checkpoint import check_resumable
    from bnnrun.model.informed import check_source

    check_resumable(run_dir, cfg)
    if isinstance(cfg.prior, InformedPriorConfig):
        check_source(cfg.prior.source)
    if cfg.dataset.name in IDX_DATASETS:  # headers only: the images take seconds to read
        from bnnrun.data.files import find_local
        from bnnrun.data.images import check_idx_folder

        folder = find_local(cfg.dataset.name, data_dir=cfg.dataset.data_dir)
        if folder is not None:  # else the run downloads them, or says where to put them
            check_idx_folder(folder)
    if cfg.dataset.name in USER_FILES:  # cheap to read, and the likeliest to be wrong
        from bnnrun.config.likelihood import check_likelihood
        from bnnrun.data import load_dataset

        data = load_dataset(cfg.dataset)
        check_likelihood(cfg.likelihood.kind, task=data.task, dataset=data.name)


def _fields(object_type: object) -> list[str]:
    if dataclasses.is_dataclass(object_type):
        return [f.name for f in dataclasses.fields(object_type)]
    return []


def did_you_mean(word: str, choices: Sequence[str], *, prefix: str = "") -> str:
    """``" (did you mean <prefix><choice>?)"`` for the choice closest to a mistyped ``word``
    (difflib's ratio at least 0.6), or ``""`` if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def describe_error(exc: BaseException) -> str:
    """One line for a config error from Hydra or OmegaConf: the key, and what is allowed."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        group, _, option = exc.missing_cfg_file.rpartition("/")
        if exc.options:
            return (
                f"unknown option {group}={option}{did_you_mean(option, exc.options)}; "
                f"{group} must be one of: {', '.join(sorted(exc.options))}"
            )
        return f"unknown config {exc.missing_cfg_file}"
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
    if isinstance(cause, OmegaConfBaseException):
        key = cause.full_key or cause.key or "?"
        first = (cause.msg or str(cause)).splitlines()[0]
        if isinstance(cause, ConfigKeyError) or "not in" in first:
            allowed = _fields(cause.object_type)
            where = key.rpartition(".")[0] or "the top level"
            hint = f"; keys of {where}: {', '.join(allowed)}" if allowed else ""
            parent, _, last = key.rpartition(".")
            guess = did_you_mean(last, allowed, prefix=f"{parent}." if parent else "")
            return f"unknown key '{key}'{guess}{hint}"
        return f"{key}: {first}"
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        name = str(exc.filename)
        shown = name if len(name) <= 120 else f"{name[:60]}...{name[-40:]} ({len(name)} characters)"
        return f"cannot use the path {shown!r}: {exc.strerror}"
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return re.sub(r"\s*Config search path:.*$", "", text) or type(exc).__name__
