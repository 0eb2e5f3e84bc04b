//! The `requests` and `approvals` tables: access requests and the votes on them. Every state
//! change runs in an IMMEDIATE transaction: the write lock is taken before the state is read,
//! so another process cannot change it between the check and the write.

use super::grants::insert_grant_in;
use super::rows::{after_at, after_id, bad_column, corrupt, groups_from, groups_json, sql_limit};
use crate::model::{Approval, Decision, Grant, Millis, Request, RequestState};
use crate::store::{RequestQuery, StoreError, StoreResult, Transition};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

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

pub(super) fn get(conn: &Connection, id: &str) -> StoreResult<Option<Request>> {
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

pub(super) fn find(conn: &Connection, q: &RequestQuery) -> StoreResult<Vec<Request>> {
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

pub(super) fn insert(conn: &mut Connection, r: &Request, grant: Option<&Grant>) -> StoreResult<()> {
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
    if let Some(refused) = refuse_vote(&tx, vote)? {
        return Ok(refused);
    }
    insert_vote(&tx, vote)?;
    let decided = match approve {
        Some((needed, grant)) => approve_if_enough(&tx, vote, needed, grant)?,
        None => {
            let denied = RequestState::Denied;
            close(
                &tx,
                &vote.request_id,
                denied,
                Some(&vote.approver),
                vote.at,
                None,
            )?;
            true
        }
    };
    let after = get(&tx, &vote.request_id)?;
    tx.commit()?;
    Ok(match after {
        Some(r) if decided => Transition::Decided(r),
        Some(r) => Transition::Counted(r),
        None => Transition::NotFound,
    })
}

/// Why a vote cannot be cast, if it cannot: no such request, not pending, or a second vote.
fn refuse_vote(tx: &Connection, vote: &Approval) -> StoreResult<Option<Transition>> {
    match state_of(tx, &vote.request_id)? {
        None => return Ok(Some(Transition::NotFound)),
        Some(RequestState::Pending) => {}
        Some(other) => return Ok(Some(Transition::NotPending(other))),
    }
    let voted: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM approvals WHERE request_id = ?1 AND approver = ?2)",
        params![vote.request_id, vote.approver],
        |r| r.get(0),
    )?;
    Ok(voted.then_some(Transition::AlreadyVoted))
}

/// Approves the request with `grant` once its approvals reach `needed`; true if they did.
fn approve_if_enough(
    tx: &Connection,
    vote: &Approval,
    needed: u32,
    grant: &Grant,
) -> StoreResult<bool> {
    let approvals: u32 = tx.query_row(
        "SELECT COUNT(*) FROM approvals WHERE request_id = ?1 AND decision = 'approve'",
        [&vote.request_id],
        |r| r.get(0),
    )?;
    if approvals < needed {
        return Ok(false);
    }
    insert_grant_in(tx, grant)?;
    let approved = RequestState::Approved;
    let by = Some(vote.approver.as_str());
    close(tx, &vote.request_id, approved, by, vote.at, Some(&grant.id))?;
    Ok(true)
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

pub(super) fn cancel(
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
    let after = get(&tx, id)?;
    tx.commit()?;
    Ok(after.map_or(Transition::NotFound, Transition::Decided))
}

pub(super) fn count_pending(conn: &Connection) -> StoreResult<usize> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM requests WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

pub(super) fn expire(conn: &mut Connection, now: Millis) -> StoreResult<Vec<Request>> {
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
        if let Some(r) = get(&tx, id)? {
            expired.push(r);
        }
    }
    tx.commit()?;
    Ok(expired)
}
