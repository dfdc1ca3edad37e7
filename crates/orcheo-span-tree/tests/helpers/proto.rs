//! `RawSpan`s → OTLP protobuf types, to make protobuf payloads for tests and benchmarks.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue as PKeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use orcheo_trace_model::{AttributeValue, KeyValue, RawSpan, SpanKind, StatusCode, Timestamp};

/// One resource block per span (simple, and exercises resource handling).
pub fn resource_spans(spans: &[RawSpan]) -> Vec<ResourceSpans> {
    spans
        .iter()
        .map(|s| ResourceSpans {
            resource: Some(Resource {
                attributes: kvs(&s.resource.attributes),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: s.scope.as_ref().map(|sc| InstrumentationScope {
                    name: sc.name.clone(),
                    version: sc.version.clone().unwrap_or_default(),
                    ..Default::default()
                }),
                spans: vec![span(s)],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .collect()
}

fn span(s: &RawSpan) -> Span {
    Span {
        trace_id: s.trace_id.to_bytes().to_vec(),
        span_id: s.span_id.to_bytes().to_vec(),
        parent_span_id: s
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        name: s.name.to_string(),
        kind: match s.kind {
            SpanKind::Unspecified => 0,
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        },
        start_time_unix_nano: s.start_time.unix_nanos(),
        end_time_unix_nano: s.end_time.map_or(0, Timestamp::unix_nanos),
        attributes: kvs(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time.map_or(0, Timestamp::unix_nanos),
                name: e.name.to_string(),
                attributes: kvs(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        status: Some(Status {
            message: s.status.message.clone().unwrap_or_default(),
            code: match s.status.code {
                StatusCode::Unset => 0,
                StatusCode::Ok => 1,
                StatusCode::Error => 2,
            },
        }),
        ..Default::default()
    }
}

pub fn kvs(list: &[KeyValue]) -> Vec<PKeyValue> {
    list.iter()
        .map(|kv| PKeyValue {
            key: kv.key.to_string(),
            value: Some(any(&kv.value)),
            ..Default::default()
        })
        .collect()
}

fn any(v: &AttributeValue) -> AnyValue {
    use any_value::Value;
    AnyValue {
        value: match v {
            AttributeValue::Empty => None,
            AttributeValue::String(s) => Some(Value::StringValue(s.to_string())),
            AttributeValue::Bool(b) => Some(Value::BoolValue(*b)),
            AttributeValue::Int(i) => Some(Value::IntValue(*i)),
            AttributeValue::Double(d) => Some(Value::DoubleValue(*d)),
            AttributeValue::Bytes(b) => Some(Value::BytesValue(b.clone())),
            AttributeValue::Array(items) => Some(Value::ArrayValue(ArrayValue {
                values: items.iter().map(any).collect(),
            })),
            AttributeValue::Map(m) => Some(Value::KvlistValue(KeyValueList { values: kvs(m) })),
        },
    }
}
