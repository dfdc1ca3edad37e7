//! The `embedded` trace source: traces read from this server's own local span store, where
//! the OTLP receiver keeps what executors send.
//!
//! Each stored payload is an OTLP protobuf `TracesData` holding one span with its resource and
//! scope (see the ingest crate's `split`); a trace's payloads laid end to end are one valid
//! `TracesData`, so decoding the trace is one call to the OTLP decoder.

use orcheo_collector_client::{BoxFuture, FetchError, FetchRequest, FetchedTrace, TraceSource};
use orcheo_span_tree::Format;
use orcheo_trace_store::Store;

/// Most spans read for one trace (the local store's per-trace bound is lower by default).
pub const MAX_SPANS_PER_TRACE: u64 = 100_000;
/// The embedded source's name, as [`TraceSource::name`] gives it.
pub const NAME: &str = "embedded";
/// Most bytes of stored payloads read for one trace; past it the answer is marked partial.
pub const MAX_BYTES_PER_TRACE: usize = 256 * 1024 * 1024;

/// Reads the local span store.
#[derive(Debug, Clone)]
pub struct EmbeddedSource {
    store: Store,
}

impl EmbeddedSource {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl TraceSource for EmbeddedSource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch<'a>(
        &'a self,
        request: &'a FetchRequest,
    ) -> BoxFuture<'a, Result<FetchedTrace, FetchError>> {
        let store = self.store.clone();
        let trace_id = request.trace_id;
        Box::pin(async move {
            let task = tokio::task::spawn_blocking(move || -> Result<FetchedTrace, FetchError> {
                let read = store
                    .local_span_payloads(trace_id, MAX_SPANS_PER_TRACE, MAX_BYTES_PER_TRACE)
                    .map_err(|e| unavailable(&e.to_string()))?;
                if read.count == 0 && !read.cut {
                    return Err(FetchError::NotFound);
                }
                let bytes = read.bytes;
                let decoded = if bytes.is_empty() {
                    orcheo_span_tree::Decoded {
                        format: Format::OtlpProto,
                        spans: Vec::new(),
                        partial: false,
                        message: None,
                        anomalies: Vec::new(),
                    }
                } else {
                    orcheo_span_tree::decode(&bytes, Format::OtlpProto).map_err(|e| {
                        FetchError::BadResponse {
                            detail: format!("stored spans of trace {trace_id} do not decode: {e}"),
                        }
                    })?
                };
                let mut anomalies = decoded.anomalies;
                if read.cut {
                    anomalies.push(orcheo_trace_model::Anomaly::new(
                        orcheo_trace_model::AnomalyKind::Partial,
                        None,
                        format!(
                            "the trace is larger than {MAX_BYTES_PER_TRACE} bytes; its first {} spans are shown",
                            read.count
                        ),
                    ));
                }
                Ok(FetchedTrace {
                    spans: decoded.spans,
                    partial: decoded.partial || read.cut,
                    anomalies,
                })
            });
            task.await
                .map_err(|e| unavailable(&format!("reader task failed: {e}")))?
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        let store = self.store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.ping())
                .await
                .map_err(|e| unavailable(&e.to_string()))?
                .map_err(|e| unavailable(&e.to_string()))
        })
    }
}

fn unavailable(detail: &str) -> FetchError {
    FetchError::Unavailable {
        reason: orcheo_collector_client::UnavailableReason::Connect,
        retry_after: None,
        detail: format!("the local span store is unavailable: {detail}"),
    }
}
