#!/usr/bin/env python3
"""Databricks SQL (HiveServer2 over HTTP) through jitgate, next to a direct connection.

    bench/databricks_sql.py [--rows N] [--rounds N] [--jitgate PATH] [--baseline PATH]

Starts Spark's Thrift server in HTTP mode (from the pyspark package, as the tests do) and
jitgate in front of it with two resources: `wh` (the subject sees everything) and `wh-masked`
(three masked columns: `partial`, keyed `hash`, `email`). Creates a table of N rows (default
200k) and measures the wall time of PyHive fetching all of it (fetchall, 10k rows per fetch),
interleaving the targets over several rounds (best of the rounds). Prints times and ratios and
writes them to bench/results/databricks-sql-latest.txt. Builds jitgate in release mode unless
--jitgate names a binary. --baseline names a second jitgate binary (an earlier build) that
serves the same two resources next to the first, so a change is measured before and after in
one run. Needs java, python3 with pyspark and PyHive, and cargo.
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(REPO, "crates", "jitgate", "tests", "hive", "server.py")

CONFIG = """
[server]
store = "jitgate.sqlite"

[api]
listen = "127.0.0.1:{api}"

[resources.wh]
kind = "databricks-sql"
listen = "127.0.0.1:{clear}"
[resources.wh.upstream]
host = "127.0.0.1"
port = {hs2}
tls = false
user = "bench"
password = "unused"

[resources.wh-masked]
kind = "databricks-sql"
listen = "127.0.0.1:{masked}"
[resources.wh-masked.upstream]
host = "127.0.0.1"
port = {hs2}
tls = false
user = "bench"
password = "unused"

[masking]
key_env = "BENCH_MASK_KEY"

[[masking.rules]]
resource = "wh-masked"
column = "default.bench_people.name"
mask = "partial"
keep_first = 1

[[masking.rules]]
resource = "wh-masked"
column = "default.bench_people.ssn"
mask = "hash"

[[masking.rules]]
resource = "wh-masked"
column = "default.bench_people.email"
mask = "email"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    sys.exit(f"{what} not ready within {seconds}s")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def connect(port: int, user: str, password: str):
    from pyhive import hive
    from thrift.transport import THttpClient

    transport = THttpClient.THttpClient(f"http://127.0.0.1:{port}/cliservice")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    transport.setCustomHeaders({"Authorization": f"Basic {token}"})
    return hive.connect(thrift_transport=transport)


def credential(jitgate: str, config: str, resource: str, env: dict) -> str:
    out = subprocess.run(
        [jitgate, "admin", "grant", "bench-user", resource, "--duration", "2h", "--json",
         "--config", config],
        env=env, cwd=os.path.dirname(config), check=True, capture_output=True, text=True,
    ).stdout
    grant = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    return f"{grant['login']}.{grant['password']}"


def start_gateway(binary: str, work: str, hs2: int, env: dict):
    """jitgate `binary` serving `wh` and `wh-masked` from its own folder: the process, both
    ports and the config's path."""
    os.makedirs(work)
    api, clear, masked = free_port(), free_port(), free_port()
    config = os.path.join(work, "jitgate.toml")
    with open(config, "w") as f:
        f.write(CONFIG.format(api=api, clear=clear, masked=masked, hs2=hs2))
    log = open(os.path.join(work, "jitgate.log"), "wb")
    process = subprocess.Popen([binary, "serve", "--config", config], cwd=work, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    return process, clear, masked, config


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rows", type=int, default=200_000)
    args.add_argument("--rounds", type=int, default=3)
    args.add_argument("--jitgate")
    args.add_argument("--baseline", help="a second jitgate binary to measure next to the first")
    opts = args.parse_args()
    jitgate = os.path.abspath(opts.jitgate) if opts.jitgate else None
    if not jitgate:
        subprocess.run(["cargo", "build", "--release", "-p", "jitgate"], cwd=REPO, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
        jitgate = os.path.join(target, "release", "jitgate")

    binaries = {"jitgate": jitgate}
    if opts.baseline:
        binaries["baseline"] = os.path.abspath(opts.baseline)

    with tempfile.TemporaryDirectory(prefix="jitgate-dbsql-bench-") as work:
        hs2 = free_port()
        server = subprocess.Popen([sys.executable, SERVER, str(hs2), work], stdin=subprocess.PIPE)
        env = dict(os.environ, BENCH_MASK_KEY=f"bench-masking-key-{os.getpid()}-{time.time()}")
        gateways = {}
        try:
            for name, binary in binaries.items():
                gateways[name] = start_gateway(binary, os.path.join(work, name), hs2, env)
            spark_log = os.path.join(work, "spark.log")
            wait_for(lambda: os.path.exists(spark_log)
                     and b"HiveThriftServer2 started" in open(spark_log, "rb").read(),
                     "the Thrift server")
            for _, clear, masked, _ in gateways.values():
                wait_for(lambda: listening(masked), "jitgate")
            setup = connect(hs2, "bench", "x").cursor()
            print(f"==> creating bench_people ({opts.rows} rows)", file=sys.stderr)
            setup.execute(
                "CREATE TABLE bench_people USING parquet AS SELECT id, concat('Person ', id) AS name, "
                "format_string('%03d-%02d-%04d', id % 900, id % 100, id % 10000) AS ssn, "
                f"concat('p', id, '@example.com') AS email FROM range({opts.rows})")
            targets = {"direct": (hs2, "bench", "x")}
            for name, (_, clear, masked, config) in gateways.items():
                binary = binaries[name]
                targets[name] = (clear, "token", credential(binary, config, "wh", env))
                targets[f"{name}-masked"] = (
                    masked, "token", credential(binary, config, "wh-masked", env))
            cursors = {t: connect(*c).cursor(arraysize=10_000) for t, c in targets.items()}
            times = {t: [] for t in targets}
            order = list(cursors.items())
            for round_no in range(opts.rounds):
                shift = round_no % len(order)
                for target, cursor in order[shift:] + order[:shift]:
                    started = time.monotonic()
                    cursor.execute("SELECT * FROM bench_people")
                    rows = cursor.fetchall()
                    times[target].append(time.monotonic() - started)
                    assert len(rows) == opts.rows, (target, len(rows))
        finally:
            for process, _, _, _ in gateways.values():
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            server.stdin.close()
            server.wait(timeout=30)

    best = {t: min(v) for t, v in times.items()}
    lines = [
        f"Databricks SQL front (PyHive over HTTP, Spark Thrift server), {opts.rows} rows x 4 "
        f"columns, best of {opts.rounds}; jitgate binary: {os.path.basename(os.path.dirname(jitgate))}",
        f"{'target':<16}{'fetch all s':>12}{'/ direct':>10}",
    ]
    for t in targets:
        lines.append(f"{t:<16}{best[t]:>12.3f}{best[t] / best['direct']:>10.2f}")
    lines.append(f"masked / clear through jitgate: {best['jitgate-masked'] / best['jitgate']:.2f}")
    if "baseline" in best:
        lines.append(f"baseline binary: {binaries['baseline']}")
        for t in ("jitgate", "jitgate-masked"):
            base = t.replace("jitgate", "baseline")
            lines.append(f"{t} / {base}: {best[t] / best[base]:.2f}")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", "databricks-sql-latest.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
