//! Errors: statements that do not parse, and statements refused for a subject.

use jitgate_sqlstate::SqlState;
use std::fmt;

/// The text is not valid PostgreSQL (as libpg_query, i.e. PostgreSQL's parser, sees it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

/// Why a statement is not sent upstream. The PostgreSQL front turns it into an ErrorResponse with
/// this SQLSTATE and message, so both are written for the person at the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub sqlstate: SqlState,
    pub message: String,
}

impl Refusal {
    /// 42501 (insufficient_privilege): the statement could read protected data around the
    /// masking rewrite, or jitgate cannot tell that it does not.
    pub fn insufficient_privilege(message: impl Into<String>) -> Refusal {
        Refusal {
            sqlstate: SqlState::INSUFFICIENT_PRIVILEGE,
            message: message.into(),
        }
    }

    /// 42601 (syntax_error): PostgreSQL's own grammar rejected the text; it would not be analysable, so it is not sent.
    pub fn syntax_error(e: ParseError) -> Refusal {
        Refusal {
            sqlstate: SqlState::SYNTAX_ERROR,
            message: e.message,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.sqlstate)
    }
}

impl std::error::Error for Refusal {}
