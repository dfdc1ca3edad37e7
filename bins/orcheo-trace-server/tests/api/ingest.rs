//! The embedded mode end to end: `orcheo-tracing` → OTLP (gRPC and HTTP) → the receiver → the
//! local span store → `GET /api/executions/{id}/trace`; and what the receiver refuses.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use orcheo_trace_model::ExecutionId;
use orcheo_tracing::{
    ArtifactInfo, Exporter, NodeError, NodeInfo, Protocol, RunInfo, Telemetry, TracingConfig,
    WorkflowTracer,
};
use prost::Message as _;
use serde_json::Value;

use crate::helpers::{Db, Options, TestApp, jwt, on_each_backend, spawn_app_with};

on_each_backend!(
    runs_exported_over_http_and_grpc_come_back_as_trees,
    garbage_oversized_and_unauthenticated_exports_are_refused,
    exports_with_invalid_spans_are_partial_successes,
    grpc_refusals_use_the_otlp_status_codes,
    a_node_seen_before_its_root_is_hidden_until_the_root_says_whose_it_is,
    out_of_range_values_cost_only_their_span,
    a_large_resource_repeated_over_many_spans_is_bounded_before_it_is_copied,
);

/// The test defaults with the embedded receivers running.
pub fn embedded() -> Options {
    Options {
        embedded: true,
        ..Options::default()
    }
}

/// The `Authorization` value of a JWT that writes spans as `tenant`'s.
pub fn writes_as(tenant: &str) -> String {
    format!("Bearer {}", jwt(tenant, "traces:write"))
}

/// An OTLP gRPC export of `resource_spans`, sent with `authorization`.
pub fn grpc_export(
    authorization: &str,
    resource_spans: Vec<opentelemetry_proto::tonic::trace::v1::ResourceSpans>,
) -> tonic::Request<ExportTraceServiceRequest> {
    let mut request = tonic::Request::new(ExportTraceServiceRequest { resource_spans });
    request
        .metadata_mut()
        .insert("authorization", authorization.parse().unwrap());
    request
}

/// The `Authorization` value of a relay's JWT: it writes for the tenants its spans name.
pub fn relays() -> String {
    format!("Bearer {}", jwt("ops", "traces:write traces:admin"))
}

/// Runs a two-node workflow through `orcheo-tracing`, exporting to `endpoint`, and waits until
/// the exporter has delivered it.
async fn run_workflow(
    protocol: Protocol,
    endpoint: String,
    execution: &str,
    headers: Vec<(String, String)>,
) {
    let config = TracingConfig {
        exporter: Exporter::Otlp,
        protocol,
        endpoint,
        headers: headers
            .into_iter()
            .map(|(name, value)| (name, value.into()))
            .collect(),
        ..TracingConfig::default()
    };
    let execution = execution.to_owned();
    tokio::task::spawn_blocking(move || {
        let telemetry = Telemetry::init(&config).unwrap();
        let tracer = WorkflowTracer::new(&telemetry, &config).unwrap();
        let run = tracer.start_run(&RunInfo {
            execution_id: Some(ExecutionId::new(execution).unwrap()),
            workflow_id: Some("wf_support".to_owned()),
            workflow_version: Some("7".to_owned()),
            trigger: Some("webhook".to_owned()),
            tenant: Some("acme".to_owned()),
            ..RunInfo::default()
        });
        let mut draft = run.start_node(&NodeInfo {
            id: "draft".to_owned(),
            display_name: "Draft Reply".to_owned(),
            kind: Some("llm".to_owned()),
        });
        draft.prompt("Reply to ada@example.com about order 1042");
        draft.response("Dear Ada, your order ships today.");
        draft.tokens(120, 45);
        draft.model("gpt-4o-mini", Some("gpt-4o-mini-2024-07-18"), "openai");
        draft.artifact(&ArtifactInfo {
            id: "art_reply".to_owned(),
            name: Some("reply.txt".to_owned()),
            content_type: Some("text/plain".to_owned()),
            size: Some(34),
            ..ArtifactInfo::default()
        });
        draft.succeed();
        run.start_node(&NodeInfo {
            id: "send".to_owned(),
            display_name: "Send Email".to_owned(),
            kind: Some("tool".to_owned()),
        })
        .fail(&NodeError {
            error_type: "SmtpError".to_owned(),
            message: "connection refused".to_owned(),
            code: Some("SMTP_DOWN".to_owned()),
            hint: Some("check the mail relay".to_owned()),
            ..NodeError::default()
        });
        run.fail("SmtpError", "connection refused");
        telemetry.flush().unwrap();
    })
    .await
    .unwrap();
}

async fn check_trace(app: &TestApp, execution: &str) {
    let token = jwt("acme", "traces:read traces:read_content");
    let answer = app
        .get(
            &format!("/api/executions/{execution}/trace?view=tree"),
            Some(&token),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let e = &body["execution"];
    assert_eq!(e["status"], "error", "{e}");
    assert_eq!(e["error"], "connection refused");
    assert_eq!(e["workflow_id"], "wf_support");
    assert_eq!(e["workflow_version"], "7");
    assert_eq!(e["trigger"], "webhook");
    assert_eq!(e["tenant"], "acme");
    assert_eq!(e["token_usage"]["total"], 165);
    assert_eq!(body["source"]["backend"], "embedded");
    let root = &body["root"];
    assert_eq!(root["name"], "workflow.execution");
    let children = root["children"].as_array().unwrap();
    let names: Vec<&str> = children
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Draft Reply", "Send Email"]);
    let draft = &children[0];
    assert_eq!(draft["kind"], "llm");
    assert_eq!(draft["model"]["provider"], "openai");
    let prompt = &draft["prompts"][0];
    assert_eq!(prompt["redacted"], true, "{prompt}");
    assert!(
        !prompt["content"]
            .as_str()
            .unwrap()
            .contains("ada@example.com")
    );
    assert_eq!(draft["artifacts"][0]["id"], "art_reply");
    let send = &children[1];
    assert_eq!(send["status"]["code"], "ERROR");
    assert_eq!(send["error"]["type"], "SmtpError");
    assert_eq!(send["error"]["code"], "SMTP_DOWN");
    assert_eq!(send["error"]["hint"], "check the mail relay");
    // The summaries were derived too: the degraded path has them.
    let summaries = app
        .store
        .summaries_after(&ExecutionId::new(execution).unwrap(), 0, 100)
        .unwrap();
    assert_eq!(summaries.len(), 3);
    // Another tenant does not see it.
    let other = app
        .get(
            &format!("/api/executions/{execution}/trace?view=tree"),
            Some(&jwt("globex", "traces:read")),
        )
        .await;
    assert_eq!(other.status, 404);
}

async fn runs_exported_over_http_and_grpc_come_back_as_trees(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let http = format!("{}/v1/traces", app.otlp_http.as_deref().unwrap());
    let auth = vec![("authorization".to_owned(), writes_as("acme"))];
    run_workflow(Protocol::HttpProtobuf, http, "exec_over_http", auth.clone()).await;
    check_trace(&app, "exec_over_http").await;
    let grpc = app.otlp_grpc.clone().unwrap();
    run_workflow(Protocol::Grpc, grpc, "exec_over_grpc", auth).await;
    check_trace(&app, "exec_over_grpc").await;
    let metrics = app.get("/metrics", None).await.text;
    for transport in ["http", "grpc"] {
        assert!(
            metrics.contains(&format!(
                "orcheo_otlp_spans_received_total{{transport=\"{transport}\"}} 3"
            )),
            "{metrics}"
        );
    }
}

pub async fn post(
    app: &TestApp,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
    let mut request = app
        .client
        .post(format!("{}/v1/traces", app.otlp_http.as_deref().unwrap()))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.bytes().await.unwrap().to_vec(), headers)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn garbage_oversized_and_unauthenticated_exports_are_refused(db: Db) {
    let options = Options {
        ingest_token: Some("ingest-token-0123456789".to_owned()),
        ..embedded()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    let auth = [("authorization", "Bearer ingest-token-0123456789")];
    // No token.
    let (status, _, _) = post(&app, "application/x-protobuf", Vec::new(), &[]).await;
    assert_eq!(status, 401);
    // Garbage protobuf and JSON: 400 with a Status message.
    let (status, body, _) = post(&app, "application/x-protobuf", vec![0xff; 64], &auth).await;
    assert_eq!(status, 400);
    let message = crate::helpers::rpc_status(&body);
    assert!(message.contains("protobuf"), "{message}");
    let (status, body, _) = post(
        &app,
        "application/json",
        b"{\"resourceSpans\": 7}".to_vec(),
        &auth,
    )
    .await;
    assert_eq!(status, 400);
    let status_json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status_json["code"], 3);
    // Not OTLP at all.
    let (status, _, _) = post(&app, "text/plain", b"hello".to_vec(), &auth).await;
    assert_eq!(status, 415);
    // Over the limit, plainly and as a gzip bomb.
    let huge = vec![b'a'; 17 * 1024 * 1024];
    let (status, _, _) = post(&app, "application/x-protobuf", huge.clone(), &auth).await;
    assert_eq!(status, 413);
    let (status, _, _) = post(
        &app,
        "application/x-protobuf",
        gzip(&huge),
        &[auth[0], ("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 413);
    // Within the size limit, but empty spans (2 bytes each on the wire, hundreds in memory)
    // would decode into gigabytes: refused before decoding.
    let (status, body, _) = post(&app, "application/x-protobuf", empty_spans(), &auth).await;
    assert_eq!(status, 413);
    let message = crate::helpers::rpc_status(&body);
    assert!(message.contains("send smaller batches"), "{message}");
    let empty_json = format!(
        "{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{}]}}]}}]}}",
        vec!["{}"; 1_300_000].join(",")
    );
    let (status, _, _) = post(&app, "application/json", empty_json.into_bytes(), &auth).await;
    assert_eq!(status, 413);
    let metrics = app.get("/metrics", None).await.text;
    for reason in [
        "unauthenticated",
        "malformed",
        "too_large",
        "unsupported_media_type",
    ] {
        assert!(
            metrics.contains(&format!(
                "orcheo_otlp_requests_rejected_total{{reason=\"{reason}\"}}"
            )),
            "{reason}: {metrics}"
        );
    }
}

async fn exports_with_invalid_spans_are_partial_successes(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    // A valid JSON export, gzip-compressed, with one span whose id is invalid: partial success.
    let trace = crate::helpers::otlp_trace(crate::helpers::trace_id(3), "exec_json", 1);
    let mut export = trace.clone();
    export["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "traceId": crate::helpers::trace_id(3).to_string(),
            "spanId": "0000000000000000",
            "name": "broken"
        }));
    let (status, body, _) = post(
        &app,
        "application/json",
        gzip(&serde_json::to_vec(&export).unwrap()),
        &[
            ("content-encoding", "gzip"),
            ("authorization", &writes_as("default")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let response: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(response["partialSuccess"]["rejectedSpans"], 1, "{response}");
    let stored = app
        .get(
            "/api/executions/exec_json/trace?view=tree",
            Some(&jwt("default", "traces:read")),
        )
        .await
        .json();
    assert_eq!(stored["execution"]["span_count"], 2, "{stored}");
    // Protobuf with an all-zero span id: partial success, the rest stored.
    let mut request = ExportTraceServiceRequest::default();
    let good = crate::helpers::otlp_proto_trace(crate::helpers::trace_id(4), "exec_proto", 2);
    request.resource_spans = good;
    request.resource_spans[0].scope_spans[0].spans[1].span_id = vec![0; 8];
    let (status, body, _) = post(
        &app,
        "application/x-protobuf",
        request.encode_to_vec(),
        &[("authorization", &writes_as("default"))],
    )
    .await;
    assert_eq!(status, 200);
    let response = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("invalid"),
        "{}",
        partial.error_message
    );
    let trace = app
        .get(
            "/api/executions/exec_proto/trace?view=tree",
            Some(&jwt("default", "traces:read")),
        )
        .await
        .json();
    assert_eq!(trace["execution"]["span_count"], 2);
}

async fn grpc_refusals_use_the_otlp_status_codes(db: Db) {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let options = Options {
        ingest_token: Some("ingest-token-0123456789".to_owned()),
        ..embedded()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    let mut client = TraceServiceClient::connect(app.otlp_grpc.clone().unwrap())
        .await
        .unwrap()
        .max_encoding_message_size(64 * 1024 * 1024);
    let request = |resource_spans| grpc_export("Bearer ingest-token-0123456789", resource_spans);
    // Without the token.
    let status = client
        .export(ExportTraceServiceRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    // Too large: 17 MiB of span names.
    let mut big = crate::helpers::otlp_proto_trace(crate::helpers::trace_id(6), "exec_big_grpc", 1);
    big[0].scope_spans[0].spans[1].name = "x".repeat(17 * 1024 * 1024);
    let status = client.export(request(big)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    // Within the size limit, but it would decode into gigabytes.
    let status = raw_export(app.otlp_grpc.clone().unwrap(), empty_spans()).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("send smaller batches"),
        "{status:?}"
    );
    // Bytes that are not an ExportTraceServiceRequest.
    let status = raw_export(app.otlp_grpc.clone().unwrap(), vec![0xff; 32]).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    // A valid export still works on the same connection.
    let ok = client
        .export(request(crate::helpers::otlp_proto_trace(
            crate::helpers::trace_id(7),
            "exec_grpc_ok",
            1,
        )))
        .await
        .unwrap();
    assert!(ok.into_inner().partial_success.is_none());
}

/// An export of nearly 4 MiB of empty spans, written by hand (no encoder writes empty spans).
fn empty_spans() -> Vec<u8> {
    let field = |tag: u8, inner: &[u8]| {
        let mut out = vec![tag];
        prost::encoding::encode_varint(inner.len() as u64, &mut out);
        out.extend_from_slice(inner);
        out
    };
    let spans = [0x12u8, 0x00].repeat(1_900_000);
    // ExportTraceServiceRequest.resource_spans (1) → ResourceSpans.scope_spans (2) → spans (2).
    field(0x0a, &field(0x12, &spans))
}

/// Sends `bytes` as the body of an OTLP gRPC export, whatever they are.
async fn raw_export(endpoint: String, bytes: Vec<u8>) -> tonic::Status {
    use bytes::Buf as _;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Default)]
    struct Raw;
    struct RawEncoder;
    struct RawDecoder;
    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            use bytes::BufMut as _;
            dst.put_slice(&item);
            Ok(())
        }
    }
    impl Decoder for RawDecoder {
        type Item = ();
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
            src.advance(src.remaining());
            Ok(Some(()))
        }
    }
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = RawEncoder;
        type Decoder = RawDecoder;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> RawDecoder {
            RawDecoder
        }
    }
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(bytes);
    request.metadata_mut().insert(
        "authorization",
        "Bearer ingest-token-0123456789".parse().unwrap(),
    );
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    grpc.unary(request, path, Raw).await.unwrap_err()
}

/// A writer held up by the database: exports beyond the queue's bound are refused as busy at
/// once, the queued ones complete when the database frees up.
#[actix_web::test]
async fn a_lagging_writer_refuses_exports_as_busy_instead_of_queueing_without_bound() {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    use orcheo_ingest::credentials::{IngestAuth, Writer};
    use orcheo_ingest::{Ingest, IngestError, IngestLimits, IngestMetrics, Watchers};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let url = format!("sqlite://{}", path.display());
    let store =
        orcheo_trace_store::Store::open(&url, orcheo_trace_store::PoolConfig::default()).unwrap();
    store.migrate().unwrap();
    // Another process holds the write lock.
    let mut holder = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    holder.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let limits = IngestLimits {
        max_queued_spans: 10,
        ..IngestLimits::new()
    };
    let metrics = IngestMetrics::register(&prometheus::Registry::new()).unwrap();
    let ingest = Ingest::start(
        store,
        limits,
        IngestAuth::default(),
        metrics,
        Watchers::default(),
        None,
    )
    .unwrap();
    // The receivers' own message type, from the bytes of the reference one.
    let export = |n: u8| {
        let request = ExportTraceServiceRequest {
            resource_spans: crate::helpers::otlp_proto_trace(
                crate::helpers::trace_id(n),
                &format!("exec_busy_{n}"),
                4,
            ),
        };
        orcheo_ingest::otlp::ExportTraceServiceRequest::decode(request.encode_to_vec().as_slice())
            .unwrap()
    };
    let first = tokio::spawn({
        let ingest = ingest.clone();
        let request = export(1);
        async move { ingest.submit(request, Writer::Local, "http").await }
    });
    let second = tokio::spawn({
        let ingest = ingest.clone();
        let request = export(2);
        async move { ingest.submit(request, Writer::Local, "http").await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // 10 spans are waiting: a third export of 5 is refused without waiting.
    let started = std::time::Instant::now();
    assert_eq!(
        ingest.submit(export(3), Writer::Local, "http").await,
        Err(IngestError::Busy)
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(first.await.unwrap().unwrap().accepted, 5);
    assert_eq!(second.await.unwrap().unwrap().accepted, 5);
    assert_eq!(
        ingest.metrics.rejected.with_label_values(&["busy"]).get(),
        1
    );
}

async fn a_node_seen_before_its_root_is_hidden_until_the_root_says_whose_it_is(db: Db) {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let spans = crate::helpers::otlp_proto_trace(crate::helpers::trace_id(9), "exec_early", 1);
    let mut nodes = spans.clone();
    nodes[0].scope_spans[0].spans.remove(0);
    let mut root = spans;
    root[0].scope_spans[0].spans.truncate(1);
    root[0].scope_spans[0].spans[0].attributes.push(KeyValue {
        key: "orcheo.execution.tenant".to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue("acme".to_owned())),
        }),
        ..KeyValue::default()
    });
    let send = |resource_spans| ExportTraceServiceRequest { resource_spans }.encode_to_vec();
    // A relay (an OpenTelemetry Collector in front of many tenants) writes for the tenant each
    // span names, and a node without one for nobody yet.
    let relay_auth = relays();
    let relay = [("authorization", relay_auth.as_str())];
    let (status, _, _) = post(&app, "application/x-protobuf", send(nodes), &relay).await;
    assert_eq!(status, 200);
    let path = "/api/executions/exec_early/trace?view=tree";
    // Not the default tenant's, nor anyone's but an administrator's, while its owner is unknown.
    for token in [jwt("default", "traces:read"), jwt("acme", "traces:read")] {
        assert_eq!(app.get(path, Some(&token)).await.status, 404);
    }
    assert_eq!(
        app.get(path, Some(&jwt("x", "traces:admin"))).await.status,
        200
    );
    let (status, _, _) = post(&app, "application/x-protobuf", send(root), &relay).await;
    assert_eq!(status, 200);
    let body = app
        .get(path, Some(&jwt("acme", "traces:read")))
        .await
        .json();
    assert_eq!(body["execution"]["tenant"], "acme");
    assert_eq!(body["execution"]["span_count"], 2);
    assert_eq!(
        app.get(path, Some(&jwt("default", "traces:read")))
            .await
            .status,
        404
    );
    // Nobody can claim the placeholder tenant.
    let reserved = app
        .get(
            path,
            Some(&jwt(
                orcheo_trace_server::auth::UNASSIGNED_TENANT,
                "traces:read",
            )),
        )
        .await;
    assert_eq!(reserved.status, 401);
}

fn int_attr(key: &str, value: i64) -> opentelemetry_proto::tonic::common::v1::KeyValue {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

async fn out_of_range_values_cost_only_their_span(db: Db) {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let mut spans = crate::helpers::otlp_proto_trace(crate::helpers::trace_id(10), "exec_odd", 3);
    let list = &mut spans[0].scope_spans[0].spans;
    // A start time past 2262: refused alone.
    list[1].start_time_unix_nano = u64::MAX;
    // A token count past what a column holds: clamped.
    list[2].attributes.push(KeyValue {
        key: "gen_ai.usage.input_tokens".to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(
                "9223372036854775808".to_owned(),
            )),
        }),
        ..KeyValue::default()
    });
    list[3]
        .attributes
        .push(int_attr("gen_ai.usage.output_tokens", 7));
    // An end time past 2262, and an id that cannot be read: refused alone, each for its reason.
    let mut late_end = list[3].clone();
    late_end.span_id = crate::helpers::span_id(9).to_bytes().to_vec();
    late_end.end_time_unix_nano = u64::MAX;
    let mut bad_id = list[3].clone();
    bad_id.span_id = vec![7; 3];
    list.extend([late_end, bad_id]);
    let partial = export_partially(&app, spans).await;
    assert_eq!(partial.rejected_spans, 3);
    assert_eq!(
        partial.error_message,
        "rejected spans: 1 with an invalid trace or span id, \
         2 with a start or end time past what the store holds (year 2262)"
    );
    let trace = app
        .get(
            "/api/executions/exec_odd/trace?view=tree",
            Some(&jwt("default", "traces:read")),
        )
        .await
        .json();
    assert_eq!(
        trace["execution"]["status"], "completed",
        "the root's outcome is kept: {trace}"
    );
    assert_eq!(trace["execution"]["span_count"], 3);
    let summaries = app
        .store
        .summaries_after(
            &orcheo_trace_model::ExecutionId::new("exec_odd").unwrap(),
            0,
            10,
        )
        .unwrap();
    assert_eq!(summaries.len(), 3, "the other spans' summaries are kept");
}

async fn a_large_resource_repeated_over_many_spans_is_bounded_before_it_is_copied(db: Db) {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let mut spans = crate::helpers::otlp_proto_trace(crate::helpers::trace_id(11), "exec_fat", 199);
    // 600 KB of resource, repeated in each of 200 stored payloads, would be 120 MB.
    spans[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(KeyValue {
            key: "host.notes".to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("n".repeat(600 * 1024))),
            }),
            ..KeyValue::default()
        });
    let partial = export_partially(&app, spans).await;
    assert!(partial.rejected_spans > 50, "{partial:?}");
    assert!(
        partial.error_message.contains("too large"),
        "{}",
        partial.error_message
    );
}

/// Exports `spans` over OTLP/HTTP protobuf; the answer must be a partial success.
async fn export_partially(
    app: &TestApp,
    spans: Vec<opentelemetry_proto::tonic::trace::v1::ResourceSpans>,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
    let body = ExportTraceServiceRequest {
        resource_spans: spans,
    }
    .encode_to_vec();
    let (status, answer, _) = post(
        app,
        "application/x-protobuf",
        body,
        &[("authorization", &writes_as("default"))],
    )
    .await;
    assert_eq!(status, 200);
    ExportTraceServiceResponse::decode(answer.as_slice())
        .unwrap()
        .partial_success
        .expect("a partial success")
}
