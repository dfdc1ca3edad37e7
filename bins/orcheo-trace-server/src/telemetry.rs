//! The server's own telemetry: `tracing` logs to standard error — JSON for log pipelines or text
//! for a terminal, the level from `RUST_LOG` (default `info`) — and, when `orcheo-tracing` is
//! configured to export (`ORCHEO_TRACING_EXPORTER=otlp`…), the same request spans as
//! OpenTelemetry spans. Every line of a request carries its `request.id` (and `execution.id`,
//! `trace.id` once known) from the request span.
//!
//! Logs come first ([`init`]), the OpenTelemetry layer later ([`SpansSlot::export_to`]): setting
//! up the exporter has warnings of its own to log (a collector that does not answer).

use std::io::IsTerminal as _;

use opentelemetry_sdk::trace::SdkTracer;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

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

/// The layer that turns request spans into OpenTelemetry spans: none until the exporter is set
/// up, after the logs.
type SpansLayer = tracing_opentelemetry::OpenTelemetryLayer<Registry, SdkTracer>;

/// Where the server's own spans go once their exporter is set up.
#[derive(Clone)]
pub struct SpansSlot(reload::Handle<Option<SpansLayer>, Registry>);

impl std::fmt::Debug for SpansSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpansSlot").finish_non_exhaustive()
    }
}

impl SpansSlot {
    /// From now on, request spans are also OpenTelemetry spans of `tracer`.
    pub fn export_to(&self, tracer: SdkTracer) {
        let layer = tracing_opentelemetry::layer().with_tracer(tracer);
        if let Err(e) = self.0.reload(Some(layer)) {
            tracing::warn!(error = %e, "the server's own spans cannot be exported");
        }
    }
}

/// Installs the global subscriber: logs now, the server's own spans once [`SpansSlot::export_to`]
/// is given their tracer. A second call does nothing and gives `None` (tests build many apps).
pub fn init(format: LogFormat) -> Option<SpansSlot> {
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
    let (spans, slot) = reload::Layer::new(None::<SpansLayer>);
    // Next to the registry, so that its type does not depend on the log format; the filter
    // still decides for every layer.
    tracing_subscriber::registry()
        .with(spans)
        .with(filter)
        .with(logs)
        .try_init()
        // Already installed: the first one stays.
        .ok()
        .map(|()| SpansSlot(slot))
}
