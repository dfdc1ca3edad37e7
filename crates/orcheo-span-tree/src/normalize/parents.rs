//! Which span is each span's parent.

use super::anomalies::Anomalies;
use orcheo_trace_model::{AnomalyKind, LinkKind, RawSpan, SpanId};

use super::ids::Deduped;

/// Where a span's parent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParentRef {
    /// No parent stated: a root.
    None,
    /// The parent is in the trace, at `index`.
    InTrace {
        index: u32,
        id: SpanId,
        child: SpanId,
        follows_from: bool,
    },
    /// A parent is stated but not in the trace: an orphan.
    Missing(SpanId),
}

impl ParentRef {
    pub(crate) fn parent_id(self) -> Option<SpanId> {
        match self {
            Self::None => None,
            Self::InTrace { id, .. } | Self::Missing(id) => Some(id),
        }
    }
}

/// The stated parent, else the first `CHILD_OF`, else the first `FOLLOWS_FROM` (references into
/// other traces are links, never parents), taking the first candidate present in the trace.
pub(crate) fn resolve(deduped: &Deduped, anomalies: &mut Anomalies) -> Vec<ParentRef> {
    deduped
        .spans
        .iter()
        .map(|span| {
            let mut first_missing = None;
            for (candidate, follows_from) in candidates(span) {
                let candidate = repoint(deduped, span, candidate);
                if candidate == span.span_id {
                    anomalies.report(
                        AnomalyKind::Cycle,
                        Some(span.span_id),
                        || "span names itself as its parent; reference ignored",
                    );
                    continue;
                }
                match deduped.index.get(&candidate) {
                    Some(&index) => {
                        return ParentRef::InTrace {
                            index,
                            id: candidate,
                            child: span.span_id,
                            follows_from,
                        };
                    }
                    None => {
                        first_missing.get_or_insert(candidate);
                    }
                }
            }
            first_missing.map_or(ParentRef::None, ParentRef::Missing)
        })
        .collect()
}

fn candidates(span: &RawSpan) -> impl Iterator<Item = (SpanId, bool)> + '_ {
    let same_trace = move |kind: LinkKind| {
        span.links
            .iter()
            .filter(move |l| l.kind == kind && l.trace_id == span.trace_id)
            .map(move |l| (l.span_id, kind == LinkKind::FollowsFrom))
    };
    span.parent_span_id
        .map(|p| (p, false))
        .into_iter()
        .chain(same_trace(LinkKind::ChildOf))
        .chain(same_trace(LinkKind::FollowsFrom))
}

/// A child of a shared client/server id belongs to the server when it is in the server's service.
fn repoint(deduped: &Deduped, span: &RawSpan, candidate: SpanId) -> SpanId {
    for shared in &deduped.shared {
        if shared.old == candidate
            && span.span_id != shared.new
            && span.resource.service_name() == shared.service.as_deref()
        {
            return shared.new;
        }
    }
    candidate
}
