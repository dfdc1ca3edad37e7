//! Instrumentation for Orcheo workflow executors.
//!
//! So far this crate holds [`TracingConfig`] (the environment of the design, validated) and the
//! [`TraceMetadataSink`] contract between the instrumentation and whatever persists run metadata
//! (the `orcheo-trace-store` implements it); the tracer, run and node spans, exporters and
//! content handling come with the rest of the instrumentation work.
//!
//! Invariant: a sink failure never reaches the workflow. The instrumentation logs and counts it
//! and carries on; that is why the sink's errors are a plain message, not something to match on.
#![forbid(unsafe_code)]

pub mod config;
pub mod content;
pub mod export_stats;
pub mod metrics;
mod sink_worker;
pub mod telemetry;
pub mod workflow;

pub use config::{ConfigError, Exporter, Protocol, TracingConfig};
pub use content::{ContentPolicy, Prepared};
pub use export_stats::ExportStats;
pub use metrics::TracingMetrics;
pub use sink_worker::SinkStats;
pub use telemetry::{InitError, Telemetry};
pub use workflow::{
    AiModel, ArtifactInfo, Node, NodeError, NodeInfo, Run, RunInfo, WorkflowTracer,
};

use orcheo_trace_model::{RunFinished, RunStarted, SpanSummary};

/// Why a sink could not record something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trace metadata sink: {0}")]
pub struct SinkError(pub String);

/// Receives run metadata as runs happen, to persist it.
///
/// Calls may block (a database write); the instrumentation calls them off the workflow's path.
pub trait TraceMetadataSink: Send + Sync {
    /// A run started: its execution id, trace id and `traceparent`.
    fn run_started(&self, run: &RunStarted) -> Result<(), SinkError>;

    /// Spans ended (a batch, so a store can write them in one transaction).
    fn spans_ended(&self, summaries: &[SpanSummary]) -> Result<(), SinkError>;

    /// A run ended.
    fn run_finished(&self, run: &RunFinished) -> Result<(), SinkError>;
}
