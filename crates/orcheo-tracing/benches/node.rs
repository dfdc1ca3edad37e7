//! What tracing costs a workflow: a node span with two attributes, tokens and a 200-character
//! prompt, with tracing off (`OTEL_SDK_DISABLED`), exporting over OTLP/HTTP to a closed port,
//! and to a collector that answers; and a 100-node workflow whose nodes do 100 µs of work each,
//! off and on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark: a failure is a failed run"
)]

use std::hint::black_box;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use orcheo_trace_model::ExecutionId;
use orcheo_tracing::{Exporter, NodeInfo, Run, RunInfo, Telemetry, TracingConfig, WorkflowTracer};

/// An OTLP/HTTP collector that accepts everything (keep-alive, any number of exports).
fn collector() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/v1/traces")
}

fn tracer(config: &TracingConfig) -> (Telemetry, WorkflowTracer) {
    let telemetry = Telemetry::init(config).unwrap();
    let tracer = WorkflowTracer::new(&telemetry, config).unwrap();
    (telemetry, tracer)
}

fn start(tracer: &WorkflowTracer) -> Run {
    tracer.start_run(&RunInfo {
        execution_id: Some(ExecutionId::new("bench").unwrap()),
        workflow_id: Some("wf_bench".to_owned()),
        ..RunInfo::default()
    })
}

fn node(run: &Run, prompt: &str) {
    let mut node = run.start_node(&NodeInfo {
        id: "draft".to_owned(),
        display_name: "Draft".to_owned(),
        kind: Some("llm".to_owned()),
    });
    node.tokens(120, 45);
    node.prompt(prompt);
    node.succeed();
}

/// 100 µs of work that the optimizer cannot remove.
fn work() {
    let until = Instant::now() + Duration::from_micros(100);
    let mut x = 0u64;
    while Instant::now() < until {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

fn configs() -> Vec<(&'static str, TracingConfig)> {
    let otlp = |endpoint: String| TracingConfig {
        exporter: Exporter::Otlp,
        endpoint,
        export_timeout: Duration::from_millis(500),
        ..TracingConfig::default()
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    vec![
        (
            "off",
            TracingConfig {
                disabled: true,
                ..TracingConfig::default()
            },
        ),
        ("closed_port", otlp(format!("http://{closed}/v1/traces"))),
        ("collector_up", otlp(collector())),
    ]
}

fn benches(c: &mut Criterion) {
    let prompt: String = "Summarize the customer's last three messages and propose a reply. "
        .chars()
        .cycle()
        .take(200)
        .collect();
    let mut group = c.benchmark_group("node");
    for (name, config) in configs() {
        let (telemetry, tracer) = tracer(&config);
        let run = start(&tracer);
        group.bench_function(name, |b| b.iter(|| node(&run, &prompt)));
        run.complete();
        let _ = telemetry.flush();
    }
    group.finish();
    let mut group = c.benchmark_group("workflow_100_nodes");
    group.sample_size(20);
    for (name, config) in configs() {
        let (telemetry, tracer) = tracer(&config);
        group.bench_function(name, |b| {
            b.iter(|| {
                let run = start(&tracer);
                for _ in 0..100 {
                    work();
                    node(&run, &prompt);
                }
                run.complete();
            });
        });
        let _ = telemetry.flush();
    }
    group.finish();
}

criterion_group!(node_cost, benches);
criterion_main!(node_cost);
