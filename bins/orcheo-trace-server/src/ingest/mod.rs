//! The embedded mode's OTLP receiver: executors export to the server itself, which keeps the
//! spans in its local span store and learns executions from them.
//!
//! - [`http`]: `POST /v1/traces` (protobuf or JSON, gzip or not) on its own listener;
//! - [`grpc`]: `opentelemetry.proto.collector.trace.v1.TraceService/Export` (tonic);
//! - [`Ingest`]: the one path both take — a bounded queue to a writer thread that commits a
//!   batch before its export is acknowledged, so an acknowledged span survives a restart, and a
//!   writer that lags answers "busy, retry later" instead of growing memory;
//! - [`health`]: the writer's last failure to store, for `/readyz`;
//! - [`derive`]: executions and span summaries read off the spans, so an executor that only
//!   emits OpenTelemetry spans appears, live, with no other integration;
//! - [`wire`]: what an export would cost to decode, read before decoding it.

pub mod derive;
pub mod grpc;
pub mod health;
pub mod http;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use orcheo_trace_store::{LocalSpanLimits, Store};
use prometheus::IntCounterVec;

use crate::embedded;

/// How long a client is told to wait when the writer is behind.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Exports the writer takes into one round of writes.
const MAX_JOBS_PER_ROUND: usize = 64;

/// Limits of the receiver.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestLimits {
    /// SHA-256 of the bearer token exporters must send (`None`: no token needed).
    pub token_sha256: Option<[u8; 32]>,
    /// Spans waiting for the writer; past this, exports are refused as busy.
    pub max_queued_spans: usize,
    /// Largest request body, after decompression.
    pub max_request_bytes: usize,
    pub local_spans: LocalSpanLimits,
}

impl IngestLimits {
    /// The defaults: 200,000 spans queued, 4 MiB a request, the local store's default bounds.
    pub fn new(token: Option<&str>) -> Self {
        Self {
            token_sha256: token.map(sha256),
            max_queued_spans: 200_000,
            // The gRPC default, and the OpenTelemetry Collector's: exporters split larger batches.
            max_request_bytes: 4 * 1024 * 1024,
            local_spans: LocalSpanLimits::default(),
        }
    }
}

fn sha256(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// What became of one export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: usize,
    /// Spans refused (bad ids, over a bound); the OTLP partial-success count.
    pub rejected: usize,
    /// Why some were refused, for the partial-success message.
    pub message: Option<String>,
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
}

impl IngestError {
    /// The `reason` label it is counted under in `orcheo_otlp_requests_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Store(_) => "store_error",
            Self::Stopped => "stopped",
            Self::TooManySpans(_) => "too_large",
        }
    }
}

/// Counters of the receiver (DESIGN.md's names).
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    /// `orcheo_otlp_spans_received_total{transport}`
    pub received: IntCounterVec,
    /// `orcheo_otlp_requests_rejected_total{reason}`
    pub rejected: IntCounterVec,
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
        registry.register(Box::new(received.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        Ok(Self { received, rejected })
    }

    pub fn reject(&self, reason: &str) {
        self.rejected.with_label_values(&[reason]).inc();
    }
}

/// An export made ready for the writer: split into stored rows, its facts read off.
struct Job {
    split: embedded::Split,
    facts: derive::Facts,
    spans: usize,
    reply: tokio::sync::oneshot::Sender<Result<Outcome, IngestError>>,
}

/// The receiver's handle; cloning shares the queue.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::SyncSender<Job>,
    queued_spans: Arc<AtomicUsize>,
    limits: IngestLimits,
    pub metrics: IngestMetrics,
    health: Arc<health::WriterHealth>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("queued_spans", &self.queued_spans.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the writer thread; `hub` (if any) is told of executions with new spans.
    pub fn start(
        store: Store,
        limits: IngestLimits,
        metrics: IngestMetrics,
        hub: Option<Arc<crate::live::LiveHub>>,
    ) -> std::io::Result<Self> {
        // The span bound is what limits memory; the job bound only keeps the channel finite.
        let (queue, jobs) = mpsc::sync_channel::<Job>(4096);
        let queued_spans = Arc::new(AtomicUsize::new(0));
        let writer_queued = Arc::clone(&queued_spans);
        let health = Arc::new(health::WriterHealth::default());
        let writer_health = Arc::clone(&health);
        std::thread::Builder::new()
            .name("orcheo-otlp-writer".to_owned())
            .spawn(move || {
                write_forever(
                    &store,
                    &jobs,
                    &writer_queued,
                    limits.local_spans,
                    hub.as_deref(),
                    &writer_health,
                );
            })?;
        Ok(Self {
            queue,
            queued_spans,
            limits,
            metrics,
            health,
        })
    }

    /// Whether the writer's last round was stored.
    pub fn health(&self) -> Arc<health::WriterHealth> {
        Arc::clone(&self.health)
    }

    pub fn limits(&self) -> IngestLimits {
        self.limits
    }

    /// Whether an `Authorization` value carries the ingest token (always, when none is set).
    /// Hashes are compared, so the comparison's time says nothing about the token.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some(expected) = self.limits.token_sha256 else {
            return true;
        };
        authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .is_some_and(|(_, token)| sha256(token.trim()) == expected)
    }

    /// Queues an export and waits until its spans are committed.
    pub async fn submit(
        &self,
        request: ExportTraceServiceRequest,
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
        let queued = self.queued_spans.fetch_add(spans, Ordering::AcqRel);
        if queued + spans > self.limits.max_queued_spans && queued > 0 {
            self.queued_spans.fetch_sub(spans, Ordering::AcqRel);
            self.metrics.reject("busy");
            return Err(IngestError::Busy);
        }
        // Splitting and reading the facts need no database: done here, on the receivers'
        // threads, the one writer thread only writes.
        let facts = derive::facts(&data);
        let split = embedded::split_within(
            data,
            self.limits.local_spans.max_payload_bytes,
            embedded::DEFAULT_MAX_TOTAL,
        );
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            split,
            facts,
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
        Ok(outcome)
    }
}

/// Executions the writer registered lately; their spans skip the registration insert.
const KNOWN_EXECUTIONS: usize = 10_000;

/// The writer: takes what is queued (up to a round's worth), stores each export's spans, then
/// what the round's spans say about executions in one go, and answers each export.
fn write_forever(
    store: &Store,
    jobs: &mpsc::Receiver<Job>,
    queued: &AtomicUsize,
    limits: LocalSpanLimits,
    hub: Option<&crate::live::LiveHub>,
    health: &health::WriterHealth,
) {
    let mut known = std::collections::HashSet::new();
    while let Ok(first) = jobs.recv() {
        let mut round = vec![first];
        while round.len() < MAX_JOBS_PER_ROUND {
            match jobs.try_recv() {
                Ok(job) => round.push(job),
                Err(_) => break,
            }
        }
        let mut facts = derive::Facts::default();
        let (replies, exports): (Vec<_>, Vec<_>) = round
            .into_iter()
            .map(|job| ((job.reply, job.spans), (job.split, job.facts)))
            .unzip();
        if known.len() > KNOWN_EXECUTIONS {
            known.clear();
        }
        // The whole round is one transaction (one commit, one pass of the log over the pages
        // the exports share); each export, and the derived writes, in a savepoint of its own.
        let committed = store.transaction(|tx| {
            let results: Vec<Result<Outcome, IngestError>> = exports
                .into_iter()
                .map(|(split, these)| store_spans(tx, &split, these, limits, &mut facts))
                .collect();
            // Executions and summaries are derived data: a failure here is logged, and the
            // spans — the record itself — stay acknowledged.
            let registered = derive::apply(tx, &facts, &known).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not update executions from received spans");
                Vec::new()
            });
            Ok((results, registered))
        });
        let results = match committed {
            Ok((results, registered)) => {
                known.extend(registered);
                results
            }
            Err(e) => {
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
        if let Some(hub) = hub {
            let mut touched: Vec<&orcheo_trace_model::ExecutionId> =
                facts.summaries.iter().map(|s| &s.execution_id).collect();
            touched.extend(facts.roots.iter().map(|(id, ..)| id));
            touched.sort_unstable_by_key(|id| id.as_str());
            touched.dedup();
            hub.notify(touched);
        }
        for (reply, spans, result) in answers {
            queued.fetch_sub(spans, Ordering::AcqRel);
            // The exporter may have given up waiting; its spans are stored all the same.
            let _ = reply.send(result);
        }
    }
}

/// Stores one export's spans; once they are stored, adds what they say about executions
/// (`these`) to `facts`.
fn store_spans(
    store: &mut orcheo_trace_store::Transaction<'_>,
    split: &embedded::Split,
    these: derive::Facts,
    limits: LocalSpanLimits,
    facts: &mut derive::Facts,
) -> Result<Outcome, IngestError> {
    let report = store
        .store_local_spans(&split.spans, orcheo_trace_model::Timestamp::now(), limits)
        .map_err(|e| IngestError::Store(e.to_string()))?;
    facts.extend(these);
    let rejected = split.invalid + split.too_large + report.refused();
    let mut reasons = Vec::new();
    if split.too_large > 0 {
        reasons.push(format!(
            "{} too large (one span over {} bytes, or the export over {} bytes)",
            split.too_large,
            limits.max_payload_bytes,
            embedded::DEFAULT_MAX_TOTAL
        ));
    }
    if split.invalid > 0 {
        reasons.push(format!(
            "{} with an invalid trace or span id",
            split.invalid
        ));
    }
    if report.refused_trace_full > 0 {
        reasons.push(format!(
            "{} over the per-trace bound",
            report.refused_trace_full
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
    })
}
