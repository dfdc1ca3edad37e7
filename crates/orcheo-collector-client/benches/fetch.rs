//! The client's own cost on loopback (`cargo bench -p orcheo-collector-client`): a 1,000-span
//! trace fetched through the Tempo backend against the same bytes fetched with a bare HTTP GET,
//! and a fetch refused by an open circuit breaker. Results: `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up")]

#[allow(
    dead_code,
    unreachable_pub,
    reason = "shared with the tests, which use all of it"
)]
#[path = "../tests/helpers/fake_http.rs"]
mod fake_http;
#[path = "../../orcheo-span-tree/benches/support/mod.rs"]
mod support;
#[allow(unreachable_pub, reason = "shared with the tests")]
#[path = "../tests/helpers/tempo_wire.rs"]
mod tempo_wire;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fake_http::{Canned, FakeHttp};
use orcheo_collector_client::backends::connect;
use orcheo_collector_client::{BackendKind, ClientConfig, FetchMetrics, FetchRequest};
use orcheo_trace_model::TraceId;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn fetch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = runtime.block_on(FakeHttp::start());
    let body = tempo_wire::tempo_response(&support::otlp_protobuf(&support::spans(1_000)), None);
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(200, body).header("content-type", "application/protobuf")],
    );
    let url = format!("{}/api/v2/traces/{TRACE_ID}", fake.url());
    let source = connect(
        &ClientConfig::new(BackendKind::Tempo, fake.url()),
        FetchMetrics::unregistered().unwrap(),
    )
    .unwrap();
    let request = FetchRequest {
        trace_id: TraceId::from_hex(TRACE_ID).unwrap(),
        window: None,
    };
    let raw = reqwest::Client::builder()
        .retry(reqwest::retry::never())
        .build()
        .unwrap();

    let mut group = c.benchmark_group("fetch_1000_spans");
    group.bench_function("raw_http_get", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = raw
                .get(&url)
                .header("accept", "application/protobuf")
                .send()
                .await
                .unwrap();
            response.bytes().await.unwrap().len()
        });
    });
    group.bench_function("tempo_client_fetch", |b| {
        b.to_async(&runtime)
            .iter(|| async { source.fetch(&request).await.unwrap().spans.len() });
    });
    group.finish();

    // A store that is down (nothing listens): three failures open the breaker.
    let mut down = ClientConfig::new(BackendKind::Tempo, "http://127.0.0.1:9");
    down.retry.max_attempts = 1;
    down.breaker.consecutive_failures = 1;
    down.breaker.cool_down = Duration::from_hours(1);
    let source = connect(&down, FetchMetrics::unregistered().unwrap()).unwrap();
    assert!(runtime.block_on(source.fetch(&request)).is_err());
    c.bench_function("fetch_with_breaker_open", |b| {
        b.to_async(&runtime)
            .iter(|| async { source.fetch(&request).await.is_err() });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = fetch
}
criterion_main!(benches);
