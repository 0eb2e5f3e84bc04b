use bytes::Bytes;
use jitgate_masking::Scanner;

use super::*;
use crate::thrift::ty;

fn key() -> MaskKey {
    MaskKey::new(&[7u8; 32], "test").expect("key")
}

fn string_column(values: &[&str], nulls: &[u8]) -> Value {
    Value::Struct(Struct {
        fields: vec![(
            7,
            Value::Struct(Struct {
                fields: vec![
                    (
                        1,
                        Value::List {
                            elem: ty::STRING,
                            items: values.iter().map(|v| Value::string(v)).collect(),
                        },
                    ),
                    (2, Value::Binary(Bytes::copy_from_slice(nulls))),
                ],
            }),
        )],
    })
}

fn fetch(columns: Vec<Value>, extra: Option<(i16, Value)>) -> Struct {
    let mut set = Struct {
        fields: vec![
            (1, Value::I64(0)),
            (
                2,
                Value::List {
                    elem: ty::STRUCT,
                    items: vec![],
                },
            ),
            (
                3,
                Value::List {
                    elem: ty::STRUCT,
                    items: columns,
                },
            ),
        ],
    };
    if let Some((id, v)) = extra {
        set.fields.push((id, v));
    }
    Struct {
        fields: vec![
            (
                1,
                Value::Struct(Struct {
                    fields: vec![(1, Value::I32(0))],
                }),
            ),
            (3, Value::Struct(set)),
        ],
    }
}

/// Detectors run over every string of a columnar row set, but never over null bitmaps (which
/// are bits, not text, and whose corruption would shift every value).
#[test]
fn columnar_strings_are_redacted_and_null_bitmaps_left_alone() {
    let k = key();
    let mut s = Scrub {
        scanner: Some(Scanner::builtin()),
        key: &k,
        changed: 0,
    };
    let bitmap = b"123-45-6789"; // what an SSN-looking bitmap would be if it were scanned
    let mut resp = fetch(
        vec![string_column(&["ok", "ssn 078-05-1120 here"], bitmap)],
        None,
    );
    s.response("FetchResults", &mut resp).expect("scannable");
    assert_eq!(s.changed, 1);
    let text = format!("{resp:?}");
    assert!(!text.contains("078-05-1120"), "{text}");
    assert!(text.contains("123-45-6789"), "bitmap untouched: {text}");
}

/// Rows jitgate cannot read value by value are refused, not relayed.
#[test]
fn arrow_batches_result_links_and_binary_columns_are_refused() {
    let k = key();
    for id in [ext::ARROW_BATCHES, ext::RESULT_LINKS, ext::BINARY_COLUMNS] {
        let mut s = Scrub {
            scanner: Some(Scanner::builtin()),
            key: &k,
            changed: 0,
        };
        let mut resp = fetch(vec![], Some((id, Value::Binary(Bytes::from_static(b"x")))));
        assert!(s.response("FetchResults", &mut resp).is_err(), "{id}");
    }
    let mut s = Scrub {
        scanner: None,
        key: &k,
        changed: 0,
    };
    let mut direct = Struct {
        fields: vec![(ext::GET_DIRECT_RESULTS, Value::Struct(Struct::default()))],
    };
    assert!(s.response("ExecuteStatement", &mut direct).is_err());
}

/// Error messages are data too: detectors and key blotting apply to them.
#[test]
fn error_messages_are_scrubbed_and_handles_are_not() {
    let k = key();
    let secret = k
        .spark_secrets()
        .into_iter()
        .next()
        .expect("a keyed secret");
    let mut s = Scrub {
        scanner: Some(Scanner::builtin()),
        key: &k,
        changed: 0,
    };
    let status = Struct {
        fields: vec![
            (1, Value::I32(3)),
            (
                5,
                Value::string(&format!("cannot cast 078-05-1120 near unhex('{secret}')")),
            ),
        ],
    };
    let guid = Bytes::from_static(b"078-05-1120-guid");
    let handle = Struct {
        fields: vec![(
            1,
            Value::Struct(Struct {
                fields: vec![(1, Value::Binary(guid.clone()))],
            }),
        )],
    };
    let mut resp = Struct {
        fields: vec![(1, Value::Struct(status)), (2, Value::Struct(handle))],
    };
    s.response("ExecuteStatement", &mut resp)
        .expect("scannable");
    let text = format!("{resp:?}");
    assert!(
        !text.contains(&secret) && !text.contains("078-05-1120 near"),
        "{text}"
    );
    assert_eq!(
        crate::tcli::handle_guid(resp.get_struct(2).expect("handle")),
        Some(guid)
    );
}
