//! The OTLP JSON family: OTLP/JSON itself (hex ids, integer enums), Tempo's JSON (base64 ids,
//! enum names, v1 `batches` and v2 `trace` envelopes, legacy `instrumentationLibrarySpans`) and
//! Jaeger v3's `{"result": …}`. One set of lenient wire types reads them all.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use orcheo_trace_model::{
    Anomaly, AttributeValue, KeyValue, LinkKind, RawSpan, RawStatus, Resource, Scope, SmolStr,
    SpanEvent, SpanKind, SpanLink, StatusCode, Timestamp, semconv,
};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::SpanSink;
use super::wire::{self, EnumRepr, F64, FieldName, I64, U64};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceSpans<'a> {
    resource: Option<WireResource>,
    #[serde(alias = "scope_spans", borrow)]
    scope_spans: Option<Vec<ScopeSpans<'a>>>,
    #[serde(alias = "instrumentation_library_spans", borrow)]
    instrumentation_library_spans: Option<Vec<ScopeSpans<'a>>>,
}

#[derive(Debug, Deserialize)]
struct WireResource {
    attributes: Option<Vec<WireKeyValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans<'a> {
    scope: Option<WireScope>,
    #[serde(alias = "instrumentation_library")]
    instrumentation_library: Option<WireScope>,
    /// Each span's text, checked to be JSON and parsed later (on several threads for a large
    /// trace).
    #[serde(borrow)]
    spans: Option<Vec<&'a RawValue>>,
}

#[derive(Debug, Deserialize)]
struct WireScope {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSpan<'a> {
    // Ids are read straight off the payload (no escapes in hex or base64).
    #[serde(alias = "trace_id", borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(alias = "span_id", borrow)]
    span_id: Option<Cow<'a, str>>,
    #[serde(alias = "parent_span_id", borrow)]
    parent_span_id: Option<Cow<'a, str>>,
    name: Option<SmolStr>,
    kind: Option<EnumRepr>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<U64>,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: Option<U64>,
    attributes: Option<Vec<WireKeyValue>>,
    events: Option<Vec<WireEvent>>,
    #[serde(borrow)]
    links: Option<Vec<WireLink<'a>>>,
    status: Option<WireStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<U64>,
    name: Option<SmolStr>,
    attributes: Option<Vec<WireKeyValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireLink<'a> {
    #[serde(alias = "trace_id", borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(alias = "span_id", borrow)]
    span_id: Option<Cow<'a, str>>,
    attributes: Option<Vec<WireKeyValue>>,
}

#[derive(Debug, Deserialize)]
struct WireStatus {
    code: Option<EnumRepr>,
    message: Option<String>,
}

/// A key-value read straight into the model type: OTLP/JSON's `AnyValue` has one key set out of
/// seven, and an intermediate struct with seven optional fields per attribute would cost more
/// memory than the attribute itself.
#[derive(Debug)]
struct WireKeyValue(KeyValue);

impl<'de> Deserialize<'de> for WireKeyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireKeyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a {\"key\", \"value\"} object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireKeyValue, A::Error> {
                let mut kv = KeyValue {
                    key: SmolStr::default(),
                    value: AttributeValue::Empty,
                };
                while let Some(field) = map.next_key::<FieldName<'de>>()? {
                    match field.0.as_ref() {
                        "key" => {
                            kv.key = map
                                .next_value::<Option<FieldName<'de>>>()?
                                .map(|k| semconv::key(&k.0))
                                .unwrap_or_default();
                        }
                        "value" => {
                            kv.value = map
                                .next_value::<Option<WireAnyValue>>()?
                                .map(|v| v.0)
                                .unwrap_or_default();
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(WireKeyValue(kv))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// An `AnyValue` read straight into [`AttributeValue`].
#[derive(Debug)]
struct WireAnyValue(AttributeValue);

#[derive(Deserialize)]
struct WireValues<T> {
    values: Option<Vec<T>>,
}

impl<'de> Deserialize<'de> for WireAnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireAnyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnyValue object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<WireAnyValue, E> {
                Ok(WireAnyValue(AttributeValue::Empty))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireAnyValue, A::Error> {
                let mut value = AttributeValue::Empty;
                while let Some(field) = map.next_key::<FieldName<'de>>()? {
                    let read =
                        match field.0.as_ref() {
                            "stringValue" | "string_value" => map
                                .next_value::<Option<SmolStr>>()?
                                .map(AttributeValue::String),
                            "boolValue" | "bool_value" => {
                                map.next_value::<Option<bool>>()?.map(AttributeValue::Bool)
                            }
                            "intValue" | "int_value" => map
                                .next_value::<Option<I64>>()?
                                .map(|i| AttributeValue::Int(i.0)),
                            "doubleValue" | "double_value" => map
                                .next_value::<Option<F64>>()?
                                .map(|d| AttributeValue::Double(d.0)),
                            "arrayValue" | "array_value" => map
                                .next_value::<Option<WireValues<WireAnyValue>>>()?
                                .map(|a| {
                                    AttributeValue::Array(
                                        a.values.into_iter().flatten().map(|v| v.0).collect(),
                                    )
                                }),
                            "kvlistValue" | "kvlist_value" => map
                                .next_value::<Option<WireValues<WireKeyValue>>>()?
                                .map(|m| {
                                    AttributeValue::Map(
                                        m.values.into_iter().flatten().map(|kv| kv.0).collect(),
                                    )
                                }),
                            // Undecodable base64 is kept as the text it was rather than lost.
                            "bytesValue" | "bytes_value" => map
                                .next_value::<Option<String>>()?
                                .map(|b| match wire::BASE64.decode(&b) {
                                    Ok(bytes) => AttributeValue::Bytes(bytes),
                                    Err(_) => AttributeValue::String(SmolStr::from(b)),
                                }),
                            _ => {
                                map.next_value::<IgnoredAny>()?;
                                None
                            }
                        };
                    if let Some(read) = read {
                        value = read;
                    }
                }
                Ok(WireAnyValue(value))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A span's text that is JSON but not a span (a string where a number goes…): where in it, and
/// what.
#[derive(Debug)]
pub(crate) struct SpanError<'a> {
    /// The span's text, a slice of the payload.
    pub(crate) span: &'a str,
    pub(crate) error: serde_json::Error,
}

/// Converts decoded resource blocks into spans, reporting (not failing on) spans with unusable
/// ids; a span that does not parse is an error, the first one in the payload's order.
pub(crate) fn convert<'a>(
    blocks: Vec<ResourceSpans<'a>>,
    out: &mut Vec<RawSpan>,
    anomalies: &mut Vec<Anomaly>,
) -> Result<(), SpanError<'a>> {
    let mut owners = Vec::new();
    let mut spans: Vec<(&'a RawValue, usize)> = Vec::new();
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
            let owner = owners.len();
            owners.push((Arc::clone(&resource), scope));
            spans.extend(scope_spans.spans.into_iter().flatten().map(|s| (s, owner)));
        }
    }
    super::decode_in_runs(spans.len(), out, anomalies, |run, out, anomalies| {
        let mut sink = SpanSink::starting_at(out, anomalies, run.start);
        for &(text, owner) in &spans[run] {
            let span =
                serde_json::from_str::<WireSpan<'_>>(text.get()).map_err(|error| SpanError {
                    span: text.get(),
                    error,
                })?;
            let (resource, scope) = &owners[owner];
            sink.push(convert_span(span, resource, scope.as_ref()));
        }
        Ok(())
    })
}

fn convert_span(
    span: WireSpan<'_>,
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
    list.into_iter().map(|kv| kv.0).collect()
}
