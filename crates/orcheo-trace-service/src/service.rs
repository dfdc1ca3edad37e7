//! From an execution id to the tree a caller may see: authorize against the execution's tenant,
//! fetch its trace from the configured source, normalize, keep finished traces in a small cache,
//! and — when the trace store is down — fall back to a degraded tree built from the span
//! summaries the metadata store holds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use orcheo_collector_client::{FetchError, FetchRequest, TimeWindow, TraceSource};
use orcheo_pricing::{PriceTable, Prices, RunCost, RunCostSum, TraceCosts};
use orcheo_span_tree::filter::{self, ContentPolicy};
use orcheo_span_tree::normalize_with_anomalies;
use orcheo_span_tree::redact::Redactor;
use orcheo_trace_model::semconv;
use orcheo_trace_model::{
    ExecutionId, KeyValue, RawSpan, RawStatus, StatusCode, Timestamp, TraceId, TraceTree,
};
use orcheo_trace_store::{Deletion, Execution, ModelTokens, Store, StoredSummary};
use serde::Serialize;

use crate::cache::{CacheConfig, Cached, TraceCache, TraceInvalidator};
use crate::discovery::{Found, SearchError, StoreSearch};
use crate::export::{ExportSlot, ExportSlots};
use crate::weight::tree_bytes;
use crate::{Audience, TraceError, blocking};

/// Most summaries a degraded tree is built from.
const DEGRADED_MAX_SPANS: usize = 10_000;
/// How long to tell a client to wait when the store gave no hint.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest wait passed on from the store: a longer one (a misconfigured store, a proxy's
/// maintenance page) would keep clients away long after the store is back.
const MAX_RETRY_AFTER: Duration = Duration::from_mins(5);
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

/// A tree ready to render, already filtered for the caller, and its spans' costs.
#[derive(Debug, Clone)]
pub struct LoadedTrace {
    pub tree: Arc<TraceTree>,
    /// By the prices of the execution's tenant.
    pub costs: Arc<TraceCosts>,
    pub source: SourceInfo,
    /// Set when the tree is a cached, finished trace: answers rendered from it can be kept.
    cached: Option<CachedTrace>,
}

/// The cache entry a loaded tree came from, and where to keep what is rendered from it.
#[derive(Debug, Clone)]
struct CachedTrace {
    cache: Arc<TraceCache>,
    execution: String,
    entry: Cached,
}

impl LoadedTrace {
    /// The tree when it is the whole trace, for an export: a tree rebuilt from span summaries
    /// lacks attributes, events and content, and would pass for the whole record.
    pub fn whole(&self, execution: &Execution) -> Result<&Arc<TraceTree>, TraceError> {
        if self.source.degraded {
            return Err(TraceError::TraceStoreUnavailable {
                message: format!(
                    "the trace store cannot serve the trace of {} ({}): only span summaries are left, and an export needs the whole trace",
                    execution.id,
                    self.source.reason.as_deref().unwrap_or("no answer")
                ),
                retry_after: Duration::from_secs(30),
            });
        }
        Ok(&self.tree)
    }

    fn uncached(tree: Arc<TraceTree>, costs: Arc<TraceCosts>, source: SourceInfo) -> Self {
        Self {
            tree,
            costs,
            source,
            cached: None,
        }
    }

    /// A body rendered earlier for the same request (`key` names everything it depends on).
    pub fn rendered(&self, key: &str) -> Option<Bytes> {
        self.cached.as_ref()?.entry.body(key)
    }

    /// Keeps a rendered body of a finished trace with its cache entry, which weighs it.
    pub fn keep_rendered(&self, key: String, body: Bytes) {
        if let Some(cached) = &self.cached {
            cached
                .cache
                .keep_body(&cached.execution, &cached.entry.full, key, body);
        }
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
    /// What each tenant's tokens cost.
    prices: Arc<PriceTable>,
    /// The places of the exports being written.
    exports: ExportSlots,
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
        cache: CacheConfig,
        redactor: Option<Redactor>,
    ) -> Self {
        Self {
            store,
            source,
            cache: Arc::new(TraceCache::new(cache)),
            redactor: redactor.map(Arc::new),
            search: None,
            // The built-in table cannot fail to read (a test of the pricing crate reads it);
            // were it to, nothing would be priced, and every cost would say so.
            prices: Arc::new(PriceTable::builtin().unwrap_or_default()),
            exports: ExportSlots::default(),
        }
    }

    /// A place for one more export, or the busy answer when
    /// [`MAX_EXPORTS`](crate::export::MAX_EXPORTS) are being written.
    pub fn export_slot(&self) -> Result<ExportSlot, TraceError> {
        self.exports
            .take()
            .ok_or_else(|| TraceError::TraceStoreUnavailable {
                message: format!(
                    "{} exports are already being written; try again shortly",
                    crate::export::MAX_EXPORTS
                ),
                retry_after: Duration::from_secs(10),
            })
    }

    /// Costs spans with `prices` (by default, the built-in table).
    #[must_use]
    pub fn with_prices(mut self, prices: PriceTable) -> Self {
        self.prices = Arc::new(prices);
        self
    }

    /// What each tenant's tokens cost.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// The price table, shared (for work that outlives the request, such as a cost filter
    /// run on a blocking thread).
    pub fn shared_prices(&self) -> Arc<PriceTable> {
        Arc::clone(&self.prices)
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

    /// Traces of runs not yet indexed that the trace store finds holding `words` (Tempo's
    /// `TraceQL`), at most `limit`; none when the store cannot search text or searching the
    /// store is off.
    pub async fn find_text_in_store(&self, words: Vec<String>, limit: usize) -> Vec<TraceId> {
        match &self.search {
            Some(search) => search.find_text(&self.source, words, limit).await,
            None => Vec::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The total weight of the cached traces, in bytes.
    pub fn cache_bytes(&self) -> u64 {
        self.cache.bytes()
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

    /// Deletes an execution the caller may see, for good: its record, span summaries, artifact
    /// records and the spans of its trace in the embedded store; its cached trace is forgotten.
    /// A trace kept by Tempo or Jaeger stays there (their own retention applies). The same
    /// `NotFound` as [`TraceService::execution`] for one the caller may not see.
    pub async fn delete_execution(
        &self,
        audience: &Audience,
        id: &str,
    ) -> Result<Deletion, TraceError> {
        let execution = self.execution(audience, id).await?;
        let store = self.store.clone();
        let target = execution.id.clone();
        let deleted = blocking(move || store.delete_execution(&target)).await??;
        self.cache.invalidate(execution.id.as_str());
        deleted.ok_or_else(|| TraceError::NotFound(format!("no execution {}", execution.id)))
    }

    /// Two executions the caller may see, compared node by node ([`crate::compare`]): both
    /// whole trees (a degraded tree is refused, as an export refuses it), priced as the trace
    /// route prices them, with prompt and response diffs unless `withhold_content`. Either
    /// execution unknown or another tenant's: the same [`TraceError::NotFound`] as
    /// [`TraceService::execution`].
    pub async fn compare(
        &self,
        audience: &Audience,
        a: &str,
        b: &str,
        withhold_content: bool,
    ) -> Result<crate::compare::Comparison, TraceError> {
        let execution_a = self.execution(audience, a).await?;
        let execution_b = self.execution(audience, b).await?;
        let loaded_a = self.trace(&execution_a, withhold_content).await?;
        let loaded_b = self.trace(&execution_b, withhold_content).await?;
        let tree_a = Arc::clone(loaded_a.whole(&execution_a)?);
        let tree_b = Arc::clone(loaded_b.whole(&execution_b)?);
        let policy = self.policy();
        let redact = |t: &str| policy.redact(t).into_owned();
        let (run_a, run_b) = (
            crate::compare::RunInfo::of(&execution_a, redact),
            crate::compare::RunInfo::of(&execution_b, redact),
        );
        let (costs_a, costs_b) = (loaded_a.costs, loaded_b.costs);
        let trees = blocking(move || {
            crate::compare::compare(
                crate::compare::Run {
                    execution: &run_a.id,
                    tree: &tree_a,
                    costs: &costs_a,
                },
                crate::compare::Run {
                    execution: &run_b.id,
                    tree: &tree_b,
                    costs: &costs_b,
                },
                !withhold_content,
            )
            .map(|trees| crate::compare::Comparison::new(run_a, run_b, trees))
        })
        .await?;
        trees.map_err(|e| TraceError::TooLarge(e.to_string()))
    }

    /// The execution's trace, with content withheld when `withhold_content`.
    pub async fn trace(
        &self,
        execution: &Execution,
        withhold_content: bool,
    ) -> Result<LoadedTrace, TraceError> {
        self.load(execution, withhold_content, true).await
    }

    /// The execution's trace as [`TraceService::trace`] gives it, but a trace the cache does not
    /// hold is not kept there: an export of many runs reads each once, and would otherwise push
    /// out the traces people are reading (and hold up to the cache's bound in memory).
    pub async fn trace_passing_through(
        &self,
        execution: &Execution,
        withhold_content: bool,
    ) -> Result<LoadedTrace, TraceError> {
        self.load(execution, withhold_content, false).await
    }

    async fn load(
        &self,
        execution: &Execution,
        withhold_content: bool,
        keep_in_cache: bool,
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
        let key = execution.id.as_str();
        if let Some(entry) = self.cache.get(key) {
            return Ok(LoadedTrace {
                tree: self.view(key, &entry, withhold_content).await?,
                costs: Arc::clone(&entry.costs),
                source: fresh,
                cached: Some(CachedTrace {
                    cache: Arc::clone(&self.cache),
                    execution: key.to_owned(),
                    entry,
                }),
            });
        }
        let request = FetchRequest {
            trace_id,
            window: Some(window(execution)),
        };
        let ticket = self.cache.ticket(key);
        match self.source.fetch(&request).await {
            Ok(fetched) => {
                let partial = fetched.partial;
                // Only what can no longer change is kept; spans that arrive later drop the
                // entry, or outlive it (see the cache's late spans).
                let keep = execution.finished_at.filter(|_| {
                    keep_in_cache && execution.status.is_final() && !partial && self.cache.is_on()
                });
                let redactor = self.redactor.clone();
                let (prices, tenant) = (Arc::clone(&self.prices), execution.tenant.clone());
                // A run whose trace lives in Tempo or Jaeger is indexed for search once, from
                // its first complete tree after it ended (the embedded store's runs are indexed
                // as their spans arrive).
                let index = (backend != crate::embedded::NAME
                    && execution.status.is_final()
                    && execution.search_indexed_at.is_none()
                    && !partial)
                    .then(|| (self.store.clone(), execution.id.clone()));
                let (tree, costs, bytes) = blocking(move || {
                    let mut tree = normalize_with_anomalies(fetched.spans, fetched.anomalies);
                    // Once per span, after normalization (pricing is not the tree's business)
                    // and before redaction, by the model names as the spans give them, as the
                    // list prices them.
                    let costs = priced(&prices, &tenant, &tree, redactor.as_deref());
                    redact(&mut tree, redactor.as_deref());
                    if let Some((store, id)) = index {
                        index_for_search(&store, &id, &tree);
                    }
                    let bytes = keep.map(|_| tree_bytes(&tree) + costs.bytes());
                    (Arc::new(tree), Arc::new(costs), bytes)
                })
                .await?;
                let entry = keep.zip(bytes).and_then(|(ended, bytes)| {
                    self.cache.insert(
                        key,
                        ticket,
                        Arc::clone(&tree),
                        Arc::clone(&costs),
                        bytes,
                        ended,
                    )
                });
                let source = SourceInfo { partial, ..fresh };
                Ok(match entry {
                    Some(entry) => LoadedTrace {
                        tree: self.view(key, &entry, withhold_content).await?,
                        costs,
                        source,
                        cached: Some(CachedTrace {
                            cache: Arc::clone(&self.cache),
                            execution: key.to_owned(),
                            entry,
                        }),
                    },
                    None if withhold_content => LoadedTrace::uncached(
                        blocking(move || withheld(&tree)).await?,
                        costs,
                        source,
                    ),
                    None => LoadedTrace::uncached(tree, costs, source),
                })
            }
            Err(error) => self.degraded(execution, trace_id, error).await,
        }
    }

    /// The cached tree as the caller may see it; the content-withheld form is made once and
    /// kept with the entry.
    async fn view(
        &self,
        key: &str,
        entry: &Cached,
        withhold_content: bool,
    ) -> Result<Arc<TraceTree>, TraceError> {
        if !withhold_content {
            return Ok(Arc::clone(&entry.full));
        }
        if let Some(tree) = entry.withheld() {
            return Ok(Arc::clone(tree));
        }
        let full = Arc::clone(&entry.full);
        let (tree, bytes) = blocking(move || {
            let tree = withheld(&full);
            let bytes = tree_bytes(&tree);
            (tree, bytes)
        })
        .await?;
        self.cache
            .keep_withheld(key, &entry.full, Arc::clone(&tree), bytes);
        Ok(tree)
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
            let (prices, tenant) = (Arc::clone(&self.prices), execution.tenant.clone());
            let (tree, costs) = blocking(move || {
                let mut tree = summary_tree(trace_id, &summaries);
                let costs = priced(&prices, &tenant, &tree, redactor.as_deref());
                redact(&mut tree, redactor.as_deref());
                (tree, costs)
            })
            .await?;
            return Ok(LoadedTrace::uncached(
                Arc::new(tree),
                Arc::new(costs),
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
                Arc::default(),
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
/// The costs of `tree`'s spans at `tenant`'s prices, priced by the model names before they are
/// redacted; the names of unpriced models, which are shown, redacted as the tree will be.
fn priced(
    prices: &PriceTable,
    tenant: &str,
    tree: &TraceTree,
    redactor: Option<&Redactor>,
) -> TraceCosts {
    let mut costs = TraceCosts::of(prices.for_tenant(tenant), tree);
    if let (Some(redactor), Some(run)) = (redactor, costs.run.as_mut()) {
        for model in &mut run.unpriced_models {
            *model = redactor.redact(model).into_owned();
        }
    }
    costs
}

/// The executions search's rows of a (redacted) tree: its received spans' texts, not those of
/// the spans normalization stood in for missing ones.
pub fn search_texts(tree: &TraceTree) -> Vec<orcheo_trace_store::SpanText> {
    tree.nodes
        .iter()
        .filter(|n| !n.synthetic)
        .flat_map(orcheo_trace_store::span_texts)
        .collect()
}

/// Indexes a fetched (and redacted) tree's span texts for the executions search, once: a
/// failure is logged, and the next fetch tries again.
fn index_for_search(store: &Store, id: &ExecutionId, tree: &TraceTree) {
    if let Err(e) = store.index_execution_texts(id, &search_texts(tree)) {
        tracing::warn!(execution.id = %id, error = %e, "trace not indexed for search");
    }
}

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

/// A copy of the tree with prompt, response and message text withheld.
fn withheld(tree: &TraceTree) -> Arc<TraceTree> {
    let mut tree = tree.clone();
    filter::apply(
        &mut tree,
        &ContentPolicy {
            withhold_content: true,
            ..ContentPolicy::default()
        },
    );
    Arc::new(tree)
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
            if let Some(n) = tokens(s.cached_input_tokens) {
                attributes.push(KeyValue::new(
                    semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
                    n,
                ));
            }
            if let Some(model) = &s.model {
                attributes.push(KeyValue::new(semconv::GEN_AI_REQUEST_MODEL, model.clone()));
            }
            if let Some(provider) = &s.provider {
                attributes.push(KeyValue::new(
                    semconv::GEN_AI_PROVIDER_NAME,
                    provider.clone(),
                ));
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

/// A run's cost from its span summaries' tokens per model ([`Store::summary_model_tokens`]),
/// at today's `prices`: what a list shows without reading the trace. `None` when no span had
/// tokens.
pub fn summary_cost<'a>(
    prices: &Prices,
    groups: impl IntoIterator<Item = &'a ModelTokens>,
) -> Option<RunCost> {
    let mut sum = RunCostSum::default();
    for group in groups {
        let model = group.model.as_deref();
        let cost = prices.cost(model, group.provider.as_deref(), &group.tokens);
        sum.add(&cost, model, group.spans);
    }
    sum.finish()
}
