//! One module per trace store API.

mod http;
pub mod jaeger_grpc;
pub mod jaeger_http;
pub mod tempo;

use std::sync::Arc;

use crate::config::{BackendKind, ClientConfig, ConfigError};
use crate::metrics::FetchMetrics;
use crate::resilient::{Limits, ResilientSource};
use crate::{FetchedTrace, TraceSource};

/// The configured backend, wrapped in timeouts, retries, the circuit breaker and metrics.
pub fn connect(
    config: &ClientConfig,
    metrics: FetchMetrics,
) -> Result<Arc<dyn TraceSource>, ConfigError> {
    config.validate()?;
    let limits = Limits {
        attempt_timeout: config.attempt_timeout,
        overall_timeout: config.overall_timeout,
        retry: config.retry,
    };
    Ok(match config.backend {
        BackendKind::Tempo => Arc::new(ResilientSource::new(
            tempo::Tempo::new(config)?,
            limits,
            config.breaker,
            metrics,
        )),
        BackendKind::JaegerV1 | BackendKind::JaegerV3 => Arc::new(ResilientSource::new(
            jaeger_http::JaegerHttp::new(config)?,
            limits,
            config.breaker,
            metrics,
        )),
        BackendKind::JaegerGrpc => Arc::new(ResilientSource::new(
            jaeger_grpc::JaegerGrpc::new(config)?,
            limits,
            config.breaker,
            metrics,
        )),
    })
}

/// reqwest and tonic are built without a default crypto provider; ring is installed once per
/// process (an error only means another part of the process installed one first).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A decoded answer as a fetched trace; no spans at all means the store has no such trace.
fn found(decoded: orcheo_span_tree::Decoded) -> Result<FetchedTrace, crate::FetchError> {
    if decoded.spans.is_empty() && decoded.anomalies.is_empty() {
        return Err(crate::FetchError::NotFound);
    }
    Ok(FetchedTrace {
        spans: decoded.spans,
        partial: decoded.partial,
        anomalies: decoded.anomalies,
    })
}
