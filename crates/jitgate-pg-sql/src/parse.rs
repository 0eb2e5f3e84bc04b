//! Parsing with libpg_query, straight to the protobuf parse tree.
//!
//! `pg_query::parse` calls the same C function, then builds summaries of the tree (tables,
//! aliases, functions, filter columns) that jitgate never reads: that is more than half of its
//! cost on a typical statement, and its walk indexes into lists it assumes non-empty. Calling
//! the parser directly keeps the hot path to parse + decode, with nothing that can panic.
//!
//! The declarations mirror `pg_query.h` of the libpg_query bundled with `pg_query` 18.1.0 (the
//! version is pinned in Cargo.toml for this reason); the `pg_query` crate links the library.

use std::ffi::{c_char, c_int, CStr, CString};

use pg_query::protobuf::ParseResult;
use pg_query::ParserOptions;
use prost::Message;

use crate::error::ParseError;

#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    cursorpos: c_int,
    context: *mut c_char,
}

#[repr(C)]
struct PgQueryProtobuf {
    len: usize,
    data: *mut c_char,
}

#[repr(C)]
struct PgQueryProtobufParseResult {
    parse_tree: PgQueryProtobuf,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

extern "C" {
    fn pg_query_parse_protobuf_opts(
        input: *const c_char,
        parser_options: c_int,
    ) -> PgQueryProtobufParseResult;
    fn pg_query_free_protobuf_parse_result(result: PgQueryProtobufParseResult);
}

/// Parses `sql` with PostgreSQL's grammar into pg_query's protobuf tree.
pub(crate) fn parse(sql: &str, options: ParserOptions) -> Result<ParseResult, ParseError> {
    // The wire protocol ends a query string at its first NUL, as PostgreSQL does; a NUL inside
    // the text given here is refused rather than guessed about.
    let input = CString::new(sql).map_err(|_| ParseError {
        message: "the statement text contains a NUL byte".into(),
    })?;
    // SAFETY: `input` is a NUL-terminated string that outlives the call. libpg_query returns
    // either an error or a protobuf buffer of `len` bytes (thread-local memory contexts make it
    // safe to call from any thread); both stay valid until the free below, and nothing read from
    // them is kept past it (the message is copied, the tree decoded into owned values).
    unsafe {
        let result = pg_query_parse_protobuf_opts(input.as_ptr(), options.bits());
        let outcome = if !result.error.is_null() {
            let message = (*result.error).message;
            let message = if message.is_null() {
                "syntax error".to_string()
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            };
            Err(ParseError { message })
        } else {
            let tree = &result.parse_tree;
            let bytes: &[u8] = if tree.data.is_null() || tree.len == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(tree.data.cast::<u8>(), tree.len)
            };
            ParseResult::decode(bytes).map_err(|e| ParseError {
                message: format!("the parse tree could not be decoded: {e}"),
            })
        };
        pg_query_free_protobuf_parse_result(result);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_pg_query() {
        for sql in [
            "SELECT a, b FROM t WHERE c = $1",
            "WITH x AS (SELECT 1) SELECT * FROM x; COPY t TO STDOUT",
            "",
        ] {
            let ours = parse(sql, ParserOptions::DEFAULT).expect("parses");
            let theirs = pg_query::parse(sql, 0).expect("parses");
            assert_eq!(ours, theirs.protobuf, "{sql}");
        }
    }

    #[test]
    fn errors_and_nul_bytes() {
        let e = parse("SELEC 1", ParserOptions::DEFAULT).expect_err("syntax error");
        assert!(e.message.contains("syntax error"), "{e}");
        assert!(parse("SELECT 1\0; DROP TABLE t", ParserOptions::DEFAULT).is_err());
    }

    /// Trees deeper than prost's recursion limit (100 messages) do not decode: such statements
    /// are refused as unparseable, and no walker ever recurses deeper than that.
    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("SELECT {}1{}", "(SELECT ".repeat(300), ")".repeat(300));
        assert!(parse(&deep, ParserOptions::DEFAULT).is_err());
        let chain = format!("SELECT 1{}", " + 1".repeat(20_000));
        assert!(parse(&chain, ParserOptions::DEFAULT).is_err());
    }
}
