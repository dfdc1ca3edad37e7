//! Canvas's own requests, exactly as its trace hook sends them (a `_refresh` cache buster, a
//! `cursor`, the workflow's run list with `limit`), answer with the status and the field types
//! its parser reads: `execution`, flat `spans` and `page_info`, numbers as JSON numbers.

use std::collections::HashSet;

use orcheo_trace_model::{ExecutionId, ExecutionStatus, TraceId};
use orcheo_trace_store::{NewExecution, TraceLink};
use serde_json::{Value, json};

use crate::helpers::{
    Db, Options, STATIC_TOKEN, TestApp, at, jwt, on_each_backend, otlp_trace, span_id, spawn_app,
    spawn_app_with, trace_id,
};

/// An app whose trace store may take its time: 10,000-span traces, decoded by a debug build on
/// a busy machine.
async fn patient_app(db: Db) -> Option<TestApp> {
    spawn_app_with(
        db,
        Options {
            trace_store_timeout: Some(std::time::Duration::from_mins(1)),
            ..Options::default()
        },
    )
    .await
}

on_each_backend!(
    trace_requests_answer_what_canvas_parses,
    unknown_query_keys_are_ignored_and_known_ones_still_checked,
    workflow_run_list_is_run_history_newest_first_and_tenant_scoped,
    a_ten_thousand_span_trace_comes_whole_in_one_answer,
    a_larger_trace_is_cut_says_so_and_pages_on,
);

/// A run as Orcheo's tracing writes it: the root names the workflow and the thread; a node has
/// tokens (integers), artifact ids (a list), a message event and an error status.
pub(crate) fn orcheo_trace(trace: TraceId, execution: &str) -> Value {
    let nanos = |s: u64| at(s).unix_nanos().to_string();
    let text = |key: &str, value: &str| json!({"key": key, "value": {"stringValue": value}});
    json!({"resourceSpans": [{
        "resource": {"attributes": [text("service.name", "orcheo-backend")]},
        "scopeSpans": [{"scope": {"name": "orcheo.tracing"}, "spans": [
            {
                "traceId": trace.to_string(), "spanId": span_id(1).to_string(),
                "name": "workflow.execution", "kind": 1,
                "startTimeUnixNano": nanos(0), "endTimeUnixNano": nanos(12),
                "attributes": [
                    text("orcheo.execution.id", execution),
                    text("orcheo.workflow.id", "wf_email"),
                    text("orcheo.execution.thread_id", "thread-42"),
                ],
                "events": [{"name": "workflow.completed", "timeUnixNano": nanos(12),
                    "attributes": [text("status", "completed")]}],
                "status": {"code": 1}
            },
            {
                "traceId": trace.to_string(), "spanId": span_id(2).to_string(),
                "parentSpanId": span_id(1).to_string(),
                "name": "Draft Email", "kind": 1,
                "startTimeUnixNano": nanos(1), "endTimeUnixNano": nanos(3),
                "attributes": [
                    text("orcheo.execution.id", execution),
                    text("orcheo.node.id", "draft_email"),
                    text("orcheo.node.kind", "llm"),
                    text("orcheo.node.status", "error"),
                    {"key": "orcheo.token.input", "value": {"intValue": "1234"}},
                    {"key": "orcheo.token.output", "value": {"intValue": "678"}},
                    {"key": "orcheo.artifact.ids", "value": {"arrayValue": {"values": [
                        {"stringValue": "art_1"}, {"stringValue": "art_2"}]}}}
                ],
                "events": [{"name": "message", "timeUnixNano": nanos(2),
                    "attributes": [text("role", "assistant"), text("content", "Dear customer")]}],
                "status": {"code": 2, "message": "model refused"}
            }
        ]}]
    }]})
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|t| orcheo_trace_model::Timestamp::parse_rfc3339(t).is_some())
}

fn is_span_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Every field Canvas's `applyTraceResponse` and `createSpanMetadata` read, with the type they
/// test for.
fn assert_canvas_shape(body: &Value) {
    let execution = &body["execution"];
    assert!(execution["id"].is_string(), "{execution}");
    assert!(execution["status"].is_string(), "{execution}");
    assert!(
        execution["thread_id"].is_string() || execution["thread_id"].is_null(),
        "{execution}"
    );
    assert!(is_time(&execution["started_at"]), "{execution}");
    assert!(
        is_time(&execution["finished_at"]) || execution["finished_at"].is_null(),
        "{execution}"
    );
    assert!(
        execution["trace_id"].is_string() || execution["trace_id"].is_null(),
        "{execution}"
    );
    if let Some(usage) = execution.get("token_usage") {
        assert!(
            usage["input"].is_u64() && usage["output"].is_u64(),
            "{usage}"
        );
    }
    for span in body["spans"].as_array().expect("spans is a list") {
        assert!(is_span_id(&span["span_id"]), "{span}");
        assert!(
            span["parent_span_id"].is_null() || is_span_id(&span["parent_span_id"]),
            "{span}"
        );
        assert!(span["name"].is_string(), "{span}");
        assert!(is_time(&span["start_time"]), "{span}");
        assert!(
            span["end_time"].is_null() || is_time(&span["end_time"]),
            "{span}"
        );
        assert!(span["attributes"].is_object(), "{span}");
        for event in span["events"].as_array().expect("events is a list") {
            assert!(event["name"].is_string(), "{event}");
            assert!(
                event["time"].is_null() || is_time(&event["time"]),
                "{event}"
            );
            assert!(event["attributes"].is_object(), "{event}");
        }
        assert!(
            ["OK", "ERROR", "UNSET"].contains(&span["status"]["code"].as_str().unwrap_or("")),
            "{span}"
        );
        assert!(
            span["status"]["message"].is_null() || span["status"]["message"].is_string(),
            "{span}"
        );
        assert!(span["links"].is_array(), "{span}");
    }
    assert!(body["page_info"]["has_next_page"].is_boolean(), "{body}");
    assert!(
        body["page_info"]["cursor"].is_null() || body["page_info"]["cursor"].is_string(),
        "{body}"
    );
}

async fn trace_requests_answer_what_canvas_parses(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let trace = trace_id(7);
    app.tempo.put(trace, &orcheo_trace(trace, "exec_canvas"));
    app.execution(
        "exec_canvas",
        "acme",
        Some(trace),
        ExecutionStatus::Completed,
    );
    // Canvas's refresh: no view, a cache buster, no limit.
    let answer = app
        .get(
            "/api/executions/exec_canvas/trace?_refresh=1733480000000",
            Some(STATIC_TOKEN),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_canvas_shape(&body);
    assert!(body.get("root").is_none(), "the default is the flat view");
    assert_eq!(body["execution"]["id"], "exec_canvas");
    assert_eq!(body["execution"]["thread_id"], "thread-42");
    assert_eq!(body["execution"]["trace_id"], trace.to_string());
    assert_eq!(
        (
            &body["execution"]["token_usage"]["input"],
            &body["execution"]["token_usage"]["output"]
        ),
        (&json!(1234), &json!(678))
    );
    let spans = body["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["span_id"], span_id(1).to_string());
    assert_eq!(spans[0]["parent_span_id"], Value::Null);
    let node = &spans[1];
    assert_eq!(node["parent_span_id"], span_id(1).to_string());
    // Canvas counts tokens only when `typeof === "number"`.
    assert_eq!(node["attributes"]["orcheo.token.input"], json!(1234));
    assert_eq!(node["attributes"]["orcheo.token.output"], json!(678));
    assert!(
        node["attributes"]["orcheo.artifact.ids"].is_array(),
        "{node}"
    );
    assert_eq!(node["attributes"]["orcheo.node.kind"], "llm");
    assert_eq!(node["status"]["code"], "ERROR");
    assert_eq!(node["status"]["message"], "model refused");
    assert_eq!(node["events"][0]["name"], "message");
    assert_eq!(
        body["page_info"],
        json!({"has_next_page": false, "cursor": null})
    );
    assert_eq!(body["truncated"], false);

    // Canvas's "load more": the cursor of a page, with the cache buster again.
    let first = app
        .get(
            "/api/executions/exec_canvas/trace?limit=1&_refresh=1",
            Some(STATIC_TOKEN),
        )
        .await
        .json();
    assert_canvas_shape(&first);
    assert_eq!(first["spans"].as_array().unwrap().len(), 1);
    let cursor = first["page_info"]["cursor"].as_str().unwrap();
    let more = app
        .get(
            &format!("/api/executions/exec_canvas/trace?cursor={cursor}&_refresh=2"),
            Some(STATIC_TOKEN),
        )
        .await;
    assert_eq!(more.status, 200, "{}", more.text);
    let more = more.json();
    assert_canvas_shape(&more);
    assert_eq!(more["spans"][0]["span_id"], span_id(2).to_string());
    assert_eq!(more["page_info"]["has_next_page"], false);

    // The Trace tab's tree is one parameter away.
    let tree = app
        .get(
            "/api/executions/exec_canvas/trace?view=tree&_refresh=3",
            Some(STATIC_TOKEN),
        )
        .await
        .json();
    assert_eq!(tree["root"]["span_id"], span_id(1).to_string());
    assert_eq!(tree["execution"]["thread_id"], "thread-42");

    // A root that names no thread: `null`, as Canvas's parser allows.
    app.seed("exec_plain", "acme", 8, 1, ExecutionStatus::Completed);
    let plain = app
        .get(
            "/api/executions/exec_plain/trace?_refresh=4",
            Some(STATIC_TOKEN),
        )
        .await
        .json();
    assert_canvas_shape(&plain);
    assert_eq!(plain["execution"]["thread_id"], Value::Null);
}

async fn unknown_query_keys_are_ignored_and_known_ones_still_checked(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 2, ExecutionStatus::Completed);
    let token = Some(STATIC_TOKEN);
    for path in [
        "/api/executions/exec_1/trace?_refresh=1&utm_source=mail",
        "/api/executions/exec_1/trace?view=tree&_refresh=1",
        &format!(
            "/api/executions/exec_1/trace/spans/{}?_refresh=1",
            span_id(2)
        ),
        "/api/executions?_refresh=1&foo=bar",
        "/api/workflows/wf_email/executions?limit=50&_refresh=1",
    ] {
        let answer = app.get(path, token).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    for (path, code) in [
        (
            "/api/executions/exec_1/trace?view=sideways&_refresh=1",
            "invalid_request",
        ),
        (
            "/api/executions/exec_1/trace?limit=0&_refresh=1",
            "invalid_request",
        ),
        (
            "/api/executions/exec_1/trace?cursor=x1&_refresh=1",
            "invalid_cursor",
        ),
        ("/api/executions?limit=0&foo=bar", "invalid_request"),
        (
            "/api/workflows/wf_email/executions?limit=0&_refresh=1",
            "invalid_request",
        ),
    ] {
        app.expect_error(path, token, 400, code).await;
    }
    // The OpenAPI document still lists only the known keys.
    let doc = app.get("/api/openapi.json", None).await.json();
    let params = doc["paths"]["/api/executions/{execution_id}/trace"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(
        params,
        [
            "execution_id",
            "view",
            "include_content",
            "depth",
            "limit",
            "cursor"
        ]
    );
}

/// An execution of `workflow` started `seconds` after the epoch of the tests.
fn run(app: &TestApp, id: &str, tenant: &str, workflow: &str, seconds: u64) {
    let id = ExecutionId::new(id).unwrap();
    app.store
        .start_execution(&NewExecution {
            id: id.clone(),
            workflow_id: Some(workflow.to_owned()),
            workflow_version: Some("1".to_owned()),
            tenant: Some(tenant.to_owned()),
            triggered_by: Some("manual".to_owned()),
            started_at: at(seconds),
            trace: Some(TraceLink {
                trace_id: trace_id(3),
                traceparent: format!("00-{}-{}-01", trace_id(3), span_id(1)),
            }),
        })
        .unwrap();
}

async fn workflow_run_list_is_run_history_newest_first_and_tenant_scoped(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    run(&app, "run_old", "acme", "wf_news", 10);
    run(&app, "run_new", "acme", "wf_news", 30);
    run(&app, "run_mid", "acme", "wf_news", 20);
    run(&app, "run_other_wf", "acme", "wf_other", 40);
    run(&app, "run_globex", "globex", "wf_news", 50);
    app.store
        .finish_execution(
            &ExecutionId::new("run_mid").unwrap(),
            ExecutionStatus::Error,
            Some("boom"),
            at(25),
        )
        .unwrap();
    let path = "/api/workflows/wf_news/executions?limit=50";
    let answer = app.get(path, Some(STATIC_TOKEN)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let runs = answer.json();
    let ids = |runs: &Value| {
        runs.as_array()
            .expect("a JSON array")
            .iter()
            .map(|r| r["execution_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&runs), ["run_new", "run_mid", "run_old"]);
    let mid = &runs[1];
    assert_eq!(
        *mid,
        json!({
            "execution_id": "run_mid", "workflow_id": "wf_news", "status": "error",
            "started_at": mid["started_at"], "completed_at": mid["completed_at"],
            "error": "boom", "inputs": {}, "runnable_config": {}, "tags": [], "callbacks": [],
            "metadata": {}, "run_name": null, "steps": []
        })
    );
    assert!(is_time(&mid["started_at"]) && is_time(&mid["completed_at"]));
    assert_eq!(runs[0]["completed_at"], Value::Null);
    // `limit` keeps the newest.
    let two = app
        .get(
            "/api/workflows/wf_news/executions?limit=2",
            Some(STATIC_TOKEN),
        )
        .await
        .json();
    assert_eq!(ids(&two), ["run_new", "run_mid"]);
    // Another tenant sees its own run only; an admin sees every tenant's.
    let globex = app
        .get(path, Some(&jwt("globex", "traces:read")))
        .await
        .json();
    assert_eq!(ids(&globex), ["run_globex"]);
    let admin = app
        .get(path, Some(&jwt("ops", "traces:admin")))
        .await
        .json();
    assert_eq!(ids(&admin), ["run_globex", "run_new", "run_mid", "run_old"]);
    // An unknown workflow is an empty list; no token, 401; bad limits, 400.
    let none = app
        .get(
            "/api/workflows/wf_nope/executions?limit=50",
            Some(STATIC_TOKEN),
        )
        .await;
    assert_eq!((none.status, none.json()), (200, json!([])));
    app.expect_error(path, None, 401, "unauthenticated").await;
    for limit in ["0", "201", "x"] {
        app.expect_error(
            &format!("/api/workflows/wf_news/executions?limit={limit}"),
            Some(STATIC_TOKEN),
            400,
            "invalid_request",
        )
        .await;
    }
    let max = app
        .get(
            "/api/workflows/wf_news/executions?limit=200",
            Some(STATIC_TOKEN),
        )
        .await;
    assert_eq!(max.status, 200, "{}", max.text);
}

/// Spans ids of a flat answer, checked to be new to `seen`.
fn collect_ids(body: &Value, seen: &mut HashSet<String>) {
    for span in body["spans"].as_array().unwrap() {
        let id = span["span_id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "span {id} served twice");
    }
}

async fn a_ten_thousand_span_trace_comes_whole_in_one_answer(db: Db) {
    let Some(app) = patient_app(db).await else {
        return;
    };
    let trace = trace_id(9);
    // A root and 9,999 nodes.
    app.tempo.put(trace, &otlp_trace(trace, "exec_10k", 9_999));
    app.execution("exec_10k", "acme", Some(trace), ExecutionStatus::Completed);
    let answer = app
        .get(
            "/api/executions/exec_10k/trace?_refresh=1",
            Some(STATIC_TOKEN),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let mut seen = HashSet::new();
    collect_ids(&body, &mut seen);
    assert_eq!(seen.len(), 10_000);
    assert_eq!(
        body["page_info"],
        json!({"has_next_page": false, "cursor": null})
    );
    assert_eq!(
        (&body["truncated"], &body["span_count"]),
        (&json!(false), &json!(10_000))
    );
    assert!(
        !body["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "truncated"),
        "{}",
        body["anomalies"]
    );
    // The tree view keeps its own page size.
    let tree = app
        .get(
            "/api/executions/exec_10k/trace?view=tree",
            Some(STATIC_TOKEN),
        )
        .await
        .json();
    assert_eq!(tree["page_info"]["has_next_page"], true);
}

async fn a_larger_trace_is_cut_says_so_and_pages_on(db: Db) {
    let Some(app) = patient_app(db).await else {
        return;
    };
    let trace = trace_id(10);
    // A root and 10,000 nodes: one span more than an answer holds.
    app.tempo.put(trace, &otlp_trace(trace, "exec_big", 10_000));
    app.execution("exec_big", "acme", Some(trace), ExecutionStatus::Completed);
    let first = app
        .get(
            "/api/executions/exec_big/trace?_refresh=1",
            Some(STATIC_TOKEN),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    let mut seen = HashSet::new();
    collect_ids(&first, &mut seen);
    assert_eq!(seen.len(), 10_000);
    assert_eq!(first["page_info"]["has_next_page"], true);
    assert_eq!(
        (&first["truncated"], &first["span_count"]),
        (&json!(true), &json!(10_001))
    );
    let cursor = first["page_info"]["cursor"].as_str().unwrap();
    let note = first["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "truncated")
        .unwrap_or_else(|| panic!("no truncated anomaly: {}", first["anomalies"]));
    let detail = note["detail"].as_str().unwrap();
    assert!(
        detail.contains("10000 of 10001") && detail.contains(cursor),
        "{detail}"
    );
    let rest = app
        .get(
            &format!("/api/executions/exec_big/trace?cursor={cursor}&_refresh=2"),
            Some(STATIC_TOKEN),
        )
        .await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    let rest = rest.json();
    assert_canvas_shape(&rest);
    collect_ids(&rest, &mut seen);
    assert_eq!(seen.len(), 10_001, "every span on exactly one page");
    assert_eq!(
        rest["page_info"],
        json!({"has_next_page": false, "cursor": null})
    );
    assert_eq!(rest["truncated"], false);
}
