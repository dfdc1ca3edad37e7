//! OTLP protobuf (`TracesData`, which is wire-compatible with `ExportTraceServiceRequest` and
//! Tempo's `tempopb.Trace`: all three carry `ResourceSpans` as field 1).
//!
//! Payloads are read by hand straight into [`RawSpan`]s: going through the generated `prost`
//! types first would build (and grow, and free) a second copy of every span. What `prost` would
//! refuse is refused here too: every field of the schema is checked for its wire type, every
//! string for UTF-8 (fields this decoder does not keep included), and messages may nest no deeper
//! than `prost` lets them. With the `otlp-proto-types` feature, `convert` turns those generated
//! types into spans for callers that already have them.

use std::sync::Arc;

use super::SpanSink;
use crate::protobuf::{
    MAX_MESSAGE_DEPTH, Reader, Recent, WireError, WireErrorKind, WireType, text,
};
use orcheo_trace_model::{
    Anomaly, AttributeValue, KeyValue, LinkKind, RawSpan, RawStatus, Resource, Scope, SmolStr,
    SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, Timestamp, TraceId, semconv,
};

#[cfg(feature = "otlp-proto-types")]
mod from_types;
#[cfg(feature = "otlp-proto-types")]
pub use from_types::convert;

/// Field numbers of the OTLP trace messages (opentelemetry/proto/trace/v1/trace.proto,
/// common/v1/common.proto and resource/v1/resource.proto).
mod field {
    pub(super) const TRACES_DATA_RESOURCE_SPANS: u32 = 1;
    pub(super) const RESOURCE_SPANS_RESOURCE: u32 = 1;
    pub(super) const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
    pub(super) const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
    /// `instrumentation_library_spans`, deprecated but still sent by old exporters.
    pub(super) const RESOURCE_SPANS_LEGACY_SCOPE_SPANS: u32 = 1000;
    pub(super) const RESOURCE_ATTRIBUTES: u32 = 1;
    pub(super) const RESOURCE_DROPPED_ATTRIBUTES: u32 = 2;
    pub(super) const RESOURCE_ENTITY_REFS: u32 = 3;
    pub(super) const ENTITY_REF_SCHEMA_URL: u32 = 1;
    pub(super) const ENTITY_REF_TYPE: u32 = 2;
    pub(super) const ENTITY_REF_ID_KEYS: u32 = 3;
    pub(super) const ENTITY_REF_DESCRIPTION_KEYS: u32 = 4;
    pub(super) const SCOPE_SPANS_SCOPE: u32 = 1;
    pub(super) const SCOPE_SPANS_SPANS: u32 = 2;
    pub(super) const SCOPE_SPANS_SCHEMA_URL: u32 = 3;
    pub(super) const SCOPE_NAME: u32 = 1;
    pub(super) const SCOPE_VERSION: u32 = 2;
    pub(super) const SCOPE_ATTRIBUTES: u32 = 3;
    pub(super) const SCOPE_DROPPED_ATTRIBUTES: u32 = 4;
    pub(super) const SPAN_TRACE_ID: u32 = 1;
    pub(super) const SPAN_SPAN_ID: u32 = 2;
    pub(super) const SPAN_TRACE_STATE: u32 = 3;
    pub(super) const SPAN_PARENT_SPAN_ID: u32 = 4;
    pub(super) const SPAN_NAME: u32 = 5;
    pub(super) const SPAN_KIND: u32 = 6;
    pub(super) const SPAN_START: u32 = 7;
    pub(super) const SPAN_END: u32 = 8;
    pub(super) const SPAN_ATTRIBUTES: u32 = 9;
    pub(super) const SPAN_DROPPED_ATTRIBUTES: u32 = 10;
    pub(super) const SPAN_EVENTS: u32 = 11;
    pub(super) const SPAN_DROPPED_EVENTS: u32 = 12;
    pub(super) const SPAN_LINKS: u32 = 13;
    pub(super) const SPAN_DROPPED_LINKS: u32 = 14;
    pub(super) const SPAN_STATUS: u32 = 15;
    pub(super) const SPAN_FLAGS: u32 = 16;
    pub(super) const EVENT_TIME: u32 = 1;
    pub(super) const EVENT_NAME: u32 = 2;
    pub(super) const EVENT_ATTRIBUTES: u32 = 3;
    pub(super) const EVENT_DROPPED_ATTRIBUTES: u32 = 4;
    pub(super) const LINK_TRACE_ID: u32 = 1;
    pub(super) const LINK_SPAN_ID: u32 = 2;
    pub(super) const LINK_TRACE_STATE: u32 = 3;
    pub(super) const LINK_ATTRIBUTES: u32 = 4;
    pub(super) const LINK_DROPPED_ATTRIBUTES: u32 = 5;
    pub(super) const LINK_FLAGS: u32 = 6;
    pub(super) const STATUS_MESSAGE: u32 = 2;
    pub(super) const STATUS_CODE: u32 = 3;
    pub(super) const KEY_VALUE_KEY: u32 = 1;
    pub(super) const KEY_VALUE_VALUE: u32 = 2;
    pub(super) const KEY_VALUE_KEY_STRINDEX: u32 = 3;
    pub(super) const ANY_STRING: u32 = 1;
    pub(super) const ANY_BOOL: u32 = 2;
    pub(super) const ANY_INT: u32 = 3;
    pub(super) const ANY_DOUBLE: u32 = 4;
    pub(super) const ANY_ARRAY: u32 = 5;
    pub(super) const ANY_KVLIST: u32 = 6;
    pub(super) const ANY_BYTES: u32 = 7;
    pub(super) const ANY_STRING_STRINDEX: u32 = 8;
    /// `ArrayValue.values` and `KeyValueList.values`.
    pub(super) const LIST_VALUES: u32 = 1;
}

/// How deep each kind of key-value sits, `TracesData` being level 0: what `prost` counts
/// against [`MAX_MESSAGE_DEPTH`].
mod depth {
    /// `TracesData` → `ResourceSpans` → `Resource` → `KeyValue`.
    pub(super) const RESOURCE_KEY_VALUE: u32 = 3;
    /// … → `ScopeSpans` → `InstrumentationScope` (or `Span`) → `KeyValue`.
    pub(super) const SCOPE_KEY_VALUE: u32 = 4;
    pub(super) const SPAN_KEY_VALUE: u32 = 4;
    /// … → `Span` → `Event` (or `Link`) → `KeyValue`.
    pub(super) const EVENT_KEY_VALUE: u32 = 5;
    pub(super) const LINK_KEY_VALUE: u32 = 5;
}

use WireType::{Fixed32, Fixed64, Len, Varint};

/// Decodes protobuf bytes straight into spans; a span with unusable ids is reported in
/// `anomalies` and skipped, a structurally broken payload is an error.
///
/// Two steps: a walk over the three levels above the spans (resources and scopes decoded, each
/// span's bytes listed), then the spans themselves, on several threads when there are enough of
/// them ([`super::decode_in_runs`]). Spans listed before a broken part of the payload are decoded
/// first: a broken span among them comes earlier in the payload, so its error is the one to
/// report.
pub(crate) fn decode_into(
    bytes: &[u8],
    out: &mut Vec<RawSpan>,
    anomalies: &mut Vec<Anomaly>,
) -> Result<(), WireError> {
    let mut listed = Listed::default();
    let walked = walk(bytes, &mut listed);
    super::decode_in_runs(listed.spans.len(), out, anomalies, |run, out, anomalies| {
        decode_run(&listed, run, out, anomalies)
    })?;
    walked
}

/// The spans of a payload, each with the resource and scope it belongs to.
#[derive(Default)]
struct Listed<'a> {
    /// (resource, scope) pairs, in the order their blocks came.
    owners: Vec<(Arc<Resource>, Option<Arc<Scope>>)>,
    /// Each span's bytes and its index in `owners`.
    spans: Vec<(Reader<'a>, usize)>,
    shared: Shared<'a>,
}

/// Lists the spans of the resource blocks of a `TracesData`.
fn walk<'a>(bytes: &'a [u8], listed: &mut Listed<'a>) -> Result<(), WireError> {
    let mut r = Reader::new(bytes);
    while let Some((number, wire)) = r.field()? {
        if number == field::TRACES_DATA_RESOURCE_SPANS {
            r.expect("resource_spans", wire, Len)?;
            resource_spans(r.len()?, listed)?;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(())
}

/// Decodes the listed spans of `run`, in order.
fn decode_run(
    listed: &Listed<'_>,
    run: std::ops::Range<usize>,
    out: &mut Vec<RawSpan>,
    anomalies: &mut Vec<Anomaly>,
) -> Result<(), WireError> {
    let mut sink = SpanSink::starting_at(out, anomalies, run.start);
    let mut reading = Reading::default();
    for &(bytes, owner) in &listed.spans[run] {
        let (resource, scope) = &listed.owners[owner];
        span(bytes, (resource, scope.as_ref()), &mut reading, &mut sink)?;
    }
    Ok(())
}

/// What a thread keeps from span to span while it decodes them: text seen in the span before,
/// and lists reused for events.
#[derive(Default)]
struct Reading {
    recent: Recent,
    scratch: Scratch,
}

/// Lists reused from span to span while a span's events and their attributes are read: what the
/// span keeps is then allocated once, at its size. Grown by pushes, a `Vec` makes room for four
/// items; a span has two events as a rule (a prompt and a response), often of one attribute.
#[derive(Default)]
struct Scratch {
    events: Vec<SpanEvent>,
    event_attributes: Vec<KeyValue>,
}

/// The last resource and scope decoded, by their encoded bytes. Blocks that repeat the same
/// resource (a store that keeps one block per span, an exporter that sends one per batch) share
/// one decoded copy instead of decoding it again.
#[derive(Default)]
struct Shared<'a> {
    resource: Option<(&'a [u8], Arc<Resource>)>,
    scope: Option<(&'a [u8], Arc<Scope>)>,
}

/// Where a span's text is remembered in [`Recent`]: the name, then each attribute's key and
/// value, then event names and event attribute keys (event values are content, rarely repeated).
mod slot {
    pub(super) const NAME: usize = 0;
    pub(super) const ATTRIBUTES: usize = 1;
    pub(super) const EVENTS: usize = 48;
    pub(super) const EVENT_KEYS: usize = 56;
}

/// What Tempo's `/api/v2/traces/{id}` answers with `Accept: application/protobuf`:
/// `TraceByIDResponse { Trace trace = 1; metrics = 2; PartialStatus status = 3; string message = 4 }`,
/// where `Trace` carries `ResourceSpans` as field 1, like `TracesData`.
pub(crate) fn decode_tempo_response_into(
    bytes: &[u8],
    decoded: &mut super::Decoded,
) -> Result<(), WireError> {
    const TRACE: u32 = 1;
    const STATUS: u32 = 3;
    const MESSAGE: u32 = 4;
    const PARTIAL: u64 = 1;
    let mut r = Reader::new(bytes);
    while let Some((number, wire)) = r.field()? {
        match number {
            TRACE => {
                r.expect("trace", wire, Len)?;
                let trace = r.bytes()?;
                decode_into(trace, &mut decoded.spans, &mut decoded.anomalies)?;
            }
            STATUS => {
                r.expect("status", wire, Varint)?;
                decoded.partial = r.varint()? == PARTIAL;
            }
            MESSAGE => {
                r.expect("message", wire, Len)?;
                decoded.message = Some(r.string()?).filter(|m| !m.is_empty());
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn resource_spans<'a>(mut r: Reader<'a>, listed: &mut Listed<'a>) -> Result<(), WireError> {
    let shared = &mut listed.shared;
    // Fields may come in any order: the resource is read first, then the span blocks. A block
    // with one resource message whose bytes match the last one's reuses it.
    let mut encoded: Vec<&'a [u8]> = Vec::new();
    let all = r;
    while let Some((number, wire)) = r.field()? {
        if number == field::RESOURCE_SPANS_RESOURCE {
            r.expect("resource", wire, Len)?;
            encoded.push(r.bytes()?);
        } else {
            r.skip(wire)?;
        }
    }
    let reused = match (encoded.as_slice(), &shared.resource) {
        ([one], Some((bytes, resource))) if one == bytes => Some(Arc::clone(resource)),
        _ => None,
    };
    let resource = if let Some(resource) = reused {
        resource
    } else {
        let resource = Arc::new(resource_of(&encoded)?);
        if let [one] = encoded.as_slice() {
            shared.resource = Some((one, Arc::clone(&resource)));
        }
        resource
    };
    let mut r = all;
    while let Some((number, wire)) = r.field()? {
        match number {
            field::RESOURCE_SPANS_SCOPE_SPANS | field::RESOURCE_SPANS_LEGACY_SCOPE_SPANS => {
                r.expect("scope_spans", wire, Len)?;
                scope_spans(r.len()?, &resource, listed)?;
            }
            field::RESOURCE_SPANS_SCHEMA_URL => {
                r.expect("resource_spans.schema_url", wire, Len)?;
                r.str()?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// A resource from its messages in one block: repeated, a singular message merges.
fn resource_of(encoded: &[&[u8]]) -> Result<Resource, WireError> {
    let mut resource = Resource::default();
    for bytes in encoded {
        let mut res = Reader::new(bytes);
        while let Some((number, wire)) = res.field()? {
            match number {
                field::RESOURCE_ATTRIBUTES => {
                    res.expect("resource.attributes", wire, Len)?;
                    let kv = key_value(res.len()?, depth::RESOURCE_KEY_VALUE, None)?;
                    resource.attributes.push(kv);
                }
                field::RESOURCE_DROPPED_ATTRIBUTES => {
                    res.expect("resource.dropped_attributes_count", wire, Varint)?;
                    res.varint()?;
                }
                field::RESOURCE_ENTITY_REFS => {
                    res.expect("resource.entity_refs", wire, Len)?;
                    entity_ref(res.len()?)?;
                }
                _ => res.skip(wire)?,
            }
        }
    }
    Ok(resource)
}

/// Checks an `EntityRef`, which spans do not keep.
fn entity_ref(mut r: Reader<'_>) -> Result<(), WireError> {
    while let Some((number, wire)) = r.field()? {
        match number {
            field::ENTITY_REF_SCHEMA_URL
            | field::ENTITY_REF_TYPE
            | field::ENTITY_REF_ID_KEYS
            | field::ENTITY_REF_DESCRIPTION_KEYS => {
                r.expect("entity_ref", wire, Len)?;
                r.str()?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn scope_spans<'a>(
    r: Reader<'a>,
    resource: &Arc<Resource>,
    listed: &mut Listed<'a>,
) -> Result<(), WireError> {
    // One pass over the block: the scope may come after the spans, so the spans are listed
    // against the owner this block will have, and its scope is settled at the end. A second
    // pass would read every span's header from memory again (a cache miss each, once the
    // payload is larger than the cache).
    let owner = listed.owners.len();
    let mut scope = None;
    let read = list_scope_block(r, owner, listed, &mut scope);
    // The spans listed before a break in the block are still decoded: they need their owner.
    listed.owners.push((Arc::clone(resource), scope));
    read
}

/// Lists a `ScopeSpans` block's spans against `owner`, and reads its scope into `scope`.
fn list_scope_block<'a>(
    mut r: Reader<'a>,
    owner: usize,
    listed: &mut Listed<'a>,
    scope: &mut Option<Arc<Scope>>,
) -> Result<(), WireError> {
    let mut scope_messages = 0;
    while let Some((number, wire)) = r.field()? {
        match number {
            field::SCOPE_SPANS_SPANS => {
                r.expect("spans", wire, Len)?;
                listed.spans.push((r.len()?, owner));
            }
            field::SCOPE_SPANS_SCOPE => {
                r.expect("scope", wire, Len)?;
                let bytes = r.bytes()?;
                scope_messages += 1;
                let shared = &mut listed.shared.scope;
                *scope = Some(match shared {
                    Some((last, same)) if scope_messages == 1 && *last == bytes => Arc::clone(same),
                    _ => {
                        let decoded = scope_message(bytes, scope.take())?;
                        if scope_messages == 1 {
                            *shared = Some((bytes, Arc::clone(&decoded)));
                        }
                        decoded
                    }
                });
            }
            field::SCOPE_SPANS_SCHEMA_URL => {
                r.expect("scope_spans.schema_url", wire, Len)?;
                r.str()?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// A scope message, merged into the one before it in the same block: a repeated singular message
/// merges, as protobuf specifies.
fn scope_message(bytes: &[u8], earlier: Option<Arc<Scope>>) -> Result<Arc<Scope>, WireError> {
    let mut s = Reader::new(bytes);
    let (mut name, mut version) = earlier.map_or((String::new(), None), |e| {
        (e.name.clone(), e.version.clone())
    });
    while let Some((number, wire)) = s.field()? {
        match number {
            field::SCOPE_NAME => {
                s.expect("scope.name", wire, Len)?;
                name = s.string()?;
            }
            field::SCOPE_VERSION => {
                s.expect("scope.version", wire, Len)?;
                version = Some(s.string()?).filter(|v| !v.is_empty());
            }
            // Not kept, but read: a broken attribute makes the payload one `prost` refuses.
            field::SCOPE_ATTRIBUTES => {
                s.expect("scope.attributes", wire, Len)?;
                key_value(s.len()?, depth::SCOPE_KEY_VALUE, None)?;
            }
            field::SCOPE_DROPPED_ATTRIBUTES => {
                s.expect("scope.dropped_attributes_count", wire, Varint)?;
                s.varint()?;
            }
            _ => s.skip(wire)?,
        }
    }
    Ok(Arc::new(Scope { name, version }))
}

/// One span, into the sink: a span whose ids are unusable is reported there; the error is a
/// broken payload.
#[allow(
    clippy::too_many_lines,
    reason = "one arm per field of the schema, each checking its wire type"
)]
fn span(
    mut r: Reader<'_>,
    (resource, scope): (&Arc<Resource>, Option<&Arc<Scope>>),
    reading: &mut Reading,
    sink: &mut SpanSink<'_>,
) -> Result<(), WireError> {
    let Reading { recent, scratch } = reading;
    let (mut trace_id, mut span_id, mut parent): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut name = SmolStr::default();
    let (mut kind, mut start, mut end) = (0u64, 0u64, 0u64);
    let (mut attributes, mut links) = (Vec::new(), Vec::new());
    let events = &mut scratch.events;
    events.clear();
    let mut status = RawStatus::default();
    while let Some((number, wire)) = r.field()? {
        match number {
            field::SPAN_TRACE_ID => {
                r.expect("span.trace_id", wire, Len)?;
                trace_id = r.bytes()?;
            }
            field::SPAN_SPAN_ID => {
                r.expect("span.span_id", wire, Len)?;
                span_id = r.bytes()?;
            }
            field::SPAN_PARENT_SPAN_ID => {
                r.expect("span.parent_span_id", wire, Len)?;
                parent = r.bytes()?;
            }
            field::SPAN_NAME => {
                r.expect("span.name", wire, Len)?;
                r.recent_into(recent, slot::NAME, text, &mut name)?;
            }
            field::SPAN_KIND => {
                r.expect("span.kind", wire, Varint)?;
                kind = r.varint()?;
            }
            field::SPAN_START => {
                r.expect("span.start_time_unix_nano", wire, Fixed64)?;
                start = r.fixed64()?;
            }
            field::SPAN_END => {
                r.expect("span.end_time_unix_nano", wire, Fixed64)?;
                end = r.fixed64()?;
            }
            field::SPAN_ATTRIBUTES => {
                r.expect("span.attributes", wire, Len)?;
                if attributes.capacity() == 0 {
                    // Spans carry several attributes as a rule: one allocation, not 4 then 8.
                    attributes.reserve_exact(8);
                }
                let at = slot::ATTRIBUTES + 2 * attributes.len();
                // The key takes `at`, a string value `at + 1`; both below the event slots.
                let places = (at + 1 < slot::EVENTS).then_some(Places {
                    recent: &mut *recent,
                    key: at,
                    value: Some(at + 1),
                });
                // Read in place: a key-value is moved once, not returned and pushed. Most
                // values are strings: one starts as an empty string, written in place.
                attributes.push(KeyValue {
                    key: SmolStr::default(),
                    value: AttributeValue::String(SmolStr::default()),
                });
                if let Some(kv) = attributes.last_mut() {
                    key_value_into(r.len()?, depth::SPAN_KEY_VALUE, places, kv)?;
                }
            }
            field::SPAN_EVENTS => {
                r.expect("span.events", wire, Len)?;
                let at = slot::EVENTS + events.len().min(slot::EVENT_KEYS - slot::EVENTS - 1);
                events.push(event(r.len()?, recent, at, &mut scratch.event_attributes)?);
            }
            field::SPAN_LINKS => {
                r.expect("span.links", wire, Len)?;
                links.extend(link(r.len()?)?);
            }
            field::SPAN_STATUS => {
                r.expect("span.status", wire, Len)?;
                span_status(r.len()?, &mut status)?;
            }
            field::SPAN_TRACE_STATE => {
                r.expect("span.trace_state", wire, Len)?;
                r.str()?;
            }
            field::SPAN_DROPPED_ATTRIBUTES
            | field::SPAN_DROPPED_EVENTS
            | field::SPAN_DROPPED_LINKS => {
                r.expect("span.dropped_*_count", wire, Varint)?;
                r.varint()?;
            }
            field::SPAN_FLAGS => {
                r.expect("span.flags", wire, Fixed32)?;
                r.fixed32()?;
            }
            _ => r.skip(wire)?,
        }
    }
    let ids = (|| {
        let trace_id = TraceId::from_slice(trace_id).map_err(|e| format!("trace_id: {e}"))?;
        let span_id = SpanId::from_slice(span_id).map_err(|e| format!("span_id: {e}"))?;
        let parent_span_id = if parent.iter().all(|b| *b == 0) {
            None
        } else {
            Some(SpanId::from_slice(parent).map_err(|e| format!("parent_span_id: {e}"))?)
        };
        Ok::<_, String>((trace_id, span_id, parent_span_id))
    })();
    let (trace_id, span_id, parent_span_id) = match ids {
        Ok(ids) => ids,
        Err(detail) => {
            sink.reject(&detail);
            return Ok(());
        }
    };
    sink.accept(RawSpan {
        trace_id,
        span_id,
        parent_span_id,
        name,
        kind: SpanKind::from_otlp(kind.cast_signed()),
        start_time: Timestamp::from_unix_nanos(start),
        end_time: (end != 0).then(|| Timestamp::from_unix_nanos(end)),
        status,
        attributes,
        events: kept(events),
        links,
        resource: Arc::clone(resource),
        scope: scope.cloned(),
        warnings: Vec::new(),
    });
    Ok(())
}

/// An event, its attributes read into `attributes` (cleared first) and kept at their size.
fn event(
    mut r: Reader<'_>,
    recent: &mut Recent,
    name_slot: usize,
    attributes: &mut Vec<KeyValue>,
) -> Result<SpanEvent, WireError> {
    let mut event = SpanEvent {
        name: SmolStr::default(),
        time: None,
        attributes: Vec::new(),
    };
    attributes.clear();
    while let Some((number, wire)) = r.field()? {
        match number {
            field::EVENT_TIME => {
                r.expect("event.time_unix_nano", wire, Fixed64)?;
                event.time = Some(r.fixed64()?)
                    .filter(|t| *t != 0)
                    .map(Timestamp::from_unix_nanos);
            }
            field::EVENT_NAME => {
                r.expect("event.name", wire, Len)?;
                r.recent_into(recent, name_slot, semconv::key, &mut event.name)?;
            }
            field::EVENT_ATTRIBUTES => {
                r.expect("event.attributes", wire, Len)?;
                // The key is remembered, the value (content, as a rule) is not.
                let places = Places {
                    recent: &mut *recent,
                    key: slot::EVENT_KEYS + attributes.len(),
                    value: None,
                };
                attributes.push(key_value(r.len()?, depth::EVENT_KEY_VALUE, Some(places))?);
            }
            field::EVENT_DROPPED_ATTRIBUTES => {
                r.expect("event.dropped_attributes_count", wire, Varint)?;
                r.varint()?;
            }
            _ => r.skip(wire)?,
        }
    }
    event.attributes = kept(attributes);
    Ok(event)
}

/// The items of a scratch list, moved into a list of exactly their number; the scratch list keeps
/// its room for the next span.
#[allow(
    clippy::drain_collect,
    reason = "`mem::take` would hand the scratch list over, room to spare included"
)]
fn kept<T>(scratch: &mut Vec<T>) -> Vec<T> {
    scratch.drain(..).collect()
}

/// A link; one with unusable ids says nothing usable and is left out.
fn link(mut r: Reader<'_>) -> Result<Option<SpanLink>, WireError> {
    let (mut trace_id, mut span_id): (&[u8], &[u8]) = (&[], &[]);
    let mut attributes = Vec::new();
    while let Some((number, wire)) = r.field()? {
        match number {
            field::LINK_TRACE_ID => {
                r.expect("link.trace_id", wire, Len)?;
                trace_id = r.bytes()?;
            }
            field::LINK_SPAN_ID => {
                r.expect("link.span_id", wire, Len)?;
                span_id = r.bytes()?;
            }
            field::LINK_ATTRIBUTES => {
                r.expect("link.attributes", wire, Len)?;
                attributes.push(key_value(r.len()?, depth::LINK_KEY_VALUE, None)?);
            }
            field::LINK_TRACE_STATE => {
                r.expect("link.trace_state", wire, Len)?;
                r.str()?;
            }
            field::LINK_DROPPED_ATTRIBUTES => {
                r.expect("link.dropped_attributes_count", wire, Varint)?;
                r.varint()?;
            }
            field::LINK_FLAGS => {
                r.expect("link.flags", wire, Fixed32)?;
                r.fixed32()?;
            }
            _ => r.skip(wire)?,
        }
    }
    let (Ok(trace_id), Ok(span_id)) = (TraceId::from_slice(trace_id), SpanId::from_slice(span_id))
    else {
        return Ok(None);
    };
    Ok(Some(SpanLink {
        trace_id,
        span_id,
        kind: LinkKind::Link,
        attributes,
    }))
}

/// Reads a status into `status`: a repeated singular message merges, as protobuf specifies.
fn span_status(mut r: Reader<'_>, status: &mut RawStatus) -> Result<(), WireError> {
    while let Some((number, wire)) = r.field()? {
        match number {
            field::STATUS_MESSAGE => {
                r.expect("status.message", wire, Len)?;
                status.message = Some(r.string()?).filter(|m| !m.is_empty());
            }
            field::STATUS_CODE => {
                r.expect("status.code", wire, Varint)?;
                status.code = StatusCode::from_otlp(r.varint()?.cast_signed());
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// Where a key-value's text is remembered in [`Recent`]: the key at `key`, a string value at
/// `value` (when given).
struct Places<'r> {
    recent: &'r mut Recent,
    key: usize,
    value: Option<usize>,
}

/// The bytes of a message field at `depth`, refused past `prost`'s recursion limit.
fn nested<'a>(r: &mut Reader<'a>, depth: u32) -> Result<Reader<'a>, WireError> {
    if depth > MAX_MESSAGE_DEPTH {
        return Err(WireError::new(WireErrorKind::TooDeep, r.offset()));
    }
    r.len()
}

/// Skips an unknown field of a message at `depth`: at the deepest level `prost` allows, it
/// refuses one, as it would a message.
fn skip_unknown(r: &mut Reader<'_>, wire: WireType, depth: u32) -> Result<(), WireError> {
    if depth >= MAX_MESSAGE_DEPTH {
        return Err(WireError::new(WireErrorKind::TooDeep, r.offset()));
    }
    r.skip(wire)
}

/// A key-value at `depth`; with places in [`Recent`], its key and string value are shared with
/// the previous span's when equal.
fn key_value(r: Reader<'_>, depth: u32, places: Option<Places<'_>>) -> Result<KeyValue, WireError> {
    let mut kv = KeyValue {
        key: SmolStr::default(),
        value: AttributeValue::Empty,
    };
    key_value_into(r, depth, places, &mut kv)?;
    Ok(kv)
}

fn key_value_into(
    mut r: Reader<'_>,
    depth: u32,
    mut places: Option<Places<'_>>,
    kv: &mut KeyValue,
) -> Result<(), WireError> {
    // `kv` may come with a value to write in place: without a value field it has none.
    let mut valued = false;
    while let Some((number, wire)) = r.field()? {
        match number {
            field::KEY_VALUE_KEY => {
                r.expect("key_value.key", wire, Len)?;
                match places.as_mut() {
                    Some(p) => r.recent_into(p.recent, p.key, semconv::key, &mut kv.key)?,
                    None => kv.key = r.key()?,
                }
            }
            field::KEY_VALUE_VALUE => {
                r.expect("key_value.value", wire, Len)?;
                valued = true;
                let value = nested(&mut r, depth + 1)?;
                match places.as_mut() {
                    Some(Places {
                        recent,
                        value: Some(at),
                        ..
                    }) => string_or_any_value_into(value, depth + 1, recent, *at, &mut kv.value)?,
                    _ => kv.value = any_value(value, depth + 1)?,
                }
            }
            field::KEY_VALUE_KEY_STRINDEX => {
                r.expect("key_value.key_strindex", wire, Varint)?;
                r.varint()?;
            }
            _ => skip_unknown(&mut r, wire, depth)?,
        }
    }
    if !valued {
        kv.value = AttributeValue::Empty;
    }
    Ok(())
}

/// An `AnyValue` read into `out`; its string member, the usual case, is shared through
/// [`Recent`] and written in place.
fn string_or_any_value_into(
    r: Reader<'_>,
    depth: u32,
    recent: &mut Recent,
    at: usize,
    out: &mut AttributeValue,
) -> Result<(), WireError> {
    let mut peek = r;
    match peek.field()? {
        Some((field::ANY_STRING, Len)) => {
            let string = peek.len()?;
            if peek.is_empty() {
                if !matches!(out, AttributeValue::String(_)) {
                    *out = AttributeValue::String(SmolStr::default());
                }
                if let AttributeValue::String(out) = out {
                    string.recent_into_here(recent, at, text, out)?;
                }
                return Ok(());
            }
        }
        // Token counts and sizes: an integer alone, written without the general path.
        Some((field::ANY_INT, Varint)) => {
            let int = peek.varint()?.cast_signed();
            if peek.is_empty() {
                *out = AttributeValue::Int(int);
                return Ok(());
            }
        }
        _ => {}
    }
    *out = any_value(r, depth)?;
    Ok(())
}

/// An `AnyValue` at `depth`.
fn any_value(mut r: Reader<'_>, depth: u32) -> Result<AttributeValue, WireError> {
    let mut value = AttributeValue::Empty;
    // A oneof: when several members are sent, the last one wins.
    while let Some((number, wire)) = r.field()? {
        value = match number {
            field::ANY_STRING => {
                r.expect("any_value.string_value", wire, Len)?;
                AttributeValue::String(r.text()?)
            }
            field::ANY_BOOL => {
                r.expect("any_value.bool_value", wire, Varint)?;
                AttributeValue::Bool(r.varint()? != 0)
            }
            field::ANY_INT => {
                r.expect("any_value.int_value", wire, Varint)?;
                AttributeValue::Int(r.varint()?.cast_signed())
            }
            field::ANY_DOUBLE => {
                r.expect("any_value.double_value", wire, Fixed64)?;
                AttributeValue::Double(f64::from_bits(r.fixed64()?))
            }
            field::ANY_BYTES => {
                r.expect("any_value.bytes_value", wire, Len)?;
                AttributeValue::Bytes(r.bytes()?.to_vec())
            }
            field::ANY_ARRAY => {
                r.expect("any_value.array_value", wire, Len)?;
                let mut list = nested(&mut r, depth + 1)?;
                let mut items = Vec::new();
                while let Some((number, wire)) = list.field()? {
                    if number == field::LIST_VALUES {
                        list.expect("array_value.values", wire, Len)?;
                        items.push(any_value(nested(&mut list, depth + 2)?, depth + 2)?);
                    } else {
                        skip_unknown(&mut list, wire, depth + 1)?;
                    }
                }
                AttributeValue::Array(items)
            }
            field::ANY_KVLIST => {
                r.expect("any_value.kvlist_value", wire, Len)?;
                let mut list = nested(&mut r, depth + 1)?;
                let mut items = Vec::new();
                while let Some((number, wire)) = list.field()? {
                    if number == field::LIST_VALUES {
                        list.expect("kvlist_value.values", wire, Len)?;
                        items.push(key_value(nested(&mut list, depth + 2)?, depth + 2, None)?);
                    } else {
                        skip_unknown(&mut list, wire, depth + 1)?;
                    }
                }
                AttributeValue::Map(items)
            }
            // An index into a profiles string table, which traces do not carry: kept as stated.
            field::ANY_STRING_STRINDEX => {
                r.expect("any_value.string_value_strindex", wire, Varint)?;
                AttributeValue::Map(vec![KeyValue::new(
                    "string_value_strindex",
                    r.varint()?.cast_signed(),
                )])
            }
            _ => {
                skip_unknown(&mut r, wire, depth)?;
                continue;
            }
        };
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};
    use prost::Message as _;

    use super::*;

    fn block(service: &str, span: u8) -> ResourceSpans {
        ResourceSpans {
            resource: Some(ProtoResource {
                attributes: vec![KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.to_owned())),
                    }),
                    ..KeyValue::default()
                }],
                ..ProtoResource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "scope".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![span; 8],
                    name: format!("s{span}"),
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }
    }

    fn attribute(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn text_repeated_from_span_to_span_is_shared_and_changes_are_seen() {
        use any_value::Value::{IntValue, StringValue};
        let text = |s: &str| StringValue(s.to_owned());
        let mut b = block("svc", 1);
        let spans = &mut b.scope_spans[0].spans;
        spans[0].attributes = vec![
            attribute(
                "orcheo.node.display_name",
                text("a long display name, kept once"),
            ),
            attribute("model", text("gpt")),
        ];
        let mut second = spans[0].clone();
        second.span_id = vec![2; 8];
        second.attributes = vec![
            attribute(
                "orcheo.node.display_name",
                text("a long display name, kept once"),
            ),
            attribute("model", text("gpt-4o")),
            attribute("count", IntValue(3)),
            attribute("tokens", IntValue(1_200)),
            attribute("delta", IntValue(-5)),
        ];
        let mut third = spans[0].clone();
        third.span_id = vec![3; 8];
        // Same key at the same place, but an int now; then a map where a string was.
        third.attributes = vec![
            attribute("orcheo.node.display_name", IntValue(7)),
            attribute("model", text("gpt-4o")),
        ];
        spans.extend([second, third]);
        let mut bytes = TracesData {
            resource_spans: vec![b],
        }
        .encode_to_vec();
        // Append a fourth span by hand, its attributes holding AnyValues with two members set:
        // the last one read wins, as protobuf specifies.
        let mut span_bytes = Span {
            trace_id: vec![1; 16],
            span_id: vec![4; 8],
            ..Span::default()
        }
        .encode_to_vec();
        for (key, first, last) in [
            ("model", text("first"), IntValue(9)),
            ("count", IntValue(9), text("last")),
        ] {
            let mut value = AnyValue { value: Some(first) }.encode_to_vec();
            value.extend(AnyValue { value: Some(last) }.encode_to_vec());
            let mut kv = Vec::new();
            prost::encoding::string::encode(1, &key.to_owned(), &mut kv);
            prost::encoding::bytes::encode(2, &value, &mut kv);
            prost::encoding::bytes::encode(9, &kv, &mut span_bytes);
        }
        let mut scope = Vec::new();
        prost::encoding::bytes::encode(2, &span_bytes, &mut scope);
        let mut resource_spans = Vec::new();
        prost::encoding::bytes::encode(2, &scope, &mut resource_spans);
        prost::encoding::bytes::encode(1, &resource_spans, &mut bytes);

        let (mut out, mut anomalies) = (Vec::new(), Vec::new());
        decode_into(&bytes, &mut out, &mut anomalies).unwrap();
        let values = |i: usize| -> Vec<(String, AttributeValue)> {
            out[i]
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.clone()))
                .collect()
        };
        let name = "orcheo.node.display_name".to_owned();
        let long = AttributeValue::from("a long display name, kept once");
        assert_eq!(
            values(0),
            [(name.clone(), long.clone()), ("model".into(), "gpt".into())]
        );
        assert_eq!(
            values(1),
            [
                (name.clone(), long),
                ("model".into(), "gpt-4o".into()),
                ("count".into(), AttributeValue::Int(3)),
                ("tokens".into(), AttributeValue::Int(1_200)),
                ("delta".into(), AttributeValue::Int(-5)),
            ]
        );
        assert_eq!(
            values(2),
            [
                (name, AttributeValue::Int(7)),
                ("model".into(), "gpt-4o".into())
            ]
        );
        assert_eq!(
            values(3),
            [
                ("model".into(), AttributeValue::Int(9)),
                ("count".into(), "last".into())
            ]
        );
    }

    /// A payload of several blocks and scopes, with spans whose ids are unusable here and there.
    fn mixed_payload(spans: u16) -> Vec<u8> {
        let resource_spans = (0..spans / 100)
            .map(|b| {
                let mut block = block(&format!("svc{}", b % 3), 0);
                let scope = block.scope_spans[0].clone();
                block.scope_spans = (0..2u16)
                    .map(|half| ScopeSpans {
                        spans: (0..50u16)
                            .map(|i| {
                                let n = b * 100 + half * 50 + i;
                                let [hi, lo] = n.to_be_bytes();
                                Span {
                                    trace_id: vec![1; 16],
                                    // Every 37th span's id is unusable: reported, not kept.
                                    span_id: if n % 37 == 0 {
                                        vec![lo; 3]
                                    } else {
                                        vec![1, 2, 3, 4, 5, 6, hi, lo]
                                    },
                                    name: format!("node {}", n % 7),
                                    attributes: vec![attribute(
                                        "orcheo.node.display_name",
                                        any_value::Value::StringValue(format!("n{}", n % 5)),
                                    )],
                                    ..Span::default()
                                }
                            })
                            .collect(),
                        ..scope.clone()
                    })
                    .collect();
                block
            })
            .collect();
        TracesData { resource_spans }.encode_to_vec()
    }

    fn decode_on(
        bytes: &[u8],
        threads: usize,
    ) -> (Vec<RawSpan>, Vec<Anomaly>, Result<(), WireError>) {
        let mut listed = Listed::default();
        let walked = walk(bytes, &mut listed);
        let (mut out, mut anomalies) = (Vec::new(), Vec::new());
        let result = super::super::decode_on_threads(
            listed.spans.len(),
            threads,
            &mut out,
            &mut anomalies,
            |run, out, anomalies| decode_run(&listed, run, out, anomalies),
        )
        .and(walked);
        (out, anomalies, result)
    }

    #[test]
    fn spans_decoded_on_several_threads_are_those_decoded_on_one_in_the_same_order() {
        let bytes = mixed_payload(1_000);
        let (one, one_anomalies, result) = decode_on(&bytes, 1);
        result.unwrap();
        assert_eq!(one.len(), 1_000 - 28);
        assert_eq!(one_anomalies.len(), 28);
        assert!(one_anomalies[1].detail.starts_with("span #37: span_id"));
        for threads in [2, 3, 7] {
            let (many, anomalies, result) = decode_on(&bytes, threads);
            result.unwrap();
            assert_eq!(many, one, "{threads} threads");
            assert_eq!(anomalies, one_anomalies, "{threads} threads");
        }
        // The public path agrees too, whatever the machine's cores.
        let (mut out, mut anomalies) = (Vec::new(), Vec::new());
        decode_into(&bytes, &mut out, &mut anomalies).unwrap();
        assert_eq!(out, one);
    }

    #[test]
    fn a_broken_payload_gives_the_same_error_on_any_number_of_threads() {
        let bytes = mixed_payload(1_000);
        // A span broken in the middle: an attribute's length past the span's end, in the run a
        // second thread would take; and a payload cut short in its last block.
        let mut listed = Listed::default();
        walk(&bytes, &mut listed).unwrap();
        let (span, _) = listed.spans[700];
        let at = bytes.len() - span.remaining().len();
        let mut broken = bytes.clone();
        // Field 9 (attributes) again and again, each with a length past the span's end.
        broken[at..at + span.remaining().len()].fill(0x4a);
        let cut = &bytes[..bytes.len() - 10];
        for payload in [&broken[..], cut] {
            let (_, _, one) = decode_on(payload, 1);
            let one = one.unwrap_err().to_string();
            for threads in [2, 4] {
                let (_, _, many) = decode_on(payload, threads);
                assert_eq!(many.unwrap_err().to_string(), one, "{threads} threads");
            }
        }
    }

    #[test]
    fn a_scope_sent_after_its_spans_still_belongs_to_them() {
        // ScopeSpans with its spans (field 2) first and the scope (field 1) last, legal in
        // protobuf; then a block cut short after its first span.
        let span = |id: u8| {
            Span {
                trace_id: vec![1; 16],
                span_id: vec![id; 8],
                ..Span::default()
            }
            .encode_to_vec()
        };
        let scope = InstrumentationScope {
            name: "late".to_owned(),
            version: "2".to_owned(),
            ..InstrumentationScope::default()
        }
        .encode_to_vec();
        let mut block = Vec::new();
        prost::encoding::bytes::encode(2, &span(1), &mut block);
        prost::encoding::bytes::encode(2, &span(2), &mut block);
        prost::encoding::bytes::encode(1, &scope, &mut block);
        let mut resource_spans = Vec::new();
        prost::encoding::bytes::encode(2, &block, &mut resource_spans);
        let mut bytes = Vec::new();
        prost::encoding::bytes::encode(1, &resource_spans, &mut bytes);

        let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
        decode_into(&bytes, &mut spans, &mut anomalies).unwrap();
        assert_eq!(spans.len(), 2);
        for s in &spans {
            let scope = s.scope.as_ref().unwrap();
            assert_eq!(
                (scope.name.as_str(), scope.version.as_deref()),
                ("late", Some("2"))
            );
        }

        // The same block with its last field's length running past the end: an error naming
        // where, and no panic for the span listed before the break.
        let mut cut = block.clone();
        let last = cut.len() - scope.len() - 1;
        cut[last] = 0x7f;
        let mut resource_spans = Vec::new();
        prost::encoding::bytes::encode(2, &cut, &mut resource_spans);
        let mut bytes = Vec::new();
        prost::encoding::bytes::encode(1, &resource_spans, &mut bytes);
        let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
        let err = decode_into(&bytes, &mut spans, &mut anomalies).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
    }

    #[test]
    fn events_and_their_attributes_are_kept_at_their_size_and_not_carried_to_the_next_span() {
        use opentelemetry_proto::tonic::trace::v1::span::Event;
        let event = |name: &str, keys: &[&str]| Event {
            name: name.to_owned(),
            attributes: keys
                .iter()
                .map(|k| attribute(k, any_value::Value::StringValue(format!("{k} text"))))
                .collect(),
            ..Event::default()
        };
        let mut b = block("svc", 1);
        let spans = &mut b.scope_spans[0].spans;
        spans[0].events = vec![
            event("prompt", &["preview"]),
            event("response", &["preview", "role", "truncated"]),
        ];
        let mut plain = spans[0].clone();
        plain.span_id = vec![2; 8];
        plain.events.clear();
        let mut one = spans[0].clone();
        one.span_id = vec![3; 8];
        one.events = vec![event("message", &[])];
        spans.extend([plain, one]);
        let bytes = TracesData {
            resource_spans: vec![b],
        }
        .encode_to_vec();

        let (mut out, mut anomalies) = (Vec::new(), Vec::new());
        decode_into(&bytes, &mut out, &mut anomalies).unwrap();
        let events = &out[0].events;
        assert_eq!((events.len(), events.capacity()), (2, 2));
        let sizes: Vec<_> = events
            .iter()
            .map(|e| (e.attributes.len(), e.attributes.capacity()))
            .collect();
        assert_eq!(sizes, [(1, 1), (3, 3)]);
        assert_eq!(events[1].attributes[2].key, "truncated");
        assert_eq!(events[1].attributes[2].value, "truncated text".into());
        assert!(out[1].events.is_empty());
        assert_eq!(out[2].events.len(), 1);
        assert_eq!(out[2].events[0].name, "message");
        assert!(out[2].events[0].attributes.is_empty());
    }

    #[test]
    fn blocks_repeating_a_resource_share_one_decoded_copy() {
        // One block per span, as the embedded store keeps them; the third has another service.
        let bytes: Vec<u8> = [block("a", 1), block("a", 2), block("b", 3)]
            .into_iter()
            .flat_map(|b| {
                TracesData {
                    resource_spans: vec![b],
                }
                .encode_to_vec()
            })
            .collect();
        let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
        decode_into(&bytes, &mut spans, &mut anomalies).unwrap();
        assert_eq!(spans.len(), 3);
        assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
        assert!(!Arc::ptr_eq(&spans[1].resource, &spans[2].resource));
        assert_eq!(
            spans[2].resource.attributes[0].value,
            AttributeValue::String("b".into())
        );
        let (first, second) = (
            spans[0].scope.as_ref().unwrap(),
            spans[1].scope.as_ref().unwrap(),
        );
        assert!(Arc::ptr_eq(first, second));
        assert_eq!(first.name, "scope");
    }
}
