"""Config schemas: one dataclass per config-group option, registered in Hydra's ConfigStore.

Each YAML option in ``conf/<group>/`` starts from its schema
(``defaults: [/schema_<group>_<kind>@_here_]``), so Hydra rejects unknown keys and wrong types
while it composes the config. Value checks (a scale must be positive, a fraction must lie in
(0, 1), ...) live in ``__post_init__`` and run when :func:`to_run_config` turns the composed
config into these dataclasses. Checks that span groups (a flat prior has no scale for a
hyperprior to learn) live in :func:`check_choices`, so a sweep can tell an impossible
combination from a broken job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import MISSING, DictConfig, OmegaConf

from bnnrun.errors import ConfigError, InvalidCombination


def _require(ok: bool, key: str, allowed: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}={got!r} is not allowed: {key} must be {allowed}")


# --------------------------------------------------------------------------- dataset
@dataclass
class MoonsConfig:
    """Two interleaving half-circles (``sklearn.datasets.make_moons``)."""

    name: str = "moons"
    n_samples: int = 1000
    noise: float = 0.3
    test_fraction: float = 0.3
    standardize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.n_samples >= 4, "dataset.n_samples", "an integer >= 4", self.n_samples)
        _require(self.noise >= 0, "dataset.noise", ">= 0", self.noise)
        _require(
            0 < self.test_fraction < 1, "dataset.test_fraction", "in (0, 1)", self.test_fraction
        )


@dataclass
class CirclesConfig(MoonsConfig):
    """A large circle containing a smaller one (``sklearn.datasets.make_circles``)."""

    name: str = "circles"
    factor: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(0 < self.factor < 1, "dataset.factor", "in (0, 1)", self.factor)


#: Every image data set (digits, MNIST, Fashion-MNIST) has ten classes, labelled 0-9.
IMAGE_CLASSES = 10


def _check_classes(classes: list[int] | None, dataset: str) -> None:
    """``dataset.classes``: null, or at least two distinct labels of the data set."""
    if classes is None:
        return
    _require(
        len(classes) >= 2 and len(set(classes)) == len(classes),
        "dataset.classes",
        f"a list of at least 2 distinct classes of {dataset} (0-{IMAGE_CLASSES - 1}), or null",
        classes,
    )
    missing = [c for c in classes if not 0 <= c < IMAGE_CLASSES]
    if missing:
        raise ConfigError(
            f"dataset.classes={classes!r} is not allowed: {dataset} has no class "
            f"{', '.join(map(str, missing))}; its classes are 0-{IMAGE_CLASSES - 1}"
        )


@dataclass
class DigitsConfig:
    """scikit-learn's bundled 8x8 digits (1,797 images), split train / validation / test,
    stratified and seeded; pixels scaled from 0..16 to [0, 1].

    ``classes`` keeps only those digits, relabelled ``0 .. k-1`` in the order given, before
    the split (null: all ten); ``train_size`` keeps a stratified, seeded subset of that many
    training images (null: all).
    """

    name: str = "digits"
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    classes: list[int] | None = None
    train_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _require(
            0 < self.test_fraction < 1, "dataset.test_fraction", "in (0, 1)", self.test_fraction
        )
        _require(
            0 <= self.validation_fraction < 1 - self.test_fraction,
            "dataset.validation_fraction",
            "in [0, 1 - test_fraction)",
            self.validation_fraction,
        )
        _check_classes(self.classes, self.name)
        if self.train_size is not None:
            num_classes = IMAGE_CLASSES if self.classes is None else len(self.classes)
            _require(
                self.train_size >= num_classes,
                "dataset.train_size",
                f"an integer >= {num_classes} (one image per class: the subset is stratified) "
                "or null",
                self.train_size,
            )


@dataclass
class IDXImagesConfig:
    """MNIST-format images from the four gzipped IDX files (train and t10k, images and labels).

    The validation images are a seeded random subset of the training file; the test images are
    the t10k file. ``train_size`` and ``test_size`` keep a seeded random subset (null: all).
    ``classes`` keeps only those classes of both files, relabelled ``0 .. k-1`` in the order
    given, before anything else (so the sizes count images of those classes; null: all ten).
    Pixels are scaled from 0..255 to [0, 1].
    """

    name: str = MISSING
    data_dir: str | None = None
    download: bool = True
    validation_size: int = 10_000
    train_size: int | None = None
    test_size: int | None = None
    classes: list[int] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check_classes(self.classes, self.name)
        _require(
            0 <= self.validation_size < 60_000,
            "dataset.validation_size",
            "an integer in [0, 60000)",
            self.validation_size,
        )
        for key in ("train_size", "test_size"):
            value = getattr(self, key)
            if value is not None:
                _require(value >= 1, f"dataset.{key}", "an integer >= 1 or null", value)


#: Input shape ``(height, width, channels)`` of each image data set, by config name.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (8, 8, 1),
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
}


# --------------------------------------------------------------------------- architecture
class Activation(StrEnum):
    tanh = "tanh"
    relu = "relu"
    gelu = "gelu"
    elu = "elu"
    silu = "silu"
    sigmoid = "sigmoid"
    softplus = "softplus"


@dataclass
class MLPConfig:
    """Fully connected network; the output layer has one logit per class (softmax)."""

    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [5, 5])
    activation: Activation = Activation.tanh

    def __post_init__(self) -> None:
        for width in self.hidden:
            _require(width >= 1, "architecture.hidden", "a list of positive widths", self.hidden)


class Padding(StrEnum):
    same = "same"
    valid = "valid"


@dataclass
class CNNConfig:
    """Convolution + max-pool blocks, then dense layers (softmax output over the classes).

    One conv layer per entry of ``filters`` (``kernel x kernel``, stride 1, ``padding``), each
    followed by the activation and ``pool x pool`` max pooling; then one dense layer per entry
    of ``dense``. The defaults are the paper's MNIST network (with ``padding: valid``).
    """

    name: str = "cnn"
    filters: list[int] = field(default_factory=lambda: [32, 32])
    kernel: int = 5
    pool: int = 2
    padding: Padding = Padding.same
    dense: list[int] = field(default_factory=lambda: [64])
    activation: Activation = Activation.tanh

    def __post_init__(self) -> None:
        _require(
            len(self.filters) >= 1 and all(f >= 1 for f in self.filters),
            "architecture.filters",
            "a non-empty list of positive channel counts",
            self.filters,
        )
        _require(self.kernel >= 1, "architecture.kernel", "an integer >= 1", self.kernel)
        _require(self.pool >= 1, "architecture.pool", "an integer >= 1", self.pool)
        for width in self.dense:
            _require(width >= 1, "architecture.dense", "a list of positive widths", self.dense)


# --------------------------------------------------------------------------- prior
class PriorFamily(StrEnum):
    normal = "normal"
    laplace = "laplace"
    cauchy = "cauchy"
    student_t = "student_t"
    flat = "flat"
    informed = "informed"


#: Families with a location and a scale: those an informed prior can centre on a source.
LOCATION_SCALE_FAMILIES = ("normal", "laplace", "cauchy", "student_t")


@dataclass
class ScaledPriorConfig:
    """A location-scale prior on every weight and bias: normal, laplace or cauchy."""

    family: PriorFamily = MISSING
    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        _require(self.scale > 0, "prior.scale", "> 0", self.scale)


@dataclass
class StudentTPriorConfig(ScaledPriorConfig):
    family: PriorFamily = PriorFamily.student_t
    df: float = 3.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.df > 0, "prior.df", "> 0", self.df)


@dataclass
class FlatPriorConfig:
    """The improper uniform prior: log density 0 everywhere, no scale."""

    family: PriorFamily = PriorFamily.flat


@dataclass
class InformedPriorConfig:
    """A prior centred on pretrained weights (transfer learning by an informed prior).

    Every weight and bias of the ``layers`` it informs gets ``distribution(w0, scale)``, where
    ``w0`` is that parameter's value in ``source``: a bnnrun run directory (its posterior means,
    or MAP values for a ``delta`` guide; sample means for NUTS) or an ``.npz`` file with one
    array per parameter, named ``<layer>.<role>`` (e.g. ``layer1.w``). The other layers get
    ``distribution(loc, default_scale)``. A learned hyperprior replaces both scales.
    """

    family: PriorFamily = PriorFamily.informed
    distribution: PriorFamily = PriorFamily.normal
    source: str | None = None
    layers: list[str] | None = None
    scale: float = 1.0
    loc: float = 0.0
    default_scale: float = 1.0
    df: float = 3.0

    def __post_init__(self) -> None:
        _require(
            self.distribution.value in LOCATION_SCALE_FAMILIES,
            "prior.distribution",
            f"one of {', '.join(LOCATION_SCALE_FAMILIES)}",
            self.distribution.value,
        )
        _require(self.scale > 0, "prior.scale", "> 0", self.scale)
        _require(self.default_scale > 0, "prior.default_scale", "> 0", self.default_scale)
        _require(self.df > 0, "prior.df", "> 0", self.df)
        if self.layers is not None:
            _require(
                len(self.layers) > 0,
                "prior.layers",
                "a non-empty list of layer names, or null for every layer",
                self.layers,
            )


# --------------------------------------------------------------------------- hyperprior
class HyperpriorKind(StrEnum):
    fixed = "fixed"
    half_normal = "half_normal"
    half_cauchy = "half_cauchy"
    inverse_gamma = "inverse_gamma"


@dataclass
class FixedHyperpriorConfig:
    """A delta hyperprior: the prior's scale is the constant ``prior.scale``."""

    kind: HyperpriorKind = HyperpriorKind.fixed


@dataclass
class HalfHyperpriorConfig:
    """HalfNormal(scale) or HalfCauchy(scale) over each layer's prior scale.

    ``noncentered``: sample each weight as ``z ~ prior(0, 1)`` and set ``w = loc + s * z``
    (NumPyro's ``LocScaleReparam``), instead of ``w ~ prior(loc, s)``.
    """

    kind: HyperpriorKind = MISSING
    scale: float = 1.0
    noncentered: bool = False

    def __post_init__(self) -> None:
        _require(self.scale > 0, "hyperprior.scale", "> 0", self.scale)


@dataclass
class InverseGammaHyperpriorConfig:
    """InverseGamma(concentration, rate) over each layer's prior scale (``noncentered`` as
    for :class:`HalfHyperpriorConfig`)."""

    kind: HyperpriorKind = HyperpriorKind.inverse_gamma
    concentration: float = 1.0
    rate: float = 1.0
    noncentered: bool = False

    def __post_init__(self) -> None:
        _require(self.concentration > 0, "hyperprior.concentration", "> 0", self.concentration)
        _require(self.rate > 0, "hyperprior.rate", "> 0", self.rate)


# --------------------------------------------------------------------------- inference
class OptimizerName(StrEnum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"
    rmsprop = "rmsprop"
    adabelief = "adabelief"


class Schedule(StrEnum):
    constant = "constant"
    cosine = "cosine"
    exponential = "exponential"


@dataclass
class OptimizerConfig:
    """An optax optimizer. ``schedule`` decays ``lr`` to ``lr * final_lr_fraction`` by the end
    of the fit, after a linear warm-up of ``warmup_steps``; ``clip_norm`` clips the gradient."""

    name: OptimizerName = OptimizerName.adam
    lr: float = 1e-2
    schedule: Schedule = Schedule.constant
    warmup_steps: int = 0
    final_lr_fraction: float = 0.01
    clip_norm: float | None = None

    def __post_init__(self) -> None:
        _require(self.lr > 0, "inference.optimizer.lr", "> 0", self.lr)
        _require(
            self.warmup_steps >= 0, "inference.optimizer.warmup_steps", ">= 0", self.warmup_steps
        )
        _require(
            0 < self.final_lr_fraction <= 1,
            "inference.optimizer.final_lr_fraction",
            "in (0, 1]",
            self.final_lr_fraction,
        )
        if self.clip_norm is not None:
            _require(
                self.clip_norm > 0, "inference.optimizer.clip_norm", "> 0 or null", self.clip_norm
            )


class GuideName(StrEnum):
    normal = "normal"  # AutoNormal: mean-field Gaussian
    lowrank = "lowrank"  # AutoLowRankMultivariateNormal
    mvn = "mvn"  # AutoMultivariateNormal: full-rank Gaussian
    delta = "delta"  # AutoDelta: a point estimate (MAP; MLE with the flat prior)


class ElboName(StrEnum):
    Trace_ELBO = "Trace_ELBO"
    TraceMeanField_ELBO = "TraceMeanField_ELBO"


class LoopStrategy(StrEnum):
    """How the host drives SVI steps: ``scan`` compiles chunks of steps into one ``lax.scan``,
    ``step`` calls one jitted step per minibatch from Python; ``auto`` picks by measurement."""

    auto = "auto"
    scan = "scan"
    step = "step"


@dataclass
class SVIConfig:
    """Stochastic variational inference with an autoguide, fitted by an optax optimizer.

    The objective is the ELBO with its KL term weighted by ``beta`` (reached by a linear ramp
    over ``beta_warmup_steps``) and the log likelihood divided by ``temperature``.
    ``checkpoint_every`` writes the whole SVI state to ``checkpoint.npz`` at the first chunk
    boundary after every that many steps (null: never), so ``resume=true`` can continue it.
    """

    method: str = "svi"
    guide: GuideName = GuideName.normal
    rank: int | None = None
    elbo: ElboName = ElboName.Trace_ELBO
    num_steps: int = 50_000
    num_particles: int = 1
    beta: float = 1.0
    beta_warmup_steps: int = 0
    temperature: float = 1.0
    init_scale: float = 0.01
    batch_size: int | None = None
    num_predictive_samples: int = 500
    chunk_size: int = 1000
    checkpoint_every: int | None = 10_000
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    num_epochs: int | None = None
    warm_start_epochs: int = 0
    loop: LoopStrategy = LoopStrategy.auto

    def __post_init__(self) -> None:
        if self.rank is not None:
            _require(self.rank >= 1, "inference.rank", "an integer >= 1 or null", self.rank)
        _require(self.beta > 0, "inference.beta", "> 0", self.beta)
        _require(
            self.beta_warmup_steps >= 0,
            "inference.beta_warmup_steps",
            "an integer >= 0",
            self.beta_warmup_steps,
        )
        _require(self.temperature > 0, "inference.temperature", "> 0", self.temperature)
        if self.checkpoint_every is not None:
            _require(
                self.checkpoint_every >= 1,
                "inference.checkpoint_every",
                "an integer >= 1 or null",
                self.checkpoint_every,
            )
        _require(self.num_steps >= 1, "inference.num_steps", "an integer >= 1", self.num_steps)
        if self.num_epochs is not None:
            _require(
                self.num_epochs >= 1,
                "inference.num_epochs",
                "an integer >= 1 or null",
                self.num_epochs,
            )
        _require(
            self.warm_start_epochs >= 0,
            "inference.warm_start_epochs",
            "an integer >= 0",
            self.warm_start_epochs,
        )
        _require(
            self.warm_start_epochs == 0 or self.num_epochs is not None,
            "inference.warm_start_epochs",
            "0 unless inference.num_epochs is set (warm starts count epochs)",
            self.warm_start_epochs,
        )
        _require(
            self.num_particles >= 1,
            "inference.num_particles",
            "an integer >= 1",
            self.num_particles,
        )
        _require(self.init_scale > 0, "inference.init_scale", "> 0", self.init_scale)
        if self.batch_size is not None:
            _require(
                self.batch_size >= 1,
                "inference.batch_size",
                "an integer >= 1 or null",
                self.batch_size,
            )
        _require(
            self.num_predictive_samples >= 2,
            "inference.num_predictive_samples",
            "an integer >= 2",
            self.num_predictive_samples,
        )
        _require(self.chunk_size >= 1, "inference.chunk_size", "an integer >= 1", self.chunk_size)


class ChainMethod(StrEnum):
    sequential = "sequential"
    vectorized = "vectorized"


@dataclass
class NUTSConfig:
    """NumPyro's NUTS sampler: the reference posterior for small networks.

    ``num_chains`` chains of ``num_warmup`` adaptation steps and ``num_samples`` kept draws;
    the predictive uses every kept draw. ``temperature`` divides the log likelihood, as in SVI.
    """

    method: str = "nuts"
    num_warmup: int = 1000
    num_samples: int = 1000
    num_chains: int = 4
    chain_method: ChainMethod = ChainMethod.sequential
    target_accept_prob: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = False
    temperature: float = 1.0

    def __post_init__(self) -> None:
        _require(self.num_warmup >= 1, "inference.num_warmup", "an integer >= 1", self.num_warmup)
        _require(
            self.num_samples >= 2, "inference.num_samples", "an integer >= 2", self.num_samples
        )
        _require(self.num_chains >= 1, "inference.num_chains", "an integer >= 1", self.num_chains)
        _require(
            0 < self.target_accept_prob < 1,
            "inference.target_accept_prob",
            "in (0, 1)",
            self.target_accept_prob,
        )
        _require(
            1 <= self.max_tree_depth <= 20,
            "inference.max_tree_depth",
            "an integer in [1, 20]",
            self.max_tree_depth,
        )
        _require(self.temperature > 0, "inference.temperature", "> 0", self.temperature)


# --------------------------------------------------------------------------- top level
@dataclass
class RuntimeConfig:
    """Where and how JAX runs. ``cpu_threads`` sizes XLA's CPU thread pool (null: all cores)."""

    platform: str | None = None
    cpu_threads: int | None = None
    compilation_cache: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        _require(
            self.platform in (None, "cpu", "gpu", "cuda", "tpu"),
            "runtime.platform",
            "one of null, cpu, gpu, cuda, tpu",
            self.platform,
        )
        if self.cpu_threads is not None:
            _require(
                self.cpu_threads >= 1,
                "runtime.cpu_threads",
                "an integer >= 1 or null",
                self.cpu_threads,
            )


@dataclass
class AnalysisConfig:
    """What is computed from the posterior predictive after the fit."""

    grid_size: int = 100
    data_chunk: int = 4096
    sample_chunk: int | None = None
    max_chunk_mb: int = 512
    num_images: int = 12

    def __post_init__(self) -> None:
        _require(self.grid_size >= 2, "analysis.grid_size", "an integer >= 2", self.grid_size)
        _require(self.data_chunk >= 1, "analysis.data_chunk", "an integer >= 1", self.data_chunk)
        if self.sample_chunk is not None:
            _require(
                self.sample_chunk >= 1,
                "analysis.sample_chunk",
                "an integer >= 1 or null",
                self.sample_chunk,
            )
        _require(
            self.max_chunk_mb >= 1, "analysis.max_chunk_mb", "an integer >= 1", self.max_chunk_mb
        )
        _require(self.num_images >= 1, "analysis.num_images", "an integer >= 1", self.num_images)


@dataclass
class Config:
    """The whole run. Group nodes are typed by their option's own schema."""

    dataset: Any = MISSING
    architecture: Any = MISSING
    prior: Any = MISSING
    hyperprior: Any = MISSING
    inference: Any = MISSING
    seed: int = 0
    name: str = MISSING
    resume: bool = False
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    ood: Any = None

    def __post_init__(self) -> None:
        _require(self.seed >= 0, "seed", "an integer >= 0", self.seed)


SCHEMAS: dict[str, dict[str, type]] = {
    "dataset": {
        "moons": MoonsConfig,
        "circles": CirclesConfig,
        "digits": DigitsConfig,
        "idx": IDXImagesConfig,
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
