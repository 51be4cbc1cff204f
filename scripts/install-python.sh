#!/usr/bin/env bash
# Install pdegen and its Python stack into the active Python (a venv is fine).
# PETSc and petsc4py are built from source by pip (about 20 minutes once on 2 cores; pip caches
# the wheels). CUDA and Fortran are switched off so the build never depends on nvcc.
# COPTFLAGS=-O3: PyPI's petsc compiles with "-g -O" (-O1) otherwise; -O3 runs the planner's
# red-black multigrid and the reused Cholesky on Darcy 128² about 1.15x faster
# (docs/benchmarks.md, petsc_optflags). No -march: cached wheels must run on
# any x86-64 machine they are copied to.
set -euo pipefail
PY="${PYTHON:-python3}"
EXTRAS="${PDEGEN_EXTRAS:-dev,train}"
export PETSC_CONFIGURE_OPTIONS="${PETSC_CONFIGURE_OPTIONS:---with-debugging=0 --with-fc=0 --with-fortran-bindings=0 --with-cuda=0 --with-shared-libraries=1 COPTFLAGS=-O3 CXXOPTFLAGS=-O3}"
# mpi4py and PETSc must use the same MPI: both build against the mpicc on PATH.
export MPICC="${MPICC:-mpicc}"
"$PY" -m pip install --upgrade pip setuptools wheel
"$PY" -m pip install "numpy>=1.26" cython
if ! "$PY" -c "import petsc" 2>/dev/null; then
  "$PY" -m pip install "petsc==3.26.*"
fi
PETSC_DIR="$("$PY" -c 'import petsc; print(petsc.get_petsc_dir())')"
export PETSC_DIR PETSC_ARCH=""
if ! "$PY" -c "import petsc4py" 2>/dev/null; then
  "$PY" -m pip install --no-build-isolation "petsc4py==3.26.*"
fi
if ! "$PY" -c "import mpi4py" 2>/dev/null; then
  "$PY" -m pip install --no-binary mpi4py "mpi4py>=4"
fi
if [[ ",${EXTRAS}," == *",train,"* ]] && ! "$PY" -c "import torch" 2>/dev/null; then
  # The CPU build of PyTorch 2.13.0 (other versions download gigabytes of CUDA wheels).
  "$PY" -m pip install "torch==2.13.0"
fi
"$PY" -m pip install -e ".[${EXTRAS}]"
