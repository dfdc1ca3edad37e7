//! [`RawSpan`]s → [`TraceTree`] + anomalies. Never fails: the worst input gives an empty tree
//! and the anomalies that explain it.
//!
//! The steps follow how Jaeger's adjusters and Jaeger UI treat real traces:
//! 1. ids: identical duplicates are dropped; a server span sharing its id with a client span gets
//!    a fresh id under that client (and takes its own children along); any other clash gets a
//!    fresh id (`ids`);
//! 2. parents: the stated parent, else the first `CHILD_OF`, else the first `FOLLOWS_FROM`,
//!    whichever is in the trace; a span whose parent is missing is an orphan (`parents`);
//! 3. cycles are cut, one root is chosen (the `workflow.execution` span if there is one), and
//!    orphans and extra roots are attached under it — or under a placeholder when no span lacks a
//!    parent (a live trace whose root has not ended yet);
//! 4. siblings are sorted by start time, the arena is laid out depth first, clock skew is
//!    reported (never rewritten), and token usage is rolled up to every ancestor.
//!
//! Everything is iterative: a 10,000-deep chain costs no recursion.

mod anomalies;
mod extract;
mod ids;
mod parents;

pub(crate) use extract::artifact_url;

use orcheo_trace_model::semconv::{self, WORKFLOW_SPAN_NAME};
use orcheo_trace_model::{
    Anomaly, AnomalyKind, AttributeValue, DurationSource, KeyValue, NodeKind, RawSpan, RawStatus,
    SpanId, SpanNode, StatusCode, TraceStats, TraceTree,
};

use crate::formats::Decoded;
use anomalies::Anomalies;
use parents::ParentRef;

/// At most this many anomalies of one kind are listed; the rest are counted in one more entry.
pub const MAX_ANOMALIES_PER_KIND: usize = 100;

/// Normalizes decoded spans, keeping the decoder's anomalies (unreadable spans, `PARTIAL`).
pub fn normalize_decoded(decoded: Decoded) -> TraceTree {
    build(decoded.spans, decoded.anomalies)
}

/// Normalizes spans into a tree.
pub fn normalize(spans: Vec<RawSpan>) -> TraceTree {
    build(spans, Vec::new())
}

/// Normalizes spans that came with anomalies of their own (a fetch's decoding problems, a
/// store's warnings); those lead the tree's list.
pub fn normalize_with_anomalies(spans: Vec<RawSpan>, anomalies: Vec<Anomaly>) -> TraceTree {
    build(spans, anomalies)
}

fn build(spans: Vec<RawSpan>, earlier: Vec<Anomaly>) -> TraceTree {
    let mut anomalies = Anomalies::new(earlier);
    let deduped = ids::dedupe(spans, &mut anomalies);
    let refs = parents::resolve(&deduped, &mut anomalies);
    // Only the spans go on: the id index is freed before the nodes are built, lowering the peak.
    let ids::Deduped { spans, index, .. } = deduped;
    drop(index);
    if spans.is_empty() {
        return TraceTree {
            anomalies: anomalies.finish(),
            ..TraceTree::default()
        };
    }

    // The tree is settled on the raw spans (ids, parents, times), and each node is built once,
    // straight into its depth-first place: a node is several times larger than a raw span.
    let ids: Vec<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut parent: Vec<Option<u32>> = refs
        .iter()
        .map(|r| match r {
            ParentRef::InTrace { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    let mut children = children_of(&parent);
    let is_cut = cut_cycles(&ids, &mut parent, &mut children, &mut anomalies);
    let tops: Vec<u32> = (0..spans.len() as u32)
        .filter(|&i| parent[i as usize].is_none())
        .collect();
    let (root, mut placeholder) = choose_root(&spans, &refs, &tops, &is_cut, &mut anomalies);
    parent.push(None);
    children.push(Vec::new());

    let placeholder_id = placeholder.as_ref().map(|p| p.span_id);
    let attached = attach_under_root(
        Tops {
            spans: &tops,
            root,
            is_cut: &is_cut,
            placeholder: placeholder_id,
        },
        &ids,
        &refs,
        &mut parent,
        &mut children,
        &mut anomalies,
    );
    for list in &mut children {
        list.sort_by_key(|&c| (spans[c as usize].start_time, ids[c as usize]));
    }
    drop(ids);

    let order = depth_first(&children, root);
    let mut position = vec![u32::MAX; spans.len() + 1];
    for (at, &(old, _)) in order.iter().enumerate() {
        position[old as usize] = at as u32;
    }
    let mut slots: Vec<Option<RawSpan>> = spans.into_iter().map(Some).collect();
    let mut nodes: Vec<SpanNode> = Vec::with_capacity(order.len());
    let mut models = extract::Models::default();
    // Each node is finished as it is built (counted, checked against its parent, already built
    // above it), and its tokens rolled up once its subtree is complete: no further pass over the
    // nodes, which at 100,000 spans do not fit in the cache.
    let mut stats = TraceStats::default();
    let mut open: Vec<u32> = Vec::new();
    for &(old, depth) in &order {
        // Pushed first and finished in place: a node is large, and each move of it a copy.
        match slots.get_mut(old as usize).and_then(Option::take) {
            Some(span) => nodes.push(node_of(span, &mut models, &mut anomalies)),
            None => match placeholder.take() {
                Some(p) => nodes.push(p),
                None => continue,
            },
        }
        let Some(node) = nodes.last_mut() else {
            continue;
        };
        let r = refs.get(old as usize).copied().unwrap_or(ParentRef::None);
        node.parent_span_id = r.parent_id();
        node.flags.extend(attached[old as usize]);
        node.depth = depth;
        node.parent = parent[old as usize].map(|p| position[p as usize]);
        // The child list is reused, its entries turned from input indices into positions.
        let mut kids = std::mem::take(&mut children[old as usize]);
        for c in &mut kids {
            *c = position[*c as usize];
        }
        node.children = kids;
        let follows_from = matches!(
            r,
            ParentRef::InTrace {
                follows_from: true,
                ..
            }
        );
        let at = clamp_reported_start(&mut nodes);
        roll_up_closed(&mut nodes, &mut open, depth);
        open.push(at as u32);
        count(&mut stats, &nodes[at]);
        if let Some(flag) = timing_anomaly(&nodes, at, follows_from, &mut anomalies) {
            nodes[at].flags.push(flag);
        }
    }
    roll_up_closed(&mut nodes, &mut open, 0);
    finish_stats(&mut stats, &nodes);
    TraceTree {
        trace_id: nodes.first().map(|n| n.trace_id),
        root: Some(0),
        nodes,
        anomalies: anomalies.finish(),
        stats,
    }
}

/// The node of a span, with the warnings its source attached reported as anomalies.
fn node_of(mut span: RawSpan, models: &mut extract::Models, anomalies: &mut Anomalies) -> SpanNode {
    let warnings = std::mem::take(&mut span.warnings);
    let mut node = extract::node(span, models);
    if !warnings.is_empty() {
        node.flags.push(AnomalyKind::SourceWarning);
    }
    for warning in warnings {
        anomalies.report(AnomalyKind::SourceWarning, Some(node.span_id), || warning);
    }
    node
}

/// Keeps a node placed by its reported latency from starting before its parent: it starts at the
/// parent's start at the earliest (at its span's own start, if that is earlier still, and then it
/// is measured after all). A placeholder parent, whose start is only its earliest child's, moves
/// back to the node's start instead. Applies to the node built last; returns its index.
fn clamp_reported_start(nodes: &mut [SpanNode]) -> usize {
    let at = nodes.len().saturating_sub(1);
    let Some(node) = nodes.get(at) else {
        return at;
    };
    if node.duration_source() != DurationSource::Reported {
        return at;
    }
    let Some(p) = node.parent.map(|p| p as usize) else {
        return at;
    };
    let start = node.start_time;
    if nodes[p].synthetic {
        if start < nodes[p].start_time {
            nodes[p].start_time = start;
        }
        return at;
    }
    let measured = node.span_start_time();
    let floor = nodes[p].start_time.min(measured);
    if start >= floor {
        return at;
    }
    let node = &mut nodes[at];
    node.start_time = floor;
    if floor == measured
        && let Some(content) = node.content.as_deref_mut()
    {
        content.measured_start = None;
    }
    at
}

/// The spans without a parent in the trace, and what became of them.
#[derive(Clone, Copy)]
struct Tops<'a> {
    spans: &'a [u32],
    root: u32,
    is_cut: &'a [bool],
    placeholder: Option<SpanId>,
}

/// Hangs every parentless span but the root under the root, reporting why it had no parent;
/// returns, per span, the anomaly it is flagged with.
fn attach_under_root(
    t: Tops<'_>,
    ids: &[SpanId],
    refs: &[ParentRef],
    parent: &mut [Option<u32>],
    children: &mut [Vec<u32>],
    anomalies: &mut Anomalies,
) -> Vec<Option<AnomalyKind>> {
    let mut attached: Vec<Option<AnomalyKind>> = vec![None; ids.len() + 1];
    for &top in t.spans.iter().filter(|&&top| top != t.root) {
        let kind = if t.is_cut[top as usize] {
            Some(AnomalyKind::Cycle)
        } else {
            match refs[top as usize] {
                ParentRef::Missing(missing) if Some(missing) == t.placeholder => None,
                ParentRef::Missing(missing) => {
                    anomalies.report(AnomalyKind::Orphan, Some(ids[top as usize]), || {
                        format!("parent {missing} is not in the trace; shown under the root")
                    });
                    Some(AnomalyKind::Orphan)
                }
                _ => {
                    anomalies.report(
                        AnomalyKind::MultipleRoots,
                        Some(ids[top as usize]),
                        || "span has no parent but is not the root; shown under the root",
                    );
                    Some(AnomalyKind::MultipleRoots)
                }
            }
        };
        attached[top as usize] = kind;
        parent[top as usize] = Some(t.root);
        children[t.root as usize].push(top);
    }
    attached
}

fn children_of(parent: &[Option<u32>]) -> Vec<Vec<u32>> {
    // Counted first, so each list is allocated once at its size instead of grown (4, then 8…).
    let mut counts = vec![0u32; parent.len()];
    for p in parent.iter().flatten() {
        counts[*p as usize] += 1;
    }
    let mut children: Vec<Vec<u32>> = counts
        .into_iter()
        .map(|n| Vec::with_capacity(n as usize))
        .collect();
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            children[*p as usize].push(i as u32);
        }
    }
    children
}

/// Marks everything reachable from a span without a parent; whatever is left hangs off a cycle.
/// Each cycle is cut at the span where a walk up from an unreached span first comes back;
/// returns which spans were cut loose.
fn cut_cycles(
    ids: &[SpanId],
    parent: &mut [Option<u32>],
    children: &mut [Vec<u32>],
    anomalies: &mut Anomalies,
) -> Vec<bool> {
    let n = parent.len();
    let mut reached = vec![false; n];
    let mut stack: Vec<u32> = (0..n as u32)
        .filter(|&i| parent[i as usize].is_none())
        .collect();
    let mark = |stack: &mut Vec<u32>, reached: &mut [bool], children: &[Vec<u32>]| {
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut reached[i as usize], true) {
                stack.extend(&children[i as usize]);
            }
        }
    };
    mark(&mut stack, &mut reached, children);
    let mut cut = vec![false; n];
    let mut walk_stamp = vec![u32::MAX; n];
    for start in 0..n {
        if reached[start] {
            continue;
        }
        let mut cur = start as u32;
        while walk_stamp[cur as usize] != start as u32 {
            walk_stamp[cur as usize] = start as u32;
            // Unreached spans always have a parent: only cycles keep them from a top.
            let Some(p) = parent[cur as usize] else { break };
            cur = p;
        }
        if let Some(p) = parent[cur as usize].take() {
            children[p as usize].retain(|&c| c != cur);
            anomalies.report(AnomalyKind::Cycle, Some(ids[cur as usize]), || {
                format!(
                    "parent references form a cycle through {}; cut here, shown under the root",
                    ids[p as usize]
                )
            });
        }
        cut[cur as usize] = true;
        stack.push(cur);
        mark(&mut stack, &mut reached, children);
    }
    cut
}

/// Picks the root among the spans without a parent: the workflow span, else the earliest and
/// longest. With none that truly lacks a parent, a placeholder stands for the parent most orphans
/// point to (typically a run's root span that has not ended yet); it takes the index just past
/// the spans.
fn choose_root(
    spans: &[RawSpan],
    refs: &[ParentRef],
    tops: &[u32],
    is_cut: &[bool],
    anomalies: &mut Anomalies,
) -> (u32, Option<SpanNode>) {
    let rank = |i: &u32| {
        let s = &spans[*i as usize];
        let duration = s.end_time.map_or(u64::MAX, |e| {
            e.unix_nanos().saturating_sub(s.start_time.unix_nanos())
        });
        (
            s.name != WORKFLOW_SPAN_NAME,
            s.start_time,
            std::cmp::Reverse(duration),
            s.span_id,
        )
    };
    let true_roots = tops
        .iter()
        .filter(|&&t| matches!(refs[t as usize], ParentRef::None) && !is_cut[t as usize]);
    if let Some(&root) = true_roots.min_by_key(|i| rank(i)) {
        return (root, None);
    }
    let mut missing: ids::IdMap<(usize, u32)> = ids::IdMap::default();
    for &t in tops {
        if let ParentRef::Missing(id) = refs[t as usize] {
            let entry = missing.entry(id).or_insert((0, t));
            entry.0 += 1;
            if spans[t as usize].start_time < spans[entry.1 as usize].start_time {
                entry.1 = t;
            }
        }
    }
    let best = missing.into_iter().max_by_key(|(id, (count, first))| {
        (
            *count,
            std::cmp::Reverse(spans[*first as usize].start_time),
            std::cmp::Reverse(*id),
        )
    });
    let Some((id, (count, first))) = best else {
        // Every span sits on a cycle: the earliest cut point serves as the root.
        let cut = tops.iter().copied().filter(|&t| is_cut[t as usize]);
        return (cut.min_by_key(|i| rank(i)).unwrap_or(0), None);
    };
    anomalies.report(
        AnomalyKind::MissingRoot,
        Some(id),
        || format!("no span is without a parent; a placeholder stands for span {id}, parent of {count} span(s)"),
    );
    let template = &spans[first as usize];
    let (name, kind) = placeholder_name(spans);
    let placeholder = SpanNode {
        span_id: id,
        parent_span_id: None,
        trace_id: template.trace_id,
        name,
        kind,
        span_kind: orcheo_trace_model::SpanKind::Unspecified,
        status: RawStatus::default(),
        start_time: template.start_time,
        end_time: None,
        token_usage: None,
        self_token_usage: None,
        model: None,
        content: None,
        error: None,
        attributes: Vec::new(),
        resource: std::sync::Arc::default(),
        scope: None,
        flags: [AnomalyKind::MissingRoot].into_iter().collect(),
        synthetic: true,
        parent: None,
        children: Vec::new(),
        depth: 0,
    };
    (spans.len() as u32, Some(placeholder))
}

/// What a placeholder root is called: the workflow's name (`orcheo.workflow.name`, else
/// `orcheo.workflow.id`) when any span carries it, and kind `workflow` for the spans of an
/// Orcheo run (a workflow or node key on any span); an empty name and kind `span` otherwise.
fn placeholder_name(spans: &[RawSpan]) -> (orcheo_trace_model::SmolStr, NodeKind) {
    let text = |attributes: &[KeyValue], key: &str| {
        orcheo_trace_model::raw::find(attributes, key)
            .and_then(AttributeValue::as_text)
            .filter(|s| !s.is_empty())
            .cloned()
    };
    let name = [semconv::WORKFLOW_NAME, semconv::WORKFLOW_ID]
        .iter()
        .find_map(|key| spans.iter().find_map(|s| text(&s.attributes, key)));
    let orcheo = name.is_some()
        || spans.iter().any(|s| {
            s.attributes.iter().any(|kv| {
                kv.key == semconv::NODE_ID
                    || kv.key == semconv::EXECUTION_ID
                    || kv.key == semconv::WORKFLOW_ID
            })
        });
    let kind = if orcheo {
        NodeKind::Workflow
    } else {
        NodeKind::Span
    };
    (name.unwrap_or_default(), kind)
}

/// Depth-first order from the root, children in their sorted order: (index, depth) pairs.
fn depth_first(children: &[Vec<u32>], root: u32) -> Vec<(u32, u32)> {
    let mut order = Vec::with_capacity(children.len());
    let mut stack = vec![(root, 0u32)];
    while let Some((i, depth)) = stack.pop() {
        order.push((i, depth));
        stack.extend(children[i as usize].iter().rev().map(|&c| (c, depth + 1)));
    }
    order
}

/// Rolls the tokens of every open node at `depth` or deeper into its parent's: the next node in
/// depth-first order is at `depth`, so their subtrees are complete. Deepest first, so a node's
/// usage holds its whole subtree's before it is added to its parent's.
fn roll_up_closed(nodes: &mut [SpanNode], open: &mut Vec<u32>, depth: u32) {
    while let Some(&i) = open.last() {
        let closed = &nodes[i as usize];
        if closed.depth < depth {
            break;
        }
        open.pop();
        if let (Some(p), Some(usage)) = (closed.parent, closed.token_usage) {
            nodes[p as usize]
                .token_usage
                .get_or_insert_default()
                .add(usage);
        }
    }
}

/// The trace's token usage (the root's, rolled up) and duration, once every node is counted; the
/// root's failure leaves the error count when another span failed too (Orcheo marks a failed
/// run's root with the failure of the node that caused it: one failure, not two).
fn finish_stats(stats: &mut TraceStats, nodes: &[SpanNode]) {
    if let Some(root) = nodes.first()
        && !root.synthetic
        && root.status.code == StatusCode::Error
        && stats.error_count > 1
    {
        stats.error_count -= 1;
    }
    stats.token_usage = nodes
        .first()
        .and_then(|r| r.token_usage)
        .unwrap_or_default();
    if let (Some(s), Some(e)) = (stats.start_time, stats.end_time) {
        stats.duration_ms = Some(s.millis_until(e));
    }
}

/// Counts a node into the trace's totals (placeholders are not spans of the trace).
fn count(stats: &mut TraceStats, n: &SpanNode) {
    if n.synthetic {
        return;
    }
    stats.span_count += 1;
    stats.error_count += u64::from(n.status.code == StatusCode::Error);
    stats.in_progress_count += u64::from(n.in_progress());
    stats.start_time = Some(
        stats
            .start_time
            .map_or(n.start_time, |s| s.min(n.start_time)),
    );
    if let Some(end) = n.end_time {
        stats.end_time = Some(stats.end_time.map_or(end, |e| e.max(end)));
    }
}

/// A negative duration, clock skew against the parent, or an end after the parent's (unless the
/// parent is only a `FOLLOWS_FROM` predecessor), reported; the flag to mark the node with.
/// Listed after every other anomaly (`Anomalies::report`).
fn timing_anomaly(
    nodes: &[SpanNode],
    i: usize,
    follows_from: bool,
    anomalies: &mut Anomalies,
) -> Option<AnomalyKind> {
    let child = &nodes[i];
    if let Some(end) = child.end_time
        && end < child.start_time
    {
        let start = child.start_time;
        anomalies.report(AnomalyKind::NegativeDuration, Some(child.span_id), || {
            format!("ends {:.3} ms before it starts", end.millis_until(start))
        });
        return Some(AnomalyKind::NegativeDuration);
    }
    let par = &nodes[child.parent? as usize];
    let attached = child.flags.iter().any(|f| {
        matches!(
            f,
            AnomalyKind::Orphan | AnomalyKind::MultipleRoots | AnomalyKind::Cycle
        )
    });
    if attached || par.synthetic {
        return None;
    }
    if child.start_time < par.start_time {
        anomalies.report(AnomalyKind::ClockSkew, Some(child.span_id), || {
            format!(
                "starts {:.3} ms before its parent {}",
                child.start_time.millis_until(par.start_time),
                par.span_id
            )
        });
        return Some(AnomalyKind::ClockSkew);
    }
    if let (Some(ce), Some(pe)) = (child.end_time, par.end_time)
        && ce > pe
        && !follows_from
    {
        anomalies.report(AnomalyKind::EndsAfterParent, Some(child.span_id), || {
            format!(
                "ends {:.3} ms after its parent {}",
                pe.millis_until(ce),
                par.span_id
            )
        });
        return Some(AnomalyKind::EndsAfterParent);
    }
    None
}
