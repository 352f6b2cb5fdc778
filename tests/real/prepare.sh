#!/usr/bin/env bash
# Brings the real NVIDIA binaries that tests/real_binaries.rs runs against
# into $GPUGATE_REAL_DIR (default ~/.cache/gpugate-real), once: later runs
# reuse what is there. Nothing is installed on the machine:
#   cache/        gpugate's own provisioned CUDA stacks: the default release
#                 (2.20.0) and 2.21.0, whose RUNPATH misses cuSOLVER
#   tf-2.18.1/, tf-2.16.1/  those releases' libraries and build_info.py from
#                 their wheels (2.18.1's dist-info too), beside a hard-linked
#                 copy of the 2.20.0 stack's nvidia/
#   tf-cpu-2.18.1/  tensorflow-cpu 2.18.1's libraries, build_info.py, dist-info
#   tf-nightly/   a dated tf-nightly's libraries, build_info.py, dist-info
#   cpu-cache/    the 2.21.0 CPU build
#   cudnn-9.1/, cudnn-9.3/  real, older cuDNNs (nvidia-cudnn-cu12==9.1.0.70,
#                 ==9.3.0.75), unpacked
#   cudnn-cu11-9.3/  the same cuDNN built for CUDA 11 (nvidia-cudnn-cu11==9.3.0.75)
#   nvjitlink-12.5/  a real, older nvJitLink (nvidia-nvjitlink-cu12==12.5.82)
#   cublas-12.5/  a real cuBLAS whose RUNPATH loses to LD_LIBRARY_PATH
#                 (nvidia-cublas-cu12==12.5.3.2)
#   nvjitlink-12.1/  one older than its version call, with its dist-info (12.1.105)
#   driver/       Debian 12's driver user space (libnvidia-ml1, libcuda1),
#                 unpacked with dpkg-deb -x, never installed
#   cpu-no-build-info/  the CPU build's two libraries without build_info.py
#   venv/         a venv whose site-packages holds the provisioned 2.21.0
#                 stack in pip's layout (hard links), as
#                 `pip install tensorflow[and-cuda]==2.21.0` lays it out
# Any failure (no network, a package gone) stops with a message: the tier
# never passes by skipping.
set -euo pipefail
cd "$(dirname "$0")/../.."
real=${GPUGATE_REAL_DIR:-$HOME/.cache/gpugate-real}
gpugate=${GPUGATE_BIN:-$PWD/target/debug/gpugate}
fail() { echo "tests/real/prepare.sh: $*" >&2; exit 1; }
[ -x "$gpugate" ] || fail "no gpugate binary at $gpugate (cargo build first)"
mkdir -p "$real"

# 1. The provisioned GPU stacks (a no-op when an entry is complete): the
#    default release, and 2.21.0 as pip lays it out.
# fetch-tensorflow prints the entry's libtensorflow; its stack is two up.
default_library=$(GPUGATE_CACHE_DIR="$real/cache" "$gpugate" fetch-tensorflow --gpu) \
  || fail "provisioning the default TensorFlow with its CUDA libraries failed (is the package registry reachable?)"
GPUGATE_CACHE_DIR="$real/cache" "$gpugate" fetch-tensorflow --gpu --tensorflow-version 2.21.0 >/dev/null \
  || fail "provisioning TensorFlow 2.21.0 with its CUDA libraries failed (is the package registry reachable?)"
GPUGATE_CACHE_DIR="$real/cpu-cache" "$gpugate" fetch-tensorflow --cpu --tensorflow-version 2.21.0 >/dev/null \
  || fail "provisioning the TensorFlow 2.21.0 CPU build failed"
stack="$real/cache/tensorflow/2.21.0-gpu"
cpu="$real/cpu-cache/tensorflow/2.21.0-cpu"

# unpack REQUIREMENT DEST PREFIX...: the members of REQUIREMENT's wheel whose
# names start with a PREFIX, into DEST, once; DEST appears whole or not at
# all. Downloaded beside the cache, not into a temporary directory that may
# be a small tmpfs (cuDNN's wheel is 700 MB); what an interrupted run left
# is removed, not left to pile up.
unpack() {
  local requirement=$1 dest=$2 tmp
  shift 2
  [ -d "$dest" ] && return 0
  rm -rf "$real"/.download.* "$dest.partial"
  tmp=$(mktemp -d "$real/.download.XXXXXX")
  python3 -m pip download -q --no-deps --only-binary=:all: --disable-pip-version-check \
    --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 \
    -d "$tmp" "$requirement" \
    || fail "pip could not download $requirement"
  python3 - "$tmp" "$dest.partial" "$@" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(tuple(sys.argv[3:])):
            z.extract(name, sys.argv[2])
PY
  rm -rf "$tmp"
  mv "$dest.partial" "$dest"
}

# 2. Real NVIDIA libraries of other versions than the stack's, only their
#    library directories: older cuDNNs (9.3.0.75 is the one 2.18 and 2.19
#    pin; its shim loads its sub-libraries by soname, the stack's 9.28 from
#    its own directory), and an older nvJitLink than the default stack's
#    cuSPARSE and cuSOLVER need.
unpack nvidia-cudnn-cu12==9.1.0.70 "$real/cudnn-9.1" nvidia/cudnn/lib/
unpack nvidia-cudnn-cu12==9.3.0.75 "$real/cudnn-9.3" nvidia/cudnn/lib/
# The same cuDNN release built for CUDA 11 (same soname, same version).
unpack nvidia-cudnn-cu11==9.3.0.75 "$real/cudnn-cu11-9.3" nvidia/cudnn/lib/
unpack nvidia-nvjitlink-cu12==12.5.82 "$real/nvjitlink-12.5" nvidia/nvjitlink/lib/
# A cuBLAS whose RUNPATH is $ORIGIN (12.5; the stack's has an RPATH): with
# another cuBLAS on LD_LIBRARY_PATH it takes that one's cublasLt.
unpack nvidia-cublas-cu12==12.5.3.2 "$real/cublas-12.5" nvidia/cublas/lib/
# Older than nvJitLinkVersion (CUDA 12.3): its version is in its dist-info.
unpack nvidia-nvjitlink-cu12==12.1.105 "$real/nvjitlink-12.1" nvidia/nvjitlink/lib/ \
  nvidia_nvjitlink_cu12-12.1.105.dist-info/

# 2b. TensorFlow 2.18.1's own files (its framework library holds the loader
#     whose RUNPATH is judged), beside the default stack's NVIDIA libraries.
#     With its dist-info (METADATA, RECORD): a copy unpacked before it was
#     kept is unpacked again.
if [ -d "$real/tf-2.18.1" ] && [ ! -d "$real/tf-2.18.1/tensorflow-2.18.1.dist-info" ]; then
  rm -rf "$real/tf-2.18.1"
fi
unpack tensorflow==2.18.1 "$real/tf-2.18.1" tensorflow/libtensorflow_cc.so.2 \
  tensorflow/libtensorflow_framework.so.2 tensorflow/python/platform/build_info.py \
  tensorflow-2.18.1.dist-info/
#     tensorflow-cpu 2.18.1's files and dist-info: installed over tensorflow
#     2.18.1, two distributions own one tensorflow/ directory.
unpack tensorflow-cpu==2.18.1 "$real/tf-cpu-2.18.1" tensorflow/libtensorflow_cc.so.2 \
  tensorflow/libtensorflow_framework.so.2 tensorflow/python/platform/build_info.py \
  tensorflow_cpu-2.18.1.dist-info/
#     A dated tf-nightly, whose build_info.py states no CUDA or cuDNN
#     version: its METADATA's `and-cuda` requirements do.
unpack tf-nightly==2.23.0.dev20261026 "$real/tf-nightly" tensorflow/libtensorflow_cc.so.2 \
  tensorflow/libtensorflow_framework.so.2 tensorflow/python/platform/build_info.py \
  tf_nightly-2.23.0.dev20261026.dist-info/
#     And 2.16.1's, whose framework library's RUNPATH reaches only
#     nvidia/cuda_runtime/lib.
unpack tensorflow==2.16.1 "$real/tf-2.16.1" tensorflow/libtensorflow_cc.so.2 \
  tensorflow/libtensorflow_framework.so.2 tensorflow/python/platform/build_info.py
default_stack=$(dirname "$(dirname "$default_library")")
for env in tf-2.18.1 tf-2.16.1; do
  if [ ! -d "$real/$env/nvidia" ]; then
    cp -al "$default_stack/nvidia" "$real/$env/nvidia.partial" 2>/dev/null \
      || cp -a "$default_stack/nvidia" "$real/$env/nvidia.partial"
    mv "$real/$env/nvidia.partial" "$real/$env/nvidia"
  fi
done

# 3. Debian 12's driver user space, from a copy of this machine's apt sources
#    with non-free added (the machine's own sources are never changed).
if [ ! -f "$real/driver/.complete" ]; then
  apt_dir=$(mktemp -d)
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d" "$apt_dir/debs"
  for f in /etc/apt/sources.list.d/*.sources; do
    sed -E 's/^Components: (.*)$/Components: \1 non-free/' "$f" > "$apt_dir/sources.list.d/$(basename "$f")"
  done
  [ -f /etc/apt/sources.list ] && sed -E 's/^(deb .*)$/\1 non-free/' /etc/apt/sources.list > "$apt_dir/sources.list.d/base.list"
  apt_opts=(-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d" -o "Dir::Etc::SourceList=/dev/null"
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::archives=$apt_dir/debs" -o Debug::NoLocking=1)
  apt-get "${apt_opts[@]}" -qq update || fail "apt-get update (with non-free) failed"
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download libnvidia-ml1 libcuda1) \
    || fail "apt-get download libnvidia-ml1 libcuda1 failed"
  rm -rf "$real/driver"
  mkdir -p "$real/driver"
  for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$real/driver"; done
  rm -rf "$apt_dir"
  touch "$real/driver/.complete"
fi

# 4. The CPU build's libraries without build_info.py.
mkdir -p "$real/cpu-no-build-info"
for lib in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  [ -f "$real/cpu-no-build-info/$lib" ] || ln -f "$cpu/tensorflow/$lib" "$real/cpu-no-build-info/$lib" 2>/dev/null \
    || cp "$cpu/tensorflow/$lib" "$real/cpu-no-build-info/$lib"
done

# 5. A venv holding the stack in pip's layout, with TensorFlow's dist-info.
if [ ! -f "$real/venv/.complete" ]; then
  rm -rf "$real/venv"
  python3 -m venv "$real/venv"
  site=$("$real/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  cp -al "$stack/tensorflow" "$site/tensorflow" 2>/dev/null || cp -a "$stack/tensorflow" "$site/tensorflow"
  cp -al "$stack/nvidia" "$site/nvidia" 2>/dev/null || cp -a "$stack/nvidia" "$site/nvidia"
  mkdir -p "$site/tensorflow-2.21.0.dist-info"
  printf 'Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.21.0\n' > "$site/tensorflow-2.21.0.dist-info/METADATA"
  touch "$real/venv/.complete"
fi
echo "$real"
