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
//!
//! For durability checks (`cargo xtask durability` runs them around `kill -9`s of the server):
//!
//! ```text
//! ingest_load record grpc|http SECONDS CONCURRENCY FILE   # exports for SECONDS, whatever the
//!                                                         # server does; appends to FILE the
//!                                                         # trace and span ids of every
//!                                                         # acknowledged export
//! ingest_load check FILE DATABASE_URL                     # looks each of them up in the store
//! ```
//!
//! The same load against another OTLP receiver, for comparison: with `PHOENIX_GRAPHQL` set
//! (Arize Phoenix's `http://HOST:PORT/graphql`), spans are counted back through Phoenix's GraphQL
//! `recordCount` (every 100 ms: Phoenix answers from the process that stores the spans) instead
//! of this server's API (every 2 ms). Phoenix acknowledges an export before it stores
//! the spans, so its report has two rates: acknowledged, and stored (every span countable).
#![allow(clippy::print_stdout, reason = "an example reports what it measured")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

#[path = "support/otlp.rs"]
mod otlp;

use otlp::{percentile, resource_spans, text};

const SPANS_PER_TRACE: u64 = 100;

/// One run of `SPANS_PER_TRACE` spans, as an executor would export it. Ids are unique across
/// processes that do not share the low 16 bits of their id.
fn export(run: &str, seq: u64) -> ExportTraceServiceRequest {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&seq.to_be_bytes());
    trace_id[8..].copy_from_slice(&(u64::from(std::process::id()) | 1 << 63).to_be_bytes());
    let now = orcheo_trace_model::Timestamp::now().unix_nanos();
    // Span ids unique across traces too, as random ids are: some stores key spans by id alone.
    let span_id = |n: u64| {
        ((u64::from(std::process::id()) & 0xffff) << 48 | seq << 12 | (n + 1))
            .to_be_bytes()
            .to_vec()
    };
    let spans = (0..SPANS_PER_TRACE)
        .map(|n| Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id(n),
            parent_span_id: if n == 0 { Vec::new() } else { span_id(0) },
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
        resource_spans: resource_spans("load-executor", "load", spans),
    }
}

#[derive(Clone)]
enum Exporter {
    Grpc(TraceServiceClient<tonic::transport::Channel>),
    Http(reqwest::Client, String),
}

/// Exports the receiver asked to be retried ("busy"), across all exporters.
static RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Exporter {
    /// An exporter to the receiver of `transport` (`OTLP_GRPC` or `OTLP_HTTP`).
    async fn connect(transport: &str) -> anyhow::Result<Self> {
        let env =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Ok(match transport {
            "grpc" => Self::Grpc(
                TraceServiceClient::connect(env("OTLP_GRPC", "http://127.0.0.1:4317")).await?,
            ),
            "http" => Self::Http(
                reqwest::Client::new(),
                format!("{}/v1/traces", env("OTLP_HTTP", "http://127.0.0.1:4318")),
            ),
            other => anyhow::bail!("unknown transport {other:?}"),
        })
    }

    /// Sends one export, retrying while the receiver says it is busy (gRPC `UNAVAILABLE`,
    /// HTTP 503 or 429), as OTLP exporters do: after its `Retry-After`, or 50 ms.
    async fn send(&mut self, request: ExportTraceServiceRequest) -> anyhow::Result<()> {
        let bytes = request.encode_to_vec();
        for _ in 0..600 {
            let busy = match self {
                Self::Grpc(client) => match client.export(request.clone()).await {
                    Ok(_) => return Ok(()),
                    Err(status) if status.code() == tonic::Code::Unavailable => {
                        Duration::from_millis(50)
                    }
                    Err(status) => anyhow::bail!("gRPC {status}"),
                },
                Self::Http(client, url) => {
                    let response = client
                        .post(url.as_str())
                        .header("content-type", "application/x-protobuf")
                        .body(bytes.clone())
                        .send()
                        .await?;
                    let status = response.status();
                    if status.is_success() {
                        return Ok(());
                    }
                    anyhow::ensure!(
                        status.as_u16() == 503 || status.as_u16() == 429,
                        "HTTP {status}"
                    );
                    response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .map_or(Duration::from_millis(50), Duration::from_secs)
                }
            };
            RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(busy).await;
        }
        anyhow::bail!("the receiver stayed busy")
    }
}

/// Where the loaded spans are read back.
enum Reader {
    /// This server: a run is there when its trace is served with every span.
    Orcheo { api: String },
    /// Arize Phoenix: spans are there when its span count has grown by them.
    Phoenix { graphql: String },
}

impl Reader {
    /// Spans Phoenix holds, over every project.
    async fn phoenix_count(client: &reqwest::Client, graphql: &str) -> anyhow::Result<u64> {
        let body: serde_json::Value = client
            .post(graphql)
            .json(&serde_json::json!({
                "query": "{ projects { edges { node { recordCount } } } }"
            }))
            .send()
            .await?
            .json()
            .await?;
        let edges = body["data"]["projects"]["edges"]
            .as_array()
            .context("no projects in Phoenix's answer")?;
        Ok(edges
            .iter()
            .filter_map(|e| e["node"]["recordCount"].as_u64())
            .sum())
    }

    /// How many spans the store holds now (Phoenix), to wait for more.
    async fn baseline(&self, client: &reqwest::Client) -> anyhow::Result<u64> {
        match self {
            Self::Orcheo { .. } => Ok(0),
            Self::Phoenix { graphql } => Self::phoenix_count(client, graphql).await,
        }
    }

    /// Waits until `run` (or, in Phoenix, `spans` more than `baseline`) can be read back.
    async fn wait(
        &self,
        client: &reqwest::Client,
        run: &str,
        baseline: u64,
        spans: u64,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let t0 = Instant::now();
        loop {
            let there = match self {
                Self::Orcheo { api } => {
                    let response = client
                        .get(format!(
                            "{api}/api/executions/{run}/trace?view=flat&limit=1"
                        ))
                        .send()
                        .await?;
                    response.status().is_success() && {
                        let body: serde_json::Value = response.json().await?;
                        body["execution"]["span_count"] == spans
                    }
                }
                Self::Phoenix { graphql } => {
                    Self::phoenix_count(client, graphql).await? >= baseline + spans
                }
            };
            if there {
                return Ok(());
            }
            anyhow::ensure!(t0.elapsed() < limit, "{run} never appeared");
            let poll = match self {
                Self::Orcheo { .. } => Duration::from_millis(2),
                Self::Phoenix { .. } => Duration::from_millis(100),
            };
            tokio::time::sleep(poll).await;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("record") => return durability::record(&args[1..]).await,
        Some("check") => return durability::check(&args[1..]),
        _ => {}
    }
    let [transport, traces, concurrency] = args.as_slice() else {
        anyhow::bail!(
            "usage: ingest_load grpc|http TRACES CONCURRENCY\n       \
             ingest_load record grpc|http SECONDS CONCURRENCY FILE\n       \
             ingest_load check FILE DATABASE_URL"
        );
    };
    let traces: u64 = traces.parse().context("TRACES")?;
    let concurrency: u64 = concurrency.parse().context("CONCURRENCY")?;
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let reader = match std::env::var("PHOENIX_GRAPHQL") {
        Ok(graphql) => Reader::Phoenix { graphql },
        Err(_) => Reader::Orcheo {
            api: env("API", "http://127.0.0.1:8080"),
        },
    };
    let client = reqwest::Client::new();
    let before = reader.baseline(&client).await?;
    let exporter = Exporter::connect(transport).await?;
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
        "{transport}: {traces} traces × {SPANS_PER_TRACE} spans with {concurrency} exporters acknowledged in {:.2} s: {:.0} spans/s",
        elapsed.as_secs_f64(),
        spans as f64 / elapsed.as_secs_f64()
    );
    let retries = RETRIES.load(std::sync::atomic::Ordering::Relaxed);
    if retries > 0 {
        println!("  ({retries} exports retried after a busy answer)");
    }
    if let Reader::Phoenix { .. } = reader {
        let last = format!("load-{stamp}-{}", traces - 1);
        reader
            .wait(&client, &last, before, spans, Duration::from_mins(10))
            .await?;
        let stored = started.elapsed();
        println!(
            "stored (every span countable) after {:.2} s: {:.0} spans/s",
            stored.as_secs_f64(),
            spans as f64 / stored.as_secs_f64()
        );
    }
    // Delay from export to the whole trace being readable, one run at a time.
    let mut delays = Vec::new();
    let mut exporter = exporter;
    for n in 0..50u64 {
        let seq = traces + 1_000_000 + n;
        let run = format!("delay-{stamp}-{seq}");
        let baseline = reader.baseline(&client).await?;
        let t0 = Instant::now();
        exporter.send(export(&run, seq)).await?;
        reader
            .wait(
                &client,
                &run,
                baseline,
                SPANS_PER_TRACE,
                Duration::from_secs(10),
            )
            .await?;
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

/// What was acknowledged, and whether the store still has it.
mod durability {
    use std::collections::HashSet;
    use std::io::{BufRead as _, Write as _};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use orcheo_trace_model::{SpanId, TraceId};

    use super::{Exporter, export};

    /// `record grpc|http SECONDS CONCURRENCY FILE`: exports until SECONDS have passed, and after
    /// each acknowledgement appends a line to FILE: the trace id, then the ids of its spans. An
    /// export that fails (the server is gone) is not acknowledged; the exporter waits a little and
    /// goes on with the next one.
    pub(super) async fn record(args: &[String]) -> anyhow::Result<()> {
        let [transport, seconds, concurrency, file] = args else {
            anyhow::bail!("usage: ingest_load record grpc|http SECONDS CONCURRENCY FILE");
        };
        let seconds: u64 = seconds.parse().context("SECONDS")?;
        let concurrency: u64 = concurrency.parse().context("CONCURRENCY")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .with_context(|| format!("cannot open {file}"))?;
        let out = Arc::new(Mutex::new(std::io::BufWriter::new(out)));
        let exporter = Exporter::connect(transport).await?;
        let next = Arc::new(AtomicU64::new(0));
        let acknowledged = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let run = std::process::id();
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (mut exporter, next, out) = (exporter.clone(), Arc::clone(&next), Arc::clone(&out));
            let (acknowledged, failed) = (Arc::clone(&acknowledged), Arc::clone(&failed));
            workers.push(tokio::spawn(async move {
                while tokio::time::Instant::now() < deadline {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let request = export(&format!("durable-{run}-{seq}"), seq);
                    let line = ids(&request);
                    let sent = tokio::time::timeout_at(deadline, exporter.send(request)).await;
                    if let Ok(Ok(())) = sent {
                        let mut out = out.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                        writeln!(out, "{line}")?;
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                anyhow::Ok(())
            }));
        }
        for worker in workers {
            worker.await??;
        }
        out.lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .flush()
            .with_context(|| format!("cannot write {file}"))?;
        println!(
            "{transport}: {} exports ({} spans) acknowledged, {} not, in {seconds} s",
            acknowledged.load(Ordering::Relaxed),
            acknowledged.load(Ordering::Relaxed) * super::SPANS_PER_TRACE,
            failed.load(Ordering::Relaxed)
        );
        Ok(())
    }

    /// `trace_id span_id span_id …` of an export (one trace).
    fn ids(request: &ExportTraceServiceRequest) -> String {
        let spans: Vec<_> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let mut line = spans
            .first()
            .and_then(|s| TraceId::from_slice(&s.trace_id).ok())
            .map(|id| id.to_string())
            .unwrap_or_default();
        for span in spans
            .iter()
            .filter_map(|s| SpanId::from_slice(&s.span_id).ok())
        {
            line.push(' ');
            line.push_str(&span.to_string());
        }
        line
    }

    /// `check FILE DATABASE_URL`: every span FILE lists, looked up in the store. Prints the
    /// figures; fails if any is missing.
    pub(super) fn check(args: &[String]) -> anyhow::Result<()> {
        let [file, url] = args else {
            anyhow::bail!("usage: ingest_load check FILE DATABASE_URL");
        };
        let started = Instant::now();
        let store = orcheo_trace_store::Store::open(url, orcheo_trace_store::PoolConfig::default())
            .with_context(|| format!("cannot open {url}"))?;
        let lines = std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {file}"))?,
        );
        let (mut acknowledged, mut found, mut traces) = (0u64, 0u64, 0u64);
        for line in lines.lines() {
            let line = line?;
            let mut words = line.split_whitespace();
            let Some(trace) = words.next() else {
                continue;
            };
            let trace_id = TraceId::from_hex(trace).with_context(|| format!("trace id {trace}"))?;
            let stored: HashSet<SpanId> = store
                .local_spans(trace_id, 100_000)?
                .into_iter()
                .map(|s| s.span_id)
                .collect();
            traces += 1;
            for span in words {
                let span_id = SpanId::from_hex(span).with_context(|| format!("span id {span}"))?;
                acknowledged += 1;
                if stored.contains(&span_id) {
                    found += 1;
                }
            }
        }
        let lost = acknowledged - found;
        println!(
            "acknowledged {acknowledged} spans ({traces} exports), found {found}, lost {lost} \
             (checked in {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        anyhow::ensure!(lost == 0, "{lost} acknowledged spans are not in the store");
        Ok(())
    }
}
