//! The server's own telemetry: `tracing` logs to standard error — JSON for log pipelines or text
//! for a terminal, the level from `RUST_LOG` (default `info`) — and, when `orcheo-tracing` is
//! configured to export (`ORCHEO_TRACING_EXPORTER=otlp`…), the same request spans as
//! OpenTelemetry spans. Every line of a request carries its `request.id` (and `execution.id`,
//! `trace.id` once known) from the request span.

use std::io::IsTerminal as _;

use opentelemetry_sdk::trace::SdkTracer;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogFormat;

/// What the server reports about the exporter of its own spans.
#[derive(Debug, Clone)]
pub struct OwnTelemetry {
    /// `console` or `otlp`.
    pub exporter: &'static str,
    pub stats: std::sync::Arc<orcheo_tracing::ExportStats>,
    /// Registered in the server's registry (`orcheo_tracing_*`).
    pub metrics: Option<orcheo_tracing::TracingMetrics>,
}

/// Installs the global subscriber; a second call does nothing (tests build many apps).
pub fn init(format: LogFormat, tracer: Option<SdkTracer>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    let spans = tracer.map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    // Already installed: the first one stays.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init();
}
