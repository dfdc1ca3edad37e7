//! Fake trace stores on 127.0.0.1, port 0, serving the project's recorded payloads as Tempo and
//! Jaeger send them.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test uses a different subset"
)]

pub mod fake_grpc;
pub mod fake_http;
pub mod tempo_wire;

pub use tempo_wire::tempo_response;

use std::path::PathBuf;

use orcheo_collector_client::{BackendKind, ClientConfig, FetchRequest, RetryConfig};
use orcheo_trace_model::TraceId;

/// A payload from the span-tree crate's test data.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../orcheo-span-tree/tests/data")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The Orcheo run fixture's spans as OTLP protobuf `TracesData`.
pub fn orcheo_run_protobuf() -> Vec<u8> {
    use prost::Message as _;
    traces_data(&fixture("orcheo/workflow-run.otlp.json")).encode_to_vec()
}

pub fn traces_data(json: &[u8]) -> opentelemetry_proto::tonic::trace::v1::TracesData {
    let spans = orcheo_span_tree::decode(json, orcheo_span_tree::Format::Auto)
        .expect("fixture")
        .spans;
    opentelemetry_proto::tonic::trace::v1::TracesData {
        resource_spans: proto::resource_spans(&spans),
    }
}

#[path = "../../../orcheo-span-tree/tests/helpers/proto.rs"]
pub mod proto;

pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

pub fn request() -> FetchRequest {
    FetchRequest {
        trace_id: TraceId::from_hex(TRACE_ID).unwrap(),
        window: None,
    }
}

/// A config with short, deterministic retries.
pub fn config(backend: BackendKind, base_url: String) -> ClientConfig {
    let mut config = ClientConfig::new(backend, base_url);
    config.retry = RetryConfig {
        max_attempts: 3,
        initial_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
        jitter: false,
    };
    config
}
