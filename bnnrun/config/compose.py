"""Compose a config from ``conf/`` with Hydra's compose API, exactly as ``bnnrun`` does.

For a notebook or a script::

    cfg = bnnrun.compose(["dataset=circles", "prior=laplace"])   # a typed, validated Config
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from bnnrun.config.load import to_run_config
from bnnrun.config.registry import register_configs
from bnnrun.config.schema import Config


def conf_dir() -> Path:
    """``conf/`` of a source checkout, or the copy an installed wheel carries in the package."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"bnnrun's conf/ directory is missing (looked beside {package})")


CONF_DIR = conf_dir()


def compose_config(overrides: Sequence[str], *, conf_dir: Path = CONF_DIR) -> DictConfig:
    """The config Hydra composes for ``overrides``, including its ``hydra`` node.

    It also becomes Hydra's current config, so that ``${hydra:...}`` values (e.g. the
    transfer experiments' ``${hydra:sweep.dir}``) resolve as they will in the run.
    """
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3", job_name="bnnrun"):
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def without_hydra(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` without its ``hydra`` node, keeping the structured type."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def compose(overrides: Sequence[str] = ()) -> Config:
    """The typed, validated config of ``bnnrun OVERRIDES`` (e.g. ``["prior=laplace"]``).

    Raises:
        ConfigError: a value or a combination is not allowed.
    """
    return to_run_config(without_hydra(compose_config(overrides)))
