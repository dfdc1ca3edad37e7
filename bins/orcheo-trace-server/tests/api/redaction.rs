//! Redaction on every route: a run whose spans carry an e-mail address and an `api_key=…` secret
//! in every place a span can hold text, received over OTLP/HTTP, must not give either back in
//! any string (or object key) of any answer — the trace's tree and flat views, single spans, the
//! executions list, a degraded answer and the live feed — for callers with and without the
//! content scope.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use orcheo_trace_model::{Timestamp, semconv};
use prost::Message as _;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::{
    Db, Options, TestApp, jwt, on_each_backend, span_id, spawn_app, spawn_app_with, trace_id,
};

on_each_backend!(
    no_answer_gives_back_a_planted_secret,
    a_trace_store_answer_quoting_a_secret_is_redacted_in_errors_and_reasons,
);

const EMAIL: &str = "leak.victim@example.com";
const KEY: &str = "sk_live_abcdef1234567890";
/// What every text of the run says (short enough for every column the receiver fills).
const PLANT: &str = "leak.victim@example.com api_key=sk_live_abcdef1234567890";
const EXECUTION: &str = "exec_planted";

fn text(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..KeyValue::default()
    }
}

/// Planted attributes: under an ordinary key, under a planted key, in an array and in a map.
fn planted_attributes() -> Vec<KeyValue> {
    vec![
        kv("note", text(PLANT)),
        kv(PLANT, text("value under a planted key")),
        kv(
            "list",
            AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![text(PLANT)],
                })),
            },
        ),
        kv(
            "map",
            AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv(PLANT, text(PLANT))],
                })),
            },
        ),
    ]
}

fn event(name: &str, at: u64, attributes: Vec<KeyValue>) -> Event {
    Event {
        time_unix_nano: at,
        name: name.to_owned(),
        attributes,
        ..Event::default()
    }
}

/// Span `n` of the run (the root is 1, its children have it as parent), from `from` to `to`
/// seconds after `start`, with the run's attributes, `attributes` and `events`, and a planted
/// status message.
fn span(
    n: u64,
    start: u64,
    (from, to): (u64, u64),
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    code: status::StatusCode,
) -> Span {
    let mut all = vec![
        kv(semconv::EXECUTION_ID, text(EXECUTION)),
        kv(semconv::EXECUTION_TENANT, text("acme")),
    ];
    all.extend(planted_attributes());
    all.extend(attributes);
    Span {
        trace_id: trace_id(42).to_bytes().to_vec(),
        span_id: span_id(n).to_bytes().to_vec(),
        parent_span_id: if n == 1 {
            Vec::new()
        } else {
            span_id(1).to_bytes().to_vec()
        },
        name: if n == 1 {
            semconv::WORKFLOW_SPAN_NAME.to_owned()
        } else {
            PLANT.to_owned()
        },
        start_time_unix_nano: start + from * 1_000_000_000,
        end_time_unix_nano: start + to * 1_000_000_000,
        attributes: all,
        events,
        status: Some(Status {
            code: code as i32,
            message: PLANT.to_owned(),
        }),
        ..Span::default()
    }
}

fn planted(keys: &[&str]) -> Vec<KeyValue> {
    keys.iter().map(|key| kv(key, text(PLANT))).collect()
}

/// The run: a failed root, an LLM node (prompt, response, model, artifact) and a failing node
/// (exception, error code and hint, a link), every text planted, under a planted resource and
/// scope. Dated an hour ahead (see the degraded answer below).
fn planted_export() -> ExportTraceServiceRequest {
    use semconv as k;
    let start = Timestamp::now().unix_nanos() + 3_600_000_000_000;
    let root = span(
        1,
        start,
        (0, 10),
        planted(&[k::WORKFLOW_ID, k::WORKFLOW_VERSION, k::EXECUTION_TRIGGER]),
        vec![event(
            k::EVENT_WORKFLOW_FAILED,
            start,
            planted(&[k::EXCEPTION_TYPE, k::EXCEPTION_MESSAGE]),
        )],
        status::StatusCode::Error,
    );
    let spans = vec![root, llm_span(start), failing_span(start)];
    let mut resource_attributes = vec![kv(k::SERVICE_NAME, text(PLANT))];
    resource_attributes.extend(planted_attributes());
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource_attributes,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: PLANT.to_owned(),
                    version: PLANT.to_owned(),
                    attributes: planted_attributes(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn llm_span(start: u64) -> Span {
    use semconv as k;
    let mut llm_attributes = vec![kv(k::NODE_KIND, text("llm"))];
    llm_attributes.extend(planted(&[
        k::GEN_AI_REQUEST_MODEL,
        k::GEN_AI_RESPONSE_MODEL,
        k::GEN_AI_PROVIDER_NAME,
        k::GEN_AI_PROMPT,
        k::GEN_AI_COMPLETION,
    ]));
    let llm_events = vec![
        event(
            k::EVENT_PROMPT,
            start,
            planted(&[k::CONTENT_ATTR_PREVIEW, k::CONTENT_ATTR_ROLE]),
        ),
        event(
            k::EVENT_RESPONSE,
            start,
            planted(&[k::CONTENT_ATTR_PREVIEW]),
        ),
        event(
            k::EVENT_ARTIFACT,
            start,
            planted(&[
                k::ARTIFACT_ID,
                k::ARTIFACT_NAME,
                k::ARTIFACT_URL,
                k::ARTIFACT_CONTENT_TYPE,
            ]),
        ),
        event(PLANT, start, planted_attributes()),
    ];
    span(
        2,
        start,
        (1, 4),
        llm_attributes,
        llm_events,
        status::StatusCode::Ok,
    )
}

fn failing_span(start: u64) -> Span {
    use semconv as k;
    let mut failing_attributes =
        planted(&[k::NODE_KIND, k::ERROR_TYPE, k::ERROR_CODE, k::ERROR_HINT]);
    failing_attributes.push(kv(
        k::ARTIFACT_IDS,
        AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![text(PLANT)],
            })),
        },
    ));
    let failing_events = vec![
        event(
            k::EVENT_EXCEPTION,
            start,
            planted(&[
                k::EXCEPTION_TYPE,
                k::EXCEPTION_MESSAGE,
                k::EXCEPTION_STACKTRACE,
            ]),
        ),
        event(
            k::EVENT_ERROR_DETAIL,
            start,
            planted(&[k::ERROR_DETAIL_ATTR_MESSAGE]),
        ),
    ];
    let mut failing = span(
        3,
        start,
        (5, 9),
        failing_attributes,
        failing_events,
        status::StatusCode::Error,
    );
    failing.links = vec![Link {
        trace_id: trace_id(42).to_bytes().to_vec(),
        span_id: span_id(2).to_bytes().to_vec(),
        attributes: planted_attributes(),
        ..Link::default()
    }];
    failing
}

/// Every string value and object key of `value` that still holds a planted secret, by path.
fn leaks(value: &Value, path: &str, found: &mut Vec<String>) {
    let leaky = |s: &str| s.contains(EMAIL) || s.contains(KEY);
    match value {
        Value::String(s) if leaky(s) => found.push(format!("{path}: {s:?}")),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                leaks(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if leaky(key) {
                    found.push(format!("{path} has the key {key:?}"));
                }
                leaks(item, &format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

fn assert_no_leak(what: &str, value: &Value) {
    let mut found = Vec::new();
    leaks(value, "", &mut found);
    assert!(
        found.is_empty(),
        "{what} gives back planted secrets:\n{}",
        found.join("\n")
    );
}

/// GETs `path` (200 expected), checks the answer for leaks and returns it.
async fn checked(app: &TestApp, path: &str, token: &str) -> Value {
    let answer = app.get(path, Some(token)).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    let body = answer.json();
    assert_no_leak(path, &body);
    body
}

/// The live feed's messages from the start until the server closes the socket.
async fn live_messages(app: &TestApp, token: &str) -> Vec<Value> {
    let url = format!(
        "{}/api/executions/{EXECUTION}/trace/live",
        app.address.replace("http://", "ws://")
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut socket = tokio_tungstenite::connect_async(request).await.unwrap().0;
    let mut messages = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => messages.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Ping(bytes))) => socket.send(Message::Pong(bytes)).await.unwrap(),
            Some(Ok(Message::Close(_)) | Err(_)) | None => return messages,
            Some(Ok(_)) => {}
        }
    }
}

fn count(spans: &Value) -> usize {
    spans.as_array().map_or(0, Vec::len)
}

async fn no_answer_gives_back_a_planted_secret(db: Db) {
    let Some(app) = spawn_app_with(
        db,
        Options {
            embedded: true,
            // Every answer is built afresh: once the stored spans are pruned below, the answer
            // must come from the span summaries, not from a tree cached before.
            cache_bytes: Some(0),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let export = planted_export().encode_to_vec();
    let response = app
        .client
        .post(format!("{}/v1/traces", app.otlp_http.as_deref().unwrap()))
        .header("content-type", "application/x-protobuf")
        .header("authorization", crate::ingest::writes_as("acme"))
        .body(export)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content = jwt("acme", "traces:read traces:read_content");
    let no_content = jwt("acme", "traces:read");
    let trace = format!("/api/executions/{EXECUTION}/trace");
    let tree_path = format!("{trace}?view=tree");
    for token in [&content, &no_content] {
        let tree = checked(&app, &tree_path, token).await;
        assert_eq!(tree["source"]["degraded"], false);
        assert_eq!(tree["execution"]["status"], "error");
        assert_eq!(
            tree["execution"]["error"], "[REDACTED] api_key=[REDACTED]",
            "the execution's error is served, redacted"
        );
        assert_eq!(count(&tree["root"]["children"]), 2, "{tree}");
        let flat = checked(&app, &format!("{trace}?view=flat"), token).await;
        assert_eq!(count(&flat["spans"]), 3, "{flat}");
        for span in 1..=3 {
            let one = checked(&app, &format!("{trace}/spans/{}", span_id(span)), token).await;
            assert_eq!(one["span"]["span_id"], span_id(span).to_string());
        }
        let list = checked(&app, "/api/executions", token).await;
        assert_eq!(list["executions"][0]["id"], EXECUTION, "{list}");
    }
    let llm = checked(&app, &format!("{trace}/spans/{}", span_id(2)), &content).await;
    assert_eq!(
        llm["span"]["prompts"][0]["redacted"], true,
        "the prompt is shown, redacted: {llm}"
    );

    let updates = live_messages(&app, &no_content).await;
    assert_no_leak("the live feed", &Value::Array(updates.clone()));
    let spans: usize = updates.iter().map(|u| count(&u["spans"])).sum();
    assert_eq!(spans, 3, "{updates:?}");
    assert_eq!(updates.last().unwrap()["complete"], true);

    // The stored spans are gone (received before the cutoff) while the run, dated later, keeps
    // its execution and span summaries: the answer is built from the summaries.
    let cutoff = Timestamp::from_unix_nanos(Timestamp::now().unix_nanos() + 60_000_000_000);
    let pruned = app.store.prune(cutoff).unwrap();
    assert_eq!((pruned.executions, pruned.local_spans), (0, 3));
    for token in [&content, &no_content] {
        let degraded = checked(&app, &tree_path, token).await;
        assert_eq!(degraded["source"]["degraded"], true, "{degraded}");
        assert_eq!(count(&degraded["root"]["children"]), 2, "{degraded}");
        let flat = checked(&app, &format!("{trace}?view=flat"), token).await;
        assert_eq!(flat["spans"][1]["name"], "[REDACTED] api_key=[REDACTED]");
        checked(&app, &format!("{trace}/spans/{}", span_id(3)), token).await;
    }
}

async fn a_trace_store_answer_quoting_a_secret_is_redacted_in_errors_and_reasons(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    // Not a trace: the decoder's error quotes what it found, and the answer quotes the error.
    let trace = app.seed(
        "exec_1",
        "acme",
        1,
        1,
        orcheo_trace_model::ExecutionStatus::Completed,
    );
    app.tempo.put(trace, &Value::String(PLANT.to_owned()));
    let token = jwt("acme", "traces:read");
    let answer = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&token))
        .await;
    assert_eq!(answer.error_code(), "trace_store_error", "{}", answer.text);
    assert!(answer.text.contains("[REDACTED]"), "{}", answer.text);
    assert_no_leak("a trace store error", &answer.json());
    // With span summaries the answer is degraded, and its reason quotes the same error.
    app.summaries("exec_1");
    let degraded = checked(&app, "/api/executions/exec_1/trace?view=tree", &token).await;
    assert_eq!(degraded["source"]["degraded"], true, "{degraded}");
    assert!(
        degraded["source"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("[REDACTED]")),
        "{degraded}"
    );
}
