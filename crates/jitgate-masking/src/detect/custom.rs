//! Custom detectors: a regular expression and an optional checksum over what it matches.

use std::ops::Range;

use regex::bytes::Regex;

use super::validate::{luhn_valid, mod97_valid};
use super::{Detector, Kind};

/// A check a custom detector's matches must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    /// Every match counts.
    None,
    /// The match's digits pass Luhn (card-like identifiers).
    Luhn,
    /// The match passes ISO 7064 mod 97-10 as IBANs do (first four characters moved to the end).
    Mod97,
}

impl Validator {
    pub const ALL: [Validator; 3] = [Validator::None, Validator::Luhn, Validator::Mod97];

    pub fn name(self) -> &'static str {
        match self {
            Validator::None => "none",
            Validator::Luhn => "luhn",
            Validator::Mod97 => "mod97",
        }
    }

    fn accepts(self, found: &[u8]) -> bool {
        match self {
            Validator::None => true,
            Validator::Luhn => luhn_valid(found),
            Validator::Mod97 => mod97_valid(found),
        }
    }
}

/// A detector from configuration: `name`, a `pattern` (Rust `regex` syntax, matched against
/// bytes) and a [`Validator`].
#[derive(Debug, Clone)]
pub struct CustomDetector {
    name: String,
    pattern: Regex,
    validator: Validator,
}

/// Longest compiled pattern accepted: a user pattern must not cost the gateway unbounded memory.
const MAX_PATTERN_BYTES: usize = 1 << 20;

impl CustomDetector {
    /// Checks the name (lower-case letters, digits and `_`, not a built-in kind's name) and
    /// compiles the pattern; the error says what is wrong.
    pub fn new(name: &str, pattern: &str, validator: Validator) -> Result<CustomDetector, String> {
        let name_ok = !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err("a detector name has 1 to 40 lower-case letters, digits or '_'".into());
        }
        if Kind::from_name(name).is_some() {
            return Err(format!("\"{name}\" is a built-in detector"));
        }
        let pattern = regex::bytes::RegexBuilder::new(pattern)
            .size_limit(MAX_PATTERN_BYTES)
            .build()
            .map_err(|e| format!("invalid pattern: {e}"))?;
        if pattern.is_match(b"") {
            return Err(
                "the pattern matches the empty string, so it would match everywhere".into(),
            );
        }
        Ok(CustomDetector {
            name: name.to_string(),
            pattern,
            validator,
        })
    }

    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    pub fn validator(&self) -> Validator {
        self.validator
    }
}

impl Detector for CustomDetector {
    fn name(&self) -> &str {
        &self.name
    }

    fn find(&self, text: &[u8], out: &mut Vec<Range<usize>>) {
        out.extend(
            self.pattern
                .find_iter(text)
                .filter(|m| self.validator.accepts(m.as_bytes()))
                .map(|m| m.range()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_names_and_validators() {
        let emp =
            CustomDetector::new("employee_id", "EMP-[0-9]{6}", Validator::None).expect("valid");
        let mut found = Vec::new();
        emp.find(b"by EMP-123456 and EMP-12", &mut found);
        assert_eq!(found, vec![3..13]);
        let luhn = CustomDetector::new("loyalty", r"\b[0-9]{8}\b", Validator::Luhn).expect("valid");
        found.clear();
        luhn.find(b"12345674 12345678", &mut found);
        assert_eq!(found, vec![0..8]);
        assert!(CustomDetector::new("ssn", "x", Validator::None).is_err());
        assert!(CustomDetector::new("Bad Name", "x", Validator::None).is_err());
        assert!(CustomDetector::new("empty", "a*", Validator::None).is_err());
        assert!(CustomDetector::new("broken", "(", Validator::None).is_err());
    }
}
