use super::*;

const LIMITS: Limits = Limits {
    max_depth: 16,
    max_values: 10_000,
};

fn sample() -> Message {
    let handle = Value::Struct(Struct {
        fields: vec![
            (1, Value::Binary(Bytes::from_static(&[1; 16]))),
            (2, Value::Binary(Bytes::from_static(&[2; 16]))),
        ],
    });
    Message {
        name: "ExecuteStatement".into(),
        kind: CALL,
        seq: 7,
        body: Struct {
            fields: vec![(
                1,
                Value::Struct(Struct {
                    fields: vec![
                        (1, handle),
                        (2, Value::string("SELECT 1")),
                        (
                            3,
                            Value::Map {
                                key: ty::STRING,
                                value: ty::STRING,
                                entries: vec![(Value::string("k"), Value::string("v"))],
                            },
                        ),
                        (4, Value::Bool(true)),
                        (5, Value::I64(-3)),
                        (0x503, Value::Bool(true)),
                        (
                            9,
                            Value::List {
                                elem: ty::DOUBLE,
                                items: vec![Value::Double(1.5), Value::Double(f64::NAN)],
                            },
                        ),
                        (
                            10,
                            Value::Set {
                                elem: ty::I16,
                                items: vec![Value::I16(1), Value::I16(-1)],
                            },
                        ),
                        (11, Value::Byte(-1)),
                        (12, Value::I32(9)),
                    ],
                }),
            )],
        },
    }
}

#[test]
fn messages_round_trip_byte_for_byte_with_unknown_fields_kept() {
    let bytes = encode(&sample());
    let decoded = decode(Bytes::from(bytes.clone()), LIMITS).expect("decodes");
    assert_eq!(decoded.name, "ExecuteStatement");
    assert_eq!(decoded.seq, 7);
    assert_eq!(encode(&decoded), bytes);
    let req = decoded.body.get_struct(1).expect("args");
    assert_eq!(req.get_str(2).as_deref(), Some("SELECT 1"));
    assert_eq!(req.get(0x503), Some(&Value::Bool(true)));
}

#[test]
fn every_truncation_and_every_corrupted_byte_is_an_error_or_a_message_never_a_panic() {
    let bytes = encode(&sample());
    for n in 0..bytes.len() {
        assert!(decode(Bytes::copy_from_slice(&bytes[..n]), LIMITS).is_err());
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            let _ = decode(Bytes::from(b), LIMITS);
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        decode(Bytes::from(longer), LIMITS),
        Err(DecodeError::Trailing(1))
    );
}

#[test]
fn forged_counts_deep_nesting_and_value_floods_are_refused() {
    // A list claiming two billion elements in a few bytes.
    let mut prefix = Vec::new();
    prefix.extend_from_slice(&(VERSION_1 | 1).to_be_bytes());
    put_binary(&mut prefix, b"X");
    prefix.extend_from_slice(&0i32.to_be_bytes());
    let mut b = prefix.clone();
    b.extend_from_slice(&[ty::LIST, 0, 1, ty::BYTE]);
    b.extend_from_slice(&i32::MAX.to_be_bytes());
    assert_eq!(
        decode(Bytes::from(b.clone()), LIMITS),
        Err(DecodeError::Truncated)
    );
    // Structs nested beyond the limit.
    let mut deep = prefix.clone();
    for _ in 0..40 {
        deep.extend_from_slice(&[ty::STRUCT, 0, 1]);
    }
    deep.extend(std::iter::repeat_n(ty::STOP, 41));
    assert_eq!(
        decode(Bytes::from(deep), LIMITS),
        Err(DecodeError::TooDeep(16))
    );
    // More values than allowed.
    let mut flood = prefix.clone();
    flood.extend_from_slice(&[ty::LIST, 0, 1, ty::BYTE]);
    flood.extend_from_slice(&20_000i32.to_be_bytes());
    flood.extend(std::iter::repeat_n(1u8, 20_000));
    flood.push(ty::STOP);
    assert_eq!(
        decode(Bytes::from(flood), LIMITS),
        Err(DecodeError::TooManyValues(10_000))
    );
}
