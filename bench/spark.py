#!/usr/bin/env python3
"""Spark Connect through jitgate, next to a direct connection to the same Spark Connect server.

    bench/spark.py [--rows N] [--rounds N] [--queries N]

Starts a local Spark Connect server (from the pyspark package, as the tests do) and jitgate in
front of it with two resources: `lake` (the subject sees everything) and `lake-masked` (three
masked columns: `partial`, keyed `hash`, `email`). Creates a table of N rows (default 1M) and
measures, interleaving the targets over several rounds:

- bulk read: `spark.table(...).toArrow()` of every row (best of the rounds);
- small queries: the mean latency of a filtered count over the same table, which through
  `lake-masked` also costs jitgate's schema read and rewrite.

Prints times and ratios (to direct, and masked to clear) and writes them to
bench/results/spark-latest.txt. Needs java, python3 with pyspark[connect], and cargo.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(REPO, "crates", "jitgate", "tests", "spark", "server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{what} did not listen on {port} within {seconds}s")


CONFIG = """
[server]
store = "jitgate.sqlite"

[api]
listen = "127.0.0.1:{api}"

[resources.lake]
kind = "spark-connect"
listen = "127.0.0.1:{clear}"
[resources.lake.upstream]
host = "127.0.0.1"
port = {spark}

[resources.lake-masked]
kind = "spark-connect"
listen = "127.0.0.1:{masked}"
[resources.lake-masked.upstream]
host = "127.0.0.1"
port = {spark}

[masking]
key_env = "BENCH_MASK_KEY"

[[masking.rules]]
resource = "lake-masked"
column = "default.bench_people.name"
mask = "partial"
keep_first = 1

[[masking.rules]]
resource = "lake-masked"
column = "default.bench_people.ssn"
mask = "hash"

[[masking.rules]]
resource = "lake-masked"
column = "default.bench_people.email"
mask = "email"
"""


def grant_uri(jitgate: str, config: str, resource: str, env: dict) -> str:
    out = subprocess.run(
        [jitgate, "admin", "grant", "bench-user", resource, "--duration", "2h", "--json",
         "--config", config],
        env=env, cwd=os.path.dirname(config), check=True, capture_output=True, text=True,
    ).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["uri"]


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rows", type=int, default=1_000_000)
    args.add_argument("--rounds", type=int, default=3)
    args.add_argument("--queries", type=int, default=30)
    opts = args.parse_args()

    print("==> cargo build --release -p jitgate", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-p", "jitgate"], cwd=REPO, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    jitgate = os.path.join(target, "release", "jitgate")

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    with tempfile.TemporaryDirectory(prefix="jitgate-spark-bench-") as work:
        spark_port, api = free_port(), free_port()
        clear_port, masked_port = free_port(), free_port()
        spark_server = subprocess.Popen(
            [sys.executable, SERVER, str(spark_port), work], stdin=subprocess.PIPE,
        )
        config = os.path.join(work, "jitgate.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(api=api, clear=clear_port, masked=masked_port,
                                  spark=spark_port))
        env = dict(os.environ, BENCH_MASK_KEY=f"bench-masking-key-{os.getpid()}-{time.time()}")
        log = open(os.path.join(work, "jitgate.log"), "wb")
        gateway = subprocess.Popen([jitgate, "serve", "--config", config], cwd=work, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(spark_port, "Spark Connect")
            wait_port(masked_port, "jitgate")
            uris = {
                "direct": f"sc://127.0.0.1:{spark_port}",
                "jitgate": grant_uri(jitgate, config, "lake", env),
                "jitgate-masked": grant_uri(jitgate, config, "lake-masked", env),
            }
            setup = SparkSession.builder.remote(uris["direct"]).getOrCreate()
            print(f"==> creating bench_people ({opts.rows} rows)", file=sys.stderr)
            (setup.range(opts.rows)
                .select(
                    F.col("id"),
                    F.concat(F.lit("Person "), F.col("id")).alias("name"),
                    F.format_string("%03d-%02d-%04d", F.col("id") % 900,
                                    F.col("id") % 100, F.col("id") % 10000).alias("ssn"),
                    F.concat(F.lit("p"), F.col("id"), F.lit("@example.com")).alias("email"),
                    (F.col("id") % 100000).cast("int").alias("salary"))
                .write.mode("overwrite").format("parquet").saveAsTable("bench_people"))
            setup.stop()

            sessions = {t: SparkSession.builder.remote(u).getOrCreate() for t, u in uris.items()}
            bulk = {t: [] for t in uris}
            small = {t: [] for t in uris}
            order = list(sessions.items())
            for round_no in range(opts.rounds):
                # Each round starts with another target, so warm-up favours none.
                shift = round_no % len(order)
                for target, spark in order[shift:] + order[:shift]:
                    started = time.monotonic()
                    table = spark.table("bench_people").toArrow()
                    bulk[target].append(time.monotonic() - started)
                    assert table.num_rows == opts.rows, (target, table.num_rows)
                    for _ in range(opts.queries // opts.rounds or 1):
                        started = time.monotonic()
                        spark.sql("SELECT count(*) FROM bench_people WHERE salary < 10").collect()
                        small[target].append(time.monotonic() - started)
            for spark in sessions.values():
                spark.stop()
        finally:
            gateway.terminate()
            gateway.wait(timeout=10)
            spark_server.stdin.close()
            spark_server.wait(timeout=30)

    best = {t: min(v) for t, v in bulk.items()}
    mean = {t: sum(v) / len(v) for t, v in small.items()}
    lines = [
        f"Spark Connect, {opts.rows} rows x 5 columns, best of {opts.rounds} bulk reads, "
        f"mean of {len(small['direct'])} small queries",
        f"{'target':<16}{'bulk read s':>12}{'/ direct':>10}{'query ms':>10}{'/ direct':>10}",
    ]
    for t in uris:
        lines.append(f"{t:<16}{best[t]:>12.3f}{best[t] / best['direct']:>10.2f}"
                     f"{mean[t] * 1000:>10.1f}{mean[t] / mean['direct']:>10.2f}")
    lines.append(f"masked / clear through jitgate: bulk {best['jitgate-masked'] / best['jitgate']:.2f}, "
                 f"query {mean['jitgate-masked'] / mean['jitgate']:.2f}")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", "spark-latest.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
