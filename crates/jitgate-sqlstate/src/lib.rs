//! SQLSTATE codes as one type. Error codes cross several crates — the SQL analysis refuses with
//! one, the PostgreSQL front writes it into an ErrorResponse, the masking engine decides by its
//! class whether an error text may carry data, the audit trail records it — and a `&str` here,
//! a `[u8; 5]` there and a `String` elsewhere invited codes of the wrong length and conversions
//! at every border. [`SqlState`] is five ASCII digits or upper-case letters, `Copy`, with named
//! constants for the codes jitgate uses.

use std::fmt;
use std::str::FromStr;

/// A SQLSTATE: five characters, each `0`–`9` or `A`–`Z`; the first two are its class.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SqlState([u8; 5]);

/// Bytes that are not a SQLSTATE (not five characters of `0`–`9` and `A`–`Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSqlState;

impl fmt::Display for InvalidSqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a SQLSTATE: five characters 0-9 or A-Z expected")
    }
}

impl std::error::Error for InvalidSqlState {}

const fn valid(code: &[u8]) -> bool {
    if code.len() != 5 {
        return false;
    }
    let mut i = 0;
    while i < 5 {
        if !matches!(code[i], b'0'..=b'9' | b'A'..=b'Z') {
            return false;
        }
        i += 1;
    }
    true
}

impl SqlState {
    /// A code known when the program is written; an invalid one fails to compile where it is
    /// used in a constant, and panics otherwise.
    pub const fn from_static(code: &'static str) -> SqlState {
        let b = code.as_bytes();
        assert!(valid(b), "not a SQLSTATE");
        SqlState([b[0], b[1], b[2], b[3], b[4]])
    }

    /// Reads a code from the wire (an ErrorResponse's `C` field) or a record.
    pub fn from_bytes(code: &[u8]) -> Result<SqlState, InvalidSqlState> {
        if !valid(code) {
            return Err(InvalidSqlState);
        }
        Ok(SqlState([code[0], code[1], code[2], code[3], code[4]]))
    }

    /// The five characters, e.g. `"08P01"`.
    pub fn as_str(&self) -> &str {
        // Checked on construction: ASCII digits and letters only.
        std::str::from_utf8(&self.0).unwrap_or("XX000")
    }

    pub fn as_bytes(&self) -> &[u8; 5] {
        &self.0
    }

    pub fn into_bytes(self) -> [u8; 5] {
        self.0
    }

    /// The class: the first two characters, e.g. `"53"` (insufficient resources) for `53300`.
    pub fn class(&self) -> &str {
        &self.as_str()[..2]
    }

    /// The code of the class itself (`53000` for `53300`), as PostgreSQL names a class.
    pub fn class_code(&self) -> SqlState {
        SqlState([self.0[0], self.0[1], b'0', b'0', b'0'])
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlState({})", self.as_str())
    }
}

impl FromStr for SqlState {
    type Err = InvalidSqlState;
    fn from_str(s: &str) -> Result<SqlState, InvalidSqlState> {
        SqlState::from_bytes(s.as_bytes())
    }
}

impl TryFrom<&[u8]> for SqlState {
    type Error = InvalidSqlState;
    fn try_from(code: &[u8]) -> Result<SqlState, InvalidSqlState> {
        SqlState::from_bytes(code)
    }
}

impl TryFrom<&str> for SqlState {
    type Error = InvalidSqlState;
    fn try_from(code: &str) -> Result<SqlState, InvalidSqlState> {
        SqlState::from_bytes(code.as_bytes())
    }
}

impl From<SqlState> for [u8; 5] {
    fn from(s: SqlState) -> [u8; 5] {
        s.0
    }
}

impl PartialEq<str> for SqlState {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for SqlState {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl SqlState {
    // Class 08, connection exception.
    /// 08001: the client could not establish a connection (jitgate to the upstream).
    pub const SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: SqlState =
        SqlState::from_static("08001");
    /// 08006: the connection failed.
    pub const CONNECTION_FAILURE: SqlState = SqlState::from_static("08006");
    /// 08P01: the peer broke the wire protocol.
    pub const PROTOCOL_VIOLATION: SqlState = SqlState::from_static("08P01");
    // Class 0A, feature not supported.
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState::from_static("0A000");
    // Class 22, data exception.
    pub const DIVISION_BY_ZERO: SqlState = SqlState::from_static("22012");
    /// 22021: bytes that are not text in the session's encoding.
    pub const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState::from_static("22021");
    // Class 25, invalid transaction state.
    /// 25006: a write in a read-only transaction (or under a read-only grant).
    pub const READ_ONLY_SQL_TRANSACTION: SqlState = SqlState::from_static("25006");
    // Class 28, invalid authorization specification.
    pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState = SqlState::from_static("28000");
    /// 28P01: wrong password (or no credential, or no grant behind it).
    pub const INVALID_PASSWORD: SqlState = SqlState::from_static("28P01");
    // Class 3D, invalid catalog name.
    /// 3D000: no such database (here: a database the resource does not serve).
    pub const INVALID_CATALOG_NAME: SqlState = SqlState::from_static("3D000");
    // Class 42, syntax error or access rule violation.
    /// 42501: not allowed for this subject (masking, read-only escapes).
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState::from_static("42501");
    /// 42601: the text does not parse.
    pub const SYNTAX_ERROR: SqlState = SqlState::from_static("42601");
    pub const UNDEFINED_COLUMN: SqlState = SqlState::from_static("42703");
    // Class 53, insufficient resources.
    pub const INSUFFICIENT_RESOURCES: SqlState = SqlState::from_static("53000");
    /// 53300: the server has no connection slot left.
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState::from_static("53300");
    // Class 54, program limit exceeded.
    pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState::from_static("54000");
    // Class 57, operator intervention.
    pub const QUERY_CANCELED: SqlState = SqlState::from_static("57014");
    /// 57P01: the session is being ended (grant ended, killed, gateway shutting down).
    pub const ADMIN_SHUTDOWN: SqlState = SqlState::from_static("57P01");
    /// 57P03: the server is starting up, shutting down or in recovery.
    pub const CANNOT_CONNECT_NOW: SqlState = SqlState::from_static("57P03");
    // Class 58, system error.
    pub const SYSTEM_ERROR: SqlState = SqlState::from_static("58000");
    // Class XX, internal error.
    pub const INTERNAL_ERROR: SqlState = SqlState::from_static("XX000");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text_and_bytes() {
        let s: SqlState = "53300".parse().unwrap();
        assert_eq!(s, SqlState::TOO_MANY_CONNECTIONS);
        assert_eq!(s.as_str(), "53300");
        assert_eq!(s.as_bytes(), b"53300");
        assert_eq!(
            SqlState::from_bytes(b"08P01"),
            Ok(SqlState::PROTOCOL_VIOLATION)
        );
        assert_eq!(s.to_string(), "53300");
        assert_eq!(s, "53300");
    }

    #[test]
    fn the_class_is_the_first_two_characters() {
        assert_eq!(SqlState::TOO_MANY_CONNECTIONS.class(), "53");
        assert_eq!(
            SqlState::TOO_MANY_CONNECTIONS.class_code(),
            SqlState::INSUFFICIENT_RESOURCES
        );
        assert_eq!(SqlState::PROTOCOL_VIOLATION.class(), "08");
    }

    #[test]
    fn anything_but_five_digits_or_capitals_is_refused() {
        for bad in [
            &b""[..],
            b"0800",
            b"080060",
            b"08p01",
            b"08 01",
            b"\0\0\0\0\0",
            b"53\xff00",
        ] {
            assert_eq!(SqlState::from_bytes(bad), Err(InvalidSqlState), "{bad:?}");
        }
    }
}
