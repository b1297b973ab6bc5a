"""Per run of the LOO example: PSIS-LOO's numbers per training point, its Pareto-k diagnostics,
and the test set's NLL beside them (docs/inference.md, "Ranking runs by LOO").

Run from the directory holding the runs (normal, laplace, nuts):
``python <this file> normal laplace nuts --output loo_details.csv``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from bnnrun.analysis.inference_data import _arviz


def details(run: Path) -> dict[str, float | int | str]:
    """One run's row: ELPD-LOO and its SE (in total and per training point), ``p_loo``, the
    training points' own log predictive density, the Pareto k's, and the test NLL."""
    az = _arviz()
    idata = az.from_netcdf(run / "posterior.nc")
    ll = idata.log_likelihood["y"].values  # [chains, draws, N_train]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        loo = az.loo(idata, pointwise=True)
    flat = ll.reshape(-1, ll.shape[-1])
    lpd = logsumexp(flat, axis=0) - np.log(len(flat))  # log mean_s p_s(y_n | x_n)
    k = np.asarray(loo["pareto_k"])
    metrics = json.loads((run / "metrics.json").read_text())
    n = ll.shape[-1]
    return {
        "run": run.name,
        "num_draws": len(flat),
        "num_train": n,
        "elpd_loo": float(loo["elpd_loo"]),
        "elpd_loo_se": float(loo["se"]),
        "elpd_loo_per_point": float(loo["elpd_loo"]) / n,
        "elpd_loo_per_point_se": float(loo["se"]) / n,
        "p_loo": float(loo["p_loo"]),
        "lpd_train_per_point": float(lpd.mean()),
        "pareto_k_max": float(k.max()),
        "pareto_k_threshold": float(loo["good_k"]),
        "num_k_above_threshold": int((k > loo["good_k"]).sum()),
        "num_test": metrics["num_test"],
        "test_nll": metrics["nll"],
        "test_lpd_per_point": -metrics["nll"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--output", type=Path, default=Path("loo_details.csv"))
    args = parser.parse_args()
    table = pd.DataFrame([details(r) for r in args.runs])
    table.to_csv(args.output, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
