//! The upstream catalog (relations, columns, types, view definitions, functions) that the
//! masking rewriter resolves names against: loaded over a service connection of jitgate's own,
//! cached per resource, and reloaded after DDL passes through jitgate or when it grows old. Each
//! session's checks hold a [`SessionCatalog`], renewed before the session's next statements.

use crate::codec::backend::{self, DataRow, ErrorFields};
use crate::codec::{read_message, Message};
use crate::resource::ResourceFront;
use crate::upstream;
use bytes::BytesMut;
use jitgate_pg_sql::{Catalog, CatalogRows, Row};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// A snapshot older than this is reloaded before the next statement of an analysed session (or
/// its login), catching DDL that did not pass through jitgate.
const MAX_AGE: Duration = Duration::from_secs(30);
/// Largest catalog message accepted (a view definition can be long).
const MAX_MESSAGE: usize = 64 << 20;

/// Catalog snapshots per resource.
#[derive(Default)]
pub struct CatalogCache {
    snapshots: Mutex<HashMap<Arc<str>, Snapshot>>,
    /// Versions key the rewrite cache: every snapshot gets a new one.
    versions: AtomicU64,
}

#[derive(Clone)]
struct Snapshot {
    catalog: Arc<Catalog>,
    loaded: Instant,
    /// The resource's DDL counter when it was loaded.
    ddl_epoch: u64,
}

impl Snapshot {
    /// Whether DDL went through jitgate since, or it grew old.
    fn outdated(&self, resource: &ResourceFront) -> bool {
        self.ddl_epoch != resource.ddl_epoch.load(Ordering::Acquire)
            || self.loaded.elapsed() >= MAX_AGE
    }
}

impl CatalogCache {
    /// The current snapshot of `resource`'s catalog, loading it when missing, stale or outdated
    /// by DDL.
    async fn snapshot(&self, resource: &ResourceFront) -> Result<Snapshot, String> {
        if let Some(s) = self.lock().get(&resource.name) {
            if !s.outdated(resource) {
                return Ok(s.clone());
            }
        }
        // The epoch before the load: DDL that completes during it outdates the result.
        let epoch = resource.ddl_epoch.load(Ordering::Acquire);
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot = Snapshot {
            catalog: Arc::new(load(resource, version).await?),
            loaded: Instant::now(),
            ddl_epoch: epoch,
        };
        self.lock().insert(resource.name.clone(), snapshot.clone());
        Ok(snapshot)
    }

    /// The snapshot a new session of `resource` starts with.
    pub async fn session(
        self: &Arc<Self>,
        resource: &ResourceFront,
    ) -> Result<Arc<SessionCatalog>, String> {
        let snapshot = self.snapshot(resource).await?;
        Ok(Arc::new(SessionCatalog {
            cache: self.clone(),
            current: Mutex::new(Current {
                snapshot,
                failure: None,
            }),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Snapshot>> {
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The catalog snapshot one session's checks (rewriter, read-only classification, result
/// filter) decide with. It is renewed before the session's next messages are analysed whenever
/// DDL went through jitgate, in any session, or it grew older than [`MAX_AGE`]: a session that
/// kept its login-time snapshot would read a view created or replaced since as the unknown or
/// clear relation it was, unmasked.
pub struct SessionCatalog {
    cache: Arc<CatalogCache>,
    current: Mutex<Current>,
}

struct Current {
    snapshot: Snapshot,
    /// Why the last renewal failed: until one succeeds, nothing may be decided with the old
    /// snapshot.
    failure: Option<String>,
}

impl SessionCatalog {
    /// The snapshot to decide with, or why there is none that can be trusted.
    pub fn catalog(&self) -> Result<Arc<Catalog>, String> {
        let current = self.lock();
        match &current.failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(current.snapshot.catalog.clone()),
        }
    }

    /// The snapshot as it is, for the result filter: a newer snapshot only knows more origins.
    pub fn last(&self) -> Arc<Catalog> {
        self.lock().snapshot.catalog.clone()
    }

    /// Renews the snapshot if it is outdated; a failure makes [`SessionCatalog::catalog`]
    /// refuse until a later renewal succeeds.
    pub async fn renew(&self, resource: &ResourceFront) {
        if !self.lock().snapshot.outdated(resource) {
            return;
        }
        let renewed = self.cache.snapshot(resource).await;
        let mut current = self.lock();
        match renewed {
            Ok(snapshot) => {
                current.snapshot = snapshot;
                current.failure = None;
            }
            Err(e) => current.failure = Some(e),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session catalog that is never renewed (tests of the checks that use it).
    #[cfg(test)]
    pub fn fixed(catalog: Catalog) -> Arc<SessionCatalog> {
        Arc::new(SessionCatalog {
            cache: Arc::default(),
            current: Mutex::new(Current {
                snapshot: Snapshot {
                    catalog: Arc::new(catalog),
                    loaded: Instant::now(),
                    ddl_epoch: 0,
                },
                failure: None,
            }),
        })
    }
}

/// Runs the catalog queries in one read-only snapshot on a fresh service connection.
async fn load(resource: &ResourceFront, version: u64) -> Result<Catalog, String> {
    let mut conn = upstream::connect(&resource.upstream, resource.upstream_tls.as_ref(), &[])
        .await
        .map_err(|e| format!("connecting to read the catalog: {e}"))?;
    let mut buf = std::mem::take(&mut conn.read_buf);
    let stream = &mut conn.stream;
    simple_query(stream, &mut buf, Catalog::LOAD_BEGIN).await?;
    simple_query(stream, &mut buf, Catalog::LOAD_SEARCH_PATH).await?;
    let mut results = Vec::with_capacity(Catalog::LOAD_QUERIES.len());
    for sql in Catalog::LOAD_QUERIES {
        results.push(simple_query(stream, &mut buf, sql).await?);
    }
    simple_query(stream, &mut buf, Catalog::LOAD_END).await?;
    let mut results = results.into_iter();
    let mut next = || results.next().unwrap_or_default();
    let rows = CatalogRows {
        relations: next(),
        columns: next(),
        view_dependencies: next(),
        functions: next(),
    };
    let mut bye = BytesMut::new();
    backend::terminate(&mut bye);
    let _ = conn.stream.write_all(&bye).await;
    Catalog::from_rows(version, &rows).map_err(|e| format!("reading the catalog: {e}"))
}

/// Runs one statement with the simple query protocol and returns its rows as text.
async fn simple_query(
    stream: &mut crate::stream::PgStream,
    buf: &mut BytesMut,
    sql: &str,
) -> Result<Vec<Row>, String> {
    let mut q = BytesMut::with_capacity(sql.len() + 6);
    backend::query(&mut q, sql);
    stream
        .write_all(&q)
        .await
        .map_err(|e| format!("sending a catalog query: {e}"))?;
    let mut rows = Vec::new();
    let mut error = None;
    loop {
        let Message { tag, body } = read_message(stream, buf, MAX_MESSAGE)
            .await
            .map_err(|e| format!("reading the catalog: {e}"))?;
        match tag {
            backend::DATA_ROW => {
                rows.push(parse_row(&body).ok_or("malformed DataRow in the catalog")?)
            }
            backend::ERROR_RESPONSE => {
                let message = ErrorFields(&body).message().unwrap_or_default();
                let message = String::from_utf8_lossy(message);
                error = Some(format!("catalog query failed: {message}"));
            }
            backend::READY_FOR_QUERY => break,
            _ => {}
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(rows),
    }
}

fn parse_row(body: &[u8]) -> Option<Row> {
    let values = DataRow::decode(body).and_then(|row| row.values()).ok()?;
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    Some(values.into_iter().map(|v| v.map(text)).collect())
}

/// Whether a CommandComplete tag says the schema may have changed.
pub fn is_ddl_tag(body: &[u8]) -> bool {
    [
        &b"CREATE"[..],
        b"ALTER",
        b"DROP",
        b"COMMENT",
        b"GRANT",
        b"REVOKE",
    ]
    .iter()
    .any(|p| body.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_with_nulls() {
        let mut body = vec![0, 2];
        body.extend_from_slice(&3i32.to_be_bytes());
        body.extend_from_slice(b"abc");
        body.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(parse_row(&body), Some(vec![Some("abc".into()), None]));
        assert_eq!(parse_row(&body[..5]), None);
    }

    #[test]
    fn ddl_tags_are_recognised() {
        assert!(is_ddl_tag(b"CREATE TABLE\0"));
        assert!(is_ddl_tag(b"ALTER TABLE\0"));
        assert!(!is_ddl_tag(b"SELECT 3\0"));
    }
}
