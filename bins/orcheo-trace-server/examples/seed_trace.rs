//! Writes one finished execution and its trace into a database's local span store, for load
//! tests of the embedded backend:
//!
//! ```text
//! cargo run --release -p orcheo-trace-server --example seed_trace -- sqlite://bench.db exec_100 100
//! ```
//!
//! The trace has a `workflow.execution` root and LLM nodes in groups of ten (one parent, nine
//! children), each with a prompt, a response, tokens and a model — the shape of a real run.
//!
//! The run ended an hour ago; with a fourth argument `just-ended`, a moment ago, as when a trace
//! is opened right after its run.
#![allow(clippy::print_stdout, reason = "an example reports what it wrote")]

use anyhow::Context as _;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, TracesData};
use orcheo_trace_model::{ExecutionId, ExecutionStatus, Timestamp, TraceId};
use orcheo_trace_store::{LocalSpanLimits, NewExecution, PoolConfig, Store, TraceLink};
use prost::Message as _;

#[path = "support/otlp.rs"]
mod otlp;

use otlp::{int, resource_spans, text};

/// The root and `count - 1` LLM nodes, in groups of ten.
fn workflow_trace(execution: &str, trace_id: TraceId, t0: u64, count: u64) -> TracesData {
    let span_id = |n: u64| (n + 1).to_be_bytes().to_vec();
    let mut spans = vec![Span {
        trace_id: trace_id.to_bytes().to_vec(),
        span_id: span_id(0),
        name: "workflow.execution".to_owned(),
        start_time_unix_nano: t0,
        end_time_unix_nano: t0 + count * 10_000_000 + 1_000_000,
        attributes: vec![
            text("orcheo.execution.id", execution),
            text("orcheo.workflow.id", "wf_bench"),
        ],
        status: Some(Status {
            code: 1,
            ..Status::default()
        }),
        ..Span::default()
    }];
    for n in 1..count {
        // Groups of ten: a parent under the root and nine children under it.
        let parent = if n % 10 == 1 { 0 } else { n - (n - 1) % 10 };
        let start = t0 + n * 10_000_000;
        spans.push(Span {
            trace_id: trace_id.to_bytes().to_vec(),
            span_id: span_id(n),
            parent_span_id: span_id(parent),
            name: format!("Node {n}"),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 8_000_000,
            attributes: vec![
                text("orcheo.execution.id", execution),
                text("orcheo.node.id", &format!("node_{n}")),
                text("orcheo.node.kind", "llm"),
                int("gen_ai.usage.input_tokens", 120),
                int("gen_ai.usage.output_tokens", 45),
                text("gen_ai.request.model", "gpt-4o-mini"),
            ],
            events: vec![
                Event {
                    name: "prompt".to_owned(),
                    time_unix_nano: start + 1_000_000,
                    attributes: vec![text("preview", "Summarize the customer's last three messages in two sentences.")],
                    ..Event::default()
                },
                Event {
                    name: "response".to_owned(),
                    time_unix_nano: start + 7_000_000,
                    attributes: vec![text("preview", "The customer asks for a refund of order 1042 and a faster shipping option.")],
                    ..Event::default()
                },
            ],
            status: Some(Status {
                code: 1,
                ..Status::default()
            }),
            ..Span::default()
        });
    }
    TracesData {
        resource_spans: resource_spans("orcheo-backend", "orcheo.tracing", spans),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, execution, count, just_ended) = match args.as_slice() {
        [url, execution, count] => (url, execution, count, false),
        [url, execution, count, when] if when == "just-ended" => (url, execution, count, true),
        _ => anyhow::bail!("usage: seed_trace DATABASE_URL EXECUTION_ID SPAN_COUNT [just-ended]"),
    };
    let count: u64 = count.parse().context("SPAN_COUNT")?;
    let run_nanos = count * 10_000_000 + 1_000_000;
    let execution_id = ExecutionId::new(execution.as_str())?;
    let store = Store::open(url, PoolConfig::default())?;
    store.migrate()?;
    // A trace id derived from the execution id, so reseeding replaces rather than adds.
    let digest = ring::digest::digest(&ring::digest::SHA256, execution.as_bytes());
    let trace_id = TraceId::from_slice(&digest.as_ref()[..16])?;
    // An hour ago: inside any retention period.
    let ago = if just_ended {
        run_nanos
    } else {
        3_600_000_000_000
    };
    let t0 = Timestamp::now().unix_nanos().saturating_sub(ago);
    let data = workflow_trace(execution, trace_id, t0, count);
    // The receivers split their own message type: the same bytes, decoded into it.
    let data = orcheo_ingest::otlp::TracesData::decode(data.encode_to_vec().as_slice())
        .context("re-decoding the seeded trace")?;
    let split = orcheo_ingest::split::split(data);
    if store.execution(&execution_id)?.is_none() {
        store.start_execution(&NewExecution {
            id: execution_id.clone(),
            workflow_id: Some("wf_bench".to_owned()),
            workflow_version: Some("1".to_owned()),
            tenant: None,
            triggered_by: Some("manual".to_owned()),
            started_at: Timestamp::from_unix_nanos(t0),
            trace: Some(TraceLink {
                trace_id,
                traceparent: format!("00-{trace_id}-0000000000000001-01"),
            }),
        })?;
        store.finish_execution(
            &execution_id,
            ExecutionStatus::Completed,
            None,
            Timestamp::from_unix_nanos(t0 + run_nanos),
        )?;
    }
    let limits = LocalSpanLimits {
        per_trace: count.max(LocalSpanLimits::default().per_trace),
        ..LocalSpanLimits::default()
    };
    let report = store.store_local_spans(&split.spans, Timestamp::from_unix_nanos(t0), limits)?;
    println!(
        "{execution}: trace {trace_id}, {} spans stored, {} replaced, {} refused",
        report.stored,
        report.replaced,
        report.refused()
    );
    Ok(())
}
