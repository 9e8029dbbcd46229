#!/usr/bin/env bash
# Installs the toolchain that builds the guest examples (wasm32-wasip1) from Debian's
# packages: rustc-web (a rustc with the wasm targets' std sources), lld-22 (wasm-ld),
# wasi-libc, and b3sum for the hash manifest (guest-examples/README.md explains the setup).
# Idempotent; needs root (CI runs as root).
set -euo pipefail

need=()
command -v /usr/bin/rustc >/dev/null 2>&1 || need+=(rustc-web)
[ -d /usr/lib/rustlib/src/rust ] || need+=(rust-web-src)
command -v wasm-ld-22 >/dev/null 2>&1 || need+=(lld-22)
[ -d /usr/lib/wasm32-wasi ] || need+=(wasi-libc)
command -v b3sum >/dev/null 2>&1 || need+=(b3sum)
# The JavaScript and Python examples: Node.js with npm (componentize-js), Python with venv
# (componentize-py). Machines that already have them (from elsewhere than Debian) keep theirs.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
# rustc looks for the C runtime (crt1-command.o, libc.a) in the target's self-contained dir.
for t in wasm32-wasip1 wasm32-wasip2; do
  mkdir -p /usr/lib/rustlib/$t/lib
  ln -sfn /usr/lib/wasm32-wasi /usr/lib/rustlib/$t/lib/self-contained
done
# Links wasm32-wasip2 builds into components (the wasi:http examples).
if ! command -v wasm-component-ld >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/wasm-component-ld" ]; then
  cargo install wasm-component-ld --version 0.5.31 --locked
fi
echo "guest toolchain ready: $(/usr/bin/rustc --version)"
