"""Runs Spark's Thrift JDBC/ODBC server (HiveServer2 in HTTP mode) from the pyspark package for
jitgate's tests.

Usage: server.py PORT WORKDIR [CONNECT_PORT]

Starts HiveThriftServer2 (local[2], Hive catalog in an embedded Derby metastore, warehouse
and metastore under WORKDIR) with HTTP transport on PORT, path /cliservice, and keeps it
running while its standard input stays open: the test binary holds the other end, so the
server goes when the tests go, however they end. With CONNECT_PORT, the same Spark also serves
Spark Connect there (its plugin): both protocols then read one catalog and one warehouse.
"""

import os
import signal
import subprocess
import sys

import pyspark


def main() -> None:
    port, workdir = sys.argv[1], sys.argv[2]
    connect = sys.argv[3:4]
    home = os.path.dirname(pyspark.__file__)
    env = dict(os.environ, SPARK_HOME=home, SPARK_LOG_DIR=workdir, SPARK_PID_DIR=workdir)
    command = [
        os.path.join(home, "bin", "spark-submit"),
        "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--master", "local[2]",
        "--driver-memory", "1g",
        "--conf", "spark.ui.enabled=false",
        "--hiveconf",
        f"javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={os.path.join(workdir, 'metastore_db')};create=true",
        "--conf", f"spark.sql.warehouse.dir={os.path.join(workdir, 'warehouse')}",
        "--conf", f"spark.local.dir={os.path.join(workdir, 'tmp')}",
        "--conf", "spark.sql.shuffle.partitions=2",
        "--hiveconf", "hive.server2.transport.mode=http",
        "--hiveconf", f"hive.server2.thrift.http.port={port}",
        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
        "--hiveconf", "hive.server2.thrift.http.path=cliservice",
        *(
            [
                "--conf", "spark.plugins=org.apache.spark.sql.connect.SparkConnectPlugin",
                "--conf", f"spark.connect.grpc.binding.port={connect[0]}",
                "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            ]
            if connect
            else []
        ),
        "--driver-java-options",
        f"-Djava.io.tmpdir={workdir} -Dderby.system.home={os.path.join(workdir, 'derby')}",
        "spark-internal",
    ]
    log = open(os.path.join(workdir, "spark.log"), "wb")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=workdir,
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
