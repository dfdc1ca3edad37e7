//! Finished traces kept in memory by execution, bounded in bytes.
//!
//! An entry weighs its tree (`weight::tree_bytes`), its content-withheld form once one was made, and
//! the few answers rendered from it; the cache evicts, in O(1) per entry, the least valuable
//! entries (CLOCK-Pro, from `quick_cache`) until the total is back under its bound. An entry
//! grows after it was admitted (a withheld form, a rendered answer): such growth stops at half
//! a shard's bound per entry, and the shard evicts back under its bound at its next insertion.
//!
//! A finished trace is cached as soon as it is fetched. Late spans (exported after the run ended,
//! retried after a busy answer) are handled one of two ways ([`LateSpans`]):
//! - the server's own span writer drops the entry of every execution it writes to; a fetch that
//!   raced with such a write is not kept (see `Ticket`);
//! - with a trace store the server does not write to, nothing says a trace changed: an entry
//!   cached within [`LATE_SPANS_NANOS`] of its run's end expires when that time has passed, so
//!   the next request fetches it again; an entry cached later lives until evicted.

use std::hash::BuildHasher;
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use orcheo_pricing::TraceCosts;
use orcheo_trace_model::{ExecutionId, Timestamp, TraceTree};
use quick_cache::sync::{Cache, EntryAction};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

/// How long after a run ends its trace may still grow (late exports, retried after a busy answer).
pub const LATE_SPANS_NANOS: u64 = 30 * 1_000_000_000;
/// Rendered answers kept per cached trace (views × content policy).
const MAX_BODIES_PER_TRACE: usize = 4;
/// Shards of the cache: each has its own lock and a quarter of the bytes.
const SHARDS: usize = 4;
/// A guess of an average entry's weight, to size the cache's tables.
const TYPICAL_ENTRY_BYTES: u64 = 256 * 1024;
/// Invalidation stamps: an execution id hashes to one; two that share one only cost a fetch
/// that is not kept.
const STAMPS: usize = 4096;

/// How a cached trace learns that spans were added to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateSpans {
    /// The server's span writer drops the entries of the executions it writes to
    /// ([`TraceInvalidator`]): entries live until evicted.
    Invalidated,
    /// Nothing tells: an entry cached within [`LATE_SPANS_NANOS`] of its run's end expires then.
    Expire,
}

/// The cache's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The bound on the entries' total weight; `0` turns the cache off.
    pub bytes: u64,
    pub late_spans: LateSpans,
}

/// Wall-clock time, injected so that expiry can be tested without waiting.
pub(crate) type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// A cached trace: the tree, its spans' costs, its content-withheld form once made, and answers
/// rendered from it. Cloning shares everything.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub(crate) full: Arc<TraceTree>,
    /// The costs of `full`'s spans (the same for its content-withheld form).
    pub(crate) costs: Arc<TraceCosts>,
    withheld: Option<Arc<TraceTree>>,
    bodies: Arc<[(String, Bytes)]>,
    /// Unix nanoseconds; `None`: until evicted or invalidated.
    expires_at: Option<u64>,
    weight: u64,
}

impl Cached {
    /// The content-withheld form, if it was made.
    pub(crate) fn withheld(&self) -> Option<&Arc<TraceTree>> {
        self.withheld.as_ref()
    }

    /// An answer rendered earlier under `key`.
    pub(crate) fn body(&self, key: &str) -> Option<Bytes> {
        self.bodies
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, body)| body.clone())
    }
}

#[derive(Debug, Clone, Copy)]
struct ByWeight;

impl Weighter<String, Cached> for ByWeight {
    fn weight(&self, _key: &String, value: &Cached) -> u64 {
        value.weight
    }
}

/// Taken before a fetch: the fetched tree is kept only if no span of the execution was written
/// in between ([`TraceCache::insert`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    slot: usize,
    stamp: u64,
}

/// Drops cached traces whose executions changed (late spans, a root describing its run); the
/// receiver's writer holds one.
#[derive(Debug, Clone)]
pub struct TraceInvalidator {
    pub(crate) cache: Arc<TraceCache>,
}

impl orcheo_trace_model::SpanWatcher for TraceInvalidator {
    fn spans_committed(&self, executions: &[ExecutionId]) {
        self.forget(executions);
    }
}

impl TraceInvalidator {
    pub fn forget(&self, executions: &[ExecutionId]) {
        for execution in executions {
            self.cache.invalidate(execution.as_str());
        }
    }
}

/// Finished traces by execution id.
pub(crate) struct TraceCache {
    /// `None`: the cache is off.
    entries: Option<Cache<String, Cached, ByWeight>>,
    late_spans: LateSpans,
    /// The most one entry may weigh, growth included.
    max_entry: u64,
    /// Bumped for every write to an execution whose id hashes to the slot.
    stamps: Box<[AtomicU64]>,
    hasher: DefaultHashBuilder,
    clock: Clock,
}

impl std::fmt::Debug for TraceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceCache")
            .field("bytes", &self.bytes())
            .field("late_spans", &self.late_spans)
            .finish_non_exhaustive()
    }
}

impl TraceCache {
    pub(crate) fn new(config: CacheConfig) -> Self {
        Self::with_clock(config, Arc::new(Timestamp::now))
    }

    pub(crate) fn with_clock(config: CacheConfig, clock: Clock) -> Self {
        let entries = (config.bytes > 0)
            .then(|| {
                let options = OptionsBuilder::new()
                    .shards(SHARDS)
                    .estimated_items_capacity(
                        usize::try_from(config.bytes / TYPICAL_ENTRY_BYTES)
                            .unwrap_or(usize::MAX)
                            .max(1),
                    )
                    .weight_capacity(config.bytes)
                    .build()
                    .ok()?;
                Some(Cache::with_options(
                    options,
                    ByWeight,
                    DefaultHashBuilder::default(),
                    quick_cache::sync::DefaultLifecycle::default(),
                ))
            })
            .flatten();
        let max_entry = entries.as_ref().map_or(0, |e| e.shard_capacity() / 2);
        Self {
            entries,
            late_spans: config.late_spans,
            max_entry,
            stamps: (0..STAMPS).map(|_| AtomicU64::new(0)).collect(),
            hasher: DefaultHashBuilder::default(),
            clock,
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.entries.is_some()
    }

    /// The entries' total weight.
    pub(crate) fn bytes(&self) -> u64 {
        self.entries.as_ref().map_or(0, Cache::weight)
    }

    fn slot(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) % STAMPS as u64) as usize
    }

    /// To take before fetching the trace of `key`.
    pub(crate) fn ticket(&self, key: &str) -> Ticket {
        let slot = self.slot(key);
        Ticket {
            slot,
            stamp: self.stamps[slot].load(Ordering::Acquire),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Cached> {
        let entries = self.entries.as_ref()?;
        let cached = entries.get(key)?;
        if cached
            .expires_at
            .is_some_and(|at| (self.clock)().unix_nanos() >= at)
        {
            entries.remove_if(key, |v| Arc::ptr_eq(&v.full, &cached.full));
            return None;
        }
        Some(cached)
    }

    /// Keeps the finished trace of `key`, fetched after `ticket` was taken, of a run that ended
    /// at `run_ended`, with its spans' costs; `tree_bytes` is the weight of both. The entry, if
    /// it was kept.
    pub(crate) fn insert(
        &self,
        key: &str,
        ticket: Ticket,
        tree: Arc<TraceTree>,
        costs: Arc<TraceCosts>,
        tree_bytes: usize,
        run_ended: Timestamp,
    ) -> Option<Cached> {
        let entries = self.entries.as_ref()?;
        let weight = (tree_bytes + key.len() + size_of::<(String, Cached)>()) as u64;
        if weight > self.max_entry {
            return None;
        }
        let expires_at = match self.late_spans {
            LateSpans::Invalidated => None,
            LateSpans::Expire => {
                let settled = run_ended.unix_nanos().saturating_add(LATE_SPANS_NANOS);
                (settled > (self.clock)().unix_nanos()).then_some(settled)
            }
        };
        let cached = Cached {
            full: tree,
            costs,
            withheld: None,
            bodies: Arc::from([]),
            expires_at,
            weight,
        };
        entries.insert(key.to_owned(), cached.clone());
        // A write that came between the fetch and the insertion may have found nothing to drop.
        if self.stamps[ticket.slot].load(Ordering::Acquire) != ticket.stamp {
            entries.remove_if(key, |v| Arc::ptr_eq(&v.full, &cached.full));
            return None;
        }
        Some(cached)
    }

    /// Drops the entry of `key`: spans of its execution were written.
    pub(crate) fn invalidate(&self, key: &str) {
        let slot = self.slot(key);
        self.stamps[slot].fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.remove(key);
        }
    }

    /// Adds the content-withheld form of `full` to its entry, if that is still cached.
    pub(crate) fn keep_withheld(
        &self,
        key: &str,
        full: &Arc<TraceTree>,
        withheld: Arc<TraceTree>,
        bytes: usize,
    ) {
        self.grow(key, full, bytes, |cached| {
            if cached.withheld.is_some() {
                return false;
            }
            cached.withheld = Some(withheld);
            true
        });
    }

    /// Adds an answer rendered from `full` to its entry, if that is still cached.
    pub(crate) fn keep_body(&self, key: &str, full: &Arc<TraceTree>, name: String, body: Bytes) {
        let bytes = name.len() + body.len() + size_of::<(String, Bytes)>();
        self.grow(key, full, bytes, |cached| {
            if cached.bodies.len() >= MAX_BODIES_PER_TRACE
                || cached.bodies.iter().any(|(k, _)| *k == name)
            {
                return false;
            }
            cached.bodies = cached
                .bodies
                .iter()
                .cloned()
                .chain(std::iter::once((name, body)))
                .collect();
            true
        });
    }

    /// Applies `add` to the entry of `key` while it holds `full` and stays within the bound of
    /// one entry; `add` says whether it added `bytes`.
    fn grow(
        &self,
        key: &str,
        full: &Arc<TraceTree>,
        bytes: usize,
        add: impl FnOnce(&mut Cached) -> bool,
    ) {
        let Some(entries) = &self.entries else { return };
        let max_entry = self.max_entry;
        // An entry another request is filling is left alone rather than waited for; the
        // placeholder of a vacant one is dropped with the result, inserting nothing.
        drop(entries.entry(key, Some(Duration::ZERO), |_, cached| {
            let weight = cached.weight.saturating_add(bytes as u64);
            if Arc::ptr_eq(&cached.full, full) && weight <= max_entry && add(cached) {
                cached.weight = weight;
            }
            EntryAction::Retain(())
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    const SECOND: u64 = 1_000_000_000;

    /// A clock the test moves.
    fn clock(start: u64) -> (Arc<AtomicU64>, Clock) {
        let now = Arc::new(AtomicU64::new(start));
        let read = Arc::clone(&now);
        (
            now,
            Arc::new(move || Timestamp::from_unix_nanos(read.load(Ordering::SeqCst))),
        )
    }

    fn cache(bytes: u64, late_spans: LateSpans) -> (Arc<AtomicU64>, TraceCache) {
        let (now, clock) = clock(1_000 * SECOND);
        (
            now,
            TraceCache::with_clock(CacheConfig { bytes, late_spans }, clock),
        )
    }

    fn tree() -> Arc<TraceTree> {
        Arc::new(TraceTree::default())
    }

    fn put(cache: &TraceCache, key: &str, bytes: usize, ended: u64) -> Option<Cached> {
        let ticket = cache.ticket(key);
        cache.insert(
            key,
            ticket,
            tree(),
            Arc::default(),
            bytes,
            Timestamp::from_unix_nanos(ended),
        )
    }

    #[test]
    fn the_byte_bound_evicts() {
        let (_, cache) = cache(100_000, LateSpans::Invalidated);
        for n in 0..50 {
            assert!(put(&cache, &format!("exec_{n}"), 10_000, 0).is_some());
        }
        assert!(cache.bytes() <= 100_000, "{}", cache.bytes());
        let kept = (0..50)
            .filter(|n| cache.get(&format!("exec_{n}")).is_some())
            .count();
        assert!((5..=10).contains(&kept), "{kept} entries of 10,000 bytes");
    }

    #[test]
    fn a_trace_over_half_the_bound_is_not_kept() {
        let (_, cache) = cache(100_000, LateSpans::Invalidated);
        assert!(put(&cache, "exec_huge", 60_000, 0).is_none());
        assert!(cache.get("exec_huge").is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_cache_is_off_at_zero_bytes() {
        let (_, cache) = cache(0, LateSpans::Invalidated);
        assert!(put(&cache, "exec_a", 1, 0).is_none());
        assert!(cache.get("exec_a").is_none());
    }

    #[test]
    fn invalidation_drops_the_entry() {
        let (_, cache) = cache(100_000, LateSpans::Invalidated);
        put(&cache, "exec_a", 100, 0);
        put(&cache, "exec_b", 100, 0);
        cache.invalidate("exec_a");
        assert!(cache.get("exec_a").is_none());
        assert!(cache.get("exec_b").is_some());
    }

    #[test]
    fn a_fetch_that_raced_with_a_write_is_not_kept() {
        let (_, cache) = cache(100_000, LateSpans::Invalidated);
        let ticket = cache.ticket("exec_a");
        // Spans arrive while the trace is being fetched: nothing is cached yet to drop.
        cache.invalidate("exec_a");
        let kept = cache.insert(
            "exec_a",
            ticket,
            tree(),
            Arc::default(),
            100,
            Timestamp::from_unix_nanos(0),
        );
        assert!(kept.is_none());
        assert!(cache.get("exec_a").is_none());
        assert!(
            put(&cache, "exec_a", 100, 0).is_some(),
            "a later fetch is kept"
        );
    }

    #[test]
    fn with_invalidation_a_just_finished_trace_lives_on() {
        let (now, cache) = cache(100_000, LateSpans::Invalidated);
        let ended = now.load(Ordering::SeqCst) - SECOND;
        put(&cache, "exec_a", 100, ended);
        now.fetch_add(3_600 * SECOND, Ordering::SeqCst);
        assert!(cache.get("exec_a").is_some());
    }

    #[test]
    fn without_invalidation_a_young_entry_expires_after_the_late_spans_period() {
        let (now, cache) = cache(100_000, LateSpans::Expire);
        let start = now.load(Ordering::SeqCst);
        // Ended 10 s ago: kept for 20 s more.
        put(&cache, "exec_young", 100, start - 10 * SECOND);
        // Ended 31 s ago: kept until evicted.
        put(&cache, "exec_old", 100, start - 31 * SECOND);
        now.store(start + 19 * SECOND, Ordering::SeqCst);
        assert!(cache.get("exec_young").is_some());
        now.store(start + 20 * SECOND, Ordering::SeqCst);
        assert!(cache.get("exec_young").is_none(), "expired");
        assert_eq!(cache.bytes(), cache.get("exec_old").map_or(0, |c| c.weight));
        now.store(start + 3_600 * SECOND, Ordering::SeqCst);
        assert!(cache.get("exec_old").is_some());
        // Fetched again after it expired: settled now, it stays.
        put(&cache, "exec_young", 100, start - 10 * SECOND);
        assert!(cache.get("exec_young").is_some());
    }

    #[test]
    fn rendered_answers_and_the_withheld_form_add_to_the_weight() {
        let (_, cache) = cache(100_000, LateSpans::Invalidated);
        let cached = put(&cache, "exec_a", 1_000, 0).unwrap();
        let before = cache.bytes();
        cache.keep_body(
            "exec_a",
            &cached.full,
            "tree".into(),
            Bytes::from(vec![b'x'; 2_000]),
        );
        cache.keep_withheld("exec_a", &cached.full, tree(), 3_000);
        let after = cache.get("exec_a").unwrap();
        assert!(
            cache.bytes() >= before + 5_000,
            "{before} then {}",
            cache.bytes()
        );
        assert_eq!(after.body("tree").map(|b| b.len()), Some(2_000));
        assert!(after.withheld().is_some());
        // An answer that would make the entry outweigh half the bound is not kept.
        cache.keep_body(
            "exec_a",
            &cached.full,
            "big".into(),
            Bytes::from(vec![b'x'; 60_000]),
        );
        assert!(cache.get("exec_a").unwrap().body("big").is_none());
        // The same name is kept once.
        cache.keep_body(
            "exec_a",
            &cached.full,
            "tree".into(),
            Bytes::from_static(b"y"),
        );
        assert_eq!(
            cache.get("exec_a").unwrap().body("tree").map(|b| b.len()),
            Some(2_000)
        );
        // Four answers at most.
        for name in ["b", "c", "d", "e"] {
            cache.keep_body(
                "exec_a",
                &cached.full,
                name.into(),
                Bytes::from_static(b"z"),
            );
        }
        let last = cache.get("exec_a").unwrap();
        assert!(last.body("d").is_some());
        assert!(last.body("e").is_none());
        // Growth inserts nothing.
        cache.keep_body(
            "exec_b",
            &cached.full,
            "tree".into(),
            Bytes::from_static(b"z"),
        );
        assert!(cache.get("exec_b").is_none());
    }

    #[test]
    fn growth_never_reaches_a_newer_entry() {
        let (_, cache) = cache(100_000, LateSpans::Invalidated);
        let old = put(&cache, "exec_a", 100, 0).unwrap();
        cache.invalidate("exec_a");
        let new = put(&cache, "exec_a", 100, 0).unwrap();
        cache.keep_body(
            "exec_a",
            &old.full,
            "tree".into(),
            Bytes::from_static(b"old"),
        );
        let now = cache.get("exec_a").unwrap();
        assert!(Arc::ptr_eq(&now.full, &new.full));
        assert!(now.body("tree").is_none(), "rendered from the stale tree");
    }
}
