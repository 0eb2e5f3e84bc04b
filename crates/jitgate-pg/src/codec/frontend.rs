//! Messages database clients send after start-up: their tags, and borrowed views of the ones
//! jitgate reads (Query, Parse, Bind, Execute, Close, Describe). A view decodes a message body
//! once, without copying; a body that does not hold what its tag promises is a typed
//! [`ProtocolError::Malformed`] (SQLSTATE 08P01).

use super::{take_cstr, ProtocolError};

pub const QUERY: u8 = b'Q';
pub const PARSE: u8 = b'P';
pub const BIND: u8 = b'B';
pub const EXECUTE: u8 = b'E';
pub const CLOSE: u8 = b'C';
pub const DESCRIBE: u8 = b'D';
pub const SYNC: u8 = b'S';
pub const FLUSH: u8 = b'H';
pub const FUNCTION_CALL: u8 = b'F';
pub const TERMINATE: u8 = b'X';
pub const COPY_DATA: u8 = b'd';
pub const COPY_DONE: u8 = b'c';
pub const COPY_FAIL: u8 = b'f';
/// PasswordMessage, SASLInitialResponse and SASLResponse share this tag.
pub const PASSWORD: u8 = b'p';

/// A Sync, whole: what jitgate sends upstream in place of a refused statement.
pub const SYNC_MESSAGE: [u8; 5] = [SYNC, 0, 0, 0, 4];

/// Query: one string holding one or more statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    pub sql: &'a [u8],
}

impl<'a> Query<'a> {
    pub fn decode(mut body: &'a [u8]) -> Result<Query<'a>, ProtocolError> {
        let sql = take_cstr(&mut body, "Query")?;
        Ok(Query { sql })
    }
}

/// Parse: a statement name, its text, and the parameter types (`tail`, kept as bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parse<'a> {
    pub name: &'a [u8],
    pub sql: &'a [u8],
    /// The parameter type count and OIDs, as sent.
    pub tail: &'a [u8],
}

impl<'a> Parse<'a> {
    pub fn decode(mut body: &'a [u8]) -> Result<Parse<'a>, ProtocolError> {
        let name = take_cstr(&mut body, "Parse")?;
        let sql = take_cstr(&mut body, "Parse")?;
        Ok(Parse {
            name,
            sql,
            tail: body,
        })
    }
}

/// Bind: the portal made, and the prepared statement it is made from (parameters not decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bind<'a> {
    pub portal: &'a [u8],
    pub statement: &'a [u8],
}

impl<'a> Bind<'a> {
    pub fn decode(mut body: &'a [u8]) -> Result<Bind<'a>, ProtocolError> {
        let portal = take_cstr(&mut body, "Bind")?;
        let statement = take_cstr(&mut body, "Bind")?;
        Ok(Bind { portal, statement })
    }
}

/// Execute: the portal to run, and the row limit (0: all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execute<'a> {
    pub portal: &'a [u8],
    pub max_rows: i32,
}

impl<'a> Execute<'a> {
    pub fn decode(mut body: &'a [u8]) -> Result<Execute<'a>, ProtocolError> {
        let portal = take_cstr(&mut body, "Execute")?;
        let max_rows = body
            .first_chunk::<4>()
            .map(|b| i32::from_be_bytes(*b))
            .ok_or(ProtocolError::Malformed { what: "Execute" })?;
        Ok(Execute { portal, max_rows })
    }
}

/// What a Close or Describe names: a prepared statement or a portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

/// Close and Describe share one shape: `S` or `P`, then a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<'a> {
    pub target: Target,
    pub name: &'a [u8],
}

/// Close of a prepared statement or portal.
pub type Close<'a> = Named<'a>;
/// Describe of a prepared statement or portal.
pub type Describe<'a> = Named<'a>;

impl<'a> Named<'a> {
    /// Reads a Close or Describe body; `what` names the message in the error.
    pub fn decode(body: &'a [u8], what: &'static str) -> Result<Named<'a>, ProtocolError> {
        let malformed = ProtocolError::Malformed { what };
        let (&kind, mut rest) = body.split_first().ok_or(malformed)?;
        let target = match kind {
            b'S' => Target::Statement,
            b'P' => Target::Portal,
            _ => return Err(ProtocolError::Malformed { what }),
        };
        let name = take_cstr(&mut rest, what)?;
        Ok(Named { target, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_borrow_the_fields_of_well_formed_bodies() {
        assert_eq!(Query::decode(b"select 1\0").unwrap().sql, b"select 1");
        let p = Parse::decode(b"s1\0select $1\0\0\x01\0\0\0\x17").unwrap();
        assert_eq!((p.name, p.sql), (&b"s1"[..], &b"select $1"[..]));
        assert_eq!(p.tail, b"\0\x01\0\0\0\x17");
        let b = Bind::decode(b"p1\0s1\0\0\0\0\0\0\0").unwrap();
        assert_eq!((b.portal, b.statement), (&b"p1"[..], &b"s1"[..]));
        let e = Execute::decode(b"p1\0\0\0\0\x05").unwrap();
        assert_eq!((e.portal, e.max_rows), (&b"p1"[..], 5));
        let c = Named::decode(b"Sname\0", "Close").unwrap();
        assert_eq!((c.target, c.name), (Target::Statement, &b"name"[..]));
    }

    #[test]
    fn truncated_or_unknown_bodies_are_protocol_errors() {
        for bad in [
            Query::decode(b"select 1").err(),
            Parse::decode(b"s1\0select").err(),
            Bind::decode(b"p1\0").err(),
            Execute::decode(b"p1\0\0\0").err(),
            Named::decode(b"Xname\0", "Close").err(),
            Named::decode(b"", "Describe").err(),
        ] {
            assert!(matches!(bad, Some(ProtocolError::Malformed { .. })));
        }
    }
}
