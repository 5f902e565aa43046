# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
CORES ?= 2

.PHONY: demo test install install-test lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,compare]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/snakemake demo --cores $(CORES) --rerun-incomplete
	@echo "Products: results/demo/uncal/*_rate.fits, *_rateints.fits and *_cal.fits"

test: install-test
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/snakemake --lint

# The hashed lock of the runtime dependencies, at the versions the tests ran with.
lock: install-test
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python -m pip freeze | grep -v -e '^-e' -e '^webbflow' -e '^uv==' > $(VENV)/tested-constraints.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes \
		-c $(VENV)/tested-constraints.txt -o requirements.lock -q

clean:
	rm -rf results .snakemake
