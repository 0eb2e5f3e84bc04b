#!/usr/bin/env bash
# Throughput of PostgreSQL through jitgate, next to a direct connection and
# PgBouncer (session mode) in front of the same throwaway cluster.
#
#   bench/gateway.sh [--seconds N] [--rounds N] [--workers N] [--rate N]
#                    [--no-jitgate]
#
# Measures pgbench -S (select-only, 8 clients, 2 threads) with the simple and
# extended query protocols, interleaving the targets over several rounds to
# spread out noise, and the wall time of reading 1M rows with psql (best of
# 3). Per protocol it also measures the CPU time each gateway process (all its
# threads) spends per transaction at a fixed rate (pgbench -R, --rate tps), and
# the latency one client sees (pgbench -c 1): what a gateway adds per round
# trip over a direct connection. Prints tables of tps, ratios, CPU and latency
# and writes them to bench/results/latest.txt. Everything it starts is
# stopped, and its temp dir removed, on exit.
#
# Needs PostgreSQL 15 server binaries (on PATH or in /usr/lib/postgresql/15/bin),
# psql, pgbench and pgbouncer. When run as root the servers run as the
# `postgres` OS user. Clients use sslmode=disable unless BENCH_SSLMODE says
# otherwise, so all three targets are compared in plaintext.
set -euo pipefail

secs=20
rounds=2
rate=2000
workers=1
with_jitgate=1
scale=10

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --no-jitgate) with_jitgate=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"

# --- tools -------------------------------------------------------------------
pg_tools
pgbouncer_bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[ -x "$pgbouncer_bin" ] || die "pgbouncer not found (apt-get install pgbouncer)"
for tool in psql pgbench; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install postgresql-client-15)"
done

# --- build first, so a broken build costs no cluster setup --------------------
jitgate_bin=""
if [ "$with_jitgate" = 1 ]; then
  build_jitgate release
fi

# --- workspace and cleanup ---------------------------------------------------
work="$(mktemp -d "$tmp_base/jitgate-bench.XXXXXX")"
chmod 755 "$work"
mkdir -p "$work/sock" "$work/pgbouncer" "$work/jitgate"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
jitgate_pid=""
child_pid=""

cleanup() {
  set +e
  if [ -n "$child_pid" ]; then
    kill "$child_pid" 2>/dev/null && wait "$child_pid" 2>/dev/null
  fi
  if [ -n "$jitgate_pid" ]; then
    kill "$jitgate_pid" 2>/dev/null && wait "$jitgate_pid" 2>/dev/null
  fi
  if [ -f "$work/pgbouncer/pgbouncer.pid" ]; then
    kill "$(cat "$work/pgbouncer/pgbouncer.pid")" 2>/dev/null
  fi
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_password="bench-$RANDOM$RANDOM"
export PGSSLMODE="${BENCH_SSLMODE:-disable}"
export PGCONNECT_TIMEOUT=10
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS

# --- PostgreSQL --------------------------------------------------------------
pg_start scram
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U "$superuser" -d postgres <<EOF
CREATE ROLE bench LOGIN PASSWORD '$bench_password';
CREATE DATABASE bench OWNER bench;
EOF
direct_uri="postgresql://bench:$bench_password@127.0.0.1:$pg_port/bench"
log "pgbench -i -s $scale"
pgbench -i -q -s "$scale" "$direct_uri" 2>&1 | tail -n 1 >&2
rows="$(psql -X -A -t -c 'SELECT count(*) FROM pgbench_accounts' "$direct_uri")"

# --- PgBouncer ---------------------------------------------------------------
log "start PgBouncer (session mode)"
pgb_port="$(free_port)"
cat > "$work/pgbouncer/userlist.txt" <<EOF
"bench" "$bench_password"
EOF
cat > "$work/pgbouncer/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$pg_port dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $work/pgbouncer/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 20
logfile = $work/pgbouncer/pgbouncer.log
pidfile = $work/pgbouncer/pgbouncer.pid
EOF
[ "$(id -u)" = 0 ] && chown -R postgres: "$work/pgbouncer"
as_server "$pgbouncer_bin" -d "$work/pgbouncer/pgbouncer.ini" \
  || { cat "$work/pgbouncer/pgbouncer.log" >&2; die "PgBouncer did not start"; }
wait_port "$pgb_port" "" pgbouncer "$work/pgbouncer/pgbouncer.log"
pgbouncer_uri="postgresql://bench:$bench_password@127.0.0.1:$pgb_port/bench"

# --- jitgate -----------------------------------------------------------------
jitgate_uri=""
if [ "$with_jitgate" = 1 ]; then
  log "start jitgate (workers = $workers)"
  jg_port="$(free_port)"
  jg_api_port="$(free_port)"
  jg_masked_port="$(free_port)"
  jg_config="$work/jitgate/jitgate.toml"
  cat > "$jg_config" <<EOF
[server]
store = "$work/jitgate/jitgate.sqlite"
workers = $workers

[api]
listen = "127.0.0.1:$jg_api_port"

[resources.bench]
kind = "postgres"
listen = "127.0.0.1:$jg_port"

[resources.bench.upstream]
host = "127.0.0.1"
port = $pg_port
database = "bench"
user = "bench"
password_env = "BENCH_UPSTREAM_PASSWORD"
tls = "disable"

# The same database again, with three columns of pgbench_accounts masked: the masked bulk read
# is compared with the unmasked one through jitgate.
[resources.bench-masked]
kind = "postgres"
listen = "127.0.0.1:$jg_masked_port"

[resources.bench-masked.upstream]
host = "127.0.0.1"
port = $pg_port
database = "bench"
user = "bench"
password_env = "BENCH_UPSTREAM_PASSWORD"
tls = "disable"

[masking]
key_env = "BENCH_MASK_KEY"

[[masking.rules]]
resource = "bench-masked"
column = "public.pgbench_accounts.filler"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "bench-masked"
column = "public.pgbench_accounts.abalance"
mask = "generalize"
bucket = 1000

[[masking.rules]]
resource = "bench-masked"
column = "public.pgbench_accounts.bid"
mask = "hash"
EOF
  # Every jitgate command loads the config, so every one needs the variables.
  export BENCH_UPSTREAM_PASSWORD="$bench_password"
  export BENCH_MASK_KEY="bench-masking-key-$RANDOM$RANDOM$RANDOM"
  NO_COLOR=1 "$jitgate_bin" serve --config "$jg_config" > "$work/jitgate/jitgate.log" 2>&1 &
  jitgate_pid=$!
  wait_port "$jg_port" "$jitgate_pid" jitgate "$work/jitgate/jitgate.log"
  # An offline admin grant: the benchmark measures the relay, not the request workflow.
  grant_json="$("$jitgate_bin" admin grant bench-user bench --duration 2h --json --config "$jg_config")" \
    || die "jitgate admin grant failed"
  jitgate_uri="$(printf '%s\n' "$grant_json" | grep '^{' | tail -n 1 \
    | sed -n 's/.*"uri"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
  [ -n "$jitgate_uri" ] || die "no uri in jitgate grant output: $grant_json"
  masked_json="$("$jitgate_bin" admin grant bench-user bench-masked --duration 2h --json --config "$jg_config")" \
    || die "jitgate admin grant (masked) failed"
  jitgate_masked_uri="$(printf '%s\n' "$masked_json" | grep '^{' | tail -n 1 \
    | sed -n 's/.*"uri"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
fi

targets=(direct pgbouncer)
[ "$with_jitgate" = 1 ] && targets+=(jitgate)
uri_of() {
  case "$1" in
    direct) echo "$direct_uri" ;;
    pgbouncer) echo "$pgbouncer_uri" ;;
    jitgate) echo "$jitgate_uri" ;;
    jitgate-masked) echo "$jitgate_masked_uri" ;;
  esac
}

mkdir -p "$repo_root/bench/results"
raw="$work/raw.txt"
: > "$raw"

run_pgbench() { # TARGET MODE SECONDS -> sets $tps (no $(...): traps must reach it)
  local out="$work/pgbench.out"
  # In the background so that a signal interrupts `wait` at once and the
  # EXIT trap can stop it.
  pgbench -n -S -M "$2" -c 8 -j 2 -T "$3" "$(uri_of "$1")" > "$out" 2>&1 &
  child_pid=$!
  if ! wait "$child_pid"; then
    child_pid=""
    cat "$out" >&2
    die "pgbench against $1 ($2) failed"
  fi
  child_pid=""
  tps="$(awk '/^tps = /{print $3; exit}' "$out")"
}

log "warm-up: 3s select-only per target"
for t in "${targets[@]}"; do run_pgbench "$t" simple 3; done

for round in $(seq "$rounds"); do
  # Alternate the order so drift over time does not favour one target.
  if [ $((round % 2)) = 1 ]; then order=("${targets[@]}"); else
    order=(); for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[$i]}"); done
  fi
  for t in "${order[@]}"; do
    for mode in simple extended; do
      run_pgbench "$t" "$mode" "$secs"
      log "round $round  $t  $mode  tps=$tps"
      echo "tps $t $mode $tps" >> "$raw"
    done
  done
done

# CPU time of a process and all its threads, in ns: the scheduler's own count
# where the kernel keeps one, else user + system ticks.
cpu_ns() { # PID
  local total=0 t f
  for t in /proc/"$1"/task/*; do
    if [ -r "$t/schedstat" ]; then
      read -r f _ < "$t/schedstat" || f=0
    else
      f="$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.0f", ($12 + $13) * 1e9 / hz }' "$t/stat")"
    fi
    total=$((total + f))
  done
  echo "$total"
}
pid_of() {
  case "$1" in
    pgbouncer) cat "$work/pgbouncer/pgbouncer.pid" ;;
    jitgate) echo "$jitgate_pid" ;;
  esac
}

run_rated() { # TARGET MODE -> sets $cpu_us (CPU µs of the gateway per transaction)
  local out="$work/pgbench.out" pid before after n
  pid="$(pid_of "$1")"
  before="$(cpu_ns "$pid")"
  pgbench -n -S -M "$2" -c 8 -j 2 -R "$rate" -T "$secs" "$(uri_of "$1")" > "$out" 2>&1 &
  child_pid=$!
  if ! wait "$child_pid"; then
    child_pid=""
    cat "$out" >&2
    die "pgbench -R against $1 ($2) failed"
  fi
  child_pid=""
  after="$(cpu_ns "$pid")"
  n="$(awk '/^number of transactions actually processed:/{print $NF; exit}' "$out")"
  cpu_us="$(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN{ printf "%.1f", (n > 0 ? (b - a) / n / 1000 : 0) }')"
}

run_one_client() { # TARGET MODE -> sets $lat_us (mean µs per transaction)
  local out="$work/pgbench.out"
  pgbench -n -S -M "$2" -c 1 -T "$secs" "$(uri_of "$1")" > "$out" 2>&1 &
  child_pid=$!
  if ! wait "$child_pid"; then
    child_pid=""
    cat "$out" >&2
    die "pgbench -c 1 against $1 ($2) failed"
  fi
  child_pid=""
  lat_us="$(awk '/^latency average = /{printf "%.1f", $4 * 1000; exit}' "$out")"
}

gateways=(pgbouncer)
[ "$with_jitgate" = 1 ] && gateways+=(jitgate)
for round in $(seq "$rounds"); do
  for mode in simple extended; do
    for t in "${gateways[@]}"; do
      run_rated "$t" "$mode"
      log "round $round  $t  $mode  at $rate tps: ${cpu_us} µs CPU per transaction"
      echo "cpu $t $mode $cpu_us" >> "$raw"
    done
    for t in "${targets[@]}"; do
      run_one_client "$t" "$mode"
      log "round $round  $t  $mode  one client: ${lat_us} µs per transaction"
      echo "lat $t $mode $lat_us" >> "$raw"
    done
  done
done

bulk_sql="SELECT * FROM pgbench_accounts"
bulk_targets=("${targets[@]}")
[ "$with_jitgate" = 1 ] && bulk_targets+=(jitgate-masked)
for i in 1 2 3; do
  for t in "${bulk_targets[@]}"; do
    start="$(date +%s.%N)"
    psql -X -A -t -q -o /dev/null -c "$bulk_sql" "$(uri_of "$t")"
    end="$(date +%s.%N)"
    s="$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.3f", b - a}')"
    log "bulk read $i  $t  ${s}s"
    echo "bulk $t - $s" >> "$raw"
  done
done

# --- report ------------------------------------------------------------------
report="$repo_root/bench/results/latest.txt"
{
  echo "jitgate gateway benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo none)," \
    "cpus: $(nproc), $("$pgbin/postgres" --version), $("$pgbouncer_bin" --version | head -n 1)"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "pgbench -S -c 8 -j 2 -T $secs, scale $scale, mean tps of $rounds round(s);" \
    "jitgate workers = $workers; sslmode = $PGSSLMODE"
  echo
  awk -v jit="$with_jitgate" -v rows="$rows" -v sql="$bulk_sql" -v rate="$rate" -v secs="$secs" '
    function r(a, b) { return (a > 0 && b > 0) ? sprintf("%.3f", a / b) : "-" }
    function f(x) { return x > 0 ? sprintf("%.0f", x) : "-" }
    function g(x) { return x != 0 ? sprintf("%.1f", x) : "-" }
    $1 == "tps"  { sum[$2, $3] += $4; n[$2, $3]++ }
    $1 == "cpu"  { csum[$2, $3] += $4; cn[$2, $3]++ }
    $1 == "lat"  { lsum[$2, $3] += $4; ln[$2, $3]++ }
    $1 == "bulk" { if (!(($2) in best) || $4 < best[$2]) best[$2] = $4 }
    END {
      printf "%-9s %10s %10s %10s %11s %11s %13s\n", "protocol", "direct", "pgbouncer", "jitgate", "jit/direct", "pgb/direct", "jit/pgbouncer"
      split("simple extended", modes, " ")
      for (i = 1; i <= 2; i++) {
        m = modes[i]
        d = n["direct", m] ? sum["direct", m] / n["direct", m] : 0
        p = n["pgbouncer", m] ? sum["pgbouncer", m] / n["pgbouncer", m] : 0
        j = n["jitgate", m] ? sum["jitgate", m] / n["jitgate", m] : 0
        printf "%-9s %10s %10s %10s %11s %11s %13s\n", m, f(d), f(p), f(j), r(j, d), r(p, d), r(j, p)
      }
      printf "\nCPU time of the gateway process (all threads) per transaction, microseconds,\n"
      printf "at a fixed rate: pgbench -S -c 8 -j 2 -R %s -T %s\n", rate, secs
      printf "%-9s %10s %10s %13s\n", "protocol", "pgbouncer", "jitgate", "jit/pgbouncer"
      for (i = 1; i <= 2; i++) {
        m = modes[i]
        p = cn["pgbouncer", m] ? csum["pgbouncer", m] / cn["pgbouncer", m] : 0
        j = cn["jitgate", m] ? csum["jitgate", m] / cn["jitgate", m] : 0
        printf "%-9s %10s %10s %13s\n", m, g(p), g(j), r(j, p)
      }
      printf "\none client (pgbench -S -c 1 -T %s): mean latency per transaction and what a\n", secs
      printf "gateway adds to it over a direct connection, microseconds\n"
      printf "%-9s %10s %10s %10s %11s %11s\n", "protocol", "direct", "pgbouncer", "jitgate", "pgb added", "jit added"
      for (i = 1; i <= 2; i++) {
        m = modes[i]
        d = ln["direct", m] ? lsum["direct", m] / ln["direct", m] : 0
        p = ln["pgbouncer", m] ? lsum["pgbouncer", m] / ln["pgbouncer", m] : 0
        j = ln["jitgate", m] ? lsum["jitgate", m] / ln["jitgate", m] : 0
        printf "%-9s %10s %10s %10s %11s %11s\n", m, g(d), g(p), g(j),
          (d > 0 && p > 0) ? g(p - d) : "-", (d > 0 && j > 0) ? g(j - d) : "-"
      }
      printf "\nbulk read, best of 3: psql -A -t -o /dev/null -c \"%s\" (%s rows)\n", sql, rows
      printf "%-9s %10s %10s %10s %11s %11s\n", "", "direct", "pgbouncer", "jitgate", "jit/direct", "pgb/direct"
      printf "%-9s %10s %10s %10s %11s %11s\n", "seconds", best["direct"], best["pgbouncer"],
        ("jitgate" in best) ? best["jitgate"] : "-", r(best["jitgate"], best["direct"]), r(best["pgbouncer"], best["direct"])
      if ("jitgate-masked" in best) {
        printf "\nbulk read with 3 masked columns (filler partial, abalance generalize, bid hash) through jitgate:\n"
        printf "%-9s %10s %10s %28s\n", "", "unmasked", "masked", "throughput masked/unmasked"
        printf "%-9s %10s %10s %28s\n", "seconds", best["jitgate"], best["jitgate-masked"], r(best["jitgate"], best["jitgate-masked"])
      }
    }' "$raw"
  echo
  echo "raw runs:"
  sed 's/^/  /' "$raw"
} > "$report"
echo
cat "$report"
echo
log "written to ${report#"$repo_root"/}"
