#!/usr/bin/env bash
# Runs the CUDA checks on the lent GPU machine, from the repository root, with .gpu/ carried (made here by
# test/cuda/pack-for-gpu.sh: that machine has no Node). Builds nothing: the committed libtessera-cuda.so runs.
#   1. nvidia-smi and the driver probe;
#   2. test/cuda/ops.test.ts (conformance, emulation and GPU suites) and test/cuda/cuda-vs-llamacpp.test.ts (logits
#      vs llama.cpp's recorded answers, test/fixtures/oracle-cuda);
#   3. bench/cuda.ts: the CUDA backend vs the native backend (all cores) on the 1B-shape Q4_K_M and Q4_0 models
#      (generated there, about a minute each), prefill 512 tokens and 64 decode steps.
# Writes $OUT/gpu.txt, tests.log, bench.log, cuda-bench.json. About 4 minutes.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-/tmp/tessera-cuda-out}"
mkdir -p "$OUT" /tmp/tessera-node/bin
t0=$(date +%s)
xz -dc .gpu/node.xz > /tmp/tessera-node/bin/node && chmod +x /tmp/tessera-node/bin/node
export PATH=/tmp/tessera-node/bin:$PATH
tar -xJf .gpu/payload.tar.xz
{ nvidia-smi; node --version; ls -la wasm/dist/cuda/linux-x64; } > "$OUT/gpu.txt" 2>&1
echo "unpacked in $(( $(date +%s) - t0 )) s"
export TESSERA_ORACLE_DIR=test/fixtures/oracle-cuda
timeout 150 node node_modules/vitest/vitest.mjs run test/cuda/ops.test.ts test/cuda/cuda-vs-llamacpp.test.ts --reporter=verbose > "$OUT/tests.log" 2>&1
echo "tests exit $? after $(( $(date +%s) - t0 )) s"; grep -E "Tests |Test Files|FAIL|×|skipped: no CUDA" "$OUT/tests.log" | head -40
left=$(( 280 - ($(date +%s) - t0) ))
timeout "$(( left > 30 ? left : 30 ))" node dist/bench/cuda.js --shape "${SHAPE:-1b}" --types "${TYPES:-Q4_K_M,Q4_0}" --prompt 512 --predict 64 --reps 2 --out "$OUT" > "$OUT/bench.log" 2>&1
echo "bench exit $? after $(( $(date +%s) - t0 )) s"; grep -v "^[│┌├└]" "$OUT/bench.log" | tail -12
