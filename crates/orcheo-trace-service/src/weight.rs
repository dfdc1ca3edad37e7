//! What a normalized tree costs in memory, estimated: the cache is bounded in bytes, and a trace
//! of ten spans must not count like one of a hundred thousand.
//!
//! The estimate is the tree's own allocations — the node array, each node's lists, boxed
//! content and errors, attribute keys and values, anomaly details — and the size of every text
//! stored out of line. Resources, scopes and model descriptions are shared between the nodes of a
//! run, so one is counted once for each run of nodes that share it. A string shared with another
//! (a prompt read from an attribute) is counted for each holder: the estimate errs on the high
//! side.

use std::mem::size_of;
use std::sync::Arc;

use orcheo_trace_model::{
    Anomaly, Artifact, AttributeValue, ContentItem, KeyValue, ModelInfo, NodeContent, Resource,
    Scope, SpanError, SpanEvent, SpanLink, SpanNode, TraceTree,
};

/// Longest text a `SmolStr` keeps inline, without an allocation of its own.
const INLINE_TEXT: usize = 23;

/// Bytes the tree holds, its own `TraceTree` value included.
pub(crate) fn tree_bytes(tree: &TraceTree) -> usize {
    let mut bytes = size_of::<TraceTree>()
        + tree.nodes.capacity() * size_of::<SpanNode>()
        + tree.anomalies.capacity() * size_of::<Anomaly>()
        + tree
            .anomalies
            .iter()
            .map(|a| a.detail.capacity())
            .sum::<usize>();
    let mut last: Option<&SpanNode> = None;
    for node in &tree.nodes {
        bytes += node_bytes(node, last);
        last = Some(node);
    }
    bytes
}

/// One node's allocations; the resource, scope and model only when `previous` does not share them.
fn node_bytes(node: &SpanNode, previous: Option<&SpanNode>) -> usize {
    let mut bytes = text(&node.name)
        + node.status.message.as_ref().map_or(0, String::capacity)
        + attributes(&node.attributes)
        + node.children.capacity() * size_of::<u32>();
    if let Some(content) = &node.content {
        bytes += content_bytes(content);
    }
    if let Some(error) = &node.error {
        bytes += size_of::<SpanError>() + error_bytes(error);
    }
    if let Some(model) = &node.model
        && !previous
            .and_then(|p| p.model.as_ref())
            .is_some_and(|m| Arc::ptr_eq(m, model))
    {
        bytes += size_of::<ModelInfo>() + model_bytes(model);
    }
    if !previous.is_some_and(|p| Arc::ptr_eq(&p.resource, &node.resource)) {
        bytes += size_of::<Resource>() + attributes(&node.resource.attributes);
    }
    if let Some(scope) = &node.scope
        && !previous
            .and_then(|p| p.scope.as_ref())
            .is_some_and(|s| Arc::ptr_eq(s, scope))
    {
        bytes += size_of::<Scope>()
            + scope.name.capacity()
            + scope.version.as_ref().map_or(0, String::capacity);
    }
    bytes
}

fn content_bytes(content: &NodeContent) -> usize {
    let items = |list: &Vec<ContentItem>| {
        list.capacity() * size_of::<ContentItem>()
            + list
                .iter()
                .map(|item| opt_text(item.role.as_deref()) + opt_text(item.content.as_deref()))
                .sum::<usize>()
    };
    size_of::<NodeContent>()
        + items(&content.prompts)
        + items(&content.responses)
        + items(&content.messages)
        + content.artifacts.capacity() * size_of::<Artifact>()
        + content.artifacts.iter().map(artifact_bytes).sum::<usize>()
        + content.events.capacity() * size_of::<SpanEvent>()
        + content
            .events
            .iter()
            .map(|e| text(&e.name) + attributes(&e.attributes))
            .sum::<usize>()
        + content.links.capacity() * size_of::<SpanLink>()
        + content
            .links
            .iter()
            .map(|l| attributes(&l.attributes))
            .sum::<usize>()
        + content.errors.capacity() * size_of::<SpanError>()
        + content.errors.iter().map(error_bytes).sum::<usize>()
}

fn artifact_bytes(artifact: &Artifact) -> usize {
    artifact.id.capacity()
        + artifact.url.capacity()
        + [
            &artifact.name,
            &artifact.source_url,
            &artifact.content_type,
            &artifact.download_url,
        ]
        .into_iter()
        .map(|s| s.as_ref().map_or(0, String::capacity))
        .sum::<usize>()
}

fn error_bytes(error: &SpanError) -> usize {
    [
        &error.error_type,
        &error.message,
        &error.stack_trace,
        &error.code,
        &error.hint,
    ]
    .into_iter()
    .map(|s| s.as_ref().map_or(0, String::capacity))
    .sum()
}

fn model_bytes(model: &ModelInfo) -> usize {
    [
        &model.name,
        &model.request,
        &model.response,
        &model.provider,
        &model.kind,
        &model.operation,
    ]
    .into_iter()
    .map(|s| opt_text(s.as_deref()))
    .sum()
}

fn attributes(list: &Vec<KeyValue>) -> usize {
    list.capacity() * size_of::<KeyValue>()
        + list
            .iter()
            .map(|kv| text(&kv.key) + value_bytes(&kv.value))
            .sum::<usize>()
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::String(s) => text(s),
        AttributeValue::Bytes(b) => b.capacity(),
        AttributeValue::Array(items) => {
            items.capacity() * size_of::<AttributeValue>()
                + items.iter().map(value_bytes).sum::<usize>()
        }
        AttributeValue::Map(entries) => attributes(entries),
        AttributeValue::Empty
        | AttributeValue::Bool(_)
        | AttributeValue::Int(_)
        | AttributeValue::Double(_) => 0,
    }
}

/// Out-of-line bytes of a short-string-optimized text.
fn text(s: &str) -> usize {
    if s.len() > INLINE_TEXT { s.len() } else { 0 }
}

fn opt_text(s: Option<&str>) -> usize {
    s.map_or(0, text)
}

#[cfg(test)]
mod tests {
    use orcheo_trace_model::{RawSpan, SpanId, Timestamp, TraceId};

    use super::*;

    fn trace(spans: u64, prompt: &str) -> TraceTree {
        let trace_id = TraceId::from_bytes([7; 16]).unwrap();
        let span_id = |n: u64| SpanId::from_bytes(n.to_be_bytes()).unwrap();
        let spans = (1..=spans)
            .map(|n| {
                let mut span = RawSpan::new(trace_id, span_id(n), format!("node {n}"));
                span.parent_span_id = (n > 1).then(|| span_id(1));
                span.start_time = Timestamp::from_unix_nanos(n);
                span.end_time = Some(Timestamp::from_unix_nanos(n + 1));
                span.attributes = vec![
                    KeyValue::new("orcheo.node.kind", "llm"),
                    KeyValue::new("gen_ai.prompt.0.content", prompt.to_owned()),
                ];
                span
            })
            .collect();
        orcheo_span_tree::normalize(spans)
    }

    #[test]
    fn more_spans_weigh_more() {
        let small = tree_bytes(&trace(2, "hi"));
        let large = tree_bytes(&trace(200, "hi"));
        assert!(small > size_of::<TraceTree>(), "{small}");
        assert!(large > small * 50, "{small} then {large}");
    }

    #[test]
    fn longer_content_weighs_more() {
        let short = tree_bytes(&trace(3, "hi"));
        let long = tree_bytes(&trace(3, &"x".repeat(10_000)));
        // The prompt is held once per span, at least.
        assert!(long >= short + 3 * 10_000, "{short} then {long}");
    }

    #[test]
    fn the_empty_tree_weighs_its_own_value() {
        assert_eq!(tree_bytes(&TraceTree::default()), size_of::<TraceTree>());
    }
}
