#!/usr/bin/env bash
# Same-run A/B of two Waygate builds on loopback: both serve the bundled `hello` through
# the full gateway path (stage prod → route GET /hello → hello:live → version 1 → fresh
# instance) and wrk drives them A B A B … with the same settings. Prints req/s, p50, p99
# and server CPU per request for each, and B's ratios against A. For "did this change
# cost anything": build the base commit and the change into two binaries, then
#
#   BASE=/tmp/waygate-base NEW=target/release/waygate bash bench/ab.sh
#   ROUNDS=5 DURATION=5 CONCURRENCY="8 32" (defaults)
#
# Needs: Debian's wrk (installed when missing) and guest-examples/prebuilt/hello.wasm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
BASE=${BASE:?set BASE to the base build of waygate}
NEW=${NEW:-$repo/target/release/waygate}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-"8 32"}
PORT_BASE=${PORT_BASE:-18280}
module="$repo/guest-examples/prebuilt/hello.wasm"
work="$(mktemp -d /tmp/waygate-ab.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }
command -v wrk >/dev/null || { say "installing wrk"; apt-get install -y wrk >/dev/null; }

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
declare -A bin=([base]="$BASE" [new]="$NEW") url pid
port=$PORT_BASE
for s in base new; do
  admin=127.0.0.1:$port gw=127.0.0.1:$((port + 1))
  port=$((port + 2))
  RUST_LOG=warn "${bin[$s]}" up --data-dir "$work/$s" --admin-addr "$admin" --gateway-addr "$gw" --no-examples \
    > "$work/$s.log" 2>&1 &
  pids+=($!); pid[$s]=$!
  wait_http "http://$admin/"
  wg() { WAYGATE_ENDPOINT="http://$admin" WAYGATE_DATA_DIR="$work/$s" "${bin[$s]}" "$@" --output json; }
  api=$(deploy_hello)
  url[$s]="http://$gw/$api/prod/hello?name=bench"
  wait_http "${url[$s]}"
  say "$s (${bin[$s]}): $(curl -s "${url[$s]}")"
done

run_rounds base new
declare -A med
report base new
for c in $CONCURRENCY; do
  awk -v c="$c" -v b="${med[$c,base,rps]}" -v n="${med[$c,new,rps]}" -v bp="${med[$c,base,p99]}" -v np="${med[$c,new,p99]}" \
      -v bc="${med[$c,base,cpu]}" -v nc="${med[$c,new,cpu]}" \
    'BEGIN { printf "c=%s: new/base req/s %.3fx, p99 %.2fx, cpu/request %.2fx\n", c, n / b, np / bp, nc / bc }'
done
