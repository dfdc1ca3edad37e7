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
    AiModel, ArtifactInfo, NodeError, NodeInfo, RunInfo, Telemetry, TracingConfig, WorkflowTracer,
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
        thread_id: Some("thread_9".into()),
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
    assert_eq!(
        attr(child, "orcheo.workflow.id").map(|v| v.as_str().into_owned()),
        attr(root, "orcheo.workflow.id").map(|v| v.as_str().into_owned()),
        "a run still running is shown under its workflow"
    );
    assert!(attr(child, "orcheo.workflow.id").is_some());
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

/// The keys Orcheo's Python tracing writes, written by ours: see the parity table in
/// docs/normalization.md.
#[test]
fn nodes_and_runs_carry_the_keys_orcheo_python_tracing_writes() {
    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    let run = h.tracer.start_run(&run_info());
    let mut chat = run.start_node(&node("chat", "Chat", "llm"));
    chat.ai_model(&AiModel {
        kind: Some("chat".into()),
        requested: "openai:gpt-4o-mini".into(),
        actual: Some("gpt-4o-mini-2024-07-18".into()),
        provider: None,
    });
    for id in ["a1", "a2"] {
        chat.artifact(&ArtifactInfo {
            id: id.into(),
            ..ArtifactInfo::default()
        });
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    chat.succeed();
    let failing = run.start_node(&node("tool", "Tool", "tool"));
    failing.fail(&NodeError {
        error_type: "ValueError".into(),
        message: "bad".into(),
        ..NodeError::default()
    });
    run.complete();

    let spans = h.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "workflow.execution")
        .unwrap();
    assert_eq!(
        attr(root, "orcheo.execution.thread_id").unwrap().as_str(),
        "thread_9"
    );
    let chat = spans.iter().find(|s| s.name == "Chat").unwrap();
    let text = |span: &SpanData, key: &str| attr(span, key).map(|v| v.as_str().into_owned());
    assert_eq!(text(chat, "orcheo.ai.kind").as_deref(), Some("chat"));
    assert_eq!(
        text(chat, "orcheo.ai.model.requested").as_deref(),
        Some("openai:gpt-4o-mini")
    );
    assert_eq!(
        text(chat, "orcheo.ai.model.actual").as_deref(),
        Some("gpt-4o-mini-2024-07-18")
    );
    // The provider comes from the requested model's prefix when not given.
    assert_eq!(text(chat, "orcheo.ai.provider").as_deref(), Some("openai"));
    assert_eq!(
        text(chat, "gen_ai.request.model").as_deref(),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        text(chat, "gen_ai.response.model").as_deref(),
        Some("gpt-4o-mini-2024-07-18")
    );
    assert_eq!(
        text(chat, "gen_ai.provider.name").as_deref(),
        Some("openai")
    );
    // Each key once.
    let mut keys: Vec<_> = chat.attributes.iter().map(|kv| kv.key.as_str()).collect();
    keys.sort_unstable();
    let all = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), all, "{keys:?}");
    assert_eq!(
        attr(chat, "orcheo.artifact.ids"),
        Some(&Value::Array(opentelemetry::Array::String(vec![
            "a1".into(),
            "a2".into()
        ])))
    );
    assert_eq!(
        chat.events.iter().filter(|e| e.name == "artifact").count(),
        2
    );
    assert_eq!(text(chat, "orcheo.node.status").as_deref(), Some("success"));
    let Some(Value::I64(latency)) = attr(chat, "orcheo.node.latency_ms") else {
        panic!("no latency: {:?}", chat.attributes);
    };
    assert!(*latency >= 5, "{latency}");
    let tool = spans.iter().find(|s| s.name == "Tool").unwrap();
    assert_eq!(text(tool, "orcheo.node.status").as_deref(), Some("error"));
    assert!(matches!(
        attr(tool, "orcheo.node.latency_ms"),
        Some(Value::I64(n)) if *n >= 0
    ));
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
        // Every span is accounted for: failed to export, or dropped when the queue was full.
        let metrics = telemetry.metrics().unwrap().clone();
        assert_eq!(
            metrics.collector_up.get(),
            0,
            "{protocol:?}: the start-up probe failed"
        );
        assert_eq!(
            metrics.spans_started.with_label_values(&["workflow"]).get(),
            1
        );
        assert_eq!(
            metrics.spans_started.with_label_values(&["llm"]).get(),
            1_000
        );
        assert_eq!(
            metrics
                .sampling_decisions
                .with_label_values(&["sampled"])
                .get(),
            1_001
        );
        assert_eq!(metrics.spans_exported.get(), 0);
        assert_eq!(
            metrics.export_failures.get() + metrics.spans_dropped.get(),
            1_001,
            "{protocol:?}: failed {} dropped {}",
            metrics.export_failures.get(),
            metrics.spans_dropped.get()
        );
        let stats = telemetry.export_stats();
        assert!(!stats.is_healthy());
        // The executor exposes them in its own registry.
        let registry = prometheus::Registry::new();
        metrics.register(&registry).unwrap();
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        for name in [
            "orcheo_tracing_spans_started_total",
            "orcheo_tracing_spans_exported_total",
            "orcheo_tracing_export_failures_total",
            "orcheo_tracing_spans_dropped_total",
            "orcheo_tracing_sampling_decisions_total",
            "orcheo_tracing_collector_up",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
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

#[test]
fn a_required_collector_that_does_not_answer_stops_start_up() {
    use orcheo_tracing::{Exporter, InitError};
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = TracingConfig {
        exporter: Exporter::Otlp,
        endpoint: format!("http://{closed}/v1/traces"),
        required: true,
        ..TracingConfig::default()
    };
    let error = Telemetry::init(&config).unwrap_err();
    assert!(
        matches!(error, InitError::CollectorUnreachable { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("ORCHEO_TRACING_REQUIRED"));
    // A collector that answers (anything listening) passes the probe.
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.endpoint = format!("http://{}/v1/traces", listening.local_addr().unwrap());
    let telemetry = Telemetry::init(&config).unwrap();
    assert_eq!(telemetry.metrics().unwrap().collector_up.get(), 1);
}

#[test]
fn a_disabled_sdk_records_nothing_and_still_gives_trace_ids() {
    use orcheo_tracing::Exporter;
    let config = TracingConfig {
        disabled: true,
        exporter: Exporter::Otlp,
        endpoint: "http://127.0.0.1:9/v1/traces".into(),
        required: true,
        ..TracingConfig::default()
    };
    // Disabled wins: no probe (the collector is not required), no exporter.
    let telemetry = Telemetry::init(&config).unwrap();
    assert_eq!(telemetry.exporter(), Exporter::None);
    let run = WorkflowTracer::new(&telemetry, &config)
        .unwrap()
        .start_run(&run_info());
    assert!(run.trace_id().is_some());
    run.complete();
}

#[test]
fn sampling_decisions_are_counted() {
    use orcheo_tracing::Exporter;
    let config = TracingConfig {
        exporter: Exporter::None,
        sample_ratio: 0.0,
        ..TracingConfig::default()
    };
    let telemetry = Telemetry::init(&config).unwrap();
    let tracer = WorkflowTracer::new(&telemetry, &config).unwrap();
    tracer.start_run(&run_info()).complete();
    let metrics = telemetry.metrics().unwrap();
    assert_eq!(
        metrics
            .sampling_decisions
            .with_label_values(&["dropped"])
            .get(),
        1
    );
    assert_eq!(
        metrics
            .sampling_decisions
            .with_label_values(&["sampled"])
            .get(),
        0
    );
}

/// A sink that keeps what it is told, and can be made to fail or to stall.
#[derive(Default)]
struct Recording {
    started: std::sync::Mutex<Vec<orcheo_trace_model::RunStarted>>,
    spans: std::sync::Mutex<Vec<orcheo_trace_model::SpanSummary>>,
    finished: std::sync::Mutex<Vec<orcheo_trace_model::RunFinished>>,
    fail: bool,
    stall: Option<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl orcheo_tracing::TraceMetadataSink for Recording {
    fn run_started(
        &self,
        run: &orcheo_trace_model::RunStarted,
    ) -> Result<(), orcheo_tracing::SinkError> {
        if let Some(stall) = &self.stall {
            let _ = stall.lock().unwrap().recv();
        }
        if self.fail {
            return Err(orcheo_tracing::SinkError("database down".into()));
        }
        self.started.lock().unwrap().push(run.clone());
        Ok(())
    }
    fn spans_ended(
        &self,
        summaries: &[orcheo_trace_model::SpanSummary],
    ) -> Result<(), orcheo_tracing::SinkError> {
        if self.fail {
            return Err(orcheo_tracing::SinkError("database down".into()));
        }
        self.spans.lock().unwrap().extend_from_slice(summaries);
        Ok(())
    }
    fn run_finished(
        &self,
        run: &orcheo_trace_model::RunFinished,
    ) -> Result<(), orcheo_tracing::SinkError> {
        if self.fail {
            return Err(orcheo_tracing::SinkError("database down".into()));
        }
        self.finished.lock().unwrap().push(run.clone());
        Ok(())
    }
}

#[test]
fn the_sink_hears_of_the_run_its_spans_and_its_outcome() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    let sink = std::sync::Arc::new(Recording::default());
    let tracer = h.tracer.clone().with_sink(sink.clone(), 64).unwrap();
    let run = tracer.start_run(&run_info());
    let mut draft = run.start_node(&node("draft", "Draft Email", "llm"));
    draft.tokens(1234, 678);
    draft.succeed();
    run.start_node(&node("send", "Send Email", "tool"))
        .fail(&NodeError {
            error_type: "DeliveryError".into(),
            message: "refused".into(),
            ..NodeError::default()
        });
    let trace_id = run.trace_id().unwrap();
    let traceparent = run.traceparent().to_owned();
    run.fail("DeliveryError", "refused");
    assert!(tracer.flush_sink(Duration::from_secs(5)));

    let started = sink.started.lock().unwrap();
    assert_eq!(
        (started[0].trace_id, started[0].traceparent.as_str()),
        (trace_id, traceparent.as_str())
    );
    assert_eq!(started[0].tenant.as_deref(), Some("acme"));
    let spans = sink.spans.lock().unwrap();
    assert_eq!(
        spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["Draft Email", "Send Email", "workflow.execution"]
    );
    assert_eq!(
        (spans[0].input_tokens, spans[0].output_tokens),
        (Some(1234), Some(678))
    );
    assert_eq!(spans[1].status_code, orcheo_trace_model::StatusCode::Error);
    assert_eq!(spans[0].parent_span_id, Some(spans[2].span_id));
    let finished = sink.finished.lock().unwrap();
    assert_eq!(
        finished[0].status,
        orcheo_trace_model::ExecutionStatus::Error
    );
    // The summaries match the exported spans.
    let exported = h.spans();
    let draft_span = exported.iter().find(|s| s.name == "Draft Email").unwrap();
    assert_eq!(
        draft_span.span_context.span_id().to_string(),
        spans[0].span_id.to_string()
    );
    let stats = tracer.sink_stats().unwrap();
    assert_eq!(
        (
            stats.dropped.load(Ordering::Relaxed),
            stats.failed.load(Ordering::Relaxed)
        ),
        (0, 0)
    );
}

#[test]
fn a_failing_or_stalled_sink_is_counted_and_never_reaches_the_workflow() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    let failing = std::sync::Arc::new(Recording {
        fail: true,
        ..Recording::default()
    });
    let tracer = h.tracer.clone().with_sink(failing, 64).unwrap();
    let run = tracer.start_run(&run_info());
    run.start_node(&node("n", "N", "llm")).succeed();
    run.complete();
    assert!(tracer.flush_sink(Duration::from_secs(5)));
    assert_eq!(
        tracer.sink_stats().unwrap().failed.load(Ordering::Relaxed),
        4,
        "start, node, root, outcome"
    );

    // A sink stuck on its first call: the queue (2 events) fills, the rest is dropped and counted,
    // and the workflow goes on.
    let (release, stall) = std::sync::mpsc::channel();
    let stalled = std::sync::Arc::new(Recording {
        stall: Some(std::sync::Mutex::new(stall)),
        ..Recording::default()
    });
    let tracer = h.tracer.clone().with_sink(stalled.clone(), 2).unwrap();
    for _ in 0..5 {
        let run = tracer.start_run(&run_info());
        run.start_node(&node("n", "N", "llm")).succeed();
        run.complete();
    }
    assert!(tracer.sink_stats().unwrap().dropped.load(Ordering::Relaxed) > 0);
    for _ in 0..10 {
        let _ = release.send(());
    }
    assert!(tracer.flush_sink(Duration::from_secs(5)));
    assert!(!stalled.started.lock().unwrap().is_empty());
}

#[test]
fn spans_made_with_the_tracing_crate_inside_a_node_become_its_children() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let h = harness(&TracingConfig::default(), Sampler::AlwaysOn);
    let layer =
        tracing_opentelemetry::layer().with_tracer(h.telemetry.provider().tracer("executor"));
    let subscriber = tracing_subscriber::registry().with(layer);
    let run = h.tracer.start_run(&run_info());
    let retrieve = run.start_node(&node("retrieve", "Retrieve Documents", "retriever"));
    tracing::subscriber::with_default(subscriber, || {
        let _current = retrieve.enter();
        tracing::info_span!("vector_search").in_scope(|| {
            tracing::info_span!("embed_query").in_scope(|| {});
        });
    });
    retrieve.succeed();
    run.complete();
    let spans = h.spans();
    let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let node_span = by_name("Retrieve Documents");
    let search = by_name("vector_search");
    assert_eq!(search.parent_span_id, node_span.span_context.span_id());
    assert_eq!(
        search.span_context.trace_id(),
        node_span.span_context.trace_id()
    );
    assert_eq!(
        by_name("embed_query").parent_span_id,
        search.span_context.span_id()
    );
}
