#!/usr/bin/env bash
# Same-run cost of Waygate's two ways to a backend: a local hello backend (hyper, through
# axum: host/cli/examples/hello_backend.rs) called directly (`direct`), through a stage
# route `GET /hello` → HTTP proxy `http://${stageVariables.backendHost}/hello` (`proxy`:
# the call made by the host), and through a stage route `GET /fetch` → the `fetch-http`
# component, which makes the same call as an outbound request (`guest`), in alternating
# wrk rounds at each concurrency. Prints req/s, p50, p99 for each; the proxy's added p50
# and throughput ratio against direct; the guest's added p50 against the proxy.
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
wg function create fetch --outbound "http://$backend" --env "PAYMENTS_URL=http://$backend/hello" >/dev/null
wg function upload fetch "$repo/guest-examples/prebuilt/fetch-http.wasm" >/dev/null
wg version publish fetch >/dev/null
wg route put "$api" GET /fetch --function fetch:1 >/dev/null
wg permission add fetch bench --principal "api:$api" --source "$api/*/*/*" --qualifier 1 >/dev/null
dep=$("$waygate" deploy "$api" --output id)
wg stage put "$api" prod --deployment "$dep" --var "backendHost=$backend" >/dev/null
declare -A url=([proxy]="http://$gw/$api/prod/hello" [guest]="http://$gw/$api/prod/fetch" [direct]="http://$backend/hello")
declare -A pid=([proxy]=$wg_pid [guest]=$wg_pid [direct]=$backend_pid)
for s in proxy guest direct; do
  wait_http "${url[$s]}"
  say "$s: $(curl -s "${url[$s]}")"
done

run_rounds proxy guest direct
declare -A med
report proxy guest direct
for c in $CONCURRENCY; do
  awk -v c="$c" -v w="${med[$c,proxy,rps]}" -v d="${med[$c,direct,rps]}" \
      -v wp="${med[$c,proxy,p50]}" -v dp="${med[$c,direct,p50]}" -v gp="${med[$c,guest,p50]}" \
    'BEGIN { printf "c=%s: proxy adds p50 %.0f µs over direct, req/s proxy/direct %.2fx; the guest call adds p50 %.0f µs over the proxy\n", c, (wp - dp) * 1000, w / d, (gp - wp) * 1000 }'
done
