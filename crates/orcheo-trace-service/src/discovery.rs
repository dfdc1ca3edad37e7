//! Executions the metadata database does not know, found in the trace store.
//!
//! Executors that export straight to a collector (Orcheo's Python executors with Tempo or Jaeger)
//! register nothing here. Their run's root span carries `orcheo.execution.id`, so an unknown id
//! is searched for in the store; a trace whose root says so is registered like one the receiver
//! learned, and every later request is an ordinary lookup.
//!
//! - The store's search answer is a hint: each candidate trace is fetched and only a root span
//!   (`workflow.execution`, no parent) naming the execution counts. Two traces whose roots
//!   claim the same execution are ambiguous: neither is chosen.
//! - The run's tenant is its root's `orcheo.execution.tenant` under the rule of a relay (the
//!   store, like a collector in front of many executors, speaks for the tenants its spans name),
//!   else the `default` tenant. Once registered it never changes.
//! - Unknown ids are remembered for [`MISS_TTL`] (at most [`MAX_MISSES`] of them), and at most
//!   [`MAX_CONCURRENT_SEARCHES`] searches run at once; each goes through the client's time
//!   limits, retries and circuit breaker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use orcheo_collector_client::{FetchError, FetchRequest, SearchRequest, TimeWindow, TraceSource};
use orcheo_trace_model::raw::find;
use orcheo_trace_model::tenant;
use orcheo_trace_model::{
    ExecutionId, ExecutionStatus, RawSpan, StatusCode, Timestamp, TraceId, semconv,
};
use orcheo_trace_store::{DEFAULT_TENANT, Execution, NewExecution, Store, StoreError, TraceLink};
use tokio::sync::Semaphore;

use crate::{TraceError, blocking};

/// How long an id the store did not have is answered 404 without asking again.
pub const MISS_TTL: Duration = Duration::from_secs(30);
/// Most unknown ids remembered.
pub const MAX_MISSES: usize = 10_000;
/// Searches of the trace store in flight at once; more are answered 503 at once.
pub const MAX_CONCURRENT_SEARCHES: usize = 4;
/// Candidate traces fetched per search.
const MAX_CANDIDATES: usize = 3;
/// Searched past now (clocks of executor and store differ).
const FUTURE_SLACK: Duration = Duration::from_mins(10);
/// How far ahead of this server's clock a run may say it started (as at ingest).
const MAX_CLOCK_AHEAD: Duration = Duration::from_hours(1);
/// Longest error text stored for a run (as at ingest).
const MAX_ERROR_LEN: usize = 4000;
/// How long a caller turned away for too many searches is told to wait.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Looks executions up in the trace store.
#[derive(Debug)]
pub struct StoreSearch {
    /// How far back runs are searched for.
    lookback: Duration,
    misses: Mutex<HashMap<ExecutionId, Instant>>,
    permits: Semaphore,
    /// Free-text searches have their own places, so that searches from the list never make
    /// the lookup of an unknown execution answer busy.
    text_permits: Semaphore,
}

/// What a search ended in, before the caller's tenant is checked.
#[derive(Debug)]
pub enum Found {
    /// Registered now, or found registered meanwhile.
    Execution(Box<Execution>),
    /// The store has no run with this id (or an ambiguous one): remembered for a while.
    Nothing,
}

impl StoreSearch {
    pub fn new(lookback: Duration) -> Self {
        Self {
            lookback,
            misses: Mutex::new(HashMap::new()),
            permits: Semaphore::new(MAX_CONCURRENT_SEARCHES),
            text_permits: Semaphore::new(MAX_CONCURRENT_SEARCHES),
        }
    }

    /// The traces the store finds holding `words` (a free-text search, for runs the database
    /// has not indexed), within the lookback: at most `limit`. A hint: a store that fails or
    /// cannot search text, or too many searches at once, give none.
    pub async fn find_text(
        &self,
        source: &Arc<dyn TraceSource>,
        words: Vec<String>,
        limit: usize,
    ) -> Vec<TraceId> {
        if !source.can_search_text() || words.is_empty() {
            return Vec::new();
        }
        let Ok(_permit) = self.text_permits.try_acquire() else {
            return Vec::new();
        };
        let now = Timestamp::now().unix_nanos();
        let request = orcheo_collector_client::TextSearchRequest {
            words,
            window: TimeWindow {
                start: Timestamp::from_unix_nanos(now.saturating_sub(nanos(self.lookback))),
                end: Timestamp::from_unix_nanos(now.saturating_add(nanos(FUTURE_SLACK))),
            },
            limit,
        };
        match source.search_text(&request).await {
            Ok(found) => found.into_iter().take(limit).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the trace store's text search failed; only indexed runs are searched");
                Vec::new()
            }
        }
    }

    /// Searches the store for `id`, registers what it finds. A store failure is returned as it
    /// is (the caller answers it like a failed fetch) and is not remembered.
    pub async fn find(
        &self,
        store: &Store,
        source: &Arc<dyn TraceSource>,
        id: &ExecutionId,
    ) -> Result<Found, SearchError> {
        if self.missed_recently(id) {
            return Ok(Found::Nothing);
        }
        let Ok(_permit) = self.permits.try_acquire() else {
            return Err(SearchError::Busy);
        };
        let now = Timestamp::now().unix_nanos();
        let window = TimeWindow {
            start: Timestamp::from_unix_nanos(now.saturating_sub(nanos(self.lookback))),
            end: Timestamp::from_unix_nanos(now.saturating_add(nanos(FUTURE_SLACK))),
        };
        let request = SearchRequest {
            key: semconv::EXECUTION_ID.to_owned(),
            value: id.as_str().to_owned(),
            window,
            limit: MAX_CANDIDATES,
        };
        let hits = source.search(&request).await.map_err(SearchError::Store)?;
        let mut roots = Vec::new();
        for trace_id in hits.into_iter().take(MAX_CANDIDATES) {
            let fetch = FetchRequest {
                trace_id,
                window: Some(window),
            };
            match source.fetch(&fetch).await {
                Ok(fetched) => {
                    if let Some(root) = fetched.spans.into_iter().find(|s| is_root_of(s, id)) {
                        roots.push(root);
                    }
                }
                // Gone since the search (retention), or a search answer that named it wrongly.
                Err(FetchError::NotFound) => {}
                Err(e) => return Err(SearchError::Store(e)),
            }
        }
        let root = match roots.len() {
            0 => {
                self.remember_miss(id);
                return Ok(Found::Nothing);
            }
            1 => roots.remove(0),
            n => {
                tracing::warn!(
                    execution.id = %id,
                    traces = n,
                    "several traces in the trace store have a root span for this execution; \
                     none is registered"
                );
                self.remember_miss(id);
                return Ok(Found::Nothing);
            }
        };
        let store = store.clone();
        let lookup = id.clone();
        let registered = blocking(move || register(&store, &lookup, &root))
            .await
            .map_err(SearchError::Service)?
            .map_err(|e| SearchError::Service(e.into()))?;
        if let Some(execution) = registered {
            tracing::info!(
                execution.id = %id,
                trace.id = %execution.trace_id.map(|t| t.to_string()).unwrap_or_default(),
                tenant = %execution.tenant,
                "execution found in the trace store and registered"
            );
            Ok(Found::Execution(Box::new(execution)))
        } else {
            self.remember_miss(id);
            Ok(Found::Nothing)
        }
    }

    fn missed_recently(&self, id: &ExecutionId) -> bool {
        let misses = self.misses.lock().unwrap_or_else(PoisonError::into_inner);
        misses.get(id).is_some_and(|at| at.elapsed() < MISS_TTL)
    }

    fn remember_miss(&self, id: &ExecutionId) {
        let mut misses = self.misses.lock().unwrap_or_else(PoisonError::into_inner);
        if misses.len() >= MAX_MISSES && !misses.contains_key(id) {
            misses.retain(|_, at| at.elapsed() < MISS_TTL);
            if misses.len() >= MAX_MISSES {
                let oldest = misses
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    misses.remove(&oldest);
                }
            }
        }
        misses.insert(id.clone(), Instant::now());
    }

    /// How many unknown ids are remembered.
    #[cfg(test)]
    fn misses(&self) -> usize {
        self.misses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Why a search gave no answer.
#[derive(Debug)]
pub enum SearchError {
    /// The trace store failed (answered like a failed fetch).
    Store(FetchError),
    /// Too many searches at once.
    Busy,
    /// The metadata database failed.
    Service(TraceError),
}

impl SearchError {
    /// The busy answer: 503 with a short `Retry-After`.
    pub fn busy() -> TraceError {
        TraceError::TraceStoreUnavailable {
            message: format!(
                "{MAX_CONCURRENT_SEARCHES} searches of the trace store are already running; \
                 try again shortly"
            ),
            retry_after: BUSY_RETRY_AFTER,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn text<'a>(attributes: &'a [orcheo_trace_model::KeyValue], key: &str) -> Option<&'a str> {
    find(attributes, key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

/// The run's root span: `workflow.execution`, no parent, naming the execution.
fn is_root_of(span: &RawSpan, id: &ExecutionId) -> bool {
    span.parent_span_id.is_none()
        && span.name == semconv::WORKFLOW_SPAN_NAME
        && text(&span.attributes, semconv::EXECUTION_ID) == Some(id.as_str())
}

/// The execution a root span describes, with its tenant decided as a relay's span's is.
fn new_execution(id: &ExecutionId, root: &RawSpan) -> NewExecution {
    let owned = |key: &str| text(&root.attributes, key).map(str::to_owned);
    let latest = Timestamp::now()
        .unix_nanos()
        .saturating_add(nanos(MAX_CLOCK_AHEAD));
    let tenant = tenant::claimed(text(&root.attributes, semconv::EXECUTION_TENANT))
        .unwrap_or(DEFAULT_TENANT);
    NewExecution {
        id: id.clone(),
        workflow_id: owned(semconv::WORKFLOW_ID),
        workflow_version: owned(semconv::WORKFLOW_VERSION),
        tenant: Some(tenant.to_owned()),
        triggered_by: owned(semconv::EXECUTION_TRIGGER),
        // A start far in the future would keep the run from retention for ever.
        started_at: Timestamp::from_unix_nanos(root.start_time.unix_nanos().min(latest)),
        trace: Some(TraceLink {
            trace_id: root.trace_id,
            traceparent: traceparent(root.trace_id, root),
        }),
    }
}

fn traceparent(trace_id: TraceId, root: &RawSpan) -> String {
    format!("00-{trace_id}-{}-01", root.span_id)
}

/// The run's outcome from its ended root: the workflow events first, then the span status (the
/// receiver's rule).
fn outcome(root: &RawSpan) -> Option<(ExecutionStatus, Option<String>, Timestamp)> {
    let finished_at = root.end_time?;
    let event = |name: &str| root.events.iter().find(|e| e.name == name);
    let (status, error) = if let Some(failed) = event(semconv::EVENT_WORKFLOW_FAILED) {
        let message = text(&failed.attributes, semconv::EXCEPTION_MESSAGE)
            .or_else(|| text(&failed.attributes, semconv::EXCEPTION_TYPE));
        (ExecutionStatus::Error, message.map(str::to_owned))
    } else if let Some(cancelled) = event(semconv::EVENT_WORKFLOW_CANCELLED) {
        (
            ExecutionStatus::Cancelled,
            text(&cancelled.attributes, semconv::EVENT_ATTR_REASON).map(str::to_owned),
        )
    } else if root.status.code == StatusCode::Error {
        (
            ExecutionStatus::Error,
            root.status.message.clone().filter(|m| !m.is_empty()),
        )
    } else {
        (ExecutionStatus::Completed, None)
    };
    let error = error.map(|mut e| {
        orcheo_span_tree::filter::truncate_str(&mut e, MAX_ERROR_LEN);
        e
    });
    Some((status, error, finished_at))
}

/// Registers the run in one transaction; one registered meanwhile (another replica, a request
/// in parallel) is left as it is. `None`: the root's values cannot be stored.
fn register(
    store: &Store,
    id: &ExecutionId,
    root: &RawSpan,
) -> Result<Option<Execution>, StoreError> {
    let new = new_execution(id, root);
    store.transaction(|tx| {
        match tx.start_execution(&new) {
            Ok(()) => {
                if let Some((status, error, finished_at)) = outcome(root)
                    && let Err(e) = tx.finish_execution(id, status, error.as_deref(), finished_at)
                {
                    match e {
                        StoreError::Invalid { field, reason } => {
                            tracing::warn!(execution.id = %id, field, reason, "run outcome from the trace store not recorded");
                        }
                        e => return Err(e),
                    }
                }
            }
            Err(StoreError::Duplicate(_)) => {}
            Err(StoreError::Invalid { field, reason }) => {
                tracing::warn!(execution.id = %id, field, reason, "execution from the trace store not registered");
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        tx.execution(id)
    })
}

#[cfg(test)]
mod tests {
    use orcheo_trace_model::{KeyValue, RawStatus, SpanEvent, SpanId};

    use super::*;

    fn root(attributes: Vec<KeyValue>) -> RawSpan {
        let mut span = RawSpan::new(
            TraceId::from_hex("abc").unwrap(),
            SpanId::from_hex("1").unwrap(),
            semconv::WORKFLOW_SPAN_NAME,
        );
        span.start_time = Timestamp::from_unix_nanos(1_000);
        span.end_time = Some(Timestamp::from_unix_nanos(2_000));
        span.attributes = attributes;
        span
    }

    fn id() -> ExecutionId {
        ExecutionId::new("run_42").unwrap()
    }

    #[test]
    fn only_a_parentless_workflow_span_naming_the_run_is_its_root() {
        let named = || vec![KeyValue::new(semconv::EXECUTION_ID, "run_42")];
        assert!(is_root_of(&root(named()), &id()));
        assert!(!is_root_of(
            &root(vec![KeyValue::new(semconv::EXECUTION_ID, "run_43")]),
            &id()
        ));
        let mut child = root(named());
        child.parent_span_id = Some(SpanId::from_hex("2").unwrap());
        assert!(!is_root_of(&child, &id()));
        let mut node = root(named());
        node.name = "llm".into();
        assert!(!is_root_of(&node, &id()));
    }

    #[test]
    fn the_tenant_is_the_roots_claim_under_the_relay_rule() {
        let with = |tenant: &str| {
            new_execution(
                &id(),
                &root(vec![
                    KeyValue::new(semconv::EXECUTION_ID, "run_42"),
                    KeyValue::new(semconv::EXECUTION_TENANT, tenant),
                ]),
            )
            .tenant
        };
        assert_eq!(with("acme").as_deref(), Some("acme"));
        assert_eq!(with("").as_deref(), Some(DEFAULT_TENANT));
        assert_eq!(
            with(orcheo_trace_store::UNASSIGNED_TENANT).as_deref(),
            Some(DEFAULT_TENANT),
            "nobody claims the reserved tenant"
        );
        assert_eq!(with(&"t".repeat(500)).as_deref(), Some(DEFAULT_TENANT));
        let new = new_execution(
            &id(),
            &root(vec![KeyValue::new(semconv::WORKFLOW_ID, "wf_1")]),
        );
        assert_eq!(new.tenant.as_deref(), Some(DEFAULT_TENANT));
        assert_eq!(new.workflow_id.as_deref(), Some("wf_1"));
        assert_eq!(
            new.trace.map(|t| t.traceparent).as_deref(),
            Some("00-00000000000000000000000000000abc-0000000000000001-01")
        );
    }

    #[test]
    fn the_outcome_reads_events_then_status() {
        let mut failed = root(vec![]);
        failed.events.push(SpanEvent {
            name: semconv::EVENT_WORKFLOW_FAILED.into(),
            time: None,
            attributes: vec![KeyValue::new(semconv::EXCEPTION_MESSAGE, "boom")],
        });
        assert_eq!(
            outcome(&failed),
            Some((
                ExecutionStatus::Error,
                Some("boom".to_owned()),
                Timestamp::from_unix_nanos(2_000)
            ))
        );
        let mut cancelled = root(vec![]);
        cancelled.status = RawStatus {
            code: StatusCode::Error,
            message: Some("cancelled".into()),
        };
        cancelled.events.push(SpanEvent {
            name: semconv::EVENT_WORKFLOW_CANCELLED.into(),
            time: None,
            attributes: vec![KeyValue::new(semconv::EVENT_ATTR_REASON, "user")],
        });
        assert_eq!(
            outcome(&cancelled).map(|o| (o.0, o.1)),
            Some((ExecutionStatus::Cancelled, Some("user".to_owned())))
        );
        assert_eq!(
            outcome(&root(vec![])).map(|o| o.0),
            Some(ExecutionStatus::Completed)
        );
        let mut running = root(vec![]);
        running.end_time = None;
        assert_eq!(outcome(&running), None);
    }

    #[test]
    fn misses_are_bounded() {
        let search = StoreSearch::new(Duration::from_hours(1));
        for n in 0..MAX_MISSES + 5 {
            search.remember_miss(&ExecutionId::new(format!("run_{n}")).unwrap());
        }
        assert_eq!(search.misses(), MAX_MISSES);
        assert!(search.missed_recently(&ExecutionId::new(format!("run_{MAX_MISSES}")).unwrap()));
    }

    /// A store that must not be asked.
    struct Unasked;

    impl TraceSource for Unasked {
        fn name(&self) -> &'static str {
            "unasked"
        }
        fn fetch<'a>(
            &'a self,
            _: &'a FetchRequest,
        ) -> orcheo_collector_client::BoxFuture<
            'a,
            Result<orcheo_collector_client::FetchedTrace, FetchError>,
        > {
            unreachable!("fetched")
        }
        fn probe(&self) -> orcheo_collector_client::BoxFuture<'_, Result<(), FetchError>> {
            unreachable!("probed")
        }
        fn can_search(&self) -> bool {
            true
        }
        fn search<'a>(
            &'a self,
            _: &'a SearchRequest,
        ) -> orcheo_collector_client::BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
            unreachable!("searched")
        }
    }

    #[tokio::test]
    async fn remembered_misses_and_a_full_house_do_not_reach_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url, orcheo_trace_store::PoolConfig::default()).unwrap();
        let source: Arc<dyn TraceSource> = Arc::new(Unasked);
        let search = StoreSearch::new(Duration::from_hours(1));
        search.remember_miss(&id());
        assert!(matches!(
            search.find(&store, &source, &id()).await,
            Ok(Found::Nothing)
        ));
        let _all = search
            .permits
            .try_acquire_many(u32::try_from(MAX_CONCURRENT_SEARCHES).unwrap())
            .unwrap();
        let other = ExecutionId::new("run_43").unwrap();
        assert!(matches!(
            search.find(&store, &source, &other).await,
            Err(SearchError::Busy)
        ));
    }
}
