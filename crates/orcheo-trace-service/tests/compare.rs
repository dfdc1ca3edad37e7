//! Two runs compared: hand-built pairs that differ in one way each.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use orcheo_pricing::{PriceTable, TraceCosts};
use orcheo_trace_model::TraceTree;
use orcheo_trace_service::compare::{
    self, Change, CompareError, DiffTag, Difference, MatchedBy, NodeComparison, Run, TreeComparison,
};
use serde_json::{Value, json};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// A node of a hand-built run.
#[derive(Clone)]
struct Node {
    span: u64,
    parent: Option<u64>,
    name: &'static str,
    id: Option<&'static str>,
    kind: &'static str,
    ms: u64,
    error: bool,
    tokens: Option<(u64, u64)>,
    model: &'static str,
    prompt: Option<&'static str>,
    response: Option<&'static str>,
    /// `gen_ai.input.messages` and `gen_ai.output.messages` (as JSON).
    chat: Option<(&'static str, &'static str)>,
}

fn node(span: u64, parent: u64, name: &'static str) -> Node {
    Node {
        span,
        parent: Some(parent),
        name,
        id: None,
        kind: "tool",
        ms: 100,
        error: false,
        tokens: None,
        model: "gpt-4o",
        prompt: None,
        response: None,
        chat: None,
    }
}

fn llm(span: u64, parent: u64, name: &'static str, tokens: (u64, u64)) -> Node {
    Node {
        kind: "llm",
        tokens: Some(tokens),
        ..node(span, parent, name)
    }
}

/// A run: `workflow.execution` (span 1) and `nodes`.
fn run(nodes: &[Node]) -> TraceTree {
    let attr = |key: &str, value: &str| json!({"key": key, "value": {"stringValue": value}});
    let int = |key: &str, value: u64| json!({"key": key, "value": {"intValue": value.to_string()}});
    let start = 1_700_000_000_000_000_000_u64;
    let mut spans = vec![json!({
        "traceId": TRACE, "spanId": "0000000000000001", "name": "workflow.execution", "kind": 1,
        "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 10_000_000_000).to_string(),
        "attributes": [attr("orcheo.execution.id", "exec")], "status": {"code": 1}
    })];
    for n in nodes {
        let mut attributes = vec![attr("orcheo.node.kind", n.kind)];
        if let Some(id) = n.id {
            attributes.push(attr("orcheo.node.id", id));
        }
        if let Some((input, output)) = n.tokens {
            attributes.push(int("gen_ai.usage.input_tokens", input));
            attributes.push(int("gen_ai.usage.output_tokens", output));
            attributes.push(attr("gen_ai.request.model", n.model));
        }
        if let Some((asked, answered)) = n.chat {
            let message = |role: &str, text: &str| {
                json!([{"role": role, "parts": [{"type": "text", "content": text}]}]).to_string()
            };
            attributes.push(attr("gen_ai.input.messages", &message("user", asked)));
            attributes.push(attr(
                "gen_ai.output.messages",
                &message("assistant", answered),
            ));
        }
        let mut events = Vec::new();
        if let Some(prompt) = n.prompt {
            events.push(
                json!({"name": "prompt", "timeUnixNano": (start + 1).to_string(),
                "attributes": [attr("preview", prompt), attr("role", "user")]}),
            );
        }
        if let Some(response) = n.response {
            events.push(
                json!({"name": "response", "timeUnixNano": (start + 2).to_string(),
                "attributes": [attr("preview", response)]}),
            );
        }
        let begin = start + 1_000_000_000 + n.span * 1_000;
        spans.push(json!({
            "traceId": TRACE, "spanId": format!("{:016x}", n.span),
            "parentSpanId": format!("{:016x}", n.parent.unwrap_or(1)),
            "name": n.name, "kind": 1,
            "startTimeUnixNano": begin.to_string(),
            "endTimeUnixNano": (begin + n.ms * 1_000_000).to_string(),
            "attributes": attributes, "events": events,
            "status": {"code": if n.error { 2 } else { 1 }}
        }));
    }
    let body = json!({"resourceSpans": [{"resource": {"attributes": []},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]});
    let bytes = serde_json::to_vec(&body).unwrap();
    orcheo_span_tree::decode_and_normalize(&bytes, orcheo_span_tree::Format::Auto)
}

fn priced(tree: &TraceTree) -> TraceCosts {
    let table = PriceTable::builtin().unwrap();
    TraceCosts::of(table.prices(), tree)
}

fn compared(a: &[Node], b: &[Node], content: bool) -> TreeComparison {
    let (ta, tb) = (run(a), run(b));
    let (ca, cb) = (priced(&ta), priced(&tb));
    compare::compare(
        Run {
            execution: "a",
            tree: &ta,
            costs: &ca,
        },
        Run {
            execution: "b",
            tree: &tb,
            costs: &cb,
        },
        content,
    )
    .unwrap()
}

/// The compared node named `name` on either side.
fn named<'a>(c: &'a TreeComparison, name: &str) -> &'a NodeComparison {
    c.nodes
        .iter()
        .find(|n| {
            n.a.as_ref().is_some_and(|s| s.name == name)
                || n.b.as_ref().is_some_and(|s| s.name == name)
        })
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn names(c: &TreeComparison) -> Vec<(String, Change, u32)> {
    c.nodes
        .iter()
        .map(|n| {
            let side = n.b.as_ref().or(n.a.as_ref()).unwrap();
            (side.name.clone(), n.change, n.depth)
        })
        .collect()
}

#[test]
fn a_run_compared_with_itself_is_all_same() {
    let nodes = [node(2, 1, "fetch"), llm(3, 1, "draft", (100, 20))];
    let c = compared(&nodes, &nodes, true);
    assert_eq!(c.nodes.len(), 3);
    assert!(c.nodes.iter().all(|n| n.change == Change::Same), "{c:#?}");
    assert_eq!(c.counts.same, 3);
    assert_eq!(c.delta.total_tokens, 0);
    assert_eq!(c.delta.cost_usd, Some(0.0));
}

#[test]
fn added_and_removed_nodes_are_placed_in_tree_order() {
    let a = [
        node(2, 1, "fetch"),
        node(3, 1, "old step"),
        node(4, 3, "old child"),
        node(5, 1, "send"),
    ];
    let b = [
        node(2, 1, "fetch"),
        node(4, 1, "new step"),
        node(5, 1, "send"),
    ];
    let c = compared(&a, &b, false);
    assert_eq!(
        names(&c),
        [
            ("workflow.execution".to_owned(), Change::Same, 0),
            ("fetch".to_owned(), Change::Same, 1),
            ("old step".to_owned(), Change::Removed, 1),
            ("old child".to_owned(), Change::Removed, 2),
            ("new step".to_owned(), Change::Added, 1),
            ("send".to_owned(), Change::Same, 1),
        ]
    );
    let added = named(&c, "new step");
    assert!(added.a.is_none() && added.delta.is_none() && added.matched_by.is_none());
    let removed = named(&c, "old child");
    assert!(removed.b.is_none());
    assert_eq!(removed.parent, Some(2), "under the removed parent's place");
    assert_eq!((c.counts.added, c.counts.removed), (1, 2));
    assert_eq!(c.delta.span_count, -1);
}

#[test]
fn a_node_id_matches_a_renamed_node_before_names_do() {
    let a = [
        Node {
            id: Some("n1"),
            ..node(2, 1, "Summarize")
        },
        node(3, 1, "Summary"),
    ];
    let b = [
        Node {
            id: Some("n1"),
            ..node(2, 1, "Summary")
        },
        node(3, 1, "Summary"),
    ];
    let c = compared(&a, &b, false);
    let renamed = &c.nodes[1];
    assert_eq!(renamed.node_id.as_deref(), Some("n1"));
    assert_eq!(renamed.matched_by, Some(MatchedBy::NodeId));
    assert!(renamed.renamed);
    assert_eq!(renamed.change, Change::Changed);
    assert!(renamed.changes.contains(&Difference::Name));
    assert_eq!(renamed.a.as_ref().unwrap().name, "Summarize");
    assert_eq!(renamed.b.as_ref().unwrap().name, "Summary");
    // The nodes without an id: matched by name and path, not renamed.
    let other = &c.nodes[2];
    assert_eq!(other.matched_by, Some(MatchedBy::Path));
    assert!(!other.renamed);
    assert_eq!(
        other.a.as_ref().unwrap().name,
        other.b.as_ref().unwrap().name
    );
}

#[test]
fn a_node_that_moved_is_matched_by_name_among_the_rest() {
    let a = [node(2, 1, "group"), node(3, 2, "lookup")];
    let b = [node(2, 1, "group"), node(3, 1, "lookup")];
    let c = compared(&a, &b, false);
    assert_eq!(named(&c, "lookup").matched_by, Some(MatchedBy::Name));
    assert_eq!(c.counts.added + c.counts.removed, 0);
}

#[test]
fn repeated_nodes_are_matched_in_order() {
    let a = [node(2, 1, "step"), node(3, 1, "step")];
    let b = [
        node(2, 1, "step"),
        Node {
            error: true,
            ..node(3, 1, "step")
        },
        node(4, 1, "step"),
    ];
    let c = compared(&a, &b, false);
    let changes: Vec<Change> = c.nodes.iter().map(|n| n.change).collect();
    assert_eq!(
        changes,
        [Change::Same, Change::Same, Change::Changed, Change::Added]
    );
}

#[test]
fn a_failed_node_is_changed_and_counted() {
    let a = [node(2, 1, "send")];
    let b = [Node {
        error: true,
        ..node(2, 1, "send")
    }];
    let c = compared(&a, &b, false);
    let send = named(&c, "send");
    assert_eq!(send.change, Change::Changed);
    assert_eq!(send.changes, [Difference::Status]);
    assert_eq!(
        serde_json::to_value(send.b.as_ref().unwrap().status).unwrap(),
        "ERROR"
    );
    assert_eq!(c.delta.error_count, 1);
    assert_eq!(c.totals_b.error_count, 1);
}

#[test]
fn a_faster_node_has_a_negative_duration_delta_and_noise_is_not_a_change() {
    let a = [node(2, 1, "slow"), node(3, 1, "steady")];
    let b = [
        Node {
            ms: 40,
            ..node(2, 1, "slow")
        },
        Node {
            ms: 105,
            ..node(3, 1, "steady")
        },
    ];
    let c = compared(&a, &b, false);
    let slow = named(&c, "slow");
    assert_eq!(slow.change, Change::Changed);
    assert_eq!(slow.changes, [Difference::Duration]);
    let delta = slow.delta.as_ref().unwrap().duration_ms.unwrap();
    assert!((delta + 60.0).abs() < 1e-6, "{delta}");
    let steady = named(&c, "steady");
    assert_eq!(steady.change, Change::Same, "5 ms is noise");
    assert!((steady.delta.as_ref().unwrap().duration_ms.unwrap() - 5.0).abs() < 1e-6);
}

#[test]
fn more_tokens_cost_more() {
    let a = [llm(2, 1, "draft", (100, 20))];
    let b = [llm(2, 1, "draft", (300, 50))];
    let c = compared(&a, &b, false);
    let draft = named(&c, "draft");
    assert_eq!(draft.change, Change::Changed);
    assert_eq!(draft.changes, [Difference::Tokens, Difference::Cost]);
    let delta = draft.delta.as_ref().unwrap();
    assert_eq!(
        (delta.input_tokens, delta.output_tokens),
        (Some(200), Some(30))
    );
    // gpt-4o's list price: $2.50 per million input tokens, $10 per million output tokens.
    let expected = (200.0 * 2.5 + 30.0 * 10.0) / 1e6;
    assert!((delta.cost_usd.unwrap() - expected).abs() < 1e-12);
    assert!((c.delta.cost_usd.unwrap() - expected).abs() < 1e-12);
    assert_eq!(c.delta.input_tokens, 200);
    assert_eq!(draft.b.as_ref().unwrap().input_tokens, Some(300));
}

#[test]
fn a_cost_delta_is_null_when_either_side_is_unpriced() {
    let a = [llm(2, 1, "draft", (100, 20))];
    let b = [Node {
        model: "in-house-model-7",
        ..llm(2, 1, "draft", (100, 20))
    }];
    let c = compared(&a, &b, false);
    let draft = named(&c, "draft");
    assert!(draft.a.as_ref().unwrap().cost_usd.is_some());
    let side_b = draft.b.as_ref().unwrap();
    assert_eq!(side_b.cost_usd, None);
    assert!(side_b.unpriced.is_some());
    assert_eq!(draft.delta.as_ref().unwrap().cost_usd, None);
    assert!(draft.changes.contains(&Difference::Model));
    assert_eq!(c.delta.cost_usd, None, "b's run cost is incomplete");
    assert_eq!(c.delta.input_tokens, 0);
}

#[test]
fn with_content_a_matched_llm_node_has_its_prompt_and_response_diffed() {
    let a = [Node {
        prompt: Some("Write to the customer.\nBe brief."),
        response: Some("Dear customer, thanks."),
        ..llm(2, 1, "draft", (100, 20))
    }];
    let b = [Node {
        prompt: Some("Write to the customer.\nBe warm."),
        response: Some("Dear customer, thanks."),
        ..llm(2, 1, "draft", (100, 20))
    }];
    let c = compared(&a, &b, true);
    assert!(c.content_included);
    let draft = named(&c, "draft");
    assert_eq!(draft.change, Change::Changed);
    assert_eq!(draft.changes, [Difference::Content]);
    let diff = draft.diff.as_ref().unwrap();
    let part = |op| {
        diff.prompt
            .parts
            .iter()
            .filter(|p| p.op == op)
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(part(DiffTag::Delete), ["brief."]);
    assert_eq!(part(DiffTag::Insert), ["warm."]);
    assert!(
        diff.response.parts.iter().all(|p| p.op == DiffTag::Equal),
        "{:?}",
        diff.response
    );
    // Not an LLM node: no diff.
    assert!(c.nodes[0].diff.is_none());

    let without = compared(&a, &b, false);
    assert!(!without.content_included);
    let draft = named(&without, "draft");
    assert!(draft.diff.is_none());
    assert_eq!(draft.change, Change::Same);
    let answer: Value = serde_json::to_value(&without).unwrap();
    assert!(answer["nodes"][1].get("diff").is_none());
}

#[test]
fn a_run_past_the_bound_is_refused_with_its_size() {
    let many: Vec<Node> = (0..compare::MAX_NODES as u64)
        .map(|i| node(i + 2, 1, "n"))
        .collect();
    let (ta, tb) = (run(&many), run(&[]));
    let (ca, cb) = (priced(&ta), priced(&tb));
    let refused = compare::compare(
        Run {
            execution: "big",
            tree: &ta,
            costs: &ca,
        },
        Run {
            execution: "small",
            tree: &tb,
            costs: &cb,
        },
        false,
    )
    .unwrap_err();
    assert_eq!(
        refused,
        CompareError::TooLarge {
            execution: "big".to_owned(),
            nodes: compare::MAX_NODES + 1
        }
    );
    assert!(
        refused.to_string().contains("at most 10000 spans"),
        "{refused}"
    );
}

#[test]
fn chat_messages_are_diffed_as_the_prompt_and_the_reply() {
    let a = [Node {
        chat: Some(("Plan a trip to Paris.", "Go in May.")),
        ..llm(2, 1, "plan", (100, 20))
    }];
    let b = [Node {
        chat: Some(("Plan a trip to Rome.", "Go in May.")),
        ..llm(2, 1, "plan", (100, 20))
    }];
    let c = compared(&a, &b, true);
    let diff = named(&c, "plan").diff.as_ref().unwrap();
    let changed: Vec<(DiffTag, &str)> = diff
        .prompt
        .parts
        .iter()
        .filter(|p| p.op != DiffTag::Equal)
        .map(|p| (p.op, p.text.as_str()))
        .collect();
    assert_eq!(
        changed,
        [(DiffTag::Delete, "Paris."), (DiffTag::Insert, "Rome.")]
    );
    let reply: String = diff
        .response
        .parts
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(reply, "[assistant]\nGo in May.\n");
    assert!(diff.response.parts.iter().all(|p| p.op == DiffTag::Equal));
}

/// How long comparing two runs at the bound takes (a measurement for `docs/benchmarks.md`, not
/// an assertion): `cargo test --release -p orcheo-trace-service --test compare -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a measurement; run it in release"]
fn timing_two_runs_at_the_bound() {
    let build =
        |changed: bool| -> Vec<Node> {
            (0..(compare::MAX_NODES - 1) as u64)
            .map(|i| {
                let parent = if i < 100 { 1 } else { i % 100 + 2 };
                if i % 4 == 0 {
                    let prompt = if changed && i % 40 == 0 {
                        "Write a warm reply to the customer about the order that shipped late, \
                         and offer a discount on the next one.\nSign as the support team."
                    } else {
                        "Write a short reply to the customer about the order that shipped late, \
                         and offer a discount on the next one.\nSign as the support team."
                    };
                    Node {
                        prompt: Some(prompt),
                        response: Some("Dear customer,\nwe are sorry the order was late."),
                        ..llm(i + 2, parent, "draft", (100 + i % 7, 20))
                    }
                } else {
                    node(i + 2, parent, if changed && i % 97 == 0 { "renamed" } else { "step" })
                }
            })
            .collect()
        };
    let (ta, tb) = (run(&build(false)), run(&build(true)));
    let (ca, cb) = (priced(&ta), priced(&tb));
    for content in [false, true] {
        let mut best = f64::MAX;
        let mut answer_bytes = 0;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let c = compare::compare(
                Run {
                    execution: "a",
                    tree: &ta,
                    costs: &ca,
                },
                Run {
                    execution: "b",
                    tree: &tb,
                    costs: &cb,
                },
                content,
            )
            .unwrap();
            let json = serde_json::to_vec(&c).unwrap();
            best = best.min(started.elapsed().as_secs_f64() * 1000.0);
            answer_bytes = json.len();
        }
        println!(
            "{} nodes a side, content {content}: compare + serialize {best:.1} ms (best of 5), answer {} KiB",
            ta.nodes.len(),
            answer_bytes / 1024
        );
    }
}

#[test]
fn a_deep_chain_is_compared_without_long_paths() {
    // Each node under the one before: paths as long as the tree is deep.
    let chain: Vec<Node> = (0..5_000_u64).map(|i| node(i + 2, i + 1, "step")).collect();
    let mut longer = chain.clone();
    longer.push(node(5_002, 5_001, "last"));
    let c = compared(&chain, &longer, false);
    assert_eq!(c.counts.same, 5_001);
    assert_eq!(c.counts.added, 1);
    let last = c.nodes.last().unwrap();
    assert_eq!((last.change, last.depth), (Change::Added, 5_001));
    assert_eq!(last.matched_by, None);
}

#[test]
fn a_comparison_diffs_at_most_its_budget_and_counts_the_nodes_left_out() {
    // 100 LLM nodes with a 64 KiB prompt on each side: 12.5 MiB of text, past the 8 MiB a
    // comparison diffs.
    let long: &'static str = Box::leak("lorem ipsum dolor\n".repeat(3640).into_boxed_str());
    let names: Vec<&'static str> = (0..100)
        .map(|i| &*Box::leak(format!("node {i}").into_boxed_str()))
        .collect();
    let nodes: Vec<Node> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Node {
            prompt: Some(long),
            ..llm(i as u64 + 2, 1, name, (10, 10))
        })
        .collect();
    let c = compared(&nodes, &nodes, true);
    let diffed = c.nodes.iter().filter(|n| n.diff.is_some()).count();
    assert!(c.diffs_omitted > 0, "{}", c.diffs_omitted);
    assert_eq!(diffed + c.diffs_omitted as usize, 100);
    assert!(diffed * 2 * long.len() <= orcheo_trace_service::compare::MAX_DIFF_BYTES_TOTAL);
    // A node left out is still compared on everything else.
    let last = named(&c, "node 99");
    assert!(last.diff.is_none());
    assert_eq!(last.change, Change::Same);
    assert!(last.delta.is_some());
}
