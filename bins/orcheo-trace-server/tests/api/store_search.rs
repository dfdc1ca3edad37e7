//! Executions the database does not know, found in Tempo or Jaeger by their root span's
//! `orcheo.execution.id` (runs of executors that export straight to a collector): the exact
//! search sent, registration, the remembered misses, store failures and tenants.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use orcheo_collector_client::{BackendKind, ClientConfig, RetryConfig};
use orcheo_trace_model::{ExecutionId, ExecutionStatus, TraceId};
use serde_json::{Value, json};

use crate::helpers::{
    Db, Options, STATIC_TOKEN, TestApp, at, jwt, on_each_backend, serve_stand_in, span_id,
    spawn_app_with, trace_id,
};

/// What a stand-in answers: status and JSON body, from the path and the raw query.
type Handler = dyn Fn(&str, &str) -> (u16, String) + Send + Sync;

/// A trace store on its own thread, answering from `handler` and recording every request as
/// `path?query`, exactly as sent.
#[derive(Clone)]
struct Stand {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Stand {
    fn start(handler: Arc<Handler>) -> Self {
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&requests);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = serve_stand_in(listener, move |req| {
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or_default().to_owned();
            seen.lock().unwrap().push(format!("{path}?{query}"));
            let (status, body) = handler(&path, &query);
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        });
        Self { addr, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn searches(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("/api/search?") || r.starts_with("/api/traces?"))
            .count()
    }
}

/// Percent-decodes a query value (the stand-ins read the searched id back from it).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .map(decode)
}

/// A run as Orcheo's Python executors export it: only the root carries the execution id (and
/// the tenant when `tenant` is given); two nodes under it.
fn python_run(trace: TraceId, execution: &str, tenant: Option<&str>) -> Value {
    let nanos = |s: u64| at(s).unix_nanos().to_string();
    let mut attributes = vec![
        json!({"key": "orcheo.execution.id", "value": {"stringValue": execution}}),
        json!({"key": "orcheo.workflow.id", "value": {"stringValue": "wf_py"}}),
    ];
    if let Some(tenant) = tenant {
        attributes
            .push(json!({"key": "orcheo.execution.tenant", "value": {"stringValue": tenant}}));
    }
    let node = |n: u64| {
        json!({
            "traceId": trace.to_string(),
            "spanId": span_id(n).to_string(),
            "parentSpanId": span_id(1).to_string(),
            "name": format!("node {n}"),
            "startTimeUnixNano": nanos(1),
            "endTimeUnixNano": nanos(2),
            "attributes": [{"key": "orcheo.node.id", "value": {"stringValue": format!("n{n}")}}],
            "status": {"code": 1}
        })
    };
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orcheo-backend"}}]},
        "scopeSpans": [{"scope": {"name": "orcheo.tracing"}, "spans": [
            {
                "traceId": trace.to_string(),
                "spanId": span_id(1).to_string(),
                "name": "workflow.execution",
                "startTimeUnixNano": nanos(0),
                "endTimeUnixNano": nanos(9),
                "attributes": attributes,
                "events": [{"name": "workflow.failed", "timeUnixNano": nanos(9), "attributes": [
                    {"key": "exception.type", "value": {"stringValue": "ValueError"}},
                    {"key": "exception.message", "value": {"stringValue": "bad input"}}
                ]}],
                "status": {"code": 2, "message": "bad input"}
            },
            node(2),
            node(3)
        ]}]
    }]})
}

/// Runs in the fake Tempo: trace id → OTLP/JSON, found by the execution id of their roots.
type Runs = Arc<Mutex<HashMap<TraceId, (String, Value)>>>;

/// How the fake Tempo treats searches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TempoSearch {
    TraceQl,
    /// A Tempo from before `TraceQL`: `q` is refused with 400, `tags` answered.
    TagsOnly,
    Down,
}

fn tempo(runs: &Runs, mode: Arc<Mutex<TempoSearch>>) -> Stand {
    let runs = Arc::clone(runs);
    Stand::start(Arc::new(move |path: &str, query: &str| {
        let mode = *mode.lock().unwrap();
        if mode == TempoSearch::Down {
            return (503, "tempo is restarting".to_owned());
        }
        if path == "/api/search" {
            let wanted = match (mode, param(query, "q"), param(query, "tags")) {
                (TempoSearch::TraceQl, Some(q), _) => q
                    .strip_prefix(r#"{ span."orcheo.execution.id" = ""#)
                    .and_then(|rest| rest.strip_suffix(r#"" }"#))
                    .map(str::to_owned),
                (TempoSearch::TagsOnly, Some(_), _) => {
                    return (400, "invalid TraceQL query: parse error".to_owned());
                }
                (_, None, Some(tags)) => tags
                    .strip_prefix(r#"orcheo.execution.id=""#)
                    .and_then(|rest| rest.strip_suffix('"'))
                    .map(str::to_owned),
                _ => None,
            };
            let traces: Vec<Value> = runs
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, (execution, _))| Some(execution) == wanted.as_ref())
                .map(|(id, _)| {
                    json!({
                        // Tempo drops the leading zeros of trace ids in search answers.
                        "traceID": id.to_string().trim_start_matches('0'),
                        "rootServiceName": "orcheo-backend",
                        "rootTraceName": "workflow.execution",
                        "startTimeUnixNano": at(0).unix_nanos().to_string(),
                        "durationMs": 9000,
                        "spanSets": [{"spans": [{"spanID": span_id(1).to_string(),
                            "startTimeUnixNano": at(0).unix_nanos().to_string(),
                            "durationNanos": "9000000000",
                            "attributes": [{"key": "orcheo.execution.id",
                                "value": {"stringValue": wanted.clone().unwrap_or_default()}}]}],
                            "matched": 1}]
                    })
                })
                .collect();
            let body = json!({"traces": traces, "metrics": {"inspectedBytes": "1000", "totalBlocks": 1, "completedJobs": 1}});
            return (200, body.to_string());
        }
        if let Some(id) = path.strip_prefix("/api/v2/traces/") {
            let id = TraceId::from_hex(id).unwrap();
            return match runs.lock().unwrap().get(&id) {
                Some((_, otlp)) => (200, json!({"trace": otlp}).to_string()),
                None => (200, "{\"trace\":{}}".to_owned()),
            };
        }
        (404, "404 page not found".to_owned())
    }))
}

fn client(backend: BackendKind, stand: &Stand) -> ClientConfig {
    let mut client = ClientConfig::new(backend, format!("http://{}", stand.addr));
    client.attempt_timeout = Duration::from_secs(2);
    client.overall_timeout = Duration::from_secs(3);
    client.retry = RetryConfig {
        max_attempts: 2,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        jitter: false,
    };
    client
}

async fn app(db: Db, client: ClientConfig) -> Option<TestApp> {
    spawn_app_with(
        db,
        Options {
            trace_store: Some(client),
            search_lookback: Some(Duration::from_hours(24)),
            ..Options::default()
        },
    )
    .await
}

const TRACEQL: &str = "q=%7B%20span.%22orcheo.execution.id%22%20%3D%20%22py_run_1%22%20%7D";

async fn tempo_run_is_found_registered_and_served_without_searching_again(db: Db) {
    let runs = Runs::default();
    let mode = Arc::new(Mutex::new(TempoSearch::TraceQl));
    let store = tempo(&runs, Arc::clone(&mode));
    // An id with leading zero bytes: Tempo's search answer drops them.
    let trace = TraceId::from_hex("00f1e2d3c4b5a69788796a5b4c3d2e1f").unwrap();
    runs.lock().unwrap().insert(
        trace,
        ("py_run_1".into(), python_run(trace, "py_run_1", None)),
    );
    let Some(app) = app(db, client(BackendKind::Tempo, &store)).await else {
        return;
    };
    let admin = jwt("ops", "traces:read traces:read_content traces:admin");

    let answer = app
        .get("/api/executions/py_run_1/trace?view=flat", Some(&admin))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["spans"].as_array().map(Vec::len), Some(3), "{body}");
    let searches: Vec<String> = store
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("/api/search"))
        .collect();
    assert_eq!(searches.len(), 1, "{searches:?}");
    assert!(
        searches[0].starts_with(&format!("/api/search?{TRACEQL}&start=")),
        "{}",
        searches[0]
    );
    assert!(searches[0].ends_with("&limit=3"), "{}", searches[0]);

    // Registered from the root: the next requests are ordinary lookups.
    let stored = app
        .store
        .execution(&ExecutionId::new("py_run_1").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.trace_id, Some(trace));
    assert_eq!(stored.tenant, "default");
    assert_eq!(stored.workflow_id.as_deref(), Some("wf_py"));
    assert_eq!(stored.status, ExecutionStatus::Error);
    assert_eq!(stored.error.as_deref(), Some("bad input"));
    assert_eq!(stored.started_at, at(0));
    assert_eq!(stored.finished_at, Some(at(9)));
    let again = app
        .get("/api/executions/py_run_1/trace", Some(&admin))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(store.searches(), 1, "no second search");
    // Listed once looked up.
    let list = app.get("/api/executions", Some(&admin)).await.json();
    assert_eq!(list["executions"][0]["id"], "py_run_1", "{list}");
}

async fn unknown_ids_are_404_and_remembered(db: Db) {
    let runs = Runs::default();
    let store = tempo(&runs, Arc::new(Mutex::new(TempoSearch::TraceQl)));
    let Some(app) = app(db, client(BackendKind::Tempo, &store)).await else {
        return;
    };
    let token = jwt("acme", "traces:read");
    app.expect_error(
        "/api/executions/nobody/trace",
        Some(&token),
        404,
        "not_found",
    )
    .await;
    app.expect_error(
        "/api/executions/nobody/trace",
        Some(&token),
        404,
        "not_found",
    )
    .await;
    app.expect_error(
        "/api/executions/nobody/trace/spans/0000000000000001",
        Some(&token),
        404,
        "not_found",
    )
    .await;
    assert_eq!(store.searches(), 1, "the miss is remembered");
    assert!(
        app.store
            .execution(&ExecutionId::new("nobody").unwrap())
            .unwrap()
            .is_none()
    );
}

async fn a_store_that_is_down_is_503_and_not_remembered(db: Db) {
    let runs = Runs::default();
    let mode = Arc::new(Mutex::new(TempoSearch::Down));
    let store = tempo(&runs, Arc::clone(&mode));
    let trace = trace_id(7);
    runs.lock().unwrap().insert(
        trace,
        ("py_run_1".into(), python_run(trace, "py_run_1", None)),
    );
    let Some(app) = app(db, client(BackendKind::Tempo, &store)).await else {
        return;
    };
    let token = jwt("default", "traces:read");
    let answer = app
        .expect_error(
            "/api/executions/py_run_1/trace",
            Some(&token),
            503,
            "trace_store_unavailable",
        )
        .await;
    assert!(answer.header("retry-after").is_some());
    *mode.lock().unwrap() = TempoSearch::TraceQl;
    let answer = app
        .get("/api/executions/py_run_1/trace", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

async fn a_run_of_another_tenant_stays_hidden(db: Db) {
    let runs = Runs::default();
    let store = tempo(&runs, Arc::new(Mutex::new(TempoSearch::TraceQl)));
    let (acme, default) = (trace_id(1), trace_id(2));
    runs.lock().unwrap().insert(
        acme,
        (
            "acme_run".into(),
            python_run(acme, "acme_run", Some("acme")),
        ),
    );
    runs.lock().unwrap().insert(
        default,
        ("plain_run".into(), python_run(default, "plain_run", None)),
    );
    let Some(app) = app(db, client(BackendKind::Tempo, &store)).await else {
        return;
    };
    let other = jwt("globex", "traces:read");
    // Found and registered by the first request, still another tenant's: 404 both times.
    for _ in 0..2 {
        app.expect_error(
            "/api/executions/acme_run/trace",
            Some(&other),
            404,
            "not_found",
        )
        .await;
    }
    assert_eq!(
        app.store
            .execution(&ExecutionId::new("acme_run").unwrap())
            .unwrap()
            .map(|e| e.tenant)
            .as_deref(),
        Some("acme")
    );
    let answer = app
        .get("/api/executions/acme_run/trace", Some(STATIC_TOKEN))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // A root that names no tenant is the default tenant's, not the caller's.
    app.expect_error(
        "/api/executions/plain_run/trace",
        Some(STATIC_TOKEN),
        404,
        "not_found",
    )
    .await;
    assert_eq!(store.searches(), 2);
}

async fn ids_are_validated_before_any_search(db: Db) {
    let runs = Runs::default();
    let store = tempo(&runs, Arc::new(Mutex::new(TempoSearch::TraceQl)));
    let Some(app) = app(db, client(BackendKind::Tempo, &store)).await else {
        return;
    };
    let token = jwt("acme", "traces:read");
    for id in [
        "x%22%20%7C%7C%20true%20%7C%7C%20%22",
        "a%5C",
        "run%26q%3D%7B%7D",
    ] {
        app.expect_error(
            &format!("/api/executions/{id}/trace"),
            Some(&token),
            400,
            "invalid_execution_id",
        )
        .await;
    }
    assert_eq!(store.searches(), 0);
    // Every character an id may hold goes through the query unharmed.
    app.expect_error(
        "/api/executions/a:b.c-d_e/trace",
        Some(&token),
        404,
        "not_found",
    )
    .await;
    let sent = store.requests();
    assert!(
        sent[0].contains("q=%7B%20span.%22orcheo.execution.id%22%20%3D%20%22a%3Ab.c-d_e%22%20%7D&"),
        "{sent:?}"
    );
}

async fn a_tempo_without_traceql_is_asked_with_tags(db: Db) {
    let runs = Runs::default();
    let store = tempo(&runs, Arc::new(Mutex::new(TempoSearch::TagsOnly)));
    let trace = trace_id(3);
    runs.lock().unwrap().insert(
        trace,
        ("py_run_1".into(), python_run(trace, "py_run_1", None)),
    );
    let Some(app) = app(db, client(BackendKind::Tempo, &store)).await else {
        return;
    };
    let token = jwt("default", "traces:read");
    let answer = app
        .get("/api/executions/py_run_1/trace", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let searches: Vec<String> = store
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("/api/search"))
        .collect();
    assert_eq!(searches.len(), 2, "{searches:?}");
    assert!(searches[0].starts_with(&format!("/api/search?{TRACEQL}&")));
    assert!(
        searches[1].starts_with("/api/search?tags=orcheo.execution.id%3D%22py_run_1%22&start="),
        "{}",
        searches[1]
    );
    // Remembered: the next search goes straight to the tags form.
    app.expect_error(
        "/api/executions/other/trace",
        Some(&token),
        404,
        "not_found",
    )
    .await;
    let last = store.requests().pop().unwrap();
    assert!(last.starts_with("/api/search?tags="), "{last}");
}

async fn two_traces_claiming_one_run_are_not_chosen_between(db: Db) {
    let runs = Runs::default();
    let store = tempo(&runs, Arc::new(Mutex::new(TempoSearch::TraceQl)));
    for n in [4, 5] {
        let trace = trace_id(n);
        runs.lock()
            .unwrap()
            .insert(trace, ("twice".into(), python_run(trace, "twice", None)));
    }
    let Some(app) = app(db, client(BackendKind::Tempo, &store)).await else {
        return;
    };
    let admin = jwt("ops", "traces:read traces:admin");
    app.expect_error(
        "/api/executions/twice/trace",
        Some(&admin),
        404,
        "not_found",
    )
    .await;
    assert!(
        app.store
            .execution(&ExecutionId::new("twice").unwrap())
            .unwrap()
            .is_none()
    );
}

/// A Jaeger trace in the query service's JSON, from [`python_run`]'s shape.
fn jaeger_trace(trace: TraceId, execution: &str) -> Value {
    let micros = |s: u64| at(s).unix_nanos() / 1_000;
    json!({
        "traceID": trace.to_string(),
        "spans": [
            {"traceID": trace.to_string(), "spanID": span_id(1).to_string(),
             "operationName": "workflow.execution", "references": [],
             "startTime": micros(0), "duration": 9_000_000,
             "tags": [
                {"key": "orcheo.execution.id", "type": "string", "value": execution},
                {"key": "orcheo.workflow.id", "type": "string", "value": "wf_py"},
                {"key": "otel.status_code", "type": "string", "value": "OK"}
             ],
             "logs": [], "processID": "p1", "warnings": null},
            {"traceID": trace.to_string(), "spanID": span_id(2).to_string(),
             "operationName": "node 2",
             "references": [{"refType": "CHILD_OF", "traceID": trace.to_string(), "spanID": span_id(1).to_string()}],
             "startTime": micros(1), "duration": 1_000_000,
             "tags": [], "logs": [], "processID": "p1", "warnings": null}
        ],
        "processes": {"p1": {"serviceName": "orcheo-backend", "tags": []}},
        "warnings": null
    })
}

async fn jaeger_is_searched_per_service_with_a_tags_object(db: Db) {
    let trace = trace_id(9);
    let found = jaeger_trace(trace, "py_run_1");
    let store = Stand::start(Arc::new(move |path: &str, query: &str| {
        let envelope = |data: Value| json!({"data": data, "total": 0, "limit": 0, "offset": 0, "errors": null});
        match path {
            "/api/services" => (
                200,
                json!({"data": ["frontend", "orcheo-backend"], "total": 2, "limit": 0, "offset": 0, "errors": null}).to_string(),
            ),
            "/api/traces" => {
                let hit = param(query, "service").as_deref() == Some("orcheo-backend")
                    && param(query, "tags").as_deref()
                        == Some(r#"{"orcheo.execution.id":"py_run_1"}"#);
                let data = if hit { json!([found.clone()]) } else { json!([]) };
                (200, envelope(data).to_string())
            }
            p if p == format!("/api/traces/{trace}") => {
                (200, envelope(json!([found.clone()])).to_string())
            }
            _ => (
                404,
                json!({"data": null, "errors": [{"code": 404, "msg": "trace not found"}]})
                    .to_string(),
            ),
        }
    }));
    let Some(app) = app(db, client(BackendKind::JaegerV1, &store)).await else {
        return;
    };
    let token = jwt("default", "traces:read");
    let answer = app
        .get("/api/executions/py_run_1/trace?view=flat", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["spans"].as_array().map(Vec::len), Some(2));
    let sent = store.requests();
    assert_eq!(sent[0], "/api/services?");
    let tags = "tags=%7B%22orcheo.execution.id%22%3A%22py_run_1%22%7D";
    assert!(
        sent[1].starts_with(&format!("/api/traces?service=frontend&{tags}&start=")),
        "{sent:?}"
    );
    assert!(
        sent[2].starts_with(&format!("/api/traces?service=orcheo-backend&{tags}&start=")),
        "{sent:?}"
    );
    assert!(sent[2].ends_with("&limit=3"), "{sent:?}");
    let stored = app
        .store
        .execution(&ExecutionId::new("py_run_1").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.trace_id, stored.status),
        (Some(trace), ExecutionStatus::Completed)
    );
    let again = app
        .get("/api/executions/py_run_1/trace", Some(&token))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(store.searches(), 2, "one search, over two services");
}

on_each_backend!(
    tempo_run_is_found_registered_and_served_without_searching_again,
    unknown_ids_are_404_and_remembered,
    a_store_that_is_down_is_503_and_not_remembered,
    a_run_of_another_tenant_stays_hidden,
    ids_are_validated_before_any_search,
    a_tempo_without_traceql_is_asked_with_tags,
    two_traces_claiming_one_run_are_not_chosen_between,
    jaeger_is_searched_per_service_with_a_tags_object,
);
