#!/usr/bin/env bash
# The soak: a release vault on a fresh data directory under mixed load at a fixed rate for a
# long time (`valvctl bench --soak-minutes`), one row per minute with the latency, the errors,
# the server's resident memory and open files, and the disk's own flush latency in the data
# directory — so a leak or a creeping tail shows, and a slow disk is told from a slow vault.
#
#   tools/soak.sh BIN_DIR [MINUTES] [RATE] [CONCURRENCY]
#
# BIN_DIR holds release `valv` and `valvctl` (`cargo build --release -p valv -p valvctl`).
# Defaults: 30 minutes at 200 calls/s, at most 16 in flight. The table goes to stdout (and
# $OUT/soak.md, default a temporary directory, printed at the end) with the server's log beside.
set -eu
bin=$1 minutes=${2:-30} rate=${3:-200} concurrency=${4:-16}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
data="$out/data"
"$bin/valv" serve --data-dir "$data" --listen 127.0.0.1:0 > "$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 150); do grep -q "valv is serving" "$out/server.log" 2>/dev/null && break; sleep 0.2; done
addr=$(grep -o 'valv is serving.*' "$out/server.log" | grep -o 'addr=[^ ]*' | head -1 | cut -d= -f2)
VALV_ADDR="https://$addr" VALV_CA="$data/tls/ca.pem" \
  "$bin/valvctl" --token-file "$data/operator.token" bench --soak-minutes "$minutes" \
  --rate "$rate" --concurrency "$concurrency" --pid "$pid" --disk-probe "$data" | tee "$out/soak.md"
echo "soak results: $out/soak.md (server log: $out/server.log)"
