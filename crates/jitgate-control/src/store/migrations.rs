//! Versioned schema migrations, applied in order inside one transaction on open.
//! Never edit a released migration: add the next one.

pub const MIGRATIONS: &[&str] = &[
    // 1: the gateway core.
    "CREATE TABLE subjects (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL REFERENCES subjects(name),
        resource TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        granted_by TEXT NOT NULL,
        ended_at INTEGER,
        end_reason TEXT,
        ended_by TEXT
    );
    CREATE INDEX grants_unended ON grants(expires_at) WHERE ended_at IS NULL;
    CREATE TABLE credentials (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        grant_id TEXT NOT NULL REFERENCES grants(id),
        subject TEXT NOT NULL,
        resource TEXT NOT NULL,
        verifier TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        grant_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        client_addr TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        end_reason TEXT,
        bytes_from_client INTEGER NOT NULL DEFAULT 0,
        bytes_to_client INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_open ON sessions(started_at) WHERE ended_at IS NULL;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT,
        resource TEXT,
        grant_id TEXT,
        session_id TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );",
    // 2: requests and approvals, API tokens, read-only grants, deletable credentials.
    "CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        subject_groups TEXT NOT NULL,
        resource TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'expired')),
        created_at INTEGER NOT NULL,
        decided_at INTEGER,
        decided_by TEXT,
        expires_at INTEGER NOT NULL,
        approvals_required INTEGER NOT NULL,
        read_only INTEGER NOT NULL DEFAULT 0,
        grant_id TEXT REFERENCES grants(id)
    );
    CREATE INDEX requests_pending ON requests(expires_at) WHERE state = 'pending';
    CREATE INDEX requests_subject ON requests(subject, created_at);
    CREATE TABLE approvals (
        request_id TEXT NOT NULL REFERENCES requests(id),
        approver TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
        comment TEXT NOT NULL DEFAULT '',
        at INTEGER NOT NULL,
        UNIQUE (request_id, approver)
    );
    CREATE TABLE api_tokens (
        token_hash TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        groups TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    ALTER TABLE credentials ADD COLUMN deleted_at INTEGER;
    CREATE INDEX credentials_subject ON credentials(subject, created_at);
    ALTER TABLE grants ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grants ADD COLUMN request_id TEXT;
    CREATE INDEX grants_subject ON grants(subject, resource, expires_at);
    CREATE INDEX sessions_subject ON sessions(subject, started_at);",
    // 3: subjects known from an OpenID Connect provider, with the groups their last validated
    // token proved (what masking exemptions and group-loss checks go by), the provider's
    // refresh token jitgate re-reads them with, and the SHA-256 of the renewal token the
    // subject's CLI holds instead.
    "CREATE TABLE external_subjects (
        name TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        groups TEXT NOT NULL,
        last_seen INTEGER NOT NULL,
        refresh_token TEXT,
        renewal_hash TEXT
    );
    CREATE UNIQUE INDEX external_subjects_renewal ON external_subjects(renewal_hash)
        WHERE renewal_hash IS NOT NULL;",
    // 4: what cancels a session's upstream work (a PostgreSQL backend key, as JSON), for the
    // next start to cancel what a dead process left running.
    "ALTER TABLE sessions ADD COLUMN upstream_cancel TEXT;",
    // 5: several gateway replicas: the replica a session runs on, and a kill asked for by
    // another process (an API call served by another replica, an admin command).
    "ALTER TABLE sessions ADD COLUMN replica TEXT NOT NULL DEFAULT 'main';
    ALTER TABLE sessions ADD COLUMN kill_reason TEXT;
    CREATE INDEX sessions_replica_open ON sessions(replica) WHERE ended_at IS NULL;",
    // 6: the native provisioning ledger and fleet-wide job claims.
    super::sqlite::provisioning::PROVISIONING_MIGRATION,
    // 7: which process holds each replica name, and its last heartbeat (duplicate names are
    // refused; the sessions of a replica gone silent are ended by another).
    "CREATE TABLE replicas (
        name TEXT PRIMARY KEY,
        instance TEXT NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        lost_after_ms INTEGER NOT NULL
    );",
    // 8: a credential's `mysql_native_password` hash, SHA1(SHA1(secret)) in its text form, only
    // for resources with `native_password = true` (NULL elsewhere).
    "ALTER TABLE credentials ADD COLUMN native_password TEXT;",
];
