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

target_root="${TESSERA_WASM_TARGET_DIR:-$here/target}"
if [[ "${TESSERA_TOOLCHAIN:-debian}" == rustup ]]; then
  # nightly + rust-src. .cargo/config.toml points build-std's crates at a vendor directory;
  # use the sysroot's if it has one, else vendor std's dependencies once (needs network).
  unset RUSTC
  sysroot="$(rustc +nightly --print sysroot)"
  vendor="$sysroot/lib/rustlib/src/rust/library/vendor"
  if [[ ! -d $vendor ]]; then
    vendor="$target_root/std-vendor"
    [[ -d $vendor ]] || (cd "$sysroot/lib/rustlib/src/rust/library" && cargo +nightly vendor -q "$vendor" >/dev/null)
  fi
  cargo=(cargo +nightly --config "source.vendored-std.directory=\"$vendor\"")
  linker="${WASM_LD:-rust-lld}"
else
  export RUSTC="${RUSTC:-/usr/bin/rustc}"
  export RUSTC_BOOTSTRAP=1   # -Zbuild-std and the wasm wait/notify intrinsics are unstable
  cargo=("${CARGO:-/usr/bin/cargo}")
  linker="${WASM_LD:-wasm-ld}"   # Debian's lld; its rust-lld is a dangling link
fi

out="$here/dist"
if [[ $mode == check ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# Memory is imported, shared,
# up to 4 GiB. __stack_pointer is exported so the loader can give every instance its own
# stack (see README.md, "Stacks"); the built-in stack is only used by the start function.
link=(
  -C "linker=$linker"
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
