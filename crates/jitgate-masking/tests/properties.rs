//! Properties over arbitrary input: nothing the upstream or a user can send makes the masking
//! engine panic, and what it produces stays well formed.

use jitgate_masking::{
    rewrite_data_row, scrub_error_fields, ColumnAction, ColumnPlan, Generalization, Mask, MaskKey,
    PgTypeInfo, Scanner,
};
use proptest::prelude::*;

const OIDS: [u32; 19] = [
    16, 17, 19, 20, 21, 23, 25, 114, 700, 701, 1042, 1043, 1082, 1114, 1184, 1700, 2950, 3802, 600,
];

fn masks() -> Vec<Mask> {
    vec![
        Mask::Redact,
        Mask::Null,
        Mask::Partial {
            keep_first: 2,
            keep_last: 3,
            pad: '•',
        },
        Mask::Email,
        Mask::Hash,
        Mask::Tokenize,
        Mask::Generalize(Generalization::Month),
        Mask::Generalize(Generalization::Bucket(7)),
        Mask::Scan,
    ]
}

fn key() -> MaskKey {
    MaskKey::new(b"property test key 0123456789", "test").expect("key")
}

fn action() -> impl Strategy<Value = ColumnAction> {
    prop_oneof![
        Just(ColumnAction::Pass),
        Just(ColumnAction::Scan),
        (0..masks().len()).prop_map(|i| ColumnAction::Mask(masks()[i].clone())),
    ]
}

fn plan() -> impl Strategy<Value = Vec<ColumnPlan>> {
    prop::collection::vec(
        (action(), prop::sample::select(OIDS.to_vec()), any::<bool>()).prop_map(
            |(action, oid, binary)| ColumnPlan {
                action,
                ty: PgTypeInfo::from_oid(oid),
                binary,
            },
        ),
        0..6,
    )
}

/// Text that looks enough like PII to exercise every detector's slow path.
fn pii_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("123-45-6789".to_string()),
            Just("4111 1111 1111 1111".to_string()),
            Just("a@b.co".to_string()),
            Just("+1 (415) 555-2671".to_string()),
            Just("DE89 3704".to_string()),
            Just("2001:db8::".to_string()),
            Just("10.0.0.".to_string()),
            Just("AKIA".to_string()),
            Just("eyJhbGciOi".to_string()),
            Just("-----BEGIN PRIVATE KEY-----".to_string()),
            "[ -~]{0,12}",
            "\\PC{0,4}",
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn data_row_rewriting_never_panics(body in prop::collection::vec(any::<u8>(), 0..200), columns in plan()) {
        let mut out = Vec::new();
        let _ = rewrite_data_row(&body, &columns, &key(), Scanner::builtin(), &mut out);
    }

    #[test]
    fn well_formed_rows_stay_well_formed(
        values in prop::collection::vec(prop::option::of(prop::collection::vec(any::<u8>(), 0..40)), 0..6),
        columns in plan(),
    ) {
        let columns: Vec<ColumnPlan> = columns.into_iter().cycle().take(values.len()).collect();
        prop_assume!(columns.len() == values.len());
        let mut body = (values.len() as i16).to_be_bytes().to_vec();
        for v in &values {
            match v {
                Some(v) => {
                    body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    body.extend_from_slice(v);
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let mut out = Vec::new();
        prop_assert!(rewrite_data_row(&body, &columns, &key(), Scanner::builtin(), &mut out).is_ok());
        // The output parses back as a DataRow of the same width, and NULLs stay NULL.
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        prop_assert_eq!(len + 1, out.len());
        let mut at = 7;
        for (i, v) in values.iter().enumerate() {
            let n = i32::from_be_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]);
            at += 4 + n.max(0) as usize;
            if v.is_none() {
                prop_assert_eq!(n, -1, "column {} was NULL", i);
            }
        }
        prop_assert_eq!(at, out.len());
        if columns.iter().all(|c| c.action == ColumnAction::Pass) {
            prop_assert_eq!(&out[5..], &body[..]);
        }
    }

    #[test]
    fn detectors_never_panic_and_find_within_bounds(text in pii_like()) {
        let found = Scanner::builtin().scan(&text);
        let mut end = 0;
        for f in &found {
            prop_assert!(f.range.start >= end && f.range.start < f.range.end && f.range.end <= text.len());
            prop_assert!(text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end));
            end = f.range.end;
        }
        let redacted = Scanner::builtin().redact(&text);
        prop_assert_eq!(found.is_empty(), redacted == text);
    }

    #[test]
    fn detectors_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Scanner::builtin().scan_bytes(&bytes);
    }

    #[test]
    fn error_scrubbing_never_panics(body in prop::collection::vec(any::<u8>(), 0..200), text in pii_like()) {
        let mut out = Vec::new();
        scrub_error_fields(&body, Scanner::builtin(), &mut out);
        prop_assert_eq!(out.last(), Some(&0));
        let mut leaky = b"C22P02\0M".to_vec();
        leaky.extend_from_slice(text.replace('\0', "").as_bytes());
        leaky.extend_from_slice(b"\0\0");
        out.clear();
        scrub_error_fields(&leaky, Scanner::builtin(), &mut out);
        prop_assert_eq!(out.last(), Some(&0));
    }

    #[test]
    fn masks_never_panic_on_any_value(value in prop::collection::vec(any::<u8>(), 0..40), oid in prop::sample::select(OIDS.to_vec())) {
        let ty = PgTypeInfo::from_oid(oid);
        for mask in masks() {
            let mut out = Vec::new();
            let _ = mask.apply_text(&value, &ty, &key(), &mut out);
            out.clear();
            let _ = mask.apply_binary(&value, &ty, &key(), &mut out);
        }
    }
}
