//! A server killed right after acknowledging exports still has every acknowledged span when it
//! comes back.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: std::process::Child,
    api: u16,
    otlp: u16,
}

fn start(db: &str) -> Server {
    let (api, otlp) = (free_port(), free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args(["serve", "--database-url", db, "--retention-days", "0"])
        .args(["--http-addr", &format!("127.0.0.1:{api}")])
        .args([
            "--otlp-http-addr",
            &format!("127.0.0.1:{otlp}"),
            "--otlp-grpc-addr",
            "off",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", otlp)).is_err()
        || std::net::TcpStream::connect(("127.0.0.1", api)).is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, api, otlp }
}

#[test]
fn acknowledged_spans_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut server = start(&db);
    let runs = 20u8;
    let acknowledged = runtime.block_on(async {
        let mut acknowledged = 0;
        for n in 1..=runs {
            let request = ExportTraceServiceRequest {
                resource_spans: crate::helpers::otlp_proto_trace(
                    crate::helpers::trace_id(n),
                    &format!("exec_kill_{n}"),
                    9,
                ),
            };
            let response = client
                .post(format!("http://127.0.0.1:{}/v1/traces", server.otlp))
                .header("content-type", "application/x-protobuf")
                .body(request.encode_to_vec())
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                acknowledged += 1;
            }
        }
        acknowledged
    });
    assert_eq!(acknowledged, runs);
    // SIGKILL: no shutdown, no flush.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut server = start(&db);
    let outcome = runtime.block_on(async {
        for n in 1..=runs {
            let body: serde_json::Value = client
                .get(format!(
                    "http://127.0.0.1:{}/api/executions/exec_kill_{n}/trace?view=tree",
                    server.api
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if body["execution"]["span_count"] != 10 {
                return Err(format!("exec_kill_{n}: {body}"));
            }
        }
        Ok(())
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    outcome.unwrap();
}
