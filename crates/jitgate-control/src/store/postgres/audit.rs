//! The `audit` table: one hash-chained trail for the whole fleet. A batch takes a transaction
//! advisory lock before it reads the chain's head, so replicas append one after the other and
//! the chain stays gap-free; the batch itself is one INSERT of arrays, one round trip however
//! many events it holds.

use crate::audit::{chain_hash, stored_detail, AuditEvent, ChainedEvent, GENESIS};
use crate::store::StoreResult;
use tokio_postgres::Client;

/// The key of the advisory lock that serialises appends.
const CHAIN_LOCK: i64 = 0x6a69_7467_6174_6502;

#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    at: Vec<i64>,
    kind: Vec<String>,
    subject: Vec<Option<String>>,
    resource: Vec<Option<String>>,
    grant_id: Vec<Option<String>>,
    session_id: Vec<Option<String>>,
    detail: Vec<String>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

impl Columns {
    /// The events chained after `(seq, prev)`.
    fn chain(events: &[AuditEvent], mut seq: i64, mut prev: String) -> Columns {
        let mut c = Columns::default();
        for e in events {
            seq += 1;
            let hash = chain_hash(&prev, seq, e);
            c.seq.push(seq);
            c.at.push(e.at);
            c.kind.push(e.kind.clone());
            c.subject.push(e.subject.clone());
            c.resource.push(e.resource.clone());
            c.grant_id.push(e.grant_id.clone());
            c.session_id.push(e.session_id.clone());
            c.detail.push(e.detail.get().to_owned());
            c.prev_hash.push(std::mem::replace(&mut prev, hash.clone()));
            c.hash.push(hash);
        }
        c
    }
}

pub(super) async fn append(client: &mut Client, events: &[AuditEvent]) -> StoreResult<i64> {
    if events.is_empty() {
        return Ok(0);
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
        .await?;
    let head = tx
        .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .await?;
    let (seq, prev) = match head {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        None => (0, GENESIS.to_owned()),
    };
    let c = Columns::chain(events, seq, prev);
    tx.execute(
        "INSERT INTO audit (seq, at, kind, subject, resource, grant_id, session_id, detail, \
         prev_hash, hash) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], \
         $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])",
        &[
            &c.seq,
            &c.at,
            &c.kind,
            &c.subject,
            &c.resource,
            &c.grant_id,
            &c.session_id,
            &c.detail,
            &c.prev_hash,
            &c.hash,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(seq + 1)
}

pub(super) async fn after(
    client: &Client,
    after: i64,
    limit: usize,
) -> StoreResult<Vec<ChainedEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT seq, at, kind, subject, resource, grant_id, session_id, detail, prev_hash, \
             hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after, &limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ChainedEvent {
                seq: r.try_get(0)?,
                event: AuditEvent {
                    at: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    subject: r.try_get(3)?,
                    resource: r.try_get(4)?,
                    grant_id: r.try_get(5)?,
                    session_id: r.try_get(6)?,
                    detail: stored_detail(r.try_get(7)?),
                },
                prev_hash: r.try_get(8)?,
                hash: r.try_get(9)?,
            })
        })
        .collect()
}
