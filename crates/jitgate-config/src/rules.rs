//! `[roles]` and `[[access]]`: who approves, and who may request which resources on what terms.

use crate::error::ConfigError;
use crate::glob::is_glob;
use crate::model::{AccessRule, ReasonTerms, Requester, Resource, Roles, TimeWindow};
use crate::section::{Field, Section};

/// Most approvals a rule may ask for; more is surely a typo, and could never be gathered.
const MAX_APPROVALS: i64 = 10;

/// Reads `[roles]`; absent means nobody is an approver or admin (only admin commands then).
pub(crate) fn read_roles(root: &Section<'_>) -> Result<Roles, ConfigError> {
    let Some(field) = root.get("roles") else {
        return Ok(Roles::default());
    };
    let s = field.table()?;
    s.only(&["approver", "admin"])?;
    Ok(Roles {
        approver: s.optional("approver", Field::strings)?.unwrap_or_default(),
        admin: s.optional("admin", Field::strings)?.unwrap_or_default(),
    })
}

/// Reads every `[[access]]` rule, in file order.
pub(crate) fn read_access(
    root: &Section<'_>,
    resources: &[Resource],
    roles: &Roles,
) -> Result<Vec<AccessRule>, ConfigError> {
    let Some(field) = root.get("access") else {
        return Ok(Vec::new());
    };
    field
        .items()?
        .iter()
        .map(|item| read_rule(&item.table()?, resources, roles))
        .collect()
}

fn read_rule(
    s: &Section<'_>,
    resources: &[Resource],
    roles: &Roles,
) -> Result<AccessRule, ConfigError> {
    s.only(&[
        "resources",
        "requesters",
        "max_duration",
        "approvals",
        "approver_groups",
        "auto_approve_groups",
        "window",
        "read_only",
        "reason_prompt",
        "reason_pattern",
    ])?;
    let patterns = non_empty(&s.required("resources")?)?;
    let resource_names = patterns
        .iter()
        .map(|f| resource_pattern(f, resources))
        .collect::<Result<_, _>>()?;
    let requesters = non_empty(&s.required("requesters")?)?
        .iter()
        .map(read_requester)
        .collect::<Result<_, _>>()?;
    let approvals = s.optional("approvals", |f| f.integer(0, MAX_APPROVALS))?;
    let approver_groups = s.optional("approver_groups", Field::strings)?;
    // A rule that needs approvals nobody can give would leave every request pending forever.
    let approvers_exist = approver_groups
        .as_ref()
        .map_or(!roles.approver.is_empty(), |g| !g.is_empty())
        || !roles.admin.is_empty();
    let approvals = approvals.unwrap_or(1);
    if approvals > 0 && !approvers_exist {
        let message = format!(
            "this rule needs {approvals} approval(s) but nobody may give them: name \
             approver_groups, or groups under [roles] approver or admin"
        );
        return Err(match s.get("approvals") {
            Some(f) => f.error(message),
            None => s.error(message),
        });
    }
    Ok(AccessRule {
        resources: resource_names,
        requesters,
        max_duration: s.required("max_duration")?.duration()?,
        // The range is checked, so the cast cannot truncate.
        approvals: approvals as u32,
        approver_groups: approver_groups.unwrap_or_else(|| roles.approver.clone()),
        auto_approve_groups: s
            .optional("auto_approve_groups", Field::strings)?
            .unwrap_or_default(),
        window: s.optional("window", |f| {
            f.parse::<TimeWindow>("a UTC time-of-day range such as \"08:00-18:00\"")
        })?,
        read_only: s.optional("read_only", |f| f.bool())?.unwrap_or(false),
        reason: ReasonTerms {
            prompt: s.optional("reason_prompt", |f| Ok(f.str()?.to_string()))?,
            pattern: s.optional("reason_pattern", reason_pattern)?,
        },
    })
}

/// The elements of an array that must not be empty.
fn non_empty<'a>(f: &Field<'a>) -> Result<Vec<Field<'a>>, ConfigError> {
    let items = f.items()?;
    if items.is_empty() {
        return Err(f.error("expected at least one entry"));
    }
    Ok(items)
}

/// A resource name that must exist, or a glob (which may match resources added later).
pub(crate) fn resource_pattern(
    f: &Field<'_>,
    resources: &[Resource],
) -> Result<String, ConfigError> {
    let known: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    resource_name_pattern(f, &known)
}

/// [`resource_pattern`] against resource names alone.
pub(crate) fn resource_name_pattern(f: &Field<'_>, known: &[&str]) -> Result<String, ConfigError> {
    let name = f.str()?;
    if is_glob(name) || known.contains(&name) {
        return Ok(name.to_string());
    }
    Err(f.error(format!(
        "no resource \"{name}\"; known resources: {}",
        known.join(", ")
    )))
}

pub(crate) fn read_requester(f: &Field<'_>) -> Result<Requester, ConfigError> {
    let text = f.str()?;
    let requester = match text.split_once(':') {
        _ if text == "*" => Some(Requester::Anyone),
        Some(("user", name)) if !name.is_empty() => Some(Requester::User(name.to_string())),
        Some(("group", name)) if !name.is_empty() => Some(Requester::Group(name.to_string())),
        _ => None,
    };
    requester.ok_or_else(|| {
        f.error(format!(
            "expected \"user:NAME\", \"group:NAME\" or \"*\", found {text:?}"
        ))
    })
}

/// A regular expression (Rust `regex` syntax) a reason must contain a match of; anchor it
/// (`^…$`) to demand the whole reason.
fn reason_pattern(f: &Field<'_>) -> Result<regex::Regex, ConfigError> {
    let text = f.str()?;
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| f.error(format!("not a valid regular expression: {e}")))
}
