"""The ``log_likelihood`` group of ``posterior.nc``: each draw's log density of each TRAINING
target the posterior was fitted to (what PSIS-LOO leaves out one at a time), checked against
SciPy and against ArviZ's own NumPyro converter; ArviZ's ``loo`` and ``compare`` on runs;
``bnnrun-compare --loo``, which ranks runs by ELPD-LOO and refuses runs fitted to different
data; and the commands' quiet exit when their stdout's reader has gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import make_config, recorded_draws
from scipy import special, stats

from bnnrun.analysis import inference_data
from bnnrun.cli.compare import main as compare_cli
from bnnrun.pipeline.compare import compare_loo
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import load_run

#: A few posterior draws checked by hand (of the 16 that debug=smoke keeps).
DRAWS = [0, 7, 15]
#: ArviZ's PSIS warning, which ``loo_table`` reports in its ``warning`` column instead.
PARETO = "Estimated shape parameter of Pareto"


def _outputs_of(out: np.ndarray):
    """A stand-in network output: inputs are row numbers, ``out`` ``[S, N, K]`` their outputs."""
    return lambda x: out[:, x[:, 0]]


@pytest.mark.parametrize(
    "kind, learned",
    [
        ("categorical", False),
        ("gaussian", False),
        ("gaussian", True),
        ("student_t", False),
        ("student_t", True),
        ("heteroscedastic", False),
    ],
)
def test_pointwise_log_likelihood_is_scipys_log_density(kind: str, learned: bool) -> None:
    rng = np.random.default_rng(0)
    s, n = 5, 23
    width = {"categorical": 3, "heteroscedastic": 2}.get(kind, 1)
    out = rng.normal(size=(s, n, width)).astype(np.float32)
    x = np.arange(n)[:, None]
    hp = {"scale": 0.3, "df": 4.0, "min_scale": 1e-3}
    precision = rng.uniform(0.5, 3.0, size=s).astype(np.float32) if learned else None
    if kind == "categorical":
        y = rng.integers(0, 3, size=n)
        want = special.log_softmax(out.astype(np.float64), axis=-1)[:, np.arange(n), y]
    else:
        y = rng.normal(size=n).astype(np.float32)  # standardised targets, as the model sees them
        loc = out[..., 0].astype(np.float64)
        if kind == "heteroscedastic":
            sigma = np.logaddexp(0.0, out[..., 1].astype(np.float64)) + 1e-3  # softplus
        elif learned:
            sigma = np.broadcast_to(precision.astype(np.float64)[:, None] ** -0.5, (s, n))
        else:
            sigma = np.full((s, n), 0.3)
        if kind == "student_t":
            want = stats.t.logpdf(y, 4.0, loc, sigma)
        else:
            want = stats.norm.logpdf(y, loc, sigma)
    got = inference_data.pointwise_log_likelihood(
        _outputs_of(out),
        x,
        y,
        kind=kind,
        hp={k: jnp.float32(v) for k, v in hp.items()},
        precision=precision,
        chunk=7,  # four chunks, the last one short
    )
    assert got.shape == (s, n) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_an_svi_posterior_is_one_chain_and_raises_no_chain_shape_warning(tmp_path: Path) -> None:
    import arviz as az

    rng = np.random.default_rng(1)
    draws = {"layer1.w": rng.normal(size=(30, 2, 3)), "_auto_latent": rng.normal(size=(30, 9))}
    ll = rng.normal(size=(30, 4))  # more draws than training points: S x N read as chains warns
    y_train = np.array([0, 1, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ArviZ's "More chains than draws" among them
        idata = inference_data.from_draws(
            draws, y_observed=y_train, log_likelihood=ll, observed_digest="abc"
        )
        path = tmp_path / "posterior.nc"
        idata.to_netcdf(str(path))
        back = az.from_netcdf(str(path))
    got = back.log_likelihood["y"]
    assert got.dims == ("chain", "draw", "train_point") and got.shape == (1, 30, 4)
    np.testing.assert_array_equal(got.values[0], ll)
    assert back.log_likelihood.attrs["observed_data_sha256"] == "abc"
    # observed_data is the same points, along the same dimension.
    assert back.observed_data["y"].dims == ("train_point",)
    np.testing.assert_array_equal(back.observed_data["y"].values, y_train)
    assert back.posterior.sizes["chain"] == 1 and back.posterior.sizes["draw"] == 30
    assert "_auto_latent" not in back.posterior
    # An S x N array taken as chain x draw warns: the check above can fail.
    with pytest.warns(UserWarning, match="More chains"):
        az.from_dict(log_likelihood={"y": ll})


def test_a_log_likelihood_over_other_points_than_observed_data_is_refused() -> None:
    draws = {"layer1.w": np.zeros((6, 2))}
    with pytest.raises(ValueError, match="5 points, observed_data 4"):
        inference_data.from_draws(
            draws, y_observed=np.zeros(4), log_likelihood=np.zeros((6, 5)), observed_digest="a"
        )


def test_the_training_set_digest_tells_training_sets_apart() -> None:
    x, y = np.zeros((3, 2), np.float32), np.array([0, 1, 1])
    same = inference_data.digest_of_training_set(x.copy(), y.copy())
    assert len(same) == 64 and int(same, 16) >= 0  # SHA-256, hex
    assert inference_data.digest_of_training_set(x, y) == same
    assert inference_data.digest_of_training_set(x, np.array([0, 1, 0])) != same
    assert inference_data.digest_of_training_set(x[:2], y[:2]) != same
    assert inference_data.digest_of_training_set(x.astype(np.float64), y) != same
    assert inference_data.digest_of_training_set(x.reshape(2, 3), y) != same


def test_nuts_chains_get_the_log_likelihood_arviz_own_converter_computes() -> None:
    """``from_mcmc`` with :func:`pointwise_log_likelihood`'s numbers, chain after chain, is
    the ``log_likelihood`` (and ``observed_data``) that ArviZ's NumPyro converter writes."""
    import arviz as az
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    from bnnrun.model.likelihoods import observation

    hp = {"scale": jnp.float32(0.5)}
    rng = np.random.default_rng(2)
    x = rng.normal(size=(9, 1)).astype(np.float32)
    y = (1.5 * x[:, 0] + 0.5 * rng.normal(size=9)).astype(np.float32)

    def model(x: jax.Array, y: jax.Array) -> None:
        w = numpyro.sample("w", dist.Normal(0.0, 1.0))
        with numpyro.plate("data", len(y)):
            numpyro.sample("y", observation("gaussian", w * x, hp, precision=None), obs=y)

    mcmc = MCMC(
        NUTS(model),
        num_warmup=20,
        num_samples=12,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0), x, y)
    w = np.asarray(mcmc.get_samples()["w"])  # chain after chain, [24]
    ll = inference_data.pointwise_log_likelihood(
        lambda xs: w[:, None, None] * xs[None], x, y, kind="gaussian", hp=hp, chunk=4
    )
    np.testing.assert_allclose(  # SciPy's density, independently
        ll, stats.norm.logpdf(y, w[:, None].astype(np.float64) * x[:, 0], 0.5), atol=1e-5
    )
    ours = inference_data.from_mcmc(mcmc, log_likelihood=ll.reshape(2, 12, 9), observed_digest="d")
    theirs = az.from_numpyro(mcmc, dims={}, log_likelihood=True)
    np.testing.assert_allclose(
        ours.log_likelihood["y"].values, theirs.log_likelihood["y"].values, rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(ours.observed_data["y"].values, y)
    assert ours.observed_data["y"].dims == ours.log_likelihood["y"].dims[2:] == ("train_point",)
    assert ours.log_likelihood.attrs["observed_data_sha256"] == "d"
    assert ours.posterior.sizes["chain"] == 2 and "sample_stats" in ours.groups()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two SVI classifiers fitted to the same data (seeds 0 and 1), a regression, and a
    classifier that writes no log-likelihood."""
    made = {}
    for name, overrides in {
        "a": ["debug=smoke"],
        "b": ["debug=smoke", "seed=1", "prior=laplace"],
        "reg": ["debug=smoke", "dataset=toy_regression"],
        "noll": ["debug=smoke", "analysis.log_likelihood=false"],
    }.items():
        run_dir = tmp_path_factory.mktemp(name)
        assert execute(make_config(*overrides), run_dir)["status"] == "ok"
        made[name] = run_dir
    return made


def test_analysis_log_likelihood_false_writes_the_posterior_without_it(runs: dict) -> None:
    idata = _idata(runs["noll"])
    assert "log_likelihood" not in idata.groups()
    assert {"posterior", "observed_data"} <= set(idata.groups())


def _idata(run_dir: Path):
    import arviz as az

    return az.from_netcdf(run_dir / "posterior.nc")


def _loo(idata) -> object:
    import arviz as az

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="More chains")
        warnings.filterwarnings("ignore", message=PARETO)
        return az.loo(idata)


def test_an_svi_run_writes_each_draws_log_softmax_of_the_true_training_class(runs: dict) -> None:
    run_dir = runs["a"]
    run = load_run(run_dir)
    d = run.data
    few = {k: v[DRAWS] for k, v in recorded_draws(run_dir).items()}
    logits = run.outputs(few, d.x_train).astype(np.float64)  # [3, N_train, C]
    want = special.log_softmax(logits, axis=-1)[:, np.arange(len(d.y_train)), d.y_train]
    idata = _idata(run_dir)
    ll = idata.log_likelihood["y"].values
    assert ll.shape == (1, 16, len(d.y_train)) and len(d.y_train) != len(d.y_test)
    np.testing.assert_allclose(ll[0, DRAWS], want, rtol=1e-5, atol=1e-5)
    # observed_data: the same points, the training targets.
    np.testing.assert_array_equal(idata.observed_data["y"].values, d.y_train)
    assert idata.log_likelihood.attrs["observed_data_sha256"] == (
        inference_data.digest_of_training_set(d.x_train, d.y_train)
    )
    loo = _loo(idata)
    assert loo["n_data_points"] == len(d.y_train) and loo["n_samples"] == 16
    # PSIS-LOO's harmonic-mean weights never exceed the training points' own log predictive
    # density, sum_n log mean_s p_s(y_n | x_n).
    lpd = special.logsumexp(ll[0], axis=0) - np.log(ll.shape[1])
    assert np.isfinite(loo["elpd_loo"]) and loo["elpd_loo"] <= lpd.sum() + 1e-6
    assert loo["p_loo"] == pytest.approx(lpd.sum() - loo["elpd_loo"])


def test_a_regression_run_writes_the_gaussian_log_density_of_its_standardised_targets(
    runs: dict,
) -> None:
    run_dir = runs["reg"]
    run = load_run(run_dir)
    d = run.data
    few = {k: v[DRAWS] for k, v in recorded_draws(run_dir).items()}
    mean = run.outputs(few, d.x_train)[..., 0].astype(np.float64)
    sigma = few["noise_precision"].astype(np.float64) ** -0.5  # learned noise (the default)
    # In the units the model saw, as observed_data holds them: standardised.
    idata = _idata(run_dir)
    y = idata.observed_data["y"].values
    np.testing.assert_allclose(y, (d.y_original(d.y_train) - d.y_loc) / d.y_scale, atol=1e-5)
    want = stats.norm.logpdf(y, mean, sigma[:, None])
    np.testing.assert_allclose(
        idata.log_likelihood["y"].values[0, DRAWS], want, rtol=1e-5, atol=1e-5
    )


def test_az_compare_ranks_two_runs_by_elpd_loo(runs: dict) -> None:
    table = compare_loo([runs["a"], runs["b"]])
    assert set(table.index) == {str(runs["a"]), str(runs["b"])}
    # Each run's ELPD-LOO is ArviZ's loo of its own posterior.nc; best first.
    elpd = {str(r): _loo(_idata(r))["elpd_loo"] for r in (runs["a"], runs["b"])}
    for name, row in table.iterrows():
        assert row["elpd_loo"] == pytest.approx(elpd[name])
    assert table["elpd_loo"].is_monotonic_decreasing and list(table["rank"]) == [0, 1]
    assert table["elpd_diff"].iloc[0] == 0.0
    assert table["elpd_diff"].iloc[1] == pytest.approx(
        table["elpd_loo"].iloc[0] - table["elpd_loo"].iloc[1]
    )


def test_bnnrun_compare_loo_prints_the_table_and_writes_it_as_csv(
    runs: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ranked.csv"
    code = compare_cli(["--loo", str(runs["a"]), str(runs["b"]), "--output", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.err == ""  # no warning from ArviZ or pandas
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["run", "rank", "elpd_loo"]
    assert set(table["run"]) == {str(runs["a"]), str(runs["b"])}
    assert table["elpd_loo"].iloc[0] >= table["elpd_loo"].iloc[1]
    best, second = table["run"]
    lines = printed.out.splitlines()
    assert lines[0].split()[:2] == ["rank", "elpd_loo"]  # the printed table, best first
    assert lines[-3].startswith(best) and lines[-2].startswith(second)
    assert lines[-1] == f"written to {out}"


def test_bnnrun_compare_loo_runs_as_a_command(runs: dict, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bnnrun.cli.compare", "--loo", str(runs["a"]), str(runs["b"])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"},
    )
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(tmp_path / "loo_compare.csv")) == 2  # the default --output


def _copy_with_attrs(run_dir: Path, to: Path, attrs: dict[str, str]) -> Path:
    """A copy of the finished ``run_dir`` whose log_likelihood group has only ``attrs``."""
    shutil.copytree(run_dir, to)
    idata = _idata(run_dir)
    idata.log_likelihood.attrs.clear()
    idata.log_likelihood.attrs.update(attrs)
    (to / "posterior.nc").unlink()
    idata.to_netcdf(str(to / "posterior.nc"))
    return to


@pytest.fixture(scope="module")
def altered(runs: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of run ``a``: one as if fitted to its data with one label flipped, and one as
    written before the log likelihood was of the training points."""
    run = load_run(runs["a"])
    x, y = run.data.x_train, run.data.y_train.copy()
    y[0] = 1 - y[0]
    root = tmp_path_factory.mktemp("altered")
    digest = inference_data.digest_of_training_set(x, y)
    return {
        "flipped": _copy_with_attrs(runs["a"], root / "flipped", {"observed_data_sha256": digest}),
        "old": _copy_with_attrs(runs["a"], root / "old", {"test_set_sha256": "0" * 64}),
    }


@pytest.mark.parametrize(
    "which, expected",
    [
        (("a", "reg"), "fitted to different training data (84 and"),
        (("a", "flipped"), "fitted to different training data (84 and 84 points"),
        (("a", "old"), "has no log_likelihood of the training points"),
        (("a", "noll"), "run with analysis.log_likelihood=false"),
        (("a",), "at least two runs"),
        (("a", "a"), "given twice"),
        (("a", "missing"), "not a finished bnnrun run"),
    ],
)
def test_bnnrun_compare_loo_refuses_bad_input_in_one_line(
    runs: dict,
    altered: dict,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    which: tuple[str, ...],
    expected: str,
) -> None:
    known = {**runs, **altered}
    paths = [str(known.get(w, tmp_path / w)) for w in which]
    try:
        code = compare_cli(["--loo", *paths, "--output", str(tmp_path / "t.csv")])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    printed = capsys.readouterr()
    assert code == 2
    assert printed.out == ""
    lines = printed.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnnrun-compare")
    assert expected in lines[0]
    assert not (tmp_path / "t.csv").exists()


def _into_a_closed_pipe(module: str, *args: str) -> subprocess.CompletedProcess:
    """``module``'s ``main`` with ``args``, its stdout a pipe whose reader has gone (``... |
    head`` once head has stopped reading): the read end is closed before it starts, so its
    first write to stdout always fails."""
    read, write = os.pipe()
    os.close(read)
    code = f"import sys; from {module} import main; sys.argv[0] = {module!r}; sys.exit(main())"
    try:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # else bnnrun re-executes itself
        )
    finally:
        os.close(write)


def test_bnnrun_help_into_a_closed_pipe_exits_without_a_traceback() -> None:
    proc = _into_a_closed_pipe("bnnrun.cli.main", "--help")  # Hydra's help, printed
    assert proc.stderr == ""  # no traceback, no "Exception ignored"
    assert proc.returncode == 1  # as Python exits on EPIPE


def test_bnnrun_compare_into_a_closed_pipe_exits_without_a_traceback(
    runs: dict, tmp_path: Path
) -> None:
    out = tmp_path / "t.csv"
    proc = _into_a_closed_pipe(
        "bnnrun.cli.compare", "--loo", str(runs["a"]), str(runs["b"]), "--output", str(out)
    )
    assert proc.stderr == "" and proc.returncode == 1
    assert len(pd.read_csv(out)) == 2  # written before the table was printed


def test_bnnrun_report_into_a_closed_pipe_exits_without_a_traceback(tmp_path: Path) -> None:
    from test_sweep_summary import fake_job, ok

    for seed in range(2):
        fake_job(tmp_path, prior="normal", hyperprior="fixed", seed=seed, metrics=ok(0.8))
    proc = _into_a_closed_pipe("bnnrun.cli.report", str(tmp_path))
    assert proc.stderr == "" and proc.returncode == 1
    assert (tmp_path / "summary.csv").is_file()  # the report was made; only its line was lost


@pytest.mark.slow
def test_a_nuts_run_writes_the_training_log_likelihood_chain_by_chain(runs: dict, tmp_path: Path):
    """A NUTS run's group is ArviZ's own (NumPyro's ``log_likelihood`` of the model over the
    training data, what the converter computes), and compares with an SVI run's."""
    from numpyro.infer import log_likelihood

    assert execute(make_config("debug=smoke_nuts"), tmp_path)["status"] == "ok"
    run = load_run(tmp_path)
    d = run.data
    idata = _idata(tmp_path)
    ll = idata.log_likelihood["y"].values
    assert ll.shape == (2, 50, len(d.y_train))
    np.testing.assert_array_equal(idata.observed_data["y"].values, d.y_train)
    for chain, draw in [(0, 0), (1, 3), (1, 49)]:
        one = {k: idata.posterior[k].values[chain, draw][None] for k in idata.posterior.data_vars}
        logits = run.outputs(one, d.x_train)[0].astype(np.float64)
        want = special.log_softmax(logits, axis=-1)[np.arange(len(d.y_train)), d.y_train]
        np.testing.assert_allclose(ll[chain, draw], want, rtol=1e-5, atol=1e-5)
    flat = {k: jnp.asarray(v.values.reshape(-1, *v.shape[2:])) for k, v in idata.posterior.items()}
    theirs = log_likelihood(run.model, flat, d.x_train, d.y_train, run.hp)["y"]
    np.testing.assert_allclose(ll, np.reshape(theirs, ll.shape), rtol=1e-5, atol=1e-5)
    assert np.isfinite(_loo(idata)["elpd_loo"])
    # The same training data as debug=smoke's SVI run: the two rank by ELPD-LOO.
    digest = _idata(runs["a"]).log_likelihood.attrs["observed_data_sha256"]
    assert idata.log_likelihood.attrs["observed_data_sha256"] == digest
    table = compare_loo([runs["a"], tmp_path])
    assert set(table.index) == {str(runs["a"]), str(tmp_path)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["student_t", "heteroscedastic"])
def test_other_regression_likelihoods_write_their_log_density(kind: str, tmp_path: Path) -> None:
    overrides = ["debug=smoke", "dataset=toy_regression", f"likelihood={kind}"]
    assert execute(make_config(*overrides), tmp_path)["status"] == "ok"
    run = load_run(tmp_path)
    d = run.data
    few = {k: v[DRAWS] for k, v in recorded_draws(tmp_path).items()}
    out = run.outputs(few, d.x_train).astype(np.float64)
    y = (d.y_original(d.y_train) - d.y_loc) / d.y_scale  # standardised, as the model saw it
    loc = out[..., 0]
    if kind == "student_t":
        sigma = few["noise_precision"].astype(np.float64)[:, None] ** -0.5
        want = stats.t.logpdf(y, run.cfg.likelihood.df, loc, sigma)
    else:
        sigma = np.logaddexp(0.0, out[..., 1]) + run.cfg.likelihood.min_scale
        want = stats.norm.logpdf(y, loc, sigma)
    got = _idata(tmp_path).log_likelihood["y"].values[0, DRAWS]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
