# bnnrun's make targets. `make help` lists them. Every target sets up .venv first if needed.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Extras to install; e.g. `make install EXTRAS=dev,cuda` on a GPU machine.
EXTRAS ?= dev
# pytest-xdist workers for `make test` and `make test-all` (2: one per core of the 2-core machine).
TEST_WORKERS ?= 2

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $(STAMP)

.PHONY: help install run sweep test test-all lint format docs bench bench-nuts bench-cnn bench-quality bench-sweep bench-uci bench-fixed bench-batched bench-gpu clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install bnnrun with its dev tools (EXTRAS=dev)

run: $(STAMP) ## Run the default experiment (moons, 2-5-5-2 tanh net, normal prior, SVI)
	$(BIN)/bnnrun $(ARGS)

sweep: $(STAMP) ## A first-look sweep: 4 priors x 2 hyperpriors x 2 datasets x 2 seeds, 10k steps
	$(BIN)/bnnrun -m prior=normal,laplace,cauchy,flat hyperprior=fixed,inverse_gamma \
		dataset=moons,circles seed=0,1 dataset.noise=0.45 inference.num_steps=10000 \
		runtime.cpu_threads=1 runtime.progress=false $(ARGS)

# PYTHONHASHSEED=0 as the CLI sets it, so tests and CLI subprocesses share compiled programs.
test: $(STAMP) ## Run the test suite, without tests marked slow (a few minutes on 2 cores)
	PYTHONHASHSEED=0 $(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) $(ARGS)

test-all: $(STAMP) ## Run every test, the slow ones included (what CI runs: .ci/run)
	PYTHONHASHSEED=0 $(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=20 $(ARGS)

lint: $(STAMP) ## Check style and formatting (ruff) and the import layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## Fix what ruff can and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(STAMP) ## Regenerate docs/config.md, the config reference, from the schemas and conf/
	$(BIN)/python -m bnnrun.config.reference

bench: $(STAMP) ## SVI speed against a deterministic optax network of the same shape
	$(BIN)/python bench/svi_speed.py $(ARGS)

bench-nuts: $(STAMP) ## SVI's guides against the NUTS reference posterior on moons (minutes)
	$(BIN)/python bench/svi_vs_nuts.py $(ARGS)

bench-cnn: $(STAMP) ## CNN speed: SVI vs deterministic step, loop/predictive strategies, threads
	$(BIN)/python bench/cnn_speed.py $(ARGS)

bench-quality: $(STAMP) ## Image quality: paper CNN on Fashion-MNIST, CNN on digits (~30 min)
	$(BIN)/python bench/quality.py $(ARGS)

bench-sweep: $(STAMP) ## Wall time of the paper's grid (experiment=paper_synthetic seed=0), by stage
	$(BIN)/python bench/sweep_speed.py $(ARGS)

bench-uci: $(STAMP) ## UCI network's SVI step vs a deterministic one, and a 20-split UCI sweep's wall time
	$(BIN)/python bench/uci_speed.py $(ARGS)

bench-fixed: $(STAMP) ## Fixed cost of a run (1 SVI step) and the default run, by stage (ARGS="--baseline-tree DIR")
	$(BIN)/python bench/fixed_cost.py $(ARGS)

bench-batched: $(STAMP) ## Many fits as one program against one at a time (ARGS="--grid small --sweeps")
	$(BIN)/python bench/batched_speed.py $(ARGS)

bench-gpu: $(STAMP) ## Every GPU check in one go (install with EXTRAS=dev,cuda first; minutes)
	PYTHON=$(BIN)/python bash bench/gpu_check.sh outputs/bench/gpu $(ARGS)

clean: ## Remove .venv and caches (outputs/ is kept)
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
