//! Rewrites cached per statement text, so a repeated statement costs a hash and a lookup, not a
//! parse and a deparse.
//!
//! The key is everything a rewrite depends on: the text, the catalog snapshot's version, the
//! search path, and the subject's view of the masking policy (an id the caller gives; the same id
//! must always mean the same masks). Refusals are cached too: they are as deterministic.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use crate::catalog::Catalog;
use crate::error::Refusal;
use crate::masks::ColumnMasks;
use crate::rewrite::{rewrite_planned, MaskPlans, Protocol, Rewritten};
use crate::search_path::SearchPath;

/// A cached outcome, shared with every session that asks for it.
pub type CachedRewrite = Arc<Result<Rewritten, Refusal>>;

/// Statements longer than this are rewritten every time: long texts are rarely repeated, and the
/// bound keeps the cache's memory at most ~`capacity` × 2 × this.
pub const MAX_CACHED_STATEMENT: usize = 8 * 1024;

/// Subject views × catalog versions whose masking queries are kept; past this the plans are
/// dropped and rebuilt on demand (they are a speed-up, never needed for correctness).
const MAX_PLAN_SETS: usize = 256;

/// A bounded LRU of rewrites, safe to share between sessions. It also keeps each subject's
/// parsed masking queries, so a new statement over known tables parses only itself.
pub struct RewriteCache {
    lru: Mutex<Lru>,
    plans: Mutex<HashMap<(u64, u64), Arc<MaskPlans>>>,
}

impl RewriteCache {
    pub fn new(capacity: usize) -> RewriteCache {
        RewriteCache {
            lru: Mutex::new(Lru::new(capacity.max(1))),
            plans: Mutex::new(HashMap::new()),
        }
    }

    fn plans_for(&self, catalog_version: u64, subject_view: u64) -> Arc<MaskPlans> {
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        if plans.len() >= MAX_PLAN_SETS && !plans.contains_key(&(catalog_version, subject_view)) {
            plans.clear();
        }
        plans
            .entry((catalog_version, subject_view))
            .or_default()
            .clone()
    }

    /// The rewrite of `sql`, from the cache when it is there.
    pub fn rewrite(
        &self,
        sql: &str,
        catalog: &Catalog,
        search_path: &SearchPath,
        masks: &dyn ColumnMasks,
        subject_view: u64,
        protocol: Protocol,
    ) -> CachedRewrite {
        let run = || {
            let plans = self.plans_for(catalog.version(), subject_view);
            rewrite_planned(sql, catalog, search_path, masks, protocol, Some(&plans))
        };
        if sql.len() > MAX_CACHED_STATEMENT {
            return Arc::new(run());
        }
        let key = KeyRef {
            sql,
            catalog_version: catalog.version(),
            search_path: search_path.cache_key(),
            subject_view,
            protocol,
        };
        let hash = key.hash64();
        if let Some(hit) = self.lock().get(hash, &key) {
            return hit;
        }
        // Rewritten outside the lock: a concurrent miss on the same text rewrites it twice,
        // which is cheaper than making every session wait on one parse.
        let value = Arc::new(run());
        self.lock().insert(hash, &key, value.clone());
        value
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock leaves a consistent LRU (no method panics midway).
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct KeyRef<'a> {
    sql: &'a str,
    catalog_version: u64,
    search_path: &'a str,
    subject_view: u64,
    protocol: Protocol,
}

impl KeyRef<'_> {
    fn hash64(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.sql.hash(&mut h);
        self.catalog_version.hash(&mut h);
        self.search_path.hash(&mut h);
        self.subject_view.hash(&mut h);
        self.protocol.hash(&mut h);
        h.finish()
    }
}

struct Entry {
    hash: u64,
    sql: Box<str>,
    catalog_version: u64,
    search_path: Box<str>,
    subject_view: u64,
    protocol: Protocol,
    value: CachedRewrite,
    /// Neighbours in recency order (towards most and least recently used).
    newer: Option<usize>,
    older: Option<usize>,
}

impl Entry {
    fn matches(&self, key: &KeyRef<'_>) -> bool {
        &*self.sql == key.sql
            && self.catalog_version == key.catalog_version
            && &*self.search_path == key.search_path
            && self.subject_view == key.subject_view
            && self.protocol == key.protocol
    }
}

/// Entries in a slab, linked from most to least recently used; a hash index over the slab.
/// On a (64-bit) hash collision the older entry is replaced: a miss, never a wrong answer.
struct Lru {
    capacity: usize,
    map: HashMap<u64, usize>,
    slab: Vec<Entry>,
    newest: Option<usize>,
    oldest: Option<usize>,
}

impl Lru {
    fn new(capacity: usize) -> Lru {
        Lru {
            capacity,
            map: HashMap::with_capacity(capacity),
            slab: Vec::with_capacity(capacity),
            newest: None,
            oldest: None,
        }
    }

    fn get(&mut self, hash: u64, key: &KeyRef<'_>) -> Option<CachedRewrite> {
        let &slot = self.map.get(&hash)?;
        if !self.slab[slot].matches(key) {
            return None;
        }
        self.unlink(slot);
        self.push_newest(slot);
        Some(self.slab[slot].value.clone())
    }

    fn insert(&mut self, hash: u64, key: &KeyRef<'_>, value: CachedRewrite) {
        let entry = Entry {
            hash,
            sql: key.sql.into(),
            catalog_version: key.catalog_version,
            search_path: key.search_path.into(),
            subject_view: key.subject_view,
            protocol: key.protocol,
            value,
            newer: None,
            older: None,
        };
        let slot = if let Some(&slot) = self.map.get(&hash) {
            self.unlink(slot);
            slot
        } else if self.slab.len() < self.capacity {
            self.slab.push(entry);
            let slot = self.slab.len() - 1;
            self.map.insert(hash, slot);
            self.push_newest(slot);
            return;
        } else {
            let Some(slot) = self.oldest else { return };
            self.unlink(slot);
            self.map.remove(&self.slab[slot].hash);
            self.map.insert(hash, slot);
            slot
        };
        self.slab[slot] = entry;
        self.push_newest(slot);
    }

    fn unlink(&mut self, slot: usize) {
        let (newer, older) = (self.slab[slot].newer, self.slab[slot].older);
        match newer {
            Some(n) => self.slab[n].older = older,
            None => self.newest = older,
        }
        match older {
            Some(o) => self.slab[o].newer = newer,
            None => self.oldest = newer,
        }
        self.slab[slot].newer = None;
        self.slab[slot].older = None;
    }

    fn push_newest(&mut self, slot: usize) {
        self.slab[slot].older = self.newest;
        self.slab[slot].newer = None;
        if let Some(n) = self.newest {
            self.slab[n].newer = Some(slot);
        }
        self.newest = Some(slot);
        if self.oldest.is_none() {
            self.oldest = Some(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(tag: &str) -> CachedRewrite {
        Arc::new(Ok(Rewritten {
            sql: tag.to_string(),
            changed: false,
            statements: 1,
            protected_touched: false,
            changes_catalog: false,
            masked_in_results: Vec::new(),
            search_path_change: None,
        }))
    }

    fn key(sql: &str) -> KeyRef<'_> {
        KeyRef {
            sql,
            catalog_version: 1,
            search_path: "p",
            subject_view: 9,
            protocol: Protocol::Extended,
        }
    }

    fn sql_of(v: &CachedRewrite) -> String {
        match &**v {
            Ok(r) => r.sql.clone(),
            Err(e) => e.message.clone(),
        }
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut lru = Lru::new(2);
        for s in ["a", "b"] {
            let k = key(s);
            lru.insert(k.hash64(), &k, value(s));
        }
        let a = key("a");
        assert!(lru.get(a.hash64(), &a).is_some(), "a is now the newest");
        let c = key("c");
        lru.insert(c.hash64(), &c, value("c"));
        let b = key("b");
        assert!(lru.get(b.hash64(), &b).is_none(), "b was the oldest");
        assert_eq!(
            lru.get(a.hash64(), &a).map(|v| sql_of(&v)),
            Some("a".into())
        );
        assert_eq!(
            lru.get(c.hash64(), &c).map(|v| sql_of(&v)),
            Some("c".into())
        );
        assert_eq!(lru.map.len(), 2);
    }

    #[test]
    fn every_key_part_matters() {
        let mut lru = Lru::new(4);
        let k = key("x");
        lru.insert(k.hash64(), &k, value("x"));
        let other_view = KeyRef {
            subject_view: 10,
            ..key("x")
        };
        assert!(lru.get(other_view.hash64(), &other_view).is_none());
        let other_catalog = KeyRef {
            catalog_version: 2,
            ..key("x")
        };
        assert!(lru.get(other_catalog.hash64(), &other_catalog).is_none());
        // A colliding hash with another key is a miss, not a wrong hit.
        assert!(lru.get(k.hash64(), &key("y")).is_none());
    }

    #[test]
    fn reinserting_a_key_replaces_it() {
        let mut lru = Lru::new(2);
        let k = key("x");
        lru.insert(k.hash64(), &k, value("old"));
        lru.insert(k.hash64(), &k, value("new"));
        assert_eq!(lru.map.len(), 1);
        assert_eq!(
            lru.get(k.hash64(), &k).map(|v| sql_of(&v)),
            Some("new".into())
        );
    }
}
