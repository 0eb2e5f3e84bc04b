//! The PostgreSQL schema, versioned like the SQLite one and applied in one transaction on open;
//! replicas starting together wait for each other on an advisory lock. Never edit a released
//! migration: add the next one.

use crate::store::{StoreError, StoreResult};
use tokio_postgres::Client;

/// Any constant both sides agree on: the key of the advisory lock migrations take.
const MIGRATION_LOCK: i64 = 0x6a69_7467_6174_6501;

const MIGRATIONS: &[&str] = &[
    // 1: the schema of SQLite migrations 1 to 5. Ids compare bytewise (as in SQLite and in
    // listings' cursors), whatever the database's collation.
    "CREATE TABLE subjects (
        name TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE grants (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        subject TEXT NOT NULL REFERENCES subjects(name),
        resource TEXT NOT NULL,
        starts_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        granted_by TEXT NOT NULL,
        ended_at BIGINT,
        end_reason TEXT,
        ended_by TEXT,
        read_only BOOLEAN NOT NULL DEFAULT FALSE,
        request_id TEXT
    );
    CREATE INDEX grants_unended ON grants(expires_at) WHERE ended_at IS NULL;
    CREATE INDEX grants_subject ON grants(subject, resource, expires_at);
    CREATE TABLE credentials (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        grant_id TEXT NOT NULL REFERENCES grants(id),
        subject TEXT NOT NULL,
        resource TEXT NOT NULL,
        verifier TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        deleted_at BIGINT
    );
    CREATE INDEX credentials_subject ON credentials(subject, created_at);
    CREATE TABLE sessions (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        subject TEXT NOT NULL,
        grant_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        client_addr TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        end_reason TEXT,
        bytes_from_client BIGINT NOT NULL DEFAULT 0,
        bytes_to_client BIGINT NOT NULL DEFAULT 0,
        upstream_cancel TEXT,
        replica TEXT NOT NULL DEFAULT 'main',
        kill_reason TEXT
    );
    CREATE INDEX sessions_open ON sessions(started_at) WHERE ended_at IS NULL;
    CREATE INDEX sessions_subject ON sessions(subject, started_at);
    CREATE INDEX sessions_replica_open ON sessions(replica) WHERE ended_at IS NULL;
    CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT,
        resource TEXT,
        grant_id TEXT,
        session_id TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE requests (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        subject TEXT NOT NULL,
        subject_groups TEXT NOT NULL,
        resource TEXT NOT NULL,
        duration_ms BIGINT NOT NULL,
        reason TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'expired')),
        created_at BIGINT NOT NULL,
        decided_at BIGINT,
        decided_by TEXT,
        expires_at BIGINT NOT NULL,
        approvals_required BIGINT NOT NULL,
        read_only BOOLEAN NOT NULL DEFAULT FALSE,
        grant_id TEXT REFERENCES grants(id)
    );
    CREATE INDEX requests_pending ON requests(expires_at) WHERE state = 'pending';
    CREATE INDEX requests_subject ON requests(subject, created_at);
    CREATE TABLE approvals (
        request_id TEXT NOT NULL REFERENCES requests(id),
        approver TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
        comment TEXT NOT NULL DEFAULT '',
        at BIGINT NOT NULL,
        n BIGSERIAL,
        UNIQUE (request_id, approver)
    );
    CREATE TABLE api_tokens (
        token_hash TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        groups TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE TABLE external_subjects (
        name TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        groups TEXT NOT NULL,
        last_seen BIGINT NOT NULL,
        refresh_token TEXT,
        renewal_hash TEXT
    );
    CREATE UNIQUE INDEX external_subjects_renewal ON external_subjects(renewal_hash)
        WHERE renewal_hash IS NOT NULL;",
    // 2: the native provisioning ledger and fleet-wide job claims.
    super::provisioning::PROVISIONING_MIGRATION,
    // 3: SQLite migration 7, which process holds each replica name and its last heartbeat.
    "CREATE TABLE replicas (
        name TEXT PRIMARY KEY,
        instance TEXT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        lost_after_ms BIGINT NOT NULL
    );",
    // 4: SQLite migration 8, a credential's `mysql_native_password` hash (NULL unless its
    // resource has `native_password = true`).
    "ALTER TABLE credentials ADD COLUMN native_password TEXT;",
];

pub(super) async fn migrate(client: &mut Client) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS jitgate_schema (version BIGINT NOT NULL)")
        .await?;
    let version: i64 = tx
        .query_opt("SELECT version FROM jitgate_schema", &[])
        .await?
        .map_or(0, |r| r.get(0));
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.batch_execute(sql).await?;
    }
    tx.execute("DELETE FROM jitgate_schema", &[]).await?;
    tx.execute(
        "INSERT INTO jitgate_schema (version) VALUES ($1)",
        &[&known],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
