//! Fetch metrics (the names of docs/operations.md, "Metrics"), registered in a registry the
//! caller owns.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::breaker::CircuitState;

/// The collector client's metrics; cloning shares them.
#[derive(Debug, Clone)]
pub struct FetchMetrics {
    /// `orcheo_trace_fetch_duration_seconds{backend,outcome}`
    pub duration: HistogramVec,
    /// `orcheo_trace_search_duration_seconds{backend,outcome}`: searches by attribute;
    /// `outcome` is `ok`, `none` (no trace matched) or `error`.
    pub search_duration: HistogramVec,
    /// `orcheo_trace_fetch_failures_total{backend,reason}`
    pub failures: IntCounterVec,
    /// `orcheo_trace_backend_up{backend}`: 1 when the last call reached the store.
    pub up: IntGaugeVec,
    /// `orcheo_trace_backend_circuit_state{backend}`: 0 closed, 1 half-open, 2 open.
    pub circuit_state: IntGaugeVec,
}

impl FetchMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.search_duration.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.up.clone()))?;
        registry.register(Box::new(metrics.circuit_state.clone()))?;
        Ok(metrics)
    }

    /// The metrics without a registry (for tests and tools that do not export them).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(Self {
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "orcheo_trace_fetch_duration_seconds",
                    "Time to fetch one trace from the trace store, retries included.",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["backend", "outcome"],
            )?,
            search_duration: HistogramVec::new(
                HistogramOpts::new(
                    "orcheo_trace_search_duration_seconds",
                    "Time to search the trace store by attribute, retries included.",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["backend", "outcome"],
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "orcheo_trace_fetch_failures_total",
                    "Trace fetches that failed, by reason.",
                ),
                &["backend", "reason"],
            )?,
            up: IntGaugeVec::new(
                Opts::new(
                    "orcheo_trace_backend_up",
                    "1 when the last call reached the trace store, else 0.",
                ),
                &["backend"],
            )?,
            circuit_state: IntGaugeVec::new(
                Opts::new(
                    "orcheo_trace_backend_circuit_state",
                    "Circuit breaker state of the trace store: 0 closed, 1 half-open, 2 open.",
                ),
                &["backend"],
            )?,
        })
    }

    pub(crate) fn set_circuit(&self, backend: &str, state: CircuitState) {
        self.circuit_state
            .with_label_values(&[backend])
            .set(state as i64);
    }
}
