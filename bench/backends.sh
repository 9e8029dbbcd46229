#!/usr/bin/env bash
# Same-run cost of an HTTP proxy integration: a local hello backend (hyper, through axum:
# host/cli/examples/hello_backend.rs) called directly and through a Waygate stage route
# `GET /hello` → `http://${stageVariables.backendHost}/hello`, in alternating wrk rounds
# at each concurrency. Prints req/s, p50, p99 for both, the added p50 latency and the
# throughput ratio (Waygate / direct).
#
#   bash bench/backends.sh                  # ROUNDS=5 DURATION=5 CONCURRENCY="1 32"
#
# Needs: Debian's wrk (installed when missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-"1 32"}
PORT_BASE=${PORT_BASE:-18190}
work="$(mktemp -d /tmp/waygate-backends.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }

command -v wrk >/dev/null || { say "installing wrk"; apt-get install -y wrk >/dev/null; }
say "building waygate and the hello backend (release)"
(cd "$repo" && cargo build --release --bin waygate --example hello_backend -q)
waygate="$repo/target/release/waygate"
backend_bin="$repo/target/release/examples/hello_backend"

admin=127.0.0.1:$PORT_BASE gw=127.0.0.1:$((PORT_BASE + 1)) backend=127.0.0.1:$((PORT_BASE + 2))
RUST_LOG=warn "$waygate" up --data-dir "$work/data" --admin-addr "$admin" --gateway-addr "$gw" --no-examples \
  > "$work/waygate.log" 2>&1 &
pids+=($!); wg_pid=$!
"$backend_bin" "$backend" > "$work/backend.log" 2>&1 &
pids+=($!); backend_pid=$!

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
wait_http "http://$admin/"
export WAYGATE_ENDPOINT="http://$admin" WAYGATE_DATA_DIR="$work/data"
wg() { "$waygate" "$@" --output json; }
api=$(wg api create bench-backend | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
wg route put "$api" GET /hello --http-proxy 'http://${stageVariables.backendHost}/hello' >/dev/null
dep=$("$waygate" deploy "$api" --output id)
wg stage put "$api" prod --deployment "$dep" --var "backendHost=$backend" >/dev/null
declare -A url=([waygate]="http://$gw/$api/prod/hello" [direct]="http://$backend/hello")
declare -A pid=([waygate]=$wg_pid [direct]=$backend_pid)
for s in waygate direct; do
  wait_http "${url[$s]}"
  say "$s: $(curl -s "${url[$s]}")"
done

run_rounds waygate direct
declare -A med
report waygate direct
for c in $CONCURRENCY; do
  awk -v c="$c" -v w="${med[$c,waygate,rps]}" -v d="${med[$c,direct,rps]}" \
      -v wp="${med[$c,waygate,p50]}" -v dp="${med[$c,direct,p50]}" \
    'BEGIN { printf "c=%s: added p50 %.0f µs; req/s waygate/direct %.2fx\n", c, (wp - dp) * 1000, w / d }'
done
