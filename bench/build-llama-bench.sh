#!/usr/bin/env bash
# Builds llama.cpp's own llama-bench and llama-quantize, natively for this CPU (-march=native), from the source
# bundle that node-llama-cpp ships (the same llama.cpp release as the prebuilt oracle), into a cache outside the
# repository: ${TESSERA_LLAMA_CPP_DIR:-~/.cache/tessera/llama.cpp}/build/bin. About 10 minutes on 2 cores; a
# second run only rebuilds what changed. `npm run bench` uses the binary as engine `llamabench` when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${TESSERA_LLAMA_CPP_DIR:-$HOME/.cache/tessera/llama.cpp}"
bundle="node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "missing $bundle: run npm install first" >&2; exit 1; }
if [ ! -f "$dir/CMakeLists.txt" ]; then
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  git clone -q --depth 1 "$bundle" "$dir"
fi
cmake -S "$dir" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$dir/build" -j"$(nproc)" --target llama-bench llama-quantize llama-batched-bench
echo "built: $dir/build/bin/llama-bench $dir/build/bin/llama-quantize $dir/build/bin/llama-batched-bench"
