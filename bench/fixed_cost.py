"""The fixed cost of a run: how long ``bnnrun`` takes when the fit itself takes no time.

Runs ``bnnrun inference.num_steps=1`` (the fixed cost) and the default 50,000-step run as
subprocesses, the way the ``bnnrun`` console script does (the entry point re-executes Python
with ``PYTHONHASHSEED=0``), with warm caches: one untimed warm-up run per source tree first,
JAX's persistent compilation cache where the runs keep it. With ``--baseline-tree PATH``
(another checkout of bnnrun, e.g. before a change) both trees are measured in this one
process, interleaved run by run, since these machines are shared and noisy; the report gives
the minimum and the median of the repeats' wall time, and their CPU time (user + system of the
whole process tree), which another job on the machine inflates less.

Where the time goes, per tree:

- ``timeline``: from the wall clock and the run directory's file times: ``startup`` (launch
  to Hydra's ``.hydra/config.yaml``: interpreters, imports, argument checks, composing the
  config), ``job_setup`` (from there to the start of the run proper: the pipeline's imports,
  JAX's set-up), ``run`` (``metrics.json``'s ``total_seconds``) and ``exit`` (interpreter
  shutdown after ``metrics.json``);
- ``stages``: ``metrics.json``'s timings, which both old and new runs record: ``svi_init``,
  ``compile``, ``steps`` (``fit_seconds`` less the two), ``predict`` (``predict_seconds``) and
  ``outputs`` (the rest of ``total_seconds``: data, model, figures, files);
- ``stage_seconds``: the finer laps that runs record since this benchmark exists;
- ``imports``: seconds of module imports during one run (``PYTHONPROFILEIMPORTTIME``, self
  times summed per top-level package; the profiler's overhead included).

The default runs' metrics of the two trees are compared too: the same config and seed must
give bit-identical numbers. Results go to ``bench/results/fixed_cost-cpu.json`` (without
``--baseline-tree``, the file's earlier ``before`` entry is kept, marked as such).

Usage: ``python bench/fixed_cost.py [--baseline-tree PATH] [--repeats 5]
[--default-repeats 3]`` (``make bench-fixed ARGS="--baseline-tree PATH"``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from bnnrun.runtime import cpu_model

REPO = Path(__file__).resolve().parents[1]
FIXED = ["inference.num_steps=1"]
DEFAULT: list[str] = []  # the default run: 50,000 SVI steps on moons
COMMON = ["runtime.progress=false"]
GOALS = {"fixed_cost": 2.0, "default_run": 5.0}
COMPARED = ("accuracy", "nll", "ece", "elbo_final")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline-tree", type=Path, help="another bnnrun checkout to compare with")
    p.add_argument("--repeats", type=int, default=5, help="timed fixed-cost runs per tree")
    p.add_argument("--default-repeats", type=int, default=3, help="timed default runs per tree")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    return p.parse_args()


def entry_point(tree: Path) -> str:
    """The module of the tree's ``bnnrun`` console script (``bnnrun.cli.main``, ...)."""
    scripts = tomllib.loads((tree / "pyproject.toml").read_text())["project"]["scripts"]
    return scripts["bnnrun"].split(":")[0]


def git_commit(tree: Path) -> str:
    """The tree's commit, with ``+changes`` if it has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


class Tree:
    """One bnnrun source tree, run as its console script would run it."""

    def __init__(self, label: str, path: Path, scratch: Path) -> None:
        self.label, self.path, self.scratch = label, path.resolve(), scratch
        self.entry = entry_point(self.path)
        self.runs = 0

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}  # as a user has it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.path), env.get("PYTHONPATH")]))
        return {**env, **extra}

    def run(self, overrides: list[str], **env: str) -> dict[str, Any]:
        """One run: its wall time, timeline and ``metrics.json``; exits if it fails."""
        self.runs += 1
        run_dir = self.scratch / f"{self.label}-{self.runs}"
        script = f"import sys; from {self.entry} import main; sys.exit(main())"
        cmd = [sys.executable, "-c", script, *COMMON, *overrides, f"hydra.run.dir={run_dir}"]
        launched, t0, cpu0 = time.time(), time.perf_counter(), cpu_seconds()
        proc = subprocess.run(
            cmd, cwd=self.path, env=self.env(**env), capture_output=True, text=True
        )
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        if proc.returncode != 0:
            sys.exit(f"{self.label}: {' '.join(overrides)} failed:\n{proc.stderr[-3000:]}")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        hydra_saved = (run_dir / ".hydra" / "config.yaml").stat().st_mtime
        finished = (run_dir / "metrics.json").stat().st_mtime
        run_start = finished - metrics["total_seconds"]
        timeline = {
            "startup": hydra_saved - launched,
            "job_setup": run_start - hydra_saved,
            "run": metrics["total_seconds"],
            "exit": launched + wall - finished,
        }
        return {
            "wall": wall,
            "cpu": cpu,
            "timeline": timeline,
            "metrics": metrics,
            "stderr": proc.stderr,
        }


def cpu_seconds() -> float:
    """User + system CPU time of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stages(metrics: dict[str, Any]) -> dict[str, float]:
    """The run's time by stage from the timings every version of ``metrics.json`` has."""
    fit, init, compile_ = (metrics[k] for k in ("fit_seconds", "init_seconds", "compile_seconds"))
    predict = metrics["predict_seconds"]
    return {
        "svi_init": init,
        "compile": compile_,
        "steps": fit - init - compile_,
        "predict": predict,
        "outputs": metrics["total_seconds"] - fit - predict,
    }


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "all": [round(v, 3) for v in values],
    }


def medians(dicts: list[dict[str, float]]) -> dict[str, float]:
    keys = dict.fromkeys(k for d in dicts for k in d)
    return {k: round(statistics.median(d.get(k, 0.0) for d in dicts), 3) for k in keys}


def import_seconds(tree: Tree) -> dict[str, Any]:
    """Seconds spent importing during one fixed-cost run, per top-level package."""
    out = tree.run(FIXED, PYTHONPROFILEIMPORTTIME="1")
    per: Counter[str] = Counter()
    for line in out["stderr"].splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            per[m[2].split(".")[0]] += int(m[1]) / 1e6
    top = {k: round(v, 3) for k, v in per.most_common(15)}
    return {"total": round(sum(per.values()), 3), "by_package": top}


def measure(trees: list[Tree], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    for tree in trees:  # warm-up: fills the compilation cache, the OS's file cache, ...
        print(f"warm-up: {tree.label} ({tree.path})", flush=True)
        tree.run(FIXED)
    fixed: dict[str, list[dict[str, Any]]] = {t.label: [] for t in trees}
    default: dict[str, list[dict[str, Any]]] = {t.label: [] for t in trees}
    for i in range(args.repeats):
        for tree in trees:
            out = tree.run(FIXED)
            fixed[tree.label].append(out)
            what = f"fixed cost  {tree.label:>6} #{i + 1}"
            print(f"{what}: {out['wall']:6.2f} s ({out['cpu']:.2f} s CPU)", flush=True)
    for i in range(args.default_repeats):
        for tree in trees:
            out = tree.run(DEFAULT)
            default[tree.label].append(out)
            print(f"default run {tree.label:>6} #{i + 1}: {out['wall']:6.2f} s", flush=True)
    results = {}
    for tree in trees:
        runs = fixed[tree.label]
        entry: dict[str, Any] = {
            "path": str(tree.path),
            "commit": git_commit(tree.path),
            "fixed_cost_seconds": summary([r["wall"] for r in runs]),
            "fixed_cost_cpu_seconds": summary([r["cpu"] for r in runs]),
            "timeline_median": medians([r["timeline"] for r in runs]),
            "stages_median": medians([stages(r["metrics"]) for r in runs]),
        }
        if all("stage_seconds" in r["metrics"] for r in runs):
            entry["stage_seconds_median"] = medians([r["metrics"]["stage_seconds"] for r in runs])
        entry["imports"] = import_seconds(tree)
        if default[tree.label]:
            runs = default[tree.label]
            entry["default_run_seconds"] = summary([r["wall"] for r in runs])
            entry["default_run_cpu_seconds"] = summary([r["cpu"] for r in runs])
            entry["default_run_stages_median"] = medians([stages(r["metrics"]) for r in runs])
            entry["default_run_metrics"] = {k: runs[0]["metrics"][k] for k in COMPARED}
        results[tree.label] = entry
    return results


def report(results: dict[str, dict[str, Any]]) -> None:
    labels = list(results)
    print(f"\n{'seconds (median)':<28}" + "".join(f"{k:>10}" for k in labels))

    def row(name: str, values: list[float | None]) -> None:
        cells = "".join(f"{'-' if v is None else f'{v:.2f}':>10}" for v in values)
        print(f"{name:<28}{cells}")

    row("fixed cost: min", [r["fixed_cost_seconds"]["min"] for r in results.values()])
    row("fixed cost: median", [r["fixed_cost_seconds"]["median"] for r in results.values()])
    row(
        "fixed cost: CPU (median)",
        [r["fixed_cost_cpu_seconds"]["median"] for r in results.values()],
    )
    for part in ("timeline_median", "stages_median"):
        keys = dict.fromkeys(k for r in results.values() for k in r[part])
        for k in keys:
            row(f"  {part.split('_')[0]}: {k}", [r[part].get(k) for r in results.values()])
    row("  imports (profiled)", [r["imports"]["total"] for r in results.values()])
    if all("default_run_seconds" in r for r in results.values()):
        row("default run: min", [r["default_run_seconds"]["min"] for r in results.values()])
        row("default run: median", [r["default_run_seconds"]["median"] for r in results.values()])
    last = results[labels[-1]]
    if "stage_seconds_median" in last:
        print(f"\n{labels[-1]}: stage_seconds (median of the fixed-cost runs)")
        for k, v in last["stage_seconds_median"].items():
            print(f"  {k:<16}{v:6.3f}")
    for label, r in results.items():
        print(f"{label} imports by package: {r['imports']['by_package']}")


def main() -> None:
    args = parse()
    load_before = os.getloadavg()
    path = args.out / "fixed_cost-cpu.json"
    with tempfile.TemporaryDirectory(prefix="bnnrun-fixed-cost-") as tmp:
        trees = [Tree("after", REPO, Path(tmp))]
        if args.baseline_tree is not None:
            trees.insert(0, Tree("before", args.baseline_tree, Path(tmp)))
        results = measure(trees, args)
    import jax

    result: dict[str, Any] = {
        "benchmark": "fixed_cost",
        "command": "python bench/fixed_cost.py " + " ".join(sys.argv[1:]),
        "runs": {
            "fixed_cost": "bnnrun inference.num_steps=1 runtime.progress=false",
            "default_run": "bnnrun runtime.progress=false (50,000 SVI steps on moons)",
        },
        "repeats": {"fixed_cost": args.repeats, "default_run": args.default_repeats},
        "goal_seconds": GOALS,
        "machine": {
            "cpu": cpu_model(),
            "cores": len(os.sched_getaffinity(0)),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {"jax": jax.__version__, "python": sys.version.split()[0]},
        **results,
    }
    if "before" in results:
        a, b = results["before"], results["after"]
        if "default_run_metrics" in a and "default_run_metrics" in b:
            result["default_run_metrics_identical"] = (
                a["default_run_metrics"] == b["default_run_metrics"]
            )
    elif path.is_file():  # keep the last measured baseline, saying so
        earlier = json.loads(path.read_text())
        if "before" in earlier:
            result["before"] = {**earlier["before"], "measured": "in an earlier run of this bench"}
    report(results)
    if "default_run_metrics_identical" in result:
        print(f"default run metrics bit-identical: {result['default_run_metrics_identical']}")
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
