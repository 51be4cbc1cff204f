#!/usr/bin/env bash
# The GPU check of FNO on Burgers data as one prepared command (about 3-5 minutes on an H200):
# the train tests (CUDA cases included) and benchmarks/train_burgers.py on CUDA in both
# precisions, on a store built here beforehand (the GPU machine has no PETSc):
#   mpiexec -n 2 pdegen build recipes/burgers.yaml --set discretization.steps=1 -o data/burgers_fno.zarr
# carried along with .whl/ from benchmarks/gpu/fetch_wheels.sh. Logs and the updated
# docs/benchmarks.md go to $OUT (or ./gpu-out).
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=$PWD:/tmp/site || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 150 python3 -m pytest -q -p no:cacheprovider -W ignore tests/test_train.py 2>&1 | tail -40 > "$OUT/pytest_train.log"
tail -5 "$OUT/pytest_train.log"
timeout 360 python3 benchmarks/train_burgers.py --store data/burgers_fno.zarr --device cuda --both-precisions 2>&1 \
  | grep -v "USDT\|warn" > "$OUT/train_burgers.log"
tail -12 "$OUT/train_burgers.log"
cp docs/benchmarks.md "$OUT/"
