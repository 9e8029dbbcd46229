#!/usr/bin/env bash
# The guest kinds side by side, same run, one server: hello as a p1 module (the peer),
# hello-http (a Rust wasi:http component), probe-handler (a Rust handler) and hello-js /
# hello-py (JavaScript and Python handlers). For each: upload-to-ready time (the code
# upload answers once compiled), then `waygate bench` direct invokes (a fresh instance per
# request) at c=1 and c=8 — req/s and the server-side p50/p99 of the whole invocation and
# of its instantiate and run phases (server-timing) — and RSS per in-flight instance: the
# server's peak RSS under c=32 less its RSS before, over 32.
#
#   bash bench/components.sh          # DURATION=5; WAYGATE=/path/to/waygate to use that build
#
# Needs: guest-examples/built/ (guest-examples/build.sh) for the JS and Python handlers;
# builds waygate (release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DURATION=${DURATION:-5}
PORT_BASE=${PORT_BASE:-18380}
work="$(mktemp -d /tmp/waygate-components.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }

if [ -z "${WAYGATE:-}" ]; then
  say "building waygate (release)"
  (cd "$repo" && cargo build --release --bin waygate -q)
fi
waygate="${WAYGATE:-$repo/target/release/waygate}"
admin=127.0.0.1:$PORT_BASE gw=127.0.0.1:$((PORT_BASE + 1))
RUST_LOG=warn "$waygate" up --data-dir "$work/data" --admin-addr "$admin" --gateway-addr "$gw" --no-examples \
  > "$work/waygate.log" 2>&1 &
pids+=($!); server=$!
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
wait_http "http://$admin/"
export WAYGATE_ENDPOINT="http://$admin" WAYGATE_DATA_DIR="$work/data"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }

declare -A file=(
  [hello]="$repo/guest-examples/prebuilt/hello.wasm"
  [hello-http]="$repo/guest-examples/prebuilt/hello-http.wasm"
  [probe-handler]="$repo/guest-examples/prebuilt/probe-handler.wasm"
  [hello-js]="$repo/guest-examples/built/hello-js.wasm"
  [hello-py]="$repo/guest-examples/built/hello-py.wasm"
)
names=()
for f in hello hello-http probe-handler hello-js hello-py; do
  if [ -f "${file[$f]}" ]; then names+=("$f"); else say "$f not built (guest-examples/build.sh): skipped"; fi
done

printf '\n%-14s %-10s %9s %8s %9s %9s %9s %9s %9s %9s %9s\n' function kind ready_s c rps p50_ms p99_ms inst_p50 inst_p99 run_p50 run_p99
for f in "${names[@]}"; do
  "$waygate" function create "$f" --env GREETING=bench --memory-mb 128 >/dev/null
  t0=$(date +%s%N)
  kind=$("$waygate" function upload "$f" "${file[$f]}" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kind"])')
  ready=$(( ($(date +%s%N) - t0) / 1000000 ))
  "$waygate" invoke "$f" --payload '{"name":"bench"}' >/dev/null 2>&1 # loads the code
  for c in 1 8; do
    "$waygate" bench "$f" -d "$DURATION" -c "$c" --payload '{"name":"bench"}' --output json > "$work/$f-$c.json"
    python3 - "$work/$f-$c.json" "$f" "$kind" "$ready" "$c" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = r["server_ms"]
g = lambda p, q: s.get(p, {}).get(q, float("nan"))
if r["errors"]:
    print(f"  ({r['errors']} errors)", file=sys.stderr)
print(f"{sys.argv[2]:<14} {sys.argv[3]:<10} {int(sys.argv[4]) / 1000:9.2f} {sys.argv[5]:>8} {r['requests_per_second']:9.0f} "
      f"{g('total', 'p50'):9.3f} {g('total', 'p99'):9.3f} {g('instantiate', 'p50'):9.3f} {g('instantiate', 'p99'):9.3f} "
      f"{g('run', 'p50'):9.3f} {g('run', 'p99'):9.3f}")
PY
  done
done

echo
echo "RSS per in-flight instance (c=32, peak RSS over the RSS before, / 32):"
for f in "${names[@]}"; do
  before=$(rss_kb)
  "$waygate" bench "$f" -d 3 -c 32 --payload '{"name":"bench"}' --output json > /dev/null &
  load=$!
  peak=$before
  while kill -0 "$load" 2>/dev/null; do
    now=$(rss_kb); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.05
  done
  wait "$load" || true
  awk -v f="$f" -v b="$before" -v p="$peak" 'BEGIN { printf "  %-14s %8.2f MB (RSS %d -> %d MB)\n", f, (p - b) / 32 / 1024, b / 1024, p / 1024 }'
done
echo
echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); server_ms from server-timing; the load generator shares the machine"
