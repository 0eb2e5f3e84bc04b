//! `[masking]`: masking rules, the masking key, custom detectors and the result stream's
//! detectors, read into `jitgate_masking`'s types (the masking engine is their one home; this
//! module only reads the file and points at the line that is wrong).

use std::env::VarError;

use jitgate_masking::{
    ColumnPattern, CustomDetector, Generalization, Glob, Kind, Mask, MaskKey, MaskingPolicy,
    MaskingRule, PolicySettings, Principal, Validator,
};

use crate::error::ConfigError;
use crate::rules::resource_name_pattern;
use crate::section::{Field, Section};

const MASKS: [&str; 8] = [
    "redact",
    "partial",
    "email",
    "hash",
    "tokenize",
    "null",
    "generalize",
    "scan",
];
/// Keys that only some masks take, with the mask that takes them.
const MASK_OPTIONS: [(&str, &str); 5] = [
    ("keep_first", "partial"),
    ("keep_last", "partial"),
    ("pad", "partial"),
    ("granularity", "generalize"),
    ("bucket", "generalize"),
];
/// Longer prefixes or suffixes than this are surely a typo (and would show whole values).
const MAX_KEEP: i64 = 1000;

/// Reads `[masking]`; absent, nothing is masked. `resources` are the names rules may name.
pub(crate) fn read_masking(
    root: &Section<'_>,
    resources: &[&str],
) -> Result<MaskingPolicy, ConfigError> {
    let Some(field) = root.get("masking") else {
        return Ok(MaskingPolicy::disabled());
    };
    let s = field.table()?;
    s.only(&[
        "key_env",
        "key_file",
        "clear_groups",
        "rules",
        "detectors",
        "stream",
    ])?;
    let key = read_key(&s)?;
    let mut rules = Vec::new();
    if let Some(f) = s.get("rules") {
        for item in f.items()? {
            rules.push(read_rule(&item, resources, &key)?);
        }
    }
    let custom_detectors = read_detectors(&s)?;
    let stream_detectors = match s.get("stream") {
        Some(f) => read_stream(&f.table()?, &custom_detectors)?,
        None => None,
    };
    let settings = PolicySettings {
        key,
        clear_groups: s
            .optional("clear_groups", Field::strings)?
            .unwrap_or_default(),
        rules,
        custom_detectors,
        stream_detectors,
    };
    // Every inconsistency the policy could find was reported above with its line.
    MaskingPolicy::from_config(settings).map_err(|e| s.error(e.to_string()))
}

/// `key_env` or `key_file`; none is fine until a rule needs a key.
fn read_key(s: &Section<'_>) -> Result<MaskKey, ConfigError> {
    let (env, file) = (s.get("key_env"), s.get("key_file"));
    let (value, origin, field) = match (env, file) {
        (None, None) => return Ok(MaskKey::missing()),
        (Some(_), Some(f)) => {
            return Err(f.key_error("key_env is already given; use at most one of them"))
        }
        (Some(f), None) => {
            let var = f.str()?;
            let value = std::env::var(var).map_err(|e| match e {
                VarError::NotPresent => f.error(format!("environment variable {var} is not set")),
                VarError::NotUnicode(_) => {
                    f.error(format!("environment variable {var} is not valid UTF-8"))
                }
            })?;
            (value.into_bytes(), format!("env {var}"), f)
        }
        (None, Some(f)) => {
            let path = f.path()?;
            let mut bytes = std::fs::read(&path)
                .map_err(|e| f.error(format!("cannot read key file {}: {e}", path.display())))?;
            // Files written by `echo` or editors end in a newline that is not part of the key.
            while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                bytes.pop();
            }
            (bytes, format!("file {}", path.display()), f)
        }
    };
    MaskKey::new(&value, origin).map_err(|e| field.error(e.to_string()))
}

fn read_rule(
    item: &Field<'_>,
    resources: &[&str],
    key: &MaskKey,
) -> Result<MaskingRule, ConfigError> {
    let s = item.table()?;
    s.only(&[
        "resource",
        "column",
        "mask",
        "keep_first",
        "keep_last",
        "pad",
        "granularity",
        "bucket",
        "clear_for",
    ])?;
    let resource_field = s.required("resource")?;
    let resource = Glob::new(&resource_name_pattern(&resource_field, resources)?)
        .map_err(|e| resource_field.error(e))?;
    let column_field = s.required("column")?;
    let column = ColumnPattern::parse(column_field.str()?).map_err(|e| column_field.error(e))?;
    let mask_field = s.required("mask")?;
    let word = mask_field.choice(&MASKS, |m| m)?;
    for (option, owner) in MASK_OPTIONS {
        if let Some(f) = s.get(option).filter(|_| owner != word) {
            return Err(f.key_error(format!("{option} only applies to mask = \"{owner}\"")));
        }
    }
    let mask = read_mask(&s, word, &mask_field)?;
    if mask.is_keyed() && !key.is_set() {
        return Err(mask_field.error(format!(
            "the {word} mask needs a key: set masking.key_env or masking.key_file"
        )));
    }
    let clear_for = match s.get("clear_for") {
        Some(f) => f
            .items()?
            .iter()
            .map(|p| Principal::parse(p.str()?).map_err(|e| p.error(e)))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(MaskingRule {
        resource,
        column,
        mask,
        clear_for,
    })
}

fn read_mask(s: &Section<'_>, word: &str, mask_field: &Field<'_>) -> Result<Mask, ConfigError> {
    Ok(match word {
        "redact" => Mask::Redact,
        "email" => Mask::Email,
        "hash" => Mask::Hash,
        "tokenize" => Mask::Tokenize,
        "null" => Mask::Null,
        "scan" => Mask::Scan,
        "partial" => {
            // The range is checked, so the casts cannot truncate.
            let keep = |name| s.optional(name, |f| f.integer(0, MAX_KEEP));
            let pad = match s.get("pad") {
                Some(f) => {
                    let mut chars = f.str()?.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) if !c.is_control() => c,
                        _ => return Err(f.error("pad is a single character such as \"*\"")),
                    }
                }
                None => '*',
            };
            Mask::Partial {
                keep_first: keep("keep_first")?.unwrap_or(0) as u16,
                keep_last: keep("keep_last")?.unwrap_or(0) as u16,
                pad,
            }
        }
        _ => Mask::Generalize(read_generalization(s, mask_field)?),
    })
}

/// `granularity = "month" | "year"` for dates, or `bucket = N` for numbers: exactly one.
fn read_generalization(
    s: &Section<'_>,
    mask_field: &Field<'_>,
) -> Result<Generalization, ConfigError> {
    match (s.get("granularity"), s.get("bucket")) {
        (Some(g), None) => Ok(
            match g.choice(&["month", "year"], |w| w)? {
                "month" => Generalization::Month,
                _ => Generalization::Year,
            },
        ),
        // The range is checked, so the cast cannot change the value.
        (None, Some(b)) => Ok(Generalization::Bucket(b.integer(1, i64::MAX)? as u64)),
        (Some(_), Some(b)) => Err(b.key_error(
            "give granularity (for dates) or bucket (for numbers), not both",
        )),
        (None, None) => Err(mask_field.error(
            "the generalize mask needs granularity = \"month\" or \"year\" (dates) or bucket = N (numbers)",
        )),
    }
}

/// `[[masking.detectors]]`: custom detectors, names unique.
fn read_detectors(s: &Section<'_>) -> Result<Vec<CustomDetector>, ConfigError> {
    let Some(f) = s.get("detectors") else {
        return Ok(Vec::new());
    };
    let mut detectors: Vec<CustomDetector> = Vec::new();
    for item in f.items()? {
        let d = item.table()?;
        d.only(&["name", "pattern", "validator"])?;
        let name_field = d.required("name")?;
        let name = name_field.str()?;
        if detectors
            .iter()
            .any(|other| jitgate_masking::Detector::name(other) == name)
        {
            return Err(name_field.error(format!("detector \"{name}\" is already defined")));
        }
        let validator = d
            .optional("validator", |f| f.choice(&Validator::ALL, Validator::name))?
            .unwrap_or(Validator::None);
        let pattern = d.required("pattern")?;
        let detector = CustomDetector::new(name, pattern.str()?, validator).map_err(|e| {
            if e.starts_with("invalid pattern") || e.contains("empty string") {
                pattern.error(e)
            } else {
                name_field.error(e)
            }
        })?;
        detectors.push(detector);
    }
    Ok(detectors)
}

/// `[masking.stream] detectors`: which detectors the result stream runs (default: all).
fn read_stream(
    s: &Section<'_>,
    custom: &[CustomDetector],
) -> Result<Option<Vec<String>>, ConfigError> {
    s.only(&["detectors"])?;
    let Some(f) = s.get("detectors") else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for item in f.items()? {
        let name = item.str()?;
        let known = Kind::from_name(name).is_some()
            || custom
                .iter()
                .any(|d| jitgate_masking::Detector::name(d) == name);
        if !known {
            let mut all: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            all.extend(custom.iter().map(jitgate_masking::Detector::name));
            return Err(item.error(format!(
                "unknown detector \"{name}\"; known detectors: {}",
                all.join(", ")
            )));
        }
        names.push(name.to_string());
    }
    Ok(Some(names))
}
