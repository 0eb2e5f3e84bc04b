//! Reading a spanned TOML table by hand, so that every complaint can name its line and dotted key
//! (serde's derive would report most problems without the key or without the position).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{ConfigError, Location};

/// The text being read and the file it came from: what turns a span into a message.
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    pub source: &'a Path,
    /// The configuration file's folder, made absolute so that resolved paths stay right even if
    /// the process later changes its working directory.
    base: PathBuf,
}

impl<'a> Doc<'a> {
    pub fn new(text: &'a str, source: &'a Path) -> Self {
        let parent = match source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // `absolute` only fails without a working directory; the relative folder still works then.
        let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        Doc { text, source, base }
    }

    /// Resolves a path written in the file against the configuration file's folder rather than
    /// wherever jitgate happens to be started.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.base.join(path)
    }

    pub fn error(&self, span: &Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            at: Location::of(self.source, self.text, span),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// A table of the file with its dotted key and the span that defines it.
pub(crate) struct Section<'a> {
    doc: &'a Doc<'a>,
    key: String,
    /// For `[a.b]` this is the header line, which is where a missing key should be added.
    span: Range<usize>,
    table: &'a DeTable<'a>,
}

impl<'a> Section<'a> {
    pub fn root(doc: &'a Doc<'a>, table: &'a Spanned<DeTable<'a>>) -> Self {
        Section {
            doc,
            key: String::new(),
            span: table.span(),
            table: table.get_ref(),
        }
    }

    /// Stands in for a table the file leaves out (with `empty`), so defaults live in one place.
    pub fn absent(doc: &'a Doc<'a>, key: &str, empty: &'a DeTable<'a>) -> Self {
        Section {
            doc,
            key: key.to_string(),
            span: 0..0,
            table: empty,
        }
    }

    /// Refuses keys outside `valid`: a misspelt optional key would otherwise be silently ignored.
    pub fn only(&self, valid: &[&str]) -> Result<(), ConfigError> {
        match self
            .entries()
            .into_iter()
            .find(|f| !valid.contains(&f.name))
        {
            Some(f) => {
                Err(f.key_error(format!("unknown key; valid keys are: {}", valid.join(", "))))
            }
            None => Ok(()),
        }
    }

    /// Entries in the order the file names them (the parsed map itself is sorted by name).
    pub fn entries(&self) -> Vec<Field<'a>> {
        let mut fields: Vec<Field<'a>> = self.table.iter().map(|(k, v)| self.field(k, v)).collect();
        fields.sort_by_key(|f| f.key_span.start);
        fields
    }

    pub fn get(&self, name: &str) -> Option<Field<'a>> {
        self.table
            .get_key_value(name)
            .map(|(k, v)| self.field(k, v))
    }

    pub fn required(&self, name: &str) -> Result<Field<'a>, ConfigError> {
        self.get(name).ok_or_else(|| self.missing(name))
    }

    /// An error about the table as a whole, pointing at its header.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        self.doc.error(&self.span, &self.key, message)
    }

    /// "missing key": points at the table's header, where the key should be added.
    pub fn missing(&self, name: &str) -> ConfigError {
        let key = if self.key.is_empty() { name } else { &self.key };
        self.doc
            .error(&self.span, key, format!("missing key \"{name}\""))
    }

    /// Reads `name` with `read` if present.
    pub fn optional<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Field<'a>) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name).map(|f| read(&f)).transpose()
    }

    fn field(
        &self,
        key: &'a Spanned<std::borrow::Cow<'a, str>>,
        value: &'a Spanned<DeValue<'a>>,
    ) -> Field<'a> {
        let name: &'a str = key.get_ref();
        // Quote names a reader could not type back as a bare key, e.g. `resources."a.b"`.
        let bare = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let part = if bare {
            name.to_string()
        } else {
            format!("{name:?}")
        };
        Field {
            doc: self.doc,
            name,
            key: if self.key.is_empty() {
                part
            } else {
                format!("{}.{part}", self.key)
            },
            key_span: key.span(),
            value,
        }
    }
}

/// One value of the file with its dotted key and position.
pub(crate) struct Field<'a> {
    doc: &'a Doc<'a>,
    pub name: &'a str,
    key: String,
    pub key_span: Range<usize>,
    value: &'a Spanned<DeValue<'a>>,
}

impl<'a> Field<'a> {
    /// An error pointing at this value.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        self.doc.error(&self.value.span(), &self.key, message)
    }

    /// An error pointing at the key itself, for problems with the key rather than its value.
    pub fn key_error(&self, message: impl Into<String>) -> ConfigError {
        self.doc.error(&self.key_span, &self.key, message)
    }

    /// "expected WHAT, found VALUE".
    fn expected(&self, what: &str) -> ConfigError {
        let value = self.value.get_ref();
        let found = match value {
            // A mistyped password must not reach a log through its error message.
            DeValue::String(s) if self.name == "password" && !s.is_empty() => "a string".into(),
            DeValue::String(s) => format!("{s:?}"),
            _ if self.name == "password" => format!("a TOML {}", value.type_str()),
            DeValue::Integer(i) => i.to_string(),
            DeValue::Float(x) => x.to_string(),
            DeValue::Boolean(b) => b.to_string(),
            DeValue::Datetime(d) => d.to_string(),
            DeValue::Array(_) => "an array".to_string(),
            DeValue::Table(_) => "a table".to_string(),
        };
        self.error(format!("expected {what}, found {found}"))
    }

    /// A non-empty string: an empty host, user or file name is always a mistake.
    pub fn str(&self) -> Result<&'a str, ConfigError> {
        match self.value.get_ref() {
            DeValue::String(s) if !s.is_empty() => Ok(s),
            _ => Err(self.expected("a non-empty string")),
        }
    }

    pub fn integer(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        let n = match self.value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        n.filter(|n| (min..=max).contains(n))
            .ok_or_else(|| self.expected(&format!("an integer from {min} to {max}")))
    }

    /// A string parsed with `FromStr`, e.g. a socket address; `what` describes the expected form.
    pub fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, ConfigError> {
        match self.value.get_ref() {
            DeValue::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| self.expected(what))
    }

    pub fn bool(&self) -> Result<bool, ConfigError> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.expected("true or false")),
        }
    }

    /// A humantime duration such as "30s" or "5m"; zero would make every attempt time out at once.
    pub fn duration(&self) -> Result<Duration, ConfigError> {
        let parsed = match self.value.get_ref() {
            DeValue::String(s) => humantime::parse_duration(s).ok(),
            _ => None,
        };
        parsed
            .filter(|d| !d.is_zero())
            .ok_or_else(|| self.expected("a positive duration such as \"30s\" or \"5m\""))
    }

    /// A humantime duration where zero means "at once", e.g. "0s" or "30s".
    pub fn duration_or_zero(&self) -> Result<Duration, ConfigError> {
        let parsed = match self.value.get_ref() {
            DeValue::String(s) => humantime::parse_duration(s).ok(),
            _ => None,
        };
        parsed.ok_or_else(|| self.expected("a duration such as \"30s\" or \"0s\""))
    }

    /// One of a fixed set of words, e.g. a TLS mode; `name` gives each option's word.
    pub fn choice<T: Copy>(
        &self,
        options: &[T],
        name: fn(T) -> &'static str,
    ) -> Result<T, ConfigError> {
        let chosen = match self.value.get_ref() {
            DeValue::String(s) => options.iter().copied().find(|o| name(*o) == s),
            _ => None,
        };
        chosen.ok_or_else(|| {
            let words: Vec<String> = options
                .iter()
                .map(|o| format!("\"{}\"", name(*o)))
                .collect();
            self.expected(&format!("one of {}", words.join(", ")))
        })
    }

    /// The elements of an array (also `[[name]]` tables), each keyed `name[i]` (counted from 0).
    pub fn items(&self) -> Result<Vec<Field<'a>>, ConfigError> {
        let DeValue::Array(items) = self.value.get_ref() else {
            return Err(self.expected("an array"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Field {
                doc: self.doc,
                name: self.name,
                key: format!("{}[{i}]", self.key),
                key_span: value.span(),
                value,
            })
            .collect())
    }

    /// An array of non-empty strings, e.g. group names; each element's error names its index.
    pub fn strings(&self) -> Result<Vec<String>, ConfigError> {
        self.items()?
            .iter()
            .map(|item| item.str().map(str::to_string))
            .collect()
    }

    pub fn table(&self) -> Result<Section<'a>, ConfigError> {
        match self.value.get_ref() {
            DeValue::Table(table) => Ok(Section {
                doc: self.doc,
                key: self.key.clone(),
                span: self.value.span(),
                table,
            }),
            _ => Err(self.expected("a table")),
        }
    }

    /// A path; relative ones are taken from the configuration file's folder.
    pub fn path(&self) -> Result<PathBuf, ConfigError> {
        Ok(self.doc.resolve(self.str()?))
    }

    /// A path that must name an existing file now, rather than fail at the first connection.
    pub fn existing_file(&self) -> Result<PathBuf, ConfigError> {
        let path = self.path()?;
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(path),
            Ok(_) => Err(self.error(format!("{} is not a file", path.display()))),
            Err(e) => Err(self.error(format!("cannot use {}: {e}", path.display()))),
        }
    }
}
