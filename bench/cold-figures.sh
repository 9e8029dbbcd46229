#!/usr/bin/env bash
# Cold-start figures on a release build: (1) the first request to a just-published
# version with new code (server-side `server-timing` total; the code was compiled and
# loaded at upload, so the request pays instantiate + run), over N versions, next to the
# second request to each version as the peer; (2) restart → first successful response
# with those N versions (each its own code) published.
#
#   bash bench/cold-figures.sh            # VERSIONS=1000
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
VERSIONS=${VERSIONS:-1000}
ADMIN=${ADMIN:-127.0.0.1:18190}
GW=${GW:-127.0.0.1:18191}
work="$(mktemp -d /tmp/waygate-cold.XXXXXX)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
(cd "$repo" && cargo build --release --bin waygate -q)
waygate="$repo/target/release/waygate"
module="$repo/guest-examples/prebuilt/hello.wasm"

start() {
  RUST_LOG=warn "$waygate" up --data-dir "$work/data" --admin-addr "$ADMIN" --gateway-addr "$GW" --no-examples \
    >> "$work/server.log" 2>&1 &
  server=$!
}
start
for _ in $(seq 1 100); do curl -s -o /dev/null "http://$ADMIN/" && break; sleep 0.1; done
token=$(cat "$work/data/admin.token")
api() { curl -sf -H "Authorization: Bearer $token" "$@"; }
api -X POST "http://$ADMIN/v1/functions" -d '{"name":"cold"}' -H 'content-type: application/json' >/dev/null

# A distinct code hash per version: hello + a custom section naming the version.
variant() {
  python3 - "$module" "$1" "$2" <<'PY'
import sys
src, n, out = sys.argv[1], sys.argv[2], sys.argv[3]
name = b"waygate-bench"; payload = n.encode()
def leb(v):
    b = bytearray()
    while True:
        x = v & 0x7f; v >>= 7
        b.append(x | (0x80 if v else 0))
        if not v: return bytes(b)
body = leb(len(name)) + name + payload
open(out, "wb").write(open(src, "rb").read() + b"\x00" + leb(len(body)) + body)
PY
}

: > "$work/first.txt"
: > "$work/second.txt"
for i in $(seq 1 "$VERSIONS"); do
  variant "$i" "$work/v.wasm"
  api -X PUT "http://$ADMIN/v1/functions/cold/code" -H 'content-type: application/wasm' --data-binary "@$work/v.wasm" >/dev/null
  v=$(api -X POST "http://$ADMIN/v1/functions/cold/versions" -H 'content-type: application/json' -d '{}' | sed -n 's/.*"version":"\{0,1\}\([0-9]*\).*/\1/p')
  timing() { api -o /dev/null -D - -X POST "http://$ADMIN/v1/functions/cold/invoke?qualifier=$v" -d '{"name":"x"}' | tr -d '\r' | sed -n 's/^server-timing: //Ip'; }
  timing >> "$work/first.txt"
  # The peer: the same version's second request, sent the same way (curl from a shell,
  # so both pay an idle machine's cold caches alike).
  timing >> "$work/second.txt"
  [ $((i % 100)) = 0 ] && echo "published $i versions" >&2
done
field() { sed -n "s/.*$1;dur=\([0-9.]*\).*/\1/p" "$work/${2:-first}.txt" | sort -g | awk '{a[NR]=$1} END {printf "p50 %.3f ms, p90 %.3f ms, max %.3f ms (n=%d)", a[int(NR*0.5)+1], a[int(NR*0.9)+1], a[NR], NR}'; }
echo "first request to a just-published version (server-side; the upload loaded the code):"
echo "  total:       $(field total)"
echo "  load:        $(field load)"
echo "  instantiate: $(field instantiate)"
echo "  run:         $(field run)"
echo "peer: the second request to each version, sent the same way:"
echo "  total:       $(field total second)"
echo "  instantiate: $(field instantiate second)"
echo "  run:         $(field run second)"

kill -INT "$server"; wait "$server" 2>/dev/null || true
t0=$(date +%s%N)
start
until curl -sf -o /dev/null -H "Authorization: Bearer $token" -X POST \
    "http://$ADMIN/v1/functions/cold/invoke?qualifier=$VERSIONS" -d '{}'; do sleep 0.002; done
t1=$(date +%s%N)
echo "restart → first successful response with $VERSIONS published versions (each its own code): $(( (t1 - t0) / 1000000 )) ms"
