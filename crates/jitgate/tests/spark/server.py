"""Runs a local Spark Connect server from the pyspark package for jitgate's tests.

Usage: server.py PORT WORKDIR

Starts Spark Connect (local[2], in-memory catalog, warehouse under WORKDIR) and keeps it
running while its standard input stays open: the test binary holds the other end, so the
server goes when the tests go, however they end.
"""

import os
import signal
import subprocess
import sys

import pyspark


# Shared with the tests that look for it (tests/spark/redteam.rs).
STORAGE_SECRET = "jg-test-storage-secret-7f3a9c"


def main() -> None:
    port, workdir = sys.argv[1], sys.argv[2]
    home = os.path.dirname(pyspark.__file__)
    env = dict(os.environ, SPARK_HOME=home)
    # Small and quiet: two cores at most on test machines.
    command = [
        os.path.join(home, "bin", "spark-submit"),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]",
        "--driver-memory", "1g",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.catalogImplementation=in-memory",
        "--conf", f"spark.sql.warehouse.dir={os.path.join(workdir, 'warehouse')}",
        "--conf", f"spark.local.dir={os.path.join(workdir, 'tmp')}",
        "--conf", "spark.sql.shuffle.partitions=2",
        # A storage credential in the cluster's configuration, as real clusters hold them: no
        # test subject may read it.
        "--conf", "spark.hadoop.fs.s3a.secret.key=" + STORAGE_SECRET,
        "--driver-java-options", f"-Djava.io.tmpdir={workdir}",
    ]
    log = open(os.path.join(workdir, "spark.log"), "wb")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        sys.stdin.buffer.read()  # until the test binary is gone
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    main()
