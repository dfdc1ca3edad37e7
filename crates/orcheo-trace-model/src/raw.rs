//! [`RawSpan`]: one span as a trace store describes it, before normalization.
//!
//! Every wire format (OTLP JSON and protobuf, Tempo, Jaeger) decodes into this one shape, so the
//! normalizer has a single input. Nothing is dropped in the conversion: attributes keep their
//! types, references keep their kind, and the resource and scope travel with each span.

use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use smol_str::SmolStr;

use crate::ids::{SpanId, TraceId};
use crate::time::Timestamp;

/// A typed attribute value, as OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AttributeValue {
    /// No value (OTLP's empty `AnyValue`).
    #[default]
    Empty,
    String(SmolStr),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AttributeValue>),
    Map(Vec<KeyValue>),
}

impl AttributeValue {
    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        self.as_text().map(SmolStr::as_str)
    }

    /// The text of a string value as held, to share rather than copy.
    pub fn as_text(&self) -> Option<&SmolStr> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer, also from a whole double or a decimal string (as some exporters send).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            #[allow(
                clippy::cast_possible_truncation,
                reason = "checked to be whole and in range"
            )]
            Self::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean, also from `"true"`/`"false"` (old Jaeger data).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Self::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// The number of characters of text this value carries (strings, recursively).
    pub fn text_len(&self) -> usize {
        match self {
            Self::String(s) => s.chars().count(),
            Self::Array(items) => items.iter().map(Self::text_len).sum(),
            Self::Map(kvs) => kvs.iter().map(|kv| kv.value.text_len()).sum(),
            _ => 0,
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(value: &str) -> Self {
        Self::String(SmolStr::new(value))
    }
}

impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        Self::String(SmolStr::from(value))
    }
}

impl From<SmolStr> for AttributeValue {
    fn from(value: SmolStr) -> Self {
        Self::String(value)
    }
}

impl From<i64> for AttributeValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<f64> for AttributeValue {
    fn from(value: f64) -> Self {
        Self::Double(value)
    }
}

/// Standard base64 with padding, for byte values in JSON.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Serialize for AttributeValue {
    /// Plain JSON: strings, booleans, numbers, arrays and objects. Bytes become base64 text;
    /// non-finite doubles become `"NaN"`, `"Infinity"`, `"-Infinity"` as in OTLP/JSON.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Empty => serializer.serialize_none(),
            Self::String(s) => serializer.serialize_str(s),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Int(i) => serializer.serialize_i64(*i),
            Self::Double(d) if d.is_nan() => serializer.serialize_str("NaN"),
            Self::Double(d) if d.is_infinite() => {
                serializer.serialize_str(if *d > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Self::Double(d) => serializer.serialize_f64(*d),
            Self::Bytes(b) => serializer.serialize_str(&base64_encode(b)),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Map(kvs) => Attributes(kvs).serialize(serializer),
        }
    }
}

/// A key and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: SmolStr,
    pub value: AttributeValue,
}

impl KeyValue {
    pub fn new(key: impl Into<SmolStr>, value: impl Into<AttributeValue>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Serializes a list of key-values as a JSON object, in order.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a>(pub &'a [KeyValue]);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for kv in self.0 {
            map.serialize_entry(&kv.key, &kv.value)?;
        }
        map.end()
    }
}

/// Looks up the first value of `key` in a list of key-values.
pub fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AttributeValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// OpenTelemetry's span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// From OTLP's integer enum; unknown values are `Unspecified`.
    pub fn from_otlp(value: i64) -> Self {
        match value {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    /// From a name: OTLP's `SPAN_KIND_SERVER` or Jaeger's `server`, any case.
    pub fn from_name(name: &str) -> Self {
        let name = name.strip_prefix("SPAN_KIND_").unwrap_or(name);
        match name.to_ascii_lowercase().as_str() {
            "internal" => Self::Internal,
            "server" => Self::Server,
            "client" => Self::Client,
            "producer" => Self::Producer,
            "consumer" => Self::Consumer,
            _ => Self::Unspecified,
        }
    }
}

/// A span's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    /// From OTLP's integer enum; unknown values are `Unset`.
    pub fn from_otlp(value: i64) -> Self {
        match value {
            1 => Self::Ok,
            2 => Self::Error,
            _ => Self::Unset,
        }
    }

    /// From a name: `STATUS_CODE_ERROR`, `ERROR`, `error`, `OK`.
    pub fn from_name(name: &str) -> Self {
        let name = name.strip_prefix("STATUS_CODE_").unwrap_or(name);
        if name.eq_ignore_ascii_case("ok") {
            Self::Ok
        } else if name.eq_ignore_ascii_case("error") {
            Self::Error
        } else {
            Self::Unset
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unset => "UNSET",
            Self::Ok => "OK",
            Self::Error => "ERROR",
        })
    }
}

/// A status code and its message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Status))]
pub struct RawStatus {
    pub code: StatusCode,
    pub message: Option<String>,
}

/// How a span refers to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Jaeger's `CHILD_OF`: the referenced span is the parent.
    ChildOf,
    /// Jaeger's `FOLLOWS_FROM`: a causal predecessor, a parent only when nothing better exists.
    FollowsFrom,
    /// An OTLP link: related, never a parent.
    Link,
}

/// A reference from one span to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Link))]
pub struct SpanLink {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub kind: LinkKind,
    #[serde(serialize_with = "serialize_attributes")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::attributes))]
    pub attributes: Vec<KeyValue>,
}

/// A timed event on a span (Jaeger: a log).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Event))]
pub struct SpanEvent {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: SmolStr,
    pub time: Option<Timestamp>,
    #[serde(serialize_with = "serialize_attributes")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::attributes))]
    pub attributes: Vec<KeyValue>,
}

/// The entity that produced spans (a service, a process).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
}

impl Resource {
    /// `service.name`, if set.
    pub fn service_name(&self) -> Option<&str> {
        self.service().map(SmolStr::as_str)
    }

    /// `service.name`, if set, as the text it is held in (to share it).
    pub fn service(&self) -> Option<&SmolStr> {
        find(&self.attributes, crate::semconv::SERVICE_NAME).and_then(AttributeValue::as_text)
    }
}

/// The instrumentation scope (library) that produced a span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: Option<String>,
}

/// One span in the backend-neutral form all decoders produce.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The parent as the format states it directly (OTLP `parentSpanId`); formats that only have
    /// references (Jaeger) leave this empty and put them in `links`.
    pub parent_span_id: Option<SpanId>,
    pub name: SmolStr,
    pub kind: SpanKind,
    pub start_time: Timestamp,
    /// `None` while the span is still running.
    pub end_time: Option<Timestamp>,
    pub status: RawStatus,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    /// Shared by every span of one resource block, so it is stored once.
    pub resource: Arc<Resource>,
    pub scope: Option<Arc<Scope>>,
    /// Problems the source itself reported for this span (Jaeger `warnings`).
    pub warnings: Vec<String>,
}

impl RawSpan {
    /// A span with the given ids and name, and everything else empty.
    pub fn new(trace_id: TraceId, span_id: SpanId, name: impl Into<SmolStr>) -> Self {
        Self {
            trace_id,
            span_id,
            parent_span_id: None,
            name: name.into(),
            kind: SpanKind::Unspecified,
            start_time: Timestamp::default(),
            end_time: None,
            status: RawStatus::default(),
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            resource: Arc::default(),
            scope: None,
            warnings: Vec::new(),
        }
    }

    /// The first value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        find(&self.attributes, key)
    }
}

/// `serialize_with` helper: a key-value list as a JSON object.
pub fn serialize_attributes<S: Serializer>(
    attributes: &[KeyValue],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    Attributes(attributes).serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_serialize_as_plain_json() {
        let value = AttributeValue::Map(vec![
            KeyValue::new("s", "x"),
            KeyValue::new("n", AttributeValue::Double(f64::NAN)),
            KeyValue::new("b", AttributeValue::Bytes(vec![0xde, 0xad, 0xbe, 0xef])),
            KeyValue::new("a", AttributeValue::Array(vec![1i64.into(), true.into()])),
        ]);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"{"s":"x","n":"NaN","b":"3q2+7w==","a":[1,true]}"#);
    }

    #[test]
    fn enums_read_names_and_numbers() {
        assert_eq!(SpanKind::from_name("SPAN_KIND_SERVER"), SpanKind::Server);
        assert_eq!(SpanKind::from_name("client"), SpanKind::Client);
        assert_eq!(SpanKind::from_otlp(99), SpanKind::Unspecified);
        assert_eq!(
            StatusCode::from_name("STATUS_CODE_ERROR"),
            StatusCode::Error
        );
        assert_eq!(StatusCode::from_otlp(1), StatusCode::Ok);
    }

    #[test]
    fn lenient_readers() {
        assert_eq!(AttributeValue::from("42").as_i64(), Some(42));
        assert_eq!(AttributeValue::Double(3.0).as_i64(), Some(3));
        assert_eq!(AttributeValue::Double(3.5).as_i64(), None);
        assert_eq!(AttributeValue::from("TRUE").as_bool(), Some(true));
    }
}
