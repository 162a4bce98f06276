#!/usr/bin/env bash
# Compile llama-cpp-python once for a backend and cache the wheel; prints the wheel's path.
#
#   bash installer/build_llama.sh [cpu|cuda|vulkan|metal]    (default: cpu)
#   bash installer/build_llama.sh --dir BACKEND              the cache folder only
#
# cpu     the default build (always works; every machine falls back to it). On x86-64 it is
#         compiled for this CPU but without Intel AMX kernels: llama.cpp's AMX path segfaults
#         in the first inference on some AMX CPUs (llama.cpp issue 20824; seen on this project's
#         CI machines), and the AVX-512/AVX2 kernels with weight repacking remain
# cuda    -DGGML_CUDA=on: NVIDIA GPUs; needs the CUDA toolkit (nvcc) and, to run, the driver
# vulkan  -DGGML_VULKAN=on: most GPUs on Linux and Windows; needs the Vulkan headers and glslc
# metal   -DGGML_METAL=on: Apple GPUs (macOS only; llama.cpp's default there)
#
# Wheels go to ~/.cache/enclave/wheels/llama-BACKEND (cpu: llama-cpu-noamx), so builds
# for several backends live side by side. setup.sh uses ENCLAVE_LLAMA_BACKEND to pick one;
# `enclave doctor` then says whether this build can offload layers to a GPU.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLAMA_VERSION="0.3.36"
CACHE="${ENCLAVE_WHEEL_CACHE:-$HOME/.cache/enclave/wheels}"
die() { printf 'build_llama: %s\n' "$*" >&2; exit 1; }

only_dir=""
if [ "${1:-}" = "--dir" ]; then only_dir=1; shift; fi
BACKEND="${1:-cpu}"
case "$BACKEND" in
  cpu) dir="$CACHE/llama-cpu-noamx"; cmake_args="" ;;
  cuda) dir="$CACHE/llama-cuda"; cmake_args="-DGGML_CUDA=on" ;;
  vulkan) dir="$CACHE/llama-vulkan"; cmake_args="-DGGML_VULKAN=on" ;;
  metal)
    [ "$(uname -s)" = "Darwin" ] || die "the Metal backend is for macOS"
    dir="$CACHE/llama-metal"; cmake_args="-DGGML_METAL=on" ;;
  *) die "unknown backend '$BACKEND' (cpu, cuda, vulkan, metal)" ;;
esac
if [ -n "$only_dir" ]; then echo "$dir"; exit 0; fi

wheel="$(ls "$dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
  PY="${PYTHON:-${ENCLAVE_VENV:-$ROOT/.venv}/bin/python}"
  [ -x "$PY" ] || PY="$(command -v python3)"
  gpu=()
  case "$BACKEND" in cuda|vulkan) gpu=(--gpu "$BACKEND") ;; esac
  "$PY" "$ROOT/desktop/engine/core/prereqs.py" --build ${gpu[@]+"${gpu[@]}"} ||
    die "install the packages named above, then run this again"
  mkdir -p "$dir"
  printf '\033[1m==> %s\033[0m\n' "Compiling llama-cpp-python $LLAMA_VERSION ($BACKEND) once (5-10 minutes on CPU, longer for CUDA); cached in $dir" >&2
  isa_flags=""
  case "$(uname -m)" in x86_64|amd64|AMD64) isa_flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" ;; esac
  CFLAGS="${CFLAGS:-} $isa_flags" CXXFLAGS="${CXXFLAGS:-} $isa_flags" \
  CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
    "$PY" -m pip wheel --quiet --no-deps --no-cache-dir -w "$dir" "llama-cpp-python==$LLAMA_VERSION"
  wheel="$(ls "$dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)"
fi
echo "$wheel"
