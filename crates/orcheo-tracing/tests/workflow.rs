//! Runs and nodes as an executor records them, read back from the SDK's in-memory exporter.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

use opentelemetry::Value;
use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use orcheo_trace_model::ExecutionId;
use orcheo_tracing::{
    ArtifactInfo, NodeError, NodeInfo, RunInfo, Telemetry, TracingConfig, WorkflowTracer,
};

struct Harness {
    exporter: InMemorySpanExporter,
    telemetry: Telemetry,
    tracer: WorkflowTracer,
}

fn harness(config: &TracingConfig, sampler: Sampler) -> Harness {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_simple_exporter(exporter.clone())
        .build();
    let telemetry = Telemetry::from_provider(provider);
    let tracer = WorkflowTracer::new(&telemetry, config).unwrap();
    Harness {
        exporter,
        telemetry,
        tracer,
    }
}

impl Harness {
    fn spans(&self) -> Vec<SpanData> {
        self.telemetry.flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn event_attr(span: &SpanData, event: &str, key: &str) -> Option<String> {
    let event = span.events.iter().find(|e| e.name == event)?;
    event
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn run_info() -> RunInfo {
    RunInfo {
        execution_id: Some(ExecutionId::new("exec_123").unwrap()),
        workflow_id: Some("wf_1".into()),
        workflow_version: Some("3".into()),
        trigger: Some("manual".into()),
        user: Some("ada".into()),
        tenant: Some("acme".into()),
        input_keys: vec!["customer".into(), "topic".into()],
        tags: vec!["beta".into()],
        run_name: None,
    }
}

fn node(id: &str, name: &str, kind: &str) -> NodeInfo {
    NodeInfo {
        id: id.into(),
        display_name: name.into(),
        kind: Some(kind.into()),
    }
}

#[test]
fn a_run_records_its_hierarchy_keys_and_events() {
    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    let run = h.tracer.start_run(&run_info());
    let trace_id = run.trace_id().unwrap();
    assert!(
        run.traceparent().starts_with(&format!("00-{trace_id}-"))
            && run.traceparent().ends_with("-01")
    );

    let mut draft = run.start_node(&node("draft", "Draft Email", "llm"));
    draft.prompt("Write to jane.doe@example.com");
    draft.response("Dear Jane");
    draft.message("assistant", "Draft ready");
    draft.tokens(1234, 678);
    draft.model("gpt-4o-mini", Some("gpt-4o-mini-2024-07-18"), "openai");
    draft.artifact(&ArtifactInfo {
        id: "a1".into(),
        name: Some("email.txt".into()),
        size: Some(2048),
        ..ArtifactInfo::default()
    });
    draft.succeed();
    run.complete();

    let spans = h.spans();
    assert_eq!(spans.len(), 2);
    let root = spans
        .iter()
        .find(|s| s.name == "workflow.execution")
        .unwrap();
    let child = spans.iter().find(|s| s.name == "Draft Email").unwrap();
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_eq!(child.parent_span_id, root.span_context.span_id());
    assert_eq!(
        child.span_context.trace_id().to_string(),
        trace_id.to_string()
    );
    assert_eq!(
        attr(root, "orcheo.execution.id").unwrap().as_str(),
        "exec_123"
    );
    assert_eq!(
        attr(root, "orcheo.execution.tenant").unwrap().as_str(),
        "acme"
    );
    assert_eq!(
        attr(root, "orcheo.execution.input_count"),
        Some(&Value::I64(2))
    );
    assert_eq!(root.status, Status::Ok);
    assert_eq!(
        event_attr(root, "workflow.completed", "status").as_deref(),
        Some("completed")
    );

    assert_eq!(
        attr(child, "orcheo.execution.id").unwrap().as_str(),
        "exec_123",
        "on every span"
    );
    assert_eq!(attr(child, "orcheo.node.kind").unwrap().as_str(), "llm");
    assert_eq!(
        attr(child, "orcheo.node.status").unwrap().as_str(),
        "success"
    );
    assert_eq!(attr(child, "orcheo.token.input"), Some(&Value::I64(1234)));
    assert_eq!(
        attr(child, "gen_ai.usage.output_tokens"),
        Some(&Value::I64(678))
    );
    assert_eq!(
        attr(child, "gen_ai.provider.name").unwrap().as_str(),
        "openai"
    );
    assert_eq!(
        event_attr(child, "prompt", "preview").as_deref(),
        Some("Write to [REDACTED]")
    );
    assert_eq!(
        event_attr(child, "prompt", "redacted").as_deref(),
        Some("true")
    );
    assert_eq!(
        event_attr(child, "message", "role").as_deref(),
        Some("assistant")
    );
    assert_eq!(
        event_attr(child, "token.chunk", "reason").as_deref(),
        Some("high_usage")
    );
    assert_eq!(
        event_attr(child, "artifact", "artifact.name").as_deref(),
        Some("email.txt")
    );
    assert!(child.start_time >= root.start_time && child.end_time <= root.end_time);
}

#[test]
fn failures_and_cancellations_carry_their_details() {
    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    let run = h.tracer.start_run(&run_info());
    run.start_node(&node("send", "Send Email", "tool"))
        .fail(&NodeError {
            error_type: "DeliveryError".into(),
            message: "SMTP refused mail for bob@example.com".into(),
            stack_trace: Some("at send.rs:12".into()),
            code: Some("SMTP_REFUSED".into()),
            hint: Some("Check the relay credentials.".into()),
        });
    run.fail("DeliveryError", "SMTP refused");
    let spans = h.spans();
    let send = spans.iter().find(|s| s.name == "Send Email").unwrap();
    assert!(
        matches!(&send.status, Status::Error { description } if description.contains("[REDACTED]"))
    );
    assert_eq!(
        event_attr(send, "exception", "exception.type").as_deref(),
        Some("DeliveryError")
    );
    assert_eq!(
        event_attr(send, "exception", "exception.stacktrace").as_deref(),
        Some("at send.rs:12")
    );
    assert!(
        event_attr(send, "error.detail", "message")
            .unwrap()
            .contains("[REDACTED]")
    );
    assert_eq!(
        attr(send, "orcheo.error.code").unwrap().as_str(),
        "SMTP_REFUSED"
    );
    assert_eq!(
        attr(send, "orcheo.error.hint").unwrap().as_str(),
        "Check the relay credentials."
    );
    let root = spans
        .iter()
        .find(|s| s.name == "workflow.execution")
        .unwrap();
    assert!(matches!(root.status, Status::Error { .. }));
    assert_eq!(
        event_attr(root, "workflow.failed", "exception.type").as_deref(),
        Some("DeliveryError")
    );

    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    h.tracer.start_run(&run_info()).cancel("user stopped it");
    let spans = h.spans();
    assert_eq!(
        event_attr(&spans[0], "workflow.cancelled", "reason").as_deref(),
        Some("user stopped it")
    );
}

#[test]
fn content_is_truncated_exactly_and_withheld_when_capture_is_off() {
    let config = TracingConfig {
        preview_max_length: 16,
        ..TracingConfig::default()
    };
    let h = harness(&config, Sampler::AlwaysOn);
    let run = h.tracer.start_run(&run_info());
    let mut n = run.start_node(&node("n", "N", "llm"));
    n.prompt(&"p".repeat(16));
    n.response(&"r".repeat(40));
    n.succeed();
    run.complete();
    let spans = h.spans();
    let n = spans.iter().find(|s| s.name == "N").unwrap();
    assert_eq!(event_attr(n, "prompt", "preview"), Some("p".repeat(16)));
    assert_eq!(
        event_attr(n, "prompt", "truncated").as_deref(),
        Some("false")
    );
    assert_eq!(
        event_attr(n, "response", "preview").map(|p| p.chars().count()),
        Some(16)
    );
    assert_eq!(event_attr(n, "response", "length").as_deref(), Some("40"));

    let h = harness(
        &TracingConfig {
            capture_content: false,
            ..TracingConfig::default()
        },
        Sampler::AlwaysOn,
    );
    let run = h.tracer.start_run(&run_info());
    let mut n = run.start_node(&node("n", "N", "llm"));
    n.prompt("top secret prompt");
    n.succeed();
    run.complete();
    let spans = h.spans();
    let n = spans.iter().find(|s| s.name == "N").unwrap();
    assert_eq!(event_attr(n, "prompt", "preview"), None);
    assert_eq!(event_attr(n, "prompt", "length").as_deref(), Some("17"));
}

#[test]
fn sampling_zero_exports_nothing_but_still_gives_a_trace_id() {
    let h = harness(
        &TracingConfig::default(),
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.0))),
    );
    let run = h.tracer.start_run(&run_info());
    assert!(run.trace_id().is_some(), "executions always get a trace id");
    assert!(run.traceparent().ends_with("-00"), "not sampled");
    run.start_node(&node("n", "N", "llm")).succeed();
    run.complete();
    assert!(h.spans().is_empty());
}

#[test]
fn a_node_can_end_on_another_thread() {
    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    let run = h.tracer.start_run(&run_info());
    let nodes: Vec<_> = (0..4)
        .map(|i| run.start_node(&node(&format!("n{i}"), &format!("Node {i}"), "tool")))
        .collect();
    std::thread::scope(|scope| {
        for mut n in nodes {
            scope.spawn(move || {
                n.tokens(1, 2);
                n.succeed();
            });
        }
    });
    run.complete();
    let spans = h.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "workflow.execution")
        .unwrap();
    let children: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id == root.span_context.span_id())
        .collect();
    assert_eq!(children.len(), 4);
}

#[test]
fn a_collector_that_is_down_costs_the_workflow_nothing_but_dropped_spans() {
    use orcheo_tracing::{Exporter, Protocol};
    // Nothing listens on port 9 of the loopback address.
    for (protocol, endpoint) in [
        (Protocol::HttpProtobuf, "http://127.0.0.1:9/v1/traces"),
        (Protocol::Grpc, "http://127.0.0.1:9"),
    ] {
        let config = TracingConfig {
            exporter: Exporter::Otlp,
            protocol,
            endpoint: endpoint.into(),
            export_timeout: std::time::Duration::from_millis(500),
            ..TracingConfig::default()
        };
        let telemetry = Telemetry::init(&config).unwrap();
        let tracer = WorkflowTracer::new(&telemetry, &config).unwrap();
        let run = tracer.start_run(&run_info());
        for i in 0..1_000 {
            let mut n = run.start_node(&node(&format!("n{i}"), "Node", "llm"));
            n.prompt("hello");
            n.tokens(10, 5);
            n.succeed();
        }
        run.complete();
        // Flushing and shutting down against a closed port must return, not hang (export failures
        // are the SDK's to report; the workflow never sees them).
        let _ = telemetry.flush();
        drop(telemetry);
    }
    // The other exporters build and shut down too.
    for exporter in [Exporter::None, Exporter::Console] {
        let config = TracingConfig {
            exporter,
            ..TracingConfig::default()
        };
        let telemetry = Telemetry::init(&config).unwrap();
        let run = WorkflowTracer::new(&telemetry, &config)
            .unwrap()
            .start_run(&run_info());
        assert!(run.trace_id().is_some());
        run.complete();
    }
}
