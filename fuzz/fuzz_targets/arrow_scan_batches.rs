//! The Arrow scan over well-formed streams of every string layout it rebuilds (Utf8, LargeUtf8,
//! Utf8View, List, FixedSizeList, Struct, Map keys and values, Dictionary) with values the
//! fuzzer assembles from free text and personal-data fragments. Each stream is either passed
//! unchanged — and then no value holds a finding — or re-encoded with the same schema, batches
//! and rows, every value exactly what the detectors make of it, nulls kept.

#![no_main]

// The scan is compiled in from its source rather than through jitgate-spark, which would bring
// the whole gRPC stack into the fuzz build for one module that needs only arrow and the
// detectors.
#[allow(dead_code)]
#[path = "../../crates/jitgate-spark/src/arrow_scan/mod.rs"]
mod arrow_scan;

use arrow_scan::{scan_ipc_stream, Scanned};

use std::io::Cursor;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use arrow_array::builder::{
    FixedSizeListBuilder, LargeStringBuilder, ListBuilder, MapBuilder, StringBuilder,
    StringDictionaryBuilder, StringViewBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StructArray};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};
use jitgate_masking::Scanner;
use libfuzzer_sys::fuzz_target;

/// Fragments the detectors know, and near misses, for the fuzzer to splice into text.
const FRAGMENTS: &[&str] = &[
    "123-45-6789",
    "SSN 078 05 1120",
    "4111 1111 1111 1111",
    "4111-1111-1111-1112",
    "5500 0000 0000 0004",
    "ann@example.com",
    "Grüße@bücher.de",
    "+1 (415) 555-0100",
    "415.555.0100",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "version 1.2.3.4",
    "192.168.0.1",
    "0",
    "-",
    " ",
    "@",
    "\n",
];

#[derive(Debug, Arbitrary)]
enum Piece<'a> {
    Fragment(u8),
    Text(&'a str),
}

#[derive(Debug, Arbitrary)]
struct Value<'a> {
    pieces: Vec<Piece<'a>>,
    null: bool,
}

impl Value<'_> {
    fn text(&self) -> Option<String> {
        if self.null {
            return None;
        }
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Fragment(i) => s.push_str(FRAGMENTS[usize::from(*i) % FRAGMENTS.len()]),
                Piece::Text(t) => s.push_str(t),
            }
        }
        Some(s)
    }
}

#[derive(Debug, Arbitrary)]
enum Layout {
    Utf8,
    LargeUtf8,
    Utf8View,
    List,
    FixedSizeList,
    Struct,
    Map,
    Dictionary,
    Int64,
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    columns: Vec<Layout>,
    /// Rows of each batch.
    batches: Vec<u8>,
    values: Vec<Value<'a>>,
}

/// Hands out the fuzzer's values in turn, cycling.
struct Values<'a> {
    values: Vec<Option<String>>,
    next: usize,
    _input: std::marker::PhantomData<&'a ()>,
}

impl Values<'_> {
    fn next(&mut self) -> Option<String> {
        if self.values.is_empty() {
            return Some(String::new());
        }
        let v = self.values[self.next % self.values.len()].clone();
        self.next += 1;
        v
    }
}

fn column(layout: &Layout, rows: usize, values: &mut Values<'_>) -> ArrayRef {
    match layout {
        Layout::Utf8 => {
            let mut b = StringBuilder::new();
            (0..rows).for_each(|_| b.append_option(values.next()));
            Arc::new(b.finish())
        }
        Layout::LargeUtf8 => {
            let mut b = LargeStringBuilder::new();
            (0..rows).for_each(|_| b.append_option(values.next()));
            Arc::new(b.finish())
        }
        Layout::Utf8View => {
            let mut b = StringViewBuilder::new();
            (0..rows).for_each(|_| b.append_option(values.next()));
            Arc::new(b.finish())
        }
        Layout::List => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for r in 0..rows {
                for _ in 0..r % 3 {
                    b.values().append_option(values.next());
                }
                b.append(r % 4 != 3);
            }
            Arc::new(b.finish())
        }
        Layout::FixedSizeList => {
            let mut b = FixedSizeListBuilder::new(StringBuilder::new(), 2);
            for r in 0..rows {
                b.values().append_option(values.next());
                b.values().append_option(values.next());
                b.append(r % 5 != 4);
            }
            Arc::new(b.finish())
        }
        Layout::Struct => {
            let s = column(&Layout::Utf8, rows, values);
            let n: ArrayRef = Arc::new(Int32Array::from_iter_values(0..rows as i32));
            Arc::new(StructArray::from(vec![
                (Arc::new(Field::new("s", DataType::Utf8, true)), s),
                (Arc::new(Field::new("n", DataType::Int32, false)), n),
            ]))
        }
        Layout::Map => {
            let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
            for r in 0..rows {
                for _ in 0..r % 3 {
                    b.keys().append_value(values.next().unwrap_or_default());
                    b.values().append_option(values.next());
                }
                b.append(true).expect("map entry");
            }
            Arc::new(b.finish())
        }
        Layout::Dictionary => {
            let mut b = StringDictionaryBuilder::<Int32Type>::new();
            for _ in 0..rows {
                match values.next() {
                    Some(v) => {
                        b.append_value(v);
                    }
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Layout::Int64 => Arc::new(Int64Array::from_iter_values(0..rows as i64)),
    }
}

fn stream(batches: &[RecordBatch], schema: &Arc<Schema>) -> Vec<u8> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema).expect("writer");
    for b in batches {
        writer.write(b).expect("write");
    }
    writer.into_inner().expect("finish")
}

/// Every string value of a column, in order, with nulls (nested values flattened).
fn strings(array: &dyn Array, out: &mut Vec<Option<String>>) {
    use arrow_array::cast::AsArray;
    match array.data_type() {
        DataType::Utf8 => out.extend(
            array
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_owned)),
        ),
        DataType::LargeUtf8 => out.extend(
            array
                .as_string::<i64>()
                .iter()
                .map(|v| v.map(str::to_owned)),
        ),
        DataType::Utf8View => {
            out.extend(array.as_string_view().iter().map(|v| v.map(str::to_owned)))
        }
        DataType::List(_) => strings(array.as_list::<i32>().values().as_ref(), out),
        DataType::FixedSizeList(_, _) => strings(array.as_fixed_size_list().values().as_ref(), out),
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .for_each(|c| strings(c.as_ref(), out)),
        DataType::Map(_, _) => {
            let entries = array.as_map().entries();
            entries
                .columns()
                .iter()
                .for_each(|c| strings(c.as_ref(), out))
        }
        DataType::Dictionary(_, _) => strings(array.as_any_dictionary().values().as_ref(), out),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    if input.columns.is_empty() || input.columns.len() > 8 || input.batches.len() > 4 {
        return;
    }
    let mut values = Values {
        values: input.values.iter().map(Value::text).collect(),
        next: 0,
        _input: std::marker::PhantomData,
    };
    let mut batches = Vec::new();
    for &rows in &input.batches {
        let rows = usize::from(rows % 16);
        let arrays: Vec<ArrayRef> = input
            .columns
            .iter()
            .map(|l| column(l, rows, &mut values))
            .collect();
        let fields: Vec<Field> = arrays
            .iter()
            .enumerate()
            .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        batches.push(RecordBatch::try_new(schema, arrays).expect("batch"));
    }
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return;
    };
    // Dictionaries of different batches may differ; the writer sends each batch's.
    let ipc = stream(&batches, &schema);

    let scanner = Scanner::builtin();
    let outcome = scan_ipc_stream(&ipc, scanner).expect("a well-formed stream scans");
    let mut before: Vec<Option<String>> = Vec::new();
    for b in &batches {
        b.columns()
            .iter()
            .for_each(|c| strings(c.as_ref(), &mut before));
    }
    match outcome {
        Scanned::Unchanged => {
            for v in before.iter().flatten() {
                assert!(
                    !scanner.finds_any(v.as_bytes()),
                    "passed with a finding: {v:?}"
                );
            }
        }
        Scanned::Redacted { ipc: out, .. } => {
            let reader = StreamReader::try_new(Cursor::new(&out), None).expect("reads back");
            assert_eq!(reader.schema(), schema, "the schema changed");
            let after: Vec<RecordBatch> = reader
                .collect::<Result<_, _>>()
                .expect("redacted batches read back");
            assert_eq!(after.len(), batches.len(), "batches lost or added");
            let mut redacted: Vec<Option<String>> = Vec::new();
            for (a, b) in after.iter().zip(&batches) {
                assert_eq!(a.num_rows(), b.num_rows(), "rows lost or added");
                a.columns()
                    .iter()
                    .for_each(|c| strings(c.as_ref(), &mut redacted));
            }
            assert_eq!(redacted.len(), before.len(), "values lost or added");
            for (was, now) in before.iter().zip(&redacted) {
                match (was, now) {
                    (Some(was), Some(now)) => {
                        assert_eq!(
                            *now,
                            scanner.redact(was).into_owned(),
                            "not what the detectors make of {was:?}"
                        );
                        // Not asserted yet: redaction is not a fixpoint of the detectors. A
                        // context word inside one finding exempts the next and is then
                        // redacted with it ("ann@example.comversion 1.2.3.4" → "[email]
                        // 1.2.3.4", an IPv4 the detectors then find). Open in the detectors.
                    }
                    (None, None) => {}
                    _ => panic!("a null changed: {was:?} → {now:?}"),
                }
            }
        }
    }
});
