#!/usr/bin/env bash
# How well the group commit groups: one new identifier per request at 1, 4, 16 and 64 in flight
# against a release vault on a fresh data directory, with the server's own counts of durable
# flushes (`valv_store_flushes_total`) and of requests that waited for one
# (`valv_store_flush_waits_total`) read from its metrics before and after each run.
#
#   tools/group-commit.sh BIN_DIR [TOTAL]
#
# BIN_DIR holds release `valv` and `valvctl`. Each concurrency runs `valvctl bench --only
# new-single` (three rounds of TOTAL/100 requests, default 500000 → 5000). Prints a Markdown table.
set -eu
bin=$1 total=${2:-500000}
out=$(mktemp -d)
data="$out/data"
"$bin/valv" serve --data-dir "$data" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  > "$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 1 150); do grep -q "valv is serving" "$out/server.log" 2>/dev/null && break; sleep 0.2; done
addr=$(grep -o 'valv is serving.*' "$out/server.log" | grep -o 'addr=[^ ]*' | head -1 | cut -d= -f2)
metrics=$(grep -o 'metrics.*addr=[^ ]*' "$out/server.log" | grep -o 'addr=[^ ]*' | head -1 | cut -d= -f2)
counter() { curl -s "http://$metrics/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
echo "| in flight | ids/s (three rounds) | requests per flush | flushes/s |"
echo "| ---: | --- | ---: | ---: |"
for c in 1 4 16 64; do
  f0=$(counter valv_store_flushes_total); w0=$(counter valv_store_flush_waits_total)
  t0=$(date +%s.%N)
  rates=$(VALV_ADDR="https://$addr" VALV_CA="$data/tls/ca.pem" \
    "$bin/valvctl" --token-file "$data/operator.token" bench --only new-single \
    --total "$total" --concurrency "$c" | awk -F'|' '/new, /{ gsub(/ ids\/s /, "", $5); printf "%s ", $5 }')
  t1=$(date +%s.%N)
  f1=$(counter valv_store_flushes_total); w1=$(counter valv_store_flush_waits_total)
  echo "| $c | $rates | $(python3 -c "print(f'{($w1-$w0)/max($f1-$f0,1):.2f}')") | $(python3 -c "print(f'{($f1-$f0)/($t1-$t0):.0f}')") |"
done
