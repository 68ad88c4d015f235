# elsa-tlm — every user-facing action is a target here.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUNSTAMP := $(VENV)/.installed-run
CLI := $(BIN)/elsa-tlm

.PHONY: setup demo test lint bench monotonicity baselines noc-curve pipelines elastic products flits routing topologies scaling memory congestion split digits vit resnet101 yolov2 analytic-check explore explore-10k clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or run: make PY=python3 ...)"; exit 2; }
	$(PY) -m venv $(VENV)

# the modules mypyc compiles at install (elsa_tlm/compiled.py: MODULES): changed, they are compiled again, so
# the tests and the bench run what ships (a stale build would fall back to the sources, slower)
HOT := $(addprefix elsa_tlm/,compiled.py kernel.py hw/channel.py hw/core.py hw/im2col.py hw/ni.py \
	hw/residual.py noc/latency.py noc/link.py noc/network.py noc/router.py noc/transport.py noc/vc_network.py \
	noc/vc_router.py schedule/policy.py schedule/readiness.py transfer.py)

# runtime only (fast: what `make demo` needs); the dev extras add pytest, hypothesis, ruff and dask
# setup.py, the C source and the compiled modules: the extensions are rebuilt when any of them changes
$(RUNSTAMP): $(BIN)/python pyproject.toml setup.py elsa_tlm/hw/_ibuf_kernel.c elsa_tlm/_recurrences.c $(HOT)
	$(BIN)/pip install -q --disable-pip-version-check -e .
	@touch $(RUNSTAMP)

# the dev and dask extras' requirements (read from pyproject.toml), not the package again: reinstalling it
# would compile the hot path a second time
EXTRAS = $(BIN)/python -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; print(" ".join(d["dev"] + d["dask"]))'
$(STAMP): $(RUNSTAMP) pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check $$($(EXTRAS))
	@touch $(STAMP)

setup: $(STAMP)

demo: $(RUNSTAMP)
	$(CLI) run scenarios/default.toml

# the suite on every core (pytest-xdist; a module's tests stay on one worker, so its fixtures run once);
# PYTEST_ARGS='-n 0' runs it in one process
PYTEST_ARGS ?= -n auto --dist loadscope
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check elsa_tlm tests scripts
	$(BIN)/ruff format --check elsa_tlm tests scripts

bench: $(STAMP)
	$(CLI) bench --out results/bench/results.json

# the analytic mode against at on every case (networks, schedules, what-ifs): results/analytic-check/ and the
# error table in docs/MODEL.md §6b
analytic-check: $(STAMP)
	$(CLI) analytic-check --out results/analytic-check --doc docs/MODEL.md

# a faster unit never makes the chip slower: free fires, weight ways, circuits, flits at each network's own T
# (VGG16-CIFAR10, ResNet-18; CI runs the same tests at T = 4)
monotonicity: $(STAMP)
	ELSA_TLM_FULL=1 $(BIN)/python -m pytest -o addopts= -q tests/test_monotonic.py

digits: $(STAMP)
	$(CLI) run scenarios/digits.toml

# ViT-Small (T = 32) with the token-wise pipeline, three cores per block: results/vit/, plots/vit/
vit: $(STAMP)
	$(CLI) run scenarios/vit.toml --trace

# the synthetic workloads (architecture as published, activity from a recorded network's stage-role densities;
# docs/model/workloads.md), each at its source's T on a 7x7 mesh (they need 48 and 39 cores): results/<name>/
resnet101: $(STAMP)
	$(CLI) run scenarios/resnet101.toml

yolov2: $(STAMP)
	$(CLI) run scenarios/yolov2.toml

elastic: $(STAMP)
	$(CLI) elastic --scenario scenarios/digits.toml --out plots/elastic $(ELASTIC_ARGS)
	$(CLI) elastic --scenario scenarios/digits_vit.toml --out plots/elastic_vit $(ELASTIC_ARGS)

# the default chip beside the published chips on the networks they report, at 200 and 500 MHz (each network at
# its own T): plots/baselines/compare.{csv,md,png}, ratios.csv and the headline sentences; runs in
# results/baselines/. BASELINE_ARGS reduces it (CI: --models resnet18 --clocks 200 --set run.time_steps=2)
baselines: $(STAMP)
	$(CLI) baselines --out plots/baselines --runs results/baselines $(BASELINE_ARGS)

pipelines: $(STAMP)
	$(CLI) pipelines --out plots/pipelines $(STUDY_ARGS)

# both routers (fast, vc), uniform and transpose, 6x6 mesh, XY, single-flit packets: results/noc-curve/<router>/
# <traffic>/ and the overlay plots/noc-curve/routers.png. NOC_ARGS adds options to every sweep (e.g. --set ...)
NOC_ARGS ?=
noc-curve: $(STAMP)
	for r in fast vc; do for t in uniform transpose; do \
	  $(CLI) noc --router $$r --topology mesh:6x6 --routing xy --traffic $$t --packet-flits 1 --sweep 0.05:1.0:0.05 \
	    --out results/noc-curve/$$r/$$t $(NOC_ARGS) || exit 1; done; done
	$(CLI) noc-plot results/noc-curve --out plots/noc-curve/routers.png

clean:
	rm -rf results plots/*/ .pytest_cache

# ---- sweep-based studies: scenarios/studies/<name>.toml -> results/studies/<name>/ (points, sweep.csv,
# report.html) and plots/<name>/<name>.csv + .png. Reduced form (CI): e.g.
#   make flits SWEEP_ARGS='--set run.time_steps=2 --axis "noc.flit_bits=[64,256]"'
# Finished points are reused (resume), so rerunning a target only runs what changed.
STUDY_SWEEPS := products flits routing topologies scaling memory congestion split
WORKERS ?= 2
SWEEP_ARGS ?=
.PHONY: sweep report

$(STUDY_SWEEPS): $(STAMP)
	$(CLI) sweep scenarios/studies/$@.toml --out results/studies/$@ --workers $(WORKERS) $(SWEEP_ARGS)
	$(CLI) study $@ --sweep-dir results/studies/$@ --out plots/$@
	$(CLI) report results/studies/$@ --images plots/$@

# any sweep file: make sweep SWEEP=path/to/sweep.toml [SWEEP_ARGS=...]
sweep: $(STAMP)
	@test -n "$(SWEEP)" || { echo "usage: make sweep SWEEP=path/to/sweep.toml [SWEEP_ARGS=...]"; exit 2; }
	$(CLI) sweep $(SWEEP) --out results/sweeps/$(basename $(notdir $(SWEEP))) --workers $(WORKERS) $(SWEEP_ARGS)

# multi-objective design-space exploration (elsa-tlm explore): ResNet-50 over six axes under 60 mm²
# (scenarios/explore/resnet50.toml: screened in analytic mode, its best two ranks refined in lt with back-pressure;
# ~40 s on 2 cores) -> results/explore/resnet50/ trials.csv, pareto.csv, pareto.png, explore.json;
# rerunning resumes from its explore.db. EXPLORE_ARGS adds options (e.g. --seed 2, --set run.time_steps=4)
EXPLORE_ARGS ?=
explore: $(STAMP)
	$(CLI) explore scenarios/explore/resnet50.toml --out results/explore/resnet50 --workers $(WORKERS) $(EXPLORE_ARGS)

# ten thousand ResNet-50 designs, every one once (scenarios/explore/resnet50_10k.toml: 9,720 designs, 1,620 plans);
# ~4 min on 2 cores -> results/explore/resnet50_10k/ (resumes from its explore.db)
explore-10k: $(STAMP)
	$(CLI) explore scenarios/explore/resnet50_10k.toml --out results/explore/resnet50_10k --workers $(WORKERS) $(EXPLORE_ARGS)

# one HTML page for a run or sweep folder: make report DIR=results/default
report: $(STAMP)
	@test -n "$(DIR)" || { echo "usage: make report DIR=results/<run-or-sweep>"; exit 2; }
	$(CLI) report $(DIR)
