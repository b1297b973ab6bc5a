"""Likelihoods: each observation model's density against scipy's, the learned noise site, and
which likelihoods fit which task."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from conftest import make_config
from numpyro import handlers
from scipy import stats
from scipy.special import log_softmax

from bnnrun.config import Config
from bnnrun.config.likelihood import (
    CategoricalLikelihoodConfig,
    GaussianLikelihoodConfig,
    HeteroscedasticLikelihoodConfig,
    LikelihoodKind,
    StudentTLikelihoodConfig,
    check_likelihood,
    resolve_likelihood,
)
from bnnrun.errors import InvalidCombination
from bnnrun.model.bnn import BNN
from bnnrun.model.hparams import model_hparams
from bnnrun.model.likelihoods import (
    NOISE_SITE,
    likelihood_hparams,
    observation,
    output_size,
)
from bnnrun.model.nets import MLP

RNG = np.random.default_rng(0)
OUT = RNG.normal(size=(7, 2)).astype(np.float32)
Y = RNG.normal(size=7).astype(np.float32)


def test_output_size() -> None:
    assert output_size("categorical", num_classes=10) == 10
    assert output_size("gaussian", num_classes=0) == 1
    assert output_size("student_t", num_classes=0) == 1
    assert output_size("heteroscedastic", num_classes=0) == 2


def test_categorical_is_softmax_of_the_logits() -> None:
    labels = np.array([0, 1, 1, 0, 1, 0, 0])
    got = observation("categorical", jnp.asarray(OUT), {}, precision=None).log_prob(labels)
    want = log_softmax(OUT, axis=-1)[np.arange(7), labels]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_gaussian_with_fixed_noise_is_scipys_normal() -> None:
    hp = likelihood_hparams(GaussianLikelihoodConfig(kind=LikelihoodKind.gaussian, scale=0.3))
    got = observation("gaussian", jnp.asarray(OUT[:, :1]), hp, precision=None).log_prob(Y)
    np.testing.assert_allclose(got, stats.norm.logpdf(Y, OUT[:, 0], 0.3), rtol=1e-5)


def test_a_learned_precision_sets_the_scale() -> None:
    hp = likelihood_hparams(GaussianLikelihoodConfig(kind=LikelihoodKind.gaussian))
    got = observation("gaussian", jnp.asarray(OUT[:, :1]), hp, precision=jnp.float32(4.0))
    np.testing.assert_allclose(got.log_prob(Y), stats.norm.logpdf(Y, OUT[:, 0], 0.5), rtol=1e-5)


def test_student_t_is_scipys_t() -> None:
    cfg = StudentTLikelihoodConfig(kind=LikelihoodKind.student_t, df=3.0, scale=0.7)
    got = observation("student_t", jnp.asarray(OUT[:, :1]), likelihood_hparams(cfg), precision=None)
    want = stats.t.logpdf(Y, 3.0, loc=OUT[:, 0], scale=0.7)
    np.testing.assert_allclose(got.log_prob(Y), want, rtol=1e-5)


def test_heteroscedastic_scale_is_softplus_of_the_second_output() -> None:
    hp = likelihood_hparams(HeteroscedasticLikelihoodConfig(min_scale=0.01))
    got = observation("heteroscedastic", jnp.asarray(OUT), hp, precision=None).log_prob(Y)
    scale = np.log1p(np.exp(OUT[:, 1])) + 0.01
    np.testing.assert_allclose(got, stats.norm.logpdf(Y, OUT[:, 0], scale), rtol=1e-5)


def test_learned_noise_is_a_gamma_prior_site_and_scales_the_likelihood() -> None:
    cfg = make_config("dataset=toy_regression")
    lik = resolve_likelihood(cfg.likelihood, task="regression")
    model = BNN(
        net=MLP(sizes=(1, 3, 1)),
        prior="normal",
        hyperprior="fixed",
        num_data=5,
        likelihood="gaussian",
        learned_noise=True,
    )
    hp = model_hparams(cfg.prior, cfg.hyperprior, likelihood=lik)
    x, y = jnp.linspace(-1, 1, 5)[:, None], jnp.zeros(5)
    seeded = handlers.substitute(handlers.seed(model, 0), data={NOISE_SITE: jnp.float32(16.0)})
    tr = handlers.trace(seeded).get_trace(x, y, hp)
    prior = tr[NOISE_SITE]["fn"]
    assert (float(prior.concentration), float(prior.rate)) == (6.0, 6.0)  # PBP's Gamma(6, 6)
    np.testing.assert_allclose(tr["y"]["fn"].scale, np.full(5, 0.25), rtol=1e-6)


def test_auto_is_the_tasks_own_likelihood() -> None:
    auto = make_config().likelihood
    assert resolve_likelihood(auto, task="classification") == CategoricalLikelihoodConfig()
    regression = resolve_likelihood(auto, task="regression")
    assert regression.kind is LikelihoodKind.gaussian and regression.noise == "learned"


@pytest.mark.parametrize(
    ("kind", "task"),
    [
        (LikelihoodKind.gaussian, "classification"),
        (LikelihoodKind.heteroscedastic, "classification"),
        (LikelihoodKind.student_t, "classification"),
        (LikelihoodKind.categorical, "regression"),
    ],
)
def test_a_likelihood_that_does_not_fit_the_task_is_refused(
    kind: LikelihoodKind, task: str
) -> None:
    with pytest.raises(InvalidCombination, match=f"likelihood={kind.value} does not fit"):
        check_likelihood(kind, task=task, dataset="d")


def test_the_config_refuses_a_mismatch_before_anything_runs() -> None:
    with pytest.raises(InvalidCombination, match="likelihood=gaussian does not fit dataset=moons"):
        make_config("likelihood=gaussian")
    with pytest.raises(InvalidCombination, match="likelihood=categorical does not fit"):
        make_config("dataset=diabetes", "likelihood=categorical")
    assert isinstance(make_config("dataset=diabetes", "likelihood=student_t"), Config)


def test_a_classification_model_has_no_noise_site() -> None:
    cfg = make_config()
    model = BNN(net=MLP(sizes=(2, 3, 2)), prior="normal", hyperprior="fixed", num_data=4)
    hp = model_hparams(cfg.prior, cfg.hyperprior)
    assert "likelihood" not in hp
    tr = handlers.trace(handlers.seed(model, 0)).get_trace(
        jnp.zeros((4, 2)), jnp.zeros(4, jnp.int32), hp
    )
    assert NOISE_SITE not in tr
    assert isinstance(tr["y"]["fn"], dist.CategoricalLogits)
