//! Instrumentation for Orcheo workflow executors.
//!
//! [`TracingConfig`] (the environment, validated), the tracer provider and exporters
//! ([`Telemetry`]), the run and node span API ([`WorkflowTracer`]), content handling before
//! export, and the instrumentation's own metrics. Run metadata goes to a [`TraceMetadataSink`]
//! (defined in the model crate; the metadata store implements it).
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

/// The sink contract lives in the model crate, so the store implements it without depending on
/// the instrumentation.
pub use orcheo_trace_model::{SinkError, TraceMetadataSink};
