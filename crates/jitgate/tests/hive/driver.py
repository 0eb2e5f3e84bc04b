"""Drives PyHive's HiveServer2 client over HTTP for jitgate's Databricks SQL tests.

Usage: driver.py URL USER PASSWORD STEP...
  URL is http://HOST:PORT/PATH; USER/PASSWORD go as Basic auth ("-" for none).
  STEP is one of
    sql:QUERY         execute QUERY and fetch all rows
    slow:QUERY        execute QUERY and fetch one row per call, sleeping 0.2 s between
    meta:CALL[:ARGS]  a metadata call; its rows, the column names first: catalogs, schemas,
                      tables[:PATTERN], tabletypes, columns:TABLE, typeinfo,
                      functions[:PATTERN], primarykeys:TABLE, crossref:PARENT:CHILD
                      (tables in the database default)
    sleep:SECONDS     wait, keeping the session open
    as:USER:PASSWORD  send the following calls with other Basic credentials (same session)

Prints {"open": true} or {"open": false, "error"} for the session, then one JSON line per
step: {"step", "ok", "rows" | "error", "seconds"}. Exit status 0 whatever the outcomes.
"""

import base64
import json
import sys
import time

from pyhive import hive
from thrift.transport import THttpClient


def connect(url: str, user: str, password: str):
    transport = THttpClient.THttpClient(url)
    if user != "-":
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        transport.setCustomHeaders({"Authorization": f"Basic {token}"})
    return hive.connect(thrift_transport=transport)


def metadata(cursor, what: str):
    """One metadata call through PyHive's Thrift client; its rows (header first)."""
    from TCLIService import ttypes  # noqa: PLC0415 - PyHive's generated types

    session = cursor._connection.sessionHandle
    client = cursor._connection.client
    name, _, arg = what.partition(":")
    db = "default"
    if name == "catalogs":
        resp = client.GetCatalogs(ttypes.TGetCatalogsReq(sessionHandle=session))
    elif name == "schemas":
        resp = client.GetSchemas(ttypes.TGetSchemasReq(sessionHandle=session))
    elif name == "tables":
        resp = client.GetTables(
            ttypes.TGetTablesReq(sessionHandle=session, schemaName=db, tableName=arg or "%")
        )
    elif name == "tabletypes":
        resp = client.GetTableTypes(ttypes.TGetTableTypesReq(sessionHandle=session))
    elif name == "columns":
        resp = client.GetColumns(
            ttypes.TGetColumnsReq(sessionHandle=session, schemaName=db, tableName=arg)
        )
    elif name == "typeinfo":
        resp = client.GetTypeInfo(ttypes.TGetTypeInfoReq(sessionHandle=session))
    elif name == "functions":
        resp = client.GetFunctions(
            ttypes.TGetFunctionsReq(sessionHandle=session, functionName=arg or "%")
        )
    elif name == "primarykeys":
        resp = client.GetPrimaryKeys(
            ttypes.TGetPrimaryKeysReq(sessionHandle=session, schemaName=db, tableName=arg)
        )
    elif name == "crossref":
        parent, _, child = arg.partition(":")
        resp = client.GetCrossReference(
            ttypes.TGetCrossReferenceReq(
                sessionHandle=session,
                parentSchemaName=db,
                parentTableName=parent,
                foreignSchemaName=db,
                foreignTableName=child or parent,
            )
        )
    else:
        raise ValueError(what)
    hive._check_status(resp)
    # Read the operation's rows as PyHive reads a statement's (metadata, then fetches).
    cursor._reset_state()
    cursor._operationHandle = resp.operationHandle
    cursor._state = cursor._STATE_RUNNING
    rows = [list(r) for r in cursor.fetchall()]
    return [[d[0] for d in cursor.description]] + rows


def run(cursor, step: str):
    if step.startswith("sql:"):
        cursor.execute(step[4:])
        return [list(r) for r in cursor.fetchall()] if cursor.description else []
    if step.startswith("slow:"):
        cursor.arraysize = 1
        cursor.execute(step[5:])
        rows = []
        while True:
            row = cursor.fetchone()
            if row is None:
                return rows
            rows.append(list(row))
            time.sleep(0.2)
    if step.startswith("meta:"):
        return metadata(cursor, step[5:])
    if step.startswith("sleep:"):
        time.sleep(float(step[6:]))
        return []
    if step.startswith("as:"):
        user, password = step[3:].split(":", 1)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        cursor._connection._transport.setCustomHeaders({"Authorization": f"Basic {token}"})
        return []
    raise ValueError(f"unknown step {step!r}")


def main() -> None:
    url, user, password, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    try:
        conn = connect(url, user, password)
        cursor = conn.cursor()
    except Exception as e:  # noqa: BLE001 - reported to the test
        print(json.dumps({"open": False, "error": str(e)[:2000]}), flush=True)
        return
    print(json.dumps({"open": True}), flush=True)
    for step in steps:
        started = time.monotonic()
        try:
            out = {"step": step, "ok": True, "rows": run(cursor, step)}
        except Exception as e:  # noqa: BLE001 - reported to the test
            out = {"step": step, "ok": False, "error": str(e)[:2000]}
        out["seconds"] = round(time.monotonic() - started, 3)
        print(json.dumps(out, default=str), flush=True)
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - the session may be gone already
        pass


if __name__ == "__main__":
    main()
