# What the benchmark scripts share: sourced by them, not run. Moves to the repository root and
# gives logging, ports, the jitgate binary, throwaway PostgreSQL and MariaDB servers, grants and
# means. The servers live in "$work", which the sourcing script creates and cleans up.
# shellcheck shell=bash

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A port nothing answers on right now. Ports are taken in order, each one only after the
# previous server holds its own, so they cannot collide.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

wait_port() { # PORT PID NAME LOGFILE
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    if [ -n "$2" ] && ! kill -0 "$2" 2>/dev/null; then
      cat "$4" >&2 || true
      die "$3 exited before listening on port $1"
    fi
    sleep 0.05
  done
  cat "$4" >&2 || true
  die "$3 did not listen on port $1 within 15s"
}

# Builds jitgate in PROFILE (release or debug) and sets $jitgate_bin to it.
build_jitgate() { # PROFILE
  if [ "$1" = release ]; then
    log "cargo build --release -p jitgate"
    cargo build --release -p jitgate
  else
    cargo build -p jitgate
  fi
  jitgate_bin="${CARGO_TARGET_DIR:-$repo_root/target}/$1/jitgate"
  [ -x "$jitgate_bin" ] || die "no binary at $jitgate_bin"
}

# The JSON line `jitgate admin grant` prints, and one field of it.
grant_json() { # BINARY CONFIG SUBJECT RESOURCE
  "$1" admin grant "$3" "$4" --duration 2h --json --config "$2" | grep '^{' | tail -n 1
}
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# The mean of the numbers given, printed with FORMAT (printf).
mean() { # FORMAT NUMBER...
  local format="$1"
  shift
  printf '%s\n' "$@" | awk -v f="$format" '{s+=$1} END {printf f, s/NR}'
}

# --- PostgreSQL ----------------------------------------------------------------
# Sets $pgbin, $superuser, $tmp_base and as_server (root runs the server as `postgres`).
pg_tools() {
  if command -v initdb >/dev/null 2>&1; then
    pgbin="$(dirname "$(command -v initdb)")"
  elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    pgbin=/usr/lib/postgresql/15/bin
  else
    die "PostgreSQL server binaries not found (apt-get install postgresql-15)"
  fi
  if [ "$(id -u)" = 0 ]; then
    superuser=postgres
    as_server() { runuser -u postgres -- "$@"; }
    tmp_base=/tmp # the postgres user must be able to enter it
  else
    superuser="$(id -un)"
    as_server() { "$@"; }
    tmp_base="${TMPDIR:-/tmp}"
  fi
}

# initdb in "$work/data" and start a cluster tuned for benchmarks (read-only benchmarks on
# throwaway data: durability only slows the set-up) on a free port ($pg_port). With `scram`,
# TCP logins other than the superuser's need a password; without, every login is trusted.
pg_start() { # [scram]
  log "initdb + start PostgreSQL"
  (cd "$work" && as_server "$pgbin/initdb" -D "$work/data" -U "$superuser" --auth=trust \
    --encoding=UTF8 --locale=C --no-sync --no-instructions >/dev/null)
  pg_port="$(free_port)"
  mkdir -p "$work/sock"
  [ "$(id -u)" = 0 ] && chown postgres: "$work/sock"
  if [ "${1:-}" = scram ]; then
    cat >"$work/data/pg_hba.conf" <<HBA
local all all trust
host all "$superuser" 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
HBA
  fi
  cat >>"$work/data/postgresql.conf" <<PGCONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work/sock'
max_connections = 100
shared_buffers = '256MB'
fsync = off
synchronous_commit = off
full_page_writes = off
PGCONF
  (cd "$work" && as_server "$pgbin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w -t 60 start >/dev/null) \
    || { cat "$work/postgres.log" >&2; die "PostgreSQL did not start"; }
}

pg_stop() {
  if [ -f "$work/data/postmaster.pid" ]; then
    as_server "$pgbin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1
  fi
}

# --- MariaDB -------------------------------------------------------------------
# Checks for the MariaDB tools (and TOOLS) and sets $mariadbd.
mariadb_tools() { # [TOOL...]
  for tool in mariadb-install-db mariadb "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/install-deps bench)"
  done
  mariadbd=/usr/sbin/mariadbd
  [ -x "$mariadbd" ] || mariadbd="$(command -v mariadbd)" || die "mariadbd not found"
}

# Starts a MariaDB server in "$work" on a free port ($db_port, its process $db_pid), with a
# service account svc / svc-bench that may do anything and the database DATABASE; `root` runs
# the mariadb client as root over the socket. Run as root, the server runs as `mysql`.
mariadb_start() { # DATABASE
  mkdir -p "$work/tmp"
  as_db=()
  if [ "$(id -u)" = 0 ]; then
    chown -R mysql:mysql "$work"
    as_db=(runuser -u mysql --)
  fi
  db_port="$(free_port)"
  log "starting MariaDB on port $db_port"
  "${as_db[@]}" mariadb-install-db --no-defaults --datadir="$work/data" \
    --auth-root-authentication-method=normal --skip-test-db --tmpdir="$work/tmp" >/dev/null
  "${as_db[@]}" "$mariadbd" --no-defaults --datadir="$work/data" --port="$db_port" \
    --bind-address=127.0.0.1 --socket="$work/sock" --pid-file="$work/pid" --tmpdir="$work/tmp" \
    --log-error="$work/error.log" --skip-name-resolve --skip-log-bin \
    --innodb-buffer-pool-size=128M --max-connections=200 >/dev/null 2>&1 &
  db_pid=$!
  for _ in $(seq 1 300); do root -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
  root -e "CREATE DATABASE $1; CREATE USER 'svc'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('svc-bench'); GRANT ALL ON *.* TO 'svc'@'%';"
}
root() { mariadb --no-defaults -uroot --socket="$work/sock" "$@"; }

mariadb_stop() {
  [ -f "$work/pid" ] && kill -9 "$(cat "$work/pid")" 2>/dev/null
  [ -n "${db_pid:-}" ] && kill "$db_pid" 2>/dev/null && wait "$db_pid" 2>/dev/null
}
