//! Errors that say where: file, line, column and dotted key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The text is not valid TOML (before any key is known).
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// A key is missing, unknown, of the wrong type, out of range or inconsistent with another.
    #[error("{at}: {key}: {message}")]
    Invalid {
        at: Location,
        /// Dotted key, e.g. `resources.prod-pg.upstream.port`; for a missing key, the table.
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// Where in the file the problem is, when the file could be read.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { at, .. } | ConfigError::Invalid { at, .. } => Some(at),
        }
    }

    /// The dotted key the problem is about, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A position in the configuration file; displays as `file:line:column` (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    /// Counted in characters, not bytes, so it matches what an editor shows.
    pub column: usize,
}

impl Location {
    /// Converts the byte offset where `span` starts into line and column.
    pub(crate) fn of(file: &Path, text: &str, span: &Range<usize>) -> Location {
        // Spans come from the parser and fall on character boundaries; `get` only guards against
        // a span past the end, which must not turn into a panic.
        let before = text.get(..span.start).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: file.to_path_buf(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}
