//! Jaeger v1 query JSON (`/api/traces/{id}`): the `{"data": [trace]}` envelope or a bare trace
//! object. Times are microseconds; ids are hex, possibly without leading zeros; tags are typed
//! by a `type` field whose value may disagree with the JSON type (old `"value": "true"`).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use orcheo_trace_model::semconv;
use orcheo_trace_model::{
    Anomaly, AnomalyKind, AttributeValue, KeyValue, LinkKind, RawSpan, RawStatus, Resource,
    SmolStr, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, Timestamp, TraceId,
};
use serde::Deserialize;
use serde_json::Value;

use super::wire::{self, U64};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Trace {
    pub(crate) spans: Option<Vec<Span>>,
    pub(crate) processes: Option<HashMap<String, Process>>,
    pub(crate) warnings: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_field_names, reason = "the names are Jaeger's")]
pub(crate) struct Span {
    #[serde(rename = "traceID")]
    trace_id: Option<String>,
    #[serde(rename = "spanID")]
    span_id: Option<String>,
    #[serde(rename = "parentSpanID")]
    parent_span_id: Option<String>,
    operation_name: Option<String>,
    references: Option<Vec<Reference>>,
    start_time: Option<U64>,
    duration: Option<U64>,
    tags: Option<Vec<Tag>>,
    logs: Option<Vec<Log>>,
    #[serde(rename = "processID")]
    process_id: Option<String>,
    process: Option<Process>,
    warnings: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    ref_type: Option<String>,
    #[serde(rename = "traceID")]
    trace_id: Option<String>,
    #[serde(rename = "spanID")]
    span_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Tag {
    key: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    value: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Log {
    timestamp: Option<U64>,
    fields: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Process {
    service_name: Option<String>,
    tags: Option<Vec<Tag>>,
}

/// Converts Jaeger traces into spans, reporting (not failing on) unreadable spans.
pub(crate) fn convert(traces: Vec<Trace>, out: &mut Vec<RawSpan>, anomalies: &mut Vec<Anomaly>) {
    let mut sink = super::SpanSink::new(out, anomalies);
    for trace in traces {
        for warning in trace.warnings.into_iter().flatten() {
            sink.report(Anomaly::new(AnomalyKind::SourceWarning, None, warning));
        }
        let processes: HashMap<String, Arc<Resource>> = trace
            .processes
            .into_iter()
            .flatten()
            .map(|(id, p)| (id, Arc::new(process_resource(p))))
            .collect();
        let empty = Arc::new(Resource::default());
        for span in trace.spans.into_iter().flatten() {
            // A span's own `process` wins over the shared `processes` table.
            let resource = match (&span.process, span.process_id.as_ref()) {
                (None, Some(id)) => processes.get(id).cloned(),
                _ => None,
            };
            sink.push(convert_span(
                span,
                resource.unwrap_or_else(|| Arc::clone(&empty)),
            ));
        }
    }
}

fn process_resource(process: Process) -> Resource {
    let mut attributes = Vec::new();
    if let Some(name) = process.service_name {
        attributes.push(KeyValue::new(semconv::SERVICE_NAME, name));
    }
    attributes.extend(process.tags.into_iter().flatten().map(tag));
    Resource { attributes }
}

fn convert_span(span: Span, resource: Arc<Resource>) -> Result<RawSpan, String> {
    let trace_id = TraceId::from_hex(span.trace_id.as_deref().unwrap_or(""))
        .map_err(|e| format!("traceID: {e}"))?;
    let span_id = SpanId::from_hex(span.span_id.as_deref().unwrap_or(""))
        .map_err(|e| format!("spanID: {e}"))?;
    let resource = match span.process {
        Some(p) => Arc::new(process_resource(p)),
        None => resource,
    };
    let mut links = Vec::new();
    for reference in span.references.into_iter().flatten() {
        let kind = match reference.ref_type.as_deref() {
            Some(t) if t.eq_ignore_ascii_case("FOLLOWS_FROM") => LinkKind::FollowsFrom,
            _ => LinkKind::ChildOf,
        };
        let ids = (
            TraceId::from_hex(reference.trace_id.as_deref().unwrap_or("")),
            SpanId::from_hex(reference.span_id.as_deref().unwrap_or("")),
        );
        if let (Ok(trace_id), Ok(span_id)) = ids {
            links.push(SpanLink {
                trace_id,
                span_id,
                kind,
                attributes: Vec::new(),
            });
        }
    }
    // The deprecated top-level parentSpanID, when present and not already a reference.
    if let Some(parent) = span
        .parent_span_id
        .as_deref()
        .and_then(|p| SpanId::from_hex(p).ok())
        && !links.iter().any(|l| l.span_id == parent)
    {
        links.push(SpanLink {
            trace_id,
            span_id: parent,
            kind: LinkKind::ChildOf,
            attributes: Vec::new(),
        });
    }
    let attributes: Vec<KeyValue> = span.tags.into_iter().flatten().map(tag).collect();
    let start = span.start_time.unwrap_or_default().0;
    let duration = span.duration.unwrap_or_default().0;
    Ok(RawSpan {
        trace_id,
        span_id,
        parent_span_id: None,
        name: span.operation_name.map(SmolStr::from).unwrap_or_default(),
        kind: attributes
            .iter()
            .find(|kv| kv.key == semconv::JAEGER_SPAN_KIND)
            .and_then(|kv| kv.value.as_str())
            .map_or(SpanKind::Unspecified, SpanKind::from_name),
        start_time: Timestamp::from_unix_micros(start),
        end_time: Some(Timestamp::from_unix_micros(start.saturating_add(duration))),
        status: status(&attributes),
        events: span.logs.into_iter().flatten().map(log_event).collect(),
        attributes,
        links,
        resource,
        scope: None,
        warnings: span.warnings.unwrap_or_default(),
    })
}

/// Span status from the tags Jaeger keeps it in.
fn status(tags: &[KeyValue]) -> RawStatus {
    let find = |key: &str| tags.iter().find(|kv| kv.key == key).map(|kv| &kv.value);
    let message = find(semconv::OTEL_STATUS_DESCRIPTION)
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    if let Some(code) = find(semconv::OTEL_STATUS_CODE).and_then(AttributeValue::as_str) {
        return RawStatus {
            code: StatusCode::from_name(code),
            message,
        };
    }
    if find(semconv::JAEGER_ERROR).and_then(AttributeValue::as_bool) == Some(true) {
        return RawStatus {
            code: StatusCode::Error,
            message,
        };
    }
    RawStatus {
        code: StatusCode::Unset,
        message,
    }
}

fn log_event(log: Log) -> SpanEvent {
    let mut attributes: Vec<KeyValue> = log.fields.into_iter().flatten().map(tag).collect();
    let name = attributes
        .iter()
        .position(|kv| kv.key == semconv::JAEGER_LOG_EVENT)
        .and_then(|i| match attributes[i].value.as_str() {
            Some(_) => match attributes.remove(i).value {
                AttributeValue::String(s) => Some(s),
                _ => None,
            },
            None => None,
        })
        .unwrap_or_else(|| SmolStr::new_static("log"));
    SpanEvent {
        name,
        time: log.timestamp.map(|t| Timestamp::from_unix_micros(t.0)),
        attributes,
    }
}

/// A tag's value by its declared type, falling back to the JSON type when they disagree.
fn tag(tag: Tag) -> KeyValue {
    let key = tag.key.unwrap_or_default();
    let value = tag.value.unwrap_or(Value::Null);
    let declared = tag.kind.as_deref().map(str::to_ascii_lowercase);
    let typed = match (declared.as_deref(), &value) {
        (Some("bool"), Value::String(s)) => AttributeValue::from(s.as_str())
            .as_bool()
            .map(AttributeValue::Bool),
        (Some("int64"), Value::String(s)) => s.trim().parse().ok().map(AttributeValue::Int),
        (Some("float64"), Value::String(s)) => s.trim().parse().ok().map(AttributeValue::Double),
        (Some("binary"), Value::String(s)) => {
            wire::BASE64.decode(s).ok().map(AttributeValue::Bytes)
        }
        (Some("string"), Value::String(_)) | (_, _) => None,
    };
    KeyValue {
        key: semconv::key(&key),
        value: typed.unwrap_or_else(|| json_value(value)),
    }
}

fn json_value(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Empty,
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => n
            .as_i64()
            .map(AttributeValue::Int)
            .or_else(|| n.as_f64().map(AttributeValue::Double))
            .unwrap_or(AttributeValue::Empty),
        Value::String(s) => AttributeValue::String(SmolStr::from(s)),
        Value::Array(items) => AttributeValue::Array(items.into_iter().map(json_value).collect()),
        Value::Object(map) => AttributeValue::Map(
            map.into_iter()
                .map(|(k, v)| KeyValue {
                    key: semconv::key(&k),
                    value: json_value(v),
                })
                .collect(),
        ),
    }
}
