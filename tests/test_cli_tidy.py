"""The ``bnnrun`` command's surface: ``--help`` lists only the groups a user chooses, shell
completion registers ``bnnrun``, a mistyped option, key or flag gets a "did you mean", and runs
and sweeps share one timestamp format."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from bnnrun.cli.precheck import did_you_mean
from bnnrun.config.compose import CONF_DIR, compose_config

#: Groups the defaults list fills in from another choice (written out here, not imported).
INTERNAL = {"hydra", "dataset_defaults", "experiment_prior", "experiment_inference"}
#: The one timestamp of run and sweep directories.
STAMP = "%Y-%m-%d_%H-%M-%S_%f"


def _help_groups(text: str) -> dict[str, list[str]]:
    block = text.split("== Configuration groups ==", 1)[1].split("== Config ==", 1)[0]
    lines = [line for line in block.splitlines() if re.match(r"^\w+: ", line)]
    return {g: opts.split(", ") for g, _, opts in (line.partition(": ") for line in lines)}


def test_help_lists_the_groups_a_user_chooses_and_no_internal_one(run_cli, tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = _help_groups(proc.stdout)
    on_disk = {
        p.name: sorted(f.stem for f in p.glob("*.yaml"))
        for p in CONF_DIR.iterdir()
        if p.is_dir() and any(p.glob("*.yaml"))
    }
    assert listed == {g: opts for g, opts in on_disk.items() if g not in INTERNAL}
    assert {"dataset", "prior", "inference", "experiment"} <= set(listed)
    for group in INTERNAL:
        assert group not in proc.stdout.split("== Config ==")[0]
    assert "seed: 0" in proc.stdout  # the config section is still there
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_shell_completion_registers_bnnrun(run_cli, tmp_path: Path, shell: str) -> None:
    # run_cli starts `python -m bnnrun`, as the bnnrun command re-executes itself.
    proc = run_cli("--shell-completion", f"install={shell}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r".*\bcomplete -o nospace -o default -F hydra_bash_completion bnnrun", last)
    assert "complete -p bnnrun" in proc.stdout and "complete -p python" not in proc.stdout


def test_shell_completion_answers_for_bnnrun(run_cli, tmp_path: Path) -> None:
    line = "bnnrun prior=lap"
    env = {"COMP_LINE": line, "COMP_POINT": str(len(line))}
    proc = run_cli("--shell-completion", "query=bash", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["prior=laplace"]


def test_did_you_mean_picks_the_closest_choice_or_none() -> None:
    assert did_you_mean("laplce", ["normal", "laplace", "cauchy"]) == " (did you mean laplace?)"
    assert did_you_mean("num_stpes", ["num_steps", "num_epochs"], prefix="inference.") == (
        " (did you mean inference.num_steps?)"
    )
    assert did_you_mean("zzz", ["normal", "laplace"]) == ""


@pytest.mark.parametrize(
    "args, hint",
    [
        (["prior=laplce"], "did you mean laplace?"),
        (["inference.num_stpes=5"], "did you mean inference.num_steps?"),
        (["prio=normal"], "did you mean prior?"),
        (["inference.optimizer.lrr=0.1"], "did you mean inference.optimizer.lr?"),
        (["-m", "prior=normal,laplce"], "did you mean laplace?"),
        (["--hlep"], "did you mean --help?"),
        (["+zzzz=1"], None),
    ],
)
def test_a_mistyped_option_key_or_flag_gets_one_line_with_the_closest(
    run_cli, tmp_path: Path, args: list[str], hint: str | None
) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnnrun: error: unknown"), proc.stderr
    if hint is None:
        assert "did you mean" not in lines[0]
    else:
        assert hint in lines[0]
    assert not (tmp_path / "outputs").exists()


def test_runs_and_sweeps_share_one_timestamp_format() -> None:
    cfg = compose_config(["name=x"], conf_dir=CONF_DIR)
    raw = OmegaConf.to_container(cfg.hydra, resolve=False)
    assert raw["run"]["dir"] == "outputs/runs/${name}/${now:" + STAMP + "}"
    assert raw["sweep"]["dir"] == "outputs/multirun/${now:" + STAMP + "}"
    for resolved in (Path(cfg.hydra.run.dir), Path(cfg.hydra.sweep.dir)):
        stamp = datetime.strptime(resolved.name, STAMP)
        assert abs((datetime.now() - stamp).total_seconds()) < 600
    assert Path(cfg.hydra.run.dir).parent == Path("outputs/runs/x")
    assert Path(cfg.hydra.sweep.dir).parent == Path("outputs/multirun")


def test_help_groups_outside_a_hydra_app_list_the_same_groups() -> None:
    from bnnrun.cli.app import help_groups

    lines = help_groups().splitlines()
    assert [line.partition(":")[0] for line in lines] == sorted(
        p.name for p in CONF_DIR.iterdir() if any(p.glob("*.yaml")) and p.name not in INTERNAL
    )
    assert "prior: cauchy, flat, informed, laplace, normal, student_t" in lines
