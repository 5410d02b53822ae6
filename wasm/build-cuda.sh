#!/usr/bin/env bash
# Builds the CUDA library (wasm/cuda/*.cu*) into wasm/dist/cuda/linux-x64/:
#   libtessera-cuda.so      nvcc, fat binary for sm_80, sm_89, sm_90 plus compute_90 PTX (newer cards JIT it);
#                           cudart linked statically: it loads where only the NVIDIA driver (libcuda.so.1) is.
#   libtessera-cuda-emu.so  g++ -DTSR_EMU: the same interpreter and kernel bodies run on the host (tests, no GPU).
# Usage: wasm/build-cuda.sh [--emu-only]     Env: NVCC (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc), CXX (g++)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/cuda"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  *) echo "build-cuda.sh: unsupported platform $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac
out="$here/dist/cuda/$platform"
mkdir -p "$out"
cxx="${CXX:-g++}"
"$cxx" -std=c++17 -O2 -fPIC -shared -DTSR_EMU -x c++ "$src/tessera_cuda.cu" -o "$out/libtessera-cuda-emu.so" -Wall -Wno-unused-function
echo "built $out/libtessera-cuda-emu.so"
[[ "${1:-}" == --emu-only ]] && exit 0
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
"$nvcc" -std=c++17 -O3 -Xcompiler -fPIC -shared -cudart static \
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_89,code=sm_89 \
  -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
  "$src/tessera_cuda.cu" -o "$out/libtessera-cuda.so"
strip --strip-unneeded "$out/libtessera-cuda.so" 2>/dev/null || true
echo "built $out/libtessera-cuda.so"
