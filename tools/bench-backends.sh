#!/usr/bin/env bash
# The embedded store and PostgreSQL side by side, in one run: `valvctl bench` against one node on
# each back-end, then against three nodes on one PostgreSQL database (three benches at once, one
# per node, each a third of the identifiers; their throughputs add up).
#
#   tools/bench-backends.sh BIN_DIR [TOTAL] [POSTGRES_URL]
#
# BIN_DIR holds release `valv` and `valvctl` (`cargo build --release -p valv -p valvctl`).
# Each PostgreSQL run gets a fresh schema, dropped afterwards. Results: $OUT (default: a
# temporary directory, printed at the end), one file per run.
set -u
bin=$1 total=${2:-100000} url=${3:-postgres://postgres@127.0.0.1:5432/test}
out=${OUT:-$(mktemp -d)}

start() { # name data-dir port [extra args…]
  local name=$1 d=$2 port=$3; shift 3
  "$bin/valv" serve --data-dir "$d" --listen "127.0.0.1:$port" "$@" > "$out/server-$name.log" 2>&1 &
  echo $! > "$out/pid-$name"
  for _ in $(seq 1 150); do grep -q "valv is serving" "$out/server-$name.log" 2>/dev/null && break; sleep 0.2; done
}
stop() { kill "$(cat "$out/pid-$1")"; wait "$(cat "$out/pid-$1")" 2>/dev/null; }
bench() { # name data-dir port token-file total
  VALV_ADDR=https://127.0.0.1:$3 VALV_CA=$2/tls/ca.pem \
    "$bin/valvctl" --token-file "$4" bench --total "$5" --concurrency 4 --data-dir "$2" > "$out/bench-$1.txt" 2>&1
}
schema() { # a fresh schema; prints the URL that selects it
  local s=valv_bench_$RANDOM$RANDOM
  psql -q -d "$url" -c "CREATE SCHEMA $s" >/dev/null
  echo "$s"
}
with_schema() { case $url in *\?*) echo "$url&options=-csearch_path%3D$1";; *) echo "$url?options=-csearch_path%3D$1";; esac; }

# 1. Embedded store, one node.
start embedded "$out/embedded" 7451
bench embedded "$out/embedded" 7451 "$out/embedded/operator.token" "$total"
stop embedded

# 2. PostgreSQL, one node.
s=$(schema); pg=$(with_schema "$s")
start pg1 "$out/pg1" 7452 --store "$pg"
bench pg1 "$out/pg1" 7452 "$out/pg1/operator.token" "$total"
psql -At -d "$url" -c "SELECT 'disk per mapping (mappings table and its index, bytes): ' || (pg_total_relation_size('$s.mappings') / greatest(count(*), 1)) FROM $s.mappings" >> "$out/bench-pg1.txt"
stop pg1
psql -q -d "$url" -c "DROP SCHEMA $s CASCADE"

# 3. PostgreSQL, three nodes at once.
s=$(schema); pg=$(with_schema "$s")
start pg3-0 "$out/pg3-0" 7453 --store "$pg" --node-id n0
for i in 1 2; do
  mkdir -p "$out/pg3-$i"; cp "$out/pg3-0/root.key" "$out/pg3-$i/"
  start "pg3-$i" "$out/pg3-$i" $((7453 + i)) --store "$pg" --node-id "n$i"
done
benches=()
for i in 0 1 2; do
  bench "pg3-$i" "$out/pg3-$i" $((7453 + i)) "$out/pg3-0/operator.token" $((total / 3)) &
  benches+=($!)
done
wait "${benches[@]}"
for i in 0 1 2; do stop "pg3-$i"; done
psql -q -d "$url" -c "DROP SCHEMA $s CASCADE"
echo "results in $out"
