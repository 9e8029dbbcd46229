#!/usr/bin/env bash
# Environments on one host: how much a misbehaving `dev` stage slows `prod` on the same
# server. One API, stage prod → hello (alias live), stage dev → guests that misbehave, dev
# throttled to 2 req/s (burst 2). prod is measured with wrk (-t1 -c4) in scenarios that
# alternate round by round (same machine noise for all):
#   alone      no dev traffic (the peer every ratio is against)
#   spin-prod  dev's guests spin until their 1 s timeout, dev's class set to production:
#              everything in one class, as before priority classes existed
#   spin       the same, dev in its default class (development: SCHED_IDLE workers)
#   misbehave  dev in its class runs spinning guests, memory bombs (to 512 MiB) and
#              100 MB stdout floods at once
#   refused    dev's clients as in spin, but dev's max_concurrency is 0: every dev request
#              is answered 429 and no dev guest runs (the cost of dev's traffic alone), not
#              run by default
#   idle-burn  no dev traffic; one busy loop per CPU in another process at SCHED_IDLE:
#              what the kernel alone gives prod beside idle-class work (the floor for
#              `spin`), not run by default
# Four dev clients call dev as fast as its throttle lets them (a 429 → retry after 50 ms).
# Prints prod req/s, p50, p99 per scenario (medians), the ratios against `alone`, and how
# many dev invocations ran (dev keeps completing while prod is busy, and when it is idle).
#
#   bash bench/isolation.sh            # ROUNDS=3 DURATION=5
#
# Needs: Debian's wrk and wabt (installed when missing), python3, the prebuilt hello.wasm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONCURRENCY=4
PORT_BASE=${PORT_BASE:-18280}
SCENARIOS=${SCENARIOS:-"alone spin-prod spin misbehave"}
work="$(mktemp -d /tmp/waygate-isolation.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }

command -v wrk >/dev/null || { say "installing wrk"; apt-get install -y wrk >/dev/null; }
command -v wat2wasm >/dev/null || { say "installing wabt"; apt-get install -y wabt >/dev/null; }
module="$repo/guest-examples/prebuilt/hello.wasm"
[ -f "$module" ] || bash "$repo/guest-examples/build.sh"
say "building waygate (release)"
(cd "$repo" && cargo build --release --bin waygate -q)
waygate="$repo/target/release/waygate"

# --- misbehaving guests (WASI preview1 modules) --------------------------------------------
guest() { # name, body (functions and the _start export)
  cat > "$work/$1.wat" <<EOF
(module
  (import "wasi_snapshot_preview1" "fd_write" (func \$fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  $2)
EOF
  wat2wasm "$work/$1.wat" -o "$work/$1.wasm"
}
guest spin '(func (export "_start") (loop $l (br $l)))'
# Grows memory 1 MiB at a time up to its limit, then keeps trying (spinning) to the timeout.
guest bomb '(func (export "_start") (loop $l (drop (memory.grow (i32.const 16))) (br $l)))'
# 1600 writes of 64 KiB to stdout: 100 MiB (the response limit stops it at 6 MB).
guest flood '(func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 65536))
    (loop $l
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1600)))))'

# --- server --------------------------------------------------------------------------------
admin=127.0.0.1:$PORT_BASE gw=127.0.0.1:$((PORT_BASE + 1))
RUST_LOG=warn "$waygate" up --data-dir "$work/data" --admin-addr "$admin" --gateway-addr "$gw" --no-examples ${UP_FLAGS:-} \
  > "$work/waygate.log" 2>&1 &
pids+=($!); wg_pid=$!
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
wait_http "http://$admin/"
export WAYGATE_ENDPOINT="http://$admin" WAYGATE_DATA_DIR="$work/data"
wg() { "$waygate" "$@" --output json; }
api=$(deploy_hello)
for g in spin bomb flood; do
  memory=128; [ "$g" = bomb ] && memory=512
  wg function create "$g" --timeout-ms 1000 --memory-mb "$memory" >/dev/null
  wg function upload "$g" "$work/$g.wasm" >/dev/null
  wg route put "$api" GET "/$g" --function "$g" >/dev/null
  wg permission add "$g" bench-api --principal "api:$api" --source "$api/*/*/*" >/dev/null
done
wg deploy "$api" --stage prod >/dev/null
wg deploy "$api" --stage dev >/dev/null
wg throttle set "$api" dev --rate 2 --burst 2 >/dev/null
prod="http://$gw/$api/prod/hello?name=bench"
dev="http://$gw/$api/dev"
wait_http "$prod"
say "prod: $(curl -s "$prod")"

# dev_load SECONDS PATH...: four clients, each cycling through PATHs, until SECONDS pass;
# runs in the background (its pid in $load).
dev_load() {
  nice -n 19 python3 - "$1" "$dev" "${@:2}" > /dev/null <<'EOF' &
import sys, time, threading, http.client, urllib.parse
secs, base, paths = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
u = urllib.parse.urlsplit(base)
end = time.monotonic() + secs
def client(k):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    i = k
    while time.monotonic() < end:
        conn.request("GET", u.path + paths[i % len(paths)])
        r = conn.getresponse(); r.read()
        i += 1
        if r.status == 429:
            time.sleep(0.05)
threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
EOF
  load=$!
}
# dev_usage: "invocations cpu_ms" of stage dev so far (GET /v1/runtime).
dev_usage() { curl -s -H "authorization: Bearer $(cat "$work/data/admin.token")" "http://$admin/v1/runtime" \
  | python3 -c 'import json,sys; v=json.load(sys.stdin); d=[s for s in v["stages"] if s["stage"]=="dev"][0]; print(d["invocations"], int(d["cpu_seconds"]*1000))'; }

measure() { wrk_row "$CONCURRENCY" "$2" "$1" "$prod" "$wg_pid"; } # scenario round

wrk -t1 -c"$CONCURRENCY" -d2s "$prod" >/dev/null # warm-up
declare -A ran cpu
for r in $(seq 1 "$ROUNDS"); do
  for s in $SCENARIOS; do
    case $s in
      alone) measure "$s" "$r"; continue ;;
      idle-burn)
        burners=()
        for _ in $(seq "$(nproc)"); do timeout $((DURATION + 2)) ${BURN_CMD:-chrt --idle 0 sh -c 'while :; do :; done'} & burners+=($!); done
        sleep 1; measure "$s" "$r"; wait "${burners[@]}" || true; continue ;;
      spin-prod) wg capacity set "$api" dev --class production >/dev/null; paths=(/spin) ;;
      spin) wg capacity remove "$api" dev >/dev/null; paths=(/spin) ;;
      refused) wg capacity set "$api" dev --max-concurrency 0 >/dev/null; paths=(/spin) ;;
      misbehave) wg capacity remove "$api" dev >/dev/null; paths=(/spin /bomb /flood) ;;
    esac
    read -r n0 c0 < <(dev_usage)
    dev_load $((DURATION + 2)) "${paths[@]}"
    sleep 1 # dev's guests are running
    measure "$s" "$r"
    wait "$load" || true
    read -r n1 c1 < <(dev_usage)
    ran[$s]=$(( ${ran[$s]:-0} + n1 - n0 )) cpu[$s]=$(( ${cpu[$s]:-0} + c1 - c0 ))
  done
done
wg capacity remove "$api" dev >/dev/null

# Prod idle: dev's guests get the whole machine.
read -r n0 c0 < <(dev_usage)
dev_load "$DURATION" /spin /bomb /flood; wait "$load" || true
read -r n1 c1 < <(dev_usage)
code=$(curl -s -o /dev/null -w '%{http_code}' "$dev/hello?name=dev")

declare -A med
report $SCENARIOS
for s in $SCENARIOS; do
  case $s in alone|idle-burn) dev="" ;; *) dev="; dev: ${ran[$s]} invocations ran, ${cpu[$s]} ms of CPU" ;; esac
  [ "$s" = alone ] && continue
  awk -v s="$s" -v r="${med[$CONCURRENCY,$s,rps]}" -v a="${med[$CONCURRENCY,alone,rps]}" \
      -v p="${med[$CONCURRENCY,$s,p99]}" -v ap="${med[$CONCURRENCY,alone,p99]}" -v dev="$dev" \
    'BEGIN { printf "%-10s prod req/s %.2fx alone, p99 %.2fx alone%s\n", s, r / a, p / ap, dev }'
done
echo "prod idle: dev ran $((n1 - n0)) misbehaving invocations using $((c1 - c0)) ms of CPU in ${DURATION}s; a well-behaved dev request answered $code"
