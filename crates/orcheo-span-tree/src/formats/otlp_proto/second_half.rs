//! A large scope block's second half, decoded on a second thread while the first decodes the
//! first half.
//!
//! Listing a block reads each span's key and length, and where the next span starts depends on
//! that length: a chain of reads that wait on each other, about 100 ns a span where it was
//! measured, with the payload in the cache or not, while the other core waits for the list. An
//! SDK's export, and a store's answer for one trace, is as a rule one block holding every span.
//!
//! So the other thread looks, from the block's middle on, for the first place where two whole
//! spans with valid ids follow each other (or one ends the block), and decodes from there to the
//! block's end, each span as it comes; this thread decodes the block from its start the same way.
//! When it comes to exactly where the other thread started, it stops, and the other thread's
//! spans are taken: parsed from the same byte, they are the spans it would have decoded itself. A
//! start it passes over is dropped, and it decodes the whole block. Unreadable spans or a broken
//! part in the second half: that part is decoded again here, in payload order, so positions,
//! errors and anomalies are those of a one-thread decode. A scope message past the block's first
//! field changes the owner of every span in it: the payload is decoded again as usual.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{
    Listed, Reading, Shared, SpanSink, field, resource_of, scope_message, scope_spans, span,
    walk_from,
};
use crate::formats::proto_wire::{Reader, WireError, WireType};
use orcheo_trace_model::{RawSpan, Resource, Scope};

/// Smaller blocks are listed whole: a thread costs tens of microseconds to start, and the listing
/// of 256 KiB of spans (1,000 spans or more) takes longer.
const MIN_BLOCK_BYTES: usize = 256 * 1024;
/// Fields of the first resource block read in search of the large scope block.
const MAX_FIELDS: usize = 64;
/// How far past the middle the other thread looks for where a span starts.
const MAX_SEARCH_BYTES: usize = 64 * 1024;
/// The key a span has in a scope block: field 2, length-delimited.
const SPAN_KEY: u8 = 0x12;
/// How long this thread waits, at the block's middle, for the other one to say where it started.
const MAX_WAIT: Duration = Duration::from_millis(5);
/// Fields (spans, as a rule) the other thread reads between two looks at whether to stop.
const SPANS_BETWEEN_LOOKS: usize = 256;
/// Spans read before the list of spans is given room at once, at their size ([`room`]).
const SPANS_TO_SIZE: usize = 64;

/// A payload that begins with a large block: its first resource block holds one resource message
/// and then, as its first scope block, one of at least half the payload, which starts with its
/// scope message or a span.
pub(super) struct Big<'a> {
    block: Reader<'a>,
    owner: (Arc<Resource>, Option<Arc<Scope>>),
    /// The block's first field is its scope message, already decoded.
    scope_first: bool,
    /// The first resource block's fields after the large block.
    after: Reader<'a>,
    /// The payload's fields after the first resource block.
    top: Reader<'a>,
}

/// Finds the large block. The first resource block is read whole, as a one-thread decode reads
/// it before listing anything, so that a broken part there is that decode's to report; the
/// resource and scope are decoded into `shared`, where the listing of the rest finds them.
pub(super) fn find<'a>(bytes: &'a [u8], shared: &mut Shared<'a>) -> Option<Big<'a>> {
    let least = (bytes.len() / 2).max(MIN_BLOCK_BYTES);
    if bytes.len() < least || !crate::formats::spare_core() {
        return None;
    }
    let mut top = Reader::new(bytes);
    let (field::TRACES_DATA_RESOURCE_SPANS, WireType::Len) = top.field().ok()?? else {
        return None;
    };
    let mut r = top.len().ok()?;
    let (mut resource, mut block, mut after) = (None, None, None);
    for _ in 0..MAX_FIELDS {
        let Some((number, wire)) = r.field().ok()? else {
            let (encoded, block, after) = (resource?, block?, after?);
            let decoded = Arc::new(resource_of(&[encoded]).ok()?);
            shared.resource = Some((encoded, Arc::clone(&decoded)));
            let (scope, scope_first) = first_scope(block, shared)?;
            return Some(Big {
                block,
                owner: (decoded, scope),
                scope_first,
                after,
                top,
            });
        };
        match (number, wire) {
            (field::RESOURCE_SPANS_RESOURCE, WireType::Len)
                if resource.is_none() && block.is_none() =>
            {
                resource = Some(r.bytes().ok()?);
            }
            (
                field::RESOURCE_SPANS_SCOPE_SPANS | field::RESOURCE_SPANS_LEGACY_SCOPE_SPANS,
                WireType::Len,
            ) => {
                let spans = r.len().ok()?;
                if block.is_none() {
                    if spans.left() < least {
                        return None;
                    }
                    (block, after) = (Some(spans), Some(r));
                }
            }
            // A second resource message (they merge), or a field of the wrong type: left to the
            // one-thread decode.
            (
                field::RESOURCE_SPANS_RESOURCE
                | field::RESOURCE_SPANS_SCOPE_SPANS
                | field::RESOURCE_SPANS_LEGACY_SCOPE_SPANS,
                _,
            ) => return None,
            _ => r.skip(wire).ok()?,
        }
    }
    None
}

/// The scope a block starts with, and whether its first field is that scope message: the scope
/// message, or none when a span comes first.
fn first_scope<'a>(
    block: Reader<'a>,
    shared: &mut Shared<'a>,
) -> Option<(Option<Arc<Scope>>, bool)> {
    let mut r = block;
    match r.field().ok()?? {
        (field::SCOPE_SPANS_SPANS, WireType::Len) => Some((None, false)),
        (field::SCOPE_SPANS_SCOPE, WireType::Len) => {
            let bytes = r.bytes().ok()?;
            let scope = scope_message(bytes, None).ok()?;
            shared.scope = Some((bytes, Arc::clone(&scope)));
            Some((Some(scope), true))
        }
        _ => None,
    }
}

/// Where this thread stopped in the large block.
pub(super) enum Stop<'a> {
    /// Where the other thread started: the rest of the block from there.
    Met(Reader<'a>),
    /// At the block's end, having decoded all of it.
    End,
    /// At a scope message past the block's first field.
    Moved,
    /// Told to stop (the other thread only).
    Stopped,
}

/// Which part of the block a thread decodes.
#[derive(Clone, Copy)]
enum Part<'s> {
    /// This thread, from the block's start, looking for where the other one started.
    First(&'s Signals),
    /// This thread, the rest of the block from where the other one started.
    Rest,
    /// The other thread, from where it started, stopping when told to.
    Second(&'s Signals),
}

impl<'a> Big<'a> {
    fn owner(&self) -> (&Arc<Resource>, Option<&Arc<Scope>>) {
        (&self.owner.0, self.owner.1.as_ref())
    }

    /// Decodes the block from its start until where the other thread started.
    pub(super) fn first_half(
        &self,
        signals: &Signals,
        reading: &mut Reading,
        sink: &mut SpanSink<'_>,
    ) -> Result<Stop<'a>, WireError> {
        self.decode_from(self.block, Part::First(signals), reading, sink)
    }

    /// Decodes the rest of the block here, from where the other thread started: `false` at a
    /// scope message, which changes the owner of the whole block.
    pub(super) fn decode_here(
        &self,
        rest: Reader<'a>,
        reading: &mut Reading,
        sink: &mut SpanSink<'_>,
    ) -> Result<bool, WireError> {
        let stop = self.decode_from(rest, Part::Rest, reading, sink)?;
        Ok(!matches!(stop, Stop::Moved))
    }

    /// Decodes the block's spans from `from` on, as `part` says where to stop.
    fn decode_from(
        &self,
        from: Reader<'a>,
        part: Part<'_>,
        reading: &mut Reading,
        sink: &mut SpanSink<'_>,
    ) -> Result<Stop<'a>, WireError> {
        let middle = self.block.at() + self.block.left() / 2;
        let mut looking = match part {
            Part::First(signals) => Some(signals),
            Part::Rest | Part::Second(_) => None,
        };
        let (mut r, mut first, mut read) = (from, from.at() == self.block.at(), 0usize);
        loop {
            read += 1;
            if read == SPANS_TO_SIZE {
                // Room for every span from `from` on.
                sink.reserve(room(from, r));
            }
            if let Part::Second(signals) = part
                && read.is_multiple_of(SPANS_BETWEEN_LOOKS)
                && signals.stopped()
            {
                return Ok(Stop::Stopped);
            }
            let here = r;
            let Some((number, wire)) = r.field()? else {
                return Ok(Stop::End);
            };
            match number {
                field::SCOPE_SPANS_SPANS => {
                    if let Some(signals) = looking
                        && here.at() >= middle
                    {
                        match signals.meets(here.at()) {
                            Meeting::Here => return Ok(Stop::Met(here)),
                            Meeting::Ahead => {}
                            Meeting::Never => looking = None,
                        }
                    }
                    r.expect("spans", wire, WireType::Len)?;
                    span(r.len()?, self.owner(), reading, sink)?;
                }
                // The first field, decoded when the block was found.
                field::SCOPE_SPANS_SCOPE if first && self.scope_first => r.skip(wire)?,
                field::SCOPE_SPANS_SCOPE => return Ok(Stop::Moved),
                _ => r.skip(wire)?,
            }
            first = false;
        }
    }

    /// Lists what comes after the large block, as the walk of a one-thread decode would: more
    /// scope blocks of the first resource, then the payload's other resource blocks.
    pub(super) fn rest(&self, listed: &mut Listed<'a>) -> Result<(), WireError> {
        let mut r = self.after;
        while let Some((number, wire)) = r.field()? {
            if number == field::RESOURCE_SPANS_SCOPE_SPANS
                || number == field::RESOURCE_SPANS_LEGACY_SCOPE_SPANS
            {
                r.expect("scope_spans", wire, WireType::Len)?;
                scope_spans(r.len()?, &self.owner.0, listed)?;
            } else {
                r.skip(wire)?;
            }
        }
        walk_from(self.top, listed)
    }
}

/// What the two threads tell each other: where the other thread started (the address of a span's
/// key; none yet, or none found), and that its work is no longer wanted.
#[derive(Default)]
pub(super) struct Signals {
    start: AtomicUsize,
    stop: AtomicBool,
}

/// `start` before the other thread has looked.
const NOT_YET: usize = 0;
/// `start` when the other thread found no place to start.
const NOWHERE: usize = usize::MAX;

/// How a span this thread meets stands to where the other thread started.
enum Meeting {
    /// This span is where it started.
    Here,
    /// It started further on.
    Ahead,
    /// This thread passed where it started, or it found nowhere to start.
    Never,
}

impl Signals {
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn start_at(&self, at: usize) {
        self.start.store(at, Ordering::Release);
    }

    /// Where the other thread started, waited for: its search is short, and this thread comes to
    /// the middle later as a rule, but in a small block, or on a busy machine, the other may not
    /// have started yet. Without an answer in [`MAX_WAIT`] it is stopped.
    fn start(&self) -> usize {
        let mut start = self.start.load(Ordering::Acquire);
        if start != NOT_YET {
            return start;
        }
        let deadline = Instant::now() + MAX_WAIT;
        while start == NOT_YET {
            if Instant::now() > deadline {
                self.stop();
                return NOWHERE;
            }
            std::thread::yield_now();
            start = self.start.load(Ordering::Acquire);
        }
        start
    }

    /// Where the span at `at` stands to the other thread's start; a start passed over stops it.
    fn meets(&self, at: usize) -> Meeting {
        match self.start() {
            NOWHERE => Meeting::Never,
            start if start == at => Meeting::Here,
            start if start > at => Meeting::Ahead,
            _ => {
                self.stop();
                Meeting::Never
            }
        }
    }
}

/// The other thread's spans.
pub(super) struct Half {
    /// The address of the first span's key.
    start: usize,
    spans: Vec<RawSpan>,
    /// Read to the block's end, every span readable, no scope message met.
    clean: bool,
}

impl Half {
    /// Whether these are the spans this thread would have decoded from `at` on.
    pub(super) fn starts_at(&self, at: usize) -> bool {
        self.clean && self.start == at
    }

    /// The spans, taken.
    pub(super) fn into_spans(self) -> Vec<RawSpan> {
        self.spans
    }
}

/// The other thread's work: finds where to start past the block's middle, says so, and decodes
/// every span from there to the block's end. `None` when it found nowhere to start or was told to
/// stop.
pub(super) fn decode(big: &Big<'_>, signals: &Signals) -> Option<Half> {
    let Some(r) = start(big.block, big.owner()) else {
        signals.start_at(NOWHERE);
        return None;
    };
    let start = r.at();
    signals.start_at(start);
    let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
    let mut sink = SpanSink::new(&mut spans, &mut anomalies);
    // A scope message now would change the owner of every span in the block, and a broken
    // part is an error: both are for the first thread to deal with.
    let clean = match big.decode_from(r, Part::Second(signals), &mut Reading::default(), &mut sink)
    {
        Ok(Stop::End) => true,
        Ok(Stop::Stopped) => return None,
        Ok(Stop::Met(_) | Stop::Moved) | Err(_) => false,
    };
    Some(Half {
        start,
        spans,
        clean: clean && anomalies.is_empty(),
    })
}

/// Room for the spans from `from` to its end, at the size of those read before `now`, and a
/// sixteenth more. Not twice that, as a list grown by doubling may have: a thread's memory comes
/// from an arena of its own, which the allocator hands back to the system when a large block
/// leaves it, to fault in again on the next call (measured: decode + normalize of 100,000 spans
/// about 15 % slower with room for a span every 256 bytes).
fn room(from: Reader<'_>, now: Reader<'_>) -> usize {
    let read = from.left().saturating_sub(now.left()).max(1);
    let spans = from.left() / read * SPANS_TO_SIZE;
    spans + spans / 16
}

/// The first place from the block's middle on where a span starts: two whole spans with valid
/// ids, one after the other, or one that ends the block.
fn start<'a>(
    block: Reader<'a>,
    owner: (&Arc<Resource>, Option<&Arc<Scope>>),
) -> Option<Reader<'a>> {
    let middle = block.from(block.left() / 2);
    (0..middle.left().min(MAX_SEARCH_BYTES))
        .map(|skip| middle.from(skip))
        .find(|r| r.peek() == Some(SPAN_KEY) && spans_follow(*r, owner))
}

/// Whether whole spans with valid ids start at `r`: two in a row, or one that ends the block.
fn spans_follow(mut r: Reader<'_>, owner: (&Arc<Resource>, Option<&Arc<Scope>>)) -> bool {
    let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
    let mut sink = SpanSink::new(&mut spans, &mut anomalies);
    let mut reading = Reading::default();
    for _ in 0..2 {
        match r.field() {
            Ok(Some((field::SCOPE_SPANS_SPANS, WireType::Len))) => {}
            Ok(None) => break,
            _ => return false,
        }
        let read = r
            .len()
            .and_then(|bytes| span(bytes, owner, &mut reading, &mut sink));
        if read.is_err() {
            return false;
        }
    }
    !spans.is_empty() && anomalies.is_empty()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use orcheo_trace_model::Anomaly;
    use prost::Message as _;

    use super::super::{Split, decode_with};
    use super::{Arc, MIN_BLOCK_BYTES};
    use crate::formats::spare_core;

    fn text(key: &str, value: impl Into<String>) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..KeyValue::default()
        }
    }

    fn spans(n: usize) -> Vec<Span> {
        (0..n)
            .map(|i| Span {
                trace_id: vec![7; 16],
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                parent_span_id: if i == 0 {
                    Vec::new()
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: format!("node {i}"),
                start_time_unix_nano: 1_000 + i as u64,
                end_time_unix_nano: 2_000 + i as u64,
                attributes: vec![
                    text("orcheo.node.id", format!("node-{i}")),
                    text("orcheo.node.kind", "llm"),
                ],
                ..Span::default()
            })
            .collect()
    }

    /// A length-delimited field: its one-byte key, its length, its bytes.
    fn field(key: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(key);
        prost::encoding::encode_varint(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    /// The fields of a scope block holding `spans`.
    fn span_fields(spans: &[Span]) -> Vec<u8> {
        let mut out = Vec::new();
        for span in spans {
            field(0x12, &span.encode_to_vec(), &mut out);
        }
        out
    }

    /// `TracesData` with one resource block holding one scope block of `block` fields.
    fn payload(block: &[u8]) -> Vec<u8> {
        let resource = ProtoResource {
            attributes: vec![text("service.name", "svc")],
            ..ProtoResource::default()
        };
        let mut resource_block = Vec::new();
        field(0x0a, &resource.encode_to_vec(), &mut resource_block);
        field(0x12, block, &mut resource_block);
        let mut out = Vec::new();
        field(0x0a, &resource_block, &mut out);
        out
    }

    fn scope_field() -> Vec<u8> {
        let scope = InstrumentationScope {
            name: "orcheo".to_owned(),
            version: "1.0".to_owned(),
            ..InstrumentationScope::default()
        };
        let mut out = Vec::new();
        field(0x0a, &scope.encode_to_vec(), &mut out);
        out
    }

    type Outcome = Result<(Vec<orcheo_trace_model::RawSpan>, Vec<Anomaly>), String>;

    fn decode(bytes: &[u8], split: bool) -> (Outcome, Option<Split>) {
        let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
        match decode_with(bytes, &mut spans, &mut anomalies, split) {
            Ok(how) => (Ok((spans, anomalies)), Some(how)),
            Err(e) => (Err(e.to_string()), None),
        }
    }

    /// Decodes `bytes` with and without the split, checks both give the same, and says what became
    /// of the second half.
    fn same_as_plain(bytes: &[u8]) -> Option<Split> {
        let (split, how) = decode(bytes, true);
        let (plain, plain_how) = decode(bytes, false);
        assert_eq!(split, plain);
        assert!(matches!(plain_how, None | Some(Split::None)));
        how
    }

    /// What the split is expected to come to where a second core can be had.
    fn expect(want: Split) -> Split {
        if spare_core() { want } else { Split::None }
    }

    #[test]
    fn a_large_block_is_split_and_decodes_as_one_thread_does() {
        let spans = spans(3_000);
        let mut block = scope_field();
        block.extend(span_fields(&spans));
        let bytes = payload(&block);
        assert!(bytes.len() > MIN_BLOCK_BYTES, "{}", bytes.len());
        assert_eq!(same_as_plain(&bytes), Some(expect(Split::Taken)));
        let (Ok((decoded, anomalies)), _) = decode(&bytes, true) else {
            panic!("decodes");
        };
        assert_eq!(decoded.len(), 3_000);
        assert!(anomalies.is_empty());
        // One resource and one scope for every span, shared by the two threads.
        let (first, last) = (&decoded[0], &decoded[2_999]);
        assert!(Arc::ptr_eq(&first.resource, &last.resource));
        let (Some(a), Some(b)) = (&first.scope, &last.scope) else {
            panic!("scoped");
        };
        assert!(Arc::ptr_eq(a, b));
        assert_eq!(a.name, "orcheo");
    }

    #[test]
    fn blocks_after_the_large_one_follow_its_spans() {
        let spans = spans(3_200);
        let mut resource_block = Vec::new();
        let resource = ProtoResource {
            attributes: vec![text("service.name", "svc")],
            ..ProtoResource::default()
        };
        field(0x0a, &resource.encode_to_vec(), &mut resource_block);
        field(0x12, &span_fields(&spans[..3_000]), &mut resource_block);
        let mut small = scope_field();
        small.extend(span_fields(&spans[3_000..3_100]));
        field(0x12, &small, &mut resource_block);
        let mut bytes = Vec::new();
        field(0x0a, &resource_block, &mut bytes);
        bytes.extend(payload(&span_fields(&spans[3_100..])));
        assert_eq!(same_as_plain(&bytes), Some(expect(Split::Taken)));
        let (Ok((decoded, _)), _) = decode(&bytes, true) else {
            panic!("decodes");
        };
        let names: Vec<&str> = decoded.iter().map(|s| s.name.as_str()).collect();
        let want: Vec<String> = (0..3_200).map(|i| format!("node {i}")).collect();
        assert_eq!(names, want);
        assert!(decoded[2_999].scope.is_none());
        assert!(decoded[3_000].scope.is_some());
    }

    #[test]
    fn a_small_payload_is_not_split() {
        let bytes = payload(&span_fields(&spans(100)));
        assert_eq!(same_as_plain(&bytes), Some(Split::None));
    }

    #[test]
    fn spans_hidden_in_a_value_at_the_middle_are_passed_over() {
        // Two whole spans with valid ids, as the bytes of an attribute value, repeated across the
        // block's middle: the other thread starts inside the value, and the listing passes it.
        let fake = span_fields(&spans(2));
        let mut spans = spans(2_001);
        spans[1_000].attributes.push(KeyValue {
            key: "x".to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::BytesValue(fake.repeat(1_500))),
            }),
            ..KeyValue::default()
        });
        let bytes = payload(&span_fields(&spans));
        assert_eq!(same_as_plain(&bytes), Some(expect(Split::Missed)));
    }

    #[test]
    fn an_unreadable_span_in_the_second_half_is_reported_where_it_is() {
        let mut spans = spans(3_000);
        spans[2_500].span_id = vec![1, 2, 3];
        let bytes = payload(&span_fields(&spans));
        assert_eq!(same_as_plain(&bytes), Some(expect(Split::DecodedHere)));
        let (Ok((decoded, anomalies)), _) = decode(&bytes, true) else {
            panic!("decodes");
        };
        assert_eq!(decoded.len(), 2_999);
        assert_eq!(anomalies.len(), 1);
        assert!(
            anomalies[0].detail.starts_with("span #2500:"),
            "{}",
            anomalies[0].detail
        );
    }

    #[test]
    fn a_scope_after_the_spans_is_decoded_again() {
        let mut block = span_fields(&spans(3_000));
        block.extend(scope_field());
        let bytes = payload(&block);
        assert_eq!(same_as_plain(&bytes), Some(expect(Split::Again)));
        let (Ok((decoded, _)), _) = decode(&bytes, true) else {
            panic!("decodes");
        };
        assert!(
            decoded
                .iter()
                .all(|s| s.scope.as_ref().is_some_and(|s| s.name == "orcheo"))
        );
    }

    #[test]
    fn a_broken_second_half_fails_as_one_thread_does() {
        let mut block = span_fields(&spans(3_000));
        let cut = block.len() * 3 / 4;
        block.truncate(cut);
        let bytes = payload(&block);
        let (split, how) = decode(&bytes, true);
        let (plain, _) = decode(&bytes, false);
        assert!(split.is_err(), "a span cut short");
        assert_eq!(split, plain);
        assert_eq!(how, None);
    }

    #[test]
    fn damaged_payloads_decode_as_one_thread_does() {
        let mut block = scope_field();
        block.extend(span_fields(&spans(3_000)));
        let whole = payload(&block);
        // A small generator of its own: the damage is the same on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % below as u64).unwrap_or_default()
        };
        for _ in 0..40 {
            let mut bytes = whole.clone();
            for _ in 0..=next(3) {
                // Damage in the second half of the payload, where the other thread reads.
                let at = whole.len() / 2 + next(whole.len() / 2);
                bytes[at] = u8::try_from(next(256)).unwrap_or_default();
            }
            same_as_plain(&bytes);
        }
    }
}
