#!/usr/bin/env bash
# Same-run comparison of Waygate with `wasmtime serve` on loopback, A B C D A B C D …
# rounds with the same load tool (wrk) and settings. Waygate is driven through its full
# path: gateway stage → route → alias → version → fresh instance, once with the wasi:http
# hello component that wasmtime serves (`waygate-http`: the same binary on both) and once
# with the p1 module hello (`waygate`). Prints req/s, p50, p99 and server CPU per request
# for each, and Waygate's ratios against both peers.
#
#   bash bench/compare.sh                   # ROUNDS=5 DURATION=5 CONCURRENCY="8 32"
#   WASMTIME=/path/to/wasmtime bash bench/compare.sh
#
# Needs: Debian's wrk; the guest toolchain of guest-examples/install-toolchain.sh (rustc-web,
# rust-web-src, lld-22, wasi-libc) for the p1 examples; installs wasmtime-cli 48.0.8
# with cargo when missing (≈ 12 min on 2 cores).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-"8 32"}
PORT_BASE=${PORT_BASE:-18180}
work="$(mktemp -d /tmp/waygate-compare.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

say() { echo "== $*" >&2; }

# --- tools -------------------------------------------------------------------------------
WASMTIME=${WASMTIME:-$(command -v wasmtime || echo "$HOME/.cargo/bin/wasmtime")}
if ! "$WASMTIME" --version 2>/dev/null | grep -q '48\.0\.8'; then
  say "installing wasmtime-cli 48.0.8 (cargo install, ≈ 12 min on 2 cores)"
  cargo install wasmtime-cli --version 48.0.8 --locked
  WASMTIME="$HOME/.cargo/bin/wasmtime"
fi
command -v wrk >/dev/null || { say "installing wrk"; apt-get install -y wrk >/dev/null; }

# --- guests ------------------------------------------------------------------------------
# hello as a wasi:http proxy component: guest-examples/hello-http, prebuilt (build.sh).
component="$repo/guest-examples/prebuilt/hello-http.wasm"
module="$repo/guest-examples/prebuilt/hello.wasm"
if [ ! -f "$module" ]; then
  say "building the guest examples (wasm32-wasip1)"
  bash "$repo/guest-examples/build.sh"
fi
say "building waygate (release)"
(cd "$repo" && cargo build --release --bin waygate -q)
waygate="$repo/target/release/waygate"

# --- servers -----------------------------------------------------------------------------
admin=127.0.0.1:$PORT_BASE gw=127.0.0.1:$((PORT_BASE + 1))
serve=127.0.0.1:$((PORT_BASE + 2)) tuned=127.0.0.1:$((PORT_BASE + 3))
# Per-invocation log lines still go to the logs buffer and metrics; only their copy on
# the server's stdout is off (as wasmtime serve prints nothing per request).
RUST_LOG=warn "$waygate" up --data-dir "$work/data" --admin-addr "$admin" --gateway-addr "$gw" --no-examples \
  > "$work/waygate.log" 2>&1 &
pids+=($!); wg_pid=$!
# `-S cli`: the component imports wasi:cli (its environment), which serve links only then.
"$WASMTIME" serve -S cli --addr "$serve" "$component" > "$work/serve.log" 2>&1 &
pids+=($!); serve_pid=$!
"$WASMTIME" serve -S cli --addr "$tuned" \
  -O pooling-allocator=y,pooling-memory-keep-resident=65536,pooling-table-keep-resident=65536,pooling-pagemap-scan=y \
  "$component" > "$work/tuned.log" 2>&1 &
pids+=($!); tuned_pid=$!

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
wait_http "http://$admin/"
export WAYGATE_ENDPOINT="http://$admin" WAYGATE_DATA_DIR="$work/data"
wg() { "$waygate" "$@" --output json; }
api=$(deploy_hello)
# The same component wasmtime serves, through the same path (its own function and API).
wg function create hello-http >/dev/null
wg function upload hello-http "$component" >/dev/null
wg version publish hello-http >/dev/null
wg alias set hello-http live 1 >/dev/null
api_http=$(wg api create bench-http | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
wg route put "$api_http" GET /hello --function hello-http:live >/dev/null
wg permission add hello-http bench-api --principal "api:$api_http" --source "$api_http/*/*/*" --qualifier live >/dev/null
wg deploy "$api_http" --stage prod >/dev/null
declare -A url=(
  [waygate-http]="http://$gw/$api_http/prod/hello?name=bench"
  [waygate]="http://$gw/$api/prod/hello?name=bench"
  [serve]="http://$serve/hello?name=bench"
  [tuned]="http://$tuned/hello?name=bench"
)
declare -A pid=([waygate-http]=$wg_pid [waygate]=$wg_pid [serve]=$serve_pid [tuned]=$tuned_pid)
for s in waygate-http waygate serve tuned; do
  wait_http "${url[$s]}"
  say "$s: $(curl -s "${url[$s]}")"
done

# --- load --------------------------------------------------------------------------------
run_rounds waygate-http waygate serve tuned

# --- report ------------------------------------------------------------------------------
declare -A med
report waygate-http waygate serve tuned
for c in $CONCURRENCY; do
  for w in waygate-http waygate; do
    awk -v c="$c" -v n="$w" -v w="${med[$c,$w,rps]}" -v d="${med[$c,serve,rps]}" -v t="${med[$c,tuned,rps]}" \
        -v wp="${med[$c,$w,p99]}" -v dp="${med[$c,serve,p99]}" -v tp="${med[$c,tuned,p99]}" \
      'BEGIN { printf "c=%s: %s/serve req/s %.2fx, %s/tuned req/s %.2fx; p99 %s/serve %.2fx, %s/tuned %.2fx\n", c, n, w / d, n, w / t, n, wp / dp, n, wp / tp }'
  done
done
