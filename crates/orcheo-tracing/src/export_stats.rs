//! What the exporter has done: spans exported, batches and spans that failed, the last failure.
//! The provider's exporter is wrapped once, so these numbers are the exporter's own outcome, not
//! an estimate; a process shows them as metrics and in its health checks ("configured but not
//! working").

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::metrics::{InFlight, TracingMetrics};

/// Counters of one exporter; shared between the exporter and whoever reports on it.
#[derive(Debug, Default)]
pub struct ExportStats {
    exported_spans: AtomicU64,
    failed_spans: AtomicU64,
    failed_batches: AtomicU64,
    /// Whether the last export succeeded (`true` before any).
    last_ok: AtomicBool,
    attempted: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl ExportStats {
    pub fn exported_spans(&self) -> u64 {
        self.exported_spans.load(Ordering::Relaxed)
    }

    pub fn failed_spans(&self) -> u64 {
        self.failed_spans.load(Ordering::Relaxed)
    }

    pub fn failed_batches(&self) -> u64 {
        self.failed_batches.load(Ordering::Relaxed)
    }

    /// Healthy: no export yet, or the last one succeeded.
    pub fn is_healthy(&self) -> bool {
        !self.attempted.load(Ordering::Relaxed) || self.last_ok.load(Ordering::Relaxed)
    }

    /// Why the last failed export failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, spans: usize, result: &OTelSdkResult) {
        self.attempted.store(true, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.exported_spans
                    .fetch_add(spans as u64, Ordering::Relaxed);
                self.last_ok.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed_spans.fetch_add(spans as u64, Ordering::Relaxed);
                self.failed_batches.fetch_add(1, Ordering::Relaxed);
                self.last_ok.store(false, Ordering::Relaxed);
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            }
        }
    }
}

/// An exporter that counts what the one inside does (and, when given, feeds the metrics and
/// frees the batch queue's room).
#[derive(Debug)]
pub(crate) struct Counted<E> {
    inner: E,
    stats: Arc<ExportStats>,
    metrics: Option<(TracingMetrics, Arc<InFlight>)>,
}

impl<E> Counted<E> {
    pub(crate) fn new(inner: E, stats: Arc<ExportStats>) -> Self {
        Self {
            inner,
            stats,
            metrics: None,
        }
    }

    pub(crate) fn with_metrics(
        mut self,
        metrics: TracingMetrics,
        in_flight: Arc<InFlight>,
    ) -> Self {
        self.metrics = Some((metrics, in_flight));
        self
    }
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let spans = batch.len();
        let stats = Arc::clone(&self.stats);
        let metrics = self.metrics.clone();
        let export = self.inner.export(batch);
        async move {
            let result = export.await;
            stats.record(spans, &result);
            if let Some((metrics, in_flight)) = metrics {
                let counter = if result.is_ok() {
                    &metrics.spans_exported
                } else {
                    &metrics.export_failures
                };
                counter.inc_by(spans as u64);
                in_flight.done(spans);
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::error::OTelSdkError;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;

    #[derive(Debug)]
    struct Refusing;

    impl SpanExporter for Refusing {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            Err(OTelSdkError::InternalFailure("collector refused".into()))
        }
    }

    fn export_two<E: SpanExporter + 'static>(exporter: E) -> Arc<ExportStats> {
        let stats = Arc::new(ExportStats::default());
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(Counted::new(exporter, Arc::clone(&stats)))
            .build();
        let tracer = provider.tracer("test");
        tracer.in_span("a", |_| {});
        tracer.in_span("b", |_| {});
        stats
    }

    #[test]
    fn successful_exports_are_counted() {
        let stats = export_two(InMemorySpanExporter::default());
        assert_eq!(stats.exported_spans(), 2);
        assert_eq!(stats.failed_spans(), 0);
        assert!(stats.is_healthy());
        assert_eq!(stats.last_error(), None);
    }

    #[test]
    fn failed_exports_are_counted_with_their_cause() {
        let stats = export_two(Refusing);
        assert_eq!(
            (
                stats.exported_spans(),
                stats.failed_spans(),
                stats.failed_batches()
            ),
            (0, 2, 2)
        );
        assert!(!stats.is_healthy());
        assert!(stats.last_error().unwrap().contains("collector refused"));
        assert!(
            ExportStats::default().is_healthy(),
            "nothing exported yet is not a failure"
        );
    }
}
