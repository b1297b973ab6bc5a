"""Config schemas, one module per config group (mirroring ``conf/<group>/``), their registry in
Hydra's ConfigStore, and loading a composed or saved config into typed dataclasses.
"""

from __future__ import annotations

from bnnrun.config.analysis import (
    AnalysisConfig,
)
from bnnrun.config.architecture import (
    Activation,
    CNNConfig,
    MLPConfig,
    Padding,
)
from bnnrun.config.dataset import (
    IMAGE_CLASSES,
    IMAGE_SHAPES,
    CirclesConfig,
    DigitsConfig,
    IDXImagesConfig,
    MoonsConfig,
)
from bnnrun.config.hyperprior import (
    FixedHyperpriorConfig,
    HalfHyperpriorConfig,
    HyperpriorKind,
    InverseGammaHyperpriorConfig,
)
from bnnrun.config.inference import (
    ChainMethod,
    ElboName,
    GuideName,
    LoopStrategy,
    NUTSConfig,
    OptimizerConfig,
    OptimizerName,
    Schedule,
    SVIConfig,
)
from bnnrun.config.load import (
    absent_key,
    config_from_record,
    load_config,
    to_run_config,
)
from bnnrun.config.prior import (
    LOCATION_SCALE_FAMILIES,
    FlatPriorConfig,
    InformedPriorConfig,
    PriorFamily,
    ScaledPriorConfig,
    StudentTPriorConfig,
)
from bnnrun.config.registry import (
    DISCRIMINATORS,
    SCHEMAS,
    check_choices,
    register_configs,
    schema_name,
)
from bnnrun.config.runtime import (
    RuntimeConfig,
)
from bnnrun.config.schema import (
    Config,
)

__all__ = [
    "DISCRIMINATORS",
    "IMAGE_CLASSES",
    "IMAGE_SHAPES",
    "LOCATION_SCALE_FAMILIES",
    "SCHEMAS",
    "Activation",
    "AnalysisConfig",
    "CNNConfig",
    "ChainMethod",
    "CirclesConfig",
    "Config",
    "DigitsConfig",
    "ElboName",
    "FixedHyperpriorConfig",
    "FlatPriorConfig",
    "GuideName",
    "HalfHyperpriorConfig",
    "HyperpriorKind",
    "IDXImagesConfig",
    "InformedPriorConfig",
    "InverseGammaHyperpriorConfig",
    "LoopStrategy",
    "MLPConfig",
    "MoonsConfig",
    "NUTSConfig",
    "OptimizerConfig",
    "OptimizerName",
    "Padding",
    "PriorFamily",
    "RuntimeConfig",
    "SVIConfig",
    "ScaledPriorConfig",
    "Schedule",
    "StudentTPriorConfig",
    "absent_key",
    "check_choices",
    "config_from_record",
    "load_config",
    "register_configs",
    "schema_name",
    "to_run_config",
]
