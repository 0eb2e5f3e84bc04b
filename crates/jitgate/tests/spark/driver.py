"""Drives PySpark's Spark Connect client for jitgate's Spark Connect tests.

Usage: driver.py URI STEP...   where STEP is one of
  sql:QUERY           run spark.sql(QUERY) and collect it
  table:NAME          read a table as a DataFrame (select, filter) and collect it
  long                a computation that runs for minutes unless cut off
  sleep:SECONDS       wait, keeping the session open
  py:CODE             run Python CODE with `spark`, `F` and the names earlier py: steps
                      defined; the step's rows are those of `out` (a DataFrame is collected)

Prints one JSON line per step: {"step", "ok", "rows" | "error", "grpc", "seconds"}.
Exit status 0 whatever the steps' outcomes: the Rust test judges them.
"""

import json
import re
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def grpc_code(error: BaseException) -> str:
    """The gRPC status name in a Spark Connect client error, e.g. UNAUTHENTICATED."""
    text = repr(error)
    match = re.search(r"StatusCode\.([A-Z_]+)", text)
    if match:
        return match.group(1)
    getter = getattr(error, "getGrpcStatusCode", None)
    if callable(getter):
        try:
            return str(getter())
        except Exception:  # noqa: BLE001 - best effort only
            pass
    return "UNKNOWN"


def value(out):
    """Rows of a DataFrame, or the value itself (lists of Rows as dicts)."""
    if hasattr(out, "collect"):
        out = out.collect()
    if isinstance(out, list):
        return [r.asDict() if hasattr(r, "asDict") else r for r in out]
    return out


def run(spark, step: str, names: dict):
    if step.startswith("py:"):
        names.pop("out", None)
        exec(step[3:], names)  # noqa: S102 - test code from the test itself
        return value(names.get("out"))
    if step.startswith("sql:"):
        return [r.asDict() for r in spark.sql(step[4:]).collect()]
    if step.startswith("table:"):
        df = spark.read.table(step[6:]).select("id", "name").filter(F.col("id") > 1)
        return [r.asDict() for r in df.collect()]
    if step == "long":
        df = spark.range(0, 10**13, 1, 2).select(F.sum(F.col("id") % 7).alias("s"))
        return [r.asDict() for r in df.collect()]
    if step.startswith("sleep:"):
        time.sleep(float(step[6:]))
        return []
    raise ValueError(f"unknown step {step!r}")


def main() -> None:
    uri, steps = sys.argv[1], sys.argv[2:]
    spark = SparkSession.builder.remote(uri).getOrCreate()
    names = {"spark": spark, "F": F}
    for step in steps:
        started = time.monotonic()
        try:
            rows = run(spark, step, names)
            out = {"step": step, "ok": True, "rows": rows}
        except Exception as e:  # noqa: BLE001 - reported to the test
            out = {"step": step, "ok": False, "grpc": grpc_code(e), "error": str(e)[:2000]}
        out["seconds"] = round(time.monotonic() - started, 3)
        print(json.dumps(out, default=str), flush=True)
    try:
        spark.stop()
    except Exception:  # noqa: BLE001 - the session may be gone already
        pass


if __name__ == "__main__":
    main()
