#!/usr/bin/env bash
# Wheels that a GPU machine of this workplace lacks (it has torch, numpy, scipy, h5py,
# click, pyyaml; no zarr, no neuraloperator and their import-time needs), for CPython 3.12
# on x86-64, downloaded here into .whl/ (ignored by git) for benchmarks/gpu/run.sh.
# Versions as used for the H200 runs recorded in docs/benchmarks.md (train_gpu, train_darcy).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
  zarr==3.1.6 numcodecs==0.17.1 google_crc32c==1.9.0 donfig==0.8.1.post1 typing_extensions==4.16.0 \
  neuraloperator==2.0.0 tensorly==0.10.0 tensorly_torch==0.5.0 configmypy==0.2.0 zencfg==1.0.0 \
  ruamel_yaml==0.19.1 wandb==0.31.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0 \
  typing_inspection==0.4.5 platformdirs==4.14.8 protobuf==7.36.2 googleapis_common_protos==1.76.0 \
  cwevals==0.0.1b1 opentelemetry_api==1.45.2 opentelemetry_sdk==1.45.2 opentelemetry_proto==1.45.2 \
  opentelemetry_semantic_conventions==0.66b2 opentelemetry_exporter_otlp_proto_http==1.45.2 \
  opentelemetry_exporter_otlp_proto_common==1.45.2 opentelemetry_exporter_otlp_common==0.66b2 \
  opentelemetry_exporter_http_transport==0.66b2
