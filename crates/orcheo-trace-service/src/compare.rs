//! Two runs side by side: their nodes matched, what was added, removed or changed, the deltas
//! of time, tokens and cost, and — with content scope — what the prompts and responses of each
//! matched LLM node say differently.
//!
//! Nodes are matched in three passes, each over the nodes the earlier passes left: by Orcheo
//! node id (`orcheo.node.id`) and path, then by name and path, then by name alone. A node's
//! path is the chain of its ancestors' node ids (or names, for spans without one) from the root;
//! nodes with the same key are matched in tree order (the first with the first: loops repeat a
//! node). The answer lists the nodes in tree order: the second run's tree, with each removed
//! node of the first run placed after its preceding sibling.
//!
//! The comparison works on trees already filtered for the caller (tenant, content scope,
//! redaction): it shows nothing the trace route would not.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use orcheo_pricing::{Cost, RunCost, TraceCosts, Unpriced};
use orcheo_trace_model::{
    ContentItem, NodeKind, SpanId, SpanNode, StatusCode, Timestamp, TraceId, TraceTree,
};
use orcheo_trace_store::Execution;
use serde::Serialize;
use similar::{ChangeTag, DiffOp, TextDiff};

/// Most nodes a run may have to be compared.
pub const MAX_NODES: usize = 10_000;
/// Most bytes of a node's prompts (or responses) that are diffed, per side; the rest is left
/// out, and the diff says it is `truncated`.
pub const MAX_DIFF_BYTES: usize = 64 * 1024;
/// How long one text diff may take; past it, the diff is coarser (whole blocks of lines), not
/// wrong.
pub const DIFF_DEADLINE: Duration = Duration::from_millis(200);
/// Most text a whole comparison diffs (both sides, every node), and how long it may spend on
/// it: past either, the remaining nodes' diffs are left out and counted (`diffs_omitted`), so
/// that two runs of thousands of long LLM nodes answer in bounded time and size.
pub const MAX_DIFF_BYTES_TOTAL: usize = 8 * 1024 * 1024;
/// See [`MAX_DIFF_BYTES_TOTAL`].
pub const DIFF_TIME_TOTAL: Duration = Duration::from_secs(2);
/// Longest replaced block of lines (per side) whose words are compared too.
const WORD_DIFF_MAX_BYTES: usize = 4 * 1024;
/// A duration counts as changed when it differs by at least this many milliseconds…
const DURATION_NOISE_MS: f64 = 10.0;
/// …and by at least this share of the longer one: runs never take exactly as long.
const DURATION_NOISE_SHARE: f64 = 0.2;

/// What a comparison refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    /// A run has more than [`MAX_NODES`] nodes.
    #[error(
        "run {execution} has {nodes} spans; runs of at most {max} spans can be compared",
        max = MAX_NODES
    )]
    TooLarge { execution: String, nodes: usize },
}

/// One run's side of a comparison: its tree (already filtered for the caller) and the costs of
/// its spans.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The execution's id (for messages).
    pub execution: &'a str,
    pub tree: &'a TraceTree,
    pub costs: &'a TraceCosts,
}

/// How a node differs between the runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in run `b`.
    Added,
    /// Only in run `a`.
    Removed,
    /// In both, and something in `changes` differs.
    Changed,
    /// In both, alike.
    Same,
}

/// How a node of `a` was matched to one of `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The same Orcheo node id at the same path.
    NodeId,
    /// The same name at the same path.
    Path,
    /// The same name elsewhere in the tree.
    Name,
}

/// What differs in a matched node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// The status code (`OK`, `ERROR`, `UNSET`).
    Status,
    /// The name (the node was renamed).
    Name,
    /// The model.
    Model,
    /// The node's own input or output tokens.
    Tokens,
    /// The cost of the node's own tokens.
    Cost,
    /// The duration, by at least 10 ms and 20 % of the longer one.
    Duration,
    /// The text of its prompts or responses (only with content scope).
    Content,
}

/// A node as one run has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeSide {
    pub span_id: SpanId,
    pub name: String,
    /// `llm`, `tool`, `workflow`…
    pub kind: String,
    pub status: StatusCode,
    /// `null` while the span runs.
    pub duration_ms: Option<f64>,
    /// The node's own tokens (its model call), not its descendants'; `null` when it has none.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// US dollars for the node's own tokens at the prices the trace route uses; `null` when it
    /// has no tokens or they could not be priced (`unpriced` says why).
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<Unpriced>,
    /// The model the node called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// `b − a` of a matched node; a value is `null` when either side lacks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeDelta {
    pub duration_ms: Option<f64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// `null` when either side's tokens could not be priced (or neither side has tokens).
    pub cost_usd: Option<f64>,
}

/// One stretch of a text diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffPart {
    /// `equal`, `insert` (only in `b`) or `delete` (only in `a`).
    pub op: DiffTag,
    pub text: String,
}

/// What a stretch of a text diff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DiffTag {
    Equal,
    Insert,
    Delete,
}

/// The diff of one text (a node's prompts, or its responses): lines first, then the words
/// within a replaced block of lines when it is short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextDiffView {
    /// `a`'s text, stretch by stretch with `b`'s, in order; joined, the `equal` and `delete`
    /// parts are `a`'s text and the `equal` and `insert` parts are `b`'s.
    pub parts: Vec<DiffPart>,
    /// A side was longer than 64 KiB: only its first 64 KiB were compared.
    pub truncated: bool,
    /// The diff met its time limit and is coarser than it could be.
    pub timed_out: bool,
}

/// The prompt and response diffs of a matched LLM node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContentDiff {
    pub prompt: TextDiffView,
    pub response: TextDiffView,
}

/// One node of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeComparison {
    pub change: Change,
    /// Levels below the root, in the merged tree.
    pub depth: u32,
    /// The index, in `nodes`, of the node's parent; `null` for the root.
    pub parent: Option<u32>,
    /// The node's `orcheo.node.id`, when it has one (`b`'s, or `a`'s for a removed node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// `null` for an added or removed node.
    pub matched_by: Option<MatchedBy>,
    /// Matched by node id, but the names differ.
    pub renamed: bool,
    /// What differs (empty unless `changed`).
    pub changes: Vec<Difference>,
    /// The node in run `a`; `null` when added.
    pub a: Option<NodeSide>,
    /// The node in run `b`; `null` when removed.
    pub b: Option<NodeSide>,
    /// `b − a`; `null` unless the node is in both runs.
    pub delta: Option<NodeDelta>,
    /// Only with content scope, for a matched LLM node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<ContentDiff>,
}

/// A run's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunTotals {
    pub span_count: u64,
    pub error_count: u64,
    /// From the first span's start to the last span's end.
    pub duration_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    /// `null` when no span had tokens.
    pub cost: Option<RunCost>,
}

/// `b − a` of the runs' totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDelta {
    pub span_count: i64,
    pub error_count: i64,
    pub duration_ms: Option<f64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    /// `null` when either run's cost is incomplete (a span could not be priced) or unknown.
    pub cost_usd: Option<f64>,
}

/// How many nodes are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeCounts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub same: u64,
}

/// The comparison of two runs' trees.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeComparison {
    pub totals_a: RunTotals,
    pub totals_b: RunTotals,
    pub delta: RunDelta,
    pub counts: ChangeCounts,
    /// Whether prompt and response diffs are included (the caller has content scope).
    pub content_included: bool,
    /// LLM nodes whose diff was left out: the comparison had diffed all the text
    /// ([`MAX_DIFF_BYTES_TOTAL`]) or spent all the time ([`DIFF_TIME_TOTAL`]) it may.
    pub diffs_omitted: u32,
    /// The merged tree, depth first.
    pub nodes: Vec<NodeComparison>,
}

/// A run as the comparison names it (its texts redacted as the trace's are).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunInfo {
    pub id: String,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<String>,
    /// `running`, `completed`, `error` or `cancelled`.
    pub status: &'static str,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// From start to finish (until now for a running execution).
    pub duration_ms: Option<f64>,
    pub trace_id: Option<TraceId>,
}

impl RunInfo {
    /// The execution, its texts redacted with `redact`.
    pub fn of(execution: &Execution, redact: impl Fn(&str) -> String) -> Self {
        let end = execution.finished_at.unwrap_or_else(Timestamp::now);
        Self {
            id: execution.id.as_str().to_owned(),
            workflow_id: execution.workflow_id.as_deref().map(&redact),
            workflow_version: execution.workflow_version.as_deref().map(&redact),
            status: execution.status.as_str(),
            started_at: execution.started_at,
            finished_at: execution.finished_at,
            duration_ms: Some(execution.started_at.millis_until(end).max(0.0)),
            trace_id: execution.trace_id,
        }
    }
}

/// The answer of a comparison: both runs, and how their trees differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comparison {
    pub a: RunInfo,
    pub b: RunInfo,
    /// Run `a`'s totals.
    pub totals_a: RunTotals,
    /// Run `b`'s totals.
    pub totals_b: RunTotals,
    /// `b − a` of the totals.
    pub delta: RunDelta,
    pub counts: ChangeCounts,
    /// Whether prompt and response diffs are included (the caller has content scope, and did
    /// not decline it).
    pub content_included: bool,
    /// LLM nodes whose diff was left out, past what one comparison diffs (8 MiB of text, 2 s).
    pub diffs_omitted: u32,
    /// The merged tree, depth first.
    pub nodes: Vec<NodeComparison>,
}

impl Comparison {
    /// The answer for runs `a` and `b` and their trees' comparison.
    pub fn new(a: RunInfo, b: RunInfo, trees: TreeComparison) -> Self {
        Self {
            a,
            b,
            totals_a: trees.totals_a,
            totals_b: trees.totals_b,
            delta: trees.delta,
            counts: trees.counts,
            content_included: trees.content_included,
            diffs_omitted: trees.diffs_omitted,
            nodes: trees.nodes,
        }
    }
}

/// Compares two runs. `content` asks for the text diffs of matched LLM nodes (the caller has
/// content scope and the trees carry their text).
pub fn compare(a: Run<'_>, b: Run<'_>, content: bool) -> Result<TreeComparison, CompareError> {
    for run in [a, b] {
        if run.tree.nodes.len() > MAX_NODES {
            return Err(CompareError::TooLarge {
                execution: run.execution.to_owned(),
                nodes: run.tree.nodes.len(),
            });
        }
    }
    let matching = Matching::of(a.tree, b.tree);
    let order = merged_order(a.tree, b.tree, &matching);
    let mut counts = ChangeCounts::default();
    let mut nodes = Vec::with_capacity(order.len());
    let mut budget = DiffBudget {
        bytes_left: MAX_DIFF_BYTES_TOTAL,
        until: Instant::now() + DIFF_TIME_TOTAL,
        omitted: 0,
    };
    for item in order {
        let node = node_comparison(a, b, &matching, &item, content, &mut budget);
        match node.change {
            Change::Added => counts.added += 1,
            Change::Removed => counts.removed += 1,
            Change::Changed => counts.changed += 1,
            Change::Same => counts.same += 1,
        }
        nodes.push(node);
    }
    let (totals_a, totals_b) = (totals(a), totals(b));
    let delta = run_delta(&totals_a, &totals_b);
    Ok(TreeComparison {
        totals_a,
        totals_b,
        delta,
        counts,
        content_included: content,
        diffs_omitted: budget.omitted,
        nodes,
    })
}

/// Which node of `b` each node of `a` was matched to, and how.
#[derive(Debug)]
struct Matching {
    /// By index of `a`.
    a_to_b: Vec<Option<(u32, MatchedBy)>>,
    /// By index of `b`.
    b_to_a: Vec<Option<u32>>,
}

impl Matching {
    fn of(a: &TraceTree, b: &TraceTree) -> Self {
        let mut matching = Self {
            a_to_b: vec![None; a.nodes.len()],
            b_to_a: vec![None; b.nodes.len()],
        };
        // One numbering of paths for both trees, so that equal paths have equal numbers.
        let mut known = HashMap::new();
        let (paths_a, paths_b) = (paths(a, &mut known), paths(b, &mut known));
        let by_id = |tree: &TraceTree, paths: &[u32], i: usize| {
            node_id(&tree.nodes[i]).map(|id| format!("{}\u{1f}{id}", paths[i]))
        };
        let by_path = |tree: &TraceTree, paths: &[u32], i: usize| {
            Some(format!("{}\u{1f}{}", paths[i], tree.nodes[i].name))
        };
        let by_name = |tree: &TraceTree, _: &[u32], i: usize| Some(tree.nodes[i].name.to_string());
        matching.pass(a, b, &paths_a, &paths_b, MatchedBy::NodeId, by_id);
        matching.pass(a, b, &paths_a, &paths_b, MatchedBy::Path, by_path);
        matching.pass(a, b, &paths_a, &paths_b, MatchedBy::Name, by_name);
        matching
    }

    /// Matches the unmatched nodes of `a` and `b` that have the same `key`, in tree order.
    fn pass(
        &mut self,
        a: &TraceTree,
        b: &TraceTree,
        paths_a: &[u32],
        paths_b: &[u32],
        how: MatchedBy,
        key: impl Fn(&TraceTree, &[u32], usize) -> Option<String>,
    ) {
        let mut waiting: HashMap<String, VecDeque<u32>> = HashMap::new();
        for i in depth_first(b) {
            if self.b_to_a[i as usize].is_none()
                && let Some(k) = key(b, paths_b, i as usize)
            {
                waiting.entry(k).or_default().push_back(i);
            }
        }
        for i in depth_first(a) {
            if self.a_to_b[i as usize].is_some() {
                continue;
            }
            let Some(k) = key(a, paths_a, i as usize) else {
                continue;
            };
            if let Some(j) = waiting.get_mut(&k).and_then(VecDeque::pop_front) {
                self.a_to_b[i as usize] = Some((j, how));
                self.b_to_a[j as usize] = Some(i);
            }
        }
    }
}

/// A node's Orcheo node id, when it has a non-empty one.
fn node_id(node: &SpanNode) -> Option<String> {
    node.attributes
        .iter()
        .find(|kv| kv.key == orcheo_trace_model::semconv::NODE_ID)
        .map(|kv| match kv.value.as_str() {
            Some(s) => s.trim().to_owned(),
            None => render_value(&kv.value),
        })
        .filter(|id| !id.is_empty())
}

fn render_value(value: &orcheo_trace_model::AttributeValue) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// What identifies a node within its path: its node id, or its name.
fn step(node: &SpanNode) -> String {
    node_id(node).unwrap_or_else(|| node.name.to_string())
}

/// Each node's path — its ancestors' steps from the root — as a number: the same number for the
/// same path in either tree (`known` numbers each path by its parent's path and the parent's
/// step, so a deep tree costs no long strings). The root's path is 0.
fn paths(tree: &TraceTree, known: &mut HashMap<(u32, String), u32>) -> Vec<u32> {
    let mut paths = vec![0; tree.nodes.len()];
    for i in depth_first(tree) {
        let node = &tree.nodes[i as usize];
        if let Some(p) = node.parent {
            let key = (paths[p as usize], step(&tree.nodes[p as usize]));
            let next = u32::try_from(known.len() + 1).unwrap_or(u32::MAX);
            paths[i as usize] = *known.entry(key).or_insert(next);
        }
    }
    paths
}

/// The tree's node indexes, depth first from the root, children in order; nodes out of the
/// root's reach (none, in a normalized tree) follow in index order.
fn depth_first(tree: &TraceTree) -> Vec<u32> {
    let mut order = Vec::with_capacity(tree.nodes.len());
    let mut seen = vec![false; tree.nodes.len()];
    let starts = tree
        .root
        .into_iter()
        .chain((0..tree.nodes.len()).filter_map(|i| u32::try_from(i).ok()));
    for start in starts {
        if seen.get(start as usize).copied().unwrap_or(true) {
            continue;
        }
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            let Some(slot) = seen.get_mut(i as usize) else {
                continue;
            };
            if *slot {
                continue;
            }
            *slot = true;
            order.push(i);
            stack.extend(tree.nodes[i as usize].children.iter().rev());
        }
    }
    order
}

/// One node of the merged tree: a node of `b` (matched or added) or a removed node of `a`.
#[derive(Debug, Clone, Copy)]
enum Item {
    B(u32),
    RemovedA(u32),
}

/// An item, its depth and its parent's place in the answer.
#[derive(Debug, Clone, Copy)]
struct Placed {
    item: Item,
    depth: u32,
    parent: Option<u32>,
}

/// The merged tree, depth first: `b`'s tree, with each removed node of `a` under the merged
/// node of its parent, after the merged node of its preceding sibling.
fn merged_order(a: &TraceTree, b: &TraceTree, matching: &Matching) -> Vec<Placed> {
    // The merged node an `a` node stands in: its match in `b`, or itself when removed.
    let place_of = |i: u32| match matching.a_to_b[i as usize] {
        Some((j, _)) => Item::B(j),
        None => Item::RemovedA(i),
    };
    let key = |item: Item| match item {
        Item::B(j) => (0u8, j),
        Item::RemovedA(i) => (1u8, i),
    };
    // Children of each merged node.
    let mut children: HashMap<(u8, u32), Vec<Item>> = HashMap::new();
    for (j, node) in b.nodes.iter().enumerate() {
        let Ok(j) = u32::try_from(j) else { continue };
        children.insert(
            key(Item::B(j)),
            node.children.iter().map(|&c| Item::B(c)).collect(),
        );
    }
    let mut roots: Vec<Item> = Vec::new();
    if let Some(root) = b.root {
        roots.push(Item::B(root));
    }
    for i in depth_first(a) {
        if matching.a_to_b[i as usize].is_some() {
            continue;
        }
        let node = &a.nodes[i as usize];
        let Some(parent) = node.parent else {
            roots.push(Item::RemovedA(i));
            continue;
        };
        let siblings = &a.nodes[parent as usize].children;
        let before = siblings
            .iter()
            .take_while(|&&s| s != i)
            .last()
            .map(|&s| place_of(s));
        let list = children.entry(key(place_of(parent))).or_default();
        // A removed sibling before it was placed already (depth first is `a`'s order).
        let at = before
            .and_then(|before| list.iter().position(|&c| key(c) == key(before)))
            .map_or(0, |p| p + 1);
        list.insert(at, Item::RemovedA(i));
    }
    // Nodes of `b` out of the root's reach.
    let mut reached = vec![false; b.nodes.len()];
    let mut order = Vec::with_capacity(a.nodes.len().max(b.nodes.len()));
    let mut stack: Vec<(Item, u32, Option<u32>)> =
        roots.iter().rev().map(|&item| (item, 0, None)).collect();
    let mut visited: std::collections::HashSet<(u8, u32)> = std::collections::HashSet::new();
    let mut walk = |stack: &mut Vec<(Item, u32, Option<u32>)>, order: &mut Vec<Placed>| {
        while let Some((item, depth, parent)) = stack.pop() {
            if !visited.insert(key(item)) {
                continue;
            }
            if let Item::B(j) = item {
                reached[j as usize] = true;
            }
            let index = u32::try_from(order.len()).unwrap_or(u32::MAX);
            order.push(Placed {
                item,
                depth,
                parent,
            });
            if let Some(kids) = children.get(&key(item)) {
                stack.extend(kids.iter().rev().map(|&c| (c, depth + 1, Some(index))));
            }
        }
    };
    walk(&mut stack, &mut order);
    let rest: Vec<u32> = (0..b.nodes.len())
        .filter_map(|j| u32::try_from(j).ok())
        .filter(|&j| b.nodes[j as usize].parent.is_none() && Some(j) != b.root)
        .collect();
    for j in rest {
        stack.push((Item::B(j), 0, None));
        walk(&mut stack, &mut order);
    }
    order
}

fn side(run: Run<'_>, i: u32) -> NodeSide {
    let node = &run.tree.nodes[i as usize];
    let cost: Option<&Cost> = run.costs.span(i);
    NodeSide {
        span_id: node.span_id,
        name: node.name.to_string(),
        kind: node.kind.as_str().to_owned(),
        status: node.status.code,
        duration_ms: node.duration_ms(),
        input_tokens: node.self_token_usage.map(|t| t.input),
        output_tokens: node.self_token_usage.map(|t| t.output),
        cost_usd: cost.and_then(|c| c.usd),
        unpriced: cost.and_then(|c| c.unpriced),
        model: node
            .model
            .as_deref()
            .and_then(|m| m.name.as_deref().or(m.request.as_deref()))
            .map(str::to_owned),
    }
}

/// `b − a` of two counts that may be absent (absent counts as zero when the other side has
/// one: a node that stopped calling its model used no tokens).
fn count_delta(a: Option<u64>, b: Option<u64>) -> Option<i64> {
    if a.is_none() && b.is_none() {
        return None;
    }
    let (a, b) = (a.unwrap_or(0), b.unwrap_or(0));
    Some(i64::try_from(b).unwrap_or(i64::MAX) - i64::try_from(a).unwrap_or(i64::MAX))
}

/// `b − a` of two nodes' costs: `null` when either side's tokens could not be priced, or
/// neither side has tokens; a side without tokens costs nothing.
fn cost_delta(a: &NodeSide, b: &NodeSide) -> Option<f64> {
    // `None`: not priced; `Some(None)`: no tokens; `Some(Some(usd))`: priced.
    let usd = |s: &NodeSide| match (s.cost_usd, s.unpriced.is_some() || s.input_tokens.is_some()) {
        (Some(usd), _) => Some(Some(usd)),
        (None, true) => None,
        (None, false) => Some(None),
    };
    match (usd(a)?, usd(b)?) {
        (None, None) => None,
        (a, b) => Some(b.unwrap_or(0.0) - a.unwrap_or(0.0)),
    }
}

/// What is left of a comparison's diffing.
struct DiffBudget {
    bytes_left: usize,
    until: Instant,
    omitted: u32,
}

impl DiffBudget {
    /// Takes `bytes` of text to diff, or says no (and counts the node left out).
    fn take(&mut self, bytes: usize) -> bool {
        if bytes > self.bytes_left || Instant::now() >= self.until {
            self.omitted += 1;
            return false;
        }
        self.bytes_left -= bytes;
        true
    }
}

fn node_comparison(
    a: Run<'_>,
    b: Run<'_>,
    matching: &Matching,
    placed: &Placed,
    content: bool,
    budget: &mut DiffBudget,
) -> NodeComparison {
    let (ia, ib) = match placed.item {
        Item::B(j) => (matching.b_to_a[j as usize], Some(j)),
        Item::RemovedA(i) => (Some(i), None),
    };
    let matched_by = ia
        .and_then(|i| matching.a_to_b[i as usize])
        .map(|(_, how)| how);
    let (na, nb) = (
        ia.map(|i| &a.tree.nodes[i as usize]),
        ib.map(|j| &b.tree.nodes[j as usize]),
    );
    let node_id = nb.or(na).and_then(node_id);
    let (sa, sb) = (ia.map(|i| side(a, i)), ib.map(|j| side(b, j)));
    let mut out = NodeComparison {
        change: Change::Same,
        depth: placed.depth,
        parent: placed.parent,
        node_id,
        matched_by,
        renamed: false,
        changes: Vec::new(),
        a: None,
        b: None,
        delta: None,
        diff: None,
    };
    match (&sa, &sb, na, nb) {
        (Some(sa), Some(sb), Some(na), Some(nb)) => {
            out.renamed = matched_by == Some(MatchedBy::NodeId) && sa.name != sb.name;
            let delta = NodeDelta {
                duration_ms: sa.duration_ms.zip(sb.duration_ms).map(|(a, b)| b - a),
                input_tokens: count_delta(sa.input_tokens, sb.input_tokens),
                output_tokens: count_delta(sa.output_tokens, sb.output_tokens),
                cost_usd: cost_delta(sa, sb),
            };
            let mut changes = Vec::new();
            if sa.status != sb.status {
                changes.push(Difference::Status);
            }
            if sa.name != sb.name {
                changes.push(Difference::Name);
            }
            if sa.model != sb.model {
                changes.push(Difference::Model);
            }
            if delta.input_tokens.is_some_and(|d| d != 0)
                || delta.output_tokens.is_some_and(|d| d != 0)
            {
                changes.push(Difference::Tokens);
            }
            if delta.cost_usd.is_some_and(|d| d.abs() > 1e-12)
                || sa.unpriced.is_some() != sb.unpriced.is_some()
            {
                changes.push(Difference::Cost);
            }
            if let (Some(da), Some(db)) = (sa.duration_ms, sb.duration_ms) {
                let d = (db - da).abs();
                if d >= DURATION_NOISE_MS && d >= DURATION_NOISE_SHARE * da.abs().max(db.abs()) {
                    changes.push(Difference::Duration);
                }
            } else if sa.duration_ms.is_some() != sb.duration_ms.is_some() {
                changes.push(Difference::Duration);
            }
            let llm = na.kind == NodeKind::Llm || nb.kind == NodeKind::Llm;
            if content && llm {
                let ((prompt_a, response_a), (prompt_b, response_b)) = (texts(na), texts(nb));
                let bytes = [&prompt_a, &response_a, &prompt_b, &response_b]
                    .iter()
                    .map(|t| t.len().min(MAX_DIFF_BYTES))
                    .sum();
                if budget.take(bytes) {
                    let diff = ContentDiff {
                        prompt: diff_text(&prompt_a, &prompt_b),
                        response: diff_text(&response_a, &response_b),
                    };
                    let differs = |d: &TextDiffView| d.parts.iter().any(|p| p.op != DiffTag::Equal);
                    if differs(&diff.prompt) || differs(&diff.response) {
                        changes.push(Difference::Content);
                    }
                    out.diff = Some(diff);
                }
            }
            out.change = if changes.is_empty() {
                Change::Same
            } else {
                Change::Changed
            };
            out.changes = changes;
            out.delta = Some(delta);
        }
        (None, Some(_), _, _) => out.change = Change::Added,
        _ => out.change = Change::Removed,
    }
    out.a = sa;
    out.b = sb;
    out
}

/// What a node was asked and what it answered, as texts to diff. The prompt: its prompts, then
/// its chat messages up to the reply; the response: its responses, then the reply — the
/// assistant messages that end the conversation (the output follows the input in a node's
/// messages).
fn texts(node: &SpanNode) -> (String, String) {
    let messages = node.messages();
    let reply = messages
        .iter()
        .rev()
        .take_while(|m| m.role.as_deref() == Some("assistant"))
        .count();
    let (asked, answered) = messages.split_at(messages.len() - reply);
    (
        joined(node.prompts().iter().chain(asked)),
        joined(node.responses().iter().chain(answered)),
    )
}

/// The text of prompts (or responses), one item after another, each headed by its role when
/// it has one; items whose text is withheld are left out.
fn joined<'a>(items: impl Iterator<Item = &'a ContentItem>) -> String {
    let mut text = String::new();
    for item in items {
        let Some(content) = item.content.as_deref() else {
            continue;
        };
        if !text.is_empty() {
            text.push('\n');
        }
        if let Some(role) = item.role.as_deref().filter(|r| !r.is_empty()) {
            text.push('[');
            text.push_str(role);
            text.push_str("]\n");
        }
        text.push_str(content);
        if !content.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn bounded(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// The diff of two texts: by lines, and by words within each replaced block of lines that is
/// at most [`WORD_DIFF_MAX_BYTES`] long per side.
pub fn diff_text(a: &str, b: &str) -> TextDiffView {
    let (a, cut_a) = bounded(a, MAX_DIFF_BYTES);
    let (b, cut_b) = bounded(b, MAX_DIFF_BYTES);
    let started = Instant::now();
    let deadline = started + DIFF_DEADLINE;
    let lines = TextDiff::configure().deadline(deadline).diff_lines(a, b);
    let mut parts = Parts::default();
    for op in lines.ops() {
        match *op {
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let old: String = lines.old_slices()[old_index..old_index + old_len].concat();
                let new: String = lines.new_slices()[new_index..new_index + new_len].concat();
                if old.len() <= WORD_DIFF_MAX_BYTES && new.len() <= WORD_DIFF_MAX_BYTES {
                    let words = TextDiff::configure()
                        .deadline(deadline)
                        .diff_words(&old, &new);
                    for change in words.iter_all_changes() {
                        parts.push(tag(change.tag()), change.value());
                    }
                } else {
                    parts.push(DiffTag::Delete, &old);
                    parts.push(DiffTag::Insert, &new);
                }
            }
            _ => {
                for change in lines.iter_changes(op) {
                    parts.push(tag(change.tag()), change.value());
                }
            }
        }
    }
    TextDiffView {
        parts: parts.0,
        truncated: cut_a || cut_b,
        timed_out: Instant::now() >= deadline,
    }
}

fn tag(tag: ChangeTag) -> DiffTag {
    match tag {
        ChangeTag::Equal => DiffTag::Equal,
        ChangeTag::Insert => DiffTag::Insert,
        ChangeTag::Delete => DiffTag::Delete,
    }
}

/// Diff parts, a stretch of the same kind kept as one.
#[derive(Debug, Default)]
struct Parts(Vec<DiffPart>);

impl Parts {
    fn push(&mut self, op: DiffTag, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.op == op => last.text.push_str(text),
            _ => self.0.push(DiffPart {
                op,
                text: text.to_owned(),
            }),
        }
    }
}

fn totals(run: Run<'_>) -> RunTotals {
    let stats = &run.tree.stats;
    RunTotals {
        span_count: stats.span_count,
        error_count: stats.error_count,
        duration_ms: stats.duration_ms,
        input_tokens: stats.token_usage.input,
        output_tokens: stats.token_usage.output,
        total_tokens: stats.token_usage.total,
        cost: run.costs.run.clone(),
    }
}

fn run_delta(a: &RunTotals, b: &RunTotals) -> RunDelta {
    let d = |a: u64, b: u64| {
        i64::try_from(b).unwrap_or(i64::MAX) - i64::try_from(a).unwrap_or(i64::MAX)
    };
    // A run without tokens costs nothing; one with an unpriced span has no known cost.
    let usd = |c: &Option<RunCost>| match c {
        None => Some(0.0),
        Some(c) if c.complete => c.usd,
        Some(_) => None,
    };
    RunDelta {
        span_count: d(a.span_count, b.span_count),
        error_count: d(a.error_count, b.error_count),
        duration_ms: a.duration_ms.zip(b.duration_ms).map(|(a, b)| b - a),
        input_tokens: d(a.input_tokens, b.input_tokens),
        output_tokens: d(a.output_tokens, b.output_tokens),
        total_tokens: d(a.total_tokens, b.total_tokens),
        cost_usd: usd(&a.cost).zip(usd(&b.cost)).map(|(a, b)| b - a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(diff: &TextDiffView, keep: DiffTag) -> String {
        diff.parts
            .iter()
            .filter(|p| p.op == DiffTag::Equal || p.op == keep)
            .map(|p| p.text.as_str())
            .collect()
    }

    #[test]
    fn a_diff_gives_back_both_texts_and_marks_changed_words() {
        let (a, b) = ("one\ntwo three\nfour\n", "one\ntwo 3\nfour\nfive\n");
        let diff = diff_text(a, b);
        assert_eq!(text(&diff, DiffTag::Delete), a);
        assert_eq!(text(&diff, DiffTag::Insert), b);
        assert!(
            diff.parts
                .iter()
                .any(|p| p.op == DiffTag::Delete && p.text == "three")
        );
        assert!(
            diff.parts
                .iter()
                .any(|p| p.op == DiffTag::Insert && p.text == "3")
        );
        assert!(!diff.truncated);
    }

    #[test]
    fn a_long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_DIFF_BYTES);
        let diff = diff_text(&long, "é");
        assert!(diff.truncated);
        let kept = text(&diff, DiffTag::Delete);
        assert!(kept.len() <= MAX_DIFF_BYTES && kept.len() > MAX_DIFF_BYTES - 2);
    }
}
