#!/usr/bin/env bash
# Builds the guest examples — modules for wasm32-wasip1, wasi:http components for
# wasm32-wasip2 (linked by wasm-component-ld, installed by install-toolchain.sh) — and
# refreshes prebuilt/ + prebuilt/MANIFEST (blake3 of each). `--check` only verifies that MANIFEST matches prebuilt/.
# The toolchain comes from install-toolchain.sh (rustup's cargo driving Debian's rustc).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
examples=(echo fail hello orders)
components=(hello-http probe-http probe-handler)

if [ "${1:-}" = "--check" ]; then
  (cd prebuilt && b3sum --check MANIFEST)
  exit 0
fi

export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld-22
# Keep the host's RUSTFLAGS etc. out of the guest build.
unset RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR
start=$(date +%s)
cargo build --release --locked --target wasm32-wasip1 -Zbuild-std=std,panic_abort \
  $(printf -- '-p %s ' "${examples[@]}")
mkdir -p prebuilt
for e in "${examples[@]}"; do
  cp "target/wasm32-wasip1/release/$e.wasm" "prebuilt/$e.wasm"
done
export CARGO_TARGET_WASM32_WASIP2_LINKER="${WASM_COMPONENT_LD:-$HOME/.cargo/bin/wasm-component-ld}"
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C link-arg=--wasm-ld-path=/usr/bin/wasm-ld-22"
cargo build --release --locked --target wasm32-wasip2 -Zbuild-std=std,panic_abort \
  $(printf -- '-p %s ' "${components[@]}")
for c in "${components[@]}"; do
  cp "target/wasm32-wasip2/release/${c//-/_}.wasm" "prebuilt/$c.wasm"
done
(cd prebuilt && b3sum "${examples[@]/%/.wasm}" "${components[@]/%/.wasm}" > MANIFEST)
echo "built ${examples[*]} ${components[*]} in $(( $(date +%s) - start ))s:"
(cd prebuilt && ls -l *.wasm | awk '{print "  " $9 " " $5 " bytes"}')
