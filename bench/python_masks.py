#!/usr/bin/env python3
"""Masking an extract in Python: the jitgate package against the same masks written as pandas
``apply``, the usual notebook recipe, on the same frame in the same run.

    python3 -m pip install ./python        # release build of the package
    python3 bench/python_masks.py [--rows 1000000] [--rounds 3]

Four masked columns, as a policy file names them: ``ssn`` partial (last 4 kept), ``email``
email, ``phone`` partial (last 4 kept), ``credit_card`` keyed hash. The pandas recipes are
written the way notebooks write them (``df.apply(..., axis=1)`` over rows, and the faster
``Series.map`` per column); they are a baseline for time only — the package is the one that
gives what the gateway gives. Prints best-of-rounds times and ratios, and writes them to
bench/results/python_masks.txt.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import random
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa

import jitgate

KEY = "a benchmark masking key of enough bytes"
CONFIG = """
[resources.bench]
kind = "postgres"
listen = "127.0.0.1:6432"
[resources.bench.upstream]
host = "127.0.0.1"
database = "app"
user = "svc"

[masking]
key_env = "JITGATE_BENCH_MASK_KEY"

[[masking.rules]]
resource = "bench"
column = "public.customers.ssn"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "bench"
column = "public.customers.email"
mask = "email"

[[masking.rules]]
resource = "bench"
column = "public.customers.phone"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "bench"
column = "public.customers.credit_card"
mask = "hash"
"""


def frame(rows: int) -> pd.DataFrame:
    rng = random.Random(7)
    digits = lambda n: "".join(rng.choices("0123456789", k=n))
    return pd.DataFrame(
        {
            "id": range(rows),
            "email": [f"user{i}@{rng.choice(['example.com', 'mail.test'])}" for i in range(rows)],
            "ssn": [f"{digits(3)}-{digits(2)}-{digits(4)}" for _ in range(rows)],
            "credit_card": [f"4{digits(3)} {digits(4)} {digits(4)} {digits(4)}" for _ in range(rows)],
            "phone": [f"+1-{digits(3)}-{digits(3)}-{digits(4)}" for _ in range(rows)],
        }
    )


def keep_last(value: str, n: int = 4) -> str:
    return "*" * (len(value) - n) + value[-n:] if len(value) > n else "*" * len(value)


def email(value: str) -> str:
    at = value.rfind("@")
    return "***" + (value[at:] if at >= 0 else "")


def keyed(value: str) -> str:
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def pandas_apply(df: pd.DataFrame) -> pd.DataFrame:
    def row(r):
        r = r.copy()
        r["ssn"], r["email"] = keep_last(r["ssn"]), email(r["email"])
        r["phone"], r["credit_card"] = keep_last(r["phone"]), keyed(r["credit_card"])
        return r

    return df.apply(row, axis=1)


def pandas_map(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["ssn"] = df["ssn"].map(keep_last)
    out["email"] = df["email"].map(email)
    out["phone"] = df["phone"].map(keep_last)
    out["credit_card"] = df["credit_card"].map(keyed)
    return out


def best(rounds: int, work) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--apply-rows", type=int, default=None,
                        help="rows for the row-wise apply (default: --rows; it is the slow one)")
    args = parser.parse_args()

    os.environ["JITGATE_BENCH_MASK_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "jitgate.toml"
        config.write_text(CONFIG)
        view = jitgate.Policy.from_file(config, resource="bench").for_groups(["analysts"])
    columns = {c: f"public.customers.{c}" for c in ["ssn", "email", "phone", "credit_card"]}

    df = frame(args.rows)
    table = pa.Table.from_pandas(df, preserve_index=False)
    apply_rows = args.apply_rows or args.rows
    apply_df = df.head(apply_rows)

    timings = {
        "jitgate, pyarrow.Table": best(args.rounds, lambda: view.mask(table, columns=columns)),
        "jitgate, pandas DataFrame": best(args.rounds, lambda: view.mask_pandas(df, columns=columns)),
        "pandas Series.map per column": best(args.rounds, lambda: pandas_map(df)),
    }
    # The row-wise apply is what notebooks write; once is enough to see its cost.
    apply_time = best(1, lambda: pandas_apply(apply_df)) * (args.rows / apply_rows)
    timings["pandas apply(axis=1)"] = apply_time

    base = timings["jitgate, pandas DataFrame"]
    lines = [
        f"{args.rows} rows, 4 masked columns (partial, email, partial, keyed hash); best of "
        f"{args.rounds} (apply: once{'' if apply_rows == args.rows else f', {apply_rows} rows scaled'})",
        f"{'':32} {'seconds':>9} {'M rows/s':>9} {'× jitgate (pandas)':>19}",
    ]
    for name, seconds in timings.items():
        lines.append(f"{name:32} {seconds:9.3f} {args.rows / seconds / 1e6:9.2f} {seconds / base:19.1f}")
    report = "\n".join(lines)
    print(report)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "python_masks.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
