#!/usr/bin/env bash
# Throughput of MariaDB through jitgate's MySQL front next to a direct connection, on one
# throwaway MariaDB server, in the same run.
#
#   bench/mysql.sh [--seconds N] [--rounds N] [--threads N] [--debug] [--binary PATH]...
#
# Runs sysbench oltp_read_only (prepared statements over the binary protocol, 4 tables of
# 10000 rows) with --threads clients (default 8) against the server directly (as the service
# account) and through jitgate (a clear session: no masking rules), alternating over --rounds
# rounds (default 2) of --seconds each (default 20), and prints transactions per second and the
# ratio jitgate/direct. With socat installed it also measures a bare TCP relay (socat, one
# process per connection, no parsing) to the same server: what one more loopback hop costs any
# proxy on this machine. --debug uses the debug build instead of building a release one (ratios
# from it understate jitgate). --binary (repeatable) measures these jitgate binaries instead
# of building one, each in every round, to compare builds in one run. Everything it starts is
# stopped, and its temp dir removed, on exit.
#
# Needs mariadb-server, mariadb-client, sysbench and socat (scripts/install-deps bench). When
# run as root the server runs as the `mysql` OS user.
set -euo pipefail

secs=20
rounds=2
threads=8
profile=release

binaries=()
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --debug) profile=debug; shift ;;
    --binary) binaries+=("$(realpath "$2")"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"
mariadb_tools sysbench

if [ ${#binaries[@]} -eq 0 ]; then
  build_jitgate "$profile"
  binaries=("$jitgate_bin")
  profile="$profile build"
else
  profile="given binaries"
fi
for b in "${binaries[@]}"; do [ -x "$b" ] || die "no binary at $b"; done

work="$(mktemp -d "${TMPDIR:-/tmp}/jitgate-mysql-bench.XXXXXX")"
gw_pids=()
cleanup() {
  set +e
  for pid in "${gw_pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  mariadb_stop
  rm -rf "$work"
}
trap cleanup EXIT
mariadb_start sbtest

# libmariadb loads mysql_clear_password on first use; threads logging in at once race to load it
# ("already loaded"), so it is loaded up front.
export LIBMYSQL_PLUGINS=mysql_clear_password
sb() {
  sysbench oltp_read_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" \
    --mysql-user="$2" --mysql-password="$3" --mysql-db=sbtest --tables=4 --table-size=10000 \
    --threads="$threads" --time="$secs" --report-interval=0 "${@:4}"
}
log "sysbench prepare"
sb "$db_port" svc svc-bench prepare >/dev/null

# One gateway per binary, each with its own store and grant; logins and passwords by index.
gw_ports=()
logins=()
passwords=()
for i in "${!binaries[@]}"; do
  gw_port="$(free_port)"
  api_port="$(free_port)"
  mkdir "$work/gw$i"
  cat >"$work/gw$i/jitgate.toml" <<TOML
[server]
store = "jitgate.sqlite"
max_connections = 400

[api]
listen = "127.0.0.1:$api_port"

[resources.bench]
kind = "mysql"
listen = "127.0.0.1:$gw_port"

[resources.bench.upstream]
host = "127.0.0.1"
port = $db_port
database = "sbtest"
user = "svc"
password = "svc-bench"
TOML
  JITGATE_LOG=warn "${binaries[$i]}" serve --config "$work/gw$i/jitgate.toml" \
    >"$work/gw$i/jitgate.log" 2>&1 &
  gw_pids+=($!)
  wait_port "$gw_port" "$!" jitgate "$work/gw$i/jitgate.log"
  grant="$(grant_json "${binaries[$i]}" "$work/gw$i/jitgate.toml" bench bench)"
  gw_ports+=("$gw_port")
  logins+=("$(printf '%s' "$grant" | json_field login)")
  passwords+=("$(printf '%s' "$grant" | json_field password)")
done

# A bare TCP relay to the server, when socat is installed.
relay_port=""
if command -v socat >/dev/null 2>&1; then
  relay_port="$(free_port)"
  socat "TCP-LISTEN:$relay_port,bind=127.0.0.1,reuseaddr,fork,nodelay" \
    "TCP:127.0.0.1:$db_port,nodelay" &
  gw_pids+=($!)
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$relay_port") 2>/dev/null && break; sleep 0.1; done
else
  log "socat is not installed: no bare TCP relay measured"
fi

# Runs sysbench and prints its transactions per second; its output on failure.
tps() {
  if ! sb "$@" run >"$work/sysbench.out" 2>&1; then
    cat "$work/sysbench.out" >&2
    die "sysbench failed against port $1"
  fi
  sed -n 's/.*transactions: *[0-9]* *(\([0-9.]*\) per sec.).*/\1/p' "$work/sysbench.out"
}
direct_all=()
relay_all=()
declare -A gw_all
for round in $(seq 1 "$rounds"); do
  log "round $round: direct"
  direct_all+=("$(tps "$db_port" svc svc-bench)")
  if [ -n "$relay_port" ]; then
    log "round $round: through socat"
    relay_all+=("$(tps "$relay_port" svc svc-bench)")
  fi
  for i in "${!binaries[@]}"; do
    log "round $round: through ${binaries[$i]}"
    gw_all[$i]="${gw_all[$i]:-} $(tps "${gw_ports[$i]}" "${logins[$i]}" "${passwords[$i]}")"
  done
done
d="$(mean %.1f "${direct_all[@]}")"
printf '\nsysbench oltp_read_only, %s threads, %s x %ss, %s\n' "$threads" "$rounds" "$secs" "$profile"
printf '%-10s %12s %8s   rounds\n' target tps ratio
printf '%-10s %12s %8s   %s\n' direct "$d" 1.00 "${direct_all[*]}"
if [ ${#relay_all[@]} -gt 0 ]; then
  s="$(mean %.1f "${relay_all[@]}")"
  printf '%-10s %12s %8s   %s\n' socat "$s" "$(awk -v d="$d" -v j="$s" 'BEGIN {printf "%.2f", j/d}')" \
    "${relay_all[*]}"
fi
for i in "${!binaries[@]}"; do
  # shellcheck disable=SC2086
  j="$(mean %.1f ${gw_all[$i]})"
  name=jitgate
  [ ${#binaries[@]} -gt 1 ] && name="jitgate#$((i + 1))"
  r="$(awk -v d="$d" -v j="$j" 'BEGIN {printf "%.2f", j/d}')"
  printf '%-10s %12s %8s   %s   %s\n' "$name" "$j" "$r" "${gw_all[$i]# }" "${binaries[$i]}"
done
