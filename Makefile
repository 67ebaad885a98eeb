# Every target bootstraps .venv by itself; on a fresh machine `make demo` and `make test` just work.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make demo` gets a venv of its own with the runtime dependencies only (~46 MB, not the ~370 MB test
# toolchain), pinned by requirements.lock like the container image.
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test lint typecheck unit docs manifests bench soak dashboards image-test lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# A plain (not editable) install, redone when the code changes.
$(DEMO_STAMP): pyproject.toml requirements.lock $(wildcard exporter/*.py exporter/*/*.py extend_simulator/*.py)
	@test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install -q -c requirements.lock .
	@touch $(DEMO_STAMP)

demo: $(DEMO_STAMP) ## run the exporter against the built-in simulator (runtime dependencies only)
	$(DEMO_VENV)/bin/extend-exporter demo

# Re-pin requirements.lock from a fresh venv of the runtime dependencies (after editing pyproject.toml).
lock: ## re-pin requirements.lock (the image's and the demo's dependency versions)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q .
	{ sed -n '/^#/p' requirements.lock; .venv-lock/bin/pip freeze --exclude extend-exporter; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .venv-lock

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check exporter extend_simulator tests deploy/kubernetes grafana
	$(BIN)/ruff format --check exporter extend_simulator tests deploy/kubernetes grafana

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

unit: $(STAMP) ## the pytest suite
	$(BIN)/pytest -q

test: lint typecheck unit ## lint, typecheck and unit (what CI runs)

docs: $(STAMP) ## regenerate the README's config and metrics tables and docs/metrics.md
	$(BIN)/python -m exporter.docs

# Regenerate dashboards, Grafana provisioning and both alert-rule files (tests/dashboards fails on drift).
dashboards: $(STAMP) ## regenerate dashboards, provisioning and alert rules
	$(BIN)/python -m grafana.generate
	$(BIN)/python deploy/kubernetes/render_prometheusrule.py

# Build the container image with buildah and run it against the simulator (root; ~1.5 min cold, <1 min warm).
image-test: ## build the container image and run it against the simulator
	timeout --kill-after=30 900 bash deploy/image-test.sh

# Regenerate the PrometheusRule from deploy/prometheus/extend-alerts.yaml (tests/deploy fails on drift).
manifests: $(STAMP) ## regenerate the Kubernetes PrometheusRule
	$(BIN)/python deploy/kubernetes/render_prometheusrule.py

# Benchmark suite against the simulator on loopback (not part of `make test`): prints a table and
# writes bench/results.md (raw figures in bench/out/). Bounded: under 40 minutes (the busy row runs 2 real
# minutes, the workspaces row seven exporters of 1 to 50 workspaces for a minute each plus their set-up).
bench: $(STAMP) ## benchmarks against the simulator (writes bench/results.md)
	timeout --kill-after=30 2400 $(BIN)/python -m bench.run

# Reliability soak (not part of `make test`, whose tests/reliability and property tests in tests/sync are bounded):
# the soak test for SOAK_SECONDS (default 600) and 20x the hypothesis examples, random seeds.
SOAK_SECONDS ?= 600
soak: $(STAMP) ## long reliability soak (SOAK_SECONDS, default 600)
	EXTEND_SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/pytest -q -p no:cacheprovider -o timeout=3600 tests/reliability tests/sync

clean: ## remove venvs, caches and build output
	rm -rf $(VENV) $(DEMO_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
