//! Received spans split for the local span store: one payload per span.
//!
//! Each payload is an OTLP protobuf `TracesData` holding one span with its resource and scope.
//! Protobuf appends repeated fields when messages are concatenated, so a trace's payloads laid
//! end to end are one valid `TracesData`: the trace service decodes a stored trace in one call.

use crate::otlp::any_value;
use crate::otlp::{ResourceSpans, ScopeSpans, TracesData};
use orcheo_trace_model::{ExecutionId, SpanId, Timestamp, TraceId, semconv};
use orcheo_trace_store::LocalSpan;
use prost::Message;

use crate::credentials::Writer;

/// Received spans split for the local store: one payload per span, each a `TracesData` with
/// the span's resource and scope. Spans whose ids cannot be read, or whose times the store
/// cannot hold, are counted, not kept.
#[derive(Debug, Default)]
pub struct Split {
    pub spans: Vec<LocalSpan>,
    /// A trace or span id that cannot be read.
    pub invalid: usize,
    /// A start or end time past what the store holds (signed 64-bit nanoseconds: year 2262).
    pub out_of_range: usize,
    /// Refused before any copy was made: one payload over `max_payload`, or the export's
    /// payloads together over `max_total`.
    pub too_large: usize,
}

/// Splits an export's spans into local-store rows, with the defaults of [`split_within`], as
/// a local sender's (each span's tenant is the one its attribute names).
pub fn split(data: TracesData) -> Split {
    split_within(data, &Writer::Local, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_TOTAL)
}

/// Largest payload of one span (its resource and scope included).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Largest sum of one export's payloads: each span carries its own copy of its resource, so a
/// large resource repeated over many spans is bounded here, not after it is copied.
pub const DEFAULT_MAX_TOTAL: usize = 64 * 1024 * 1024;

/// Splits an export's spans into local-store rows; sizes are checked before anything is copied.
/// Each row's tenant is the one `writer` claims for it.
pub fn split_within(
    data: TracesData,
    writer: &Writer,
    max_payload: usize,
    max_total: usize,
) -> Split {
    let mut out = Split::default();
    let mut total = 0usize;
    for resource_spans in data.resource_spans {
        let resource_len = resource_spans
            .resource
            .as_ref()
            .map_or(0, Message::encoded_len);
        for scope_spans in resource_spans.scope_spans {
            let scope_len = scope_spans.scope.as_ref().map_or(0, Message::encoded_len);
            for span in scope_spans.spans {
                // Framing adds a few bytes a level: 32 covers the three levels.
                let size = resource_len + scope_len + span.encoded_len() + 32;
                if size > max_payload || total + size > max_total {
                    out.too_large += 1;
                    continue;
                }
                total += size;
                let (Ok(trace_id), Ok(span_id)) = (
                    TraceId::from_slice(&span.trace_id),
                    SpanId::from_slice(&span.span_id),
                ) else {
                    out.invalid += 1;
                    continue;
                };
                // The store keeps times as signed 64-bit nanoseconds (until 2262).
                if i64::try_from(span.start_time_unix_nano).is_err()
                    || i64::try_from(span.end_time_unix_nano).is_err()
                {
                    out.out_of_range += 1;
                    continue;
                }
                let text = |key: &str| {
                    span.attributes.iter().find_map(|kv| {
                        if kv.key != key {
                            return None;
                        }
                        match kv.value.as_ref()?.value.as_ref()? {
                            any_value::Value::StringValue(s) if !s.is_empty() => Some(s.as_str()),
                            _ => None,
                        }
                    })
                };
                let execution_id =
                    text(semconv::EXECUTION_ID).and_then(|id| ExecutionId::new(id).ok());
                let tenant = writer
                    .claim(text(semconv::EXECUTION_TENANT))
                    .map(str::to_owned);
                let start_time = Timestamp::from_unix_nanos(span.start_time_unix_nano);
                let one = TracesData {
                    resource_spans: vec![ResourceSpans {
                        resource: resource_spans.resource.clone(),
                        schema_url: resource_spans.schema_url.clone(),
                        scope_spans: vec![ScopeSpans {
                            scope: scope_spans.scope.clone(),
                            schema_url: scope_spans.schema_url.clone(),
                            spans: vec![span],
                        }],
                    }],
                };
                out.spans.push(LocalSpan {
                    trace_id,
                    span_id,
                    execution_id,
                    tenant,
                    start_time,
                    payload: one.encode_to_vec(),
                });
            }
        }
    }
    out
}
