//! The embedded mode's OTLP receiver: executors export to the server itself, which keeps the
//! spans in its local span store and learns executions from them.
//!
//! - [`http`]: `POST /v1/traces` (protobuf or JSON, gzip or not) on its own listener, apart
//!   from the web framework: the server reads the body and writes the [`http::Answer`];
//! - [`grpc`]: `opentelemetry.proto.collector.trace.v1.TraceService/Export` (tonic);
//! - [`Ingest`]: the one path both take — a bounded queue to a writer thread that commits a
//!   batch before its export is acknowledged, so an acknowledged span survives a restart, and a
//!   writer that lags answers "busy, retry later" instead of growing memory;
//! - [`health`]: the writer's last failure to store, for `/readyz`;
//! - [`derive`](mod@derive): executions and span summaries read off the spans, so an executor that only
//!   emits OpenTelemetry spans appears, live, with no other integration;
//! - [`credentials`]: which tenant an export's bearer token writes for;
//! - [`ownership`]: the writer's check that a span joins only its own tenant's traces and runs;
//! - [`quota`]: each tenant's spans a second;
//! - [`otlp`]: the OTLP trace messages (protobuf, and the OTLP/JSON mapping);
//! - [`split`]: an export into local span store rows, one span each;
//! - [`search`]: the searchable, redacted text of received spans, for the executions search;
//! - [`wire`]: what an export would cost to decode, read before decoding it;
//! - [`connections`]: how many connections the receivers hold, and for how long a silent one.
#![forbid(unsafe_code)]

pub mod connections;
pub mod credentials;
pub mod derive;
pub mod grpc;
pub mod health;
pub mod http;
pub mod otlp;
pub mod ownership;
pub mod quota;
pub mod search;
pub mod split;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::otlp::ExportTraceServiceRequest;
use crate::otlp::TracesData;
use orcheo_trace_store::{LocalSpanLimits, Store};
use prometheus::IntCounterVec;

use orcheo_trace_model::{ExecutionId, SpanWatcher};

/// How long a client is told to wait when the writer is behind.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Exports the writer takes into one round of writes.
const MAX_JOBS_PER_ROUND: usize = 64;

/// Limits of the receiver.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// Spans waiting for the writer; past this, exports are refused as busy.
    pub max_queued_spans: usize,
    /// Largest request body, after decompression.
    pub max_request_bytes: usize,
    pub local_spans: LocalSpanLimits,
    /// Spans a second one tenant's credential may export (`0`: no limit).
    pub tenant_spans_per_second: u32,
}

impl IngestLimits {
    /// The defaults: 200,000 spans queued, 4 MiB a request, the local store's default bounds,
    /// 50,000 spans a second per tenant.
    pub fn new() -> Self {
        Self {
            max_queued_spans: 200_000,
            // The gRPC default, and the OpenTelemetry Collector's: exporters split larger batches.
            max_request_bytes: 4 * 1024 * 1024,
            local_spans: LocalSpanLimits::default(),
            tenant_spans_per_second: 50_000,
        }
    }
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// What became of one export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: usize,
    /// Spans refused (bad ids, over a bound); the OTLP partial-success count.
    pub rejected: usize,
    /// Why some were refused, for the partial-success message.
    pub message: Option<String>,
    /// Spans refused by the tenant rule or a tenant's bound: claimed tenant, reason, count.
    pub refused: Vec<(String, &'static str, usize)>,
}

/// Why an export was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The writer is behind: retry after a while (OTLP `UNAVAILABLE` / HTTP 503).
    #[error("the server is busy writing earlier spans; retry later")]
    Busy,
    /// The database refused the batch: retry after a while.
    #[error("cannot store the spans: {0}")]
    Store(String),
    /// The receiver is shutting down.
    #[error("the receiver is stopping")]
    Stopped,
    /// One export holds more spans than the receiver queues in all: split the batch.
    #[error(
        "{0} spans in one export is more than the receiver takes at once; send smaller batches"
    )]
    TooManySpans(usize),
    /// The writer's tenant exported more spans a second than it may: retry after the delay.
    #[error("tenant {tenant} exports more than {per_second} spans a second; retry later")]
    RateLimited {
        tenant: String,
        per_second: u32,
        retry_after: Duration,
    },
}

impl IngestError {
    /// How long the exporter should wait before retrying, for the errors worth a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy | Self::Store(_) | Self::Stopped => Some(BUSY_RETRY_AFTER),
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::TooManySpans(_) => None,
        }
    }

    /// The `reason` label it is counted under in `orcheo_otlp_requests_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Store(_) => "store_error",
            Self::Stopped => "stopped",
            Self::TooManySpans(_) => "too_large",
            Self::RateLimited { .. } => "rate_limited",
        }
    }
}

/// Counters of the receiver (the names of docs/operations.md, "Metrics").
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    /// `orcheo_otlp_spans_received_total{transport}`
    pub received: IntCounterVec,
    /// `orcheo_otlp_requests_rejected_total{reason}`
    pub rejected: IntCounterVec,
    /// `orcheo_otlp_spans_refused_total{tenant,reason}`: spans refused by the tenant rule and
    /// the tenants' quotas.
    pub refused_spans: IntCounterVec,
}

impl IngestMetrics {
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let received = IntCounterVec::new(
            prometheus::Opts::new(
                "orcheo_otlp_spans_received_total",
                "Spans received over OTLP and stored, by transport.",
            ),
            &["transport"],
        )?;
        let rejected = IntCounterVec::new(
            prometheus::Opts::new(
                "orcheo_otlp_requests_rejected_total",
                "OTLP requests (or their spans) refused, by reason.",
            ),
            &["reason"],
        )?;
        let refused_spans = IntCounterVec::new(
            prometheus::Opts::new(
                "orcheo_otlp_spans_refused_total",
                "Spans refused by the tenant rule or a tenant's quota, by claimed tenant and reason.",
            ),
            &["tenant", "reason"],
        )?;
        registry.register(Box::new(received.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(refused_spans.clone()))?;
        Ok(Self {
            received,
            rejected,
            refused_spans,
        })
    }

    pub fn reject(&self, reason: &str) {
        self.rejected.with_label_values(&[reason]).inc();
    }
}

/// An export made ready for the writer: split into stored rows, its facts read off.
struct Job {
    split: split::Split,
    facts: derive::Facts,
    texts: search::Texts,
    writer: credentials::Writer,
    spans: usize,
    reply: tokio::sync::oneshot::Sender<Result<Outcome, IngestError>>,
}

/// Whom the writer tells of executions with new spans, in the order they were added.
#[derive(Default, Clone)]
pub struct Watchers(Vec<Arc<dyn SpanWatcher>>);

impl Watchers {
    /// No one.
    pub fn new() -> Self {
        Self::default()
    }

    /// `watcher` as well, told after those added before it.
    #[must_use]
    pub fn with(mut self, watcher: Arc<dyn SpanWatcher>) -> Self {
        self.0.push(watcher);
        self
    }

    fn tell(&self, executions: &[ExecutionId]) {
        for watcher in &self.0 {
            watcher.spans_committed(executions);
        }
    }
}

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers")
            .field("count", &self.0.len())
            .finish()
    }
}

/// The receiver's handle; cloning shares the queue.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::SyncSender<Job>,
    queued_spans: Arc<AtomicUsize>,
    limits: IngestLimits,
    auth: credentials::IngestAuth,
    rates: Arc<quota::TenantRates>,
    pub metrics: IngestMetrics,
    health: Arc<health::WriterHealth>,
    /// What the API redacts: received spans are indexed for search as it would show them.
    redactor: Option<Arc<orcheo_span_tree::redact::Redactor>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("queued_spans", &self.queued_spans.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the writer thread; `watchers` are told of executions with new spans. Span text
    /// is indexed for search redacted with `redactor` (the one the API serves texts with).
    pub fn start(
        store: Store,
        limits: IngestLimits,
        auth: credentials::IngestAuth,
        metrics: IngestMetrics,
        watchers: Watchers,
        redactor: Option<Arc<orcheo_span_tree::redact::Redactor>>,
    ) -> std::io::Result<Self> {
        // The span bound is what limits memory; the job bound only keeps the channel finite.
        let (queue, jobs) = mpsc::sync_channel::<Job>(4096);
        let queued_spans = Arc::new(AtomicUsize::new(0));
        let writer_queued = Arc::clone(&queued_spans);
        let health = Arc::new(health::WriterHealth::default());
        let writer_health = Arc::clone(&health);
        let writer_redactor = redactor.clone();
        std::thread::Builder::new()
            .name("orcheo-otlp-writer".to_owned())
            .spawn(move || {
                write_forever(
                    &store,
                    &jobs,
                    &writer_queued,
                    limits.local_spans,
                    &watchers,
                    &writer_health,
                    writer_redactor.as_deref(),
                );
            })?;
        Ok(Self {
            queue,
            queued_spans,
            limits,
            auth,
            rates: Arc::new(quota::TenantRates::new(limits.tenant_spans_per_second)),
            metrics,
            health,
            redactor,
        })
    }

    /// Whether the writer's last round was stored.
    pub fn health(&self) -> Arc<health::WriterHealth> {
        Arc::clone(&self.health)
    }

    pub fn limits(&self) -> IngestLimits {
        self.limits
    }

    /// The writer an `Authorization` value names; a refusal is counted.
    pub fn writer(
        &self,
        authorization: Option<&str>,
    ) -> Result<credentials::Writer, credentials::CredentialError> {
        self.auth.writer(authorization).inspect_err(|e| {
            self.metrics.reject(match e {
                credentials::CredentialError::MissingScope => "forbidden",
                _ => "unauthenticated",
            });
        })
    }

    /// Queues `writer`'s export and waits until its spans are committed.
    pub async fn submit(
        &self,
        request: ExportTraceServiceRequest,
        writer: credentials::Writer,
        transport: &'static str,
    ) -> Result<Outcome, IngestError> {
        let data = TracesData {
            resource_spans: request.resource_spans,
        };
        let spans: usize = data
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        if spans == 0 {
            return Ok(Outcome::default());
        }
        if spans > self.limits.max_queued_spans {
            self.metrics.reject("too_large");
            return Err(IngestError::TooManySpans(spans));
        }
        if let credentials::Writer::Tenant(tenant) = &writer
            && let Err(retry_after) = self.rates.take(tenant, spans)
        {
            self.metrics.reject("rate_limited");
            self.metrics
                .refused_spans
                .with_label_values(&[tenant.as_str(), "rate_limited"])
                .inc_by(spans as u64);
            return Err(IngestError::RateLimited {
                tenant: tenant.clone(),
                per_second: self.limits.tenant_spans_per_second,
                retry_after,
            });
        }
        let queued = self.queued_spans.fetch_add(spans, Ordering::AcqRel);
        if queued + spans > self.limits.max_queued_spans && queued > 0 {
            self.queued_spans.fetch_sub(spans, Ordering::AcqRel);
            self.metrics.reject("busy");
            return Err(IngestError::Busy);
        }
        // Splitting and reading the facts need no database: done here, on the receivers'
        // threads, the one writer thread only writes.
        let facts = derive::facts(&data, &writer);
        let split = split::split_within(
            data,
            &writer,
            self.limits.local_spans.max_payload_bytes,
            split::DEFAULT_MAX_TOTAL,
        );
        let texts = search::texts_of_split(&split, self.redactor.as_deref());
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            split,
            facts,
            texts,
            writer,
            spans,
            reply,
        };
        if let Err(e) = self.queue.try_send(job) {
            self.queued_spans.fetch_sub(spans, Ordering::AcqRel);
            self.metrics.reject("busy");
            return Err(match e {
                mpsc::TrySendError::Full(_) => IngestError::Busy,
                mpsc::TrySendError::Disconnected(_) => IngestError::Stopped,
            });
        }
        let outcome = answer
            .await
            .unwrap_or(Err(IngestError::Stopped))
            .inspect_err(|e| self.metrics.reject(e.reason()))?;
        self.metrics
            .received
            .with_label_values(&[transport])
            .inc_by(outcome.accepted as u64);
        if outcome.rejected > 0 {
            self.metrics.reject("invalid_or_over_limit");
        }
        for (tenant, reason, count) in &outcome.refused {
            self.metrics
                .refused_spans
                .with_label_values(&[tenant.as_str(), reason])
                .inc_by(*count as u64);
        }
        Ok(outcome)
    }
}

/// Executions the writer registered lately; their spans skip the registration insert.
const KNOWN_EXECUTIONS: usize = 10_000;

/// The writer: takes what is queued (up to a round's worth), checks each export against the
/// tenant rule and stores its spans, then what the round's spans say about executions in one
/// go, and answers each export.
fn write_forever(
    store: &Store,
    jobs: &mpsc::Receiver<Job>,
    queued: &AtomicUsize,
    limits: LocalSpanLimits,
    watchers: &Watchers,
    health: &health::WriterHealth,
    redactor: Option<&orcheo_span_tree::redact::Redactor>,
) {
    let mut known = std::collections::HashSet::new();
    let mut owners = ownership::Owners::default();
    while let Ok(first) = jobs.recv() {
        let mut round = vec![first];
        while round.len() < MAX_JOBS_PER_ROUND {
            match jobs.try_recv() {
                Ok(job) => round.push(job),
                Err(_) => break,
            }
        }
        let mut facts = derive::Facts::default();
        let mut touched = Vec::new();
        let mut texts = Vec::new();
        let (replies, exports): (Vec<_>, Vec<_>) = round
            .into_iter()
            .map(|job| {
                (
                    (job.reply, job.spans),
                    (job.split, job.facts, job.texts, job.writer),
                )
            })
            .unzip();
        if known.len() > KNOWN_EXECUTIONS {
            known.clear();
        }
        // The whole round is one transaction (one commit, one pass of the log over the pages
        // the exports share); each export, and the derived writes, in a savepoint of its own.
        let committed = store.transaction(|tx| {
            let results: Vec<Result<Outcome, IngestError>> = exports
                .into_iter()
                .map(|(split, these, these_texts, writer)| {
                    let export = Export {
                        split,
                        facts: these,
                        texts: these_texts,
                        writer: &writer,
                    };
                    store_spans(
                        tx,
                        export,
                        limits,
                        &mut owners,
                        &mut facts,
                        &mut touched,
                        &mut texts,
                    )
                })
                .collect();
            // Executions, summaries and search rows are derived data: a failure here is
            // logged, and the spans — the record itself — stay acknowledged.
            let applied = derive::apply(tx, &facts, &known, redactor).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not update executions from received spans");
                derive::Applied::default()
            });
            // After the runs are registered: their rows carry the run's tenant.
            if let Err(e) = search::write(tx, std::mem::take(&mut texts)) {
                tracing::warn!(error = %e, "could not index received spans for search");
            }
            Ok((results, applied))
        });
        let results = match committed {
            Ok((results, applied)) => {
                touched.extend(applied.adopted.iter().cloned());
                known.extend(applied.registered);
                for gone in &applied.missing {
                    known.remove(gone);
                }
                results
            }
            Err(e) => {
                // What the round taught about owners may not have been written.
                owners.forget();
                let message = e.to_string();
                replies
                    .iter()
                    .map(|_| Err(IngestError::Store(message.clone())))
                    .collect()
            }
        };
        health.record(&results);
        let answers = replies
            .into_iter()
            .zip(results)
            .map(|((reply, spans), result)| (reply, spans, result));
        touched.extend(facts.summaries.iter().map(|s| s.execution_id.clone()));
        touched.extend(facts.roots.iter().map(|(id, ..)| id.clone()));
        touched.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        touched.dedup();
        watchers.tell(&touched);
        for (reply, spans, result) in answers {
            queued.fetch_sub(spans, Ordering::AcqRel);
            // The exporter may have given up waiting; its spans are stored all the same.
            let _ = reply.send(result);
        }
    }
}

/// One export in the writer's hands.
struct Export<'a> {
    split: split::Split,
    facts: derive::Facts,
    texts: search::Texts,
    writer: &'a credentials::Writer,
}

/// The facts of the spans left in `split` (after some were refused): their payloads laid end
/// to end are one `TracesData`, read again.
fn facts_of_kept(split: &split::Split, writer: &credentials::Writer) -> derive::Facts {
    let mut bytes = Vec::with_capacity(split.spans.iter().map(|s| s.payload.len()).sum());
    for span in &split.spans {
        bytes.extend_from_slice(&span.payload);
    }
    match <TracesData as prost::Message>::decode(bytes.as_slice()) {
        Ok(data) => derive::facts(&data, writer),
        Err(e) => {
            tracing::warn!(error = %e, "received spans did not decode again; their executions are not updated");
            derive::Facts::default()
        }
    }
}

/// The texts of the stored spans whose run is known, for that run; the others are indexed
/// when their run adopts them.
fn placed_texts(
    split: &split::Split,
    mut texts: search::Texts,
) -> Vec<(ExecutionId, Vec<orcheo_trace_store::SpanText>)> {
    split
        .spans
        .iter()
        .filter_map(|span| {
            let execution = span.execution_id.as_ref()?;
            Some((
                execution.clone(),
                texts.remove(&(span.trace_id, span.span_id))?,
            ))
        })
        .collect()
}

/// Checks one export against the tenant rule and stores the spans that pass; once they are
/// stored, adds what they say about executions to `facts` and the executions they join to
/// `touched`.
fn store_spans(
    store: &mut orcheo_trace_store::Transaction<'_>,
    export: Export<'_>,
    limits: LocalSpanLimits,
    owners: &mut ownership::Owners,
    facts: &mut derive::Facts,
    touched: &mut Vec<ExecutionId>,
    texts: &mut Vec<(ExecutionId, Vec<orcheo_trace_store::SpanText>)>,
) -> Result<Outcome, IngestError> {
    let Export {
        mut split,
        facts: mut these,
        texts: these_texts,
        writer,
    } = export;
    let checked = owners
        .check(store, &mut split.spans, writer)
        .map_err(|e| IngestError::Store(e.to_string()))?;
    let report = store
        .store_local_spans(&split.spans, orcheo_trace_model::Timestamp::now(), limits)
        .map_err(|e| IngestError::Store(e.to_string()))?;
    // What the export says about executions counts only from the spans that were stored: a
    // span left out (unreadable, too large, another tenant's, over a bound) says nothing.
    let left_out = split.invalid + split.out_of_range + split.too_large + checked.refused_count();
    if left_out > 0 || !report.refused_at.is_empty() {
        let mut at = 0;
        split.spans.retain(|_| {
            at += 1;
            report.refused_at.binary_search(&(at - 1)).is_err()
        });
        these = facts_of_kept(&split, writer);
    }
    // Spans that name no execution count for the one their trace belongs to, as the tenant
    // rule found it.
    if !these.unplaced.is_empty() {
        let placement: std::collections::HashMap<_, _> = split
            .spans
            .iter()
            .filter_map(|s| Some(((s.trace_id, s.span_id), s.execution_id.clone()?)))
            .collect();
        these.place(&placement);
    }
    texts.extend(placed_texts(&split, these_texts));
    owners.learn(&these);
    facts.extend(these);
    touched.extend(checked.touched.iter().cloned());
    let mut refused: Vec<(String, &'static str, usize)> = checked
        .refused
        .iter()
        .map(|((tenant, why), n)| (tenant.clone(), why.reason(), *n))
        .collect();
    if report.refused_tenant_full > 0 {
        refused.push((
            writer.label().to_owned(),
            "tenant_store_full",
            report.refused_tenant_full,
        ));
    }
    let rejected = left_out + report.refused();
    let mut reasons = Vec::new();
    if split.too_large > 0 {
        reasons.push(format!(
            "{} too large (one span over {} bytes, or the export over {} bytes)",
            split.too_large,
            limits.max_payload_bytes,
            split::DEFAULT_MAX_TOTAL
        ));
    }
    if split.invalid > 0 {
        reasons.push(format!(
            "{} with an invalid trace or span id",
            split.invalid
        ));
    }
    if split.out_of_range > 0 {
        reasons.push(format!(
            "{} with a start or end time past what the store holds (year 2262)",
            split.out_of_range
        ));
    }
    if report.refused_trace_full > 0 {
        reasons.push(format!(
            "{} over the per-trace bound",
            report.refused_trace_full
        ));
    }
    for ((_, why), n) in &checked.refused {
        reasons.push(format!("{n} refused for {}", why.describe()));
    }
    if report.refused_tenant_full > 0 {
        reasons.push(format!(
            "{} over the tenant's bound of {} stored spans",
            report.refused_tenant_full, limits.per_tenant
        ));
    }
    if report.refused_store_full > 0 {
        reasons.push(format!(
            "{} over the store's bound",
            report.refused_store_full
        ));
    }
    if report.refused_too_large > 0 {
        reasons.push(format!("{} too large", report.refused_too_large));
    }
    Ok(Outcome {
        accepted: report.stored + report.replaced,
        rejected,
        message: (!reasons.is_empty()).then(|| format!("rejected spans: {}", reasons.join(", "))),
        refused,
    })
}
