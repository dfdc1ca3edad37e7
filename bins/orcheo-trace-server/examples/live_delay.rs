//! The delay from a span ending to its live update reaching a WebSocket subscriber.
//!
//! ```text
//! # embedded: spans exported over OTLP/HTTP to the server, which wakes its subscribers at once
//! orcheo-trace-server serve &
//! cargo run --release -p orcheo-trace-server --example live_delay -- otlp
//! # another process writing to the database (PostgreSQL): the server finds it by polling
//! orcheo-trace-server serve --database-url postgres://… &
//! cargo run --release -p orcheo-trace-server --example live_delay -- store postgres://…
//! ```
//!
//! `live_delay hold N` opens N subscribers (over four runs) and keeps them until Enter, to measure
//! what the server holds per subscriber.
//!
//! Environment: `API` (default `http://127.0.0.1:8080`), `OTLP_HTTP` (`http://127.0.0.1:4318`).
#![allow(clippy::print_stdout, reason = "an example reports what it measured")]

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use orcheo_trace_model::{ExecutionId, SpanId, SpanSummary, StatusCode, Timestamp, TraceId};
use prost::Message as _;

#[path = "support/otlp.rs"]
mod otlp;

use otlp::{percentile, text};

const SAMPLES: u64 = 100;

fn now_nanos() -> u64 {
    Timestamp::now().unix_nanos()
}

fn span(trace_id: [u8; 16], n: u64, execution: &str) -> ExportTraceServiceRequest {
    let start = now_nanos();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace_id.to_vec(),
                    span_id: (n + 1).to_be_bytes().to_vec(),
                    parent_span_id: if n == 0 {
                        Vec::new()
                    } else {
                        1u64.to_be_bytes().to_vec()
                    },
                    name: if n == 0 {
                        "setup".to_owned()
                    } else {
                        format!("node {n}")
                    },
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 1_000,
                    attributes: vec![text("orcheo.execution.id", execution)],
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// Opens `n` subscribers over four runs, reports, and waits for a line on standard input.
async fn hold(
    client: &reqwest::Client,
    api: &str,
    otlp: &str,
    stamp: u64,
    n: usize,
) -> anyhow::Result<()> {
    let mut sockets = Vec::with_capacity(n);
    for run in 0..4u8 {
        let execution = format!("hold-{stamp}-{run}");
        let mut trace_id = [run + 1; 16];
        trace_id[..8].copy_from_slice(&stamp.to_be_bytes());
        post(client, otlp, span(trace_id, 0, &execution).encode_to_vec()).await?;
        let ws = format!(
            "{}/api/executions/{execution}/trace/live",
            api.replace("http://", "ws://")
        );
        for _ in 0..n / 4 {
            sockets.push(tokio_tungstenite::connect_async(ws.as_str()).await?.0);
        }
    }
    println!(
        "holding {} subscribers; press Enter to close them",
        sockets.len()
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    drop(sockets);
    Ok(())
}

/// The execution, as an executor in another process records it.
fn register(
    store: &orcheo_trace_store::Store,
    execution: &str,
    trace_id: [u8; 16],
    stamp: u64,
) -> anyhow::Result<()> {
    let trace_id = TraceId::from_bytes(trace_id)?;
    store.start_execution(&orcheo_trace_store::NewExecution {
        id: ExecutionId::new(execution)?,
        workflow_id: None,
        workflow_version: None,
        tenant: None,
        triggered_by: None,
        started_at: Timestamp::from_unix_nanos(stamp),
        trace: Some(orcheo_trace_store::TraceLink {
            trace_id,
            traceparent: format!("00-{trace_id}-0000000000000001-01"),
        }),
    })?;
    Ok(())
}

/// A span that just ended, as an executor in another process records it.
fn write_summary(store: &orcheo_trace_store::Store, execution: &str, n: u64) -> anyhow::Result<()> {
    let start = now_nanos();
    store.record_summaries(&[SpanSummary {
        execution_id: ExecutionId::new(execution)?,
        span_id: SpanId::from_bytes((n + 1).to_be_bytes())?,
        parent_span_id: None,
        name: format!("node {n}"),
        kind: "llm".to_owned(),
        start_time: Timestamp::from_unix_nanos(start),
        end_time: Some(Timestamp::from_unix_nanos(start + 1_000)),
        status_code: StatusCode::Ok,
        status_message: None,
        input_tokens: None,
        output_tokens: None,
        cached_input_tokens: None,
        model: None,
        provider: None,
    }])?;
    Ok(())
}

/// Sends one OTLP/HTTP protobuf export.
async fn post(client: &reqwest::Client, otlp: &str, body: Vec<u8>) -> anyhow::Result<()> {
    let response = client
        .post(otlp)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "export: {}",
        response.status()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let api = env("API", "http://127.0.0.1:8080");
    let otlp = format!("{}/v1/traces", env("OTLP_HTTP", "http://127.0.0.1:4318"));
    let stamp = now_nanos();
    let execution = format!("live-{stamp}");
    let mut trace_id = [7u8; 16];
    trace_id[..8].copy_from_slice(&stamp.to_be_bytes());
    let client = reqwest::Client::new();
    let store = match args.first().map(String::as_str) {
        Some("hold") => {
            let n: usize = args.get(1).context("hold needs a count")?.parse()?;
            return hold(&client, &api, &otlp, stamp, n).await;
        }
        Some("otlp") => None,
        Some("store") => {
            let url = args.get(1).context("store mode needs a DATABASE_URL")?;
            let store =
                orcheo_trace_store::Store::open(url, orcheo_trace_store::PoolConfig::default())?;
            Some(store)
        }
        _ => anyhow::bail!("usage: live_delay otlp | store DATABASE_URL"),
    };
    let export = |n: u64| {
        let client = client.clone();
        let otlp = otlp.clone();
        let body = span(trace_id, n, &execution).encode_to_vec();
        async move { post(&client, &otlp, body).await }
    };
    // The execution must exist before anyone can subscribe.
    match &store {
        None => export(0).await?,
        Some(store) => register(store, &execution, trace_id, stamp)?,
    }
    let ws = format!(
        "{}/api/executions/{execution}/trace/live",
        api.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws).await?;
    let mut delays = Vec::new();
    for n in 1..=SAMPLES {
        let t0 = Instant::now();
        match &store {
            None => export(n).await?,
            Some(store) => write_summary(store, &execution, n)?,
        }
        let wanted = format!("node {n}");
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .context("no update within 10 s")?
                .context("the socket closed")??;
            if message.to_text().is_ok_and(|t| t.contains(&wanted)) {
                break;
            }
        }
        delays.push(t0.elapsed());
        // Spans of a real run end some time apart.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    delays.sort();
    println!(
        "{}: span ended → update received: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({SAMPLES} spans)",
        args[0],
        percentile(&delays, 50).as_secs_f64() * 1e3,
        percentile(&delays, 95).as_secs_f64() * 1e3,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(())
}
