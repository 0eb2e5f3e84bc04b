//! Who may ask for what: the HTTP API's settings, local users, roles and access rules.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::glob::glob_match;
use crate::model::Secret;

/// `[api]`: the HTTP API and the lifetimes of what it hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// Address of the HTTP API; default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Lifetime of a login token; default 12h.
    pub token_ttl: Duration,
    /// How long a request may wait for a decision before it expires; default 1h.
    pub pending_ttl: Duration,
    /// Longest wait for a request's headers, counted from the connection's start or from the
    /// end of the previous answer: also how long a kept-alive connection may sit idle; default
    /// 10s.
    pub header_timeout: Duration,
    /// Longest wait for a request's body once its headers are in; default 30s.
    pub body_timeout: Duration,
    /// Most HTTP connections open at once; more are answered 503 and closed; default 128.
    pub max_connections: usize,
    /// A web console session unused this long is signed out; default 30m (the absolute limit
    /// is `token_ttl`).
    pub console_idle_timeout: Duration,
}

/// `[users.NAME]`: a user of the embedded identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub name: String,
    /// An argon2 PHC string. Plain passwords from `password_env`/`password_file` are hashed at
    /// load; the origin tells which (`inline hash`, `env NAME (hashed at load)`, …).
    pub password_hash: Secret,
    pub groups: Vec<String>,
}

/// `[roles]`: which groups hold which role. Everyone is a requester.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// Groups whose members may decide requests that name no `approver_groups` of their own,
    /// and see pending requests, grants and sessions.
    pub approver: Vec<String>,
    /// Groups whose members may do everything, and see everything.
    pub admin: Vec<String>,
}

/// One entry of `requesters`: who a rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// `"*"`: any authenticated subject.
    Anyone,
    /// `"user:NAME"`.
    User(String),
    /// `"group:NAME"`.
    Group(String),
}

impl Requester {
    /// Whether a subject with this name and these groups is meant.
    pub fn admits(&self, subject: &str, groups: &[String]) -> bool {
        match self {
            Requester::Anyone => true,
            Requester::User(name) => name == subject,
            Requester::Group(group) => groups.iter().any(|g| g == group),
        }
    }
}

impl fmt::Display for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requester::Anyone => f.write_str("*"),
            Requester::User(name) => write!(f, "user:{name}"),
            Requester::Group(group) => write!(f, "group:{group}"),
        }
    }
}

/// `[[access]]`: who may request which resources, for how long, approved by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// Resource names or globs (`*`, `?`).
    pub resources: Vec<String>,
    pub requesters: Vec<Requester>,
    /// Longest grant this rule gives.
    pub max_duration: Duration,
    /// Distinct approvals needed; 0 means granted on request.
    pub approvals: u32,
    /// Groups whose members may approve; default the `[roles] approver` groups.
    pub approver_groups: Vec<String>,
    /// Members of these groups are granted on request, without approval (e.g. on-call).
    pub auto_approve_groups: Vec<String>,
    /// Time of day (UTC) when grants may be given and used.
    pub window: Option<TimeWindow>,
    /// Grants under this rule refuse writes and DDL.
    pub read_only: bool,
    /// What the requester is asked for as a reason, and the shape it must have.
    pub reason: ReasonTerms,
}

/// `reason_prompt` and `reason_pattern` of an `[[access]]` rule: the question shown to the
/// requester (console, CLI help) and a pattern every reason must contain a match of (e.g. a
/// ticket id), checked by the control plane whatever the client.
#[derive(Debug, Clone, Default)]
pub struct ReasonTerms {
    pub prompt: Option<String>,
    pub pattern: Option<regex::Regex>,
}

impl ReasonTerms {
    /// Whether `reason` satisfies the pattern (always, without one).
    pub fn admits(&self, reason: &str) -> bool {
        self.pattern.as_ref().is_none_or(|p| p.is_match(reason))
    }
}

impl PartialEq for ReasonTerms {
    fn eq(&self, other: &Self) -> bool {
        self.prompt == other.prompt
            && self.pattern.as_ref().map(regex::Regex::as_str)
                == other.pattern.as_ref().map(regex::Regex::as_str)
    }
}

impl Eq for ReasonTerms {}

impl AccessRule {
    /// Whether this rule speaks of `resource`.
    pub fn covers_resource(&self, resource: &str) -> bool {
        self.resources.iter().any(|p| glob_match(p, resource))
    }

    /// Whether this rule is for a subject with this name and these groups.
    pub fn admits(&self, subject: &str, groups: &[String]) -> bool {
        self.requesters.iter().any(|r| r.admits(subject, groups))
    }

    /// Whether the rule applies: first match by resource and requester wins.
    pub fn matches(&self, subject: &str, groups: &[String], resource: &str) -> bool {
        self.covers_resource(resource) && self.admits(subject, groups)
    }
}

const DAY_MILLIS: i64 = 86_400_000;
const MINUTE_MILLIS: i64 = 60_000;

/// A daily time-of-day range in UTC, e.g. `08:00-18:00`; `22:00-06:00` wraps midnight.
/// The start is inside the window, the end is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Minutes after midnight, 0..1440.
    pub start: u32,
    /// Minutes after midnight, 0..=1440 (`24:00`); never equal to `start`.
    pub end: u32,
}

impl TimeWindow {
    /// Whether the instant `at` (milliseconds since the Unix epoch) falls inside the window.
    pub fn contains(&self, at: i64) -> bool {
        let minute = minute_of_day(at);
        if self.start < self.end {
            self.start <= minute && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// The end of the window occurrence that contains `at`, in epoch milliseconds; `None` when
    /// `at` is outside the window.
    pub fn end_after(&self, at: i64) -> Option<i64> {
        if !self.contains(at) {
            return None;
        }
        let midnight = at - at.rem_euclid(DAY_MILLIS);
        let end_today = midnight + i64::from(self.end) * MINUTE_MILLIS;
        let wraps_to_tomorrow = self.start > self.end && minute_of_day(at) >= self.start;
        Some(if wraps_to_tomorrow {
            end_today + DAY_MILLIS
        } else {
            end_today
        })
    }
}

fn minute_of_day(at: i64) -> u32 {
    // rem_euclid keeps instants before 1970 on the right day; the result is below 1440.
    (at.rem_euclid(DAY_MILLIS) / MINUTE_MILLIS) as u32
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

impl std::str::FromStr for TimeWindow {
    type Err = ();

    /// `HH:MM-HH:MM`; the end may be `24:00`.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (start, end) = s.split_once('-').ok_or(())?;
        let minutes = |t: &str, max: u32| -> Result<u32, ()> {
            let (h, m) = t.trim().split_once(':').ok_or(())?;
            if h.len() != 2 || m.len() != 2 {
                return Err(());
            }
            let (h, m): (u32, u32) = (h.parse().map_err(|_| ())?, m.parse().map_err(|_| ())?);
            let total = h * 60 + m;
            if m < 60 && total <= max {
                Ok(total)
            } else {
                Err(())
            }
        };
        let window = TimeWindow {
            start: minutes(start, 1439)?,
            end: minutes(end, 1440)?,
        };
        // An empty window could never be used; all day is said by leaving `window` out.
        if window.start == window.end || (window.start == 0 && window.end == 1440) {
            return Err(());
        }
        Ok(window)
    }
}
