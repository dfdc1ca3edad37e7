//! The searchable text of received spans: each span read as the span tree shows it, redacted
//! as the API serves it, then cut into the store's search rows ([`orcheo_trace_store::span_texts`]).
//! Read on the receivers' threads; written by the writer in the round's transaction, after the
//! executions the spans belong to are registered.

use std::collections::HashMap;

use orcheo_span_tree::filter::{self, ContentPolicy};
use orcheo_span_tree::redact::Redactor;
use orcheo_span_tree::{Format, decode_and_normalize};
use orcheo_trace_model::{ExecutionId, SpanId, TraceId};
use orcheo_trace_store::{SpanText, StoreError, Transaction};

/// The searchable texts of an export's spans, by trace and span id.
pub type Texts = HashMap<(TraceId, SpanId), Vec<SpanText>>;

/// The searchable texts of the spans in `payloads` (each an encoded `TracesData`; several laid
/// end to end are one), redacted with `redactor`.
pub fn texts_of_payload(payload: &[u8], redactor: Option<&Redactor>, into: &mut Texts) {
    let mut tree = decode_and_normalize(payload, Format::OtlpProto);
    if redactor.is_some() {
        filter::apply(
            &mut tree,
            &ContentPolicy {
                redactor,
                ..ContentPolicy::default()
            },
        );
    }
    for node in tree.nodes.iter().filter(|n| !n.synthetic) {
        let texts = orcheo_trace_store::span_texts(node);
        if !texts.is_empty() {
            into.insert((node.trace_id, node.span_id), texts);
        }
    }
}

/// The searchable texts of an export's split spans.
pub fn texts_of_split(split: &crate::split::Split, redactor: Option<&Redactor>) -> Texts {
    let mut texts = Texts::new();
    for span in &split.spans {
        texts_of_payload(&span.payload, redactor, &mut texts);
    }
    texts
}

/// Writes texts of spans by execution. Search rows are derived data: a run that cannot take
/// them (no longer stored, a bad value) is logged and skipped, the others are written.
pub fn write(
    store: &mut Transaction<'_>,
    texts: Vec<(ExecutionId, Vec<SpanText>)>,
) -> Result<(), StoreError> {
    let mut by_execution: HashMap<ExecutionId, Vec<SpanText>> = HashMap::new();
    for (execution, these) in texts {
        by_execution.entry(execution).or_default().extend(these);
    }
    for (execution, these) in by_execution {
        match store.index_span_texts(&execution, &these) {
            Ok(_) => {}
            Err(e @ (StoreError::UnknownExecution(_) | StoreError::Invalid { .. })) => {
                tracing::warn!(execution.id = %execution, error = %e, "span texts not indexed for search");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
