//! A simulated LLM workflow, traced the way an Orcheo executor traces its runs: several nodes,
//! two branches, token usage, prompts and responses, an artifact, and one failing node with an
//! error code and a remediation hint. The exporter comes from the environment:
//!
//! ```text
//! # print the spans
//! ORCHEO_TRACING_EXPORTER=console cargo run -p orcheo-tracing --example demo_executor
//! # send them to an Orcheo Trace server (`orcheo-trace-server serve`) or any OTLP collector
//! ORCHEO_TRACING_EXPORTER=otlp ORCHEO_TRACING_ENDPOINT=http://127.0.0.1:4318/v1/traces \
//!     cargo run -p orcheo-tracing --example demo_executor
//! ```
#![allow(clippy::print_stdout, reason = "an example says what it did")]

use std::time::Duration;

use orcheo_trace_model::ExecutionId;
use orcheo_tracing::{
    ArtifactInfo, NodeError, NodeInfo, RunInfo, Telemetry, TracingConfig, WorkflowTracer,
};

fn info(id: &str, name: &str, kind: &str) -> NodeInfo {
    NodeInfo {
        id: id.to_owned(),
        display_name: name.to_owned(),
        kind: Some(kind.to_owned()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = TracingConfig::from_env()?;
    let telemetry = Telemetry::init(&config)?;
    let tracer = WorkflowTracer::new(&telemetry, &config)?;
    let stamp = orcheo_trace_model::Timestamp::now().unix_nanos() / 1_000_000_000;
    let execution = ExecutionId::new(format!("example-{stamp}"))?;
    let run = tracer.start_run(&RunInfo {
        execution_id: Some(execution.clone()),
        workflow_id: Some("wf_lead_followup".to_owned()),
        workflow_version: Some("1".to_owned()),
        trigger: Some("manual".to_owned()),
        ..RunInfo::default()
    });
    println!("execution {execution}: trace {}", run.traceparent());

    let mut score = run.start_node(&info("score", "Score Lead", "llm"));
    score.model("gpt-4o-mini", None, "openai");
    score.prompt("Score this lead from 1 to 10: grace.hopper@example.com, 40 seats, wants SSO.");
    std::thread::sleep(Duration::from_millis(40));
    score.response("8: large team, clear need");
    score.tokens(96, 7);
    score.succeed();

    // Two branches run side by side, each node on its own thread.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut email = run.start_node(&info("email", "Write Follow-up", "llm"));
            email.model("gpt-4o", None, "openai");
            email.prompt("Write a short follow-up about SSO for a 40-seat team.");
            std::thread::sleep(Duration::from_millis(80));
            email.response("Hi Grace, thanks for your interest in SSO for your team of 40...");
            email.tokens(210, 95);
            email.artifact(&ArtifactInfo {
                id: format!("{execution}-email"),
                name: Some("follow-up.txt".to_owned()),
                content_type: Some("text/plain".to_owned()),
                size: Some(64),
                ..ArtifactInfo::default()
            });
            email.succeed();
        });
        s.spawn(|| {
            let crm = run.start_node(&info("crm", "Update CRM", "tool"));
            std::thread::sleep(Duration::from_millis(30));
            crm.fail(&NodeError {
                error_type: "HTTPError".to_owned(),
                message: "CRM answered 401 Unauthorized".to_owned(),
                code: Some("CRM_AUTH".to_owned()),
                hint: Some("renew the CRM API token in the workflow's credentials".to_owned()),
                ..NodeError::default()
            });
        });
    });
    run.fail("HTTPError", "Update CRM failed");
    telemetry
        .flush()
        .map_err(|e| format!("spans not exported: {e}"))?;
    if let Some(metrics) = telemetry.metrics() {
        println!(
            "spans exported: {}, failed: {}, dropped: {}",
            metrics.spans_exported.get(),
            metrics.export_failures.get(),
            metrics.spans_dropped.get()
        );
    }
    Ok(())
}
