#!/usr/bin/env bash
# The GPU check of FNO on Burgers data as one prepared command (about 3-5 minutes on an H200):
# the train tests (CUDA cases included) and benchmarks/train_burgers.py on CUDA in both
# precisions, on a store built here beforehand (the GPU machine has no PETSc):
#   mpiexec -n 2 pdegen build recipes/burgers.yaml --set discretization.steps=1 \
#     --set discretization.start_refinement=0 -o data/burgers_fno.zarr
# carried along with .whl/ from benchmarks/gpu/fetch_wheels.sh. Logs and the updated
# docs/benchmarks.md go to $OUT (or ./gpu-out).
source "$(dirname "$0")/common.sh"  # $OUT, the wheels, the GPU's name, the train tests
timeout 360 python3 benchmarks/train_burgers.py --store data/burgers_fno.zarr --device cuda --both-precisions 2>&1 \
  | grep -v "USDT\|warn" > "$OUT/train_burgers.log"
tail -12 "$OUT/train_burgers.log"
cp docs/benchmarks.md "$OUT/"
