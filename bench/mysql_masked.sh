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

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo_root"
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for tool in mariadb-install-db mariadb; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/install-deps bench)"
done
mariadbd=/usr/sbin/mariadbd
[ -x "$mariadbd" ] || mariadbd="$(command -v mariadbd)" || die "mariadbd not found"

if [ "$profile" = release ]; then
  log "cargo build --release -p jitgate"
  cargo build --release -p jitgate
else
  cargo build -p jitgate
fi
jitgate_bin="${CARGO_TARGET_DIR:-$repo_root/target}/$profile/jitgate"
[ -x "$jitgate_bin" ] || die "no binary at $jitgate_bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/jitgate-mysql-masked-bench.XXXXXX")"
mkdir "$work/tmp"
as_db=()
if [ "$(id -u)" = 0 ]; then
  chown -R mysql:mysql "$work"
  as_db=(runuser -u mysql --)
fi
db_pid=""
gw_pid=""
cleanup() {
  set +e
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
  [ -f "$work/pid" ] && kill -9 "$(cat "$work/pid")" 2>/dev/null
  [ -n "$db_pid" ] && kill "$db_pid" 2>/dev/null && wait "$db_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
db_port="$(free_port)"
gw_port="$(free_port)"
api_port="$(free_port)"

log "starting MariaDB on port $db_port"
"${as_db[@]}" mariadb-install-db --no-defaults --datadir="$work/data" \
  --auth-root-authentication-method=normal --skip-test-db --tmpdir="$work/tmp" >/dev/null
"${as_db[@]}" "$mariadbd" --no-defaults --datadir="$work/data" --port="$db_port" \
  --bind-address=127.0.0.1 --socket="$work/sock" --pid-file="$work/pid" --tmpdir="$work/tmp" \
  --log-error="$work/error.log" --skip-name-resolve --skip-log-bin \
  --innodb-buffer-pool-size=128M --max-connections=200 >/dev/null 2>&1 &
db_pid=$!
root() { mariadb --no-defaults -uroot --socket="$work/sock" "$@"; }
for _ in $(seq 1 300); do root -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
root -e "CREATE DATABASE bench; CREATE USER 'svc'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('svc-bench'); GRANT ALL ON *.* TO 'svc'@'%';"
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
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null && break; sleep 0.1; done
grant() {
  "$jitgate_bin" admin grant "$1" bench --duration 2h --json --config "$work/jitgate.toml" | tail -n 1
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
clear_grant="$(grant erin)"
masked_grant="$(grant alice)"
clear_login="$(printf '%s' "$clear_grant" | field login)"
clear_password="$(printf '%s' "$clear_grant" | field password)"
masked_login="$(printf '%s' "$masked_grant" | field login)"
masked_password="$(printf '%s' "$masked_grant" | field password)"

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
mean() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%.3f", s/NR}'; }
d="$(mean "${direct_all[@]}")"
c="$(mean "${clear_all[@]}")"
m="$(mean "${masked_all[@]}")"
printf '\nSELECT * of %s rows (6 columns), mariadb client, %s rounds, %s build\n' "$rows" "$rounds" "$profile"
printf '%-16s %10s %12s   rounds (s)\n' target seconds rows/s
for t in direct:"$d":"${direct_all[*]}" jitgate-clear:"$c":"${clear_all[*]}" jitgate-masked:"$m":"${masked_all[*]}"; do
  IFS=: read -r name secs all <<<"$t"
  awk -v n="$name" -v s="$secs" -v r="$rows" -v a="$all" 'BEGIN {printf "%-16s %10.3f %12.0f   %s\n", n, s, r/s, a}'
done
awk -v c="$c" -v m="$m" -v d="$d" 'BEGIN {printf "masked/clear (rows/s): %.2f   clear/direct: %.2f\n", c/m, d/c}'
