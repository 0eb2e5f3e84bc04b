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
