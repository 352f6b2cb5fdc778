#!/usr/bin/env bash
# What each integration costs a machine, as its host runs it, on a healthy
# stand-in H100 (fixtures/machines/h100-driver-580.toml: stand-in NVML and
# CUDA libraries, so NVML is initialised as on a GPU node) with the release
# build: the periodic paths (NPD's plugin, the textfile timer's script,
# Slurm's check) with the release pinned, the runner hook before a job, and
# doctor finding and loading TensorFlow for comparison. RUNS times each
# (default 7), the first run discarded; median wall time and the peak RSS
# of the largest process (wait4). Budget for a periodic path: 0.3 s, 100 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
GPUGATE_BENCH_MACHINE="h100-driver-580:$work" \
  cargo test -q --test cli fleet::bench_machine_layout -- --ignored --exact >/dev/null
# shellcheck disable=SC1091
. "$work/machine.env"
export GPUGATE_BIN=$PWD/target/release/gpugate
mkdir "$work/textfile"
cat > "$work/slurm.conf" <<CONF
GPUGATE_BIN=$GPUGATE_BIN
TENSORFLOW=2.20
CONF
chmod 600 "$work/slurm.conf"
# The machine is healthy for every pinned path, or the figures mean nothing.
for path in ci/k8s/npd/gpugate-check.sh ci/runner-hook.sh; do
  GPUGATE_DOCTOR_ARGS="--for-tensorflow 2.20" "$path" --for-tensorflow 2.20 >/dev/null ||
    { echo "bench/hook.sh: $path does not find the stand-in H100 healthy" >&2; exit 1; }
done
python3 bench/measure.py "$(python3 - "$RUNS" "$work" <<'PY'
import json, sys
runs, work = int(sys.argv[1]), sys.argv[2]
bin = "./target/release/gpugate"
print(json.dumps({"runs": runs, "warm": True, "allow_failure": True, "commands": {
    "NPD plugin (ci/k8s/npd/gpugate-check.sh --for-tensorflow 2.20)":
        ["ci/k8s/npd/gpugate-check.sh", "--for-tensorflow", "2.20"],
    "textfile timer (ci/prometheus/gpugate-textfile.sh, GPUGATE_TENSORFLOW=2.20)":
        ["env", f"GPUGATE_TEXTFILE_DIR={work}/textfile", "ci/prometheus/gpugate-textfile.sh"],
    "Slurm check's verdict (doctor --moment before-job --format slurm --for-tensorflow 2.20)":
        [bin, "doctor", "--moment", "before-job", "--format", "slurm", "--for-tensorflow", "2.20"],
    "runner hook, quick (GPUGATE_DOCTOR_ARGS=--for-tensorflow 2.20)":
        ["env", "GPUGATE_DOCTOR_ARGS=--for-tensorflow 2.20", "ci/runner-hook.sh"],
    "doctor finding and loading the cached TensorFlow (not pinned; here a CPU build, so exit 101)":
        [bin, "doctor", "--moment", "while-jobs", "--format", "condition"],
}}))
PY
)"
