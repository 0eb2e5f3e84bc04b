use super::*;

fn key() -> MaskKey {
    MaskKey::new(b"0123456789abcdef", "test").expect("key")
}

/// Tokenize and scan have no exact MariaDB form: they are refused, never approximated.
#[test]
fn masks_without_an_exact_form_are_refused() {
    for mask in [Mask::Tokenize, Mask::Scan] {
        assert!(matches!(
            mask.mysql_expr("t.c", &MySqlType::Text, &key()),
            Err(MaskError::NotInMySql { .. })
        ));
    }
    assert!(matches!(
        Mask::Email.mysql_expr("t.c", &MySqlType::Int, &key()),
        Err(MaskError::NotApplicable { .. })
    ));
    assert!(matches!(
        Mask::Hash.mysql_expr("t.c", &MySqlType::Text, &MaskKey::missing()),
        Err(MaskError::KeyMissing { .. })
    ));
    let invalid = MySqlType::Decimal {
        precision: 0,
        scale: 0,
    };
    assert!(Mask::Redact.mysql_expr("t.c", &invalid, &key()).is_err());
}

/// String constants (pads, `***`) are hex literals: no quote or backslash in them can depend on
/// `sql_mode` (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) or end the literal.
#[test]
fn constants_do_not_depend_on_sql_mode() {
    let partial = Mask::Partial {
        keep_first: 1,
        keep_last: 1,
        pad: '\'',
    };
    let expr = partial
        .mysql_expr("t.c", &MySqlType::Text, &key())
        .expect("partial");
    assert!(expr.contains("X'27'"), "{expr}");
    for mask in [partial, Mask::Email, Mask::Redact, Mask::Hash] {
        let expr = mask
            .mysql_expr("t.c", &MySqlType::Text, &key())
            .expect("applies");
        assert!(!expr.contains('\\') && !expr.contains('"'), "{expr}");
        assert!(!expr.contains("'***'"), "{expr}");
    }
}
