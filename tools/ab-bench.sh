#!/usr/bin/env bash
# A/B benchmark: the same `valvctl bench` against two builds, alternating rounds, fresh data dirs.
#
#   tools/ab-bench.sh BEFORE_DIR AFTER_DIR [ROUNDS] [TOTAL]
#
# Each DIR holds release `valv` and `valvctl` binaries (e.g. built from two commits with
# `cargo build --release -p valv -p valvctl` and copied out of target/release). Results go to
# bench-<before|after>-<round>.txt in $OUT (default: a temporary directory, printed at the end).
# $BENCH_ARGS is passed on to `valvctl bench` (e.g. "--latency-samples 5000 --only latency");
# $CONCURRENCY sets its --concurrency (default 4).
# With $AB_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) every run stores in a fresh
# schema of that database (dropped afterwards) instead of the embedded store.
set -u
export PGOPTIONS=--client-min-messages=warning
before=$1 after=$2 rounds=${3:-3} total=${4:-100000}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
  for side in before after; do
    # The previous run's writes reach the disk first, so that neither side pays for the other's.
    sync; sleep 3
    bin=$before; [ "$side" = after ] && bin=$after
    d=$out/data-$side-$round; rm -rf "$d"
    store=()
    if [ -n "${AB_POSTGRES_URL:-}" ]; then
      schema=valv_ab_$RANDOM$RANDOM
      psql -q -d "$AB_POSTGRES_URL" -c "CREATE SCHEMA $schema" >/dev/null
      case $AB_POSTGRES_URL in *\?*) sep='&';; *) sep='?';; esac
      store=(--store "$AB_POSTGRES_URL${sep}options=-csearch_path%3D$schema")
    fi
    "$bin/valv" serve --data-dir "$d" --listen 127.0.0.1:7444 "${store[@]}" > "$out/server-$side-$round.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do [ -f "$d/operator.token" ] && [ -f "$d/tls/ca.pem" ] && break; sleep 0.2; done
    sleep 1
    VALV_ADDR=https://127.0.0.1:7444 VALV_CA=$d/tls/ca.pem \
      "$bin/valvctl" --token-file "$d/operator.token" bench --total "$total" --concurrency "${CONCURRENCY:-4}" \
      --data-dir "$d" ${BENCH_ARGS:-} > "$out/bench-$side-$round.txt" 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null
    if [ -n "${AB_POSTGRES_URL:-}" ]; then
      psql -q -d "$AB_POSTGRES_URL" -c "DROP SCHEMA $schema CASCADE" >/dev/null
    fi
  done
done
echo "results in $out"
