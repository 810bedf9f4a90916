# samplerlab — every target creates .venv if it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
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
	$(PY) -m samplerlab.cli suite --out runs/audit

results: $(STAMP)
	$(PY) -m samplerlab.cli suite --out results --no-cards
	$(PY) -m samplerlab.cli plot results/reports/*.json -o results/figures

plots: $(STAMP)
	test -n "$$(ls runs/audit/reports/*.json 2>/dev/null)" || $(PY) -m samplerlab.cli suite --out runs/audit
	$(PY) -m samplerlab.cli plot runs/audit/reports/*.json -o runs/figures

validation: $(STAMP)
	$(PY) -m samplerlab.cli sweep sweeps/validation.toml --out results/validation
	$(PY) -m samplerlab.cli sweep report results/validation

calibration: $(STAMP)
	$(PY) -m samplerlab.cli sweep sweeps/calibration.toml --out results/calibration
	$(PY) -m samplerlab.cli sweep report results/calibration

calibration-quick: $(STAMP)
	$(PY) -m samplerlab.cli sweep sweeps/calibration_quick.toml --out results/calibration_quick
	$(PY) -m samplerlab.cli sweep report results/calibration_quick

calibration-coverage: $(STAMP)
	$(PY) -m samplerlab.studies.coverage_calibration --replicates 4000 --out results/calibration_coverage

calibration-early-stopping: $(STAMP)
	nice -n 10 $(PY) -m samplerlab.studies.early_stopping_calibration --audits 2000 --out results/calibration_early_stopping

sensitivity: $(STAMP)
	$(PY) -m samplerlab.cli sweep sweeps/sensitivity.toml --out results/sensitivity
	$(PY) -m samplerlab.cli sweep report results/sensitivity

replication: $(STAMP)
	$(PY) -m samplerlab.cli sweep sweeps/replication.toml --out results/replication
	$(PY) -m samplerlab.studies.claims --results results

study: $(STAMP)
	$(PY) -m samplerlab.studies.claims --results results

why: $(STAMP)
	test -n "$$(ls results/reports/*.json 2>/dev/null)" || $(PY) -m samplerlab.cli suite --out results
	$(PY) -m samplerlab.studies.explanations --out results/why

gpu: $(STAMP)
	$(PY) -m samplerlab.studies.image_suite --out results/images

gpu-check: $(STAMP)
	$(PY) -m samplerlab.bench.gpu_check --out $${OUT:-runs/gpu-check}

medical: $(STAMP)
	$(PY) -m samplerlab.studies.medical_suite --out results/medical

slow: $(STAMP)
	$(PY) -m pytest -q -m slow

adapters: $(STAMP)
	$(PY) -m samplerlab.studies.adapter_study --out results/adapters

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
