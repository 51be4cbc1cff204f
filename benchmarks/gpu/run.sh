#!/usr/bin/env bash
# The GPU check of pdegen.train as one prepared command (about 4-6 minutes on an H200):
# the train tests (CUDA cases included), benchmarks/train_gpu.py --record and
# benchmarks/train_darcy.py on CUDA. Run from the repository root on the GPU machine,
# with .whl/ from benchmarks/gpu/fetch_wheels.sh carried along; logs, JSON and the updated
# docs/benchmarks.md go to $OUT (or ./gpu-out).
source "$(dirname "$0")/common.sh"  # $OUT, the wheels, the GPU's name, the train tests
timeout 300 python3 benchmarks/train_gpu.py --record --json "$OUT/train_gpu.json" 2>&1 \
  | grep -v "worker_number_rationality\|suggested max number\|USDT\|warn" > "$OUT/train_gpu.log"
tail -30 "$OUT/train_gpu.log"
timeout 140 python3 benchmarks/train_darcy.py --device cuda --epochs 100 --backend numpy 2>&1 | tail -12 > "$OUT/train_darcy.log"
tail -12 "$OUT/train_darcy.log"
cp docs/benchmarks.md "$OUT/"
