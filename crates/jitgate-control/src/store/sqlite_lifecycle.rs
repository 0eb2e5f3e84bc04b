//! The SQLite store's requests, approvals, credentials listings and API tokens. Every state
//! change runs in an IMMEDIATE transaction: the write lock is taken before the state is read, so
//! another process cannot change it between the check and the write.

use super::sqlite::{
    grant_from_row, insert_grant_in, session_from_row, GRANT_COLUMNS, SESSION_COLUMNS,
};
use super::{
    CredentialQuery, Cursor, GrantQuery, RequestQuery, SessionQuery, StoreError, StoreResult,
    Transition,
};
use crate::model::{
    ApiToken, Approval, Credential, Decision, Grant, Millis, Request, RequestState, SessionRecord,
};
use crate::scram::ScramVerifier;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

/// SQLite's "no limit" is -1.
/// The time of a listing's `after` cursor (NULL: from the start).
fn after_at(after: &Option<Cursor>) -> Option<Millis> {
    after.as_ref().map(|c| c.at)
}

/// The id of a listing's `after` cursor.
fn after_id(after: &Option<Cursor>) -> Option<&str> {
    after.as_ref().map(|c| c.id.as_str())
}

fn sql_limit(limit: usize) -> i64 {
    if limit == 0 {
        -1
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

fn bad_column(column: usize, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, why.into())
}

pub(super) fn groups_from(column: usize, text: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| bad_column(column, format!("groups: {e}")))
}

pub(super) fn groups_json(groups: &[String]) -> String {
    // A list of strings always serialises; the fallback only keeps this free of panics.
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".into())
}

const CREDENTIAL_COLUMNS: &str =
    "c.id, c.login, c.grant_id, c.subject, c.resource, c.verifier, c.created_at, c.expires_at";

fn credential_from_row(r: &Row<'_>) -> rusqlite::Result<Credential> {
    let id: String = r.get(0)?;
    let verifier: String = r.get(5)?;
    let verifier = ScramVerifier::decode(&verifier)
        .ok_or_else(|| bad_column(5, format!("verifier of {id} is not SCRAM-SHA-256")))?;
    Ok(Credential {
        id,
        login: r.get(1)?,
        grant_id: r.get(2)?,
        subject: r.get(3)?,
        resource: r.get(4)?,
        verifier,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
    })
}

/// The credential matching `clause` (on `c.`-less column names, one parameter), unless deleted.
pub(super) fn credential_where(
    conn: &Connection,
    clause: &str,
    value: &str,
) -> StoreResult<Option<Credential>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c WHERE c.{clause} AND c.deleted_at IS NULL"
    );
    conn.query_row(&sql, [value], credential_from_row)
        .optional()
        .map_err(corrupt("credentials"))
}

/// Conversion failures are corrupt rows, not SQL errors: say so, with the table.
fn corrupt(table: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, why) => StoreError::Corrupt {
            table,
            why: why.to_string(),
        },
        other => StoreError::Sqlite(other),
    }
}

pub(super) fn find_credentials(
    conn: &Connection,
    q: &CredentialQuery,
) -> StoreResult<Vec<Credential>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c JOIN grants g ON g.id = c.grant_id \
         WHERE c.deleted_at IS NULL AND (?1 IS NULL OR c.subject = ?1) \
         AND (?2 IS NULL OR c.expires_at <= ?2 OR g.ended_at IS NOT NULL) \
         AND (?4 IS NULL OR c.created_at < ?4 OR (c.created_at = ?4 AND c.id > ?5)) \
         ORDER BY c.created_at DESC, c.id LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            q.subject,
            q.unusable_at,
            sql_limit(q.limit),
            after_at(&q.after),
            after_id(&q.after)
        ],
        credential_from_row,
    )?;
    rows.collect::<Result<_, _>>()
        .map_err(corrupt("credentials"))
}

pub(super) fn prune_credentials(
    conn: &Connection,
    subject: Option<&str>,
    now: Millis,
) -> StoreResult<usize> {
    Ok(conn.execute(
        "UPDATE credentials SET deleted_at = ?2 WHERE deleted_at IS NULL \
         AND (?1 IS NULL OR subject = ?1) \
         AND (expires_at <= ?2 OR grant_id IN (SELECT id FROM grants WHERE ended_at IS NOT NULL))",
        params![subject, now],
    )?)
}

pub(super) fn find_grants(conn: &Connection, q: &GrantQuery) -> StoreResult<Vec<Grant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE (?1 IS NULL OR subject = ?1) \
         AND (?2 IS NULL OR resource = ?2) \
         AND (?3 IS NULL OR (ended_at IS NULL AND starts_at <= ?3 AND expires_at > ?3)) \
         AND (?5 IS NULL OR starts_at < ?5 OR (starts_at = ?5 AND id > ?6)) \
         ORDER BY starts_at DESC, id LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            q.subject,
            q.resource,
            q.live_at,
            sql_limit(q.limit),
            after_at(&q.after),
            after_id(&q.after)
        ],
        grant_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn find_sessions(
    conn: &Connection,
    q: &SessionQuery,
) -> StoreResult<Vec<SessionRecord>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE (?1 IS NULL OR subject = ?1) \
         AND (?2 = 0 OR ended_at IS NULL) \
         AND (?4 IS NULL OR started_at < ?4 OR (started_at = ?4 AND id > ?5)) \
         ORDER BY started_at DESC, id LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            q.subject,
            q.open_only,
            sql_limit(q.limit),
            after_at(&q.after),
            after_id(&q.after)
        ],
        session_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const REQUEST_COLUMNS: &str = "id, subject, subject_groups, resource, duration_ms, reason, state, \
     created_at, decided_at, decided_by, expires_at, approvals_required, read_only, grant_id";

/// A request row; its votes are read separately.
fn request_from_row(r: &Row<'_>) -> rusqlite::Result<Request> {
    let groups: String = r.get(2)?;
    let state: String = r.get(6)?;
    Ok(Request {
        id: r.get(0)?,
        subject: r.get(1)?,
        subject_groups: groups_from(2, &groups)?,
        resource: r.get(3)?,
        duration_ms: r.get(4)?,
        reason: r.get(5)?,
        state: RequestState::parse(&state)
            .ok_or_else(|| bad_column(6, format!("unknown request state {state:?}")))?,
        created_at: r.get(7)?,
        decided_at: r.get(8)?,
        decided_by: r.get(9)?,
        expires_at: r.get(10)?,
        approvals_required: r.get(11)?,
        read_only: r.get(12)?,
        grant_id: r.get(13)?,
        approvals: Vec::new(),
    })
}

fn approvals_of(conn: &Connection, request_id: &str) -> StoreResult<Vec<Approval>> {
    let mut stmt = conn.prepare_cached(
        "SELECT approver, decision, comment, at FROM approvals WHERE request_id = ?1 \
         ORDER BY at, rowid",
    )?;
    let rows = stmt.query_map([request_id], |r| {
        let decision: String = r.get(1)?;
        Ok(Approval {
            request_id: request_id.to_owned(),
            approver: r.get(0)?,
            decision: match decision.as_str() {
                "approve" => Decision::Approve,
                "deny" => Decision::Deny,
                other => return Err(bad_column(1, format!("unknown decision {other:?}"))),
            },
            comment: r.get(2)?,
            at: r.get(3)?,
        })
    })?;
    rows.collect::<Result<_, _>>().map_err(corrupt("approvals"))
}

pub(super) fn request(conn: &Connection, id: &str) -> StoreResult<Option<Request>> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1");
    let found = conn
        .query_row(&sql, [id], request_from_row)
        .optional()
        .map_err(corrupt("requests"))?;
    match found {
        Some(mut request) => {
            request.approvals = approvals_of(conn, id)?;
            Ok(Some(request))
        }
        None => Ok(None),
    }
}

pub(super) fn find_requests(conn: &Connection, q: &RequestQuery) -> StoreResult<Vec<Request>> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE (?1 IS NULL OR subject = ?1) \
         AND (?2 IS NULL OR state = ?2) \
         AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND id > ?5)) \
         ORDER BY created_at DESC, id LIMIT ?3"
    );
    let mut requests: Vec<Request> = {
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                q.subject,
                q.state.map(RequestState::as_str),
                sql_limit(q.limit),
                after_at(&q.after),
                after_id(&q.after)
            ],
            request_from_row,
        )?;
        rows.collect::<Result<_, _>>()
            .map_err(corrupt("requests"))?
    };
    for request in &mut requests {
        request.approvals = approvals_of(conn, &request.id)?;
    }
    Ok(requests)
}

pub(super) fn insert_request(
    conn: &mut Connection,
    r: &Request,
    grant: Option<&Grant>,
) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The grant goes first: the request refers to it.
    if let Some(g) = grant {
        insert_grant_in(&tx, g)?;
    }
    tx.execute(
        &format!(
            "INSERT INTO requests ({REQUEST_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            r.id,
            r.subject,
            groups_json(&r.subject_groups),
            r.resource,
            r.duration_ms,
            r.reason,
            r.state.as_str(),
            r.created_at,
            r.decided_at,
            r.decided_by,
            r.expires_at,
            r.approvals_required,
            r.read_only,
            r.grant_id
        ],
    )?;
    for a in &r.approvals {
        insert_vote(&tx, a)?;
    }
    tx.commit()?;
    Ok(())
}

fn insert_vote(tx: &Connection, a: &Approval) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO approvals (request_id, approver, decision, comment, at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            a.request_id,
            a.approver,
            a.decision.as_str(),
            a.comment,
            a.at
        ],
    )?;
    Ok(())
}

fn state_of(tx: &Connection, id: &str) -> StoreResult<Option<RequestState>> {
    let state: Option<String> = tx
        .query_row("SELECT state FROM requests WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    state
        .map(|s| {
            RequestState::parse(&s).ok_or_else(|| StoreError::Corrupt {
                table: "requests",
                why: format!("unknown state {s:?} of {id}"),
            })
        })
        .transpose()
}

/// One vote, in one transaction: state check, duplicate check, the vote, and (when it decides
/// the request) the new state and the grant. `approve` is `(needed, grant)` for an approval and
/// `None` for a denial.
pub(super) fn vote(
    conn: &mut Connection,
    vote: &Approval,
    approve: Option<(u32, &Grant)>,
) -> StoreResult<Transition> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match state_of(&tx, &vote.request_id)? {
        None => return Ok(Transition::NotFound),
        Some(RequestState::Pending) => {}
        Some(other) => return Ok(Transition::NotPending(other)),
    }
    let voted: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM approvals WHERE request_id = ?1 AND approver = ?2)",
        params![vote.request_id, vote.approver],
        |r| r.get(0),
    )?;
    if voted {
        return Ok(Transition::AlreadyVoted);
    }
    insert_vote(&tx, vote)?;
    let decided = match approve {
        Some((needed, grant)) => {
            let approvals: u32 = tx.query_row(
                "SELECT COUNT(*) FROM approvals WHERE request_id = ?1 AND decision = 'approve'",
                [&vote.request_id],
                |r| r.get(0),
            )?;
            if approvals >= needed {
                insert_grant_in(&tx, grant)?;
                close(
                    &tx,
                    &vote.request_id,
                    RequestState::Approved,
                    Some(&vote.approver),
                    vote.at,
                    Some(&grant.id),
                )?;
                true
            } else {
                false
            }
        }
        None => {
            close(
                &tx,
                &vote.request_id,
                RequestState::Denied,
                Some(&vote.approver),
                vote.at,
                None,
            )?;
            true
        }
    };
    let after = request(&tx, &vote.request_id)?;
    tx.commit()?;
    Ok(match after {
        Some(r) if decided => Transition::Decided(r),
        Some(r) => Transition::Counted(r),
        None => Transition::NotFound,
    })
}

/// Moves a pending request to `state`; the caller has checked that it is pending.
fn close(
    tx: &Connection,
    id: &str,
    state: RequestState,
    by: Option<&str>,
    at: Millis,
    grant_id: Option<&str>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE requests SET state = ?2, decided_by = ?3, decided_at = ?4, grant_id = ?5 \
         WHERE id = ?1 AND state = 'pending'",
        params![id, state.as_str(), by, at, grant_id],
    )?;
    Ok(())
}

pub(super) fn cancel_request(
    conn: &mut Connection,
    id: &str,
    by: &str,
    at: Millis,
) -> StoreResult<Transition> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match state_of(&tx, id)? {
        None => return Ok(Transition::NotFound),
        Some(RequestState::Pending) => {}
        Some(other) => return Ok(Transition::NotPending(other)),
    }
    close(&tx, id, RequestState::Cancelled, Some(by), at, None)?;
    let after = request(&tx, id)?;
    tx.commit()?;
    Ok(after.map_or(Transition::NotFound, Transition::Decided))
}

pub(super) fn expire_requests(conn: &mut Connection, now: Millis) -> StoreResult<Vec<Request>> {
    // The scheduler asks several times a second: look before taking the write lock.
    let due: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM requests WHERE state = 'pending' AND expires_at <= ?1)",
        [now],
        |r| r.get(0),
    )?;
    if !due {
        return Ok(Vec::new());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let ids: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id FROM requests WHERE state = 'pending' AND expires_at <= ?1",
        )?;
        let rows = stmt.query_map([now], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut expired = Vec::with_capacity(ids.len());
    for id in &ids {
        close(&tx, id, RequestState::Expired, None, now, None)?;
        if let Some(r) = request(&tx, id)? {
            expired.push(r);
        }
    }
    tx.commit()?;
    Ok(expired)
}

pub(super) fn insert_token(conn: &Connection, t: &ApiToken) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO api_tokens (token_hash, subject, groups, created_at, expires_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            t.token_hash,
            t.subject,
            groups_json(&t.groups),
            t.created_at,
            t.expires_at,
            t.revoked_at
        ],
    )?;
    Ok(())
}

pub(super) fn token(conn: &Connection, token_hash: &str) -> StoreResult<Option<ApiToken>> {
    conn.query_row(
        "SELECT token_hash, subject, groups, created_at, expires_at, revoked_at \
         FROM api_tokens WHERE token_hash = ?1",
        [token_hash],
        |r| {
            let groups: String = r.get(2)?;
            Ok(ApiToken {
                token_hash: r.get(0)?,
                subject: r.get(1)?,
                groups: groups_from(2, &groups)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                revoked_at: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(corrupt("api_tokens"))
}
