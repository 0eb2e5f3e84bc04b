"""Every mask the package applies gives, for the demo's data, exactly what alice reads through
the gateway: same configuration file, same masking key, same policy."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

import jitgate

SCHEMA = pa.schema(
    [
        ("id", pa.int32()),
        ("full_name", pa.string()),
        ("email", pa.string()),
        ("ssn", pa.string()),
        ("credit_card", pa.string()),
        ("phone", pa.string()),
        ("birth_date", pa.date32()),
        ("notes", pa.string()),
    ]
)


def as_table(names, rows) -> pa.Table:
    assert names == SCHEMA.names
    return pa.Table.from_pylist([dict(zip(names, row)) for row in rows], schema=SCHEMA)


@pytest.fixture(scope="session")
def policy(demo):
    return jitgate.Policy.from_file(demo["config"], resource=demo["resource"])


def test_demo_policy_is_read_with_its_key_file(policy):
    assert policy.key_origin.startswith("file ")
    assert "public.customers.ssn" in policy.describe()


def test_arrow_table_masked_as_alice_reads_it_through_the_gateway(policy, clear_customers, alice_customers):
    alice = policy.for_groups(["analysts"], user="alice")
    masked = alice.mask(as_table(*clear_customers), table="public.customers")
    expected = as_table(*alice_customers)
    assert masked.schema.names == expected.schema.names
    for name in SCHEMA.names:
        assert masked.column(name).to_pylist() == expected.column(name).to_pylist(), name
    clear = as_table(*clear_customers)
    # The masks did something: every protected column differs from the clear one somewhere.
    for name in ["email", "ssn", "credit_card", "phone", "birth_date", "notes"]:
        assert masked.column(name) != clear.column(name), name


def test_record_batch_and_explicit_columns_give_the_same(policy, clear_customers, alice_customers):
    alice = policy.for_groups(["analysts"])
    batch = as_table(*clear_customers).to_batches()[0]
    columns = {name: f"public.customers.{name}" for name in SCHEMA.names}
    masked = alice.mask(batch, columns=columns)
    assert isinstance(masked, pa.RecordBatch)
    assert masked.to_pylist() == as_table(*alice_customers).to_pylist()


def test_pandas_extract_masked_as_alice_reads_it(policy, clear_customers, alice_customers):
    import pandas as pd

    names, rows = clear_customers
    df = pd.DataFrame(rows, columns=names)
    masked = policy.for_groups(["analysts"]).mask_pandas(df, table="public.customers")
    want = pd.DataFrame(alice_customers[1], columns=alice_customers[0])
    for name in names:
        assert list(masked[name]) == list(want[name]), name
    assert masked["id"].dtype == df["id"].dtype
    assert list(df["ssn"]) == [r[3] for r in rows], "the input frame is not changed"


def test_polars_frame_masked_as_alice_reads_it(policy, clear_customers, alice_customers):
    pl = pytest.importorskip("polars")
    frame = pl.from_arrow(as_table(*clear_customers))
    masked = policy.for_groups(["analysts"]).mask(frame, table="public.customers")
    assert isinstance(masked, pl.DataFrame)
    assert masked.to_arrow().to_pylist() == as_table(*alice_customers).to_pylist()


def test_clear_groups_see_clear_values(policy, clear_customers, demo):
    from conftest import credential, read_customers

    erin = policy.for_groups(["admins"], user="erin")
    assert erin.is_clear
    table = as_table(*clear_customers)
    assert erin.mask(table, table="public.customers").equals(table)
    assert as_table(*read_customers(credential(demo, "erin"))).equals(table)


def test_generalized_dates_are_dates(policy, clear_customers):
    masked = policy.for_groups(["analysts"]).mask(as_table(*clear_customers), table="public.customers")
    for day in masked.column("birth_date").to_pylist():
        assert isinstance(day, datetime.date) and (day.month, day.day) == (1, 1)
