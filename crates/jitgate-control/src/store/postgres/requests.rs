//! The `requests` and `approvals` tables: access requests and the votes on them. Every state
//! change locks the request's row (`FOR UPDATE`) before reading its state, so another replica
//! cannot change it between the check and the write.

use super::grants::insert_grant_in;
use super::rows::{after_at, after_id, groups_from, groups_json, sql_limit};
use crate::model::{Approval, Decision, Grant, Millis, Request, RequestState};
use crate::store::{RequestQuery, StoreError, StoreResult, Transition};
use tokio_postgres::{Client, GenericClient, Row};

const REQUEST_COLUMNS: &str = "id, subject, subject_groups, resource, duration_ms, reason, state, \
     created_at, decided_at, decided_by, expires_at, approvals_required, read_only, grant_id";

fn corrupt(why: String) -> StoreError {
    StoreError::Corrupt {
        table: "requests",
        why,
    }
}

/// A request row; its votes are read separately.
fn request_from_row(r: &Row) -> StoreResult<Request> {
    let groups: String = r.try_get(2)?;
    let state: String = r.try_get(6)?;
    let required: i64 = r.try_get(11)?;
    Ok(Request {
        id: r.try_get(0)?,
        subject: r.try_get(1)?,
        subject_groups: groups_from("requests", &groups)?,
        resource: r.try_get(3)?,
        duration_ms: r.try_get(4)?,
        reason: r.try_get(5)?,
        state: RequestState::parse(&state)
            .ok_or_else(|| corrupt(format!("unknown request state {state:?}")))?,
        created_at: r.try_get(7)?,
        decided_at: r.try_get(8)?,
        decided_by: r.try_get(9)?,
        expires_at: r.try_get(10)?,
        approvals_required: u32::try_from(required)
            .map_err(|_| corrupt(format!("approvals required {required}")))?,
        read_only: r.try_get(12)?,
        grant_id: r.try_get(13)?,
        approvals: Vec::new(),
    })
}

async fn approvals_of(client: &impl GenericClient, request_id: &str) -> StoreResult<Vec<Approval>> {
    let rows = client
        .query(
            "SELECT approver, decision, comment, at FROM approvals WHERE request_id = $1 \
             ORDER BY at, n",
            &[&request_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let decision: String = r.try_get(1)?;
            Ok(Approval {
                request_id: request_id.to_owned(),
                approver: r.try_get(0)?,
                decision: match decision.as_str() {
                    "approve" => Decision::Approve,
                    "deny" => Decision::Deny,
                    other => {
                        return Err(StoreError::Corrupt {
                            table: "approvals",
                            why: format!("unknown decision {other:?}"),
                        })
                    }
                },
                comment: r.try_get(2)?,
                at: r.try_get(3)?,
            })
        })
        .collect()
}

pub(super) async fn get(client: &impl GenericClient, id: &str) -> StoreResult<Option<Request>> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
    let Some(row) = client.query_opt(&sql, &[&id]).await? else {
        return Ok(None);
    };
    let mut request = request_from_row(&row)?;
    request.approvals = approvals_of(client, id).await?;
    Ok(Some(request))
}

pub(super) async fn find(client: &Client, q: &RequestQuery) -> StoreResult<Vec<Request>> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE ($1::text IS NULL OR subject = $1) \
         AND ($2::text IS NULL OR state = $2) \
         AND ($4::bigint IS NULL OR created_at < $4 OR (created_at = $4 AND id > $5)) \
         ORDER BY created_at DESC, id LIMIT $3"
    );
    let rows = client
        .query(
            &sql,
            &[
                &q.subject,
                &q.state.map(RequestState::as_str),
                &sql_limit(q.limit),
                &after_at(&q.after),
                &after_id(&q.after),
            ],
        )
        .await?;
    let mut requests = rows
        .iter()
        .map(request_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    for request in &mut requests {
        request.approvals = approvals_of(client, &request.id).await?;
    }
    Ok(requests)
}

pub(super) async fn insert(
    client: &mut Client,
    r: &Request,
    grant: Option<&Grant>,
) -> StoreResult<()> {
    let tx = client.transaction().await?;
    // The grant goes first: the request refers to it.
    if let Some(g) = grant {
        insert_grant_in(&tx, g).await?;
    }
    tx.execute(
        &format!(
            "INSERT INTO requests ({REQUEST_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        &[
            &r.id,
            &r.subject,
            &groups_json(&r.subject_groups),
            &r.resource,
            &r.duration_ms,
            &r.reason,
            &r.state.as_str(),
            &r.created_at,
            &r.decided_at,
            &r.decided_by,
            &r.expires_at,
            &i64::from(r.approvals_required),
            &r.read_only,
            &r.grant_id,
        ],
    )
    .await?;
    for a in &r.approvals {
        insert_vote(&tx, a).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn insert_vote(tx: &impl GenericClient, a: &Approval) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO approvals (request_id, approver, decision, comment, at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &a.request_id,
            &a.approver,
            &a.decision.as_str(),
            &a.comment,
            &a.at,
        ],
    )
    .await?;
    Ok(())
}

/// The request's state, its row locked until the transaction ends.
async fn lock_state(tx: &impl GenericClient, id: &str) -> StoreResult<Option<RequestState>> {
    let row = tx
        .query_opt(
            "SELECT state FROM requests WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let state: String = row.try_get(0)?;
    RequestState::parse(&state)
        .map(Some)
        .ok_or_else(|| corrupt(format!("unknown state {state:?} of {id}")))
}

/// One vote, in one transaction: state check, duplicate check, the vote, and (when it decides
/// the request) the new state and the grant.
pub(super) async fn vote(
    client: &mut Client,
    vote: &Approval,
    approve: Option<(u32, &Grant)>,
) -> StoreResult<Transition> {
    let tx = client.transaction().await?;
    if let Some(refused) = refuse_vote(&tx, vote).await? {
        return Ok(refused);
    }
    insert_vote(&tx, vote).await?;
    let decided = match approve {
        Some((needed, grant)) => approve_if_enough(&tx, vote, needed, grant).await?,
        None => {
            let by = Some(vote.approver.as_str());
            close(
                &tx,
                &vote.request_id,
                RequestState::Denied,
                by,
                vote.at,
                None,
            )
            .await?;
            true
        }
    };
    let after = get(&tx, &vote.request_id).await?;
    tx.commit().await?;
    Ok(match after {
        Some(r) if decided => Transition::Decided(r),
        Some(r) => Transition::Counted(r),
        None => Transition::NotFound,
    })
}

async fn refuse_vote(tx: &impl GenericClient, vote: &Approval) -> StoreResult<Option<Transition>> {
    match lock_state(tx, &vote.request_id).await? {
        None => return Ok(Some(Transition::NotFound)),
        Some(RequestState::Pending) => {}
        Some(other) => return Ok(Some(Transition::NotPending(other))),
    }
    let voted: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM approvals WHERE request_id = $1 AND approver = $2)",
            &[&vote.request_id, &vote.approver],
        )
        .await?
        .try_get(0)?;
    Ok(voted.then_some(Transition::AlreadyVoted))
}

async fn approve_if_enough(
    tx: &impl GenericClient,
    vote: &Approval,
    needed: u32,
    grant: &Grant,
) -> StoreResult<bool> {
    let approvals: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM approvals WHERE request_id = $1 AND decision = 'approve'",
            &[&vote.request_id],
        )
        .await?
        .try_get(0)?;
    if approvals < i64::from(needed) {
        return Ok(false);
    }
    insert_grant_in(tx, grant).await?;
    let by = Some(vote.approver.as_str());
    let approved = RequestState::Approved;
    close(tx, &vote.request_id, approved, by, vote.at, Some(&grant.id)).await?;
    Ok(true)
}

/// Moves a pending request to `state`; the caller has checked (and locked) that it is pending.
async fn close(
    tx: &impl GenericClient,
    id: &str,
    state: RequestState,
    by: Option<&str>,
    at: Millis,
    grant_id: Option<&str>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE requests SET state = $2, decided_by = $3, decided_at = $4, grant_id = $5 \
         WHERE id = $1 AND state = 'pending'",
        &[&id, &state.as_str(), &by, &at, &grant_id],
    )
    .await?;
    Ok(())
}

pub(super) async fn cancel(
    client: &mut Client,
    id: &str,
    by: &str,
    at: Millis,
) -> StoreResult<Transition> {
    let tx = client.transaction().await?;
    match lock_state(&tx, id).await? {
        None => return Ok(Transition::NotFound),
        Some(RequestState::Pending) => {}
        Some(other) => return Ok(Transition::NotPending(other)),
    }
    close(&tx, id, RequestState::Cancelled, Some(by), at, None).await?;
    let after = get(&tx, id).await?;
    tx.commit().await?;
    Ok(after.map_or(Transition::NotFound, Transition::Decided))
}

/// Expires what is due in one statement: of replicas asking at once, each request is expired
/// (and returned) by exactly one.
pub(super) async fn count_pending(client: &Client) -> StoreResult<usize> {
    let row = client
        .query_one("SELECT count(*) FROM requests WHERE state = 'pending'", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)? as usize)
}

pub(super) async fn expire(client: &mut Client, now: Millis) -> StoreResult<Vec<Request>> {
    let tx = client.transaction().await?;
    let ids: Vec<String> = tx
        .query(
            "UPDATE requests SET state = 'expired', decided_at = $1, decided_by = NULL \
             WHERE state = 'pending' AND expires_at <= $1 RETURNING id",
            &[&now],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut expired = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(r) = get(&tx, id).await? {
            expired.push(r);
        }
    }
    tx.commit().await?;
    Ok(expired)
}
