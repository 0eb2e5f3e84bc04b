"""The detectors find, through the package, what the Rust tests find: the labelled corpus of
`crates/jitgate-masking/tests/corpus` (every value with its kind and exact span, nothing in
the hard negatives) and the red team's formats of the engine's unit tests."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import jitgate

CORPUS = Path(__file__).resolve().parents[2] / "crates" / "jitgate-masking" / "tests" / "corpus"


def labelled(name: str):
    """(text, [(kind, start, end)]) per line, spans in characters, as the Rust test parses."""
    for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        line = line.replace("\\n", "\n")
        text, labels = "", []
        while "«" in line:
            before, _, after = line.partition("«")
            inside, _, line = after.partition("»")
            kind, _, value = inside.partition(":")
            text += before
            labels.append((kind, len(text), len(text) + len(value)))
            text += value
        yield text + line, labels


POSITIVES = list(labelled("positives.txt"))
NEGATIVES = list(labelled("negatives.txt"))


def test_corpus_is_there():
    assert len(POSITIVES) > 40 and len(NEGATIVES) > 40


@pytest.mark.parametrize("text,labels", POSITIVES, ids=lambda v: str(v)[:40])
def test_every_labelled_value_is_found_with_kind_and_span(text, labels):
    assert [tuple(f) for f in jitgate.scan(text)] == labels


@pytest.mark.parametrize("text,labels", NEGATIVES, ids=lambda v: str(v)[:40])
def test_hard_negatives_have_no_finding(text, labels):
    assert labels == [] and jitgate.scan(text) == []


def test_arrow_and_pandas_columns_give_the_same_findings():
    texts = [t for t, _ in POSITIVES] + [None] + [t for t, _ in NEGATIVES]
    found = jitgate.scan(pa.array(texts)).to_pylist()
    want = [
        {"row": row, "kind": k, "start": s, "end": e}
        for row, (t, labels) in enumerate(POSITIVES)
        for k, s, e in labels
    ]
    assert found == want
    chunked = pa.chunked_array([pa.array(texts[:10]), pa.array(texts[10:])])
    assert jitgate.scan(chunked).to_pylist() == want
    for other in (pa.large_string(), pa.string_view()):
        assert jitgate.scan(pa.array(texts, other)).to_pylist() == want

    pd = pytest.importorskip("pandas")
    series = pd.Series(texts, index=[f"r{i}" for i in range(len(texts))])
    frame = jitgate.scan(series)
    assert list(frame["row"]) == [f"r{w['row']}" for w in want]
    assert list(frame["kind"]) == [w["kind"] for w in want]


def test_redacts_each_kind_where_it_stands():
    text = (
        "Call (415) 555-2671 or mail ann@example.com; SSN 078-05-1120, card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00 from 10.1.2.3 key AKIAIOSFODNN7EXAMPLE."
    )
    assert jitgate.redact(text) == (
        "Call [phone] or mail [email]; SSN [ssn], card [card], IBAN [iban] from [ip] key [aws_key]."
    )


@pytest.mark.parametrize(
    "text,want",
    [
        ("SSN 123.45.6789 on file", "SSN [ssn] on file"),
        ("SSN 123–45–6789 on file", "SSN [ssn] on file"),
        ("SSN １２３-４５-６７８９ on file", "SSN [ssn] on file"),
        ("Social-Security no. 123456789.", "Social-Security no. [ssn]."),
        ("card 4111/1111/1111/1111 ok", "card [card] ok"),
        ("card 4111 1111\n1111 1111 ok", "card [card] ok"),
        ("mail ann＠example．com now", "mail [email] now"),
        ("card 4111\u200b1111\u200b1111\u200b1111", "card [card]"),
    ],
)
def test_redacts_the_formats_a_red_team_used(text, want):
    assert jitgate.redact(text) == want


def test_spans_count_characters_of_str_and_bytes_of_bytes():
    text = "é🙂 SSN 078-05-1120"
    (finding,) = jitgate.scan(text)
    assert text[finding.start : finding.end] == "078-05-1120"
    raw = text.encode()
    (finding,) = jitgate.scan(raw)
    assert raw[finding.start : finding.end] == b"078-05-1120"


def test_redact_keeps_the_kind_of_container():
    pd = pytest.importorskip("pandas")
    assert jitgate.redact(b"\xff\xfe SSN 078-05-1120") == b"\xff\xfe SSN [ssn]"
    assert jitgate.redact(["SSN 078-05-1120", None]) == ["SSN [ssn]", None]
    array = jitgate.redact(pa.array(["SSN 078-05-1120", None], pa.large_string()))
    assert array.type == pa.large_string() and array.to_pylist() == ["SSN [ssn]", None]
    series = jitgate.redact(pd.Series(["a@b.example.com", "x"], index=[7, 9]))
    assert list(series.index) == [7, 9] and list(series) == ["[email]", "x"]


def test_a_policy_runs_its_custom_detectors(tmp_path):
    config = tmp_path / "jitgate.toml"
    config.write_text(
        """
[resources.db]
kind = "postgres"
listen = "127.0.0.1:6432"
[resources.db.upstream]
host = "127.0.0.1"
database = "app"
user = "svc"

[masking]
[[masking.rules]]
resource = "db"
column = "public.t.note"
mask = "scan"

[[masking.detectors]]
name = "employee_id"
pattern = "EMP-[0-9]{6}"
"""
    )
    policy = jitgate.Policy.from_file(config, resource="db")
    assert policy.redact("badge EMP-123456, SSN 078-05-1120") == "badge [employee_id], SSN [ssn]"
    assert jitgate.redact("badge EMP-123456") == "badge EMP-123456", "built-in detectors only"
