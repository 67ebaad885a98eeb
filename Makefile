# Every target bootstraps .venv by itself; on a fresh machine `make demo` and `make test` just work.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs manifests bench soak dashboards image-test clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/extend-exporter demo

lint: $(STAMP)
	$(BIN)/ruff check exporter tests deploy/kubernetes grafana
	$(BIN)/ruff format --check exporter tests deploy/kubernetes grafana

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

docs: $(STAMP)
	$(BIN)/python -m exporter.docs

# Regenerate dashboards, Grafana provisioning and both alert-rule files (tests/dashboards fails on drift).
dashboards: $(STAMP)
	$(BIN)/python -m grafana.generate
	$(BIN)/python deploy/kubernetes/render_prometheusrule.py

# Build the container image with buildah and run it against the simulator (root; ~1.5 min cold, <1 min warm).
image-test:
	timeout --kill-after=30 900 bash deploy/image-test.sh

# Regenerate the PrometheusRule from deploy/prometheus/extend-alerts.yaml (tests/deploy fails on drift).
manifests: $(STAMP)
	$(BIN)/python deploy/kubernetes/render_prometheusrule.py

# Benchmark suite against the simulator on loopback (not part of `make test`): prints a table and
# writes bench/results.md (raw figures in bench/out/). Bounded: under 15 minutes (the busy row runs 2 real minutes).
bench: $(STAMP)
	timeout --kill-after=30 900 $(BIN)/python -m bench.run

# Reliability soak (not part of `make test`, whose tests/reliability run is bounded to a few minutes):
# the soak test for SOAK_SECONDS (default 600) and 20x the hypothesis examples, random seeds.
SOAK_SECONDS ?= 600
soak: $(STAMP)
	EXTEND_SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/pytest -q -p no:cacheprovider -o timeout=3600 tests/reliability

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
