//! Load for the embedded OTLP receivers: many 100-span traces exported over gRPC or HTTP, then
//! the delay from a span's export to its trace being served by the API.
//!
//! ```text
//! orcheo-trace-server serve &      # embedded defaults: API :8080, OTLP :4317 / :4318
//! cargo run --release -p orcheo-trace-server --example ingest_load -- grpc 2000 8
//! cargo run --release -p orcheo-trace-server --example ingest_load -- http 2000 8
//! ```
//!
//! Arguments: transport (`grpc` or `http`), traces, concurrent exporters; environment:
//! `API` (default `http://127.0.0.1:8080`), `OTLP_GRPC` (`http://127.0.0.1:4317`), `OTLP_HTTP`
//! (`http://127.0.0.1:4318`).
#![allow(clippy::print_stdout, reason = "an example reports what it measured")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

const SPANS_PER_TRACE: u64 = 100;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// One run of `SPANS_PER_TRACE` spans, as an executor would export it.
fn export(run: &str, seq: u64) -> ExportTraceServiceRequest {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&seq.to_be_bytes());
    trace_id[8..].copy_from_slice(&(u64::from(std::process::id()) | 1 << 63).to_be_bytes());
    let now = orcheo_trace_model::Timestamp::now().unix_nanos();
    let spans = (0..SPANS_PER_TRACE)
        .map(|n| Span {
            trace_id: trace_id.to_vec(),
            span_id: (n + 1).to_be_bytes().to_vec(),
            parent_span_id: if n == 0 {
                Vec::new()
            } else {
                1u64.to_be_bytes().to_vec()
            },
            name: if n == 0 {
                "workflow.execution".to_owned()
            } else {
                format!("Node {n}")
            },
            start_time_unix_nano: now + n * 1_000_000,
            end_time_unix_nano: now + n * 1_000_000 + 800_000,
            attributes: vec![
                text("orcheo.execution.id", run),
                text("orcheo.node.kind", if n == 0 { "workflow" } else { "llm" }),
                text("gen_ai.request.model", "gpt-4o-mini"),
            ],
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "load-executor")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "load".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

#[derive(Clone)]
enum Exporter {
    Grpc(TraceServiceClient<tonic::transport::Channel>),
    Http(reqwest::Client, String),
}

impl Exporter {
    async fn send(&mut self, request: ExportTraceServiceRequest) -> anyhow::Result<()> {
        match self {
            Self::Grpc(client) => {
                client.export(request).await?;
            }
            Self::Http(client, url) => {
                let response = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(request.encode_to_vec())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
            }
        }
        Ok(())
    }
}

/// The `pct`-th percentile (0..=100) of sorted values, nearest rank.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let i = (sorted.len().saturating_sub(1) * pct).div_ceil(100);
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [transport, traces, concurrency] = args.as_slice() else {
        anyhow::bail!("usage: ingest_load grpc|http TRACES CONCURRENCY");
    };
    let traces: u64 = traces.parse().context("TRACES")?;
    let concurrency: u64 = concurrency.parse().context("CONCURRENCY")?;
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let api = env("API", "http://127.0.0.1:8080");
    let exporter = match transport.as_str() {
        "grpc" => Exporter::Grpc(
            TraceServiceClient::connect(env("OTLP_GRPC", "http://127.0.0.1:4317")).await?,
        ),
        "http" => Exporter::Http(
            reqwest::Client::new(),
            format!("{}/v1/traces", env("OTLP_HTTP", "http://127.0.0.1:4318")),
        ),
        other => anyhow::bail!("unknown transport {other:?}"),
    };
    let stamp = orcheo_trace_model::Timestamp::now().unix_nanos() / 1_000_000_000;
    // Throughput: `concurrency` exporters share the traces.
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let mut exporter = exporter.clone();
        let next = Arc::clone(&next);
        workers.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seq >= traces {
                    return anyhow::Ok(());
                }
                exporter
                    .send(export(&format!("load-{stamp}-{seq}"), seq))
                    .await?;
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let elapsed = started.elapsed();
    let spans = traces * SPANS_PER_TRACE;
    println!(
        "{transport}: {traces} traces × {SPANS_PER_TRACE} spans with {concurrency} exporters in {:.2} s: {:.0} spans/s",
        elapsed.as_secs_f64(),
        spans as f64 / elapsed.as_secs_f64()
    );
    // Delay from export to the API serving the whole trace, one run at a time.
    let client = reqwest::Client::new();
    let mut delays = Vec::new();
    let mut exporter = exporter;
    for n in 0..50u64 {
        let seq = traces + 1_000_000 + n;
        let run = format!("delay-{stamp}-{seq}");
        let t0 = Instant::now();
        exporter.send(export(&run, seq)).await?;
        loop {
            let response = client
                .get(format!(
                    "{api}/api/executions/{run}/trace?view=flat&limit=1"
                ))
                .send()
                .await?;
            if response.status().is_success() {
                let body: serde_json::Value = response.json().await?;
                if body["execution"]["span_count"] == SPANS_PER_TRACE {
                    break;
                }
            }
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(10),
                "run {run} never appeared"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        delays.push(t0.elapsed());
    }
    delays.sort();
    println!(
        "export → served: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (50 runs)",
        percentile(&delays, 50).as_secs_f64() * 1e3,
        percentile(&delays, 95).as_secs_f64() * 1e3,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(())
}
