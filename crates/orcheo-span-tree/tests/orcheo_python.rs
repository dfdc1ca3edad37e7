//! Spans as Orcheo's Python tracing writes them: every key it writes lands in the tree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

mod helpers;

use helpers::{span, tree};
use orcheo_span_tree::filter::{self, ContentPolicy};
use orcheo_span_tree::normalize;
use orcheo_span_tree::redact::Redactor;
use orcheo_trace_model::semconv as k;
use orcheo_trace_model::{
    AnomalyKind, AttributeValue, DurationSource, KeyValue, NodeKind, RawSpan, SpanEvent, SpanNode,
    StatusCode, Timestamp, TraceTree,
};

const PYTHON_RUN: &str = "orcheo/python-run.otlp.json";

fn named<'a>(tree: &'a TraceTree, name: &str) -> &'a SpanNode {
    tree.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

fn event(name: &str, attributes: Vec<KeyValue>) -> SpanEvent {
    SpanEvent {
        name: name.into(),
        time: None,
        attributes,
    }
}

fn one(mut s: RawSpan, attributes: Vec<KeyValue>, events: Vec<SpanEvent>) -> SpanNode {
    s.attributes = attributes;
    s.events = events;
    normalize(vec![s]).nodes.remove(0)
}

fn json(node: &SpanNode) -> serde_json::Value {
    serde_json::to_value(node).unwrap()
}

// --- The real package's spans ----------------------------------------------------------------

#[test]
fn python_run_models_come_from_orcheo_ai_keys() {
    let tree = tree(PYTHON_RUN);
    let draft = named(&tree, "Draft Email");
    let model = draft.model.as_deref().unwrap();
    assert_eq!(model.request.as_deref(), Some("openai:gpt-4o-mini"));
    assert_eq!(model.response.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(model.name.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(model.provider.as_deref(), Some("openai"));
    assert_eq!(model.kind.as_deref(), Some("chat"));

    let embed = named(&tree, "embed");
    assert_eq!(embed.kind, NodeKind::Embedding);
    let model = embed.model.as_deref().unwrap();
    assert_eq!(model.name.as_deref(), Some("openai:text-embedding-3-small"));
    assert_eq!(model.operation.as_deref(), Some("embed_documents"));
    assert_eq!(model.vector_size, Some(1536));
}

#[test]
fn python_run_nodes_last_the_latency_they_report() {
    let tree = tree(PYTHON_RUN);
    let root = tree.root_node().unwrap();
    for (name, reported) in [("embed", 310.0), ("Search", 95.0), ("Send", 12.0)] {
        let node = named(&tree, name);
        assert_eq!(node.duration_source(), DurationSource::Reported, "{name}");
        // The reported time, ending at the span's end, unless that reaches before the run.
        let since_run_start = root.start_time.millis_until(node.end_time.unwrap());
        let expected = f64::min(reported, since_run_start);
        assert!(
            (node.duration_ms().unwrap() - expected).abs() < 0.001,
            "{name}"
        );
        assert!(node.start_time >= root.start_time, "{name}");
        assert!(node.span_start_time() > node.start_time, "{name}");
        assert_eq!(json(node)["duration_source"], "reported");
        assert!(json(node)["measured_duration_ms"].as_f64().unwrap() < 1.0);
    }
    // Draft Email reports 1840 ms in a run of a few hundred: it starts with the run, no earlier.
    let draft = named(&tree, "Draft Email");
    assert_eq!(draft.duration_source(), DurationSource::Reported);
    assert_eq!(draft.start_time, root.start_time);
    assert!(!draft.flags.contains(&AnomalyKind::ClockSkew));
    assert!(
        !tree
            .anomalies
            .iter()
            .any(|a| a.kind == AnomalyKind::ClockSkew)
    );
}

#[test]
fn python_run_failure_keeps_the_stack_trace_over_workflow_failed() {
    let tree = tree(PYTHON_RUN);
    let root = tree.root_node().unwrap();
    let error = root.error.as_deref().unwrap();
    assert_eq!(error.error_type.as_deref(), Some("RuntimeError"));
    assert_eq!(
        error.message.as_deref(),
        Some("SMTP relay refused the message")
    );
    assert!(error.stack_trace.as_deref().unwrap().contains("Traceback"));
    assert_eq!(root.errors().len(), 1);

    let send = named(&tree, "Send");
    let error = send.error.as_deref().unwrap();
    assert_eq!(error.message.as_deref(), Some("relay refused"));
    assert_eq!(error.code.as_deref(), Some("SMTP_REFUSED"));
    assert!(send.errors().is_empty());
}

#[test]
fn python_run_reads_content_events_tokens_namespace_and_run_keys() {
    let tree = tree(PYTHON_RUN);
    let draft = named(&tree, "Draft Email");
    assert_eq!(draft.prompts().len(), 1);
    assert!(
        draft.prompts()[0]
            .content
            .as_deref()
            .unwrap()
            .contains("[REDACTED]")
    );
    assert!(draft.prompts()[0].redacted);
    assert_eq!(draft.responses().len(), 1);
    let roles: Vec<_> = draft
        .messages()
        .iter()
        .map(|m| m.role.as_deref().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    assert_eq!(draft.self_token_usage.unwrap().input, 1234);
    assert_eq!(draft.artifacts()[0].id, "a1");

    let search = named(&tree, "Search");
    assert_eq!(search.namespace(), ["research"]);
    assert_eq!(json(search)["namespace"], serde_json::json!(["research"]));
    assert_eq!(search.self_token_usage.unwrap().input, 3000);

    let root = tree.root_node().unwrap();
    assert_eq!(root.kind, NodeKind::Workflow);
    let attr = |key| {
        root.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    };
    assert_eq!(
        attr(k::EXECUTION_RUN_NAME).and_then(AttributeValue::as_str),
        Some("Nightly digest")
    );
    assert_eq!(
        attr(k::EXECUTION_RECURSION_LIMIT).and_then(AttributeValue::as_i64),
        Some(25)
    );
    assert!(matches!(
        attr(k::EXECUTION_TAGS),
        Some(AttributeValue::Array(_))
    ));
    // The root carries the run's failure, which is Send's: one error.
    assert_eq!(tree.stats.error_count, 1);
}

#[test]
fn python_run_without_its_root_yet_is_a_workflow_placeholder() {
    let mut decoded = helpers::decode(PYTHON_RUN);
    decoded.spans.retain(|s| s.name != k::WORKFLOW_SPAN_NAME);
    let tree = orcheo_span_tree::normalize_decoded(decoded);
    let root = tree.root_node().unwrap();
    assert!(root.synthetic && root.in_progress());
    assert_eq!(root.kind, NodeKind::Workflow);
    assert_eq!(root.children.len(), 4);
    // The placeholder starts with its earliest child as placed by its reported latency.
    let earliest = tree.nodes[1..].iter().map(|n| n.start_time).min().unwrap();
    assert_eq!(root.start_time, earliest);
    let kinds: Vec<_> = tree.anomalies.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AnomalyKind::MissingRoot]);
}

// --- One key family at a time ----------------------------------------------------------------

#[test]
fn placeholder_is_named_after_the_workflow_a_span_carries() {
    let mut a = span(2, Some(1), 0);
    a.attributes = vec![KeyValue::new(k::WORKFLOW_ID, "wf_1")];
    let mut b = span(3, Some(1), 5);
    b.attributes = vec![KeyValue::new(k::WORKFLOW_NAME, "Digest")];
    let tree = normalize(vec![a.clone(), b]);
    let root = tree.root_node().unwrap();
    assert_eq!(
        (root.name.as_str(), &root.kind),
        ("Digest", &NodeKind::Workflow)
    );
    let tree = normalize(vec![a]);
    assert_eq!(tree.root_node().unwrap().name, "wf_1");
    let tree = normalize(vec![span(2, Some(1), 0)]);
    let root = tree.root_node().unwrap();
    assert_eq!((root.name.as_str(), &root.kind), ("", &NodeKind::Span));
}

#[test]
fn each_orcheo_ai_key_is_read() {
    let node =
        |key: &str, value: &str| one(span(1, None, 0), vec![KeyValue::new(key, value)], vec![]);
    let m = node(k::AI_MODEL_REQUESTED, "openai:gpt-4o");
    let model = m.model.as_deref().unwrap();
    assert_eq!(
        (model.request.as_deref(), model.name.as_deref()),
        (Some("openai:gpt-4o"), Some("openai:gpt-4o"))
    );
    let m = node(k::AI_MODEL_ACTUAL, "gpt-4o-2024");
    assert_eq!(
        m.model.as_deref().unwrap().response.as_deref(),
        Some("gpt-4o-2024")
    );
    let m = node(k::AI_PROVIDER, "anthropic");
    assert_eq!(
        m.model.as_deref().unwrap().provider.as_deref(),
        Some("anthropic")
    );
    let m = node(k::AI_KIND, "chat");
    assert_eq!(m.model.as_deref().unwrap().kind.as_deref(), Some("chat"));
    assert_eq!(m.kind, NodeKind::Llm);
    let m = node(k::AI_EMBEDDING_OPERATION, "embed_query");
    assert_eq!(
        m.model.as_deref().unwrap().operation.as_deref(),
        Some("embed_query")
    );
    let m = one(
        span(1, None, 0),
        vec![
            KeyValue::new(k::AI_KIND, "embedding"),
            KeyValue::new(k::AI_EMBEDDING_VECTOR_SIZE, 768_i64),
        ],
        vec![],
    );
    assert_eq!(m.model.as_deref().unwrap().vector_size, Some(768));
    // The node's own kind and GenAI's model names win over Orcheo's metadata.
    let m = one(
        span(1, None, 0),
        vec![
            KeyValue::new(k::AI_KIND, "chat"),
            KeyValue::new(k::NODE_KIND, "tool"),
            KeyValue::new(k::AI_MODEL_ACTUAL, "b"),
            KeyValue::new(k::GEN_AI_RESPONSE_MODEL, "a"),
        ],
        vec![],
    );
    assert_eq!(m.kind, NodeKind::Tool);
    assert_eq!(m.model.as_deref().unwrap().name.as_deref(), Some("a"));
}

fn with_latency(value: impl Into<AttributeValue>) -> SpanNode {
    // The span lasts 10 ms.
    let mut s = span(1, None, 1000);
    s.attributes = vec![KeyValue::new(k::NODE_LATENCY_MS, value)];
    normalize(vec![s]).nodes.remove(0)
}

#[test]
fn a_longer_reported_latency_places_the_node_before_its_span_end() {
    let n = with_latency(250_i64);
    assert_eq!(n.duration_source(), DurationSource::Reported);
    assert_eq!(n.duration_ms(), Some(250.0));
    assert_eq!(n.span_start_time(), span(1, None, 1000).start_time);
    assert_eq!(json(&n)["measured_duration_ms"], 10.0);
    assert_eq!(with_latency(250.5).duration_ms(), Some(250.5));
    assert_eq!(with_latency("40").duration_ms(), Some(40.0));
}

#[test]
fn a_shorter_missing_or_garbage_latency_keeps_the_measured_span() {
    for n in [
        with_latency(5_i64),
        with_latency(10_i64),
        with_latency("soon"),
        with_latency(-300_i64),
        with_latency(f64::NAN),
        with_latency(f64::INFINITY),
        with_latency(1e30),
        with_latency(true),
        one(span(1, None, 1000), vec![], vec![]),
    ] {
        assert_eq!(n.duration_source(), DurationSource::Measured);
        assert_eq!(n.duration_ms(), Some(10.0));
        assert_eq!(json(&n)["measured_duration_ms"], serde_json::Value::Null);
    }
    let mut running = span(1, None, 0);
    running.end_time = None;
    running.attributes = vec![KeyValue::new(k::NODE_LATENCY_MS, 500_i64)];
    let n = normalize(vec![running]).nodes.remove(0);
    assert_eq!(n.duration_source(), DurationSource::Measured);
}

#[test]
fn a_reported_node_never_starts_before_its_parent() {
    let parent = span(1, None, 100); // 100..110 ms
    let mut child = span(2, Some(1), 105); // 105..115 ms, reports 1 s
    child.attributes = vec![KeyValue::new(k::NODE_LATENCY_MS, 1000_i64)];
    let tree = normalize(vec![parent.clone(), child]);
    let child = &tree.nodes[1];
    assert_eq!(child.duration_source(), DurationSource::Reported);
    assert_eq!(child.start_time, parent.start_time);
    assert_eq!(child.duration_ms(), Some(15.0));
    assert!(!child.flags.contains(&AnomalyKind::ClockSkew));
}

fn exception(kind: &str, message: &str, stack: Option<&str>) -> SpanEvent {
    let mut a = vec![
        KeyValue::new(k::EXCEPTION_TYPE, kind),
        KeyValue::new(k::EXCEPTION_MESSAGE, message),
    ];
    if let Some(stack) = stack {
        a.push(KeyValue::new(k::EXCEPTION_STACKTRACE, stack));
    }
    event(k::EVENT_EXCEPTION, a)
}

#[test]
fn a_stack_trace_is_never_replaced_by_a_later_summary() {
    let failed = event(
        k::EVENT_WORKFLOW_FAILED,
        vec![
            KeyValue::new(k::EXCEPTION_TYPE, "Summary"),
            KeyValue::new(k::EXCEPTION_MESSAGE, "short"),
        ],
    );
    let detail = event(
        k::EVENT_ERROR_DETAIL,
        vec![KeyValue::new("message", "detail")],
    );
    let n = one(
        span(1, None, 0),
        vec![],
        vec![
            exception("ValueError", "bad input", Some("Traceback: a.py")),
            failed.clone(),
            detail.clone(),
        ],
    );
    let e = n.error.as_deref().unwrap();
    assert_eq!(
        (
            e.error_type.as_deref(),
            e.message.as_deref(),
            e.stack_trace.as_deref()
        ),
        (
            Some("ValueError"),
            Some("bad input"),
            Some("Traceback: a.py")
        )
    );
    // With no exception, the summary stands in, then error.detail, then the status.
    let n = one(span(1, None, 0), vec![], vec![failed, detail.clone()]);
    let e = n.error.as_deref().unwrap();
    assert_eq!(
        (e.error_type.as_deref(), e.message.as_deref()),
        (Some("Summary"), Some("short"))
    );
    let mut s = span(1, None, 0);
    s.status.code = StatusCode::Error;
    s.status.message = Some("status says".into());
    let n = one(s.clone(), vec![], vec![detail]);
    assert_eq!(
        n.error.as_deref().unwrap().message.as_deref(),
        Some("detail")
    );
    let n = one(s, vec![], vec![]);
    assert_eq!(
        n.error.as_deref().unwrap().message.as_deref(),
        Some("status says")
    );
}

#[test]
fn several_exceptions_are_all_kept_and_the_one_with_a_stack_trace_leads() {
    let n = one(
        span(1, None, 0),
        vec![KeyValue::new(k::ERROR_CODE, "E1")],
        vec![
            exception("Retry", "first try", None),
            exception("Timeout", "gave up", Some("Traceback: b.py")),
            exception("Cleanup", "also failed", Some("Traceback: c.py")),
        ],
    );
    let e = n.error.as_deref().unwrap();
    assert_eq!(e.error_type.as_deref(), Some("Timeout"));
    assert_eq!(e.code.as_deref(), Some("E1"));
    let types: Vec<_> = n
        .errors()
        .iter()
        .map(|e| e.error_type.as_deref().unwrap())
        .collect();
    assert_eq!(types, ["Retry", "Timeout", "Cleanup"]);
    assert_eq!(json(&n)["errors"].as_array().unwrap().len(), 3);
}

#[test]
fn token_chunk_counts_when_the_attributes_name_none() {
    let chunk = event(
        k::EVENT_TOKEN_CHUNK,
        vec![
            KeyValue::new("input", 2000_i64),
            KeyValue::new("output", 7_i64),
            KeyValue::new("reason", "high_usage"),
        ],
    );
    let n = one(span(1, None, 0), vec![], vec![chunk.clone()]);
    let t = n.self_token_usage.unwrap();
    assert_eq!((t.input, t.output), (2000, 7));
    let n = one(
        span(1, None, 0),
        vec![KeyValue::new(k::TOKEN_INPUT, 5_i64)],
        vec![chunk],
    );
    assert_eq!(n.self_token_usage.unwrap().input, 5);
}

#[test]
fn namespace_reads_the_subgraph_path_without_task_ids() {
    let n = one(
        span(1, None, 0),
        vec![KeyValue::new(
            k::NODE_NAMESPACE,
            "outer:1f0c-task:inner:77aa-task",
        )],
        vec![],
    );
    assert_eq!(n.namespace(), ["outer", "inner"]);
    let n = one(span(1, None, 0), vec![], vec![]);
    assert!(n.namespace().is_empty());
}

#[test]
fn openinference_messages_become_chat_messages_in_index_order() {
    let n = one(
        span(1, None, 0),
        vec![
            KeyValue::new("llm.input_messages.1.message.role", "user"),
            KeyValue::new("llm.input_messages.1.message.content", "What is 2+2?"),
            KeyValue::new("llm.input_messages.0.message.role", "system"),
            KeyValue::new("llm.input_messages.0.message.content", "Be exact."),
            KeyValue::new("llm.input_messages.10.message.role", "user"),
            KeyValue::new(
                "llm.input_messages.10.message.contents.1.message_content.text",
                "part two",
            ),
            KeyValue::new(
                "llm.input_messages.10.message.contents.0.message_content.text",
                "part one",
            ),
            KeyValue::new("llm.output_messages.0.message.role", "assistant"),
            KeyValue::new("llm.output_messages.0.message.content", "4"),
        ],
        vec![],
    );
    let got: Vec<_> = n
        .messages()
        .iter()
        .map(|m| (m.role.as_deref().unwrap(), m.content.as_deref().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("system", "Be exact."),
            ("user", "What is 2+2?"),
            ("user", "part one\npart two"),
            ("assistant", "4"),
        ]
    );
    assert!(n.prompts().is_empty() && n.responses().is_empty());
}

#[test]
fn genai_message_lists_become_one_conversation() {
    let n = one(
        span(1, None, 0),
        vec![
            KeyValue::new(
                k::GEN_AI_OUTPUT_MESSAGES,
                r#"[{"role":"assistant","parts":[{"type":"text","content":"Hi!"}]}]"#,
            ),
            KeyValue::new(
                k::GEN_AI_INPUT_MESSAGES,
                r#"[{"role":"user","parts":[{"type":"text","content":"Hello"}]}]"#,
            ),
            KeyValue::new(
                k::GEN_AI_SYSTEM_INSTRUCTIONS,
                r#"[{"type":"text","content":"Be kind."}]"#,
            ),
        ],
        vec![],
    );
    let got: Vec<_> = n
        .messages()
        .iter()
        .map(|m| (m.role.as_deref().unwrap(), m.content.as_deref().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("system", "Be kind."),
            ("user", "Hello"),
            ("assistant", "Hi!")
        ]
    );
}

#[test]
fn new_text_fields_are_withheld_and_redacted() {
    let mut s = span(1, None, 0);
    s.attributes = vec![
        KeyValue::new("llm.input_messages.0.message.role", "user"),
        KeyValue::new(
            "llm.input_messages.0.message.content",
            "mail bob@example.com",
        ),
        KeyValue::new(
            "llm.input_messages.0.message.contents.0.message_content.text",
            "mail bob@example.com",
        ),
        KeyValue::new(k::AI_MODEL_REQUESTED, "acme:model-for-bob@example.com"),
        KeyValue::new(k::AI_EMBEDDING_OPERATION, "embed bob@example.com"),
    ];
    s.events = vec![
        exception("E", "for bob@example.com", Some("at bob@example.com")),
        exception("E", "again bob@example.com", None),
    ];
    let mut tree = normalize(vec![s]);
    let redactor = Redactor::new::<&str>(&[]).unwrap();
    filter::apply(
        &mut tree,
        &ContentPolicy {
            withhold_content: true,
            redactor: Some(&redactor),
            ..ContentPolicy::default()
        },
    );
    let text = serde_json::to_string(&tree.nodes[0]).unwrap();
    assert!(!text.contains("bob@example.com"), "{text}");
    let n = &tree.nodes[0];
    assert!(
        n.messages()
            .iter()
            .all(|m| m.withheld && m.content.is_none())
    );
    let attr = |key: &str| {
        n.attributes
            .iter()
            .find(|kv| kv.key == key)
            .unwrap()
            .value
            .as_str()
            .unwrap()
    };
    assert_eq!(attr("llm.input_messages.0.message.content"), "[WITHHELD]");
    assert_eq!(
        attr("llm.input_messages.0.message.contents.0.message_content.text"),
        "[WITHHELD]"
    );
    assert_eq!(attr("llm.input_messages.0.message.role"), "user");
    assert!(
        n.errors()[1]
            .message
            .as_deref()
            .unwrap()
            .contains("[REDACTED]")
    );
    let model = n.model.as_deref().unwrap();
    assert!(model.name.as_deref().unwrap().contains("[REDACTED]"));
    assert!(model.operation.as_deref().unwrap().contains("[REDACTED]"));
}

#[test]
fn reported_timing_survives_a_zero_start() {
    // A span that claims to start at the epoch and reports more time than it has: ignored.
    let mut s = span(1, None, 0);
    s.start_time = Timestamp::from_unix_nanos(0);
    s.end_time = Some(Timestamp::from_unix_nanos(5_000_000));
    s.attributes = vec![KeyValue::new(k::NODE_LATENCY_MS, 10_i64)];
    let n = normalize(vec![s]).nodes.remove(0);
    assert_eq!(n.duration_source(), DurationSource::Measured);
}

#[test]
fn a_reported_node_whose_span_starts_before_its_parent_stays_measured() {
    let parent = span(1, None, 100); // 100..110 ms
    let mut child = span(2, Some(1), 95); // 95..105 ms: clocks disagree
    child.attributes = vec![KeyValue::new(k::NODE_LATENCY_MS, 50_i64)];
    let tree = normalize(vec![parent, child.clone()]);
    let node = &tree.nodes[1];
    assert_eq!(node.duration_source(), DurationSource::Measured);
    assert_eq!(node.start_time, child.start_time);
    assert!(node.flags.contains(&AnomalyKind::ClockSkew));
}
