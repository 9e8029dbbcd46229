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

declare -A bin=([base]="$BASE" [new]="$NEW") url pid
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
port=$PORT_BASE
for s in base new; do
  admin=127.0.0.1:$port gw=127.0.0.1:$((port + 1))
  port=$((port + 2))
  RUST_LOG=warn "${bin[$s]}" up --data-dir "$work/$s" --admin-addr "$admin" --gateway-addr "$gw" --no-examples \
    > "$work/$s.log" 2>&1 &
  pids+=($!); pid[$s]=$!
  wait_http "http://$admin/"
  wg() { WAYGATE_ENDPOINT="http://$admin" WAYGATE_DATA_DIR="$work/$s" "${bin[$s]}" "$@" --output json; }
  wg function create hello --env GREETING=Waygate >/dev/null
  wg function upload hello "$module" >/dev/null
  wg version publish hello >/dev/null
  wg alias set hello live 1 >/dev/null
  api=$(wg api create bench | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  wg route put "$api" GET /hello --function hello:live >/dev/null
  wg permission add hello bench-api --principal "api:$api" --source "$api/*/*/*" --qualifier live >/dev/null
  wg deploy "$api" --stage prod >/dev/null
  url[$s]="http://$gw/$api/prod/hello?name=bench"
  wait_http "${url[$s]}"
  say "$s (${bin[$s]}): $(curl -s "${url[$s]}")"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() { # wrk prints 512.00us / 1.23ms / 1.02s
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
hz=$(getconf CLK_TCK)
results="$work/results.tsv"
for c in $CONCURRENCY; do
  for s in base new; do wrk -t1 -c"$c" -d1s "${url[$s]}" >/dev/null; done # warm-up
  for r in $(seq 1 "$ROUNDS"); do
    for s in base new; do
      before=$(cpu_ticks "${pid[$s]}")
      out=$(wrk -t1 -c"$c" -d"${DURATION}s" --latency "${url[$s]}")
      after=$(cpu_ticks "${pid[$s]}")
      rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
      p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
      errs=$(awk '/Non-2xx|Socket errors/ {e = 1} END {print e + 0}' <<<"$out")
      cpu_us=$(awk -v a="$after" -v b="$before" -v n="$reqs" -v hz="$hz" 'BEGIN { printf "%.1f", (a - b) / hz * 1e6 / n }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$s" "$rps" "$p50" "$p99" "$cpu_us" "$errs" >> "$results"
      say "c=$c round $r $s: $rps req/s p50 ${p50} ms p99 ${p99} ms cpu/req ${cpu_us} µs$([ "$errs" = 1 ] && echo ' (ERRORS)')"
    done
  done
done

echo
echo "Medians of $ROUNDS alternating rounds, wrk -t1 -d${DURATION}s, $(nproc) CPUs, load generator on the same machine"
printf '%-4s %-6s %12s %10s %10s %14s\n' c build req/s p50_ms p99_ms cpu_us_per_req
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
declare -A med
for c in $CONCURRENCY; do
  for s in base new; do
    for col in 4:rps 5:p50 6:p99 7:cpu; do
      i=${col%%:*} k=${col##*:}
      med[$c,$s,$k]=$(awk -F'\t' -v c="$c" -v s="$s" -v i="$i" '$1 == c && $3 == s {print $i}' "$results" | median)
    done
    printf '%-4s %-6s %12.0f %10.3f %10.3f %14.1f\n' "$c" "$s" "${med[$c,$s,rps]}" "${med[$c,$s,p50]}" "${med[$c,$s,p99]}" "${med[$c,$s,cpu]}"
  done
done
echo
for c in $CONCURRENCY; do
  awk -v c="$c" -v b="${med[$c,base,rps]}" -v n="${med[$c,new,rps]}" -v bp="${med[$c,base,p99]}" -v np="${med[$c,new,p99]}" \
      -v bc="${med[$c,base,cpu]}" -v nc="${med[$c,new,cpu]}" \
    'BEGIN { printf "c=%s: new/base req/s %.3fx, p99 %.2fx, cpu/request %.2fx\n", c, n / b, np / bp, nc / bc }'
done
