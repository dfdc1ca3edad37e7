//! The protobuf decoder against `prost`: valid OTLP payloads, built with the generated types,
//! damaged in many deterministic ways. Whatever `prost` refuses, the decoder refuses too (an
//! error, not a partial tree); whatever both accept, they read alike.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, TracesData};
use orcheo_span_tree::Format;
use orcheo_span_tree::protobuf::{Reader, WireType};
use prost::Message as _;

/// xorshift64: the same damage on every run, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

/// Every field of the schema set at least once, values of every kind, some nested.
fn rich_payload() -> TracesData {
    use any_value::Value::{
        ArrayValue as Array, BoolValue, BytesValue, DoubleValue, IntValue, KvlistValue,
        StringValue, StringValueStrindex,
    };
    let attributes = vec![
        kv("s", StringValue("text é".to_owned())),
        kv("b", BoolValue(true)),
        kv("i", IntValue(-7)),
        kv("d", DoubleValue(1.5)),
        kv("x", BytesValue(vec![0, 159, 146, 150])),
        kv("n", StringValueStrindex(3)),
        kv(
            "a",
            Array(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(IntValue(1)),
                    },
                    AnyValue {
                        value: Some(StringValue("two".to_owned())),
                    },
                ],
            }),
        ),
        kv(
            "m",
            KvlistValue(KeyValueList {
                values: vec![kv("inner", StringValue("v".to_owned()))],
            }),
        ),
        KeyValue {
            key: "strindex".to_owned(),
            value: None,
            key_strindex: 4,
        },
    ];
    let span = |id: u8| Span {
        trace_id: vec![1; 16],
        span_id: vec![id; 8],
        trace_state: "k=v".to_owned(),
        parent_span_id: if id == 1 { Vec::new() } else { vec![1; 8] },
        flags: 0x301,
        name: format!("span {id}"),
        kind: 2,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        attributes: attributes.clone(),
        dropped_attributes_count: 1,
        events: vec![Event {
            time_unix_nano: 1_500,
            name: "prompt".to_owned(),
            attributes: vec![kv("preview", StringValue("hello".to_owned()))],
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 3,
        links: vec![Link {
            trace_id: vec![2; 16],
            span_id: vec![3; 8],
            trace_state: "a=b".to_owned(),
            attributes: vec![kv("l", IntValue(1))],
            dropped_attributes_count: 4,
            flags: 1,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "failed".to_owned(),
            code: 2,
        }),
    };
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", StringValue("svc".to_owned()))],
                dropped_attributes_count: 1,
                entity_refs: vec![EntityRef {
                    schema_url: "https://example.com".to_owned(),
                    r#type: "service".to_owned(),
                    id_keys: vec!["service.name".to_owned()],
                    description_keys: vec!["d".to_owned()],
                }],
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "scope".to_owned(),
                    version: "1".to_owned(),
                    attributes: vec![kv("scope.attr", StringValue("s".to_owned()))],
                    dropped_attributes_count: 1,
                }),
                spans: vec![span(1), span(2)],
                schema_url: "https://example.com/scope".to_owned(),
            }],
            schema_url: "https://example.com/resource".to_owned(),
        }],
    }
}

/// A plain export: two blocks, spans with a few string attributes.
fn plain_payload() -> TracesData {
    let block = |service: &str, first: u8| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv(
                "service.name",
                any_value::Value::StringValue(service.to_owned()),
            )],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: (first..first + 3)
                .map(|id| Span {
                    trace_id: vec![9; 16],
                    span_id: vec![id; 8],
                    name: "node".to_owned(),
                    start_time_unix_nano: u64::from(id),
                    attributes: vec![kv(
                        "orcheo.node.kind",
                        any_value::Value::StringValue("llm".to_owned()),
                    )],
                    ..Span::default()
                })
                .collect(),
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    };
    TracesData {
        resource_spans: vec![block("a", 1), block("b", 10)],
    }
}

/// A value `levels` messages below its key-value, in arrays or key-value lists.
fn nested_value(messages: u32, lists: bool) -> AnyValue {
    let mut value = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    let mut depth = 1;
    while depth < messages {
        value = AnyValue {
            value: Some(if lists {
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![KeyValue {
                        key: "k".to_owned(),
                        value: Some(value),
                        ..KeyValue::default()
                    }],
                })
            } else {
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })
            }),
        };
        depth += if lists { 3 } else { 2 };
    }
    value
}

/// Payloads whose attribute values nest up to `prost`'s recursion limit.
fn deep_payloads() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for lists in [false, true] {
        for messages in 90..100 {
            let mut data = plain_payload();
            data.resource_spans[0].scope_spans[0].spans[0].attributes = vec![KeyValue {
                key: "deep".to_owned(),
                value: Some(nested_value(messages, lists)),
                ..KeyValue::default()
            }];
            let bytes = data.encode_to_vec();
            if TracesData::decode(bytes.as_slice()).is_ok() {
                out.push(bytes);
            }
        }
    }
    out
}

/// Where a payload's fields are: the offset of every key, of every length-delimited field's
/// length, and of every such field's contents (with its length), found by reading each
/// length-delimited field as a message where it reads as one.
#[derive(Default)]
struct Places {
    keys: Vec<usize>,
    lengths: Vec<usize>,
    contents: Vec<(usize, usize)>,
}

fn places(bytes: &[u8]) -> Places {
    let mut found = Places::default();
    if walk(&mut Reader::new(bytes), &mut found, 0) {
        found
    } else {
        Places::default()
    }
}

/// Reads `r` as a message, noting its places; `false` when it is not one.
fn walk(r: &mut Reader<'_>, places: &mut Places, depth: u32) -> bool {
    if depth > 40 {
        return false;
    }
    loop {
        let at = r.offset();
        let Ok(field) = r.field() else {
            return false;
        };
        let Some((_, wire)) = field else {
            return true;
        };
        places.keys.push(at);
        if wire == WireType::Len {
            places.lengths.push(r.offset());
            let Ok(mut inner) = r.len() else {
                return false;
            };
            let start = inner.offset();
            places.contents.push((start, inner.remaining().len()));
            let mut nested = Places::default();
            if !inner.is_empty() && walk(&mut inner, &mut nested, depth + 1) {
                places.keys.extend(nested.keys);
                places.lengths.extend(nested.lengths);
                places.contents.extend(nested.contents);
            }
        } else if r.skip(wire).is_err() {
            return false;
        }
    }
}

/// The end of the varint at `at`.
fn varint_end(bytes: &[u8], at: usize) -> usize {
    let mut end = at;
    while end < bytes.len() && bytes[end] >= 0x80 {
        end += 1;
    }
    (end + 1).min(bytes.len())
}

/// One damaged copy of `bytes`.
fn mutate(bytes: &[u8], places: &Places, rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let pick = |rng: &mut Rng, list: &[usize]| list.get(rng.below(list.len())).copied();
    match rng.below(9) {
        // Another wire type for a field: the 3 low bits of its key.
        0 | 1 => {
            if let Some(at) = pick(rng, &places.keys) {
                let wire = u8::try_from(rng.below(8)).unwrap_or(0);
                b[at] = (b[at] & !7) | wire;
            }
        }
        // Another field number, same wire type.
        2 => {
            if let Some(at) = pick(rng, &places.keys) {
                let number = u8::try_from(rng.below(17)).unwrap_or(0);
                b[at] = (b[at] & 0x87) | ((number << 3) & 0x78);
            }
        }
        // A length off by a little, or far.
        3 => {
            if let Some(at) = pick(rng, &places.lengths) {
                let end = varint_end(&b, at);
                let old = b[at..end].to_vec();
                let new: Vec<u8> = match rng.below(4) {
                    0 => vec![old[0].wrapping_add(1) & 0x7f],
                    1 => vec![old[0].wrapping_sub(1) & 0x7f],
                    2 => vec![0xff, 0xff, 0xff, 0xff, 0x0f],
                    _ => vec![rng.byte() & 0x7f],
                };
                b.splice(at..end, new);
            }
        }
        // A varint made too long, cut, or overflowing.
        4 => {
            let at = pick(rng, &places.keys).unwrap_or(0);
            let end = varint_end(&b, at);
            let new: Vec<u8> = match rng.below(3) {
                0 => vec![0xff; 11],
                1 => vec![0x80],
                _ => vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            };
            if rng.below(2) == 0 {
                b.splice(at..end, new);
            } else {
                b.truncate(end);
                b.extend(new);
            }
        }
        // Invalid UTF-8 (or any byte) inside a field's contents.
        5 => {
            if let Some(&(start, len)) = places.contents.get(rng.below(places.contents.len()))
                && len > 0
            {
                let at = start + rng.below(len);
                b[at] = [0xff, 0xc3, 0x80, 0xed][rng.below(4)];
            }
        }
        // Cut short.
        6 => b.truncate(rng.below(b.len())),
        // Random bytes set, inserted or removed.
        7 => {
            for _ in 0..=rng.below(3) {
                let at = rng.below(b.len());
                match rng.below(3) {
                    0 => b[at] = rng.byte(),
                    1 => b.insert(at, rng.byte()),
                    _ => {
                        b.remove(at);
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
        }
        // Two damages at once.
        _ => {
            b = mutate(&b, places, rng);
            b = mutate(&b, &self::places(&b), rng);
        }
    }
    b
}

/// What came of the cases.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    refused_by_prost: usize,
    accepted_by_both: usize,
}

fn check(bytes: &[u8], tally: &mut Tally) {
    tally.cases += 1;
    let ours = orcheo_span_tree::decode(bytes, Format::OtlpProto);
    match TracesData::decode(bytes) {
        Err(prost_error) => {
            tally.refused_by_prost += 1;
            if let Ok(decoded) = ours {
                panic!(
                    "prost refuses ({prost_error}), we read {} spans from {bytes:02x?}",
                    decoded.spans.len()
                );
            }
        }
        Ok(data) => {
            let Ok(ours) = ours else {
                return;
            };
            tally.accepted_by_both += 1;
            let (mut expected, mut anomalies) = (Vec::new(), Vec::new());
            orcheo_span_tree::formats::otlp_proto::convert(
                data.resource_spans,
                &mut expected,
                &mut anomalies,
            );
            // Compared as text: a damaged double may be NaN, which equals nothing.
            assert_eq!(
                format!("{:?}", ours.spans),
                format!("{expected:?}"),
                "{bytes:02x?}"
            );
        }
    }
}

#[test]
fn what_prost_refuses_is_refused() {
    let mut seeds = vec![
        rich_payload().encode_to_vec(),
        plain_payload().encode_to_vec(),
    ];
    seeds.extend(deep_payloads());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut tally = Tally::default();
    for seed in &seeds {
        check(seed, &mut tally);
    }
    assert_eq!(tally.accepted_by_both, seeds.len(), "every seed is valid");
    for (i, seed) in seeds.iter().enumerate() {
        let places = places(seed);
        assert!(places.keys.len() > 10, "seed {i} has its fields found");
        // The two rich seeds get most of the cases; the deep ones exercise the depth rules.
        let rounds = if i < 2 { 12_000 } else { 300 };
        for _ in 0..rounds {
            check(&mutate(seed, &places, &mut rng), &mut tally);
        }
    }
    assert!(tally.cases > 25_000, "{tally:?}");
    assert!(tally.refused_by_prost > 10_000, "{tally:?}");
    assert!(tally.accepted_by_both > 1_000, "{tally:?}");
}

#[test]
fn values_nested_past_prosts_limit_are_refused_and_at_it_read() {
    for lists in [false, true] {
        let at = |messages: u32| {
            let mut data = plain_payload();
            data.resource_spans[0].scope_spans[0].spans[0].attributes = vec![KeyValue {
                key: "deep".to_owned(),
                value: Some(nested_value(messages, lists)),
                ..KeyValue::default()
            }];
            data.encode_to_vec()
        };
        // The span's key-value is level 4, so its value's innermost message is at 4 + messages.
        let mut accepted = 0;
        for messages in 90..=100 {
            let bytes = at(messages);
            let prost = TracesData::decode(bytes.as_slice()).is_ok();
            let ours = orcheo_span_tree::decode(&bytes, Format::OtlpProto).is_ok();
            assert_eq!(ours, prost, "{messages} levels, lists: {lists}");
            accepted += usize::from(ours);
        }
        assert!(
            (1..11).contains(&accepted),
            "some depths on each side of the limit"
        );
    }
}
