# Each target does one thing; the venv is created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TM := $(VENV)/bin/tracemill
OUT ?= out/sft-mix
PYTEST_ARGS ?=

.PHONY: venv sft-mix test test-fast lint bench bench-quick audit clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

sft-mix: venv
	$(TM) sft-mix --out $(OUT) $(ARGS)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -m 'not slow' $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check tracemill pipelines filters schemas tests benchmarks

bench: venv
	$(PY) -m benchmarks.run --size full

bench-quick: venv
	$(PY) -m benchmarks.run --size quick

audit: venv
	$(TM) audit $(OUT)

clean:
	rm -rf out build dist *.egg-info
