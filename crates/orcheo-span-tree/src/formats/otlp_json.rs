//! The OTLP JSON family: OTLP/JSON itself (hex ids, integer enums), Tempo's JSON (base64 ids,
//! enum names, v1 `batches` and v2 `trace` envelopes, legacy `instrumentationLibrarySpans`) and
//! Jaeger v3's `{"result": …}`. One set of lenient wire types reads them all.

use std::sync::Arc;

use base64::Engine as _;
use orcheo_trace_model::{
    Anomaly, AnomalyKind, AttributeValue, KeyValue, LinkKind, RawSpan, RawStatus, Resource, Scope,
    SpanEvent, SpanKind, SpanLink, StatusCode, Timestamp,
};
use serde::Deserialize;

use super::wire::{self, EnumRepr, F64, I64, U64};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceSpans {
    resource: Option<WireResource>,
    #[serde(alias = "scope_spans")]
    scope_spans: Option<Vec<ScopeSpans>>,
    #[serde(alias = "instrumentation_library_spans")]
    instrumentation_library_spans: Option<Vec<ScopeSpans>>,
}

#[derive(Debug, Deserialize)]
struct WireResource {
    attributes: Option<Vec<WireKeyValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans {
    scope: Option<WireScope>,
    #[serde(alias = "instrumentation_library")]
    instrumentation_library: Option<WireScope>,
    spans: Option<Vec<WireSpan>>,
}

#[derive(Debug, Deserialize)]
struct WireScope {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSpan {
    #[serde(alias = "trace_id")]
    trace_id: Option<String>,
    #[serde(alias = "span_id")]
    span_id: Option<String>,
    #[serde(alias = "parent_span_id")]
    parent_span_id: Option<String>,
    name: Option<String>,
    kind: Option<EnumRepr>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<U64>,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: Option<U64>,
    attributes: Option<Vec<WireKeyValue>>,
    events: Option<Vec<WireEvent>>,
    links: Option<Vec<WireLink>>,
    status: Option<WireStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<U64>,
    name: Option<String>,
    attributes: Option<Vec<WireKeyValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireLink {
    #[serde(alias = "trace_id")]
    trace_id: Option<String>,
    #[serde(alias = "span_id")]
    span_id: Option<String>,
    attributes: Option<Vec<WireKeyValue>>,
}

#[derive(Debug, Deserialize)]
struct WireStatus {
    code: Option<EnumRepr>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireKeyValue {
    key: Option<String>,
    value: Option<WireAnyValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_field_names, reason = "the names are OTLP's")]
struct WireAnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value")]
    int_value: Option<I64>,
    #[serde(alias = "double_value")]
    double_value: Option<F64>,
    #[serde(alias = "array_value")]
    array_value: Option<WireValues<WireAnyValue>>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<WireValues<WireKeyValue>>,
    #[serde(alias = "bytes_value")]
    bytes_value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireValues<T> {
    values: Option<Vec<T>>,
}

/// Converts decoded resource blocks into spans, reporting (not failing on) unreadable spans.
pub(crate) fn convert(
    blocks: Vec<ResourceSpans>,
    out: &mut Vec<RawSpan>,
    anomalies: &mut Vec<Anomaly>,
) {
    for block in blocks {
        let resource = Arc::new(Resource {
            attributes: block
                .resource
                .and_then(|r| r.attributes)
                .map(key_values)
                .unwrap_or_default(),
        });
        let scopes = block
            .scope_spans
            .into_iter()
            .flatten()
            .chain(block.instrumentation_library_spans.into_iter().flatten());
        for scope_spans in scopes {
            let scope = scope_spans
                .scope
                .or(scope_spans.instrumentation_library)
                .map(|s| {
                    Arc::new(Scope {
                        name: s.name.unwrap_or_default(),
                        version: s.version,
                    })
                });
            for span in scope_spans.spans.into_iter().flatten() {
                match convert_span(span, &resource, scope.as_ref()) {
                    Ok(span) => out.push(span),
                    Err(detail) => anomalies.push(Anomaly::new(
                        AnomalyKind::InvalidSpan,
                        None,
                        format!("span #{}: {detail}", out.len() + anomalies.len()),
                    )),
                }
            }
        }
    }
}

fn convert_span(
    span: WireSpan,
    resource: &Arc<Resource>,
    scope: Option<&Arc<Scope>>,
) -> Result<RawSpan, String> {
    let trace_id = wire::trace_id(span.trace_id.as_deref().unwrap_or(""))
        .map_err(|e| format!("traceId: {e}"))?;
    let span_id =
        wire::span_id(span.span_id.as_deref().unwrap_or("")).map_err(|e| format!("spanId: {e}"))?;
    let parent_span_id = wire::parent_span_id(span.parent_span_id.as_deref())
        .map_err(|e| format!("parentSpanId: {e}"))?;
    let kind = match span.kind {
        None => SpanKind::Unspecified,
        Some(EnumRepr::Number(n)) => SpanKind::from_otlp(n),
        Some(EnumRepr::Name(name)) => SpanKind::from_name(&name),
    };
    let status = span.status.map_or_else(RawStatus::default, |s| RawStatus {
        code: match s.code {
            None => StatusCode::Unset,
            Some(EnumRepr::Number(n)) => StatusCode::from_otlp(n),
            Some(EnumRepr::Name(name)) => StatusCode::from_name(&name),
        },
        message: s.message.filter(|m| !m.is_empty()),
    });
    let mut links = Vec::new();
    for link in span.links.into_iter().flatten() {
        // A link with an unreadable id says nothing usable; the span itself is still fine.
        let (Ok(trace_id), Ok(span_id)) = (
            wire::trace_id(link.trace_id.as_deref().unwrap_or("")),
            wire::span_id(link.span_id.as_deref().unwrap_or("")),
        ) else {
            continue;
        };
        links.push(SpanLink {
            trace_id,
            span_id,
            kind: LinkKind::Link,
            attributes: link.attributes.map(key_values).unwrap_or_default(),
        });
    }
    Ok(RawSpan {
        trace_id,
        span_id,
        parent_span_id,
        name: span.name.unwrap_or_default(),
        kind,
        start_time: Timestamp::from_unix_nanos(span.start_time_unix_nano.unwrap_or_default().0),
        end_time: span
            .end_time_unix_nano
            .filter(|t| t.0 != 0)
            .map(|t| Timestamp::from_unix_nanos(t.0)),
        status,
        attributes: span.attributes.map(key_values).unwrap_or_default(),
        events: span
            .events
            .into_iter()
            .flatten()
            .map(|e| SpanEvent {
                name: e.name.unwrap_or_default(),
                time: e
                    .time_unix_nano
                    .filter(|t| t.0 != 0)
                    .map(|t| Timestamp::from_unix_nanos(t.0)),
                attributes: e.attributes.map(key_values).unwrap_or_default(),
            })
            .collect(),
        links,
        resource: Arc::clone(resource),
        scope: scope.cloned(),
        warnings: Vec::new(),
    })
}

fn key_values(list: Vec<WireKeyValue>) -> Vec<KeyValue> {
    list.into_iter()
        .map(|kv| KeyValue {
            key: kv.key.unwrap_or_default(),
            value: kv.value.map(any_value).unwrap_or_default(),
        })
        .collect()
}

fn any_value(v: WireAnyValue) -> AttributeValue {
    if let Some(s) = v.string_value {
        AttributeValue::String(s)
    } else if let Some(b) = v.bool_value {
        AttributeValue::Bool(b)
    } else if let Some(i) = v.int_value {
        AttributeValue::Int(i.0)
    } else if let Some(d) = v.double_value {
        AttributeValue::Double(d.0)
    } else if let Some(a) = v.array_value {
        AttributeValue::Array(a.values.into_iter().flatten().map(any_value).collect())
    } else if let Some(m) = v.kvlist_value {
        AttributeValue::Map(m.values.map(key_values).unwrap_or_default())
    } else if let Some(b) = v.bytes_value {
        // Undecodable base64 is kept as the text it was rather than lost.
        match wire::BASE64.decode(&b) {
            Ok(bytes) => AttributeValue::Bytes(bytes),
            Err(_) => AttributeValue::String(b),
        }
    } else {
        AttributeValue::Empty
    }
}
