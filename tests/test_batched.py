"""Many fits as one program: each member agrees with its fit alone, a diverging or failing
member spoils no other, jobs are grouped by structure, and ``inference.restarts`` keeps the
best of its fits."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import make_config

from bnnrun.data import load_dataset
from bnnrun.errors import ModelError
from bnnrun.inference.batched import fit_svi_members
from bnnrun.inference.epochs import fit_epochs, fit_epochs_members
from bnnrun.inference.program import fit_svi
from bnnrun.pipeline.batch import batch_key, fit_key
from bnnrun.pipeline.reload import build_model

STEPS = ("inference.num_steps=300", "inference.chunk_size=100")


def _built(*overrides: str):
    cfg = make_config(*STEPS, *overrides)
    data = load_dataset(cfg.dataset)
    return cfg, data, build_model(cfg, data)


def _alone(cfg, data, built, seed: int):
    return fit_svi(
        built.program,
        data.x_train,
        data.y_train,
        built.hp,
        key=fit_key(seed),
        num_steps=cfg.inference.num_steps,
        chunk_size=cfg.inference.chunk_size,
    )


def _assert_same_fit(a, b) -> None:
    assert a.status == b.status == "ok"
    assert a.num_steps == b.num_steps
    # float32 sums in another order under vmap: agreement to rounding, not bit for bit
    np.testing.assert_allclose(a.elbo, b.elbo, rtol=2e-5)
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-4, atol=1e-5)


def test_members_agree_with_their_fits_alone() -> None:
    """Members differing in seed and in the prior's scale (a traced number) end where each
    fit alone ends."""
    cfg, data, built = _built()
    _, _, wide = _built("prior.scale=3.0")
    assert wide.program is built.program  # one structure, one program
    members = [(built, 0), (built, 1), (wide, 0)]
    together = fit_svi_members(
        built.program,
        data.x_train,
        data.y_train,
        [b.hp for b, _ in members],
        keys=[fit_key(s) for _, s in members],
        num_steps=300,
        chunk_size=100,
    )
    for (b, seed), fit in zip(members, together, strict=True):
        _assert_same_fit(fit, _alone(cfg, data, b, seed))
    # and the members really differ: not one fit copied
    assert not np.allclose(together[0].elbo, together[1].elbo)
    assert not np.allclose(together[0].elbo, together[2].elbo)


def test_a_diverging_member_spoils_no_other() -> None:
    """beta = 1e35 makes the ELBO overflow at step 2 (alone too); the members beside it
    finish as they would alone."""
    cfg, data, built = _built()
    _, _, bad = _built("inference.beta=1e35")
    alone_bad = _alone(cfg, data, bad, 0)
    assert alone_bad.status == "diverged"
    together = fit_svi_members(
        built.program,
        data.x_train,
        data.y_train,
        [built.hp, bad.hp, built.hp],
        keys=[fit_key(0), fit_key(0), fit_key(1)],
        num_steps=300,
        chunk_size=100,
    )
    assert together[1].status == "diverged"
    assert together[1].diverged_at == alone_bad.diverged_at == 2
    assert together[1].num_steps == 2 and together[1].params == {}
    _assert_same_fit(together[0], _alone(cfg, data, built, 0))
    _assert_same_fit(together[2], _alone(cfg, data, built, 1))


def test_a_member_that_cannot_start_is_left_out() -> None:
    """beta = 1e37 makes the initial log density infinite: that member gets its error, the
    other fits."""
    cfg, data, built = _built()
    _, _, bad = _built("inference.beta=1e37")
    with pytest.raises(ModelError):
        _alone(cfg, data, bad, 0)
    together = fit_svi_members(
        built.program,
        data.x_train,
        data.y_train,
        [bad.hp, built.hp],
        keys=[fit_key(0), fit_key(0)],
        num_steps=300,
        chunk_size=100,
    )
    assert isinstance(together[0], ModelError)
    _assert_same_fit(together[1], _alone(cfg, data, built, 0))


@pytest.mark.slow
def test_epoch_members_with_a_warm_start_agree_with_their_fits_alone() -> None:
    """Minibatch epochs, each member shuffling by its own seed, after a MAP warm start."""
    cfg, data, built = _built(
        "inference.num_epochs=3", "inference.batch_size=100", "inference.warm_start_epochs=1"
    )
    hps, seeds = [built.hp, built.hp], [0, 3]
    together = fit_epochs_members(
        cfg,
        data,
        model=built.model,
        hps=hps,
        program=built.program,
        keys=[fit_key(s) for s in seeds],
    )
    for seed, fit in zip(seeds, together, strict=True):
        alone = fit_epochs(
            cfg, data, model=built.model, hp=built.hp, program=built.program, key=fit_key(seed)
        )
        _assert_same_fit(fit.warm_start, alone.warm_start)
        _assert_same_fit(fit.fit, alone.fit)
        assert fit.fit.num_steps == 3 * (len(data.y_train) // 100)


@pytest.mark.slow
def test_members_of_a_lowrank_guide_agree_with_their_fits_alone() -> None:
    """The guides over one flat latent vector start eagerly; their members too."""
    cfg, data, built = _built("inference.guide=lowrank")
    together = fit_svi_members(
        built.program,
        data.x_train,
        data.y_train,
        [built.hp, built.hp],
        keys=[fit_key(0), fit_key(2)],
        num_steps=300,
        chunk_size=100,
    )
    for seed, fit in zip((0, 2), together, strict=True):
        _assert_same_fit(fit, _alone(cfg, data, built, seed))


@pytest.mark.slow
def test_cnn_members_agree_with_their_fits_alone() -> None:
    """A CNN by epochs (on a GPU its jobs fit together; on CPU the sweeper keeps them apart,
    :func:`~bnnrun.pipeline.batch.fits_alone`, but the program is the same)."""
    cfg, data, built = _built(
        "dataset=digits", "architecture=cnn", "debug=smoke_images", "inference.num_epochs=1"
    )
    together = fit_epochs_members(
        cfg, data, model=built.model, hps=[built.hp] * 2, program=built.program,
        keys=[fit_key(0), fit_key(1)],
    )  # fmt: skip
    for seed, fit in zip((0, 1), together, strict=True):
        alone = fit_epochs(
            cfg, data, model=built.model, hp=built.hp, program=built.program, key=fit_key(seed)
        )
        _assert_same_fit(fit.fit, alone.fit)


@pytest.mark.parametrize(
    "numbers",
    [
        ("seed=7",),
        ("prior.scale=0.3",),
        ("prior.loc=0.5",),
        ("hyperprior=inverse_gamma", "hyperprior.rate=3.0"),
        ("inference.beta=0.5", "inference.temperature=0.7"),
        ("analysis.grid_size=20", "inference.num_predictive_samples=50"),
    ],
)
def test_runs_differing_only_in_numbers_share_a_batch_key(numbers: tuple[str, ...]) -> None:
    base = ("hyperprior=inverse_gamma",) if numbers[0].startswith("hyperprior") else ()
    assert batch_key(make_config(*base)) == batch_key(make_config(*numbers))


@pytest.mark.parametrize(
    "structure",
    [
        ("architecture.hidden=[5,6]",),
        ("prior=laplace",),
        ("hyperprior=half_cauchy",),
        ("inference.guide=lowrank",),
        ("inference.num_steps=999",),
        ("inference.optimizer.lr=0.02",),
        ("dataset=circles",),
        ("dataset.noise=0.45",),
        ("dataset.seed=4",),
    ],
)
def test_a_structural_change_never_shares_a_batch(structure: tuple[str, ...]) -> None:
    assert batch_key(make_config()) != batch_key(make_config(*structure))


@pytest.mark.parametrize(
    "alone",
    [
        ("inference=nuts",),
        ("inference.restarts=2",),
        ("resume=true",),
        ("dataset=digits", "architecture=cnn"),  # on CPU (the tests' backend)
    ],
)
def test_runs_that_fit_alone_have_no_batch_key(alone: tuple[str, ...]) -> None:
    assert batch_key(make_config(*alone)) is None


def _metrics(root: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(root.glob("*/metrics.json")):
        out[path.parent.name] = json.loads(path.read_text())
    return out


@pytest.mark.slow
def test_a_batched_sweep_matches_the_same_sweep_job_by_job(run_cli, tmp_path: Path) -> None:
    """The same grid, fitted together and one job at a time: the same files in every job
    directory and the same metrics to float tolerance; one job's divergence stays its own."""
    grid = ["-m", "seed=0,1", "inference.beta=1.0,1e35", *STEPS, "runtime.progress=false"]
    batched = run_cli(*grid, f"hydra.sweep.dir={tmp_path / 'b'}")
    alone = run_cli(*grid, "hydra.sweeper.batch=1", f"hydra.sweep.dir={tmp_path / 'a'}")
    # two jobs diverge, so both sweeps exit 1
    assert batched.returncode == alone.returncode == 1, batched.stderr + alone.stderr
    assert "fitting 4 jobs together" in batched.stderr + batched.stdout
    b, a = _metrics(tmp_path / "b"), _metrics(tmp_path / "a")
    assert b.keys() == a.keys() and len(b) == 4
    for job in b:
        files_b = {p.name for p in (tmp_path / "b" / job).iterdir()}
        files_a = {p.name for p in (tmp_path / "a" / job).iterdir()}
        assert files_b == files_a, job
        assert b[job]["status"] == a[job]["status"]
        assert b[job]["batch_members"] == 4 and "batch_members" not in a[job]
        if "1e+35" in job:
            assert b[job]["status"] == "diverged" and b[job]["diverged_at"] == 2
            continue
        for k in ("accuracy", "nll", "ece", "elbo_final"):
            assert b[job][k] == pytest.approx(a[job][k], rel=1e-4, abs=1e-4), (job, k)


@pytest.mark.slow  # 50 s on 2 cores: three CLI runs
def test_restarts_keep_the_best_final_elbo(run_cli, tmp_path: Path) -> None:
    """Restart 0 is the fit the run makes without restarts; the run keeps the restart with the
    highest final ELBO and reports its metrics."""
    common = [*STEPS, "hyperprior=inverse_gamma", "runtime.progress=false"]
    out = run_cli(*common, "inference.restarts=3", f"hydra.run.dir={tmp_path / 'three'}")
    assert out.returncode == 0, out.stderr
    m3 = json.loads((tmp_path / "three" / "metrics.json").read_text())
    restarts = m3["restarts"]
    assert [r["restart"] for r in restarts] == [0, 1, 2]
    elbos = [r["elbo_final"] for r in restarts]
    assert len(set(elbos)) == 3  # different initialisations
    best = int(np.argmax(elbos))
    assert m3["restart_chosen"] == best and restarts[best]["chosen"]
    assert sum(r["chosen"] for r in restarts) == 1
    assert m3["elbo_final"] == pytest.approx(elbos[best], rel=1e-6)
    assert m3["accuracy"] == pytest.approx(restarts[best]["accuracy"], abs=1e-12)
    # restart 0 against the same run's fit alone, in this process
    cfg, data, built = _built("hyperprior=inverse_gamma")
    alone = _alone(cfg, data, built, cfg.seed)
    assert elbos[0] == pytest.approx(float(alone.elbo[-100:].mean()), rel=1e-4)


def test_bad_batch_and_restarts_are_one_line_and_exit_2(run_cli, tmp_path: Path) -> None:
    for args, words in [
        (("inference.restarts=0",), "inference.restarts must be an integer >= 1"),
        (("-m", "seed=0,1", "hydra.sweeper.batch=0"), "hydra.sweeper.batch=0 is not allowed"),
        (("-m", "seed=0,1", "hydra.sweeper.batch=two"), "hydra.sweeper.batch"),
    ]:
        out = run_cli(*args, f"hydra.run.dir={tmp_path / 'r'}", f"hydra.sweep.dir={tmp_path}/s")
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, out.stderr)
        assert "Traceback" not in out.stdout + out.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_keys_of_members_are_the_keys_of_runs() -> None:
    """A member's fit key is the one execute gives the run with that seed."""
    key_fit, _ = jax.random.split(jax.random.PRNGKey(5))
    assert np.array_equal(jax.random.key_data(fit_key(5)), jax.random.key_data(key_fit))
