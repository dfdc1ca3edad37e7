//! Each backend against a fake store replaying real payloads, and the client's behaviour when
//! the store is slow, failing, down, or answering garbage.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

mod helpers;

use std::time::Duration;

use helpers::fake_grpc::FakeJaegerGrpc;
use helpers::fake_http::{Canned, FakeHttp};
use helpers::{TRACE_ID, config, fixture, request, tempo_response};
use orcheo_collector_client::backends::connect;
use orcheo_collector_client::{
    BackendKind, CircuitState, FetchError, FetchMetrics, TimeWindow, TraceSource, UnavailableReason,
};
use orcheo_trace_model::Timestamp;

const PROTOBUF: &str = "application/protobuf";

fn metrics() -> FetchMetrics {
    FetchMetrics::unregistered().unwrap()
}

fn tempo(fake: &FakeHttp) -> std::sync::Arc<dyn TraceSource> {
    let mut config = config(BackendKind::Tempo, fake.url());
    config.headers = vec![("X-Scope-OrgID".into(), "acme".to_owned().into())];
    connect(&config, metrics()).unwrap()
}

#[tokio::test]
async fn tempo_v2_protobuf_with_window_and_tenant_header() {
    let fake = FakeHttp::start().await;
    let body = tempo_response(&helpers::orcheo_run_protobuf(), None);
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(200, body).header("content-type", PROTOBUF)],
    );
    let source = tempo(&fake);
    let mut req = request();
    req.window = Some(TimeWindow {
        start: Timestamp::from_unix_nanos(1_770_000_000_500_000_000),
        end: Timestamp::from_unix_nanos(1_770_000_012_780_000_000),
    });
    let trace = source.fetch(&req).await.unwrap();
    assert_eq!(trace.spans.len(), 6);
    assert!(!trace.partial);
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].path_and_query,
        format!("/api/v2/traces/{TRACE_ID}?start=1770000000&end=1770000013")
    );
    assert_eq!(seen[0].headers["accept"], PROTOBUF);
    assert_eq!(seen[0].headers["x-scope-orgid"], "acme");
}

#[tokio::test]
async fn tempo_json_answer_and_partial_status_are_read() {
    let fake = FakeHttp::start().await;
    let body = fixture("tempo/v2-orcheo-run-partial.json");
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(200, body).header("content-type", "application/json")],
    );
    let trace = tempo(&fake).fetch(&request()).await.unwrap();
    assert_eq!(trace.spans.len(), 6);
    assert!(trace.partial);

    let fake = FakeHttp::start().await;
    let body = tempo_response(
        &helpers::orcheo_run_protobuf(),
        Some("trace exceeds max size"),
    );
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(200, body).header("content-type", PROTOBUF)],
    );
    let trace = tempo(&fake).fetch(&request()).await.unwrap();
    assert!(trace.partial);
    assert!(
        trace
            .anomalies
            .iter()
            .any(|a| a.detail == "trace exceeds max size")
    );
}

#[tokio::test]
async fn tempo_not_found_in_each_form() {
    for (status, body, content_type) in [
        (200, Vec::new(), PROTOBUF),
        (200, b"{\"trace\": {}}".to_vec(), "application/json"),
        (200, b"{}".to_vec(), "application/json"),
    ] {
        let fake = FakeHttp::start().await;
        fake.route(
            &format!("/api/v2/traces/{TRACE_ID}"),
            vec![Canned::new(status, body).header("content-type", content_type)],
        );
        assert_eq!(
            tempo(&fake).fetch(&request()).await.unwrap_err(),
            FetchError::NotFound
        );
        assert_eq!(fake.seen().len(), 1, "no retry, no fallback");
    }
    // v2 hides it and v1 has no such trace either: 404 both.
    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(404, "")],
    );
    fake.route(
        &format!("/api/traces/{TRACE_ID}"),
        vec![Canned::new(404, "")],
    );
    assert_eq!(
        tempo(&fake).fetch(&request()).await.unwrap_err(),
        FetchError::NotFound
    );
}

#[tokio::test]
async fn tempo_without_v2_falls_back_to_v1_and_remembers() {
    let fake = FakeHttp::start().await;
    // No v2 route: the fake answers 404 "page not found", as an old Tempo does.
    fake.route(
        &format!("/api/traces/{TRACE_ID}"),
        vec![Canned::new(200, helpers::orcheo_run_protobuf()).header("content-type", PROTOBUF)],
    );
    let source = tempo(&fake);
    assert_eq!(source.fetch(&request()).await.unwrap().spans.len(), 6);
    assert_eq!(source.fetch(&request()).await.unwrap().spans.len(), 6);
    let paths: Vec<_> = fake.seen().into_iter().map(|s| s.path_and_query).collect();
    assert_eq!(
        paths,
        [
            format!("/api/v2/traces/{TRACE_ID}"),
            format!("/api/traces/{TRACE_ID}"),
            format!("/api/traces/{TRACE_ID}")
        ]
    );
}

#[tokio::test]
async fn jaeger_v1_and_v3_happy_paths_and_not_found() {
    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/traces/{TRACE_ID}"),
        vec![Canned::new(200, fixture("jaeger-v1/otlp2jaeger-out.json"))],
    );
    let source = connect(&config(BackendKind::JaegerV1, fake.url()), metrics()).unwrap();
    assert_eq!(source.fetch(&request()).await.unwrap().spans.len(), 2);

    let fake = FakeHttp::start().await;
    let not_found = r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}"#;
    fake.route(
        &format!("/api/traces/{TRACE_ID}"),
        vec![Canned::new(404, not_found)],
    );
    let source = connect(&config(BackendKind::JaegerV1, fake.url()), metrics()).unwrap();
    assert_eq!(
        source.fetch(&request()).await.unwrap_err(),
        FetchError::NotFound
    );

    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/v3/traces/{TRACE_ID}"),
        vec![Canned::new(200, fixture("jaeger-v3/GetTrace.json"))],
    );
    let source = connect(&config(BackendKind::JaegerV3, fake.url()), metrics()).unwrap();
    let mut req = request();
    req.window = Some(TimeWindow {
        start: Timestamp::from_unix_nanos(0),
        end: Timestamp::from_unix_nanos(1_000_000_000),
    });
    assert_eq!(source.fetch(&req).await.unwrap().spans.len(), 1);
    assert_eq!(
        fake.seen()[0].path_and_query,
        format!(
            "/api/v3/traces/{TRACE_ID}?start_time=1970-01-01T00:00:00.000000000Z&end_time=1970-01-01T00:00:01.000000000Z"
        )
    );

    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/v3/traces/{TRACE_ID}"),
        vec![Canned::new(
            404,
            r#"{"error":{"httpCode":404,"message":"trace not found"}}"#,
        )],
    );
    let source = connect(&config(BackendKind::JaegerV3, fake.url()), metrics()).unwrap();
    assert_eq!(
        source.fetch(&request()).await.unwrap_err(),
        FetchError::NotFound
    );
}

#[tokio::test]
async fn jaeger_grpc_merges_a_stream_split_in_chunks() {
    let data = helpers::traces_data(&fixture("orcheo/workflow-run.otlp.json"));
    // One resource block per span: three chunks of two.
    let chunks: Vec<_> = data
        .resource_spans
        .chunks(2)
        .map(|c| opentelemetry_proto::tonic::trace::v1::TracesData {
            resource_spans: c.to_vec(),
        })
        .collect();
    assert_eq!(chunks.len(), 3);
    let (addr, fake) = FakeJaegerGrpc::start(chunks, None).await;
    let mut config = config(BackendKind::JaegerGrpc, format!("http://{addr}"));
    config.headers = vec![("X-Tenant".into(), "acme".to_owned().into())];
    let source = connect(&config, metrics()).unwrap();
    let trace = source.fetch(&request()).await.unwrap();
    assert_eq!(trace.spans.len(), 6);
    assert_eq!(fake.seen()[0].trace_id, TRACE_ID);

    let (addr, _) = FakeJaegerGrpc::start(Vec::new(), Some(tonic::Code::NotFound)).await;
    let source = connect(&config_for(addr), metrics()).unwrap();
    assert_eq!(
        source.fetch(&request()).await.unwrap_err(),
        FetchError::NotFound
    );

    let (addr, _) = FakeJaegerGrpc::start(Vec::new(), None).await;
    let source = connect(&config_for(addr), metrics()).unwrap();
    assert_eq!(
        source.fetch(&request()).await.unwrap_err(),
        FetchError::NotFound,
        "empty stream"
    );
}

fn config_for(addr: std::net::SocketAddr) -> orcheo_collector_client::ClientConfig {
    config(BackendKind::JaegerGrpc, format!("http://{addr}"))
}

#[tokio::test(start_paused = true)]
async fn slow_store_times_out_per_attempt_and_overall() {
    let fake = FakeHttp::start().await;
    let slow = Canned::new(200, helpers::orcheo_run_protobuf()).delay(Duration::from_mins(1));
    fake.route(&format!("/api/v2/traces/{TRACE_ID}"), vec![slow]);
    let mut config = config(BackendKind::Tempo, fake.url());
    config.attempt_timeout = Duration::from_secs(2);
    config.overall_timeout = Duration::from_secs(5);
    let source = connect(&config, metrics()).unwrap();
    let started = tokio::time::Instant::now();
    let err = source.fetch(&request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Unavailable {
                reason: UnavailableReason::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        started.elapsed() <= Duration::from_millis(5_100),
        "{:?}",
        started.elapsed()
    );
    assert!(fake.seen().len() >= 2, "the timed-out attempt was retried");
}

#[tokio::test]
async fn server_errors_are_retried_client_errors_are_not() {
    let fake = FakeHttp::start().await;
    let ok = Canned::new(200, tempo_response(&helpers::orcheo_run_protobuf(), None))
        .header("content-type", PROTOBUF);
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![
            Canned::new(503, "overloaded"),
            Canned::new(429, "slow down").header("retry-after", "0"),
            ok,
        ],
    );
    assert_eq!(tempo(&fake).fetch(&request()).await.unwrap().spans.len(), 6);
    assert_eq!(fake.seen().len(), 3);

    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(400, "invalid trace id")],
    );
    let err = tempo(&fake).fetch(&request()).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::BadResponse { detail } if detail.contains("400: invalid trace id")),
        "{err}"
    );
    assert_eq!(fake.seen().len(), 1);

    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(401, "")],
    );
    assert_eq!(
        tempo(&fake).fetch(&request()).await.unwrap_err(),
        FetchError::Unauthorized { status: 401 }
    );
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn store_down_opens_the_breaker_then_it_recovers() {
    let fake = FakeHttp::start().await;
    let ok = Canned::new(200, tempo_response(&helpers::orcheo_run_protobuf(), None))
        .header("content-type", PROTOBUF);
    fake.route(&format!("/api/v2/traces/{TRACE_ID}"), vec![ok]);
    fake.set_down(true);
    let mut config = config(BackendKind::Tempo, fake.url());
    config.breaker.consecutive_failures = 3;
    config.breaker.cool_down = Duration::from_millis(300);
    let registry = prometheus::Registry::new();
    let source = connect(&config, FetchMetrics::register(&registry).unwrap()).unwrap();

    let err = source.fetch(&request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Unavailable {
                reason: UnavailableReason::Connect,
                ..
            }
        ),
        "{err}"
    );
    // Three failed attempts: open. The next fetch fails fast without touching the network.
    let before = fake.seen().len();
    let started = std::time::Instant::now();
    let err = source.fetch(&request()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(
        matches!(
            err,
            FetchError::Unavailable {
                reason: UnavailableReason::CircuitOpen,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fake.seen().len(), before);
    let text = gather(&registry);
    assert!(
        text.contains("orcheo_trace_backend_circuit_state{backend=\"tempo\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("orcheo_trace_backend_up{backend=\"tempo\"} 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "orcheo_trace_fetch_failures_total{backend=\"tempo\",reason=\"circuit_open\"} 1"
        ),
        "{text}"
    );

    // The store comes back; after the cool-down the half-open probe succeeds and closes it.
    fake.set_down(false);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(source.fetch(&request()).await.unwrap().spans.len(), 6);
    let text = gather(&registry);
    assert!(
        text.contains("orcheo_trace_backend_circuit_state{backend=\"tempo\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("orcheo_trace_backend_up{backend=\"tempo\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "orcheo_trace_fetch_duration_seconds_count{backend=\"tempo\",outcome=\"ok\"} 1"
        ),
        "{text}"
    );
    let _ = CircuitState::Closed;
}

fn gather(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder as _;
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn garbage_truncated_and_enormous_bodies_are_bad_responses() {
    let full = tempo_response(&helpers::orcheo_run_protobuf(), None);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"<html>oops</html>".to_vec(), "invalid"),
        (full[..full.len() / 2].to_vec(), "protobuf"),
        (vec![b'x'; 2 * 1024 * 1024], "larger than"),
    ];
    for (body, expected) in cases {
        let fake = FakeHttp::start().await;
        fake.route(
            &format!("/api/v2/traces/{TRACE_ID}"),
            vec![Canned::new(200, body).header("content-type", PROTOBUF)],
        );
        let mut config = config(BackendKind::Tempo, fake.url());
        config.max_body_bytes = 1024 * 1024;
        let err = connect(&config, metrics())
            .unwrap()
            .fetch(&request())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::BadResponse { detail } if detail.contains(expected)),
            "{err}"
        );
        assert_eq!(fake.seen().len(), 1, "bad answers are not retried");
    }
    // A JSON body that is not a trace.
    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/traces/{TRACE_ID}"),
        vec![Canned::new(200, "{\"data\": 5}")],
    );
    let err = connect(&config(BackendKind::JaegerV1, fake.url()), metrics())
        .unwrap()
        .fetch(&request())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::BadResponse { .. }), "{err}");
}

#[tokio::test]
async fn probes_reach_each_store() {
    let fake = FakeHttp::start().await;
    fake.route("/ready", vec![Canned::new(200, "ready")]);
    fake.route(
        "/api/v3/services",
        vec![Canned::new(200, "{\"services\":[]}")],
    );
    assert_eq!(tempo(&fake).probe().await, Ok(()));
    assert_eq!(
        connect(&config(BackendKind::JaegerV3, fake.url()), metrics())
            .unwrap()
            .probe()
            .await,
        Ok(())
    );
    let err = connect(&config(BackendKind::JaegerV1, fake.url()), metrics())
        .unwrap()
        .probe()
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::BadResponse { .. }), "{err}");
    fake.set_down(true);
    let err = tempo(&fake).probe().await.unwrap_err();
    assert!(matches!(err, FetchError::Unavailable { .. }), "{err}");
}

/// A store answering 503 with `Retry-After: seconds`, and a client with the server's retry
/// defaults (waits between attempts capped at 2 s).
async fn busy_store(seconds: &str) -> (FakeHttp, orcheo_collector_client::ClientConfig) {
    let fake = FakeHttp::start().await;
    fake.route(
        &format!("/api/v2/traces/{TRACE_ID}"),
        vec![Canned::new(503, "busy").header("retry-after", seconds)],
    );
    let mut config = config(BackendKind::Tempo, fake.url());
    config.retry = orcheo_collector_client::RetryConfig::default();
    (fake, config)
}

#[tokio::test]
async fn a_store_wait_past_the_cap_is_passed_on_not_waited_out() {
    let (fake, mut config) = busy_store("42").await;
    config.attempt_timeout = Duration::from_secs(1);
    config.overall_timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = connect(&config, metrics())
        .unwrap()
        .fetch(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Unavailable {
                reason: UnavailableReason::ServerError,
                retry_after: Some(after),
                ..
            } if after == Duration::from_secs(42)
        ),
        "{err:?}"
    );
    assert_eq!(fake.seen().len(), 1, "asked again before the store's wait");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_fetch_out_of_time_while_waiting_keeps_the_store_wait() {
    // Waited for (within the cap), but the fetch's time runs out during the second wait.
    let (fake, mut config) = busy_store("1").await;
    config.overall_timeout = Duration::from_millis(1_500);
    let err = connect(&config, metrics())
        .unwrap()
        .fetch(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Unavailable {
                reason: UnavailableReason::Timeout,
                retry_after: Some(after),
                ..
            } if after == Duration::from_secs(1)
        ),
        "{err:?}"
    );
    assert_eq!(fake.seen().len(), 2);
}

fn search_request() -> orcheo_collector_client::SearchRequest {
    orcheo_collector_client::SearchRequest {
        key: "orcheo.execution.id".into(),
        value: "run_42".into(),
        window: TimeWindow {
            start: Timestamp::from_unix_nanos(1_700_000_000_500_000_000),
            end: Timestamp::from_unix_nanos(1_700_003_600_000_000_000),
        },
        limit: 3,
    }
}

#[tokio::test]
async fn tempo_search_sends_traceql_with_the_window_and_tenant_header() {
    let fake = FakeHttp::start().await;
    fake.route(
        "/api/search",
        vec![Canned::new(
            200,
            r#"{"traces":[{"traceID":"abc","rootServiceName":"orcheo-backend","rootTraceName":"workflow.execution","startTimeUnixNano":"1700000001000000000","durationMs":5}],"metrics":{"totalBlocks":1}}"#,
        )],
    );
    let source = tempo(&fake);
    assert!(source.can_search());
    let found = source.search(&search_request()).await.unwrap();
    assert_eq!(
        found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["00000000000000000000000000000abc"]
    );
    let seen = fake.seen();
    assert_eq!(
        seen[0].path_and_query,
        "/api/search?q=%7B%20span.%22orcheo.execution.id%22%20%3D%20%22run_42%22%20%7D\
         &start=1700000000&end=1700003600&limit=3"
    );
    assert_eq!(
        seen[0].headers.get("x-scope-orgid").map(String::as_str),
        Some("acme")
    );

    // A Tempo without a search API says so, and is not retried.
    let fake = FakeHttp::start().await;
    let source = tempo(&fake);
    let error = source.search(&search_request()).await.unwrap_err();
    assert!(error.to_string().contains("no search API"), "{error}");
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn jaeger_search_asks_the_configured_services_only() {
    let fake = FakeHttp::start().await;
    fake.route(
        "/api/traces",
        vec![
            Canned::new(
                200,
                r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#,
            ),
            Canned::new(
                200,
                r#"{"data":[{"traceID":"abc","spans":[],"processes":{}}],"errors":null}"#,
            ),
        ],
    );
    let mut config = config(BackendKind::JaegerV3, fake.url());
    config.search_services = vec!["orcheo worker".into(), "orcheo-backend".into()];
    let source = connect(&config, metrics()).unwrap();
    let found = source.search(&search_request()).await.unwrap();
    assert_eq!(found.len(), 1);
    let seen: Vec<String> = fake.seen().into_iter().map(|s| s.path_and_query).collect();
    let rest = "tags=%7B%22orcheo.execution.id%22%3A%22run_42%22%7D\
                &start=1700000000500000&end=1700003600000000&limit=3";
    assert_eq!(
        seen,
        [
            format!("/api/traces?service=orcheo%20worker&{rest}"),
            format!("/api/traces?service=orcheo-backend&{rest}"),
        ]
    );
}
