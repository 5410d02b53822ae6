#!/usr/bin/env bash
# Builds the two WASM variants of the core into wasm/dist (see README.md):
#   tessera-simd.wasm     +simd128,+atomics,+bulk-memory,+mutable-globals
#   tessera-relaxed.wasm  the same plus +relaxed-simd
# Usage: wasm/build.sh            build into wasm/dist
#        wasm/build.sh --check    rebuild into a temp dir, fail if it differs from wasm/dist
# Env:   RUSTC, CARGO (default: Debian's /usr/bin toolchain), TESSERA_WASM_TARGET_DIR
#        (default: wasm/target). Set TESSERA_TOOLCHAIN=rustup to use `cargo +nightly`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

mode=build
case "${1:-}" in
  --check) mode=check ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if [[ "${TESSERA_TOOLCHAIN:-debian}" == rustup ]]; then
  cargo=(cargo +nightly)
  unset RUSTC
else
  export RUSTC="${RUSTC:-/usr/bin/rustc}"
  export RUSTC_BOOTSTRAP=1   # -Zbuild-std and the wasm wait/notify intrinsics are unstable
  cargo=("${CARGO:-/usr/bin/cargo}")
fi

target_root="${TESSERA_WASM_TARGET_DIR:-$here/target}"
out="$here/dist"
if [[ $mode == check ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# Linker: Debian's wasm-ld (rust-lld is a dangling link there). Memory is imported, shared,
# up to 4 GiB. __stack_pointer is exported so the loader can give every instance its own
# stack (see README.md, "Stacks"); the built-in stack is only used by the start function.
link=(
  -C linker=wasm-ld
  -C link-arg=--shared-memory
  -C link-arg=--import-memory
  -C link-arg=--max-memory=4294967296
  -C link-arg=--export=__stack_pointer
  -C link-arg=-zstack-size=65536
)

build_variant() { # name features
  local name=$1 features=$2
  RUSTFLAGS="-C target-feature=$features ${link[*]} -Zlocation-detail=none" \
  CARGO_TARGET_DIR="$target_root/$name" \
    "${cargo[@]}" build --offline --release --quiet \
      --target wasm32-unknown-unknown -Zbuild-std=core
  install -m 644 "$target_root/$name/wasm32-unknown-unknown/release/tessera_core.wasm" "$out/tessera-$name.wasm"
}

base="+simd128,+atomics,+bulk-memory,+mutable-globals"
build_variant simd "$base"
build_variant relaxed "$base,+relaxed-simd"

if [[ $mode == check ]]; then
  status=0
  for v in simd relaxed; do
    if ! cmp -s "$out/tessera-$v.wasm" "$here/dist/tessera-$v.wasm"; then
      echo "wasm/dist/tessera-$v.wasm is stale: rebuild with wasm/build.sh and commit it" >&2
      status=1
    fi
  done
  [[ $status == 0 ]] && echo "wasm/dist is up to date"
  exit $status
fi
ls -l "$out"/tessera-*.wasm
