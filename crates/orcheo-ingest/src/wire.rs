//! What decoding an OTLP export would cost, read off its bytes before it is decoded.
//!
//! A request's size limit does not bound its decoded size: an empty span is 2 bytes on the wire
//! and a few hundred in memory, so 4 MiB of them would decode into gigabytes. The receivers
//! walk the protobuf (or scan the JSON) first, estimate the memory the decoded message takes, and
//! refuse an export over [`MAX_DECODED_BYTES`] before decoding it.

use crate::otlp::span::{Event, Link};
use crate::otlp::{AnyValue, KeyValue};
use crate::otlp::{ResourceSpans, ScopeSpans, Span};
use orcheo_span_tree::protobuf::{Reader, WireError, WireType};

/// The most memory one decoded export may take: 16 times the default request limit, far above
/// what real spans need (about 3 bytes in memory for each on the wire).
pub const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// How many levels deep attribute values may nest: a plain value is level 1, and each array or
/// key-value list around it adds one. The deepest place a value sits (an event's or a link's
/// attributes) then leaves the protobuf decoder (100 nested messages) room even for key-value
/// lists, which take three messages a level.
pub const MAX_VALUE_DEPTH: usize = 30;

/// What holds a value nested too deeply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Array,
    KeyValueList,
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Array => "an array",
            Self::KeyValueList => "a key-value list",
        })
    }
}

/// Why an export's footprint could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FootprintError {
    /// The bytes are not a protobuf message.
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(
        "attribute values nest more than {MAX_VALUE_DEPTH} levels deep: {0} holds a value at level {level}",
        level = MAX_VALUE_DEPTH + 1
    )]
    TooDeep(Container),
}

/// The message types whose size is counted, by where they sit in an export.
#[derive(Clone, Copy)]
enum Kind {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    /// `ArrayValue` or `KeyValueList`: a list of values or of key-values.
    Values,
    KeyValues,
}

impl Kind {
    /// The message type a length-delimited field holds, for the fields that are messages.
    fn child(self, field: u32) -> Option<Self> {
        let child = match self {
            Self::Request if field == 1 => Self::ResourceSpans,
            Self::ResourceSpans if field == 1 => Self::Resource,
            Self::ResourceSpans if field == 2 => Self::ScopeSpans,
            Self::ScopeSpans if field == 1 => Self::Scope,
            Self::ScopeSpans if field == 2 => Self::Span,
            Self::Span => match field {
                9 => Self::KeyValue,
                11 => Self::Event,
                13 => Self::Link,
                15 => Self::Status,
                _ => return None,
            },
            Self::Resource | Self::KeyValues if field == 1 => Self::KeyValue,
            Self::Scope | Self::Event if field == 3 => Self::KeyValue,
            Self::Link if field == 4 => Self::KeyValue,
            Self::KeyValue if field == 2 => Self::AnyValue,
            Self::Values if field == 1 => Self::AnyValue,
            Self::AnyValue if field == 5 => Self::Values,
            Self::AnyValue if field == 6 => Self::KeyValues,
            _ => return None,
        };
        Some(child)
    }

    /// What one decoded element takes in its parent's list (or box), without its heap data.
    fn size(self) -> usize {
        use std::mem::size_of;
        match self {
            Self::Request => 0,
            Self::ResourceSpans => size_of::<ResourceSpans>(),
            Self::ScopeSpans => size_of::<ScopeSpans>(),
            Self::Span => size_of::<Span>(),
            Self::Event => size_of::<Event>(),
            Self::Link => size_of::<Link>(),
            Self::KeyValue => size_of::<KeyValue>(),
            Self::AnyValue => size_of::<AnyValue>(),
            // Held inline by their parents, or small boxes.
            Self::Resource | Self::Scope | Self::Status | Self::Values | Self::KeyValues => 32,
        }
    }
}

/// What decoding an export would hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    pub spans: usize,
    /// A lower bound of the bytes the decoded message takes.
    pub bytes: usize,
}

/// The footprint of a protobuf `ExportTraceServiceRequest` (the same bytes as `TracesData`).
/// Read with the span tree's protobuf reader, by its rules (those of `prost`, which decodes the
/// export next), without the schema's wire types: a field of the wrong one is left to `prost`.
pub fn protobuf_footprint(buf: &[u8]) -> Result<Footprint, FootprintError> {
    let mut footprint = Footprint::default();
    // Each message being read, with what is left of it; an explicit stack, so nesting costs no
    // recursion.
    let mut stack: Vec<(Kind, Reader<'_>)> = vec![(Kind::Request, Reader::new(buf))];
    // The `AnyValue`s on the stack: how deep the value being read is. The message types
    // above the values nest only as the schema says, so this bounds the stack too.
    let mut value_depth = 0usize;
    while let Some((kind, r)) = stack.last_mut() {
        let kind = *kind;
        let Some((field, wire_type)) = r.field()? else {
            stack.pop();
            if matches!(kind, Kind::AnyValue) {
                value_depth -= 1;
            }
            continue;
        };
        if wire_type != WireType::Len {
            r.skip(wire_type)?;
            continue;
        }
        let inner = r.len()?;
        let Some(child) = kind.child(field) else {
            // Strings and bytes are copied out whole.
            footprint.bytes = footprint.bytes.saturating_add(inner.remaining().len());
            continue;
        };
        if matches!(child, Kind::AnyValue) {
            if value_depth == MAX_VALUE_DEPTH {
                // Past level 1 a value is an array's item or a key-value list's.
                return Err(FootprintError::TooDeep(if matches!(kind, Kind::Values) {
                    Container::Array
                } else {
                    Container::KeyValueList
                }));
            }
            value_depth += 1;
        }
        footprint.bytes = footprint.bytes.saturating_add(child.size());
        if matches!(child, Kind::Span) {
            footprint.spans += 1;
        }
        stack.push((child, inner));
    }
    Ok(footprint)
}

/// Why an export is refused before it is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a protobuf message: HTTP 400 / `INVALID_ARGUMENT`.
    Malformed(String),
    /// It would decode into more than [`MAX_DECODED_BYTES`]: HTTP 413 / `RESOURCE_EXHAUSTED`.
    TooLarge(String),
}

impl Refusal {
    /// The `reason` label of `orcheo_otlp_requests_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::TooLarge(_) => "too_large",
        }
    }
}

/// Whether an export whose bytes gave `footprint` may be decoded, and what it is told if not.
pub fn admit(footprint: Result<Footprint, FootprintError>) -> Result<(), Refusal> {
    match footprint {
        Err(e) => Err(Refusal::Malformed(format!(
            "not an OTLP protobuf ExportTraceServiceRequest: {e}"
        ))),
        Ok(footprint) if footprint.bytes > MAX_DECODED_BYTES => Err(Refusal::TooLarge(format!(
            "decoding this export ({} spans) would take at least {} MiB, more than the receiver's {} MiB; send smaller batches",
            footprint.spans,
            footprint.bytes.div_ceil(1024 * 1024),
            MAX_DECODED_BYTES / (1024 * 1024)
        ))),
        Ok(_) => Ok(()),
    }
}

/// The footprint of an OTLP/JSON export, bounded from above: every JSON object (outside strings)
/// is counted as a span, the largest thing an object decodes into, and every byte of text as
/// copied. Exact for nothing, safe for everything.
pub fn json_footprint(body: &[u8]) -> Footprint {
    let mut objects = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b'{' {
            objects += 1;
        }
    }
    Footprint {
        spans: objects,
        bytes: objects
            .saturating_mul(std::mem::size_of::<Span>())
            .saturating_add(body.len()),
    }
}

#[cfg(test)]
mod tests {
    use crate::otlp::ExportTraceServiceRequest;
    use crate::otlp::{ArrayValue, any_value};
    use orcheo_span_tree::protobuf::WireErrorKind;
    use prost::Message as _;

    use super::*;

    fn request(spans: usize, attributes: usize) -> ExportTraceServiceRequest {
        let value = |n: usize| AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(any_value::Value::StringValue(format!("v{n}"))),
                }],
            })),
        };
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "node".into(),
            attributes: (0..attributes)
                .map(|n| KeyValue {
                    key: format!("k{n}"),
                    value: Some(value(n)),
                    ..KeyValue::default()
                })
                .collect(),
            events: vec![Event::default()],
            ..Span::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; spans],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    #[test]
    fn real_spans_are_counted_and_cost_a_few_times_their_wire_size() {
        let bytes = request(500, 8).encode_to_vec();
        let footprint = protobuf_footprint(&bytes).unwrap();
        assert_eq!(footprint.spans, 500);
        assert!(
            footprint.bytes > bytes.len(),
            "{footprint:?} for {}",
            bytes.len()
        );
        assert!(footprint.bytes < 30 * bytes.len(), "{footprint:?}");
    }

    #[test]
    fn four_mebibytes_of_empty_spans_would_decode_far_past_the_limit() {
        // Field 2 of ScopeSpans (a span), empty, over and over.
        let field = |tag: u8, inner: &[u8]| {
            let mut out = vec![tag];
            prost::encoding::encode_varint(inner.len() as u64, &mut out);
            out.extend_from_slice(inner);
            out
        };
        // Request.resource_spans → ResourceSpans.scope_spans → ScopeSpans.spans, empty.
        let spans = [0x12u8, 0x00].repeat(2 * 1024 * 1024 - 8);
        let body = field(0x0a, &field(0x12, &spans));
        let footprint = protobuf_footprint(&body).unwrap();
        assert_eq!(footprint.spans, 2 * 1024 * 1024 - 8);
        assert!(footprint.bytes > MAX_DECODED_BYTES);
    }

    #[test]
    fn malformed_bytes_are_refused_not_overrun() {
        let bytes = request(3, 2).encode_to_vec();
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(protobuf_footprint(&bytes[..cut]).is_err(), "{cut}");
        }
        let wire_error = |bytes: &[u8]| match protobuf_footprint(bytes) {
            Err(FootprintError::Wire(e)) => (e.kind().clone(), e.offset()),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            wire_error(&[0x0b]),
            (WireErrorKind::UnsupportedWireType(3), 1)
        );
        assert_eq!(
            wire_error(&[0x08, 0xff]),
            (WireErrorKind::TruncatedVarint, 1)
        );
        // A length past its message's end, and a fixed64 cut short.
        assert_eq!(
            wire_error(&[0x0a, 0x02, 0x12, 0x05, 0x00]),
            (WireErrorKind::LengthPastEnd, 4)
        );
        assert_eq!(
            wire_error(&[0x09, 0x00, 0x00]),
            (WireErrorKind::TruncatedFixed(64), 1)
        );
        assert_eq!(protobuf_footprint(&[]), Ok(Footprint::default()));
    }

    #[test]
    fn arbitrary_bytes_give_an_answer_never_a_panic() {
        // Mutations of a real export (xorshift, fixed seed) and plain noise.
        let real = request(4, 3).encode_to_vec();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = real.clone();
            for _ in 0..=next() % 4 {
                let at = usize::try_from(next() % bytes.len() as u64).unwrap();
                bytes[at] = (next() & 0xff) as u8;
            }
            let _ = protobuf_footprint(&bytes);
            let _ =
                protobuf_footprint(&bytes[..usize::try_from(next() % bytes.len() as u64).unwrap()]);
            let noise: Vec<u8> = (0..next() % 64).map(|_| (next() & 0xff) as u8).collect();
            let _ = protobuf_footprint(&noise);
            let _ = json_footprint(&noise);
        }
    }

    /// A string `levels` deep: inside `levels - 1` arrays or key-value lists.
    fn nested(levels: usize, container: Container) -> AnyValue {
        use crate::otlp::KeyValueList;
        let mut value = AnyValue {
            value: Some(any_value::Value::StringValue("deep".into())),
        };
        for _ in 1..levels {
            value = AnyValue {
                value: Some(match container {
                    Container::Array => any_value::Value::ArrayValue(ArrayValue {
                        values: vec![value],
                    }),
                    Container::KeyValueList => any_value::Value::KvlistValue(KeyValueList {
                        values: vec![KeyValue {
                            key: "k".into(),
                            value: Some(value),
                            ..KeyValue::default()
                        }],
                    }),
                }),
            };
        }
        value
    }

    /// An export whose one span holds `value` in its attributes and in its event's.
    fn holding(value: AnyValue) -> Vec<u8> {
        let attribute = KeyValue {
            key: "deep".into(),
            value: Some(value),
            ..KeyValue::default()
        };
        let mut req = request(1, 0);
        let span = &mut req.resource_spans[0].scope_spans[0].spans[0];
        span.attributes = vec![attribute.clone()];
        span.events[0].attributes = vec![attribute];
        req.encode_to_vec()
    }

    #[test]
    fn deeply_nested_values_are_refused_with_the_level_and_what_holds_it() {
        for (container, name) in [
            (Container::Array, "an array"),
            (Container::KeyValueList, "a key-value list"),
        ] {
            // The deepest value accepted is one the decoder reads too, even in an event.
            let deepest = holding(nested(MAX_VALUE_DEPTH, container));
            assert!(protobuf_footprint(&deepest).is_ok(), "{name}");
            assert!(
                ExportTraceServiceRequest::decode(deepest.as_slice()).is_ok(),
                "{name}"
            );
            for levels in [MAX_VALUE_DEPTH + 1, 100] {
                let error = protobuf_footprint(&holding(nested(levels, container))).unwrap_err();
                assert_eq!(error, FootprintError::TooDeep(container));
                assert_eq!(
                    error.to_string(),
                    format!(
                        "attribute values nest more than 30 levels deep: {name} holds a value at level 31"
                    )
                );
            }
        }
    }

    #[test]
    fn json_objects_outside_strings_bound_the_decoded_size() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{"name":"{{\"{"}]}]}]}"#;
        let footprint = json_footprint(body);
        assert_eq!(footprint.spans, 6);
        let empty_spans = format!("{{\"spans\":[{}]}}", vec!["{}"; 1_400_000].join(","));
        assert!(json_footprint(empty_spans.as_bytes()).bytes > MAX_DECODED_BYTES);
    }
}
