"""Quality of the image defaults, as a user gets them from the command line.

    python bench/quality.py                  # both; writes bench/results/quality.json
    python bench/quality.py --only digits    # one of them
    python bench/quality.py -- prior.scale=1 # extra overrides for every run

Targets (issue 5): the paper's CNN on Fashion-MNIST with its default settings, in at most 10
epochs on a 2-core CPU: accuracy >= 0.90, NLL <= 0.29, ECE <= 0.015; the CNN on digits: accuracy
>= 0.97. Exit code 1 if a target is missed. Needs the Fashion-MNIST files (Debian's
dataset-fashion-mnist, or see docs/images.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bnnrun.runtime import cpu_model

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

#: name -> (command-line overrides, targets: metric -> (comparison, bound))
RUNS: dict[str, tuple[list[str], dict[str, tuple[str, float]]]] = {
    "fashion_mnist": (
        # The paper's CNN with the default normal(0, 1) prior (the paper's own 0.1; docs/images.md).
        ["experiment=paper_mnist", "dataset=fashion_mnist", "prior.scale=1.0"],
        {"accuracy": (">=", 0.90), "nll": ("<=", 0.29), "ece": ("<=", 0.015)},
    ),
    "digits": (["dataset=digits", "architecture=cnn"], {"accuracy": (">=", 0.97)}),
}
REPORTED = [
    "accuracy",
    "nll",
    "ece",
    "brier",
    "val_accuracy",
    "val_nll",
    "val_ece",
    "confident_mistakes",
    "expected_error_rate",
    "num_steps",
    "warm_start_steps",
    "warm_start_seconds",
    "fit_seconds",
    "compile_seconds",
    "steps_per_second",
    "predict_seconds",
    "total_seconds",
]


def run(name: str, extra: list[str], out_root: Path) -> dict:
    overrides, targets = RUNS[name]
    run_dir = out_root / name
    cmd = [sys.executable, "-m", "bnnrun", *overrides, *extra, "runtime.progress=false"]
    command = "bnnrun " + " ".join(cmd[3:])
    cmd.append(f"hydra.run.dir={run_dir}")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"command": command, "status": "failed", "exit_code": proc.returncode}
    m = json.loads((run_dir / "metrics.json").read_text())
    checks = {
        k: (m[k] >= bound if op == ">=" else m[k] <= bound) for k, (op, bound) in targets.items()
    }
    return {
        "command": command,
        "run_dir": str(run_dir),
        "status": m["status"],
        **{k: m.get(k) for k in REPORTED},
        "train_seconds": (m.get("warm_start_seconds") or 0.0) + m["fit_seconds"],
        "wall_seconds": wall,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "targets": {k: f"{op} {bound}" for k, (op, bound) in targets.items()},
        "meets": checks,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=sorted(RUNS), action="append", help="run just these")
    p.add_argument("--out", type=Path, default=BENCH / "results" / "quality.json")
    p.add_argument("extra", nargs="*", help="overrides added to every run")
    args = p.parse_args()
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out_root = REPO / "outputs" / "bench" / f"quality-{stamp}"
    result = {
        "hardware": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "runs": {name: run(name, args.extra, out_root) for name in args.only or RUNS},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    ok = True
    for name, r in result["runs"].items():
        if r["status"] != "ok":
            print(f"{name}: {r['status']}")
            ok = False
            continue
        marks = ", ".join(
            f"{k} {r[k]:.4f} ({'ok' if good else 'MISSED'} {r['targets'][k]})"
            for k, good in r["meets"].items()
        )
        print(f"{name}: {marks}; train {r['train_seconds']:.0f} s, wall {r['wall_seconds']:.0f} s")
        ok &= all(r["meets"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
