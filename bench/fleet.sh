#!/usr/bin/env bash
# pgbench through jitgate on its two stores, in one run: one replica on the SQLite store, one
# replica on a PostgreSQL store, and two replicas on that PostgreSQL store sharing the clients
# (pgbench -c 4 against each at once, tps summed), next to a direct connection. Every statement
# through jitgate is audited, so the store's cost per statement shows.
#
#   bench/fleet.sh [--seconds N] [--rounds N] [--bin PATH]
#
# --bin uses an existing jitgate binary instead of building the release one. One throwaway
# PostgreSQL 15 cluster is the upstream and, in a database of its own, the store. Prints the tps
# and ratios and stops everything it started on exit.
set -euo pipefail

secs=10
rounds=2
bin=""
scale=10
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"
pg_tools

if [ -z "$bin" ]; then
  build_jitgate release
  bin="$jitgate_bin"
fi
[ -x "$bin" ] || die "no binary at $bin"
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS

work="$(mktemp -d "$tmp_base/jitgate-fleet-bench.XXXXXX")"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] && chown postgres: "$work"

pg_start
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U "$superuser" -d postgres <<EOF
CREATE DATABASE bench;
CREATE DATABASE jitgate_store;
EOF
direct_uri="postgresql://$superuser@127.0.0.1:$pg_port/bench"
pgbench -i -q -s "$scale" "$direct_uri" 2>&1 | tail -n 1 >&2
store_url="postgresql://$superuser@127.0.0.1:$pg_port/jitgate_store"

start_gateway() { # NAME STORE_LINE REPLICA -> sets $uri
  local dir="$work/$1" port api
  mkdir -p "$dir"
  port="$(free_port)"; api="$(free_port)"
  cat > "$dir/jitgate.toml" <<EOF
[server]
store = "$2"
replica = "$3"

[api]
listen = "127.0.0.1:$api"

[resources.bench]
kind = "postgres"
listen = "127.0.0.1:$port"

[resources.bench.upstream]
host = "127.0.0.1"
port = $pg_port
database = "bench"
user = "$superuser"
tls = "disable"
EOF
  NO_COLOR=1 "$bin" serve --config "$dir/jitgate.toml" > "$dir/jitgate.log" 2>&1 &
  pids+=($!)
  wait_port "$port" "$!" "jitgate $1" "$dir/jitgate.log"
  uri="$(grant_json "$bin" "$dir/jitgate.toml" bench-user bench | json_field uri)"
  [ -n "$uri" ] || die "no uri from jitgate admin grant ($1)"
}

log "start jitgate: one on SQLite, two on the PostgreSQL store"
start_gateway sqlite "$work/sqlite/jitgate.sqlite" main; sqlite_uri="$uri"
start_gateway pg-a "$store_url" a; pg_a_uri="$uri"
start_gateway pg-b "$store_url" b; pg_b_uri="$uri"

tps_of() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$1" | head -n 1; }
bench_one() { # URI CLIENTS OUT
  pgbench -n -S -c "$2" -j 2 -T "$secs" "$1" > "$3" 2>&1 || { cat "$3" >&2; die "pgbench failed"; }
}
declare -A sum
for r in $(seq "$rounds"); do
  log "round $r/$rounds ($secs s each)"
  bench_one "$direct_uri" 8 "$work/o"; sum[direct]=$(echo "${sum[direct]:-0} + $(tps_of "$work/o")" | bc)
  bench_one "$sqlite_uri" 8 "$work/o"; sum[sqlite]=$(echo "${sum[sqlite]:-0} + $(tps_of "$work/o")" | bc)
  bench_one "$pg_a_uri" 8 "$work/o"; sum[pg1]=$(echo "${sum[pg1]:-0} + $(tps_of "$work/o")" | bc)
  # Two replicas at once, each with half the clients; the grant is the same subject's.
  b_uri="${pg_a_uri%@*}@127.0.0.1:$(printf '%s' "$pg_b_uri" | sed -n 's/.*@127.0.0.1:\([0-9]*\).*/\1/p')/${pg_a_uri##*/}"
  bench_one "$pg_a_uri" 4 "$work/oa" & a=$!
  bench_one "$b_uri" 4 "$work/ob" & b=$!
  wait "$a" "$b"
  sum[pg2]=$(echo "${sum[pg2]:-0} + $(tps_of "$work/oa") + $(tps_of "$work/ob")" | bc)
done
# The recorders write behind the statements: wait until the chain stops growing.
count_events() { psql -X -A -t -h 127.0.0.1 -p "$pg_port" -U "$superuser" -d jitgate_store -c "SELECT count(*) FROM audit WHERE kind = 'statement'"; }
events="$(count_events)"; last=-1; waited=0
while [ "$events" != "$last" ]; do last="$events"; sleep 2; waited=$((waited + 2)); events="$(count_events)"; done
log "the PostgreSQL store's audit chain settled ${waited}s after the last pgbench"
errors="$(cat "$work"/pg-a/jitgate.log "$work"/pg-b/jitgate.log | grep -c ERROR || true)"
log "statements audited in the PostgreSQL store: $events (pgbench ran $(echo "(${sum[pg1]} + ${sum[pg2]}) * $secs" | bc | cut -d. -f1) transactions through its replicas); errors logged by them: $errors"
grep -h ERROR "$work"/pg-a/jitgate.log "$work"/pg-b/jitgate.log | cut -c1-300 | head -5 >&2 || true
avg() { echo "scale=0; ${sum[$1]} / $rounds" | bc; }
ratio() { echo "scale=2; ${sum[$1]} / ${sum[$2]}" | bc; }
printf '\npgbench -S -c 8 -j 2, %s s x %s rounds, tps (mean)\n' "$secs" "$rounds"
printf '  direct                                %8s\n' "$(avg direct)"
printf '  jitgate, SQLite store                 %8s  (%s x direct)\n' "$(avg sqlite)" "$(ratio sqlite direct)"
printf '  jitgate, PostgreSQL store             %8s  (%s x direct, %s x SQLite)\n' "$(avg pg1)" "$(ratio pg1 direct)" "$(ratio pg1 sqlite)"
printf '  two replicas, PostgreSQL store (4+4)  %8s  (%s x direct, %s x one replica)\n' "$(avg pg2)" "$(ratio pg2 direct)" "$(ratio pg2 pg1)"
