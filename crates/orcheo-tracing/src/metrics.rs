//! The instrumentation's own metrics (`orcheo_tracing_*`, names dashboards rely on), in a
//! `prometheus::Registry` the executor exposes: spans started by kind, exported, failed to
//! export, dropped under overload, sampling decisions, and whether the collector answered at
//! start-up.
//!
//! Drops are counted exactly: the batch processor is only ever handed as many spans as its queue
//! holds (`Admitting`), so a span is either exported, failed, or dropped here — never lost
//! uncounted inside the SDK.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    SamplingDecision, SamplingResult, ShouldSample, Span, SpanData, SpanProcessor,
};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The counters; cloning shares them.
#[derive(Debug, Clone)]
pub struct TracingMetrics {
    /// `orcheo_tracing_spans_started_total{kind}`: `workflow`, or the node's kind.
    pub spans_started: IntCounterVec,
    /// `orcheo_tracing_spans_exported_total`
    pub spans_exported: IntCounter,
    /// `orcheo_tracing_export_failures_total`: spans whose export failed.
    pub export_failures: IntCounter,
    /// `orcheo_tracing_spans_dropped_total`: spans dropped because the export queue was full.
    pub spans_dropped: IntCounter,
    /// `orcheo_tracing_sampling_decisions_total{decision}`: `sampled`, `dropped`.
    pub sampling_decisions: IntCounterVec,
    /// `orcheo_tracing_collector_up`: 1 when the collector answered the start-up probe.
    pub collector_up: IntGauge,
}

impl TracingMetrics {
    /// The metrics, not registered anywhere yet.
    pub fn new() -> Result<Self, prometheus::Error> {
        Ok(Self {
            spans_started: IntCounterVec::new(
                Opts::new(
                    "orcheo_tracing_spans_started_total",
                    "Workflow and node spans started, by kind.",
                ),
                &["kind"],
            )?,
            spans_exported: IntCounter::new(
                "orcheo_tracing_spans_exported_total",
                "Spans the exporter delivered.",
            )?,
            export_failures: IntCounter::new(
                "orcheo_tracing_export_failures_total",
                "Spans whose export failed.",
            )?,
            spans_dropped: IntCounter::new(
                "orcheo_tracing_spans_dropped_total",
                "Spans dropped because the export queue was full.",
            )?,
            sampling_decisions: IntCounterVec::new(
                Opts::new(
                    "orcheo_tracing_sampling_decisions_total",
                    "Sampling decisions for new spans.",
                ),
                &["decision"],
            )?,
            collector_up: IntGauge::new(
                "orcheo_tracing_collector_up",
                "1 when the collector answered the start-up probe, 0 when it did not.",
            )?,
        })
    }

    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.spans_started.clone()))?;
        registry.register(Box::new(self.spans_exported.clone()))?;
        registry.register(Box::new(self.export_failures.clone()))?;
        registry.register(Box::new(self.spans_dropped.clone()))?;
        registry.register(Box::new(self.sampling_decisions.clone()))?;
        registry.register(Box::new(self.collector_up.clone()))?;
        Ok(())
    }
}

/// Counts each sampling decision of the sampler inside.
#[derive(Debug, Clone)]
pub(crate) struct CountingSampler<S> {
    inner: S,
    metrics: TracingMetrics,
}

impl<S> CountingSampler<S> {
    pub(crate) fn new(inner: S, metrics: TracingMetrics) -> Self {
        Self { inner, metrics }
    }
}

impl<S: ShouldSample + Clone + 'static> ShouldSample for CountingSampler<S> {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let result =
            self.inner
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        let decision = match result.decision {
            SamplingDecision::RecordAndSample => "sampled",
            SamplingDecision::RecordOnly | SamplingDecision::Drop => "dropped",
        };
        self.metrics
            .sampling_decisions
            .with_label_values(&[decision])
            .inc();
        result
    }
}

/// Spans handed to the batch processor and not yet through the exporter.
#[derive(Debug)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    max: usize,
}

impl InFlight {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            count: AtomicUsize::new(0),
            max,
        })
    }

    /// The exporter is done with `n` spans (delivered or not).
    pub(crate) fn done(&self, n: usize) {
        let _ = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_sub(n))
            });
    }
}

/// Hands ended spans to the processor inside only while its queue has room; the others are
/// dropped and counted.
#[derive(Debug)]
pub(crate) struct Admitting<P> {
    inner: P,
    in_flight: Arc<InFlight>,
    metrics: TracingMetrics,
}

impl<P> Admitting<P> {
    pub(crate) fn new(inner: P, in_flight: Arc<InFlight>, metrics: TracingMetrics) -> Self {
        Self {
            inner,
            in_flight,
            metrics,
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for Admitting<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let admitted = self
            .in_flight
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < self.in_flight.max).then_some(c + 1)
            })
            .is_ok();
        if admitted {
            self.inner.on_end(span);
        } else {
            self.metrics.spans_dropped.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    #[derive(Debug, Default, Clone)]
    struct Keeping(Arc<Mutex<Vec<String>>>);

    impl SpanProcessor for Keeping {
        fn on_start(&self, _: &mut Span, _: &Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span.name.to_string());
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn spans_past_the_queue_are_dropped_and_counted_until_the_exporter_frees_room() {
        let metrics = TracingMetrics::new().unwrap();
        let kept = Keeping::default();
        let in_flight = InFlight::new(2);
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Admitting::new(
                kept.clone(),
                Arc::clone(&in_flight),
                metrics.clone(),
            ))
            .build();
        let tracer = provider.tracer("test");
        for name in ["a", "b", "c"] {
            tracer.in_span(name, |_| {});
        }
        assert_eq!(*kept.0.lock().unwrap(), ["a", "b"]);
        assert_eq!(metrics.spans_dropped.get(), 1);
        in_flight.done(2);
        tracer.in_span("d", |_| {});
        assert_eq!(kept.0.lock().unwrap().len(), 3);
        assert_eq!(metrics.spans_dropped.get(), 1);
    }
}
