"""From a composed or saved config to typed, validated dataclasses.

Value checks (a scale must be positive, a fraction must lie in (0, 1), ...) live in each
schema's ``__post_init__`` and run when :func:`to_run_config` turns the composed config into
dataclasses. Checks that span groups (a flat prior has no scale for a hyperprior to learn) live
in :func:`~bnnrun.config.registry.check_choices`, so a sweep can tell an impossible combination
from a broken job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from bnnrun.config.registry import DISCRIMINATORS, SCHEMAS, check_choices
from bnnrun.config.schema import Config
from bnnrun.errors import ConfigError

#: Groups added after runs were first recorded, with the node that such a run implies.
ADDED_GROUPS: dict[str, dict[str, Any]] = {
    "likelihood": {"kind": "auto"},
    "logger": {"kind": "none"},
}


def absent_key(overrides: Sequence[str]) -> tuple[str, str] | None:
    """``(group=option, group.key)`` if ``overrides`` set a key that the option they choose for
    that group lacks (``prior.scale=0.1`` with ``prior=flat``) while another option of the group
    has it; else None. In a sweep such a combination is impossible, not a typo: a typo is a key
    that no option of the group has, and it stays an error.
    """
    parsed = [
        ov for ov in OverridesParser.create().parse_overrides(list(overrides)) if not ov.is_delete()
    ]
    choices = {
        ov.key_or_group: str(ov.value()) for ov in parsed if ov.key_or_group in DISCRIMINATORS
    }
    for ov in parsed:
        key = ov.key_or_group
        group, _, name = key.partition(".")
        if group not in choices or not name:
            continue
        field_name = name.split(".")[0]
        schema = SCHEMAS[group].get(DISCRIMINATORS[group][1].get(choices[group], ""))
        has = {f.name for f in dataclasses.fields(schema)} if schema else None
        elsewhere = any(
            field_name in {f.name for f in dataclasses.fields(t)} for t in SCHEMAS[group].values()
        )
        if has is not None and field_name not in has and elsewhere:
            return f"{group}={choices[group]}", key
    return None


def _reject_unknown_keys(node: DictConfig, prefix: str) -> None:
    """Keys appended with ``+key=value`` bypass the schema; refuse them too."""
    kind = OmegaConf.get_type(node)
    allowed = {f.name for f in dataclasses.fields(kind)} if dataclasses.is_dataclass(kind) else None
    for key in node:
        full = f"{prefix}{key}"
        if allowed is not None and key not in allowed:
            raise ConfigError(
                f"unknown key '{full}'; keys of {prefix.rstrip('.') or 'the top level'}: "
                f"{', '.join(sorted(allowed))}"
            )
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _reject_unknown_keys(child, f"{full}.")


def to_run_config(cfg: DictConfig, *, check_combination: bool = True) -> Config:
    """Validate a composed config (without its ``hydra`` node) and return it as dataclasses.

    Raises:
        ConfigError: a value is impossible, or (if ``check_combination``) two choices cannot
            go together.
    """
    _reject_unknown_keys(cfg, "")
    try:
        run_cfg = OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf wraps __post_init__ errors in its own types
        cause = exc.__cause__ if isinstance(exc.__cause__, ConfigError) else None
        if cause is not None:
            raise cause from None
        raise
    if not isinstance(run_cfg, Config):
        raise ConfigError(
            "the config does not follow bnnrun's schema (was it composed from conf/?)"
        )
    if check_combination:
        check_choices(run_cfg)
    return run_cfg


def load_config(path: str | Path) -> Config:
    """Read a saved config (e.g. a run's ``.hydra/config.yaml``) back into typed dataclasses.

    A saved YAML has lost its schemas; each group node gets its schema back from the value of
    its discriminating field (``prior.family``, ``hyperprior.kind``, ...).
    """
    return _typed(OmegaConf.load(path), path)


def config_from_record(record: Mapping[str, Any], *, where: str | Path) -> Config:
    """The config a run recorded in its ``metrics.json`` (``asdict`` of its :class:`Config`,
    every value resolved), back as typed dataclasses. Unlike Hydra's ``.hydra/config.yaml``
    it holds no interpolations, such as ``${hydra:sweep.dir}``, that only the run could resolve.
    """
    return _typed(OmegaConf.create(dict(record)), where)


def _typed(saved: DictConfig, path: str | Path) -> Config:
    typed = OmegaConf.structured(Config)
    for group, (field_name, schemas) in DISCRIMINATORS.items():
        node = saved.get(group)
        if node is None and group in ADDED_GROUPS:  # recorded before the group existed
            node = OmegaConf.create(ADDED_GROUPS[group])
        value = None if node is None else node.get(field_name)
        if value not in schemas:
            raise ConfigError(f"{path}: {group}.{field_name}={value!r} is not a known option")
        schema = SCHEMAS[group][schemas[value]]
        typed[group] = OmegaConf.merge(OmegaConf.structured(schema), node)
    if saved.get("ood") is not None:  # optional: a dataset node, typed like `dataset`
        field_name, schemas = DISCRIMINATORS["dataset"]
        value = saved.ood.get(field_name)
        if value not in schemas:
            raise ConfigError(f"{path}: ood.{field_name}={value!r} is not a known option")
        typed["ood"] = OmegaConf.merge(
            OmegaConf.structured(SCHEMAS["dataset"][schemas[value]]), saved.ood
        )
    rest = {k: v for k, v in saved.items() if k not in (*DISCRIMINATORS, "ood")}
    return to_run_config(OmegaConf.merge(typed, rest))
