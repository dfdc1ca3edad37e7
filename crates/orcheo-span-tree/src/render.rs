//! JSON renderings of a tree: nested (the API's tree view) and flat (Orcheo's existing shape,
//! which the current Canvas client reads). Nesting is written with an explicit stack, so depth
//! costs heap, not call stack.

use std::borrow::Cow;

use orcheo_trace_model::raw::serialize_attributes;
use orcheo_trace_model::{
    KeyValue, RawStatus, SpanEvent, SpanId, SpanLink, SpanNode, Timestamp, TraceId, TraceTree,
};
use serde::Serialize;

/// How much of the tree to render.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Levels below the starting node to include; deeper nodes are left out, and their parent's
    /// `child_count` still says how many children it has.
    pub max_depth: Option<u32>,
    /// Leave out nodes at this index of the tree's depth-first order and after (a page ends
    /// there); their parent's `child_count` still counts them.
    pub end: Option<u32>,
}

/// The nested JSON of the tree from its root; `null` for an empty tree.
pub fn tree_json(tree: &TraceTree, options: &RenderOptions) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    write_subtree(&mut out, tree, tree.root, options)?;
    Ok(out)
}

/// Writes the nested JSON of the subtree at `start` into `out` (a buffer, or a stream: an export
/// writes a 100,000-span trace without holding its JSON).
pub fn write_subtree<W: std::io::Write>(
    out: &mut W,
    tree: &TraceTree,
    start: Option<u32>,
    options: &RenderOptions,
) -> Result<(), serde_json::Error> {
    write_subtree_with(out, tree, start, options, &mut |_, _| Ok(()))
}

/// Writes more fields of the node at an index into a node's JSON (see [`write_subtree_with`]).
pub type NodeFields<'a> = dyn FnMut(&mut Vec<u8>, u32) -> Result<(), serde_json::Error> + 'a;

/// [`write_subtree`], with `extra` writing more of each node's fields (`,"key":value`…) after
/// its own, given the node's index: what the caller knows of a node that the tree does not
/// (its cost).
pub fn write_subtree_with<W: std::io::Write>(
    out: &mut W,
    tree: &TraceTree,
    start: Option<u32>,
    options: &RenderOptions,
    extra: &mut NodeFields<'_>,
) -> Result<(), serde_json::Error> {
    let io = serde_json::Error::io;
    let Some(start) = start.filter(|&s| (s as usize) < tree.nodes.len()) else {
        return out.write_all(b"null").map_err(io);
    };
    let base_depth = tree.nodes[start as usize].depth;
    // One node's JSON at a time, to reopen it before it is written out.
    let mut node_json = Vec::with_capacity(1024);
    let mut open = |out: &mut W, index: u32| -> Result<(), serde_json::Error> {
        let node = &tree.nodes[index as usize];
        node_json.clear();
        serde_json::to_writer(&mut node_json, node)?;
        // A struct always serializes as `{…}`: reopen it to add the children.
        node_json.pop();
        extra(&mut node_json, index)?;
        out.write_all(&node_json).map_err(io)?;
        write!(
            out,
            ",\"child_count\":{},\"children\":[",
            node.children.len()
        )
        .map_err(io)
    };
    open(out, start)?;
    let mut stack: Vec<(u32, usize)> = vec![(start, 0)];
    while let Some(top) = stack.last_mut() {
        let node = &tree.nodes[top.0 as usize];
        let within = options
            .max_depth
            .is_none_or(|max| node.depth - base_depth < max);
        match node.children.get(top.1) {
            Some(&child) if within && options.end.is_none_or(|end| child < end) => {
                if top.1 > 0 {
                    out.write_all(b",").map_err(io)?;
                }
                top.1 += 1;
                open(out, child)?;
                stack.push((child, 0));
            }
            _ => {
                out.write_all(b"]}").map_err(io)?;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// The whole tree as one document: `{"trace_id", "stats", "root", "anomalies"}`.
pub fn tree_document(
    tree: &TraceTree,
    options: &RenderOptions,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    out.push(b'{');
    write_tree_members(&mut out, tree, options, &mut |_, _| Ok(()))?;
    out.push(b'}');
    Ok(out)
}

/// The members of [`tree_document`] without its braces, for a document that adds its own:
/// `"trace_id":…,"stats":…,"root":…,"anomalies":…`; `extra` adds fields to each node, as in
/// [`write_subtree_with`].
pub fn write_tree_members<W: std::io::Write>(
    out: &mut W,
    tree: &TraceTree,
    options: &RenderOptions,
    extra: &mut NodeFields<'_>,
) -> Result<(), serde_json::Error> {
    let io = serde_json::Error::io;
    out.write_all(b"\"trace_id\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &tree.trace_id)?;
    out.write_all(b",\"stats\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &tree.stats)?;
    out.write_all(b",\"root\":").map_err(io)?;
    write_subtree_with(out, tree, tree.root, options, extra)?;
    out.write_all(b",\"anomalies\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &tree.anomalies)
}

/// A span in Orcheo's flat shape: the trace view's `spans` (`view=flat`) and the spans of the
/// live feed's `trace:update` messages, which build it from span summaries; Canvas reads both
/// with one parser.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlatSpan<'a> {
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    /// `null` only in a live update of a run whose trace is not known.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub trace_id: Option<TraceId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: Cow<'a, str>,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
    /// The span's attributes; in the trace view, each id in `orcheo.artifact.ids` is given as a
    /// signed reference (see `flat_attributes_schema`).
    #[serde(serialize_with = "serialize_attributes")]
    #[cfg_attr(feature = "openapi", schema(schema_with = flat_attributes_schema))]
    pub attributes: Cow<'a, [KeyValue]>,
    pub events: &'a [SpanEvent],
    #[cfg_attr(feature = "openapi", schema(value_type = RawStatus))]
    pub status: Cow<'a, RawStatus>,
    pub links: &'a [SpanLink],
}

/// The schema of [`FlatSpan::attributes`]: a field with its own schema takes no description
/// from its comment.
#[cfg(feature = "openapi")]
fn flat_attributes_schema() -> utoipa::openapi::Object {
    let mut schema = orcheo_trace_model::openapi::attributes();
    schema.description = Some(
        "The span's attributes; in the trace view, each id in `orcheo.artifact.ids` is given \
         as a signed reference (`<id>~<expiry>~<signature>`) that \
         `/api/artifacts/{reference}/download` opens without a token."
            .to_owned(),
    );
    schema
}

impl<'a> FlatSpan<'a> {
    pub fn new(node: &'a SpanNode) -> Self {
        Self {
            span_id: node.span_id,
            parent_span_id: node.parent_span_id,
            trace_id: Some(node.trace_id),
            name: Cow::Borrowed(&node.name),
            start_time: node.start_time,
            end_time: node.end_time,
            attributes: Cow::Borrowed(&node.attributes),
            events: node.events(),
            status: Cow::Borrowed(&node.status),
            links: node.links(),
        }
    }
}

/// The real spans (placeholders left out) in depth-first order, in the flat shape.
pub fn flat_spans(tree: &TraceTree) -> impl Iterator<Item = FlatSpan<'_>> {
    tree.nodes
        .iter()
        .filter(|n| !n.synthetic)
        .map(FlatSpan::new)
}

/// `{"trace_id", "spans": [flat spans], "anomalies"}`.
pub fn flat_json(tree: &TraceTree) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Doc<'a> {
        trace_id: Option<TraceId>,
        spans: Vec<FlatSpan<'a>>,
        anomalies: &'a [orcheo_trace_model::Anomaly],
    }
    serde_json::to_vec(&Doc {
        trace_id: tree.trace_id,
        spans: flat_spans(tree).collect(),
        anomalies: &tree.anomalies,
    })
}
