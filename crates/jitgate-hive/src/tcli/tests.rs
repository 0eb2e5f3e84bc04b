use super::*;

fn handle(guid: u8) -> Struct {
    Struct {
        fields: vec![(
            1,
            Value::Struct(Struct {
                fields: vec![
                    (1, Value::Binary(Bytes::from(vec![guid; 16]))),
                    (2, Value::Binary(Bytes::from(vec![0; 16]))),
                ],
            }),
        )],
    }
}

/// Every reply jitgate makes up is the method's result struct with an error status; OpenSession
/// and GetInfo carry their required fields, so strict clients read them as errors, not as
/// protocol failures.
#[test]
fn error_replies_carry_status_sqlstate_and_required_fields() {
    let open = call(
        "OpenSession",
        Struct {
            fields: vec![(1, Value::I32(7))],
        },
    );
    let reply = error_reply(&open, SqlState::INSUFFICIENT_PRIVILEGE, "no");
    assert_eq!(reply.kind, thrift::REPLY);
    assert_eq!(status(&reply), Some((ERROR, Some("no".into()))));
    let resp = response(&reply).expect("result");
    assert_eq!(resp.get(2), Some(&Value::I32(7)));
    assert_eq!(
        resp.get_struct(1).and_then(|s| s.get_str(3)).as_deref(),
        Some("42501")
    );
    let info = error_reply(
        &call("GetInfo", Struct::default()),
        SqlState::ADMIN_SHUTDOWN,
        "x",
    );
    assert!(response(&info).and_then(|r| r.get_struct(2)).is_some());
}

#[test]
fn handles_rows_and_string_columns_are_found_in_both_row_set_forms() {
    let req = call("FetchResults", fetch_request(&handle(9), 5));
    assert_eq!(request_guid(&req), Some(Bytes::from(vec![9u8; 16])));
    let text = |s: &str| {
        Value::Struct(Struct {
            fields: vec![(
                7,
                Value::Struct(Struct {
                    fields: vec![(1, Value::string(s))],
                }),
            )],
        })
    };
    let row = |a: &str, b: &str| {
        Value::Struct(Struct {
            fields: vec![(
                1,
                Value::List {
                    elem: ty::STRUCT,
                    items: vec![text(a), text(b)],
                },
            )],
        })
    };
    let rows = Struct {
        fields: vec![(
            3,
            Value::Struct(Struct {
                fields: vec![
                    (1, Value::I64(0)),
                    (
                        2,
                        Value::List {
                            elem: ty::STRUCT,
                            items: vec![row("a", "b"), row("c", "d")],
                        },
                    ),
                ],
            }),
        )],
    };
    assert_eq!(rows_in_fetch(&rows), 2);
    assert_eq!(walked(&rows), Ok(2));
    assert_eq!(
        string_column(&rows, 1),
        vec![Some("b".into()), Some("d".into())]
    );
    let strings = |v: &[&str]| {
        Value::Struct(Struct {
            fields: vec![(
                7,
                Value::Struct(Struct {
                    fields: vec![
                        (
                            1,
                            Value::List {
                                elem: ty::STRING,
                                items: v.iter().map(|s| Value::string(s)).collect(),
                            },
                        ),
                        (2, Value::Binary(Bytes::new())),
                    ],
                }),
            )],
        })
    };
    let columnar = Struct {
        fields: vec![(
            3,
            Value::Struct(Struct {
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
                            items: vec![strings(&["x", "y", "z"]), strings(&["1", "2", "3"])],
                        },
                    ),
                ],
            }),
        )],
    };
    assert_eq!(rows_in_fetch(&columnar), 3);
    assert_eq!(walked(&columnar), Ok(3));
    // Read in place, a reply that ends early or goes on is an error, never a panic.
    let whole = fetch_reply(&columnar);
    for cut in 0..whole.len() {
        assert!(rows_in_fetch_reply(&whole[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = whole.clone();
    longer.push(0);
    assert!(rows_in_fetch_reply(&longer).is_err());
    assert_eq!(walked(&Struct::default()), Ok(0));
    assert_eq!(
        string_column(&columnar, 1),
        vec![Some("1".into()), Some("2".into()), Some("3".into())]
    );
}

fn fetch_reply(resp: &Struct) -> Vec<u8> {
    thrift::encode(&Message {
        name: "FetchResults".into(),
        kind: thrift::REPLY,
        seq: 1,
        body: Struct {
            fields: vec![(0, Value::Struct(resp.clone()))],
        },
    })
}

/// The rows of a FetchResults reply counted in place, as clear subjects' replies are.
fn walked(resp: &Struct) -> Result<u64, thrift::DecodeError> {
    rows_in_fetch_reply(&fetch_reply(resp))
}

#[test]
fn delegation_tokens_and_unknown_calls_are_not_relayed() {
    for m in [
        "GetDelegationToken",
        "CancelDelegationToken",
        "RenewDelegationToken",
        "Whatever",
    ] {
        assert_eq!(scope(m), None, "{m}");
    }
    assert_eq!(scope("ExecuteStatement"), Some(Scope::Session));
    assert_eq!(scope("FetchResults"), Some(Scope::Operation));
}
