# Sourced by the prepared GPU commands (run.sh, burgers.sh, darcy_fno.sh), from the repository root on the
# GPU machine: installs the carried .whl/ (benchmarks/gpu/fetch_wheels.sh), names the GPU and
# runs the train tests (CUDA cases included) into $OUT (or ./gpu-out), unless SKIP_TRAIN_TESTS=1.
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=$PWD:/tmp/site || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ "${SKIP_TRAIN_TESTS:-0}" != 1 ]; then
  timeout 150 python3 -m pytest -q -p no:cacheprovider -W ignore tests/test_train.py 2>&1 | tail -40 > "$OUT/pytest_train.log"
  tail -5 "$OUT/pytest_train.log"
fi
