//! From an execution id to the tree a caller may see: authorize against the execution's tenant,
//! fetch its trace from the configured source, normalize, keep finished traces in a small cache,
//! and — when the trace store is down — fall back to a degraded tree built from the span
//! summaries the metadata store holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use orcheo_collector_client::{FetchError, FetchRequest, TimeWindow, TraceSource};
use orcheo_span_tree::filter::{self, ContentPolicy};
use orcheo_span_tree::normalize_with_anomalies;
use orcheo_span_tree::redact::Redactor;
use orcheo_trace_model::semconv;
use orcheo_trace_model::{
    ExecutionId, KeyValue, RawSpan, RawStatus, StatusCode, Timestamp, TraceId, TraceTree,
};
use orcheo_trace_store::{Execution, Store, StoredSummary};
use serde::Serialize;

use crate::discovery::{Found, SearchError, StoreSearch};
use crate::{Audience, TraceError, blocking};

/// Most summaries a degraded tree is built from.
const DEGRADED_MAX_SPANS: usize = 10_000;
/// How long to tell a client to wait when the store gave no hint.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest wait passed on from the store: a longer one (a misconfigured store, a proxy's
/// maintenance page) would keep clients away long after the store is back.
const MAX_RETRY_AFTER: Duration = Duration::from_mins(5);
/// How long after a run ends its trace may still grow (late exports): not cached before.
const CACHE_GRACE_NANOS: u64 = 30 * 1_000_000_000;
/// Rendered answers kept per cached trace (views × content policy).
const MAX_BODIES_PER_TRACE: usize = 4;
/// Bytes of rendered answers kept in all.
const RENDERED_BYTES_BUDGET: usize = 64 * 1024 * 1024;
/// Searched around an execution's times (clocks of executor and store differ).
const WINDOW_SLACK_NANOS: u64 = 10 * 60 * 1_000_000_000;

/// Where a tree came from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceInfo {
    /// `embedded`, `tempo`, `jaeger`…
    pub backend: &'static str,
    /// `true`: the trace store could not answer; the tree was built from span summaries
    /// (names, times, status, tokens — no content, attributes or events).
    pub degraded: bool,
    /// Why the tree is degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The trace store said its answer is incomplete.
    pub partial: bool,
}

/// A tree ready to render, already filtered for the caller.
#[derive(Debug, Clone)]
pub struct LoadedTrace {
    pub tree: Arc<TraceTree>,
    pub source: SourceInfo,
    /// Set when the tree is a cached, finished trace: answers rendered from it can be kept.
    cached: Option<Arc<CacheEntry>>,
}

impl LoadedTrace {
    fn uncached(tree: Arc<TraceTree>, source: SourceInfo) -> Self {
        Self {
            tree,
            source,
            cached: None,
        }
    }

    /// A body rendered earlier for the same request (`key` names everything it depends on).
    pub fn rendered(&self, key: &str) -> Option<Bytes> {
        let entry = self.cached.as_ref()?;
        let bodies = entry.bodies.lock().unwrap_or_else(PoisonError::into_inner);
        bodies
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, b)| b.clone())
    }

    /// Keeps a rendered body of a finished trace, within the cache's byte budget.
    pub fn keep_rendered(&self, key: String, body: Bytes) {
        let Some(entry) = &self.cached else { return };
        let len = body.len();
        let budget = &entry.budget;
        let reserved = budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + len <= budget.limit).then_some(used + len)
            })
            .is_ok();
        if !reserved {
            return;
        }
        let mut bodies = entry.bodies.lock().unwrap_or_else(PoisonError::into_inner);
        if bodies.len() >= MAX_BODIES_PER_TRACE || bodies.iter().any(|(k, _)| *k == key) {
            budget.used.fetch_sub(len, Ordering::AcqRel);
            return;
        }
        bodies.push((key, body));
    }
}

/// Normalizes, caches and degrades.
pub struct TraceService {
    store: Store,
    source: Arc<dyn TraceSource>,
    cache: Arc<TraceCache>,
    /// Applied to every tree before it is kept or served.
    redactor: Option<Arc<Redactor>>,
    /// Finds executions the database does not know in the trace store, when it can search.
    search: Option<StoreSearch>,
}

impl std::fmt::Debug for TraceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceService")
            .field("source", &self.source.name())
            .finish_non_exhaustive()
    }
}

impl TraceService {
    pub fn new(
        store: Store,
        source: Arc<dyn TraceSource>,
        cache_entries: usize,
        redactor: Option<Redactor>,
    ) -> Self {
        Self {
            store,
            source,
            cache: Arc::new(TraceCache::new(cache_entries)),
            redactor: redactor.map(Arc::new),
            search: None,
        }
    }

    /// Looks executions the database does not know up in the trace store, over the last
    /// `lookback` (when one is given and the source can search).
    #[must_use]
    pub fn with_store_search(mut self, lookback: Option<Duration>) -> Self {
        self.search = lookback
            .filter(|_| self.source.can_search())
            .map(StoreSearch::new);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle that drops cached traces of executions that changed.
    pub fn invalidator(&self) -> TraceInvalidator {
        TraceInvalidator {
            cache: Arc::clone(&self.cache),
        }
    }

    pub fn source(&self) -> &Arc<dyn TraceSource> {
        &self.source
    }

    /// The redaction every served text goes through: the trees (applied when they are loaded)
    /// and what is served beside them, with [`ContentPolicy::redact`].
    pub fn policy(&self) -> ContentPolicy<'_> {
        ContentPolicy {
            redactor: self.redactor.as_deref(),
            ..ContentPolicy::default()
        }
    }

    /// The redactor, for a task that outlives the request (the live feed).
    pub fn redactor(&self) -> Option<Arc<Redactor>> {
        self.redactor.clone()
    }

    /// The execution, if it exists and the caller may see it; otherwise the same 404 whether
    /// it does not exist or belongs to another tenant.
    pub async fn execution(&self, audience: &Audience, id: &str) -> Result<Execution, TraceError> {
        let id = ExecutionId::new(id).map_err(|e| TraceError::InvalidExecutionId(e.to_string()))?;
        tracing::Span::current().record("execution.id", id.as_str());
        let store = self.store.clone();
        let lookup = id.clone();
        let mut execution = blocking(move || store.execution(&lookup)).await??;
        if execution.is_none()
            && let Some(search) = &self.search
        {
            execution = match search.find(&self.store, &self.source, &id).await {
                Ok(Found::Execution(e)) => Some(*e),
                Ok(Found::Nothing) => None,
                Err(SearchError::Busy) => return Err(SearchError::busy()),
                Err(SearchError::Service(e)) => return Err(e),
                Err(SearchError::Store(e)) => return Err(self.store_failure(e)),
            };
        }
        match execution {
            Some(e) if audience.can_see(&e.tenant) => {
                if let Some(trace_id) = e.trace_id {
                    tracing::Span::current().record("trace.id", tracing::field::display(trace_id));
                }
                Ok(e)
            }
            _ => Err(TraceError::NotFound(format!("no execution {id}"))),
        }
    }

    /// The execution's trace, with content withheld when `withhold_content`.
    pub async fn trace(
        &self,
        execution: &Execution,
        withhold_content: bool,
    ) -> Result<LoadedTrace, TraceError> {
        let trace_id = execution.trace_id.ok_or_else(|| {
            TraceError::TraceUnavailable(format!(
                "no trace was recorded for execution {} (tracing was off or the run was sampled out)",
                execution.id
            ))
        })?;
        let backend = self.source.name();
        let fresh = SourceInfo {
            backend,
            degraded: false,
            reason: None,
            partial: false,
        };
        if let Some(entry) = self.cache.get(execution.id.as_str()) {
            return Ok(LoadedTrace {
                tree: entry.view(withhold_content).await?,
                source: fresh,
                cached: Some(entry),
            });
        }
        let request = FetchRequest {
            trace_id,
            window: Some(window(execution)),
        };
        match self.source.fetch(&request).await {
            Ok(fetched) => {
                let partial = fetched.partial;
                let redactor = self.redactor.clone();
                let tree = blocking(move || {
                    let mut tree = normalize_with_anomalies(fetched.spans, fetched.anomalies);
                    redact(&mut tree, redactor.as_deref());
                    tree
                })
                .await?;
                let entry = Arc::new(CacheEntry::new(tree, Arc::clone(&self.cache.budget)));
                // Only what can no longer change is kept: a finished run, past a grace period in
                // which spans exported late (retried after a busy answer) may still arrive.
                let settled = execution.finished_at.is_some_and(|finished| {
                    Timestamp::now()
                        .unix_nanos()
                        .saturating_sub(finished.unix_nanos())
                        > CACHE_GRACE_NANOS
                });
                let keep = execution.status.is_final() && settled && !partial;
                if keep {
                    self.cache.insert(execution.id.as_str(), Arc::clone(&entry));
                }
                Ok(LoadedTrace {
                    tree: entry.view(withhold_content).await?,
                    source: SourceInfo { partial, ..fresh },
                    cached: keep.then_some(entry),
                })
            }
            Err(error) => self.degraded(execution, trace_id, error).await,
        }
    }

    async fn degraded(
        &self,
        execution: &Execution,
        trace_id: TraceId,
        error: FetchError,
    ) -> Result<LoadedTrace, TraceError> {
        let store = self.store.clone();
        let id = execution.id.clone();
        let summaries = blocking(move || store.summaries_after(&id, 0, DEGRADED_MAX_SPANS)).await;
        let summaries = match summaries {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "span summaries unavailable for a degraded tree");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if !summaries.is_empty() {
            tracing::warn!(error = %error, "trace store failed; answering from span summaries");
            let redactor = self.redactor.clone();
            let tree = blocking(move || {
                let mut tree = summary_tree(trace_id, &summaries);
                redact(&mut tree, redactor.as_deref());
                tree
            })
            .await?;
            return Ok(LoadedTrace::uncached(
                Arc::new(tree),
                SourceInfo {
                    backend: self.source.name(),
                    degraded: true,
                    // The store's answer, or the decoder's error, can quote the trace.
                    reason: Some(self.policy().redact(&error.to_string()).into_owned()),
                    partial: false,
                },
            ));
        }
        match error {
            // A run that has just started may have exported nothing yet.
            FetchError::NotFound if !execution.status.is_final() => Ok(LoadedTrace::uncached(
                Arc::new(TraceTree {
                    trace_id: Some(trace_id),
                    ..TraceTree::default()
                }),
                SourceInfo {
                    backend: self.source.name(),
                    degraded: false,
                    reason: None,
                    partial: true,
                },
            )),
            FetchError::NotFound => Err(TraceError::TraceUnavailable(format!(
                "the trace store has no trace {trace_id} for execution {} (not exported, or \
                 past the store's retention)",
                execution.id
            ))),
            e => Err(self.store_failure(e)),
        }
    }

    /// The answer to a trace store that failed: 503 with `Retry-After` when it could not be
    /// asked, 502 when it answered something unusable.
    fn store_failure(&self, error: FetchError) -> TraceError {
        match error {
            FetchError::Unavailable {
                retry_after,
                detail,
                reason,
            } => TraceError::TraceStoreUnavailable {
                message: self
                    .policy()
                    .redact(&format!(
                        "the trace store is unavailable ({}): {detail}",
                        reason.label()
                    ))
                    .into_owned(),
                retry_after: retry_after
                    .map_or(DEFAULT_RETRY_AFTER, |after| after.min(MAX_RETRY_AFTER)),
            },
            // The store's answer, or the decoder's error, can quote the trace.
            e => TraceError::TraceStoreError(self.policy().redact(&e.to_string()).into_owned()),
        }
    }
}

/// Redacts every string of the tree that can carry content (a no-op without a redactor).
fn redact(tree: &mut TraceTree, redactor: Option<&Redactor>) {
    if redactor.is_some() {
        filter::apply(
            tree,
            &ContentPolicy {
                redactor,
                ..ContentPolicy::default()
            },
        );
    }
}

/// The search window for an execution's trace.
fn window(execution: &Execution) -> TimeWindow {
    let end = execution.finished_at.unwrap_or_else(Timestamp::now);
    TimeWindow {
        start: Timestamp::from_unix_nanos(
            execution
                .started_at
                .unix_nanos()
                .saturating_sub(WINDOW_SLACK_NANOS),
        ),
        end: Timestamp::from_unix_nanos(end.unix_nanos().saturating_add(WINDOW_SLACK_NANOS)),
    }
}

/// A tree from span summaries: names, times, status, kinds and tokens.
pub fn summary_tree(trace_id: TraceId, summaries: &[StoredSummary]) -> TraceTree {
    let spans = summaries
        .iter()
        .map(|stored| {
            let s = &stored.summary;
            let mut span = RawSpan::new(trace_id, s.span_id, s.name.clone());
            span.parent_span_id = s.parent_span_id;
            span.start_time = s.start_time;
            span.end_time = s.end_time;
            span.status = RawStatus {
                code: s.status_code,
                message: s.status_message.clone(),
            };
            let mut attributes = vec![KeyValue::new(
                semconv::EXECUTION_ID,
                s.execution_id.as_str().to_owned(),
            )];
            if !s.kind.is_empty() {
                attributes.push(KeyValue::new(semconv::NODE_KIND, s.kind.clone()));
            }
            let tokens = |n: Option<u64>| n.and_then(|n| i64::try_from(n).ok());
            if let Some(n) = tokens(s.input_tokens) {
                attributes.push(KeyValue::new(semconv::TOKEN_INPUT, n));
            }
            if let Some(n) = tokens(s.output_tokens) {
                attributes.push(KeyValue::new(semconv::TOKEN_OUTPUT, n));
            }
            if s.status_code == StatusCode::Error {
                attributes.push(KeyValue::new(semconv::NODE_STATUS, "error"));
            }
            span.attributes = attributes;
            span
        })
        .collect();
    orcheo_span_tree::normalize(spans)
}

/// Bytes of rendered answers kept across all cached traces.
#[derive(Debug)]
struct BodyBudget {
    used: AtomicUsize,
    limit: usize,
}

/// A cached tree, with its content-withheld form made on first need, and a few answers
/// rendered from it (the default views are asked for again and again).
#[derive(Debug)]
struct CacheEntry {
    full: Arc<TraceTree>,
    withheld: OnceLock<Arc<TraceTree>>,
    bodies: Mutex<Vec<(String, Bytes)>>,
    budget: Arc<BodyBudget>,
}

impl Drop for CacheEntry {
    fn drop(&mut self) {
        let bodies = self
            .bodies
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
        self.budget.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl CacheEntry {
    fn new(tree: TraceTree, budget: Arc<BodyBudget>) -> Self {
        Self {
            full: Arc::new(tree),
            withheld: OnceLock::new(),
            bodies: Mutex::new(Vec::new()),
            budget,
        }
    }

    async fn view(self: &Arc<Self>, withhold_content: bool) -> Result<Arc<TraceTree>, TraceError> {
        if !withhold_content {
            return Ok(Arc::clone(&self.full));
        }
        if let Some(tree) = self.withheld.get() {
            return Ok(Arc::clone(tree));
        }
        let entry = Arc::clone(self);
        let tree = blocking(move || {
            Arc::clone(entry.withheld.get_or_init(|| {
                let mut tree = (*entry.full).clone();
                filter::apply(
                    &mut tree,
                    &ContentPolicy {
                        withhold_content: true,
                        ..ContentPolicy::default()
                    },
                );
                Arc::new(tree)
            }))
        })
        .await?;
        Ok(tree)
    }
}

/// Drops cached traces whose executions changed (late spans, a root describing its run); the
/// receiver's writer holds one.
#[derive(Debug, Clone)]
pub struct TraceInvalidator {
    cache: Arc<TraceCache>,
}

impl orcheo_trace_model::SpanWatcher for TraceInvalidator {
    fn spans_committed(&self, executions: &[ExecutionId]) {
        self.forget(executions);
    }
}

impl TraceInvalidator {
    pub fn forget(&self, executions: &[ExecutionId]) {
        for execution in executions {
            self.cache.remove(execution.as_str());
        }
    }
}

/// Finished traces by execution id, the least recently used dropped first.
#[derive(Debug)]
struct TraceCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
    budget: Arc<BodyBudget>,
}

#[derive(Debug, Default)]
struct CacheInner {
    entries: HashMap<String, (Arc<CacheEntry>, u64)>,
    tick: u64,
}

impl TraceCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(CacheInner::default()),
            budget: Arc::new(BodyBudget {
                used: AtomicUsize::new(0),
                limit: RENDERED_BYTES_BUDGET,
            }),
        }
    }

    /// The entries, and the next use's tick.
    fn lock_and_tick(&self) -> (std::sync::MutexGuard<'_, CacheInner>, u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tick += 1;
        let tick = inner.tick;
        (inner, tick)
    }

    fn get(&self, key: &str) -> Option<Arc<CacheEntry>> {
        if self.capacity == 0 {
            return None;
        }
        let (mut inner, tick) = self.lock_and_tick();
        inner.entries.get_mut(key).map(|(entry, used)| {
            *used = tick;
            Arc::clone(entry)
        })
    }

    fn remove(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.entries.remove(key);
    }

    fn insert(&self, key: &str, entry: Arc<CacheEntry>) {
        if self.capacity == 0 {
            return;
        }
        let (mut inner, tick) = self.lock_and_tick();
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(key) {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(key.to_owned(), (entry, tick));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Arc<CacheEntry> {
        let budget = Arc::new(BodyBudget {
            used: AtomicUsize::new(0),
            limit: 10,
        });
        Arc::new(CacheEntry::new(TraceTree::default(), budget))
    }

    #[test]
    fn cache_keeps_the_most_recently_used() {
        let cache = TraceCache::new(2);
        cache.insert("a", entry());
        cache.insert("b", entry());
        assert!(cache.get("a").is_some());
        cache.insert("c", entry());
        assert!(cache.get("a").is_some());
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("c").is_some());
        let loaded = LoadedTrace {
            tree: Arc::default(),
            source: SourceInfo {
                backend: "test",
                degraded: false,
                reason: None,
                partial: false,
            },
            cached: Some(entry()),
        };
        loaded.keep_rendered("a".into(), Bytes::from_static(b"123456"));
        loaded.keep_rendered("b".into(), Bytes::from_static(b"123456"));
        assert_eq!(loaded.rendered("a").as_deref(), Some(&b"123456"[..]));
        assert_eq!(loaded.rendered("b"), None, "over the byte budget");
        let budget = Arc::clone(&loaded.cached.as_ref().unwrap().budget);
        drop(loaded);
        assert_eq!(
            budget.used.load(Ordering::SeqCst),
            0,
            "dropping an entry frees its bytes"
        );
        let off = TraceCache::new(0);
        off.insert("a", entry());
        assert!(off.get("a").is_none());
    }
}
