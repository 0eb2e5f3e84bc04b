#!/usr/bin/env bash
# A masked bulk read next to the same read unmasked, through jitgate's MySQL front, and directly,
# on one throwaway MariaDB server, in the same run.
#
#   bench/mysql_masked.sh [--rows N] [--rounds N] [--debug]
#
# Fills a customers table with --rows rows (default 200000; name, email, ssn, birth date,
# salary), then reads it whole with the `mariadb` client (`SELECT * FROM customers`, text
# protocol) --rounds times (default 3) each: directly as the service account, through jitgate
# as a clear subject, and through jitgate as a masked subject (name hash, email email, ssn
# partial, born generalize month, salary bucket: the read is rewritten into a masking derived
# table and every row passes the content detectors). Prints rows per second and the ratios.
# --debug uses the debug build instead of building a release one. Everything it starts is
# stopped, and its temp dir removed, on exit.
#
# Needs mariadb-server and mariadb-client (scripts/install-deps bench). When run as root the
# server runs as the `mysql` OS user.
set -euo pipefail

rows=200000
rounds=3
profile=release

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --debug) profile=debug; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"
mariadb_tools
build_jitgate "$profile"

work="$(mktemp -d "${TMPDIR:-/tmp}/jitgate-mysql-masked-bench.XXXXXX")"
gw_pid=""
cleanup() {
  set +e
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
  mariadb_stop
  rm -rf "$work"
}
trap cleanup EXIT
mariadb_start bench
gw_port="$(free_port)"
api_port="$(free_port)"
log "filling bench.customers with $rows rows"
root -e "CREATE TABLE bench.customers (id int PRIMARY KEY, name varchar(40), email varchar(60),
  ssn varchar(11), born date, salary decimal(10,2));
INSERT INTO bench.customers SELECT seq, CONCAT('Customer ', seq), CONCAT('user', seq, '@example.com'),
  CONCAT(LPAD(seq MOD 900 + 100, 3, '0'), '-', LPAD(seq MOD 90 + 10, 2, '0'), '-', LPAD(seq MOD 10000, 4, '0')),
  DATE_ADD('1950-01-01', INTERVAL seq MOD 20000 DAY), (seq MOD 100000) + 0.5
  FROM bench.seq_1_to_$rows;"

cat >"$work/jitgate.toml" <<TOML
[server]
store = "jitgate.sqlite"

[api]
listen = "127.0.0.1:$api_port"

[users.erin]
password_env = "BENCH_PASSWORD"
groups = ["admins"]

[resources.bench]
kind = "mysql"
listen = "127.0.0.1:$gw_port"

[resources.bench.upstream]
host = "127.0.0.1"
port = $db_port
database = "bench"
user = "svc"
password = "svc-bench"

[masking]
key_env = "MASK_KEY"
clear_groups = ["admins"]

[[masking.rules]]
resource = "bench"
column = "bench.customers.name"
mask = "hash"

[[masking.rules]]
resource = "bench"
column = "bench.customers.email"
mask = "email"

[[masking.rules]]
resource = "bench"
column = "bench.customers.ssn"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "bench"
column = "bench.customers.born"
mask = "generalize"
granularity = "month"

[[masking.rules]]
resource = "bench"
column = "bench.customers.salary"
mask = "generalize"
bucket = 1000
TOML
export BENCH_PASSWORD=bench-password-1 MASK_KEY=a-masking-key-for-the-benchmark-0123456789
JITGATE_LOG=warn "$jitgate_bin" serve --config "$work/jitgate.toml" >"$work/jitgate.log" 2>&1 &
gw_pid=$!
wait_port "$gw_port" "$gw_pid" jitgate "$work/jitgate.log"
clear_grant="$(grant_json "$jitgate_bin" "$work/jitgate.toml" erin bench)"
masked_grant="$(grant_json "$jitgate_bin" "$work/jitgate.toml" alice bench)"
clear_login="$(printf '%s' "$clear_grant" | json_field login)"
clear_password="$(printf '%s' "$clear_grant" | json_field password)"
masked_login="$(printf '%s' "$masked_grant" | json_field login)"
masked_password="$(printf '%s' "$masked_grant" | json_field password)"

# Reads the whole table once; prints the seconds it took (the rows are counted and checked).
read_all() {
  local start end n
  start="$(date +%s.%N)"
  n="$(mariadb --no-defaults --batch --skip-column-names --protocol=TCP -h 127.0.0.1 -P "$1" \
    -u"$2" -p"$3" --default-character-set=utf8mb4 bench -e 'SELECT * FROM customers' | wc -l)"
  end="$(date +%s.%N)"
  [ "$n" = "$rows" ] || die "read $n rows of $rows through port $1"
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", e - s}'
}
# The masked read really is masked: no clear email comes back.
mariadb --no-defaults --batch --skip-column-names --protocol=TCP -h 127.0.0.1 -P "$gw_port" \
  -u"$masked_login" -p"$masked_password" bench -e 'SELECT email FROM customers LIMIT 1' \
  | grep -q '^\*\*\*@example.com$' || die "the masked subject's read is not masked"

direct_all=()
clear_all=()
masked_all=()
for round in $(seq 1 "$rounds"); do
  log "round $round"
  direct_all+=("$(read_all "$db_port" svc svc-bench)")
  clear_all+=("$(read_all "$gw_port" "$clear_login" "$clear_password")")
  masked_all+=("$(read_all "$gw_port" "$masked_login" "$masked_password")")
done
d="$(mean %.3f "${direct_all[@]}")"
c="$(mean %.3f "${clear_all[@]}")"
m="$(mean %.3f "${masked_all[@]}")"
printf '\nSELECT * of %s rows (6 columns), mariadb client, %s rounds, %s build\n' "$rows" "$rounds" "$profile"
printf '%-16s %10s %12s   rounds (s)\n' target seconds rows/s
for t in direct:"$d":"${direct_all[*]}" jitgate-clear:"$c":"${clear_all[*]}" jitgate-masked:"$m":"${masked_all[*]}"; do
  IFS=: read -r name secs all <<<"$t"
  awk -v n="$name" -v s="$secs" -v r="$rows" -v a="$all" 'BEGIN {printf "%-16s %10.3f %12.0f   %s\n", n, s, r/s, a}'
done
awk -v c="$c" -v m="$m" -v d="$d" 'BEGIN {printf "masked/clear (rows/s): %.2f   clear/direct: %.2f\n", c/m, d/c}'
