# k8snet: a Kubernetes networking lab on one Linux machine.
VENV   := .venv
PY     := $(VENV)/bin/python
TOPO   ?= single
MANIFESTS ?= examples/demo examples/three-tier
PYTEST := $(PY) -m pytest

.PHONY: setup run-topology test test-unit test-integration netpol-full fuzz paths-doc perf bench clean lint

setup:
	@bash scripts/setup.sh

run-topology: setup
	$(VENV)/bin/k8snet run --topo $(TOPO) $(foreach m,$(MANIFESTS),-f $(m))

test: setup
	$(PYTEST) -q tests/unit tests/integration

test-unit: setup
	$(PYTEST) -q tests/unit

test-integration: setup
	$(PYTEST) -q tests/integration

# Every NetworkPolicy case live: the upstream e2e cases in both proxy modes,
# every generated case and the recipes (make test runs a sample).
netpol-full: setup
	NETPOL_FULL=1 $(PYTEST) -q tests/integration/test_netpol.py \
	  tests/integration/test_netpol_iptables.py

# Fuzzing in full: manifests (2,000 examples each) and CLI lines on a live
# cluster (400 examples); make test runs a bounded, derandomized sample.
fuzz: setup
	FUZZ_FULL=1 $(PYTEST) -q tests/unit/test_fuzz_manifests.py tests/integration/test_fuzz_cli.py

# docs/paths.md: the guide's paths traced on a live cluster, with pictures.
paths-doc: setup
	$(PY) -m k8snet.cli.paths_doc --out docs

perf: setup
	$(VENV)/bin/k8snet perf $(PERF_ARGS)

bench: setup
	$(VENV)/bin/k8snet bench $(BENCH_ARGS)

clean:
	@if [ -x $(VENV)/bin/k8snet ]; then $(VENV)/bin/k8snet clean; \
	 else PYTHONPATH=. python3 -m k8snet.main clean; fi

lint: setup
	$(VENV)/bin/ruff check .
