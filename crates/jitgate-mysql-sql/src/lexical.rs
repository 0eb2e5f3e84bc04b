//! Checks on the text before (or instead of) parsing. Each over-approximates: it may refuse
//! or parse a statement that did not need it, never the other way round.

/// Whether the text holds `/*!` or `/*M!` anywhere (inside a string literal too, which only
/// over-refuses): the server runs what such a comment holds, the parser skips it.
pub fn has_executable_comment(sql: &str) -> bool {
    let b = sql.as_bytes();
    b.windows(3).any(|w| w == b"/*!") || b.windows(4).any(|w| w.eq_ignore_ascii_case(b"/*m!"))
}

/// Whether the text holds the word `kill` in any case, anywhere: only such texts need parsing in
/// a clear session, where `KILL id` must be mapped to the upstream connection.
pub fn mentions_kill(sql: &str) -> bool {
    sql.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"kill"))
}

/// Whether the server lexes statements the way the parser does under `sql_mode` (the value of
/// `@@SESSION.sql_mode`): double quotes delimit strings (no `ANSI_QUOTES`, which `ANSI` implies)
/// and a backslash escapes in strings (no `NO_BACKSLASH_ESCAPES`).
pub fn lexing_modes_ok(sql_mode: &str) -> bool {
    !sql_mode.split(',').any(|m| {
        let m = m.trim();
        m.eq_ignore_ascii_case("ANSI_QUOTES")
            || m.eq_ignore_ascii_case("ANSI")
            || m.eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES")
    })
}

/// Character sets in which the bytes of quotes and backslashes are never part of a multi-byte
/// character, so that the server and the parser (reading UTF-8) end strings at the same byte.
/// (In GBK, Big5, SJIS and the like, `0xbf 0x5c` is one character, and a backslash can vanish
/// into it.)
pub fn safe_charset(name: &str) -> bool {
    let name = name.trim_matches(|c| c == '\'' || c == '"' || c == '`');
    ["utf8mb4", "utf8", "utf8mb3", "latin1", "ascii", "binary"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s))
}

/// Whether a handshake's collation id names a collation of a [`safe_charset`] (utf8mb4,
/// utf8mb3, latin1, ascii, binary).
pub fn safe_collation_id(id: u8) -> bool {
    matches!(id, 5 | 8 | 11 | 15 | 31 | 33 | 45..=49 | 63 | 65 | 83 | 94 | 192..=247 | 255)
}
