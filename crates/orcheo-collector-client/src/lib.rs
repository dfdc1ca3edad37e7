//! Reads a trace back by id from the trace store operators already run (Tempo, Jaeger), and
//! survives its outages.
//!
//! - [`TraceSource`]: what the server holds (`dyn TraceSource`), chosen by configuration;
//! - [`backends`]: Tempo HTTP, Jaeger v1 HTTP, Jaeger v3 HTTP and gRPC, each speaking the
//!   store's real protocol;
//! - [`ResilientSource`]: any source wrapped in timeouts, retries with backoff and jitter, a
//!   circuit breaker and the fetch metrics;
//! - [`search`]: finding traces by a span attribute (an execution id), for stores that can;
//! - [`FetchError`]: shaped for the server's answer (not found, unavailable with a retry hint,
//!   bad response, unauthorized).
//!
//! Invariants: decoding is `orcheo-span-tree`'s job, never redone here; no response is read into
//! memory past the configured size; nothing panics on what a store sends.
#![forbid(unsafe_code)]

pub mod backends;
pub mod breaker;
pub mod config;
pub mod error;
pub mod metrics;
mod resilient;
pub mod search;

use std::future::Future;
use std::pin::Pin;

use orcheo_trace_model::{Anomaly, RawSpan, Timestamp, TraceId};

pub use breaker::{BreakerConfig, CircuitBreaker, CircuitState};
pub use config::{BackendKind, ClientConfig, ConfigError, RetryConfig, TlsConfig};
pub use error::{FetchError, UnavailableReason};
pub use metrics::FetchMetrics;
pub use resilient::ResilientSource;

/// A boxed future, so that [`TraceSource`] can be used as `dyn TraceSource`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A time window that contains the trace: lets the store search less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// What to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRequest {
    pub trace_id: TraceId,
    pub window: Option<TimeWindow>,
}

/// A fetched trace, not yet normalized.
#[derive(Debug, Clone, Default)]
pub struct FetchedTrace {
    pub spans: Vec<RawSpan>,
    /// The store says the trace is incomplete (Tempo `PARTIAL`).
    pub partial: bool,
    /// Spans the decoder could not read, and the store's own warnings.
    pub anomalies: Vec<Anomaly>,
}

/// Traces holding a span whose attribute `key` equals `value`, within a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub key: String,
    pub value: String,
    pub window: TimeWindow,
    /// Most traces wanted.
    pub limit: usize,
}

/// Traces any of whose spans holds `words`, in order, case ignored, with only other characters
/// between them, in its name, status message or a few attributes (node id, error type and
/// code), within a time window: the free-text search of runs not yet indexed by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSearchRequest {
    /// Letters and digits only (the database search's words).
    pub words: Vec<String>,
    pub window: TimeWindow,
    /// Most traces wanted.
    pub limit: usize,
}

/// Somewhere traces can be read from by id.
pub trait TraceSource: Send + Sync {
    /// The backend's name (the `backend` metric label).
    fn name(&self) -> &'static str;

    /// Fetches one trace.
    fn fetch<'a>(
        &'a self,
        request: &'a FetchRequest,
    ) -> BoxFuture<'a, Result<FetchedTrace, FetchError>>;

    /// A cheap request that tells whether the store answers.
    fn probe(&self) -> BoxFuture<'_, Result<(), FetchError>>;

    /// Whether [`TraceSource::search`] works on this source.
    fn can_search(&self) -> bool {
        false
    }

    /// The ids of the traces matching `request`, the store's best first, without repeats; none
    /// is `Ok(vec![])`. The store's answer is a hint: its caller checks the traces themselves.
    fn search<'a>(
        &'a self,
        request: &'a SearchRequest,
    ) -> BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
        let _ = request;
        Box::pin(async {
            Err(FetchError::BadResponse {
                detail: "this trace store cannot search by attribute".to_owned(),
            })
        })
    }

    /// Whether [`TraceSource::search_text`] works on this source.
    fn can_search_text(&self) -> bool {
        false
    }

    /// The ids of the traces matching a free-text `request`, the store's best first, without
    /// repeats. A hint, as [`TraceSource::search`]'s.
    fn search_text<'a>(
        &'a self,
        request: &'a TextSearchRequest,
    ) -> BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
        let _ = request;
        Box::pin(async {
            Err(FetchError::BadResponse {
                detail: "this trace store cannot search text".to_owned(),
            })
        })
    }
}
