//! The tracer provider for a [`TracingConfig`]: exporter, sampling, batching, and a guard that
//! flushes and shuts it down when dropped.
//!
//! Export never runs on the workflow's path: the batch processor has its own thread, and a
//! collector that is down costs dropped spans, not latency (`span.end()` only queues).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

use crate::config::{Exporter, Protocol, TracingConfig};
use crate::export_stats::{Counted, ExportStats};
use crate::metrics::{Admitting, CountingSampler, InFlight, TracingMetrics};

/// The provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot build the OTLP exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
    #[error("header {0:?} cannot be sent as gRPC metadata")]
    Metadata(String),
    #[error(
        "the trace collector at {endpoint} does not answer and ORCHEO_TRACING_REQUIRED is true"
    )]
    CollectorUnreachable { endpoint: String },
    #[error("cannot create the instrumentation's metrics: {0}")]
    Metrics(String),
    #[error("cannot start the runtime the gRPC exporter needs: {0}")]
    Runtime(String),
}

/// The running provider. Dropping it flushes what is queued and shuts the exporter down.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporter: Exporter,
    stats: Arc<ExportStats>,
    /// `None` only for a provider made elsewhere ([`Telemetry::from_provider`]).
    metrics: Option<TracingMetrics>,
    /// tonic needs a runtime to connect and export; one small one of our own, so the executor's
    /// own runtime (if it has one) never carries our export work.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Telemetry {
    /// Builds the provider the configuration asks for. `Exporter::None` still creates real
    /// trace ids (executions always get one) and records nothing.
    pub fn init(config: &TracingConfig) -> Result<Self, InitError> {
        let metrics = TracingMetrics::new().map_err(|e| InitError::Metrics(e.to_string()))?;
        if config.disabled {
            // `OTEL_SDK_DISABLED=true`: nothing is recorded or exported; runs still get trace ids.
            return Ok(Self {
                provider: SdkTracerProvider::builder()
                    .with_sampler(Sampler::AlwaysOff)
                    .build(),
                exporter: Exporter::None,
                stats: Arc::default(),
                metrics: Some(metrics),
                runtime: None,
            });
        }
        if config.exporter == Exporter::Otlp {
            let up = probe(&config.endpoint, PROBE_TIMEOUT);
            metrics.collector_up.set(i64::from(up));
            if !up {
                if config.required {
                    return Err(InitError::CollectorUnreachable {
                        endpoint: config.endpoint.clone(),
                    });
                }
                tracing::warn!(
                    collector.endpoint = config.endpoint.as_str(),
                    "the trace collector did not answer; spans are dropped (and counted) until it \
                     does; ORCHEO_TRACING_REQUIRED=true refuses to start instead"
                );
            }
        }
        let builder = SdkTracerProvider::builder()
            .with_resource(
                // `builder_empty`: the environment is read by `TracingConfig`, not a second time here.
                Resource::builder_empty()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .with_sampler(CountingSampler::new(
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))),
                metrics.clone(),
            ));
        let stats = Arc::new(ExportStats::default());
        let (builder, runtime) = match config.exporter {
            Exporter::None => (builder, None),
            Exporter::Console => (
                builder.with_simple_exporter(
                    Counted::new(
                        opentelemetry_stdout::SpanExporter::default(),
                        Arc::clone(&stats),
                    )
                    .with_metrics(metrics.clone(), InFlight::new(usize::MAX)),
                ),
                None,
            ),
            Exporter::Otlp => {
                let (exporter, runtime) = otlp_exporter(config)?;
                let in_flight = InFlight::new(QUEUE_SIZE);
                let exporter = Counted::new(exporter, Arc::clone(&stats))
                    .with_metrics(metrics.clone(), Arc::clone(&in_flight));
                let processor = Admitting::new(batch(exporter), in_flight, metrics.clone());
                (builder.with_span_processor(processor), runtime)
            }
        };
        Ok(Self {
            provider: builder.build(),
            exporter: config.exporter,
            stats,
            metrics: Some(metrics),
            runtime,
        })
    }

    /// Builds on a provider made elsewhere (tests give one with an in-memory exporter).
    pub fn from_provider(provider: SdkTracerProvider) -> Self {
        Self {
            provider,
            exporter: Exporter::None,
            stats: Arc::default(),
            metrics: None,
            runtime: None,
        }
    }

    /// The configured exporter.
    pub fn exporter(&self) -> Exporter {
        self.exporter
    }

    /// The instrumentation's metrics, to register in the executor's registry
    /// ([`TracingMetrics::register`]); `None` for a provider made elsewhere.
    pub fn metrics(&self) -> Option<&TracingMetrics> {
        self.metrics.as_ref()
    }

    /// What the exporter has done so far (shared: it keeps counting).
    pub fn export_stats(&self) -> Arc<ExportStats> {
        Arc::clone(&self.stats)
    }

    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Exports what is queued now. Blocks (up to the export timeout): call it off async workers.
    pub fn flush(&self) -> Result<(), String> {
        self.provider.force_flush().map_err(|e| e.to_string())
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // A failed export at shutdown is already reported by the SDK's own diagnostics; the
        // process is ending and there is nobody left to tell.
        let _ = self.provider.shutdown();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Spans waiting for export; past it, spans are dropped (and counted).
const QUEUE_SIZE: usize = 8192;
/// How long the start-up probe waits for the collector.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether something accepts TCP connections at the endpoint's host and port.
fn probe(endpoint: &str, timeout: Duration) -> bool {
    use std::net::ToSocketAddrs as _;
    let (rest, default_port) = if let Some(rest) = endpoint.strip_prefix("https://") {
        (rest, 443)
    } else {
        (endpoint.strip_prefix("http://").unwrap_or(endpoint), 80)
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let target = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    target.to_socket_addrs().is_ok_and(|addrs| {
        addrs
            .into_iter()
            .any(|addr| std::net::TcpStream::connect_timeout(&addr, timeout).is_ok())
    })
}

fn batch(exporter: Counted<opentelemetry_otlp::SpanExporter>) -> BatchSpanProcessor {
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(QUEUE_SIZE)
        .with_scheduled_delay(Duration::from_millis(500))
        .with_max_export_batch_size(512)
        .build();
    BatchSpanProcessor::builder(exporter)
        .with_batch_config(config)
        .build()
}

fn otlp_exporter(
    config: &TracingConfig,
) -> Result<
    (
        opentelemetry_otlp::SpanExporter,
        Option<tokio::runtime::Runtime>,
    ),
    InitError,
> {
    // reqwest and tonic are built without a default crypto provider; ring is installed once per
    // process (an error only means another part of the process installed one first).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let failed = |e: &dyn std::fmt::Display| InitError::Exporter {
        endpoint: config.endpoint.clone(),
        message: e.to_string(),
    };
    match config.protocol {
        Protocol::HttpProtobuf => {
            let headers: HashMap<String, String> = config
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.expose_secret().clone()))
                .collect();
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(config.endpoint.clone())
                .with_headers(headers)
                .with_timeout(config.export_timeout)
                .build()
                .map_err(|e| failed(&e))?;
            Ok((exporter, None))
        }
        Protocol::Grpc => {
            use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
            let mut metadata = MetadataMap::new();
            for (name, value) in &config.headers {
                let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| InitError::Metadata(name.clone()))?;
                let value = MetadataValue::try_from(value.expose_secret().as_str())
                    .map_err(|_| InitError::Metadata(name.clone()))?;
                metadata.insert(key, value);
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("orcheo-tracing-export")
                .enable_all()
                .build()
                .map_err(|e| InitError::Runtime(e.to_string()))?;
            let inside = runtime.enter();
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(config.endpoint.clone())
                .with_metadata(metadata)
                .with_timeout(config.export_timeout);
            if config.endpoint.starts_with("https://") {
                builder = builder.with_tls_config(
                    opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new()
                        .with_webpki_roots(),
                );
            }
            let exporter = builder.build().map_err(|e| failed(&e))?;
            drop(inside);
            Ok((exporter, Some(runtime)))
        }
    }
}
