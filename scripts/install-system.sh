#!/usr/bin/env bash
# Install the system packages pdegen needs on Debian/Ubuntu: an MPI (MPICH) with its
# compiler wrappers, and BLAS/LAPACK for PETSc. Idempotent; needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS="mpich libmpich-dev libopenblas-dev liblapack-dev pkg-config python3-venv python3-dev"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
fi
