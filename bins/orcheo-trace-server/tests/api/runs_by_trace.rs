//! A span belongs to its run by its trace: Orcheo's Python tracing names the execution on the
//! root span only and exports the children first. Every span of the run's trace counts for it —
//! in the list's totals and in live updates — whichever order the spans arrive in, over either
//! transport, and only where its writer may write to the run.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span, Status, status};
use orcheo_trace_model::{ExecutionStatus, TraceId};
use prost::Message as _;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::{Db, TestApp, at, jwt, on_each_backend, span_id, spawn_app_with};
use crate::ingest::{embedded, grpc_export, post, relays, writes_as};

on_each_backend!(
    children_sent_before_their_root_count_for_the_run_over_http,
    children_sent_before_their_root_count_for_the_run_over_grpc,
    children_sent_after_their_root_count_for_the_run,
    children_of_a_trace_registered_by_the_executor_count_for_its_run,
    live_subscribers_get_the_nodes_not_the_root_alone,
    a_child_joins_the_trace_run_only_where_its_writer_may_write,
);

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

fn resource(spans: Vec<Span>) -> Vec<ResourceSpans> {
    let mut resource = crate::helpers::otlp_proto_trace(crate::helpers::trace_id(1), "x", 0);
    resource[0].scope_spans[0].spans = spans;
    resource
}

/// The root span as Orcheo's `workflow_span` writes it: the only one naming the execution.
fn root(trace: TraceId, execution: &str) -> Span {
    Span {
        trace_id: trace.to_bytes().to_vec(),
        span_id: span_id(1).to_bytes().to_vec(),
        name: "workflow.execution".to_owned(),
        start_time_unix_nano: at(1).unix_nanos(),
        end_time_unix_nano: at(20).unix_nanos(),
        attributes: vec![
            text("orcheo.execution.id", execution),
            text("orcheo.workflow.id", "wf_py"),
        ],
        status: Some(Status {
            code: status::StatusCode::Ok as i32,
            ..Status::default()
        }),
        ..Span::default()
    }
}

/// A node span as Orcheo's `record_workflow_step` writes it: no execution id, node attributes,
/// token counts as integers, the status from the node's payload.
fn node(trace: TraceId, n: u64, kind: &str, input: i64, output: i64) -> Span {
    Span {
        trace_id: trace.to_bytes().to_vec(),
        span_id: span_id(n).to_bytes().to_vec(),
        parent_span_id: span_id(1).to_bytes().to_vec(),
        name: format!("step {n}"),
        start_time_unix_nano: at(n).unix_nanos(),
        end_time_unix_nano: at(n + 1).unix_nanos(),
        attributes: vec![
            text("orcheo.node.id", &format!("node_{n}")),
            text("orcheo.node.display_name", &format!("step {n}")),
            text("orcheo.node.kind", kind),
            text("orcheo.node.status", "success"),
            int("orcheo.token.input", input),
            int("orcheo.token.output", output),
        ],
        ..Span::default()
    }
}

/// Two nodes: an LLM call with 100 + 20 tokens, a tool with 5 + 1.
fn nodes(trace: TraceId) -> Vec<Span> {
    vec![node(trace, 2, "llm", 100, 20), node(trace, 3, "tool", 5, 1)]
}

async fn export_http(app: &TestApp, auth: &str, spans: Vec<Span>) {
    let body = ExportTraceServiceRequest {
        resource_spans: resource(spans),
    }
    .encode_to_vec();
    let (status, answer, _) = post(
        app,
        "application/x-protobuf",
        body,
        &[("authorization", auth)],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
}

async fn export_grpc(app: &TestApp, auth: &str, spans: Vec<Span>) {
    let mut client = TraceServiceClient::connect(app.otlp_grpc.clone().unwrap())
        .await
        .unwrap();
    let answer = client
        .export(grpc_export(auth, resource(spans)))
        .await
        .unwrap()
        .into_inner();
    assert!(
        answer
            .partial_success
            .as_ref()
            .is_none_or(|p| p.rejected_spans == 0),
        "{answer:?}"
    );
}

/// The execution's entry in `GET /api/executions`, as `tenant` sees it.
async fn listed(app: &TestApp, execution: &str, tenant: &str) -> Value {
    let body = app
        .get("/api/executions", Some(&jwt(tenant, "traces:read")))
        .await
        .json();
    body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == execution)
        .cloned()
        .unwrap_or_else(|| panic!("{execution} not listed: {body}"))
}

fn assert_whole_run(entry: &Value) {
    assert_eq!(entry["span_count"], 3, "{entry}");
    assert_eq!(
        entry["token_usage"],
        serde_json::json!({"input": 105, "output": 21, "total": 126}),
        "{entry}"
    );
    assert_eq!(entry["status"], "completed", "{entry}");
}

async fn children_sent_before_their_root_count_for_the_run_over_http(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let acme = writes_as("acme");
    let trace = crate::helpers::trace_id(61);
    // The SDK's order: the children, then the root in a later export.
    export_http(&app, &acme, nodes(trace)).await;
    export_http(&app, &acme, vec![root(trace, "exec_py_http")]).await;
    assert_whole_run(&listed(&app, "exec_py_http", "acme").await);

    // Children and root in one export, root last.
    let trace = crate::helpers::trace_id(62);
    let mut spans = nodes(trace);
    spans.push(root(trace, "exec_py_one"));
    export_http(&app, &acme, spans).await;
    assert_whole_run(&listed(&app, "exec_py_one", "acme").await);
}

async fn children_sent_before_their_root_count_for_the_run_over_grpc(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let acme = writes_as("acme");
    let trace = crate::helpers::trace_id(63);
    export_grpc(&app, &acme, nodes(trace)).await;
    export_grpc(&app, &acme, vec![root(trace, "exec_py_grpc")]).await;
    assert_whole_run(&listed(&app, "exec_py_grpc", "acme").await);
    // Received again (an exporter's retry), nothing is counted twice.
    export_grpc(&app, &acme, nodes(trace)).await;
    export_grpc(&app, &acme, vec![root(trace, "exec_py_grpc")]).await;
    assert_whole_run(&listed(&app, "exec_py_grpc", "acme").await);
}

async fn children_sent_after_their_root_count_for_the_run(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let acme = writes_as("acme");
    let trace = crate::helpers::trace_id(64);
    export_http(&app, &acme, vec![root(trace, "exec_root_first")]).await;
    let entry = listed(&app, "exec_root_first", "acme").await;
    assert_eq!(entry["span_count"], 1, "{entry}");
    export_grpc(&app, &acme, vec![node(trace, 2, "llm", 100, 20)]).await;
    export_http(&app, &acme, vec![node(trace, 3, "tool", 5, 1)]).await;
    assert_whole_run(&listed(&app, "exec_root_first", "acme").await);
}

async fn children_of_a_trace_registered_by_the_executor_count_for_its_run(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    // The executor stored the run with its trace id before any span arrived.
    let trace = crate::helpers::trace_id(65);
    app.execution("exec_known", "acme", Some(trace), ExecutionStatus::Running);
    let acme = writes_as("acme");
    export_http(&app, &acme, nodes(trace)).await;
    let entry = listed(&app, "exec_known", "acme").await;
    assert_eq!(entry["span_count"], 2, "{entry}");
    assert_eq!(entry["token_usage"]["total"], 126, "{entry}");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(app: &TestApp, execution: &str, tenant: &str) -> Socket {
    let url = format!(
        "{}/api/executions/{execution}/trace/live",
        app.address.replace("http://", "ws://")
    );
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", jwt(tenant, "traces:read"))
            .parse()
            .unwrap(),
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Reads updates until the spans named `wanted` have all come; returns every span by name.
async fn until_spans(socket: &mut Socket, wanted: &[&str]) -> Vec<Value> {
    let mut spans: Vec<Value> = Vec::new();
    while !wanted
        .iter()
        .all(|name| spans.iter().any(|s| s["name"] == *name))
    {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an update within 10 s")
            .expect("the socket stays open")
            .unwrap();
        match message {
            Message::Text(text) => {
                let update: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(update["type"], "trace:update");
                spans.extend(update["spans"].as_array().unwrap().iter().cloned());
            }
            Message::Ping(bytes) => socket.send(Message::Pong(bytes)).await.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }
    spans
}

fn by_name<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans.iter().find(|s| s["name"] == name).unwrap()
}

async fn live_subscribers_get_the_nodes_not_the_root_alone(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let acme = writes_as("acme");
    // Root-first: a subscriber of the running run gets each node as it is exported.
    let trace = crate::helpers::trace_id(66);
    let mut running = root(trace, "exec_live_py");
    running.end_time_unix_nano = 0;
    running.status = None;
    export_http(&app, &acme, vec![running]).await;
    let mut socket = subscribe(&app, "exec_live_py", "acme").await;
    export_http(&app, &acme, vec![node(trace, 2, "llm", 100, 20)]).await;
    let spans = until_spans(&mut socket, &["step 2"]).await;
    let llm = by_name(&spans, "step 2");
    assert_eq!(llm["attributes"]["orcheo.node.kind"], "llm");
    assert_eq!(llm["attributes"]["orcheo.token.input"], 100);
    assert_eq!(llm["attributes"]["orcheo.token.output"], 20);
    assert_eq!(llm["attributes"]["orcheo.execution.id"], "exec_live_py");
    assert_eq!(llm["status"]["code"], "OK");

    // Root-last: the nodes stored before the root reach a subscriber with it.
    let trace = crate::helpers::trace_id(67);
    export_http(&app, &acme, nodes(trace)).await;
    export_http(&app, &acme, vec![root(trace, "exec_live_late")]).await;
    let mut socket = subscribe(&app, "exec_live_late", "acme").await;
    let spans = until_spans(&mut socket, &["workflow.execution", "step 2", "step 3"]).await;
    assert_eq!(
        by_name(&spans, "step 3")["attributes"]["orcheo.node.kind"],
        "tool"
    );
}

async fn a_child_joins_the_trace_run_only_where_its_writer_may_write(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let acme = writes_as("acme");
    let globex = writes_as("globex");
    // Another tenant's node on the trace of acme's run: refused, uncounted.
    let trace = crate::helpers::trace_id(68);
    export_http(&app, &acme, nodes(trace)).await;
    export_http(&app, &acme, vec![root(trace, "exec_owned")]).await;
    let body = ExportTraceServiceRequest {
        resource_spans: resource(vec![node(trace, 9, "llm", 1_000, 1_000)]),
    }
    .encode_to_vec();
    let (status, _, _) = post(
        &app,
        "application/x-protobuf",
        body,
        &[("authorization", globex.as_str())],
    )
    .await;
    assert_eq!(status, 200);
    assert_whole_run(&listed(&app, "exec_owned", "acme").await);

    // A relay writes for the tenant each span names: nodes named another tenant's, stored before
    // the root, do not join the run the root gives to acme.
    let trace = crate::helpers::trace_id(69);
    let mut foreign = node(trace, 4, "llm", 1_000, 1_000);
    foreign
        .attributes
        .push(text("orcheo.execution.tenant", "globex"));
    let mut own = nodes(trace);
    for span in &mut own {
        span.attributes
            .push(text("orcheo.execution.tenant", "acme"));
    }
    own.push(foreign);
    export_http(&app, &relays(), own).await;
    let mut run_root = root(trace, "exec_relayed");
    run_root
        .attributes
        .push(text("orcheo.execution.tenant", "acme"));
    export_http(&app, &relays(), vec![run_root]).await;
    assert_whole_run(&listed(&app, "exec_relayed", "acme").await);
    let globex_list = app
        .get("/api/executions", Some(&jwt("globex", "traces:read")))
        .await
        .json();
    assert!(
        globex_list["executions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != "exec_relayed"),
        "{globex_list}"
    );
}
