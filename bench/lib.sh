# Shared by compare.sh, ab.sh and isolation.sh: waiting for a server, one measured wrk
# run as a results row, alternating wrk rounds over several servers and the median report. The caller sets ROUNDS, DURATION, CONCURRENCY, `work` (a temp dir) and
# the associative arrays `url` and `pid` (server name → URL / server process id).

# deploy_hello: with the caller's `wg` (the waygate CLI pointed at one server), registers
# $module as function hello (version 1, alias live) behind stage prod of a new API,
# route GET /hello; prints the API id.
deploy_hello() {
  local api
  wg function create hello --env GREETING=Waygate >/dev/null
  wg function upload hello "$module" >/dev/null
  wg version publish hello >/dev/null
  wg alias set hello live 1 >/dev/null
  api=$(wg api create bench | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  wg route put "$api" GET /hello --function hello:live >/dev/null
  wg permission add hello bench-api --principal "api:$api" --source "$api/*/*/*" --qualifier live >/dev/null
  wg deploy "$api" --stage prod >/dev/null
  echo "$api"
}

# wait_http URL: until it answers (10 s at most; then the script ends).
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() { # wrk prints 512.00us / 1.23ms / 1.02s
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

# run_rounds NAME...: for each concurrency, a warm-up, then ROUNDS rounds of NAME1 NAME2 …
# (same load, so machine noise hits all alike); one line per run in $work/results.tsv:
# c, round, server, req/s, p50 ms, p99 ms, server CPU µs per request, error flag.
run_rounds() {
  local c r s
  for c in $CONCURRENCY; do
    for s in "$@"; do wrk -t1 -c"$c" -d1s "${url[$s]}" >/dev/null; done # warm-up
    for r in $(seq 1 "$ROUNDS"); do
      for s in "$@"; do wrk_row "$c" "$r" "$s" "${url[$s]}" "${pid[$s]}"; done
    done
  done
}

# wrk_row C ROUND NAME URL PID: one wrk run of DURATION seconds at concurrency C against
# URL (served by process PID), appended to $work/results.tsv as the row run_rounds writes.
wrk_row() {
  local c=$1 r=$2 s=$3 url=$4 pid=$5 hz before after out rps reqs p50 p99 errs cpu_us
  hz=$(getconf CLK_TCK)
  before=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$c" -d"${DURATION}s" --latency "$url")
  after=$(cpu_ticks "$pid")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  errs=$(awk '/Non-2xx|Socket errors/ {e = 1} END {print e + 0}' <<<"$out")
  cpu_us=$(awk -v a="$after" -v b="$before" -v n="$reqs" -v hz="$hz" 'BEGIN { printf "%.1f", (a - b) / hz * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$s" "$rps" "$p50" "$p99" "$cpu_us" "$errs" >> "$work/results.tsv"
  echo "== c=$c round $r $s: $rps req/s p50 ${p50} ms p99 ${p99} ms cpu/req ${cpu_us} µs$([ "$errs" = 1 ] && echo ' (ERRORS)')" >&2
}

# report NAME...: the medians per concurrency and server; fills `med[c,server,rps|p50|p99|cpu]`
# (declare -A med before calling) for the caller's ratios.
report() {
  local c s col i k
  echo
  echo "Medians of $ROUNDS alternating rounds, wrk -t1 -d${DURATION}s, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load generator on the same machine"
  printf '%-4s %-12s %12s %10s %10s %14s\n' c server req/s p50_ms p99_ms cpu_us_per_req
  for c in $CONCURRENCY; do
    for s in "$@"; do
      for col in 4:rps 5:p50 6:p99 7:cpu; do
        i=${col%%:*} k=${col##*:}
        med[$c,$s,$k]=$(awk -F'\t' -v c="$c" -v s="$s" -v i="$i" '$1 == c && $3 == s {print $i}' "$work/results.tsv" \
          | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
      done
      printf '%-4s %-12s %12.0f %10.3f %10.3f %14.1f\n' "$c" "$s" "${med[$c,$s,rps]}" "${med[$c,$s,p50]}" "${med[$c,$s,p99]}" "${med[$c,$s,cpu]}"
    done
  done
  echo
}
