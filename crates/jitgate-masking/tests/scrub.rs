//! Error and notice texts, in PostgreSQL 15's own wording (captured from a 15.x server), lose the
//! values they quote.

use jitgate_masking::{scrub_error_fields, Scanner};

/// An ErrorResponse body from (type, value) fields.
fn body(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (code, value) in fields {
        b.push(*code);
        b.extend_from_slice(value.as_bytes());
        b.push(0);
    }
    b.push(0);
    b
}

/// The scrubbed fields, as (type, value) pairs.
fn scrub(fields: &[(u8, &str)]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    scrub_error_fields(&body(fields), Scanner::builtin(), &mut out);
    assert_eq!(out.last(), Some(&0), "terminated");
    let mut parsed = Vec::new();
    let mut rest = &out[..out.len() - 1];
    while let Some((&code, tail)) = rest.split_first() {
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .expect("NUL-terminated field");
        parsed.push((code, String::from_utf8_lossy(&tail[..end]).into_owned()));
        rest = &tail[end + 1..];
    }
    parsed
}

fn field(scrubbed: &[(u8, String)], code: u8) -> &str {
    scrubbed
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, v)| v.as_str())
}

fn error(
    sqlstate: &str,
    message: &str,
    detail: Option<&str>,
    context: Option<&str>,
) -> Vec<(u8, String)> {
    let mut fields = vec![
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', sqlstate),
        (b'M', message),
    ];
    if let Some(d) = detail {
        fields.push((b'D', d));
    }
    if let Some(w) = context {
        fields.push((b'W', w));
    }
    fields.push((b'F', "numutils.c"));
    scrub(&fields)
}

#[test]
fn invalid_input_values_are_redacted() {
    let cases = [
        ("22P02", "invalid input syntax for type integer: \"123-45-6789\"", "invalid input syntax for type integer: \"[redacted]\""),
        ("22P02", "invalid input syntax for type uuid: \"abc\"", "invalid input syntax for type uuid: \"[redacted]\""),
        ("22P02", "invalid input value for enum mood: \"Erin's secret\"", "invalid input value for enum mood: \"[redacted]\""),
        ("22003", "value \"99999999999\" is out of range for type integer", "value \"[redacted]\" is out of range for type integer"),
        ("22003", "\"1e999\" is out of range for type double precision", "\"[redacted]\" is out of range for type double precision"),
        ("22003", "integer out of range", "integer out of range"),
        ("22008", "date/time field value out of range: \"2024-02-30\"", "date/time field value out of range: \"[redacted]\""),
        ("22007", "invalid input syntax for type timestamp: \"foo\"", "invalid input syntax for type timestamp: \"[redacted]\""),
        ("22001", "value too long for type character varying(3)", "value too long for type character varying(3)"),
        ("2201B", "invalid regular expression: quantifier operand invalid", "invalid regular expression: quantifier operand invalid"),
        // Embedded quotes cannot end the value early.
        ("22P02", "invalid input syntax for type integer: \"a\" or \"b\"", "invalid input syntax for type integer: \"[redacted]\""),
        (
            "22P05",
            "character with byte sequence 0xe2 0x82 0xac in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"",
            "character with byte sequence 0x[redacted] 0x[redacted] 0x[redacted] in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"",
        ),
    ];
    for (sqlstate, message, want) in cases {
        let scrubbed = error(sqlstate, message, None, None);
        assert_eq!(field(&scrubbed, b'M'), want, "{sqlstate}");
        assert_eq!(field(&scrubbed, b'C'), sqlstate);
        assert_eq!(
            field(&scrubbed, b'F'),
            "numutils.c",
            "other fields are kept"
        );
    }
}

#[test]
fn constraint_violations_keep_names_and_lose_values() {
    let unique = error(
        "23505",
        "duplicate key value violates unique constraint \"c_ssn_key\"",
        Some("Key (ssn)=(123-45-6789) already exists."),
        None,
    );
    assert_eq!(
        field(&unique, b'M'),
        "duplicate key value violates unique constraint \"c_ssn_key\""
    );
    assert_eq!(
        field(&unique, b'D'),
        "Key (ssn)=([redacted]) already exists."
    );

    let composite = error(
        "23505",
        "duplicate key value violates unique constraint \"k\"",
        Some("Key (a, b)=(x) y), 2) already exists."),
        None,
    );
    assert_eq!(
        field(&composite, b'D'),
        "Key (a, b)=([redacted]) already exists."
    );

    let missing = error(
        "23503",
        "insert or update on table \"c\" violates foreign key constraint \"c_ref_fkey\"",
        Some("Key (ref)=(42) is not present in table \"c\"."),
        None,
    );
    assert_eq!(
        field(&missing, b'D'),
        "Key (ref)=([redacted]) is not present in table \"c\"."
    );
    let referenced = error(
        "23503",
        "update or delete on table \"c\" violates foreign key constraint \"f\" on table \"d\"",
        Some("Key (id)=(1) is still referenced from table \"d\"."),
        None,
    );
    assert_eq!(
        field(&referenced, b'D'),
        "Key (id)=([redacted]) is still referenced from table \"d\"."
    );
    assert_eq!(
        field(&referenced, b'M'),
        "update or delete on table \"c\" violates foreign key constraint \"f\" on table \"d\""
    );

    let exclusion = error("23P01", "conflicting key value violates exclusion constraint \"no_overlap\"", Some("Key (room, during)=(1, [2024-01-01,2024-01-02)) conflicts with existing key (room, during)=(1, [2024-01-01,2024-01-03))."), None);
    assert_eq!(
        field(&exclusion, b'D'),
        "Key (room, during)=([redacted]) conflicts with existing key (room, during)=([redacted])."
    );

    let check = error(
        "23514",
        "new row for relation \"c\" violates check constraint \"c_n_check\"",
        Some("Failing row contains (4, 987-65-4321, 11, null, null, null, x)."),
        None,
    );
    assert_eq!(field(&check, b'D'), "Failing row contains ([redacted]).");
    let not_null = error(
        "23502",
        "null value in column \"v\" of relation \"c\" violates not-null constraint",
        Some("Failing row contains (6, z, null, null, null, null, null)."),
        None,
    );
    assert_eq!(
        field(&not_null, b'M'),
        "null value in column \"v\" of relation \"c\" violates not-null constraint"
    );
    assert_eq!(field(&not_null, b'D'), "Failing row contains ([redacted]).");
}

#[test]
fn json_and_copy_contexts_are_redacted() {
    let json = error(
        "22P02",
        "invalid input syntax for type json",
        Some("Expected \",\" or \"}\", but found \"-45\"."),
        Some("JSON data, line 1: {\"ssn\": 123-45..."),
    );
    assert_eq!(field(&json, b'D'), "Expected \"[redacted]\".");
    assert_eq!(field(&json, b'W'), "JSON data, line 1: [redacted]");
    let copy = error(
        "22P02",
        "invalid input syntax for type integer: \"4111 1111 1111 1111\"",
        None,
        Some("COPY customers, line 2, column card: \"4111 1111 1111 1111\""),
    );
    assert_eq!(
        field(&copy, b'W'),
        "COPY customers, line 2, column card: \"[redacted]\""
    );
}

#[test]
fn any_message_is_scanned_by_the_detectors() {
    // A user's RAISE (P0001) is not shaped by PostgreSQL, but detectors still see it.
    let raised = error(
        "P0001",
        "customer ann@example.com has SSN 123-45-6789",
        Some("card 4111 1111 1111 1111"),
        None,
    );
    assert_eq!(field(&raised, b'M'), "customer [email] has SSN [ssn]");
    assert_eq!(field(&raised, b'D'), "card [card]");
    // Quoted identifiers of non-data errors stay as they are.
    let undefined = error("42P01", "relation \"customers\" does not exist", None, None);
    assert_eq!(
        field(&undefined, b'M'),
        "relation \"customers\" does not exist"
    );
    // A notice (no SQLSTATE class 22/23) with a hint.
    let notice = scrub(&[
        (b'S', "NOTICE"),
        (b'C', "00000"),
        (b'M', "mail sent to bob@example.org"),
        (b'H', "call +1 415 555 2671"),
    ]);
    assert_eq!(field(&notice, b'M'), "mail sent to [email]");
    assert_eq!(field(&notice, b'H'), "call [phone]");
}

#[test]
fn key_material_in_quoted_statements_is_redacted() {
    let pad = "5c".repeat(64);
    let text = format!(
        "function pg_catalog.sha256(bytea) does not exist at pg_catalog.decode('{pad}', 'hex')"
    );
    let scrubbed = error("42883", &text, None, None);
    assert!(!field(&scrubbed, b'M').contains(&pad));
    assert!(field(&scrubbed, b'M').contains("[redacted]"));
    let q = scrub(&[
        (b'C', "42883"),
        (b'M', "x"),
        (b'q', &format!("SELECT decode('{pad}', 'hex')")),
    ]);
    assert!(!field(&q, b'q').contains(&pad));
}

#[test]
fn truncated_bodies_come_out_well_formed() {
    let mut out = Vec::new();
    scrub_error_fields(b"Mcall 415-555-2671", Scanner::builtin(), &mut out);
    assert_eq!(out, b"Mcall [phone]\0\0");
    out.clear();
    scrub_error_fields(b"", Scanner::builtin(), &mut out);
    assert_eq!(out, b"\0");
}

/// An error with the given fields after S, V and C.
fn error_with(sqlstate: &str, fields: &[(u8, &str)]) -> Vec<(u8, String)> {
    let mut all = vec![(b'S', "ERROR"), (b'V', "ERROR"), (b'C', sqlstate)];
    all.extend_from_slice(fields);
    scrub(&all)
}

#[test]
fn xml_parser_details_lose_the_input_they_quote() {
    // SELECT xmlparse(document '123-45-6789') and xmlparse(content '<a>123-45-6789'), PG 15.
    let document = error_with(
        "2200M",
        &[
            (b'M', "invalid XML document"),
            (
                b'D',
                "line 1: Start tag expected, '<' not found\n123-45-6789\n^",
            ),
        ],
    );
    assert_eq!(field(&document, b'M'), "invalid XML document");
    assert_eq!(field(&document, b'D'), "line 1: [redacted]");
    // A translated SSN is no detector's business: the shape alone removes it.
    let content = error_with(
        "2200N",
        &[
            (b'M', "invalid XML content"),
            (
                b'D',
                "line 1: Premature end of data in tag a line 1\n<a>bcd-ef-ghij\n              ^",
            ),
        ],
    );
    assert_eq!(field(&content, b'D'), "line 1: [redacted]");
    // Tag names come from the input too.
    let mismatch = error_with(
        "2200N",
        &[
            (b'M', "invalid XML content"),
            (
                b'D',
                "line 1: Opening and ending tag mismatch: bcdefghij line 1 and a\n<bcdefghij></a>\n",
            ),
        ],
    );
    assert_eq!(field(&mismatch, b'D'), "line 1: [redacted]");
    // An XML error whose detail has another shape is redacted whole.
    let other = error_with(
        "2200L",
        &[(b'M', "not an XML document"), (b'D', "bcd-ef-ghij")],
    );
    assert_eq!(field(&other, b'D'), "[redacted]");
}

#[test]
fn every_class_that_quotes_input_loses_its_quoted_values() {
    // PostgreSQL 15's own texts for data cast or parsed in a statement.
    let cases = [
        (
            "22015",
            "interval field value out of range: \"123-45-6789\"",
            "interval field value out of range: \"[redacted]\"",
        ),
        (
            "22023",
            "invalid hexadecimal digit: \"-\"",
            "invalid hexadecimal digit: \"[redacted]\"",
        ),
        (
            "2203A",
            "JSON object does not contain key \"bcdefghij\"",
            "JSON object does not contain key \"[redacted]\"",
        ),
        (
            "42601",
            "syntax error in tsquery: \"x bcd-ef-ghij\"",
            "syntax error in tsquery: \"[redacted]\"",
        ),
        (
            "42601",
            "syntax error at or near \"bcd\" of jsonpath input",
            "syntax error at or near \"[redacted]\" of jsonpath input",
        ),
        (
            "22P02",
            "invalid input syntax for type point: \"(bcd-ef-ghij)\"",
            "invalid input syntax for type point: \"[redacted]\"",
        ),
        (
            "22P02",
            "malformed array literal: \"{bcd-ef-ghij\"",
            "malformed array literal: \"[redacted]\"",
        ),
        // A user's RAISE quoting a value.
        (
            "P0001",
            "customer \"bcd-ef-ghij\" not found",
            "customer \"[redacted]\" not found",
        ),
    ];
    for (sqlstate, message, want) in cases {
        let scrubbed = error_with(sqlstate, &[(b'M', message)]);
        assert_eq!(field(&scrubbed, b'M'), want, "{sqlstate}");
    }
    // '…'::regtype: the value comes back in the CONTEXT.
    let regtype = error_with(
        "42601",
        &[
            (b'M', "syntax error at or near \"bcd\""),
            (b'W', "invalid type name \"bcd-ef-ghij\""),
        ],
    );
    assert_eq!(field(&regtype, b'W'), "invalid type name \"[redacted]\"");
    // Hints are shaped too; the names they quote stay.
    let hint = error_with(
        "42703",
        &[
            (b'M', "column \"sn\" does not exist"),
            (
                b'H',
                "Perhaps you meant to reference the column \"customers.ssn\".",
            ),
        ],
    );
    assert_eq!(field(&hint, b'M'), "column \"sn\" does not exist");
    assert_eq!(
        field(&hint, b'H'),
        "Perhaps you meant to reference the column \"customers.ssn\"."
    );
    // A name the subject's data was cast to (`'…'::regclass`) is a name in PostgreSQL's words:
    // the detectors still see it.
    let regclass = error_with(
        "42P01",
        &[(b'M', "relation \"123-45-6789\" does not exist")],
    );
    assert_eq!(field(&regclass, b'M'), "relation \"[ssn]\" does not exist");
}

#[test]
fn names_only_classes_keep_their_quotes_and_unknown_ones_are_shaped() {
    let lock = error_with(
        "55P03",
        &[(b'M', "could not obtain lock on row in relation \"orders\"")],
    );
    assert_eq!(
        field(&lock, b'M'),
        "could not obtain lock on row in relation \"orders\""
    );
    let prepared = error_with(
        "26000",
        &[(b'M', "prepared statement \"s1\" does not exist")],
    );
    assert_eq!(
        field(&prepared, b'M'),
        "prepared statement \"s1\" does not exist"
    );
    // No SQLSTATE at all, or a malformed one: shaped (fail closed).
    let bare = scrub(&[(b'M', "value \"bcd-ef-ghij\"")]);
    assert_eq!(field(&bare, b'M'), "value \"[redacted]\"");
    let odd = error_with("2", &[(b'M', "value \"bcd-ef-ghij\"")]);
    assert_eq!(field(&odd, b'M'), "value \"[redacted]\"");
}

#[test]
fn fields_outside_the_name_fields_are_text() {
    // A field code a later server might add is scanned and shaped like a message.
    let scrubbed = error_with(
        "22P02",
        &[
            (b'M', "x"),
            (b'Y', "value \"bcd\" from ann@example.com"),
            (b't', "customers"),
            (b'n', "customers_ssn_key"),
        ],
    );
    assert_eq!(field(&scrubbed, b'Y'), "value \"[redacted]\" from [email]");
    assert_eq!(field(&scrubbed, b't'), "customers");
    assert_eq!(field(&scrubbed, b'n'), "customers_ssn_key");
    // A notice's hint and message are scanned whatever the class.
    let notice = scrub(&[
        (b'S', "WARNING"),
        (b'V', "WARNING"),
        (b'C', "01000"),
        (b'M', "sent to \"bob@example.org\""),
    ]);
    assert_eq!(field(&notice, b'M'), "sent to \"[redacted]\"");
}
