//! Span id clashes: identical duplicates, shared client/server ids (Zipkin-style), and plain
//! collisions.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::anomalies::Anomalies;
use orcheo_trace_model::{AnomalyKind, RawSpan, SmolStr, SpanId, SpanKind};

/// A server span that shared its id with a client span and was given a fresh one.
pub(crate) struct SharedId {
    pub(crate) old: SpanId,
    pub(crate) new: SpanId,
    /// The server's service: its own children (same service) follow it to the new id.
    pub(crate) service: Option<SmolStr>,
}

/// Spans with unique ids, and an index from id to position.
pub(crate) struct Deduped {
    pub(crate) spans: Vec<RawSpan>,
    pub(crate) index: IdMap<u32>,
    pub(crate) shared: Vec<SharedId>,
}

/// A map keyed by span id.
pub(crate) type IdMap<V> = HashMap<SpanId, V, RandomState>;

pub(crate) fn dedupe(spans: Vec<RawSpan>, anomalies: &mut Anomalies) -> Deduped {
    // Ids are unique in nearly every trace: then the spans stay where they are.
    let mut index = IdMap::with_capacity_and_hasher(spans.len(), RandomState::default());
    let unique = spans
        .iter()
        .enumerate()
        .all(|(i, s)| index.insert(s.span_id, i as u32).is_none());
    if unique {
        return Deduped {
            spans,
            index,
            shared: Vec::new(),
        };
    }
    index.clear();
    let mut kept: Vec<RawSpan> = Vec::with_capacity(spans.len());
    let mut shared = Vec::new();
    for mut span in spans {
        let Some(&j) = index.get(&span.span_id) else {
            index.insert(span.span_id, kept.len() as u32);
            kept.push(span);
            continue;
        };
        let other = &mut kept[j as usize];
        if *other == span {
            anomalies.report(
                AnomalyKind::DuplicateSpan,
                Some(span.span_id),
                || "identical span appears more than once; one copy kept",
            );
            continue;
        }
        let old = span.span_id;
        let fresh = fresh_id(old, &index);
        let server = match (other.kind, span.kind) {
            (SpanKind::Client, SpanKind::Server) => Some(&mut span),
            (SpanKind::Server, SpanKind::Client) => Some(other),
            _ => None,
        };
        if let Some(server) = server {
            server.span_id = fresh;
            server.parent_span_id = Some(old);
            shared.push(SharedId {
                old,
                new: fresh,
                service: server.resource.service().cloned(),
            });
            anomalies.report(AnomalyKind::SharedSpanId, Some(fresh), || {
                format!("server span shared id {old} with its client span; given id {fresh}")
            });
            if kept[j as usize].span_id == fresh {
                // The already-kept span was the server: the client takes over the old id.
                index.insert(fresh, j);
                index.insert(old, kept.len() as u32);
            } else {
                index.insert(fresh, kept.len() as u32);
            }
        } else {
            span.span_id = fresh;
            index.insert(fresh, kept.len() as u32);
            anomalies.report(AnomalyKind::DuplicateSpanId, Some(fresh), || {
                format!("another span already has id {old}; this one was given id {fresh}")
            });
        }
        kept.push(span);
    }
    Deduped {
        spans: kept,
        index,
        shared,
    }
}

/// A deterministic id not yet in use, derived from the clashing one.
fn fresh_id(old: SpanId, index: &IdMap<u32>) -> SpanId {
    let mut x = u64::from_be_bytes(old.to_bytes());
    loop {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        if let Ok(id) = SpanId::from_bytes(x.to_be_bytes())
            && !index.contains_key(&id)
        {
            return id;
        }
    }
}
