//! The server process exports its own request spans through `orcheo-tracing`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;

/// A collector that keeps every OTLP/HTTP export it receives.
fn fake_collector() -> (
    std::net::SocketAddr,
    Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Arc<Mutex<Vec<ExportTraceServiceRequest>>> = Arc::default();
    let keep = Arc::clone(&received);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                let keep = Arc::clone(&keep);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let keep = Arc::clone(&keep);
                            async move {
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(http_body_util::Collected::to_bytes)
                                    .unwrap_or_default();
                                if let Ok(export) = ExportTraceServiceRequest::decode(body) {
                                    keep.lock().unwrap().push(export);
                                }
                                Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .header("content-type", "application/x-protobuf")
                                        .body(Full::new(Bytes::new()))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let io = hyper_util::rt::TokioIo::new(socket);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    });
    (addr, received)
}

fn string_attr<'a>(
    attributes: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// The request span with this request id, and its service name.
fn request_span(
    exports: &[ExportTraceServiceRequest],
    request_id: &str,
) -> Option<(Option<String>, opentelemetry_proto::tonic::trace::v1::Span)> {
    exports
        .iter()
        .flat_map(|e| &e.resource_spans)
        .find_map(|rs| {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| string_attr(&r.attributes, "service.name"))
                .map(str::to_owned);
            rs.scope_spans
                .iter()
                .flat_map(|ss| &ss.spans)
                .find(|s| string_attr(&s.attributes, "request.id") == Some(request_id))
                .map(|s| (service, s.clone()))
        })
}

#[test]
fn request_spans_reach_the_configured_collector() {
    let (collector, received) = fake_collector();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args(["serve", "--http-addr", &format!("127.0.0.1:{port}")])
        .args([
            "--database-url",
            &format!("sqlite://{}", dir.path().join("t.db").display()),
        ])
        .env("ORCHEO_TRACING_EXPORTER", "otlp")
        .env(
            "ORCHEO_TRACING_ENDPOINT",
            format!("http://{collector}/v1/traces"),
        )
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let outcome = std::panic::catch_unwind(|| {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = reqwest::Client::new();
            let answer = client
                .get(format!(
                    "http://127.0.0.1:{port}/api/executions/exec_x/trace?view=tree"
                ))
                .header("x-request-id", "own-span-check")
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 404);
            let started = Instant::now();
            let span = loop {
                let found = request_span(&received.lock().unwrap(), "own-span-check");
                if let Some(found) = found {
                    break found;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "no request span reached the collector"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            assert_eq!(span.0.as_deref(), Some("orcheo-trace-server"));
            assert_eq!(span.1.name, "http.request");
            assert_eq!(
                string_attr(&span.1.attributes, "execution.id"),
                Some("exec_x")
            );
            assert_eq!(
                string_attr(&span.1.attributes, "http.route"),
                Some("/api/executions/{execution_id}/trace")
            );
            let ready: serde_json::Value = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(ready["exporter"]["exporter"], "otlp");
            assert_eq!(ready["exporter"]["status"], "ok");
        });
    });
    let _ = server.kill();
    let _ = server.wait();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The warning the server's own exporter gives at start-up, when its collector does not answer,
/// is logged: logging is set up before the exporter.
#[test]
fn an_unreachable_collector_for_our_own_spans_is_logged_at_start_up() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args(["serve", "--http-addr", &format!("127.0.0.1:{port}")])
        .args(["--otlp-grpc-addr", "off", "--otlp-http-addr", "off"])
        .args(["--log-format", "json"])
        .args([
            "--database-url",
            &format!("sqlite://{}", dir.path().join("t.db").display()),
        ])
        .env("ORCHEO_TRACING_EXPORTER", "otlp")
        .env(
            "ORCHEO_TRACING_ENDPOINT",
            format!("http://{closed}/v1/traces"),
        )
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        && started.elapsed() < Duration::from_secs(30)
        && server.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let output = server.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let warning = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .or_else(|| line["message"].as_str())
                .is_some_and(|m| m.contains("the trace collector did not answer"))
        });
    let warning = warning.unwrap_or_else(|| panic!("no warning logged: {logs}"));
    assert_eq!(warning["level"], "WARN");
    assert_eq!(
        warning["collector.endpoint"],
        format!("http://{closed}/v1/traces"),
        "{warning}"
    );
}
