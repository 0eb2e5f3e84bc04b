"""Bad inputs give clear exceptions, never crashes or clear values: wrong types, unknown masks
and columns, nulls, huge strings, non-UTF-8 bytes in binary columns, broken configurations."""

from __future__ import annotations

import datetime
import threading

import pyarrow as pa
import pytest

import jitgate

CONFIG = """
[resources.db]
kind = "postgres"
listen = "127.0.0.1:6432"
[resources.db.upstream]
host = "127.0.0.1"
database = "app"
user = "svc"
password_env = "JITGATE_PYTEST_UNSET_PASSWORD"

[masking]
key_env = "JITGATE_PYTEST_MASK_KEY"
clear_groups = ["admins"]

[[masking.rules]]
resource = "db"
column = "public.people.ssn"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "db"
column = "public.people.salary"
mask = "generalize"
bucket = 1000
clear_for = ["user:hr"]
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("JITGATE_PYTEST_MASK_KEY", "a masking key of enough bytes")
    path = tmp_path / "jitgate.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def view(config):
    return jitgate.Policy.from_file(config, resource="db").for_groups(["analysts"])


def test_policy_reads_masking_without_other_sections_secrets(config):
    policy = jitgate.Policy.from_file(config, resource="db")
    assert policy.key_origin == "env JITGATE_PYTEST_MASK_KEY"
    assert policy.for_groups(["analysts"]).mask_for("public.people.ssn") == jitgate.Mask.partial(keep_last=4)
    assert policy.for_groups(["analysts"], user="hr").mask_for("public.people.salary") is None
    assert policy.for_groups(["admins"]).is_clear


def test_configuration_errors_name_the_problem(config, tmp_path, monkeypatch):
    with pytest.raises(jitgate.ConfigError, match="no resource \"nope\""):
        jitgate.Policy.from_file(config, resource="nope")
    with pytest.raises(jitgate.ConfigError, match="cannot read|No such file"):
        jitgate.Policy.from_file(tmp_path / "missing.toml", resource="db")
    broken = tmp_path / "broken.toml"
    broken.write_text(CONFIG.replace('mask = "partial"', 'mask = "partail"'))
    with pytest.raises(jitgate.ConfigError, match=r"broken.toml:\d+:\d+: masking.rules\[0\].mask"):
        jitgate.Policy.from_file(broken, resource="db")
    monkeypatch.delenv("JITGATE_PYTEST_MASK_KEY")
    with pytest.raises(jitgate.ConfigError, match="JITGATE_PYTEST_MASK_KEY is not set"):
        jitgate.Policy.from_file(config, resource="db")


def test_wrong_argument_types_raise(view, config):
    policy = jitgate.Policy.from_file(config, resource="db")
    with pytest.raises(TypeError, match="list of group names"):
        policy.for_groups("analysts")
    with pytest.raises(TypeError, match="pyarrow.Table"):
        view.mask({"ssn": ["1"]})
    with pytest.raises(jitgate.MaskingError, match="schema.table.column"):
        view.mask_for("ssn")
    table = pa.table({"ssn": ["123-45-6789"]})
    with pytest.raises(jitgate.MaskingError, match="schema.table"):
        view.mask(table, table="people")
    with pytest.raises(jitgate.MaskingError, match="not in the data"):
        view.mask(table, columns={"snn": "redact"})
    with pytest.raises(jitgate.MaskingError, match="unknown mask \"redcat\""):
        view.mask(table, columns={"ssn": "redcat"})
    with pytest.raises(jitgate.MaskingError, match="partial takes options"):
        view.mask(table, columns={"ssn": "partial"})
    with pytest.raises(TypeError, match="expected a jitgate.Mask"):
        view.mask(table, columns={"ssn": 5})
    with pytest.raises(jitgate.MaskingError, match="single character"):
        jitgate.Mask.partial(pad="ab")
    with pytest.raises(jitgate.MaskingError, match="exactly one"):
        jitgate.Mask.generalize()
    with pytest.raises(TypeError):
        jitgate.scan(12)


@pytest.mark.parametrize(
    "mask,array",
    [
        (jitgate.Mask.email(), pa.array([1, 2], pa.int64())),
        (jitgate.Mask.partial(keep_last=2), pa.array([b"\xff\xfe\x00"], pa.binary())),
        (jitgate.Mask.scan(), pa.array([b"\xff"], pa.large_binary())),
        (jitgate.Mask.tokenize(), pa.array([b"\xc3\x28"], pa.binary())),
        (jitgate.Mask.generalize(granularity="year"), pa.array([1], pa.int32())),
        (jitgate.Mask.hash(), pa.array([True])),
        (jitgate.Mask.generalize(bucket=10), pa.array([[1]], pa.list_(pa.int64()))),
    ],
)
def test_a_mask_on_a_type_it_cannot_keep_valid_raises(view, mask, array):
    with pytest.raises(jitgate.UnsupportedTypeError, match=f"the {mask.name} mask cannot"):
        view.mask(pa.table({"c": array}), columns={"c": mask})


def test_non_utf8_bytes_in_binary_columns_are_masked_as_bytes(view):
    raw = pa.array([b"\xff\xfe\x00secret", None, b""], pa.binary())
    table = pa.table({"b": raw})
    hashed = view.mask(table, columns={"b": jitgate.Mask.hash()}).column("b").to_pylist()
    assert len(hashed[0]) == 32 and hashed[1] is None and hashed[0] != hashed[2]
    assert view.mask(table, columns={"b": "redact"}).column("b").to_pylist() == [b"", None, b""]
    assert view.mask(table, columns={"b": "null"}).column("b").to_pylist() == [None] * 3


@pytest.mark.parametrize(
    "array",
    [
        pa.array(["078-05-1120", None], pa.string()),
        pa.array([None, None], pa.large_string()),
        pa.array([1, None], pa.int16()),
        pa.array([None], pa.null()),
        pa.array([datetime.date(2020, 5, 17), None], pa.date32()),
        pa.array([None, 1_600_000_000_123_456_789], pa.timestamp("ns", tz="UTC")),
    ],
)
def test_nulls_stay_null_under_every_mask(view, array):
    masks = ["redact", "null", "hash"] if not pa.types.is_temporal(array.type) else ["redact", "null"]
    for mask in masks:
        if mask == "hash" and pa.types.is_null(array.type):
            continue
        out = view.mask(pa.table({"c": array}), columns={"c": mask}).column("c")
        assert out.type == array.type
        for before, after in zip(array.to_pylist(), out.to_pylist()):
            assert (before is None) <= (after is None), mask


def test_timestamps_and_dates_keep_their_unit_and_zone(view):
    ts = pa.array([1_600_000_000_123_456_789, -1], pa.timestamp("ns", tz="Europe/Paris"))
    month = view.mask(pa.table({"t": ts}), columns={"t": jitgate.Mask.generalize(granularity="month")})
    assert month.column("t").type == ts.type
    values = month.column("t").cast(pa.timestamp("ns", tz="UTC")).to_pylist()
    assert [(v.day, v.hour, v.minute, v.second, v.microsecond) for v in values] == [(1, 0, 0, 0, 0)] * 2
    redacted = view.mask(pa.table({"d": pa.array([datetime.date(1999, 2, 3)])}), columns={"d": "redact"})
    assert redacted.column("d").to_pylist() == [datetime.date(1970, 1, 1)]


def test_huge_strings_are_masked_whole(view):
    note = "x" * (32 << 20) + " SSN 078-05-1120 " + "y" * 1000
    out = view.mask(pa.table({"n": [note, "ok"]}), columns={"n": "scan"}).column("n").to_pylist()
    assert out[0].endswith(" SSN [ssn] " + "y" * 1000) and len(out[0]) == len(note) - 6
    assert out[1] == "ok"
    partial = view.mask(pa.table({"n": [note]}), columns={"n": jitgate.Mask.partial(keep_last=3)})
    assert partial.column("n")[0].as_py() == "*" * (len(note) - 3) + "yyy"


def test_masked_views_scan_other_text_and_refuse_nested_text(view):
    table = pa.table(
        {
            "ssn": ["123-45-6789"],
            "comment": ["mail ann@example.com"],
            "tags": pa.array([["ann@example.com"]], pa.list_(pa.string())),
            "n": [5],
        }
    )
    with pytest.raises(jitgate.UnsupportedTypeError, match="cannot be scanned"):
        view.mask(table, table="public.people")
    masked = view.mask(table.drop_columns(["tags"]), table="public.people")
    assert masked.to_pylist() == [{"ssn": "*******6789", "comment": "mail [email]", "n": 5}]
    nulled = view.mask(table, table="public.people", columns={"tags": "redact"})
    assert nulled.column("tags").to_pylist() == [None]


def test_categoricals_and_pandas_dtypes(view):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "ssn": pd.Categorical(["123-45-6789", "123-45-6789", None]),
            "salary": [1234, 56789, 1000],
            "born": pd.to_datetime(["1980-05-17", "1999-12-31", None]),
        }
    )
    out = view.mask_pandas(df, table="public.people", columns={"born": jitgate.Mask.generalize(granularity="year")})
    assert list(out["ssn"][:2]) == ["*******6789"] * 2 and pd.isna(out["ssn"][2])
    assert list(out["salary"]) == [1000, 56000, 1000] and out["salary"].dtype == df["salary"].dtype
    assert [str(d.date()) for d in out["born"][:2]] == ["1980-01-01", "1999-01-01"]
    mixed = pd.DataFrame({"x": ["a", 1]})
    with pytest.raises(jitgate.UnsupportedTypeError, match="column 'x'"):
        view.mask_pandas(mixed, columns={"x": "redact"})


def test_keyed_masks_need_the_key(tmp_path):
    path = tmp_path / "nokey.toml"
    path.write_text(CONFIG.split("[masking]")[0] + "[masking]\n")
    view = jitgate.Policy.from_file(path, resource="db").for_groups([])
    with pytest.raises(jitgate.MaskingError, match="needs a masking key"):
        view.mask(pa.table({"c": ["x"]}), columns={"c": "hash"})


def test_masking_a_large_batch_lets_other_threads_run(view):
    """The GIL is released while the engine works: a Python thread keeps running meanwhile."""
    column = pa.array(["call +1-415-555-2671 about SSN 078-05-1120"] * 300_000)
    mask = jitgate.Mask.scan()
    worker = threading.Thread(target=view._native.apply, args=(column, mask))
    turns = 0
    worker.start()
    while worker.is_alive():
        turns += 1
    worker.join()
    assert turns > 100


def test_decimals_are_masked_through_numeric(view):
    from decimal import Decimal

    amounts = pa.array([Decimal("123.45"), Decimal("-7.50"), None], pa.decimal128(10, 2))
    table = pa.table({"a": amounts})
    bucketed = view.mask(table, columns={"a": jitgate.Mask.generalize(bucket=10)}).column("a")
    assert bucketed.type == amounts.type
    assert bucketed.to_pylist() == [Decimal("120.00"), Decimal("0.00"), None]
    assert view.mask(table, columns={"a": "redact"}).column("a").to_pylist() == [Decimal("0.00")] * 2 + [None]
    with pytest.raises(jitgate.MaskingError, match="out of range for Arrow type Decimal128"):
        view.mask(table, columns={"a": "hash"})
    with pytest.raises(jitgate.UnsupportedTypeError):
        view.mask(table, columns={"a": "email"})


def test_empty_inputs_keep_their_schema(view):
    pd = pytest.importorskip("pandas")
    schema = pa.schema([("ssn", pa.string()), ("n", pa.int64())])
    empty = schema.empty_table()
    out = view.mask(empty, table="public.people")
    assert out.num_rows == 0 and out.schema.names == ["ssn", "n"] and out.schema.field("ssn").type == pa.string()
    batch = view.mask(pa.RecordBatch.from_pylist([], schema=schema), columns={"n": "hash"})
    assert isinstance(batch, pa.RecordBatch) and batch.num_rows == 0
    frame = view.mask_pandas(pd.DataFrame({"ssn": pd.Series([], dtype=object)}), table="public.people")
    assert len(frame) == 0 and list(frame.columns) == ["ssn"]
    assert jitgate.scan(pa.array([], pa.string())).num_rows == 0


def test_column_names_match_as_the_gateway_matches_them(view):
    """A column named `SSN` is still `public.people.ssn` (rules match names case-insensitively)."""
    out = view.mask(pa.table({"SSN": ["123-45-6789"]}), table="PUBLIC.People")
    assert out.column("SSN").to_pylist() == ["*******6789"]


def test_sliced_and_chunked_inputs_mask_the_values_they_show(view):
    """Arrays that start at an offset into shared buffers mask their own values, not others'."""
    base = pa.table({"ssn": [f"123-45-{i:04d}" for i in range(10)]})
    chunked = pa.concat_tables([base.slice(7, 3), base.slice(2, 2)])
    out = view.mask(chunked, table="public.people").column("ssn")
    assert out.num_chunks == 2
    assert out.to_pylist() == [f"*******{i:04d}" for i in (7, 8, 9, 2, 3)]
