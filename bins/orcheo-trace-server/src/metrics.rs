//! The server's Prometheus registry: its own HTTP metrics, the collector client's fetch metrics,
//! the OTLP receiver's and the instrumentation's of its own spans, all under the names of
//! docs/operations.md ("Metrics"), exposed at `/metrics`.

use orcheo_collector_client::FetchMetrics;
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Every metric the server exposes; cloning shares them.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    pub registry: Registry,
    /// `orcheo_http_requests_total{method,route,status}`
    pub http_requests: IntCounterVec,
    /// `orcheo_http_request_duration_seconds{method,route}`
    pub http_duration: HistogramVec,
    /// The collector client's (`orcheo_trace_fetch_*`, `orcheo_trace_backend_*`).
    pub fetch: FetchMetrics,
    /// `orcheo_trace_cache_bytes`, read from the cache at each scrape.
    pub trace_cache_bytes: IntGauge,
}

impl ServerMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "orcheo_http_requests_total",
                "HTTP requests answered, by route and status.",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "orcheo_http_request_duration_seconds",
                "Time to answer an HTTP request, by route.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["method", "route"],
        )?;
        let trace_cache_bytes = IntGauge::new(
            "orcheo_trace_cache_bytes",
            "Estimated bytes of the finished traces and rendered answers kept in memory.",
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(trace_cache_bytes.clone()))?;
        let fetch = FetchMetrics::register(&registry)?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            fetch,
            trace_cache_bytes,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}
