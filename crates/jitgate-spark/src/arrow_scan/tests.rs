//! Tests of the Arrow batch scan: clean streams pass untouched, findings are redacted with
//! schema, nulls and row counts kept, and what cannot be read fails closed.

use std::collections::HashMap;
use std::io::Cursor;

use arrow_array::builder::{MapBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    DictionaryArray, Int32Array, Int64Array, LargeStringArray, RunArray, StringArray,
};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{Field, Schema, SchemaRef};

use super::*;

const SSN: &str = "SSN 123-45-6789";
const CARD: &str = "card 4111 1111 1111 1111";
const EMAIL: &str = "Grüße an ann@example.com ✓";

fn scanner() -> &'static Scanner {
    Scanner::builtin()
}

/// An IPC stream of `batches` as Spark would send it (schema, batches, end-of-stream).
fn stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema).expect("writer");
    for batch in batches {
        writer.write(batch).expect("write");
    }
    writer.into_inner().expect("finish")
}

fn read(ipc: &[u8]) -> (SchemaRef, Vec<RecordBatch>) {
    let reader = StreamReader::try_new(Cursor::new(ipc), None).expect("reader");
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().expect("batches");
    (schema, batches)
}

/// Redacts through `scan_ipc_stream`, expecting a finding.
fn redacted(ipc: &[u8]) -> (Vec<u8>, usize) {
    match scan_ipc_stream(ipc, scanner()).expect("scan") {
        Scanned::Redacted { ipc, values } => (ipc, values),
        Scanned::Unchanged => panic!("expected a redaction"),
    }
}

/// What the detectors make of each value: the oracle for the rebuilt columns.
fn oracle<'a>(values: &[Option<&'a str>]) -> Vec<Option<Cow<'a, str>>> {
    values
        .iter()
        .map(|v| v.map(|v| scanner().redact(v)))
        .collect()
}

fn owned(values: &[Option<Cow<'_, str>>]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| v.as_ref().map(|v| v.to_string()))
        .collect()
}

fn strings(array: &dyn Array) -> Vec<Option<String>> {
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        other => panic!("not a string type: {other}"),
    }
}

fn schema_with_metadata(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        fields,
        HashMap::from([("spark.origin".to_owned(), "jitgate-test".to_owned())]),
    ))
}

const ROWS: [Option<&str>; 7] = [
    Some("plain text, 2024-05-01, order 123456789"),
    Some(SSN),
    None,
    Some(EMAIL),
    Some("ünïcödé ✓ 東京"),
    Some(CARD),
    Some(""),
];

/// Three string encodings, an int column, schema and field metadata.
fn mixed_batch(rows: &[Option<&str>]) -> (SchemaRef, RecordBatch) {
    let mut meta_field = Field::new("note", DataType::Utf8, true);
    meta_field.set_metadata(HashMap::from([(
        "comment".to_owned(),
        "free text".to_owned(),
    )]));
    let schema = schema_with_metadata(vec![
        Field::new("id", DataType::Int64, false),
        meta_field,
        Field::new("large", DataType::LargeUtf8, true),
        Field::new("view", DataType::Utf8View, true),
    ]);
    let ids = Int64Array::from_iter_values(0..rows.len() as i64);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(ids),
            Arc::new(StringArray::from(rows.to_vec())),
            Arc::new(LargeStringArray::from(rows.to_vec())),
            Arc::new(StringViewArray::from(rows.to_vec())),
        ],
    )
    .expect("batch");
    (schema, batch)
}

#[test]
fn clean_stream_is_unchanged() {
    let clean = [
        Some("Grüße, 東京"),
        None,
        Some("order 123456789 on 2024-05-01"),
        Some(""),
    ];
    let (schema, batch) = mixed_batch(&clean);
    let ipc = stream(&schema, &[batch.clone(), batch]);
    // `Unchanged` carries no bytes: the caller relays its own buffer, nothing is encoded.
    assert_eq!(
        scan_ipc_stream(&ipc, scanner()).expect("scan"),
        Scanned::Unchanged
    );
}

#[test]
fn redacts_each_string_encoding_and_keeps_the_rest() {
    let (schema, batch) = mixed_batch(&ROWS);
    let (out, values) = redacted(&stream(&schema, std::slice::from_ref(&batch)));
    let (out_schema, out_batches) = read(&out);
    assert_eq!(out_schema, schema, "schema and metadata preserved");
    assert_eq!(out_batches.len(), 1);
    let got = &out_batches[0];
    assert_eq!(got.num_rows(), batch.num_rows());
    assert_eq!(got.column(0), batch.column(0), "int column untouched");
    let expected = owned(&oracle(&ROWS));
    for c in 1..4 {
        assert_eq!(strings(got.column(c)), expected, "column {c}");
        assert_eq!(
            got.column(c).logical_nulls(),
            batch.column(c).logical_nulls()
        );
    }
    assert_eq!(expected[1].as_deref(), Some("SSN [ssn]"));
    assert_eq!(expected[3].as_deref(), Some("Grüße an [email] ✓"));
    assert_eq!(expected[5].as_deref(), Some("card [card]"));
    assert_eq!(values, 3 * 3, "three findings in each of three columns");
}

/// Why values are scanned one by one: in the concatenated values buffer the tail of one
/// value hides a finding at the head of the next.
#[test]
fn concatenation_would_hide_findings() {
    for (before, value) in [("ref A1", "123-45-6789"), ("id ABC", "4111 1111 1111 1111")] {
        assert!(scanner().finds_any(value.as_bytes()));
        assert!(!scanner().finds_any(format!("{before}{value}").as_bytes()));
        let rows = [Some(before), Some(value)];
        let (schema, batch) = mixed_batch(&rows);
        let (out, _) = redacted(&stream(&schema, &[batch]));
        assert_eq!(strings(read(&out).1[0].column(1)), owned(&oracle(&rows)));
    }
}

#[test]
fn several_batches_are_rewritten_together() {
    let clean = [Some("nothing here"), None];
    let (schema, first) = mixed_batch(&clean);
    let (_, second) = mixed_batch(&ROWS);
    let (_, third) = mixed_batch(&clean);
    let ipc = stream(&schema, &[first.clone(), second, third.clone()]);
    let (out, values) = redacted(&ipc);
    let (_, got) = read(&out);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], first);
    assert_eq!(got[2], third);
    assert_eq!(strings(got[1].column(1)), owned(&oracle(&ROWS)));
    assert_eq!(values, 9);
}

#[test]
fn finding_in_a_later_batch_only() {
    let (schema, clean) = mixed_batch(&[Some("a")]);
    let (_, dirty) = mixed_batch(&[Some("b"), Some(SSN)]);
    let (out, values) = redacted(&stream(&schema, &[clean.clone(), clean, dirty]));
    let (_, got) = read(&out);
    assert_eq!(got.len(), 3);
    assert_eq!(
        strings(got[2].column(3)),
        vec![Some("b".into()), Some("SSN [ssn]".into())]
    );
    assert_eq!(values, 3);
}

#[test]
fn stream_without_end_marker_is_read() {
    let (schema, batch) = mixed_batch(&ROWS);
    let ipc = stream(&schema, &[batch]);
    // The end-of-stream marker is the continuation token and a zero length.
    let cut = &ipc[..ipc.len() - 8];
    assert!(matches!(
        scan_ipc_stream(cut, scanner()),
        Ok(Scanned::Redacted { .. })
    ));
}

#[test]
fn nested_strings_are_redacted() {
    // struct<name: utf8, n: int32>
    let name_field = Arc::new(Field::new("name", DataType::Utf8, true));
    let n_field = Arc::new(Field::new("n", DataType::Int32, true));
    let names = [Some(SSN), Some("ok"), None];
    let person = StructArray::from(vec![
        (
            name_field.clone(),
            Arc::new(StringArray::from(names.to_vec())) as ArrayRef,
        ),
        (
            n_field.clone(),
            Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef,
        ),
    ]);
    // list<utf8>
    let mut list_builder = arrow_array::builder::ListBuilder::new(StringBuilder::new());
    list_builder.values().append_value("x");
    list_builder.values().append_value(EMAIL);
    list_builder.append(true);
    list_builder.append(false);
    list_builder.values().append_value("y");
    list_builder.append(true);
    let tags = list_builder.finish();
    // map<utf8, utf8>: a key and a value with findings.
    let mut map_builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    map_builder.keys().append_value("ann@example.com");
    map_builder.values().append_value("x");
    map_builder.append(true).expect("map row");
    map_builder.keys().append_value("k");
    map_builder.values().append_value(CARD);
    map_builder.append(true).expect("map row");
    map_builder.append(false).expect("map row");
    let attrs = map_builder.finish();
    // dictionary<int32, utf8>
    let dict: DictionaryArray<Int32Type> = vec![Some(SSN), Some("fine"), Some(SSN)]
        .into_iter()
        .collect();

    let schema = schema_with_metadata(vec![
        Field::new("person", person.data_type().clone(), true),
        Field::new("tags", tags.data_type().clone(), true),
        Field::new("attrs", attrs.data_type().clone(), true),
        Field::new("dict", dict.data_type().clone(), true),
    ]);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(person),
            Arc::new(tags),
            Arc::new(attrs),
            Arc::new(dict),
        ],
    )
    .expect("batch");
    let (out, values) = redacted(&stream(&schema, std::slice::from_ref(&batch)));
    let (out_schema, got) = read(&out);
    assert_eq!(out_schema, schema);
    let got = &got[0];
    assert_eq!(got.num_rows(), 3);

    let person = got.column(0).as_struct();
    assert_eq!(strings(person.column(0)), owned(&oracle(&names)));
    assert_eq!(person.column(1), batch.column(0).as_struct().column(1));

    let tags = got.column(1).as_list::<i32>();
    assert_eq!(tags.logical_nulls(), batch.column(1).logical_nulls());
    assert_eq!(
        strings(tags.values()),
        owned(&oracle(&[Some("x"), Some(EMAIL), Some("y")]))
    );

    let attrs = got.column(2).as_map();
    assert_eq!(attrs.logical_nulls(), batch.column(2).logical_nulls());
    assert_eq!(
        strings(attrs.keys()),
        vec![Some("[email]".into()), Some("k".into())]
    );
    assert_eq!(
        strings(attrs.values()),
        vec![Some("x".into()), Some("card [card]".into())]
    );

    let dict = got.column(3).as_dictionary::<Int32Type>();
    assert_eq!(
        dict.keys(),
        batch.column(3).as_dictionary::<Int32Type>().keys()
    );
    assert_eq!(
        strings(dict.values()),
        vec![Some("SSN [ssn]".into()), Some("fine".into())]
    );

    // struct 1 + list 1 + map 2 + dictionary value 1 (counted once, not per row).
    assert_eq!(values, 5);
}

#[test]
fn strings_in_unsupported_containers_fail_closed() {
    let run =
        RunArray::<Int32Type>::try_new(&Int32Array::from(vec![2]), &StringArray::from(vec![SSN]))
            .expect("run array");
    let schema = Arc::new(Schema::new(vec![Field::new(
        "r",
        run.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(run)]).expect("batch");
    let ipc = stream(&schema, &[batch]);
    assert!(matches!(
        scan_ipc_stream(&ipc, scanner()),
        Err(ScanError::Unscannable { column, .. }) if column == "r"
    ));
}

#[test]
fn corrupt_input_is_an_error() {
    assert!(matches!(
        scan_ipc_stream(b"", scanner()),
        Err(ScanError::NoSchema)
    ));
    assert!(scan_ipc_stream(b"not an arrow stream at all", scanner()).is_err());
    let (schema, batch) = mixed_batch(&ROWS);
    let ipc = stream(&schema, &[batch]);
    // Cut inside the record batch body.
    assert!(matches!(
        scan_ipc_stream(&ipc[..ipc.len() - 40], scanner()),
        Err(ScanError::Decode(_))
    ));
    // Bytes after the end-of-stream marker are not silently ignored.
    let mut trailing = ipc.clone();
    trailing.extend_from_slice(&ipc);
    assert!(scan_ipc_stream(&trailing, scanner()).is_err());
}

#[test]
fn invalid_utf8_in_a_string_column_is_an_error() {
    let (schema, batch) = mixed_batch(&[Some("SSN 123-45-6789")]);
    let mut ipc = stream(&schema, &[batch]);
    let at = ipc
        .windows(4)
        .position(|w| w == b"SSN ")
        .expect("value bytes in the body");
    ipc[at] = 0xff;
    assert!(matches!(
        scan_ipc_stream(&ipc, scanner()),
        Err(ScanError::Decode(_))
    ));
}

/// Every single-byte corruption and every truncation ends in a result, never a panic that
/// escapes (the reader is third-party code parsing upstream bytes).
#[test]
fn damaged_streams_never_panic_out() {
    let (schema, batch) = mixed_batch(&ROWS[..3]);
    let ipc = stream(&schema, &[batch]);
    // Corrupt input makes the standard panic hook print; keep the test output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for len in 0..ipc.len() {
        let _ = scan_ipc_stream(&ipc[..len], scanner());
    }
    let mut panics = 0;
    for at in 0..ipc.len() {
        for byte in [0x00, 0xff, 0x7f] {
            let mut damaged = ipc.clone();
            damaged[at] = byte;
            panics += usize::from(matches!(
                scan_ipc_stream(&damaged, scanner()),
                Err(ScanError::Panicked)
            ));
        }
    }
    std::panic::set_hook(hook);
    eprintln!("{panics} damaged streams made the reader panic (contained)");
}

#[test]
fn empty_scanner_finds_nothing() {
    let (schema, batch) = mixed_batch(&ROWS);
    let ipc = stream(&schema, &[batch]);
    let none = Scanner::new(&[], Vec::new());
    assert_eq!(
        scan_ipc_stream(&ipc, &none).expect("scan"),
        Scanned::Unchanged
    );
}

/// Throughput of the clean path, by hand:
/// `cargo test --release -- --ignored --nocapture throughput`.
#[test]
#[ignore = "measurement, not a test"]
fn throughput() {
    // Realistic text: dates, times, prices, versions and order numbers wake the detectors.
    measure(
        "mixed text",
        &[
            "Lorem ipsum dolor sit amet",
            "order 4471 shipped on 2024-05-01 at 10:30",
            "Grüße aus München",
            "customer note: call back tomorrow",
            "total $1,299.00 incl. VAT",
            "東京 branch",
            "v2.4.1 release candidate",
        ],
    );
    // Prose without digits or trigger bytes: the detectors' vector pre-check only.
    measure(
        "plain prose",
        &[
            "lorem ipsum dolor sit amet",
            "grüße aus münchen",
            "customer note: call back tomorrow",
            "東京 branch office",
            "the quick brown fox jumps over the lazy dog",
        ],
    );
}

fn measure(label: &str, words: &[&str]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Utf8, true),
    ]));
    let mut batches = Vec::new();
    let mut bytes = 0;
    let rows = 10_000;
    while bytes < 10 << 20 {
        let base = batches.len() * rows;
        let a: StringArray = (0..rows)
            .map(|i| Some(words[(base + i) % words.len()]))
            .collect();
        let b: StringArray = (0..rows)
            .map(|i| (i % 10 != 0).then(|| words[(base + i * 3) % words.len()]))
            .collect();
        bytes += a.value_data().len() + b.value_data().len();
        let ids = Int64Array::from_iter_values(0..rows as i64);
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(ids), Arc::new(a), Arc::new(b)],
            )
            .expect("batch"),
        );
    }
    let ipc = stream(&schema, &batches);
    let rounds = 20;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        assert_eq!(
            scan_ipc_stream(&ipc, scanner()).expect("scan"),
            Scanned::Unchanged
        );
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(rounds);
    // The parts: decoding (copy, flatbuffers, UTF-8 validation) and the detectors alone.
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let mut buffer = Buffer::from(ipc.as_slice());
        let mut decoder = StreamDecoder::new();
        while !buffer.is_empty() {
            decoder.decode(&mut buffer).expect("decode");
        }
    }
    let decode = start.elapsed().as_secs_f64() / f64::from(rounds);
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        for batch in &batches {
            for c in 1..3 {
                let column = batch.column(c).as_string::<i32>();
                let offsets = column.value_offsets();
                let data = column.value_data();
                for w in offsets.windows(2) {
                    let value = &data[w[0] as usize..w[1] as usize];
                    assert!(!scanner().finds_any(std::hint::black_box(value)));
                }
            }
        }
    }
    let detect = start.elapsed().as_secs_f64() / f64::from(rounds);
    eprintln!(
        "{label}: decode alone {:.1} ms, detectors alone {:.1} ms",
        decode * 1e3,
        detect * 1e3
    );
    let values = batches.len() * rows * 2;
    eprintln!(
        "{label}: {} MB stream ({} MB of string data, {values} values): {:.1} ms, {:.0} MB/s of stream, {:.0} ns/value",
        ipc.len() >> 20,
        bytes >> 20,
        secs * 1e3,
        ipc.len() as f64 / secs / 1e6,
        secs * 1e9 / values as f64,
    );
}
