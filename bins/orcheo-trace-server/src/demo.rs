//! The demo workflows: what an Orcheo executor does, through `orcheo-tracing`, exporting OTLP to
//! this server's own receiver and reporting runs to its metadata store — three runs that show
//! what the Trace tab is for (a successful LLM pipeline with an artifact, a failing run with an
//! error and a remediation hint, a wide agent run with nested tool calls).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use orcheo_settings::Secret;
use orcheo_trace_model::{ExecutionId, ExecutionStatus};
use orcheo_trace_store::{ArtifactRecord, Store};
use orcheo_tracing::{
    ArtifactInfo, Exporter, Node, NodeError, NodeInfo, Protocol, Run, RunInfo, Telemetry,
    TracingConfig, WorkflowTracer,
};

/// Where the demo executor sends its spans.
#[derive(Debug, Clone)]
pub struct DemoTarget {
    /// `http://127.0.0.1:PORT` of the OTLP/gRPC receiver.
    pub otlp_grpc: String,
    pub ingest_token: Option<Secret<String>>,
    pub artifact_dir: std::path::PathBuf,
}

/// A finished demo run.
#[derive(Debug, Clone)]
pub struct DemoRun {
    pub execution_id: ExecutionId,
    pub title: &'static str,
    pub status: ExecutionStatus,
}

fn node(run: &Run, id: &str, name: &str, kind: &str) -> Node {
    run.start_node(&NodeInfo {
        id: id.to_owned(),
        display_name: name.to_owned(),
        kind: Some(kind.to_owned()),
    })
}

/// Work that takes time, so the spans have real durations.
fn work(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn info(execution: &ExecutionId, workflow: &str, trigger: &str) -> RunInfo {
    RunInfo {
        execution_id: Some(execution.clone()),
        workflow_id: Some(workflow.to_owned()),
        workflow_version: Some("3".to_owned()),
        trigger: Some(trigger.to_owned()),
        user: Some("demo@orcheo.dev".to_owned()),
        input_keys: vec!["ticket".to_owned(), "customer".to_owned()],
        tags: vec!["demo".to_owned()],
        ..RunInfo::default()
    }
}

/// Runs the support workflow; returns its artifact's record, to register once the run is known.
fn support_reply(
    tracer: &WorkflowTracer,
    artifacts: &Path,
    id: &ExecutionId,
) -> std::io::Result<ArtifactRecord> {
    let run = tracer.start_run(&info(id, "wf_support_reply", "webhook"));
    let mut classify = node(&run, "classify", "Classify Ticket", "llm");
    classify.model("gpt-4o-mini", Some("gpt-4o-mini-2024-07-18"), "openai");
    classify.prompt("Classify this support ticket: 'My order #1042 has not arrived, please call me at 555-867-5309.'");
    work(60);
    classify.response("category: shipping_delay; urgency: high");
    classify.tokens(182, 12);
    classify.succeed();
    let mut search = node(&run, "search", "Search Order History", "retriever");
    work(35);
    search.response("order 1042: shipped 2 days ago, carrier delay reported");
    search.succeed();
    let mut draft = node(&run, "draft", "Draft Reply", "llm");
    draft.model("gpt-4o", Some("gpt-4o-2024-08-06"), "openai");
    draft.message(
        "system",
        "You are a helpful support agent for Acme Outdoor.",
    );
    draft.message(
        "user",
        "Write a reply to ada.lovelace@example.com about order 1042's delay.",
    );
    work(140);
    let reply = "Dear Ada,\n\nYour order #1042 shipped two days ago; the carrier reports a one-day delay. \
                 It should arrive tomorrow.\n\nAcme Outdoor Support\n";
    draft.response(reply);
    draft.tokens(1240, 310);
    let artifact_id = format!("{id}-reply");
    let relative = format!("demo/{id}/reply.txt");
    let file = artifacts.join(&relative);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&file, reply)?;
    draft.artifact(&ArtifactInfo {
        id: artifact_id.clone(),
        name: Some("reply.txt".to_owned()),
        url: None,
        content_type: Some("text/plain; charset=utf-8".to_owned()),
        size: Some(reply.len() as u64),
    });
    draft.succeed();
    let send = node(&run, "send", "Send Email", "tool");
    work(25);
    send.succeed();
    run.complete();
    Ok(ArtifactRecord {
        artifact_id,
        execution_id: id.clone(),
        span_id: None,
        name: Some("reply.txt".to_owned()),
        content_type: Some("text/plain; charset=utf-8".to_owned()),
        size_bytes: Some(reply.len() as u64),
        storage_uri: format!("file:{relative}"),
        created_at: orcheo_trace_model::Timestamp::now(),
    })
}

fn invoice_extraction(tracer: &WorkflowTracer, id: &ExecutionId) {
    let run = tracer.start_run(&info(id, "wf_invoice_extraction", "schedule"));
    let fetch = node(&run, "fetch", "Fetch Invoice PDF", "tool");
    work(40);
    fetch.succeed();
    let mut extract = node(&run, "extract", "Extract Line Items", "llm");
    extract.model("claude-3-5-sonnet", None, "anthropic");
    extract.prompt("Extract the line items of this invoice as JSON: [42 pages of scanned text]");
    work(90);
    extract.tokens(5120, 2048);
    extract.fail(&NodeError {
        error_type: "ContextLengthExceeded".to_owned(),
        message: "prompt of 212,480 tokens exceeds the model's 200,000-token context".to_owned(),
        stack_trace: Some(
            "Traceback (most recent call last):\n  File \"nodes/extract.py\", line 88, in run\n    \
             result = client.messages.create(**request)\nanthropic.BadRequestError: prompt is too long"
                .to_owned(),
        ),
        code: Some("CONTEXT_LENGTH".to_owned()),
        hint: Some("split the document into pages and extract each, or use a summarizing pre-pass".to_owned()),
    });
    run.fail(
        "ContextLengthExceeded",
        "Extract Line Items failed: prompt too long",
    );
}

fn research_agent(tracer: &WorkflowTracer, id: &ExecutionId) {
    let run = tracer.start_run(&info(id, "wf_research_agent", "manual"));
    let mut plan = node(&run, "plan", "Plan Research", "agent");
    plan.model("gpt-4o", None, "openai");
    plan.prompt("Compare three hiking boots under $200 for wet climates.");
    work(50);
    plan.response("1. search reviews  2. fetch specs  3. compare waterproofing");
    plan.tokens(420, 160);
    plan.succeed();
    for (i, boot) in ["Trailmaster GTX", "Ridgeline Mid WP", "Cascade Hiker"]
        .iter()
        .enumerate()
    {
        let mut search = node(
            &run,
            &format!("search_{i}"),
            &format!("Search Reviews: {boot}"),
            "tool",
        );
        work(20 + 10 * i as u64);
        search.response(&format!("{boot}: 4.{} stars, waterproof membrane", 3 + i));
        search.succeed();
        let mut summarize = node(
            &run,
            &format!("summarize_{i}"),
            &format!("Summarize: {boot}"),
            "llm",
        );
        summarize.model("gpt-4o-mini", None, "openai");
        work(30);
        summarize.tokens(800 + 50 * i as u64, 120);
        summarize.succeed();
    }
    let mut answer = node(&run, "answer", "Write Recommendation", "llm");
    answer.model("gpt-4o", None, "openai");
    work(70);
    answer.response("The Ridgeline Mid WP offers the best waterproofing for the price.");
    answer.tokens(2600, 380);
    answer.succeed();
    run.complete();
}

/// Runs the demo workflows against the server at `target`, reporting runs to `store`, and
/// returns them once their spans are exported. Blocks: call it off async workers.
pub fn run(target: &DemoTarget, store: &Store) -> anyhow::Result<Vec<DemoRun>> {
    let config = TracingConfig {
        exporter: Exporter::Otlp,
        protocol: Protocol::Grpc,
        endpoint: target.otlp_grpc.clone(),
        headers: target
            .ingest_token
            .iter()
            .map(|t| {
                let value = format!("Bearer {}", t.expose_secret());
                ("authorization".to_owned(), Secret::new(value))
            })
            .collect(),
        service_name: "orcheo-demo-executor".to_owned(),
        ..TracingConfig::default()
    };
    let telemetry = Telemetry::init(&config)?;
    let tracer =
        WorkflowTracer::new(&telemetry, &config)?.with_sink(Arc::new(store.clone()), 1024)?;
    let stamp = orcheo_trace_model::Timestamp::now().unix_nanos() / 1_000_000_000;
    let id = |n: u32| ExecutionId::new(format!("demo-{stamp}-{n}"));
    let runs = vec![
        DemoRun {
            execution_id: id(1)?,
            title: "Support reply (LLM pipeline with an artifact)",
            status: ExecutionStatus::Completed,
        },
        DemoRun {
            execution_id: id(2)?,
            title: "Invoice extraction (fails, with an error hint)",
            status: ExecutionStatus::Error,
        },
        DemoRun {
            execution_id: id(3)?,
            title: "Research agent (wide run, tools and models)",
            status: ExecutionStatus::Completed,
        },
    ];
    let artifact = support_reply(&tracer, &target.artifact_dir, &runs[0].execution_id)?;
    invoice_extraction(&tracer, &runs[1].execution_id);
    research_agent(&tracer, &runs[2].execution_id);
    // The receiver acknowledges an export once it is stored: after the flush, the runs are there.
    tracer.flush_sink(Duration::from_secs(10));
    telemetry
        .flush()
        .map_err(|e| anyhow::anyhow!("the demo's spans could not be exported: {e}"))?;
    store.register_artifact(&artifact)?;
    Ok(runs)
}
