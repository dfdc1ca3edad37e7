//! The generated `prost` types of OTLP → spans, for callers that already hold them.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use orcheo_trace_model::{
    Anomaly, AttributeValue, KeyValue, LinkKind, RawSpan, RawStatus, Resource, Scope, SmolStr,
    SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, Timestamp, TraceId, semconv,
};

/// Converts protobuf resource blocks into spans, reporting (not failing on) unreadable spans.
/// Public so an OTLP receiver can reuse it on `ExportTraceServiceRequest::resource_spans`.
pub fn convert(blocks: Vec<ResourceSpans>, out: &mut Vec<RawSpan>, anomalies: &mut Vec<Anomaly>) {
    let mut sink = crate::formats::SpanSink::new(out, anomalies);
    for block in blocks {
        let resource = Arc::new(Resource {
            attributes: block
                .resource
                .map(|r| from_proto_key_values(r.attributes))
                .unwrap_or_default(),
        });
        for scope_spans in block.scope_spans {
            let scope = scope_spans.scope.map(|s| {
                Arc::new(Scope {
                    name: s.name,
                    version: Some(s.version).filter(|v| !v.is_empty()),
                })
            });
            for span in scope_spans.spans {
                sink.push(convert_span(span, &resource, scope.as_ref()));
            }
        }
    }
}

fn convert_span(
    span: Span,
    resource: &Arc<Resource>,
    scope: Option<&Arc<Scope>>,
) -> Result<RawSpan, String> {
    let trace_id = TraceId::from_slice(&span.trace_id).map_err(|e| format!("trace_id: {e}"))?;
    let span_id = SpanId::from_slice(&span.span_id).map_err(|e| format!("span_id: {e}"))?;
    let parent_span_id = if span.parent_span_id.is_empty()
        || span.parent_span_id.iter().all(|b| *b == 0)
    {
        None
    } else {
        Some(SpanId::from_slice(&span.parent_span_id).map_err(|e| format!("parent_span_id: {e}"))?)
    };
    let status = span.status.map_or_else(RawStatus::default, |s| RawStatus {
        code: StatusCode::from_otlp(i64::from(s.code)),
        message: Some(s.message).filter(|m| !m.is_empty()),
    });
    let links = span
        .links
        .into_iter()
        .filter_map(|link| {
            Some(SpanLink {
                trace_id: TraceId::from_slice(&link.trace_id).ok()?,
                span_id: SpanId::from_slice(&link.span_id).ok()?,
                kind: LinkKind::Link,
                attributes: from_proto_key_values(link.attributes),
            })
        })
        .collect();
    Ok(RawSpan {
        trace_id,
        span_id,
        parent_span_id,
        name: SmolStr::from(span.name),
        kind: SpanKind::from_otlp(i64::from(span.kind)),
        start_time: Timestamp::from_unix_nanos(span.start_time_unix_nano),
        end_time: (span.end_time_unix_nano != 0)
            .then(|| Timestamp::from_unix_nanos(span.end_time_unix_nano)),
        status,
        attributes: from_proto_key_values(span.attributes),
        events: span
            .events
            .into_iter()
            .map(|e| SpanEvent {
                name: semconv::key(&e.name),
                time: (e.time_unix_nano != 0).then(|| Timestamp::from_unix_nanos(e.time_unix_nano)),
                attributes: from_proto_key_values(e.attributes),
            })
            .collect(),
        links,
        resource: Arc::clone(resource),
        scope: scope.cloned(),
        warnings: Vec::new(),
    })
}

fn from_proto_key_values(list: Vec<ProtoKeyValue>) -> Vec<KeyValue> {
    list.into_iter()
        .map(|kv| KeyValue {
            key: semconv::key(&kv.key),
            value: kv.value.map(from_proto_any_value).unwrap_or_default(),
        })
        .collect()
}

fn from_proto_any_value(v: AnyValue) -> AttributeValue {
    match v.value {
        None => AttributeValue::Empty,
        Some(any_value::Value::StringValue(s)) => AttributeValue::String(SmolStr::from(s)),
        Some(any_value::Value::BoolValue(b)) => AttributeValue::Bool(b),
        Some(any_value::Value::IntValue(i)) => AttributeValue::Int(i),
        Some(any_value::Value::DoubleValue(d)) => AttributeValue::Double(d),
        Some(any_value::Value::BytesValue(b)) => AttributeValue::Bytes(b),
        Some(any_value::Value::ArrayValue(a)) => {
            AttributeValue::Array(a.values.into_iter().map(from_proto_any_value).collect())
        }
        Some(any_value::Value::KvlistValue(m)) => {
            AttributeValue::Map(from_proto_key_values(m.values))
        }
        // An index into a profiles string table, which traces do not carry: kept as stated.
        Some(any_value::Value::StringValueStrindex(i)) => {
            AttributeValue::Map(vec![KeyValue::new("string_value_strindex", i64::from(i))])
        }
    }
}
