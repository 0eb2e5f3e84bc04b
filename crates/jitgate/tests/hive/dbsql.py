"""Drives the Databricks SQL connector for Python (databricks-sql-connector) against jitgate's
Databricks SQL front for jitgate's tests.

Usage: dbsql.py HOST PORT HTTP_PATH TOKEN CA_FILE MODE STEP...
  The connector connects as it does to a warehouse: https, `Authorization: Bearer TOKEN`
  ("-" for none), the server's certificate checked against CA_FILE.
  MODE is
    as-shipped   the connector unchanged
    spark        two client-side checks relaxed, both about what the Spark Thrift server
                 (the tests' upstream) answers and a Databricks warehouse would: the protocol
                 version of OpenSession (Spark answers HIVE_CLI_SERVICE_PROTOCOL_V10, the
                 connector wants the SPARK_CLI_SERVICE_PROTOCOL family) and `resultFormat`
                 (a warehouse names its row set type in GetResultSetMetadata and FetchResults;
                 Spark leaves it out, and its row sets are column based). Nothing else changes.
  STEP is one of
    sql:QUERY        cursor.execute(QUERY), then fetchall
    tables           cursor.tables(schema_name="default")
    columns:TABLE    cursor.columns(schema_name="default", table_name=TABLE)
    schemas          cursor.schemas()
    catalogs         cursor.catalogs()

Prints {"open": true} or {"open": false, "error"} for the connection, then one JSON line per
step: {"step", "ok", "rows" | "error"}. Exit status 0 whatever the outcomes.
"""

import json
import sys

from databricks import sql
from databricks.sql.backend import thrift_backend
from databricks.sql.thrift_api.TCLIService import ttypes


def relax_for_spark() -> None:
    client = thrift_backend.ThriftDatabricksClient
    client._check_protocol_version = lambda self, resp: None
    column_based = ttypes.TSparkRowSetType.COLUMN_BASED_SET
    make_request = client.make_request

    def with_result_format(self, method, request, *args, **kwargs):
        resp = make_request(self, method, request, *args, **kwargs)
        if isinstance(resp, ttypes.TGetResultSetMetadataResp) and resp.resultFormat is None:
            resp.resultFormat = column_based
        if isinstance(resp, ttypes.TFetchResultsResp) and resp.resultSetMetadata is None:
            resp.resultSetMetadata = ttypes.TGetResultSetMetadataResp(resultFormat=column_based)
        return resp

    client.make_request = with_result_format


def run(cursor, step: str):
    if step.startswith("sql:"):
        cursor.execute(step[4:])
    elif step == "tables":
        cursor.tables(schema_name="default")
    elif step.startswith("columns:"):
        cursor.columns(schema_name="default", table_name=step[8:])
    elif step == "schemas":
        cursor.schemas()
    elif step == "catalogs":
        cursor.catalogs()
    else:
        raise ValueError(f"unknown step {step!r}")
    return [list(r) for r in cursor.fetchall()]


def main() -> None:
    host, port, path, token, ca, mode = sys.argv[1:7]
    steps = sys.argv[7:]
    if mode == "spark":
        relax_for_spark()
    elif mode != "as-shipped":
        raise ValueError(mode)
    try:
        conn = sql.connect(
            server_hostname=host,
            http_path=path,
            access_token=None if token == "-" else token,
            _port=int(port),
            _tls_trusted_ca_file=ca,
            _retry_stop_after_attempts_count=1,
            enable_telemetry=False,
        )
        cursor = conn.cursor()
    except Exception as e:  # noqa: BLE001 - reported to the test
        print(json.dumps({"open": False, "error": str(e)[:2000]}), flush=True)
        return
    print(json.dumps({"open": True}), flush=True)
    for step in steps:
        try:
            out = {"step": step, "ok": True, "rows": run(cursor, step)}
        except Exception as e:  # noqa: BLE001 - reported to the test
            out = {"step": step, "ok": False, "error": str(e)[:2000]}
        print(json.dumps(out, default=str), flush=True)
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - the session may be gone already
        pass


if __name__ == "__main__":
    main()
