#!/usr/bin/env bash
# Cost of masking on a bulk read over the extended protocol: psycopg reads N
# customers (ssn partial, email email, credit_card tokenize, phone keyed hash)
# through jitgate as a masked subject and as a clear one, same gateway, same
# run, alternating, best of several rounds. Then the SQL form of each mask,
# where the column is evaluated and its mask must stay in SQL: the extra time
# of a predicate over the masked column, per value.
#
#   bench/masked_read.sh [--rows N] [--rounds N]
#
# JITGATE_BIN=path uses an already built binary (a debug build makes the
# stream masking look slower than it is); otherwise the release build is made.
# Installs psycopg ("psycopg[binary]") into a virtualenv under
# ~/.cache/jitgate-bench when it is not importable. Needs PostgreSQL 15 server
# binaries and psql. Everything it starts is stopped, and its temp dir
# removed, on exit. Prints a table and writes it to bench/results/masked_read.txt.
set -euo pipefail

rows=500000
rounds=3

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"

# --- tools -------------------------------------------------------------------
pg_tools
command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client-15)"

python=python3
if ! "$python" -c 'import psycopg' 2>/dev/null; then
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/jitgate-bench/venv"
  if ! "$venv/bin/python" -c 'import psycopg' 2>/dev/null; then
    log "installing psycopg into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "psycopg[binary]"
  fi
  python="$venv/bin/python"
fi

if [ -n "${JITGATE_BIN:-}" ]; then
  jitgate_bin="$JITGATE_BIN"
  [ -x "$jitgate_bin" ] || die "no binary at $jitgate_bin"
else
  build_jitgate release
fi

# --- workspace and cleanup ---------------------------------------------------
work="$(mktemp -d "$tmp_base/jitgate-masked-bench.XXXXXX")"
chmod 755 "$work"
mkdir -p "$work/sock" "$work/jitgate"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
jitgate_pid=""
cleanup() {
  set +e
  if [ -n "$jitgate_pid" ]; then kill "$jitgate_pid" 2>/dev/null && wait "$jitgate_pid" 2>/dev/null; fi
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_password="bench-$RANDOM$RANDOM"
export PGSSLMODE=disable PGCONNECT_TIMEOUT=10
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS

# --- PostgreSQL --------------------------------------------------------------
pg_start scram
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U "$superuser" -d postgres <<EOF
CREATE ROLE bench LOGIN PASSWORD '$bench_password';
CREATE DATABASE bench OWNER bench;
EOF
direct_uri="postgresql://bench:$bench_password@127.0.0.1:$pg_port/bench"
log "seeding $rows customers"
psql -X -q -v ON_ERROR_STOP=1 "$direct_uri" <<EOF
CREATE TABLE customers (id int PRIMARY KEY, full_name text, ssn text, email text,
  credit_card text, phone text);
INSERT INTO customers
SELECT g, 'Customer ' || g,
  lpad((g % 899)::text, 3, '0') || '-' || lpad((g % 97)::text, 2, '0') || '-' || lpad((g % 9973)::text, 4, '0'),
  'user' || g || '@example.com',
  '4111 ' || lpad((g % 10000)::text, 4, '0') || ' ' || lpad((g % 9999)::text, 4, '0') || ' 1111',
  '+1-202-555-' || lpad((g % 10000)::text, 4, '0')
FROM generate_series(1, $rows) g;
VACUUM ANALYZE customers;
EOF

# --- jitgate -----------------------------------------------------------------
log "start jitgate"
jg_port="$(free_port)"
jg_api_port="$(free_port)"
jg_config="$work/jitgate/jitgate.toml"
cat > "$jg_config" <<EOF
[server]
store = "$work/jitgate/jitgate.sqlite"

[api]
listen = "127.0.0.1:$jg_api_port"

[users.alice]
password_env = "BENCH_USER_PASSWORD"
groups = ["analysts"]

[users.erin]
password_env = "BENCH_USER_PASSWORD"
groups = ["admins"]

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

[masking]
key_env = "BENCH_MASK_KEY"
clear_groups = ["admins"]

[[masking.rules]]
resource = "bench"
column = "public.customers.ssn"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "bench"
column = "public.customers.email"
mask = "email"

[[masking.rules]]
resource = "bench"
column = "public.customers.credit_card"
mask = "tokenize"

[[masking.rules]]
resource = "bench"
column = "public.customers.phone"
mask = "hash"
EOF
export BENCH_UPSTREAM_PASSWORD="$bench_password"
export BENCH_USER_PASSWORD="user-$RANDOM$RANDOM"
export BENCH_MASK_KEY="bench-masking-key-$RANDOM$RANDOM$RANDOM"
NO_COLOR=1 "$jitgate_bin" serve --config "$jg_config" > "$work/jitgate/jitgate.log" 2>&1 &
jitgate_pid=$!
wait_port "$jg_port" "$jitgate_pid" jitgate "$work/jitgate/jitgate.log"
uri_for() { # SUBJECT
  grant_json "$jitgate_bin" "$jg_config" "$1" bench | json_field uri
}
masked_uri="$(uri_for alice)"
clear_uri="$(uri_for erin)"
[ -n "$masked_uri" ] && [ -n "$clear_uri" ] || die "jitgate admin grant gave no uri"

# --- measurements ------------------------------------------------------------
mkdir -p "$repo_root/bench/results"
report="$repo_root/bench/results/masked_read.txt"
"$python" - "$masked_uri" "$clear_uri" "$rows" "$rounds" > "$work/report.txt" <<'PY'
import sys, time
import psycopg

masked_uri, clear_uri, rows, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
columns = ["ssn", "email", "credit_card", "phone"]
read = "SELECT id, full_name, ssn, email, credit_card, phone FROM customers"

def timed(uri, sql, fetch):
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.cursor()
        start = time.perf_counter()
        cur.execute(sql)  # extended protocol: Parse, Bind, Describe, Execute, Sync
        out = cur.fetchall() if fetch else cur.fetchone()
        return time.perf_counter() - start, out

# Masked for alice, clear for erin; and which masked columns jitgate masked in the stream
# (the description names their table: read clear upstream) rather than PostgreSQL in SQL.
with psycopg.connect(masked_uri, autocommit=True) as conn:
    cur = conn.execute(read + " WHERE id <= 2 ORDER BY id")
    sample_masked = cur.fetchall()
    names = [c.name for c in cur.description]
    in_stream = [n for i, n in enumerate(names) if n in columns and cur.pgresult.ftable(i) != 0]
_, sample_clear = timed(clear_uri, read + " WHERE id <= 2 ORDER BY id", True)
assert sample_masked[0][2] != sample_clear[0][2], "ssn is masked"

best = {"clear": float("inf"), "masked": float("inf")}
for r in range(rounds):
    order = ["clear", "masked"] if r % 2 == 0 else ["masked", "clear"]
    for who in order:
        secs, got = timed(clear_uri if who == "clear" else masked_uri, read, True)
        assert len(got) == rows, (who, len(got))
        best[who] = min(best[who], secs)
        print(f"round {r + 1} {who:6} {secs:.3f}s", file=sys.stderr)

print(f"bulk read over the extended protocol (psycopg, text results), {rows} rows, best of {rounds}:")
print(f"  {read}")
print(f"  clear subject  {best['clear']:.3f} s")
print(f"  masked subject {best['masked']:.3f} s")
print(f"  masked/clear throughput {best['clear'] / best['masked']:.2f}x")
print(f"  masked by jitgate in the stream: {', '.join(in_stream) or 'none'}")
print()
print("masks kept in SQL (the column is evaluated in a predicate), extra cost per value:")
for col in columns:
    sql = f"SELECT count(*) FROM customers WHERE length({col}) > 0"
    c = min(timed(clear_uri, sql, False)[0] for _ in range(rounds))
    m = min(timed(masked_uri, sql, False)[0] for _ in range(rounds))
    print(f"  {col:12} clear {c:.3f} s  masked {m:.3f} s  {(m - c) / rows * 1e6:6.2f} us/value")
PY
{
  echo "jitgate masked bulk read, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo none)," \
    "cpus: $(nproc), $("$pgbin/postgres" --version), binary: ${JITGATE_BIN:-release build}"
  echo
  cat "$work/report.txt"
} > "$report"
cat "$report"
log "written to ${report#"$repo_root"/}"
