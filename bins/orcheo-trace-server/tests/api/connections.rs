//! The OTLP receivers' connections: a connection that sends nothing, or drips its request, is
//! closed within the configured times; past the connection limit a receiver takes no more, and
//! a freed place serves honest exports again; the metrics say so.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use orcheo_ingest::connections::ReceiverLimits;
use prost::Message as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Db, Options, TestApp, spawn_app_with};

const TOKEN: &str = "ingest-token-0123456789";

async fn app(limits: ReceiverLimits) -> TestApp {
    spawn_app_with(
        Db::Sqlite,
        Options {
            embedded: true,
            ingest_token: Some(TOKEN.to_owned()),
            otlp_connections: Some(limits),
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

fn limits(max_connections: usize, header_ms: u64, read_ms: u64) -> ReceiverLimits {
    ReceiverLimits {
        max_connections,
        header_timeout: Duration::from_millis(header_ms),
        read_timeout: Duration::from_millis(read_ms),
    }
}

/// `host:port` of a receiver's `http://…` address.
fn host(url: Option<&String>) -> String {
    url.unwrap().trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection, and how long that took;
/// `None` if it is still open after `limit`.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> Option<(String, Duration)> {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => {
                return Some((String::from_utf8_lossy(&seen).into_owned(), start.elapsed()));
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Waits (at most 5 s) until `/metrics` shows `line`; the metrics text otherwise.
async fn metric_shows(app: &TestApp, line: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = app.get("/metrics", None).await.text;
        if metrics.lines().any(|l| l == line) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(metrics);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn export_body() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: crate::helpers::otlp_proto_trace(
            crate::helpers::trace_id(9),
            "exec_conn",
            1,
        ),
    }
    .encode_to_vec()
}

/// A request head cut short is answered 408 and closed at the header timeout; so is one begun
/// on a connection kept alive after a refusal (actix-web times only a connection's first head:
/// a refusal closes the connection instead).
#[actix_web::test]
async fn a_silent_request_head_is_cut_at_the_header_timeout() {
    let app = app(limits(64, 1000, 2000)).await;
    let addr = host(app.otlp_http.as_ref());
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut stream, Duration::from_secs(4))
        .await
        .expect("a half-sent head is held open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");

    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // The start of a next request, then nothing.
    let _ = stream.write_all(b"P").await;
    let (_, took) = until_closed(&mut stream, Duration::from_secs(4))
        .await
        .expect("a connection kept alive after a refusal is held open");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// One answer's head and body (its `content-length`), read within 2 s.
async fn read_answer(stream: &mut TcpStream) -> String {
    let read = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                if body.len() >= length {
                    return text;
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole answer: {text}");
            seen.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .expect("no answer")
}

/// Sends `head`, then `body` a byte every 200 ms, and returns what the server answered and when
/// it closed the connection.
async fn drip(addr: &str, head: String, body: Vec<u8>) -> (String, Duration) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let dripping = tokio::spawn(async move {
        for byte in body {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
        }
        // Hold the write side open: the server must not wait for it.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let deadline = (start + Duration::from_secs(8)).into();
        let got = tokio::time::timeout_at(deadline, read.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "a dripped body is held open: {}",
                    String::from_utf8_lossy(&seen)
                )
            });
        match got {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    dripping.abort();
    (String::from_utf8_lossy(&seen).into_owned(), start.elapsed())
}

/// A body dripped a byte at a time is answered 408 at the read timeout and the connection is
/// closed, whether its length was given or it is chunked; counted as `timeout`. A refused
/// request's body is not waited for.
#[actix_web::test]
async fn a_dripped_body_is_answered_408_at_the_read_timeout() {
    let app = app(limits(64, 1000, 2000)).await;
    let addr = host(app.otlp_http.as_ref());
    let head = |framing: &str| {
        format!(
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/x-protobuf\r\n{framing}\r\n\r\n"
        )
    };
    let body = export_body();
    let (answer, took) = drip(
        &addr,
        head(&format!("Content-Length: {}", body.len())),
        body.clone(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(5500),
        "{took:?}"
    );
    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let (answer, took) = drip(&addr, head("Transfer-Encoding: chunked"), chunked.clone()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_millis(5500), "{took:?}");
    // Refused at once, without a token: the rest of the body is not waited for either.
    let unauthenticated = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                           Transfer-Encoding: chunked\r\n\r\n";
    let (answer, took) = drip(&addr, unauthenticated.to_owned(), chunked).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(took < Duration::from_millis(3500), "{took:?}");
    metric_shows(
        &app,
        "orcheo_otlp_requests_rejected_total{reason=\"timeout\"} 2",
    )
    .await
    .unwrap_or_else(|metrics| panic!("{metrics}"));
}

/// A gRPC connection that sends nothing, or only part of the HTTP/2 preface, is closed at the
/// header timeout and counted as `timeout`.
#[actix_web::test]
async fn a_silent_grpc_connection_is_closed_at_the_header_timeout() {
    let app = app(limits(64, 1000, 2000)).await;
    let addr = host(app.otlp_grpc.as_ref());
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut partial = TcpStream::connect(&addr).await.unwrap();
    partial.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    for stream in [&mut silent, &mut partial] {
        let (_, took) = until_closed(stream, Duration::from_secs(4))
            .await
            .expect("a silent gRPC connection is held open");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    metric_shows(
        &app,
        "orcheo_otlp_requests_rejected_total{reason=\"timeout\"} 2",
    )
    .await
    .unwrap_or_else(|metrics| panic!("{metrics}"));
    metric_shows(&app, "orcheo_otlp_connections{transport=\"grpc\"} 0")
        .await
        .unwrap_or_else(|metrics| panic!("{metrics}"));
}

/// With two places taken, a third gRPC connection is closed at once and counted; once a place
/// is free an honest export goes through.
#[actix_web::test]
async fn past_the_limit_grpc_connections_are_closed_and_a_freed_place_serves() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let app = app(limits(2, 10_000, 10_000)).await;
    let addr = host(app.otlp_grpc.as_ref());
    let first = TcpStream::connect(&addr).await.unwrap();
    let _second = TcpStream::connect(&addr).await.unwrap();
    metric_shows(&app, "orcheo_otlp_connections{transport=\"grpc\"} 2")
        .await
        .unwrap_or_else(|metrics| panic!("{metrics}"));
    let mut third = TcpStream::connect(&addr).await.unwrap();
    let (_, took) = until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("a connection past the limit is held open");
    assert!(took < Duration::from_secs(2), "{took:?}");
    metric_shows(
        &app,
        "orcheo_otlp_requests_rejected_total{reason=\"connection_limit\"} 1",
    )
    .await
    .unwrap_or_else(|metrics| panic!("{metrics}"));
    drop(first);
    metric_shows(&app, "orcheo_otlp_connections{transport=\"grpc\"} 1")
        .await
        .unwrap_or_else(|metrics| panic!("{metrics}"));
    let export = async {
        let mut client = TraceServiceClient::connect(app.otlp_grpc.clone().unwrap())
            .await
            .unwrap();
        let mut request = tonic::Request::new(
            ExportTraceServiceRequest::decode(export_body().as_slice()).unwrap(),
        );
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        client.export(request).await
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), export)
        .await
        .expect("the export was not answered");
    assert!(answer.is_ok(), "{answer:?}");
}

/// With two places taken, the OTLP/HTTP listener takes no third connection (it waits in the
/// kernel's queue, costing the server no descriptor) until a place is free.
#[actix_web::test]
async fn past_the_limit_http_connections_wait_until_a_place_is_free() {
    let app = app(limits(2, 10_000, 10_000)).await;
    let addr = host(app.otlp_http.as_ref());
    let first = TcpStream::connect(&addr).await.unwrap();
    let _second = TcpStream::connect(&addr).await.unwrap();
    metric_shows(&app, "orcheo_otlp_connections{transport=\"http\"} 2")
        .await
        .unwrap_or_else(|metrics| panic!("{metrics}"));
    let request = app
        .client
        .post(format!("{}/v1/traces", app.otlp_http.as_deref().unwrap()))
        .header("content-type", "application/x-protobuf")
        .bearer_auth(TOKEN)
        .body(export_body())
        .send();
    let mut request = Box::pin(request);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut request)
            .await
            .is_err(),
        "a third connection was served"
    );
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .expect("the export was not answered once a place was free")
        .unwrap();
    assert_eq!(answer.status(), 200);
}
