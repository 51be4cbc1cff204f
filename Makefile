# Quickstart targets. `make setup` installs everything (Debian packages for MPI and
# BLAS/LAPACK, PETSc and petsc4py built from source by pip, pdegen in .venv) and builds
# the default dataset; `make test` runs the test suite. CI runs exactly these.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup install system data test bench clean

setup: install data

system:
	bash scripts/install-system.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: system $(BIN)/python
	PYTHON=$(BIN)/python bash scripts/install-python.sh

# Builds data/darcy.zarr (continues it if a previous build was interrupted).
data:
	$(BIN)/pdegen build recipes/darcy.yaml --resume

test:
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PDEGEN_REQUIRE_PETSC=1 PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

bench:
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf data .pytest_cache
