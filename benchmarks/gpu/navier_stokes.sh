#!/usr/bin/env bash
# FNO's Navier–Stokes task on the GPU, scaled to fit one lease (about 8 minutes on an H200):
# a store of $SAMPLES (300) samples on a $SIZE² (32²) grid built there (under mpiexec where
# the machine has a working one, else in one process),
# the train tests (CUDA cases included) meanwhile, then benchmarks/train_navier_stokes.py on
# CUDA for $EPOCHS (200) epochs, at-once, space-time and rollout in that order, each scheme's
# row written as it finishes, all of it stopped at $BUDGET (520) seconds from the start.
# Run from the repository root on the GPU machine with .whl/ from benchmarks/gpu/fetch_wheels.sh
# carried along. Logs and the updated docs/benchmarks.md go to $OUT (or ./gpu-out).
# Measured on an H200 (2026-11-28): 300 samples at 32² built in 73 s on 12 ranks (finite
# volumes then; pseudo-spectral 32² takes ~0.4 s a sample on one core), 200 epochs in 0.4 /
# 1.3 / 3.5 minutes. FNO's own size, SIZE=64 SAMPLES=1200 EPOCHS=40, should build in ~3
# minutes (1.8 s a sample on 12 ranks); its training rates at 64² are not measured.
SKIP_TRAIN_TESTS=1 source "$(dirname "$0")/common.sh"  # $OUT, the wheels, the GPU's name
SIZE=${SIZE:-32} SAMPLES=${SAMPLES:-300} EPOCHS=${EPOCHS:-200} BUDGET=${BUDGET:-520}
timeout 200 python3 -m pytest -q -p no:cacheprovider -W ignore tests/test_train.py > "$OUT/pytest_train.log" 2>&1 &
tests=$!
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
launcher=()
if command -v mpiexec > /dev/null \
  && timeout 30 mpiexec -n 2 python3 -c 'from mpi4py import MPI; assert MPI.COMM_WORLD.size == 2' 2> /dev/null; then
  launcher=(mpiexec -n 12)
fi
echo "building $SAMPLES samples at ${SIZE}² with ${launcher[*]:-one process}"
start=$SECONDS
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "${launcher[@]}" python3 -c 'from pdegen.cli import main; main()' build \
  recipes/navier_stokes.yaml --samples "$SAMPLES" --set "grid.shape=[$SIZE,$SIZE]" \
  -o data/navier_stokes_gpu.zarr --overwrite -q > "$OUT/build.log" 2>&1
echo "build exit $? after $((SECONDS - start)) s"
wait $tests
tail -5 "$OUT/pytest_train.log"
timeout $((BUDGET - SECONDS)) python3 benchmarks/train_navier_stokes.py --store data/navier_stokes_gpu.zarr \
  --device cuda --epochs "$EPOCHS" --schemes at-once space-time rollout --section train_navier_stokes_gpu 2>&1 \
  | grep -v "USDT\|warn" > "$OUT/train_navier_stokes.log"
grep "capture" "$OUT/train_navier_stokes.log"; tail -3 "$OUT/train_navier_stokes.log"
sed -n '/BEGIN train_navier_stokes_gpu/,/END/p' docs/benchmarks.md
cp docs/benchmarks.md "$OUT/"
