//! The masking policy: which columns of which resources are masked how, and for whom.
//!
//! ## Precedence
//! For a subject on a resource, the rules whose `resource` glob matches the resource name apply.
//! For a column, the **most specific** matching pattern decides (see [`Specificity`]): more
//! plain-name parts first (`public.customers.ssn` over `public.*.ssn` over `*.*.ssn`), then more
//! characters that must match themselves (`*.*.ssn_*` over `*.*.*`), then the earlier rule in the
//! file. The deciding rule either masks the column or, when the subject is in its `clear_for`,
//! shows it in clear; a less specific rule never overrides it. Columns no rule matches are clear.
//!
//! A subject in one of `clear_groups` sees everything on every resource. A subject for whom no
//! rule masks anything on a resource gets [`SubjectView::Clear`], and the gateway then adds no
//! work at all for them: no rewriting, no scanning of results or error texts.
//!
//! [`Specificity`]: crate::pattern::Specificity

use std::fmt::{self, Write};
use std::sync::Arc;

use crate::detect::{CustomDetector, Detector, Kind, Scanner};
use crate::key::MaskKey;
use crate::mask::Mask;
use crate::pattern::{ColumnPattern, Glob};

/// Someone a rule can show clear values to: `user:NAME` or `group:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Group(String),
}

impl Principal {
    pub fn parse(text: &str) -> Result<Principal, String> {
        let parsed = match text.split_once(':') {
            Some(("user", name)) if !name.is_empty() => Principal::User(name.to_string()),
            Some(("group", name)) if !name.is_empty() => Principal::Group(name.to_string()),
            _ => {
                return Err(format!(
                    "expected \"user:NAME\" or \"group:NAME\", found {text:?}"
                ))
            }
        };
        Ok(parsed)
    }

    fn includes(&self, subject: &str, groups: &[String]) -> bool {
        match self {
            Principal::User(name) => name == subject,
            Principal::Group(name) => groups.iter().any(|g| g == name),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(name) => write!(f, "user:{name}"),
            Principal::Group(name) => write!(f, "group:{name}"),
        }
    }
}

/// One `[[masking.rules]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskingRule {
    pub resource: Glob,
    pub column: ColumnPattern,
    pub mask: Mask,
    /// Who sees this column's clear values (default: nobody).
    pub clear_for: Vec<Principal>,
}

/// What a policy is built from (the configuration's `[masking]`, validated).
#[derive(Debug, Clone)]
pub struct PolicySettings {
    /// Needed when any rule uses hash or tokenize.
    pub key: MaskKey,
    /// Groups that see clear values everywhere.
    pub clear_groups: Vec<String>,
    pub rules: Vec<MaskingRule>,
    /// `[[masking.detectors]]`.
    pub custom_detectors: Vec<CustomDetector>,
    /// `[masking.stream] detectors`: names of built-in or custom detectors run on the result
    /// stream; `None` means every built-in and every custom detector.
    pub stream_detectors: Option<Vec<String>>,
}

/// Why settings do not make a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("rule {rule} uses the {mask} mask, which needs masking.key_env or masking.key_file")]
    KeyMissing { rule: usize, mask: &'static str },
    #[error("unknown detector \"{name}\"; built-in detectors: {}", builtin_names())]
    UnknownDetector { name: String },
}

fn builtin_names() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

/// What every view of one policy shares.
#[derive(Debug)]
struct Shared {
    key: MaskKey,
    rules: Vec<MaskingRule>,
    custom_detectors: Vec<CustomDetector>,
    scanner: Scanner,
}

/// The validated masking policy; cheap to clone.
#[derive(Debug, Clone)]
pub struct MaskingPolicy {
    shared: Arc<Shared>,
    clear_groups: Vec<String>,
}

impl MaskingPolicy {
    /// Builds the policy from validated settings; fails only on inconsistencies between them
    /// (a keyed mask without key, a stream detector that does not exist).
    pub fn from_config(settings: PolicySettings) -> Result<MaskingPolicy, PolicyError> {
        if !settings.key.is_set() {
            if let Some((i, rule)) = settings
                .rules
                .iter()
                .enumerate()
                .find(|(_, r)| r.mask.is_keyed())
            {
                return Err(PolicyError::KeyMissing {
                    rule: i,
                    mask: rule.mask.name(),
                });
            }
        }
        let custom: Vec<Arc<dyn Detector>> = settings
            .custom_detectors
            .iter()
            .map(|d| Arc::new(d.clone()) as Arc<dyn Detector>)
            .collect();
        let scanner = match &settings.stream_detectors {
            None => Scanner::new(&Kind::ALL, custom),
            Some(names) => {
                let mut kinds = Vec::new();
                let mut chosen = Vec::new();
                for name in names {
                    if let Some(kind) = Kind::from_name(name) {
                        kinds.push(kind);
                    } else if let Some(d) = custom.iter().find(|d| d.name() == name) {
                        chosen.push(Arc::clone(d));
                    } else {
                        return Err(PolicyError::UnknownDetector { name: name.clone() });
                    }
                }
                Scanner::new(&kinds, chosen)
            }
        };
        Ok(MaskingPolicy {
            shared: Arc::new(Shared {
                key: settings.key,
                rules: settings.rules,
                custom_detectors: settings.custom_detectors,
                scanner,
            }),
            clear_groups: settings.clear_groups,
        })
    }

    /// No rules: everybody sees everything (the configuration without `[masking]`).
    pub fn disabled() -> MaskingPolicy {
        MaskingPolicy {
            shared: Arc::new(Shared {
                key: MaskKey::missing(),
                rules: Vec::new(),
                custom_detectors: Vec::new(),
                scanner: Scanner::new(&Kind::ALL, Vec::new()),
            }),
            clear_groups: Vec::new(),
        }
    }

    pub fn rules(&self) -> &[MaskingRule] {
        &self.shared.rules
    }

    pub fn clear_groups(&self) -> &[String] {
        &self.clear_groups
    }

    pub fn key(&self) -> &MaskKey {
        &self.shared.key
    }

    /// The detectors run on the result stream.
    pub fn scanner(&self) -> &Scanner {
        &self.shared.scanner
    }

    /// What `subject` (a member of `groups`) may see on `resource`; see the module docs for
    /// precedence. Computed once per session, not per statement.
    pub fn view_for(&self, resource: &str, subject: &str, groups: &[String]) -> SubjectView {
        if groups.iter().any(|g| self.clear_groups.contains(g)) {
            return SubjectView::Clear;
        }
        let mut rules: Vec<ViewRule> = self
            .shared
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.resource.matches(resource))
            .map(|(i, r)| ViewRule {
                rule: i,
                clear: r.clear_for.iter().any(|p| p.includes(subject, groups)),
            })
            .collect();
        if rules.iter().all(|r| r.clear) {
            return SubjectView::Clear;
        }
        // Stable, so equally specific rules keep file order.
        rules.sort_by_key(|r| std::cmp::Reverse(self.shared.rules[r.rule].column.specificity()));
        SubjectView::Masked(MaskedView {
            shared: Arc::clone(&self.shared),
            rules,
        })
    }

    /// Lines for `jitgate check`: the key's origin (never the key), groups, rules, detectors.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let s = &self.shared;
        if s.rules.is_empty() {
            out.push_str("masking: no rules\n");
            return out;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(out, "masking key: {}", s.key.origin());
        if !self.clear_groups.is_empty() {
            let _ = writeln!(
                out,
                "masking clear for groups: {}",
                self.clear_groups.join(", ")
            );
        }
        for r in &s.rules {
            let _ = write!(
                out,
                "masking rule: {} {} -> {}",
                r.resource, r.column, r.mask
            );
            if !r.clear_for.is_empty() {
                let who: Vec<String> = r.clear_for.iter().map(ToString::to_string).collect();
                let _ = write!(out, " (clear for {})", who.join(", "));
            }
            out.push('\n');
        }
        for d in &s.custom_detectors {
            let _ = writeln!(
                out,
                "masking detector: {} /{}/ validator {}",
                d.name(),
                d.pattern(),
                d.validator().name()
            );
        }
        out
    }
}

/// What one subject sees on one resource.
#[derive(Debug, Clone)]
pub enum SubjectView {
    /// Everything in clear: the gateway relays without masking or scanning.
    Clear,
    Masked(MaskedView),
}

#[derive(Debug, Clone, Copy)]
struct ViewRule {
    rule: usize,
    clear: bool,
}

/// The rules that apply to one subject on one resource, most specific first.
#[derive(Debug, Clone)]
pub struct MaskedView {
    shared: Arc<Shared>,
    rules: Vec<ViewRule>,
}

impl MaskedView {
    /// The mask of `schema.table.column` for this subject, or `None` when it is clear to them.
    pub fn mask_for(&self, schema: &str, table: &str, column: &str) -> Option<&Mask> {
        let deciding = self.rules.iter().find(|r| {
            self.shared.rules[r.rule]
                .column
                .matches(schema, table, column)
        })?;
        (!deciding.clear).then(|| &self.shared.rules[deciding.rule].mask)
    }

    /// Whether any column of `schema.table` may be masked: a relation the rewriter must replace
    /// by a masking subquery (it then asks [`MaskedView::mask_for`] column by column).
    pub fn may_protect(&self, schema: &str, table: &str) -> bool {
        self.rules.iter().any(|r| {
            !r.clear
                && self.shared.rules[r.rule]
                    .column
                    .matches_table(schema, table)
        })
    }

    pub fn key(&self) -> &MaskKey {
        &self.shared.key
    }

    /// The detectors for this subject's result stream and error texts.
    pub fn scanner(&self) -> &Scanner {
        &self.shared.scanner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(resource: &str, column: &str, mask: Mask, clear_for: &[&str]) -> MaskingRule {
        MaskingRule {
            resource: Glob::new(resource).expect("glob"),
            column: ColumnPattern::parse(column).expect("pattern"),
            mask,
            clear_for: clear_for
                .iter()
                .map(|p| Principal::parse(p).expect("principal"))
                .collect(),
        }
    }

    fn policy(rules: Vec<MaskingRule>) -> MaskingPolicy {
        MaskingPolicy::from_config(PolicySettings {
            key: MaskKey::missing(),
            clear_groups: vec!["admins".into()],
            rules,
            custom_detectors: Vec::new(),
            stream_detectors: None,
        })
        .expect("policy")
    }

    fn masked(view: SubjectView) -> MaskedView {
        match view {
            SubjectView::Masked(v) => v,
            SubjectView::Clear => panic!("expected a masked view"),
        }
    }

    #[test]
    fn most_specific_rule_decides() {
        let p = policy(vec![
            rule("*", "*.*.*", Mask::Redact, &[]),
            rule(
                "prod-*",
                "public.customers.name",
                Mask::Email,
                &["group:support"],
            ),
            rule("prod-*", "public.*.name", Mask::Null, &[]),
        ]);
        let analyst = masked(p.view_for("prod-pg", "ann", &[]));
        assert_eq!(
            analyst.mask_for("public", "customers", "name"),
            Some(&Mask::Email)
        );
        assert_eq!(
            analyst.mask_for("public", "orders", "name"),
            Some(&Mask::Null)
        );
        assert_eq!(analyst.mask_for("sales", "t", "x"), Some(&Mask::Redact));
        let support = masked(p.view_for("prod-pg", "sam", &["support".into()]));
        assert_eq!(
            support.mask_for("public", "customers", "NAME"),
            None,
            "clear despite *.*.*"
        );
        assert!(support.may_protect("public", "customers"));
    }

    #[test]
    fn clear_views_cost_nothing() {
        let p = policy(vec![rule(
            "prod-pg",
            "*.*.ssn",
            Mask::Redact,
            &["user:erin"],
        )]);
        assert!(matches!(
            p.view_for("prod-pg", "bob", &["admins".into()]),
            SubjectView::Clear
        ));
        assert!(matches!(
            p.view_for("prod-pg", "erin", &[]),
            SubjectView::Clear
        ));
        assert!(matches!(
            p.view_for("staging", "bob", &[]),
            SubjectView::Clear
        ));
        let bob = masked(p.view_for("prod-pg", "bob", &[]));
        assert_eq!(bob.mask_for("public", "orders", "ssn"), Some(&Mask::Redact));
        assert_eq!(bob.mask_for("public", "orders", "id"), None);
    }

    #[test]
    fn settings_must_be_consistent() {
        let keyed = PolicySettings {
            key: MaskKey::missing(),
            clear_groups: Vec::new(),
            rules: vec![rule("*", "*.*.email", Mask::Hash, &[])],
            custom_detectors: Vec::new(),
            stream_detectors: None,
        };
        assert_eq!(
            MaskingPolicy::from_config(keyed.clone()).err(),
            Some(PolicyError::KeyMissing {
                rule: 0,
                mask: "hash"
            })
        );
        let unknown = PolicySettings {
            key: MaskKey::new(b"0123456789abcdef", "test").expect("key"),
            stream_detectors: Some(vec!["passport".into()]),
            ..keyed
        };
        assert!(matches!(
            MaskingPolicy::from_config(unknown),
            Err(PolicyError::UnknownDetector { .. })
        ));
    }
}
