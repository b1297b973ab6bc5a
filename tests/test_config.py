"""Every option of every config group composes, and bad values are refused with a clear message."""

from __future__ import annotations

import pytest
from conftest import make_config

from bnnrun.config import Config, HyperpriorKind, PriorFamily
from bnnrun.config.compose import CONF_DIR, compose_config
from bnnrun.errors import ConfigError, InvalidCombination

GROUPS = [
    "dataset",
    "architecture",
    "prior",
    "hyperprior",
    "inference",
    "likelihood",
    "debug",
    "experiment",
]
OPTIONS = [
    (group, path.stem) for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))
]


def test_every_group_has_options() -> None:
    for group in GROUPS[:-1]:
        assert any(g == group for g, _ in OPTIONS), group


#: Options that compose only with values of their own (the file to read).
REQUIRED = {
    ("dataset", "table"): ["dataset.path=t.csv", "dataset.target=y"],
    ("dataset", "uci"): ["dataset.path=UCI_Datasets/yacht"],
    ("experiment", "uci"): ["dataset.path=UCI_Datasets/yacht"],
}
#: Regression data sets, and options that need one.
REGRESSION = {"uci", "toy_regression", "diabetes"}
NEEDS_REGRESSION = {("likelihood", k) for k in ("gaussian", "student_t", "heteroscedastic")}
#: Options that need images (the default data set, moons, has none).
NEEDS_IMAGES = {("architecture", "cnn")}


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes(group: str, option: str) -> None:
    overrides = [f"{group}={option}", *REQUIRED.get((group, option), [])]
    if (group, option) in NEEDS_REGRESSION:
        with pytest.raises(InvalidCombination, match="does not fit dataset=moons"):
            make_config(*overrides)
        overrides.append("dataset=toy_regression")
    if (group, option) in NEEDS_IMAGES:
        with pytest.raises(InvalidCombination, match="needs images, but dataset=moons"):
            make_config(*overrides)
        overrides.append("dataset=digits")
    cfg = make_config(*overrides)
    assert isinstance(cfg, Config)
    if group == "prior":
        assert cfg.prior.family is PriorFamily(option)
    if group == "hyperprior":
        assert cfg.hyperprior.kind is HyperpriorKind(option)
    if group == "dataset":
        assert cfg.dataset.name == option
    if group == "likelihood":
        assert cfg.likelihood.kind.value == option


@pytest.mark.parametrize("prior", [p.value for p in PriorFamily if p is not PriorFamily.flat])
@pytest.mark.parametrize("hyperprior", [h.value for h in HyperpriorKind])
def test_every_scaled_prior_takes_every_hyperprior(prior: str, hyperprior: str) -> None:
    cfg = make_config(f"prior={prior}", f"hyperprior={hyperprior}")
    assert cfg.prior.family.value == prior
    assert cfg.hyperprior.kind.value == hyperprior


def test_defaults_follow_the_paper() -> None:
    cfg = make_config()
    assert cfg.dataset.name == "moons"
    assert cfg.architecture.hidden == [5, 5]
    assert cfg.architecture.activation.value == "tanh"
    assert cfg.prior.family is PriorFamily.normal
    assert cfg.hyperprior.kind is HyperpriorKind.fixed
    assert cfg.inference.num_predictive_samples == 500
    assert round(cfg.dataset.n_samples * (1 - cfg.dataset.test_fraction)) == 700
    assert make_config("dataset=circles").dataset.factor == 0.2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("prior.scale=0", "prior.scale must be > 0"),
        ("prior.scale=-1", "prior.scale must be > 0"),
        ("inference.num_steps=0", "inference.num_steps must be an integer >= 1"),
        ("dataset.test_fraction=1.0", "dataset.test_fraction must be in (0, 1)"),
        ("dataset.test_fraction=0", "dataset.test_fraction must be in (0, 1)"),
        ("dataset.noise=-0.1", "dataset.noise must be >= 0"),
        ("hyperprior=inverse_gamma hyperprior.rate=0", "hyperprior.rate must be > 0"),
        ("inference.optimizer.lr=0", "inference.optimizer.lr must be > 0"),
        ("architecture.hidden=[5,0]", "architecture.hidden must be a list of positive widths"),
    ],
)
def test_impossible_values_are_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_config(*override.split())


@pytest.mark.parametrize("hyperprior", ["half_normal", "half_cauchy", "inverse_gamma"])
def test_flat_prior_with_learned_scale_is_refused(hyperprior: str) -> None:
    with pytest.raises(InvalidCombination, match="prior=flat has no scale"):
        make_config("prior=flat", f"hyperprior={hyperprior}")


def test_appended_unknown_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'prior\.bogus'"):
        make_config("+prior.bogus=1")


def test_every_experiment_inference_file_names_an_experiment_and_a_method() -> None:
    experiments = [p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")]
    methods = [p.stem for p in (CONF_DIR / "inference").glob("*.yaml")]
    files = sorted((CONF_DIR / "experiment_inference").glob("*.yaml"))
    assert files
    for path in files:
        pairs = [(e, m) for e in experiments for m in methods if path.stem == f"{e}_{m}"]
        # The defaults entry is optional, so a misnamed file would be skipped without a word.
        assert len(pairs) == 1, f"{path.name} names no <experiment>_<method> pair: {pairs}"
        experiment, method = pairs[0]
        overrides = [f"experiment={experiment}", f"inference={method}", "hydra.sweep.dir=sweep"]
        if experiment == "uci":
            overrides.append("dataset.path=/nonexistent")  # required; not read to compose
        composed = compose_config(overrides, conf_dir=CONF_DIR)
        assert composed.hydra.runtime.choices["experiment_inference"] == path.stem
        # Every experiment composes with every method, whichever has a file.
        for other in methods:
            make_config(*overrides[:1], f"inference={other}", *overrides[2:])


def _experiment_priors() -> list[tuple[str, str, str]]:
    """(file, experiment, prior) of every ``conf/experiment_prior/<experiment>_<prior>.yaml``."""
    experiments = [p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")]
    priors = [p.stem for p in (CONF_DIR / "prior").glob("*.yaml")]
    found = []
    for path in sorted((CONF_DIR / "experiment_prior").glob("*.yaml")):
        pairs = [(e, p) for e in experiments for p in priors if path.stem == f"{e}_{p}"]
        # The defaults entry is optional, so a misnamed file would be skipped without a word.
        assert len(pairs) == 1, f"{path.name} names no <experiment>_<prior> pair: {pairs}"
        found.append((path.stem, *pairs[0]))
    return found


@pytest.mark.parametrize(
    ("name", "experiment", "prior"), _experiment_priors(), ids=lambda v: str(v)
)
def test_experiment_prior_composes_with_its_experiment(
    name: str, experiment: str, prior: str
) -> None:
    from bnnrun.cli.precheck import compose_config
    from bnnrun.config.compose import CONF_DIR as conf

    overrides = [f"experiment={experiment}", f"prior={prior}", "hydra.sweep.dir=sweep"]
    composed = compose_config(overrides, conf_dir=conf)
    assert composed.hydra.runtime.choices["experiment_prior"] == name
    cfg = make_config(*overrides)
    assert cfg.prior.family is PriorFamily(prior)
    if prior == "informed":  # a transfer experiment's prior reads the sweep's pretraining
        pretrain = composed.hydra.callbacks.pretrain
        assert cfg.prior.source == pretrain.run_dir
        (source_experiment,) = [o for o in pretrain.overrides if o.startswith("experiment=")]
        make_config(source_experiment)  # the pretraining composes too
