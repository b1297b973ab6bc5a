#!/usr/bin/env bash
# Everything bnnrun checks on a GPU, in one go (a few minutes on one H100/H200):
#   1. the default run (moons, 50,000 SVI steps) JIT-compiled on the GPU, and run twice to check
#      that the same config and seed give the same numbers there too;
#   2. bench/svi_speed.py: SVI step time against a deterministic network of the same shape;
#   3. bench/cnn_speed.py: the paper's CNN, SVI vs deterministic step, loop and predictive strategies;
#   4. bench/quality.py --only fashion_mnist: the paper's CNN on Fashion-MNIST (needs its files);
#   5. bench/batched_speed.py: 4 configurations of the paper's grid over 10 seeds, fitted as one
#      program per configuration, against one fit at a time; and small sweeps end to end, both
#      ways (about 5 minutes on an H200, mostly compilation; BATCHED_GRID=paper for all 26
#      configurations, which took over 7 minutes there).
# Before them, smoke-sized runs of every code path (CNN epochs, NUTS, non-centred scales, a
# transfer sweep) check that each compiles and runs on the GPU.
#
#     bash bench/gpu_check.sh RESULTS_DIR        # needs bnnrun importable and a GPU JAX
#     bash bench/gpu_check.sh RESULTS_DIR smoke  # the smoke runs only
#     bash bench/gpu_check.sh RESULTS_DIR batched  # step 5 only
#
# Each step has its own time limit, so one slow step cannot hide the others' results.
set -u
out=${1:?usage: bench/gpu_check.sh RESULTS_DIR}
mkdir -p "$out"
export PYTHONHASHSEED=0 PYTHONUNBUFFERED=1 BNNRUN_CACHE_DIR=${BNNRUN_CACHE_DIR:-/tmp/bnnrun-gpu-cache}
py=${PYTHON:-python3}
runs=$(mktemp -d)

step() {  # step SECONDS NAME COMMAND...
    local limit=$1 name=$2
    shift 2
    echo "=== $name"
    local t0=$SECONDS
    timeout "$limit" "$@"
    echo "=== $name: exit $? after $((SECONDS - t0)) s"
}

"$py" -c 'import jax; print("jax", jax.__version__, jax.devices())'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

gpu=(runtime.platform=gpu runtime.progress=false)
batched() {
    step 420 "batched_speed" "$py" bench/batched_speed.py --platform gpu --steps 10000 \
        --seeds 10 --grid "${BATCHED_GRID:-small}" --sweeps --sweep-grid small --out "$out/batched_speed-gpu.json"
}
if [ "${2:-}" = batched ]; then batched; exit 0; fi
step 120 "smoke: CNN by epochs" "$py" -m bnnrun debug=smoke_images dataset=digits \
    architecture=cnn "${gpu[@]}" "hydra.run.dir=$runs/cnn"
step 120 "smoke: NUTS, non-centred" "$py" -m bnnrun debug=smoke_nuts hyperprior=half_normal \
    hyperprior.noncentered=true "${gpu[@]}" "hydra.run.dir=$runs/nuts"
step 120 "smoke: transfer sweep" "$py" -m bnnrun -m experiment=transfer_digits debug=smoke_images \
    seed=0 "${gpu[@]}" "hydra.sweep.dir=$runs/transfer"
grep -h '"status"' "$runs"/cnn/metrics.json "$runs"/nuts/metrics.json 2>/dev/null
cp "$runs/transfer/summary.csv" "$out/transfer_smoke_summary.csv" 2>/dev/null
[ "${2:-}" = smoke ] && exit 0

for i in 1 2; do
    step 90 "default run $i" "$py" -m bnnrun runtime.platform=gpu runtime.progress=false \
        "hydra.run.dir=$runs/default$i"
    cp "$runs/default$i/metrics.json" "$out/default$i-metrics.json" 2>/dev/null
done
"$py" - "$runs" <<'EOF'
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/default{i}/metrics.json")) for i in (1, 2))
keys = ["accuracy", "nll", "ece", "elbo_final"]
print("same numbers twice on the GPU:", all(a[k] == b[k] for k in keys), {k: a[k] for k in keys})
print("backend", a["backend"], "fit_seconds", a["fit_seconds"], "compile", a.get("compile_seconds"))
EOF
step 100 "svi_speed" "$py" bench/svi_speed.py --platform gpu --steps 5000 --repeats 3 \
    --no-pymc --out "$out"
step 150 "cnn_speed" "$py" bench/cnn_speed.py --quick --out "$out/cnn_speed-gpu.json"
step 200 "quality fashion_mnist" "$py" bench/quality.py --only fashion_mnist \
    --out "$out/quality-gpu.json"
batched
