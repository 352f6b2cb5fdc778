#!/usr/bin/env bash
# Time, peak memory and disk of provisioning TensorFlow's CUDA build with its
# NVIDIA libraries (`fetch-tensorflow --gpu`) into an empty cache. Network-
# bound: the figure says as much about the registry as about gpugate.
set -euo pipefail
cd "$(dirname "$0")/.."
TF=${TF:-2.21.0}
cargo build --release -q
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
/usr/bin/time -f "provision: %e s wall, %M KiB peak RSS" \
  env GPUGATE_CACHE_DIR="$cache" ./target/release/gpugate fetch-tensorflow --gpu --tensorflow-version "$TF" 2>&1 \
  | grep -E "^(provision|gpugate: TensorFlow)"
du -sh "$cache/tensorflow/$TF-gpu" | sed 's/^/entry size: /'
