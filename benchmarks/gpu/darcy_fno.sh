#!/usr/bin/env bash
# FNO's own Darcy task on the GPU as one prepared command (about 5-7 minutes on an H200):
# benchmarks/train_darcy.py --fno (recipes/darcy_threshold.yaml at 85x85, 1,250 samples
# built there on the NumPy backend, 500 epochs) in both precisions, against the paper's 0.0108.
# Run from the repository root on the GPU machine with .whl/ from benchmarks/gpu/fetch_wheels.sh
# carried along; SKIP_TRAIN_TESTS=1 leaves out the train tests. The log and the updated
# docs/benchmarks.md go to $OUT (or ./gpu-out).
source "$(dirname "$0")/common.sh"  # $OUT, the wheels, the GPU's name, the train tests
timeout 480 python3 benchmarks/train_darcy.py --fno --device cuda --backend numpy --both-precisions 2>&1 \
  | grep -v "USDT\|warn" > "$OUT/train_darcy_fno.log"
tail -12 "$OUT/train_darcy_fno.log"
cp docs/benchmarks.md "$OUT/"
