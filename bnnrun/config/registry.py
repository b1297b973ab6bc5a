"""The schemas in Hydra's ConfigStore, and the checks that span config groups.

Each YAML option in ``conf/<group>/`` starts from its schema
(``defaults: [/schema_<group>_<kind>@_here_]``), so Hydra rejects unknown keys and wrong types
while it composes the config. :data:`SCHEMAS` maps each group's options to their dataclass;
:data:`DISCRIMINATORS` tells, from a saved node's own field, which schema it follows.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from bnnrun.config.architecture import CNNConfig, MLPConfig
from bnnrun.config.dataset import (
    IMAGE_SHAPES,
    CirclesConfig,
    DiabetesConfig,
    DigitsConfig,
    IDXImagesConfig,
    MoonsConfig,
    TableConfig,
    ToyRegressionConfig,
    UCIConfig,
    configured_task,
)
from bnnrun.config.hyperprior import (
    FixedHyperpriorConfig,
    HalfHyperpriorConfig,
    HyperpriorKind,
    InverseGammaHyperpriorConfig,
)
from bnnrun.config.inference import NUTSConfig, SVIConfig
from bnnrun.config.likelihood import (
    AutoLikelihoodConfig,
    CategoricalLikelihoodConfig,
    GaussianLikelihoodConfig,
    HeteroscedasticLikelihoodConfig,
    LikelihoodKind,
    StudentTLikelihoodConfig,
    check_likelihood,
)
from bnnrun.config.logger import (
    LoggerKind,
    MLflowLoggerConfig,
    NoLoggerConfig,
    TensorBoardLoggerConfig,
)
from bnnrun.config.prior import (
    FlatPriorConfig,
    InformedPriorConfig,
    PriorFamily,
    ScaledPriorConfig,
    StudentTPriorConfig,
)
from bnnrun.config.schema import Config
from bnnrun.errors import InvalidCombination

SCHEMAS: dict[str, dict[str, type]] = {
    "dataset": {
        "moons": MoonsConfig,
        "circles": CirclesConfig,
        "digits": DigitsConfig,
        "idx": IDXImagesConfig,
        "table": TableConfig,
        "uci": UCIConfig,
        "toy_regression": ToyRegressionConfig,
        "diabetes": DiabetesConfig,
    },
    "architecture": {"mlp": MLPConfig, "cnn": CNNConfig},
    "prior": {
        "scaled": ScaledPriorConfig,
        "student_t": StudentTPriorConfig,
        "flat": FlatPriorConfig,
        "informed": InformedPriorConfig,
    },
    "hyperprior": {
        "fixed": FixedHyperpriorConfig,
        "half": HalfHyperpriorConfig,
        "inverse_gamma": InverseGammaHyperpriorConfig,
    },
    "inference": {"svi": SVIConfig, "nuts": NUTSConfig},
    "likelihood": {
        "auto": AutoLikelihoodConfig,
        "categorical": CategoricalLikelihoodConfig,
        "gaussian": GaussianLikelihoodConfig,
        "student_t": StudentTLikelihoodConfig,
        "heteroscedastic": HeteroscedasticLikelihoodConfig,
    },
    "logger": {
        "none": NoLoggerConfig,
        "mlflow": MLflowLoggerConfig,
        "tensorboard": TensorBoardLoggerConfig,
    },
}


#: Which schema a saved group node follows, by the value of its discriminating field.
DISCRIMINATORS: dict[str, tuple[str, dict[str, str]]] = {
    "dataset": (
        "name",
        {
            "moons": "moons",
            "circles": "circles",
            "digits": "digits",
            "mnist": "idx",
            "fashion_mnist": "idx",
            "table": "table",
            "uci": "uci",
            "toy_regression": "toy_regression",
            "diabetes": "diabetes",
        },
    ),
    "architecture": ("name", {"mlp": "mlp", "cnn": "cnn"}),
    "prior": (
        "family",
        {
            "normal": "scaled",
            "laplace": "scaled",
            "cauchy": "scaled",
            "student_t": "student_t",
            "flat": "flat",
            "informed": "informed",
        },
    ),
    "hyperprior": (
        "kind",
        {
            "fixed": "fixed",
            "half_normal": "half",
            "half_cauchy": "half",
            "inverse_gamma": "inverse_gamma",
        },
    ),
    "inference": ("method", {"svi": "svi", "nuts": "nuts"}),
    "likelihood": ("kind", {kind.value: kind.value for kind in LikelihoodKind}),
    "logger": ("kind", {kind.value: kind.value for kind in LoggerKind}),
}


def register_configs() -> None:
    """Store the schemas in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    # Stored outside any group so that `bnnrun --help` lists only the real options.
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            cs.store(name=schema_name(group, name), node=node)


def schema_name(group: str, option: str) -> str:
    """ConfigStore name of a schema, used in YAML as ``/<name>@_here_``."""
    return f"schema_{group}_{option}"


def check_choices(cfg: Config) -> None:
    """Raise :class:`InvalidCombination` for choices that are valid alone but not together."""
    if cfg.prior.family is PriorFamily.flat and cfg.hyperprior.kind is not HyperpriorKind.fixed:
        raise InvalidCombination(
            f"prior=flat has no scale, so hyperprior={cfg.hyperprior.kind.value} has nothing to "
            "learn: use hyperprior=fixed with the flat prior, or a prior with a scale "
            "(normal, laplace, cauchy, student_t)"
        )
    if cfg.architecture.name == "cnn" and cfg.dataset.name not in IMAGE_SHAPES:
        raise InvalidCombination(
            f"architecture=cnn needs images, but dataset={cfg.dataset.name} has inputs that are "
            f"not images: use architecture=mlp, or an image dataset "
            f"({', '.join(IMAGE_SHAPES)})"
        )
    task = configured_task(cfg.dataset)
    if task is not None:  # else the data decide, once read (a table with task=auto)
        check_likelihood(cfg.likelihood.kind, task=task, dataset=cfg.dataset.name)
    if cfg.resume and cfg.inference.method != "svi":
        raise InvalidCombination(
            f"resume=true continues an SVI run from its checkpoint; inference="
            f"{cfg.inference.method} writes none: drop resume=true"
        )
    if cfg.ood is not None:
        shape, ood_shape = IMAGE_SHAPES.get(cfg.dataset.name), IMAGE_SHAPES[cfg.ood.name]
        if shape != ood_shape:
            what = "inputs that are not images" if shape is None else f"{shape} images"
            raise InvalidCombination(
                f"ood={cfg.ood.name} has {ood_shape} images but dataset={cfg.dataset.name} has "
                f"{what}: out-of-distribution inputs must have the training inputs' shape"
            )
