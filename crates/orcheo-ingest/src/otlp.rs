//! The OTLP trace protocol's messages (`opentelemetry.proto` `trace/v1`, `common/v1`,
//! `resource/v1` and `collector/trace/v1`) and their OTLP/JSON mapping.
//!
//! Written out here rather than taken from `opentelemetry-proto`, which pulls the OpenTelemetry
//! SDK into whatever depends on it; the receivers need the messages only. Every field the
//! protocol defines is kept, unused and deprecated ones included, so that a span the receivers
//! store re-encodes into the bytes it came in as. Field names and numbers follow the `.proto`
//! files.

use serde::{Deserialize, Serialize};

/// `TracesData`: what the receivers store, one per trace.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TracesData {
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_spans", deserialize_with = "json::or_default")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ExportTraceServiceRequest`: an export, the same fields as [`TracesData`].
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_spans", deserialize_with = "json::or_default")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ExportTraceServiceResponse`: the answer to an export.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportTraceServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// `ExportTracePartialSuccess`: how many spans of an export were refused, and why.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ResourceSpans`: the spans of one resource.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    #[serde(alias = "scope_spans", deserialize_with = "json::or_default")]
    pub scope_spans: Vec<ScopeSpans>,
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "json::or_default")]
    pub schema_url: String,
}

/// `ScopeSpans`: the spans of one instrumentation scope.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    #[serde(deserialize_with = "json::or_default")]
    pub spans: Vec<Span>,
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "json::or_default")]
    pub schema_url: String,
}

/// `Span`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Span {
    #[prost(bytes = "vec", tag = "1")]
    #[serde(alias = "trace_id", deserialize_with = "json::hex")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    #[serde(alias = "span_id", deserialize_with = "json::hex")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    #[serde(alias = "trace_state", deserialize_with = "json::or_default")]
    pub trace_state: String,
    #[prost(bytes = "vec", tag = "4")]
    #[serde(alias = "parent_span_id", deserialize_with = "json::hex")]
    pub parent_span_id: Vec<u8>,
    #[prost(fixed32, tag = "16")]
    #[serde(deserialize_with = "json::int")]
    pub flags: u32,
    #[prost(string, tag = "5")]
    #[serde(deserialize_with = "json::or_default")]
    pub name: String,
    #[prost(enumeration = "span::SpanKind", tag = "6")]
    #[serde(deserialize_with = "json::span_kind")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    #[serde(alias = "start_time_unix_nano", deserialize_with = "json::int")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    #[serde(alias = "end_time_unix_nano", deserialize_with = "json::int")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    #[serde(deserialize_with = "json::or_default")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "10")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "json::int")]
    pub dropped_attributes_count: u32,
    #[prost(message, repeated, tag = "11")]
    #[serde(deserialize_with = "json::or_default")]
    pub events: Vec<span::Event>,
    #[prost(uint32, tag = "12")]
    #[serde(alias = "dropped_events_count", deserialize_with = "json::int")]
    pub dropped_events_count: u32,
    #[prost(message, repeated, tag = "13")]
    #[serde(deserialize_with = "json::or_default")]
    pub links: Vec<span::Link>,
    #[prost(uint32, tag = "14")]
    #[serde(alias = "dropped_links_count", deserialize_with = "json::int")]
    pub dropped_links_count: u32,
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// The messages and enums nested in `Span`.
pub mod span {
    use serde::Deserialize;

    use super::{KeyValue, json};

    /// `Span.Event`.
    #[derive(Clone, PartialEq, prost::Message, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct Event {
        #[prost(fixed64, tag = "1")]
        #[serde(alias = "time_unix_nano", deserialize_with = "json::int")]
        pub time_unix_nano: u64,
        #[prost(string, tag = "2")]
        #[serde(deserialize_with = "json::or_default")]
        pub name: String,
        #[prost(message, repeated, tag = "3")]
        #[serde(deserialize_with = "json::or_default")]
        pub attributes: Vec<KeyValue>,
        #[prost(uint32, tag = "4")]
        #[serde(alias = "dropped_attributes_count", deserialize_with = "json::int")]
        pub dropped_attributes_count: u32,
    }

    /// `Span.Link`.
    #[derive(Clone, PartialEq, prost::Message, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct Link {
        #[prost(bytes = "vec", tag = "1")]
        #[serde(alias = "trace_id", deserialize_with = "json::hex")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        #[serde(alias = "span_id", deserialize_with = "json::hex")]
        pub span_id: Vec<u8>,
        #[prost(string, tag = "3")]
        #[serde(alias = "trace_state", deserialize_with = "json::or_default")]
        pub trace_state: String,
        #[prost(message, repeated, tag = "4")]
        #[serde(deserialize_with = "json::or_default")]
        pub attributes: Vec<KeyValue>,
        #[prost(uint32, tag = "5")]
        #[serde(alias = "dropped_attributes_count", deserialize_with = "json::int")]
        pub dropped_attributes_count: u32,
        #[prost(fixed32, tag = "6")]
        #[serde(deserialize_with = "json::int")]
        pub flags: u32,
    }

    /// `Span.SpanKind`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum SpanKind {
        Unspecified = 0,
        Internal = 1,
        Server = 2,
        Client = 3,
        Producer = 4,
        Consumer = 5,
    }

    impl SpanKind {
        /// The value's name in the `.proto` file, which OTLP/JSON may send instead of the number.
        pub fn from_str_name(value: &str) -> Option<Self> {
            match value {
                "SPAN_KIND_UNSPECIFIED" => Some(Self::Unspecified),
                "SPAN_KIND_INTERNAL" => Some(Self::Internal),
                "SPAN_KIND_SERVER" => Some(Self::Server),
                "SPAN_KIND_CLIENT" => Some(Self::Client),
                "SPAN_KIND_PRODUCER" => Some(Self::Producer),
                "SPAN_KIND_CONSUMER" => Some(Self::Consumer),
                _ => None,
            }
        }
    }
}

/// `Status`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    #[prost(string, tag = "2")]
    #[serde(deserialize_with = "json::or_default")]
    pub message: String,
    #[prost(enumeration = "status::StatusCode", tag = "3")]
    #[serde(deserialize_with = "json::status_code")]
    pub code: i32,
}

/// The enum nested in `Status`.
pub mod status {
    /// `Status.StatusCode`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum StatusCode {
        Unset = 0,
        Ok = 1,
        Error = 2,
    }

    impl StatusCode {
        /// The value's name in the `.proto` file, which OTLP/JSON may send instead of the number.
        pub fn from_str_name(value: &str) -> Option<Self> {
            match value {
                "STATUS_CODE_UNSET" => Some(Self::Unset),
                "STATUS_CODE_OK" => Some(Self::Ok),
                "STATUS_CODE_ERROR" => Some(Self::Error),
                _ => None,
            }
        }
    }
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "json::or_default")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "2")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "json::int")]
    pub dropped_attributes_count: u32,
    #[prost(message, repeated, tag = "3")]
    #[serde(alias = "entity_refs", deserialize_with = "json::or_default")]
    pub entity_refs: Vec<EntityRef>,
}

/// `EntityRef`: which of a resource's attributes identify and describe an entity.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EntityRef {
    #[prost(string, tag = "1")]
    #[serde(alias = "schema_url", deserialize_with = "json::or_default")]
    pub schema_url: String,
    #[prost(string, tag = "2")]
    #[serde(deserialize_with = "json::or_default")]
    pub r#type: String,
    #[prost(string, repeated, tag = "3")]
    #[serde(alias = "id_keys", deserialize_with = "json::or_default")]
    pub id_keys: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    #[serde(alias = "description_keys", deserialize_with = "json::or_default")]
    pub description_keys: Vec<String>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    #[serde(deserialize_with = "json::or_default")]
    pub name: String,
    #[prost(string, tag = "2")]
    #[serde(deserialize_with = "json::or_default")]
    pub version: String,
    #[prost(message, repeated, tag = "3")]
    #[serde(deserialize_with = "json::or_default")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "4")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "json::int")]
    pub dropped_attributes_count: u32,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    #[serde(deserialize_with = "json::or_default")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
    #[prost(int32, tag = "3")]
    #[serde(alias = "key_strindex", deserialize_with = "json::int")]
    pub key_strindex: i32,
}

/// `AnyValue`. Its OTLP/JSON form is an object with (at most) one of the oneof's keys, read by
/// hand in `json` since serde's derive has no such shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
    pub value: Option<any_value::Value>,
}

/// The oneof of `AnyValue`.
pub mod any_value {
    /// `AnyValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        #[prost(bytes, tag = "7")]
        BytesValue(Vec<u8>),
        #[prost(int32, tag = "8")]
        StringValueStrindex(i32),
    }
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "json::or_default")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "json::or_default")]
    pub values: Vec<KeyValue>,
}

/// The OTLP/JSON encoding's departures from serde's defaults: hex ids, 64-bit integers as
/// strings, enums by name, base64 bytes, `null` for an absent field.
mod json {
    use std::fmt;
    use std::marker::PhantomData;
    use std::str::FromStr;

    use base64::Engine as _;
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
    use serde::{Deserialize, de::Error as _};

    use super::any_value::Value;
    use super::span::SpanKind;
    use super::status::StatusCode;
    use super::{AnyValue, ArrayValue, KeyValueList};

    /// A field sent as `null` takes its default, as if it were absent.
    pub(super) fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
    }

    /// Trace and span ids: hex in either case, where protobuf JSON would have base64.
    pub(super) fn hex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? else {
            return Ok(Vec::new());
        };
        decode_hex(&text).ok_or_else(|| D::Error::custom(format!("{text:?} is not a hex id")))
    }

    fn decode_hex(text: &str) -> Option<Vec<u8>> {
        fn nibble(b: u8) -> Option<u8> {
            match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                b'A'..=b'F' => Some(b - b'A' + 10),
                _ => None,
            }
        }
        let bytes = text.as_bytes();
        if !bytes.len().is_multiple_of(2) {
            return None;
        }
        bytes
            .chunks_exact(2)
            .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
            .collect()
    }

    /// An integer as a JSON number or a decimal string (how 64-bit integers are sent, and
    /// what proto3 JSON accepts for the others too).
    pub(super) fn int<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64> + TryFrom<i64> + FromStr + Default,
    {
        deserializer.deserialize_any(IntVisitor(PhantomData))
    }

    struct IntVisitor<T>(PhantomData<T>);

    impl<T> Visitor<'_> for IntVisitor<T>
    where
        T: TryFrom<u64> + TryFrom<i64> + FromStr + Default,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer, as a number or a decimal string")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            // `1e3` is a valid JSON spelling of an integer; a fraction is not an integer.
            if v.fract() != 0.0 || !v.is_finite() {
                return Err(E::custom(format!("{v} is not an integer")));
            }
            #[allow(clippy::cast_possible_truncation)]
            let whole = v as i128;
            if let Ok(n) = i64::try_from(whole) {
                return self.visit_i64(n);
            }
            match u64::try_from(whole) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::custom(format!("{v} is out of range"))),
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse()
                .map_err(|_| E::custom(format!("{v:?} is not an integer")))
        }

        fn visit_unit<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_none<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }
    }

    pub(super) fn span_kind<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        deserializer.deserialize_any(EnumVisitor {
            name: "a span kind",
            from_name: |name| SpanKind::from_str_name(name).map(|kind| kind as i32),
        })
    }

    pub(super) fn status_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        deserializer.deserialize_any(EnumVisitor {
            name: "a status code",
            from_name: |name| StatusCode::from_str_name(name).map(|code| code as i32),
        })
    }

    /// An enum as its number or its name. A number outside the enum is kept, as protobuf keeps
    /// it; an unknown name has no number to keep.
    struct EnumVisitor {
        name: &'static str,
        from_name: fn(&str) -> Option<i32>,
    }

    impl Visitor<'_> for EnumVisitor {
        type Value = i32;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}, as a number or a name", self.name)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            (self.from_name)(v)
                .or_else(|| v.parse().ok())
                .ok_or_else(|| E::custom(format!("{v:?} is not {}", self.name)))
        }

        fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
            Ok(0)
        }

        fn visit_none<E: de::Error>(self) -> Result<i32, E> {
            Ok(0)
        }
    }

    impl<'de> Deserialize<'de> for AnyValue {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_map(AnyValueVisitor)
        }
    }

    struct AnyValueVisitor;

    impl<'de> Visitor<'de> for AnyValueVisitor {
        type Value = AnyValue;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an AnyValue object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
            // An object naming no known value (or only nulls) is an empty value, as OTLP/JSON
            // ignores unknown keys; of several, the last one wins.
            let mut value = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let next = match key.as_ref() {
                    "stringValue" | "string_value" => {
                        map.next_value::<Option<String>>()?.map(Value::StringValue)
                    }
                    "boolValue" | "bool_value" => {
                        map.next_value::<Option<bool>>()?.map(Value::BoolValue)
                    }
                    "intValue" | "int_value" => map
                        .next_value::<Option<Int>>()?
                        .map(|Int(n)| Value::IntValue(n)),
                    "doubleValue" | "double_value" => map
                        .next_value::<Option<Double>>()?
                        .map(|Double(d)| Value::DoubleValue(d)),
                    "arrayValue" | "array_value" => map
                        .next_value::<Option<ArrayValue>>()?
                        .map(Value::ArrayValue),
                    "kvlistValue" | "kvlist_value" => map
                        .next_value::<Option<KeyValueList>>()?
                        .map(Value::KvlistValue),
                    "bytesValue" | "bytes_value" => match map.next_value::<Option<String>>()? {
                        Some(text) => {
                            Some(Value::BytesValue(decode_base64(&text).ok_or_else(
                                || A::Error::custom(format!("{text:?} is not base64")),
                            )?))
                        }
                        None => None,
                    },
                    "stringValueStrindex" | "string_value_strindex" => map
                        .next_value::<Option<Int>>()?
                        .map(|Int(n)| i32::try_from(n))
                        .transpose()
                        .map_err(|_| A::Error::custom("string index out of range"))?
                        .map(Value::StringValueStrindex),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        None
                    }
                };
                if next.is_some() {
                    value = next;
                }
            }
            Ok(AnyValue { value })
        }
    }

    /// Standard base64, as proto3 JSON writes bytes; the URL-safe alphabet and missing padding
    /// are accepted too, as proto3 JSON parsers do.
    fn decode_base64(text: &str) -> Option<Vec<u8>> {
        use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
        let config =
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        GeneralPurpose::new(&base64::alphabet::STANDARD, config)
            .decode(text)
            .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(text))
            .ok()
    }

    /// `intValue`: a number or a decimal string.
    struct Int(i64);

    impl<'de> Deserialize<'de> for Int {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            int(deserializer).map(Int)
        }
    }

    /// `doubleValue`: a number, or a string for what JSON numbers cannot say.
    struct Double(f64);

    impl<'de> Deserialize<'de> for Double {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(DoubleVisitor).map(Double)
        }
    }

    struct DoubleVisitor;

    impl Visitor<'_> for DoubleVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }

        #[allow(clippy::cast_precision_loss)]
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }

        #[allow(clippy::cast_precision_loss)]
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            match v {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                _ => v
                    .parse()
                    .map_err(|_| E::custom(format!("{v:?} is not a number"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use opentelemetry_proto::tonic::collector::trace::v1 as collector;
    use opentelemetry_proto::tonic::common::v1 as common;
    use opentelemetry_proto::tonic::resource::v1 as resource;
    use opentelemetry_proto::tonic::trace::v1 as trace;

    use super::any_value::Value;
    use super::*;

    fn parse(json: &str) -> ExportTraceServiceRequest {
        match serde_json::from_str(json) {
            Ok(request) => request,
            Err(e) => panic!("{e}: {json}"),
        }
    }

    fn only_span(request: &ExportTraceServiceRequest) -> &Span {
        &request.resource_spans[0].scope_spans[0].spans[0]
    }

    /// What the Python SDK's OTLP/JSON exporter sends: hex ids, 64-bit integers as strings,
    /// enums as numbers.
    #[test]
    fn a_python_json_export_decodes() {
        let request = parse(
            r#"{"resourceSpans":[{"resource":{"attributes":[
                {"key":"service.name","value":{"stringValue":"orcheo"}}],
                "droppedAttributesCount":0},
              "scopeSpans":[{"scope":{"name":"orcheo.runtime","version":"1.2"},
                "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
                  "parentSpanId":"","traceState":"k=v","flags":257,"name":"node",
                  "kind":1,"startTimeUnixNano":"1700000000000000000",
                  "endTimeUnixNano":"1700000000500000000",
                  "attributes":[{"key":"tokens","value":{"intValue":"9007199254740993"}},
                                {"key":"ratio","value":{"doubleValue":0.5}},
                                {"key":"ok","value":{"boolValue":true}}],
                  "droppedAttributesCount":1,
                  "events":[{"timeUnixNano":"1700000000100000000","name":"exception",
                             "attributes":[],"droppedAttributesCount":2}],
                  "droppedEventsCount":3,
                  "links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000001",
                            "traceState":"","attributes":[],"droppedAttributesCount":0,"flags":1}],
                  "droppedLinksCount":4,
                  "status":{"code":2,"message":"boom"}}],
                "schemaUrl":"https://opentelemetry.io/schemas/1.21.0"}],
              "schemaUrl":""}]}"#,
        );
        let span = only_span(&request);
        assert_eq!(
            span.trace_id,
            [
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
                0xc6, 0x0c
            ]
        );
        assert_eq!(
            span.span_id,
            [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.trace_state, "k=v");
        assert_eq!(span.flags, 257);
        assert_eq!(span.kind, span::SpanKind::Internal as i32);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_500_000_000);
        assert_eq!(
            span.attributes[0].value,
            Some(AnyValue {
                value: Some(Value::IntValue(9_007_199_254_740_993))
            })
        );
        assert_eq!(
            span.attributes[1]
                .value
                .as_ref()
                .and_then(|v| v.value.clone()),
            Some(Value::DoubleValue(0.5))
        );
        assert_eq!(
            (
                span.dropped_attributes_count,
                span.dropped_events_count,
                span.dropped_links_count
            ),
            (1, 3, 4)
        );
        assert_eq!(span.events[0].time_unix_nano, 1_700_000_000_100_000_000);
        assert_eq!(span.events[0].dropped_attributes_count, 2);
        assert_eq!(span.links[0].trace_id, span.trace_id);
        assert_eq!(span.links[0].span_id, [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(span.links[0].flags, 1);
        assert_eq!(
            span.status,
            Some(Status {
                message: "boom".to_owned(),
                code: status::StatusCode::Error as i32
            })
        );
        let scope_spans = &request.resource_spans[0].scope_spans[0];
        assert_eq!(
            scope_spans.schema_url,
            "https://opentelemetry.io/schemas/1.21.0"
        );
        assert_eq!(
            scope_spans.scope.as_ref().map(|s| s.version.as_str()),
            Some("1.2")
        );
    }

    /// What the JavaScript SDK's exporter sends: timestamps as strings, integers and counts as
    /// numbers, empty fields left out.
    #[test]
    fn a_javascript_json_export_decodes() {
        let request = parse(
            r#"{"resourceSpans":[{"resource":{"attributes":[],"droppedAttributesCount":0},
              "scopeSpans":[{"scope":{"name":"js"},"spans":[{
                "traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331",
                "name":"GET","kind":2,"startTimeUnixNano":"1700000000000000000",
                "endTimeUnixNano":1700000000000001000,
                "attributes":[{"key":"http.status_code","value":{"intValue":200}},
                              {"key":"raw","value":{"bytesValue":"AAEC/w=="}},
                              {"key":"list","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}},
                              {"key":"map","value":{"kvlistValue":{"values":[
                                {"key":"k","value":{"stringValue":"v"}}]}}}],
                "droppedAttributesCount":0,"events":[],"droppedEventsCount":0,
                "links":[],"droppedLinksCount":0,"status":{"code":0}}]}]}]}"#,
        );
        let span = only_span(&request);
        assert_eq!(span.kind, span::SpanKind::Server as i32);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_000_001_000);
        let values: Vec<_> = span
            .attributes
            .iter()
            .map(|kv| kv.value.as_ref().and_then(|v| v.value.clone()))
            .collect();
        assert_eq!(
            values,
            [
                Some(Value::IntValue(200)),
                Some(Value::BytesValue(vec![0, 1, 2, 255])),
                Some(Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue("a".to_owned()))
                    }]
                })),
                Some(Value::KvlistValue(KeyValueList {
                    values: vec![KeyValue {
                        key: "k".to_owned(),
                        value: Some(AnyValue {
                            value: Some(Value::StringValue("v".to_owned()))
                        }),
                        key_strindex: 0
                    }]
                })),
            ]
        );
    }

    #[test]
    fn enums_come_as_numbers_or_names() {
        for (kind, code, want_kind, want_code) in [
            ("3", "1", span::SpanKind::Client, status::StatusCode::Ok),
            (
                r#""SPAN_KIND_SERVER""#,
                r#""STATUS_CODE_ERROR""#,
                span::SpanKind::Server,
                status::StatusCode::Error,
            ),
            (
                r#""SPAN_KIND_CONSUMER""#,
                r#""STATUS_CODE_UNSET""#,
                span::SpanKind::Consumer,
                status::StatusCode::Unset,
            ),
        ] {
            let request = parse(&format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"kind":{kind},"status":{{"code":{code}}}}}]}}]}}]}}"#
            ));
            let span = only_span(&request);
            assert_eq!(span.kind, want_kind as i32, "{kind}");
            assert_eq!(
                span.status.as_ref().map(|s| s.code),
                Some(want_code as i32),
                "{code}"
            );
        }
        for bad in [r#""SPAN_KIND_NOPE""#, r#""server""#, "4294967296"] {
            let json = format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"kind":{bad}}}]}}]}}]}}"#
            );
            assert!(
                serde_json::from_str::<ExportTraceServiceRequest>(&json).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_that_are_not_hex_are_refused() {
        for id in [
            "abc",
            "zz",
            "0af7651916cd43dd8448eb211c80319g",
            "0x01",
            " 01",
        ] {
            for key in ["traceId", "spanId", "parentSpanId"] {
                let json = format!(
                    r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"{key}":"{id}"}}]}}]}}]}}"#
                );
                assert!(
                    serde_json::from_str::<ExportTraceServiceRequest>(&json).is_err(),
                    "{key}: {id}"
                );
            }
        }
        let json =
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"links":[{"spanId":"xyz0"}]}]}]}]}"#;
        assert!(serde_json::from_str::<ExportTraceServiceRequest>(json).is_err());
    }

    #[test]
    fn other_malformed_values_are_refused() {
        for span in [
            r#"{"startTimeUnixNano":"12.5"}"#,
            r#"{"startTimeUnixNano":-1}"#,
            r#"{"startTimeUnixNano":1.5}"#,
            r#"{"droppedAttributesCount":4294967296}"#,
            r#"{"attributes":[{"key":"b","value":{"bytesValue":"not base64!"}}]}"#,
            r#"{"attributes":[{"key":"i","value":{"intValue":"9223372036854775808"}}]}"#,
            r#"{"attributes":[{"key":"d","value":{"doubleValue":"many"}}]}"#,
        ] {
            let json = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#);
            assert!(
                serde_json::from_str::<ExportTraceServiceRequest>(&json).is_err(),
                "{span}"
            );
        }
    }

    /// proto3 JSON: original field names accepted, `null` taken as absent, unknown keys skipped.
    #[test]
    fn snake_case_null_and_unknown_keys_are_accepted() {
        let request = parse(
            r#"{"resource_spans":[{"resource":null,"scope_spans":[{"scope":null,"spans":[{
                "trace_id":"0AF7651916CD43DD8448EB211C80319C","span_id":"b7ad6b7169203331",
                "parent_span_id":null,"trace_state":null,"name":null,"kind":null,"flags":null,
                "start_time_unix_nano":"5","end_time_unix_nano":6,
                "dropped_attributes_count":"7","events":[{"time_unix_nano":"8","future":{"x":1}}],
                "links":null,"status":null,"somethingNew":[1,2,3],
                "attributes":[{"key":"n","value":{"stringValue":null,"future":true,
                  "double_value":"-Infinity"}},
                  {"key":"e","value":{}},{"key":"strindex","key_strindex":3,"value":{"string_value_strindex":"2"}}]
            }],"schema_url":null}]}],"extra":1}"#,
        );
        let span = only_span(&request);
        assert_eq!(span.trace_id[0], 0x0a);
        assert_eq!(span.span_id.len(), 8);
        assert!(span.parent_span_id.is_empty());
        assert_eq!((span.kind, span.flags), (0, 0));
        assert_eq!((span.start_time_unix_nano, span.end_time_unix_nano), (5, 6));
        assert_eq!(span.dropped_attributes_count, 7);
        assert_eq!(span.events[0].time_unix_nano, 8);
        assert_eq!(
            span.attributes[0].value,
            Some(AnyValue {
                value: Some(Value::DoubleValue(f64::NEG_INFINITY))
            })
        );
        assert_eq!(span.attributes[1].value, Some(AnyValue { value: None }));
        assert_eq!(span.attributes[2].key_strindex, 3);
        assert_eq!(
            span.attributes[2].value,
            Some(AnyValue {
                value: Some(Value::StringValueStrindex(2))
            })
        );
        assert_eq!(parse("{}"), ExportTraceServiceRequest::default());
        assert_eq!(
            parse(r#"{"resourceSpans":null}"#),
            ExportTraceServiceRequest::default()
        );
    }

    #[test]
    fn the_response_json_is_what_exporters_read() {
        let whole = ExportTraceServiceResponse {
            partial_success: None,
        };
        assert_eq!(
            serde_json::to_string(&whole).ok().as_deref(),
            Some(r#"{"partialSuccess":null}"#)
        );
        let partial = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 2,
                error_message: "2 spans have no trace id".to_owned(),
            }),
        };
        assert_eq!(
            serde_json::to_string(&partial).ok().as_deref(),
            Some(
                r#"{"partialSuccess":{"rejectedSpans":2,"errorMessage":"2 spans have no trace id"}}"#
            )
        );
    }

    /// Every field of every message, as the reference types encode them, decodes into ours and
    /// re-encodes into the same bytes.
    #[test]
    fn protobuf_round_trips_through_our_types() {
        let request = reference_request();
        let bytes = request.encode_to_vec();
        let ours = match ExportTraceServiceRequest::decode(bytes.as_slice()) {
            Ok(ours) => ours,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(ours.encode_to_vec(), bytes);
        let data = match TracesData::decode(bytes.as_slice()) {
            Ok(data) => data,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(data.encode_to_vec(), bytes);
        assert_eq!(
            collector::ExportTraceServiceRequest::decode(ours.encode_to_vec().as_slice()).ok(),
            Some(request)
        );

        let response = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "m".to_owned(),
            }),
        };
        assert_eq!(
            collector::ExportTraceServiceResponse::decode(response.encode_to_vec().as_slice())
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_spans, p.error_message)),
            Some((3, "m".to_owned()))
        );
    }

    /// Every kind of attribute value, as the reference types have them.
    fn reference_attributes() -> Vec<common::KeyValue> {
        let value = |v: common::any_value::Value| Some(common::AnyValue { value: Some(v) });
        let kv = |key: &str, v: common::any_value::Value| common::KeyValue {
            key: key.to_owned(),
            value: value(v),
            key_strindex: 0,
        };
        vec![
            kv("s", common::any_value::Value::StringValue("x".to_owned())),
            kv("b", common::any_value::Value::BoolValue(true)),
            kv("i", common::any_value::Value::IntValue(-7)),
            kv("d", common::any_value::Value::DoubleValue(1.25)),
            kv("bytes", common::any_value::Value::BytesValue(vec![0, 255])),
            kv(
                "array",
                common::any_value::Value::ArrayValue(common::ArrayValue {
                    values: vec![common::AnyValue {
                        value: Some(common::any_value::Value::IntValue(1)),
                    }],
                }),
            ),
            kv(
                "kvlist",
                common::any_value::Value::KvlistValue(common::KeyValueList {
                    values: vec![kv("inner", common::any_value::Value::BoolValue(false))],
                }),
            ),
            common::KeyValue {
                key: String::new(),
                value: value(common::any_value::Value::StringValueStrindex(4)),
                key_strindex: 3,
            },
            common::KeyValue {
                key: "empty".to_owned(),
                value: Some(common::AnyValue { value: None }),
                key_strindex: 0,
            },
        ]
    }

    /// An export with every field set, as the reference types have it.
    fn reference_request() -> collector::ExportTraceServiceRequest {
        let attributes = reference_attributes();
        let span = trace::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            trace_state: "a=b".to_owned(),
            parent_span_id: vec![3; 8],
            flags: 0x301,
            name: "node".to_owned(),
            kind: trace::span::SpanKind::Producer as i32,
            start_time_unix_nano: 1,
            end_time_unix_nano: u64::MAX,
            attributes: attributes.clone(),
            dropped_attributes_count: 5,
            events: vec![trace::span::Event {
                time_unix_nano: 9,
                name: "e".to_owned(),
                attributes: attributes.clone(),
                dropped_attributes_count: 6,
            }],
            dropped_events_count: 7,
            links: vec![trace::span::Link {
                trace_id: vec![4; 16],
                span_id: vec![5; 8],
                trace_state: "c=d".to_owned(),
                attributes: attributes.clone(),
                dropped_attributes_count: 8,
                flags: 0x100,
            }],
            dropped_links_count: 10,
            status: Some(trace::Status {
                message: "bad".to_owned(),
                code: trace::status::StatusCode::Error as i32,
            }),
        };
        collector::ExportTraceServiceRequest {
            resource_spans: vec![trace::ResourceSpans {
                resource: Some(resource::Resource {
                    attributes: attributes.clone(),
                    dropped_attributes_count: 11,
                    entity_refs: vec![common::EntityRef {
                        schema_url: "https://schema".to_owned(),
                        r#type: "service".to_owned(),
                        id_keys: vec!["service.name".to_owned()],
                        description_keys: vec!["service.version".to_owned()],
                    }],
                }),
                scope_spans: vec![trace::ScopeSpans {
                    scope: Some(common::InstrumentationScope {
                        name: "scope".to_owned(),
                        version: "1".to_owned(),
                        attributes,
                        dropped_attributes_count: 12,
                    }),
                    spans: vec![span, trace::Span::default()],
                    schema_url: "https://scope-schema".to_owned(),
                }],
                schema_url: "https://resource-schema".to_owned(),
            }],
        }
    }
}
