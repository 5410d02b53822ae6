#!/usr/bin/env bash
# Builds the native shared library of the core (the `native` cargo feature; see ABI.md
# "Native library") for this machine's OS/architecture into wasm/dist/native/<os>-<arch>/, one
# library per SIMD level, chosen at load time by tsr_native_cpu_level() of the baseline one:
#   linux-x64:   libtessera-x86-64.so (baseline, SSE2), libtessera-x86-64-v3.so (AVX2+FMA),
#                libtessera-x86-64-v4.so (AVX-512 with VNNI)
#   linux-arm64: libtessera-armv8.so (NEON)
# Usage: wasm/build-native.sh           build
#        wasm/build-native.sh --check   rebuild into a temp dir, fail if it differs from wasm/dist/native
# Env:   RUSTC, CARGO (default: Debian's /usr/bin toolchain), TESSERA_NATIVE_TARGET_DIR (default: wasm/target/native)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

mode=build
case "${1:-}" in
  --check) mode=check ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

export RUSTC="${RUSTC:-/usr/bin/rustc}"
export RUSTC_BOOTSTRAP=1 # -Zlocation-detail=none: no source paths in the library
cargo="${CARGO:-/usr/bin/cargo}"
target_root="${TESSERA_NATIVE_TARGET_DIR:-$here/target/native}"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64; levels=(x86-64 x86-64-v3 x86-64-v4); ext=so ;;
  Linux-aarch64) platform=linux-arm64; levels=(armv8); ext=so ;;
  Darwin-arm64) platform=darwin-arm64; levels=(armv8); ext=dylib ;;
  *) echo "build-native.sh: unsupported platform $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac

dest="$here/dist/native/$platform"
out="$dest"
if [[ $mode == check ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

for level in "${levels[@]}"; do
  cpu=$level
  [[ $level == armv8 ]] && cpu=generic
  features=""
  # The AVX-512 library also uses VNNI (vpdpbusd: the u8×i8 dots in one instruction; Cascade Lake,
  # Ice Lake, Zen 4 and later); an AVX-512 CPU without it (Skylake-X) runs the AVX2 library.
  [[ $level == x86-64-v4 ]] && features="-C target-feature=+avx512vnni"
  RUSTFLAGS="-C target-cpu=$cpu $features -C strip=symbols -Zlocation-detail=none --remap-path-prefix=$here=tessera-core" \
  CARGO_TARGET_DIR="$target_root/$level" \
    "$cargo" build --offline --release --quiet --features native --lib
  install -m 644 "$target_root/$level/release/libtessera_core.$ext" "$out/libtessera-$level.$ext"
done

if [[ $mode == check ]]; then
  status=0
  for level in "${levels[@]}"; do
    f="libtessera-$level.$ext"
    if ! cmp -s "$out/$f" "$dest/$f"; then
      echo "wasm/dist/native/$platform/$f is stale: rebuild with wasm/build-native.sh and commit it" >&2
      status=1
    fi
  done
  [[ $status == 0 ]] && echo "wasm/dist/native/$platform is up to date"
  exit $status
fi
ls -l "$out"
