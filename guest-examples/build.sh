#!/usr/bin/env bash
# Builds the guest examples — modules for wasm32-wasip1, wasi:http components for
# wasm32-wasip2 (linked by wasm-component-ld, installed by install-toolchain.sh) — and
# refreshes prebuilt/ + prebuilt/MANIFEST (blake3 of each). `--check` only verifies that MANIFEST matches prebuilt/.
# The toolchain comes from install-toolchain.sh (rustup's cargo driving Debian's rustc).
# Then the JavaScript and Python handler components (componentize-js from npm,
# componentize-py from PyPI), into built/: 12–19 MB each, so they are built here rather
# than committed (and neither tool's output is bit-reproducible: README.md says why).
# `--no-js-py` skips them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
examples=(echo fail hello orders)
components=(hello-http probe-http probe-handler fetch-http)

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

[ "${1:-}" = "--no-js-py" ] && exit 0
start=$(date +%s)
mkdir -p built
# JavaScript: the versions package-lock.json pins; the world adds wasi:cli/environment
# to Waygate's handler world (js/wit/; its deps/waygate-function is a copy of ../wit,
# made here: componentize-js reads WIT from inside a sandbox that follows no symlink out).
# `--disable http fetch-event`: no wasi:http import (a function has no outgoing HTTP);
# stdio, clocks and random stay (console.log works).
mkdir -p js/wit/deps/waygate-function && cp ../wit/handler.wit js/wit/deps/waygate-function/
(cd js && npm ci --no-audit --no-fund --loglevel=error)
for e in hello-js orders-js; do
  (cd js && npx componentize-js "$e/app.js" --wit wit --world-name handler-js --disable http fetch-event \
    -o "../built/$e.wasm")
done
# Python: componentize-py as requirements.txt pins it, in its own virtualenv.
[ -x py/.venv/bin/componentize-py ] || { python3 -m venv py/.venv && py/.venv/bin/pip install -q -r py/requirements.txt; }
for e in hello-py; do
  (cd "py/$e" && ../.venv/bin/componentize-py -d ../../../wit/handler.wit -w handler componentize app \
    -o "../../built/$e.wasm")
done
(cd built && b3sum *.wasm > MANIFEST)
echo "built hello-js orders-js hello-py in $(( $(date +%s) - start ))s:"
(cd built && ls -l *.wasm | awk '{print "  " $9 " " $5 " bytes"}')
