# samplerlab — every target creates .venv if it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SL     := $(VENV)/bin/samplerlab
STAMP  := $(VENV)/.installed

.PHONY: test bench audit results plots validation calibration calibration-quick calibration-coverage calibration-early-stopping sensitivity study replication why slow gpu gpu-check medical adapters clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e ".[dev,images,studies,deepinv,diffusers]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pytest -q tests/benchmarks --benchmark-enable --benchmark-only -p no:cacheprovider

audit: $(STAMP)
	$(SL) suite --out runs/audit

results: $(STAMP)
	$(SL) suite --out results --no-cards
	$(SL) plot results/reports/*.json -o results/figures

plots: $(STAMP)
	test -n "$$(ls runs/audit/reports/*.json 2>/dev/null)" || $(SL) suite --out runs/audit
	$(SL) plot runs/audit/reports/*.json -o runs/figures

validation: $(STAMP)
	$(SL) sweep run sweeps/validation.toml --out results/validation
	$(SL) sweep report results/validation

calibration: $(STAMP)
	$(SL) sweep run sweeps/calibration.toml --out results/calibration
	$(SL) sweep report results/calibration

calibration-quick: $(STAMP)
	$(SL) sweep run sweeps/calibration_quick.toml --out results/calibration_quick
	$(SL) sweep report results/calibration_quick

calibration-coverage: $(STAMP)
	$(SL) study coverage --replicates 4000 --out results/calibration_coverage

calibration-early-stopping: $(STAMP)
	nice -n 10 $(SL) study early-stopping --audits 2000 --out results/calibration_early_stopping

sensitivity: $(STAMP)
	$(SL) sweep run sweeps/sensitivity.toml --out results/sensitivity
	$(SL) sweep report results/sensitivity

replication: $(STAMP)
	$(SL) sweep run sweeps/replication.toml --out results/replication
	$(SL) study claims --results results

study: $(STAMP)
	$(SL) study claims --results results

why: $(STAMP)
	test -n "$$(ls results/reports/*.json 2>/dev/null)" || $(SL) suite --out results
	$(SL) study why --out results/why

gpu: $(STAMP)
	$(SL) study images --out results/images

gpu-check: $(STAMP)
	$(SL) bench gpu --out $${OUT:-runs/gpu-check}

medical: $(STAMP)
	$(SL) study medical --out results/medical

slow: $(STAMP)
	$(PY) -m pytest -q -m slow

adapters: $(STAMP)
	$(SL) study adapters --out results/adapters

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
