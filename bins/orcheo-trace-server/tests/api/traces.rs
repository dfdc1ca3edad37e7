//! `GET /api/executions/{id}/trace` and `…/spans/{span_id}`.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use orcheo_trace_model::ExecutionStatus;
use serde_json::Value;

use crate::helpers::{
    Db, Options, StoreMode, jwt, on_each_backend, span_id, spawn_app, spawn_app_with,
};

on_each_backend!(
    finished_trace_is_served_as_a_tree,
    flat_view_is_orcheo_shape,
    malformed_ids_are_400,
    unknown_and_other_tenants_executions_look_the_same,
    execution_without_trace_is_trace_unavailable,
    content_is_withheld_without_the_scope_or_when_asked,
    store_down_with_summaries_is_degraded,
    store_down_without_summaries_is_503_with_retry_after,
    the_store_retry_after_is_passed_on_within_a_cap,
    store_garbage_is_502,
    a_request_past_its_time_limit_is_503_timeout,
    finished_traces_are_cached,
    a_trace_opened_as_its_run_ends_is_cached,
    running_execution_with_nothing_exported_yet_is_empty,
    huge_trace_pages_without_gaps_or_repeats,
    depth_limits_the_tree_and_keeps_child_counts,
    one_span_in_full,
    foreign_content_is_redacted_before_it_is_served,
);

async fn finished_trace_is_served_as_a_tree(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let trace_id = app.seed("exec_1", "acme", 1, 2, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read traces:read_content");
    let answer = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.header("x-request-id").is_some());
    let body = answer.json();
    let execution = &body["execution"];
    assert_eq!(execution["id"], "exec_1");
    assert_eq!(execution["status"], "completed");
    assert_eq!(execution["trigger"], "manual");
    assert_eq!(execution["trace_id"], trace_id.to_string());
    assert_eq!(execution["duration_ms"], 12_000.0);
    assert_eq!(execution["token_usage"]["total"], 240);
    assert_eq!(execution["span_count"], 3);
    let root = &body["root"];
    assert_eq!(root["name"], "workflow.execution");
    assert_eq!(root["kind"], "workflow");
    assert_eq!(root["child_count"], 2);
    let child = &root["children"][0];
    assert_eq!(child["kind"], "llm");
    assert_eq!(child["prompts"][0]["content"], "Write to the customer");
    assert_eq!(child["responses"][0]["content"], "Dear customer");
    assert_eq!(child["model"]["request"], "gpt-4o");
    assert_eq!(
        body["dashboards"]["tempo"],
        format!("https://grafana.example.com/explore?traceId={trace_id}")
    );
    assert_eq!(body["source"]["backend"], "tempo");
    assert_eq!(body["source"]["degraded"], false);
    assert_eq!(body["page_info"]["has_next_page"], false);
    insta::assert_json_snapshot!("tree_response", body, {
        ".execution.started_at" => "[time]",
        ".execution.finished_at" => "[time]",
    });
}

async fn flat_view_is_orcheo_shape(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 2, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read_content");
    let body = app
        .get("/api/executions/exec_1/trace?view=flat", Some(&token))
        .await
        .json();
    let spans = body["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    for span in spans {
        for key in [
            "span_id",
            "parent_span_id",
            "name",
            "start_time",
            "end_time",
            "attributes",
            "events",
            "status",
            "links",
        ] {
            assert!(span.get(key).is_some(), "{key} missing in {span}");
        }
    }
    assert_eq!(spans[0]["status"]["code"], "OK");
    assert_eq!(spans[1]["attributes"]["orcheo.node.kind"], "llm");
    assert_eq!(body["execution"]["id"], "exec_1");
    assert!(body.get("root").is_none());
}

async fn malformed_ids_are_400(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read");
    let long = "x".repeat(300);
    app.expect_error(
        &format!("/api/executions/{long}/trace?view=tree"),
        Some(&token),
        400,
        "invalid_execution_id",
    )
    .await;
    app.expect_error(
        "/api/executions/exec_1/trace/spans/not-hex",
        Some(&token),
        400,
        "invalid_span_id",
    )
    .await;
    app.expect_error(
        "/api/executions/exec_1/trace?view=sideways",
        Some(&token),
        400,
        "invalid_request",
    )
    .await;
    app.expect_error(
        "/api/executions/exec_1/trace?view=tree&cursor=x1",
        Some(&token),
        400,
        "invalid_cursor",
    )
    .await;
    // Past the end: an empty last page.
    let past = app
        .get(
            "/api/executions/exec_1/trace?view=flat&cursor=o999",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(past["spans"].as_array().unwrap().len(), 0);
    assert_eq!(past["page_info"]["has_next_page"], false);
    let answer = app
        .get(
            "/api/executions/exec_1/trace?view=tree&limit=0",
            Some(&token),
        )
        .await;
    assert_eq!(answer.status, 400);
}

async fn unknown_and_other_tenants_executions_look_the_same(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_globex", "globex", 1, 1, ExecutionStatus::Completed);
    let acme = jwt("acme", "traces:read traces:read_content");
    let other = app
        .get("/api/executions/exec_globex/trace?view=tree", Some(&acme))
        .await;
    let unknown = app
        .get("/api/executions/exec_nope/trace?view=tree", Some(&acme))
        .await;
    assert_eq!((other.status, unknown.status), (404, 404));
    assert_eq!(other.error_code(), unknown.error_code());
    let message = |a: &crate::helpers::Answer| {
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("exec_globex", "X")
            .replace("exec_nope", "X")
    };
    assert_eq!(
        message(&other),
        message(&unknown),
        "the answers must not tell them apart"
    );
    // Not via the span route or the list either.
    let span = app
        .get(
            &format!("/api/executions/exec_globex/trace/spans/{}", span_id(1)),
            Some(&acme),
        )
        .await;
    assert_eq!(span.status, 404);
    let list = app.get("/api/executions", Some(&acme)).await.json();
    assert_eq!(list["executions"].as_array().unwrap().len(), 0);
    // Its own tenant and an admin see it.
    let globex = jwt("globex", "traces:read");
    assert_eq!(
        app.get("/api/executions/exec_globex/trace?view=tree", Some(&globex))
            .await
            .status,
        200
    );
    let admin = jwt("acme", "traces:admin");
    assert_eq!(
        app.get("/api/executions/exec_globex/trace?view=tree", Some(&admin))
            .await
            .status,
        200
    );
}

async fn execution_without_trace_is_trace_unavailable(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution("exec_untraced", "acme", None, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read");
    app.expect_error(
        "/api/executions/exec_untraced/trace?view=tree",
        Some(&token),
        404,
        "trace_unavailable",
    )
    .await;
    // A trace id the store does not know, on a finished run: also unavailable.
    app.execution(
        "exec_lost",
        "acme",
        Some(crate::helpers::trace_id(9)),
        ExecutionStatus::Completed,
    );
    app.expect_error(
        "/api/executions/exec_lost/trace?view=tree",
        Some(&token),
        404,
        "trace_unavailable",
    )
    .await;
}

async fn content_is_withheld_without_the_scope_or_when_asked(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let prompt = |body: &Value| body["root"]["children"][0]["prompts"][0].clone();
    let reader = jwt("acme", "traces:read");
    let withheld = prompt(
        &app.get("/api/executions/exec_1/trace?view=tree", Some(&reader))
            .await
            .json(),
    );
    assert_eq!(withheld["content"], Value::Null);
    assert_eq!(withheld["withheld"], true);
    // Asking for content does not grant it.
    let still = prompt(
        &app.get(
            "/api/executions/exec_1/trace?view=tree&include_content=true",
            Some(&reader),
        )
        .await
        .json(),
    );
    assert_eq!(still["withheld"], true);
    let content_reader = jwt("acme", "traces:read traces:read_content");
    let shown = prompt(
        &app.get(
            "/api/executions/exec_1/trace?view=tree",
            Some(&content_reader),
        )
        .await
        .json(),
    );
    assert_eq!(shown["content"], "Write to the customer");
    let declined = prompt(
        &app.get(
            "/api/executions/exec_1/trace?view=tree&include_content=false",
            Some(&content_reader),
        )
        .await
        .json(),
    );
    assert_eq!(declined["withheld"], true);
    // The flat view and the span route withhold too: no preview text in events.
    let flat = app
        .get("/api/executions/exec_1/trace?view=flat", Some(&reader))
        .await;
    assert!(
        !flat.text.contains("Write to the customer"),
        "{}",
        flat.text
    );
    let span = app
        .get(
            &format!("/api/executions/exec_1/trace/spans/{}", span_id(2)),
            Some(&reader),
        )
        .await;
    assert!(
        !span.text.contains("Write to the customer"),
        "{}",
        span.text
    );
}

async fn store_down_with_summaries_is_degraded(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    app.summaries("exec_1");
    app.tempo.set_mode(StoreMode::Down);
    let token = jwt("acme", "traces:read");
    let answer = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["source"]["degraded"], true);
    assert!(
        body["source"]["reason"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );
    assert_eq!(body["root"]["name"], "workflow.execution");
    assert_eq!(body["root"]["children"][0]["name"], "Draft Email");
    assert_eq!(body["root"]["children"][0]["kind"], "llm");
    assert_eq!(body["execution"]["token_usage"]["input"], 100);
}

async fn store_down_without_summaries_is_503_with_retry_after(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    app.tempo.set_mode(StoreMode::Down);
    let answer = app
        .expect_error(
            "/api/executions/exec_1/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
            503,
            "trace_store_unavailable",
        )
        .await;
    let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
}

async fn the_store_retry_after_is_passed_on_within_a_cap(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    for (stated, told) in [(42, "42"), (86_400, "300")] {
        app.tempo.set_mode(StoreMode::DownFor(stated));
        let answer = app
            .expect_error(
                "/api/executions/exec_1/trace?view=tree",
                Some(&jwt("acme", "traces:read")),
                503,
                "trace_store_unavailable",
            )
            .await;
        assert_eq!(answer.header("retry-after"), Some(told), "{}", answer.text);
    }
}

async fn store_garbage_is_502(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    app.tempo.set_mode(StoreMode::Garbage);
    app.expect_error(
        "/api/executions/exec_1/trace?view=tree",
        Some(&jwt("acme", "traces:read")),
        502,
        "trace_store_error",
    )
    .await;
}

async fn finished_traces_are_cached(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_done", "acme", 1, 1, ExecutionStatus::Completed);
    app.seed("exec_running", "acme", 2, 1, ExecutionStatus::Running);
    let token = jwt("acme", "traces:read");
    for _ in 0..3 {
        assert_eq!(
            app.get("/api/executions/exec_done/trace?view=tree", Some(&token))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        app.tempo.fetches.load(Ordering::SeqCst),
        1,
        "a finished trace is fetched once"
    );
    // Still served from the cache when the store goes down.
    app.tempo.set_mode(StoreMode::Down);
    assert_eq!(
        app.get("/api/executions/exec_done/trace?view=tree", Some(&token))
            .await
            .status,
        200
    );
    app.tempo.set_mode(StoreMode::Up);
    for _ in 0..2 {
        assert_eq!(
            app.get("/api/executions/exec_running/trace?view=tree", Some(&token))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        app.tempo.fetches.load(Ordering::SeqCst),
        3,
        "a running one is fetched every time"
    );
}

/// The usual case: Canvas opens the trace as soon as the run is over.
async fn a_trace_opened_as_its_run_ends_is_cached(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_fresh", "acme", 1, 1, ExecutionStatus::Running);
    app.store
        .finish_execution(
            &orcheo_trace_model::ExecutionId::new("exec_fresh").unwrap(),
            ExecutionStatus::Completed,
            None,
            orcheo_trace_model::Timestamp::now(),
        )
        .unwrap();
    let token = jwt("acme", "traces:read");
    for _ in 0..3 {
        let answer = app
            .get("/api/executions/exec_fresh/trace?view=flat", Some(&token))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["execution"]["status"], "completed");
    }
    assert_eq!(
        app.tempo.fetches.load(Ordering::SeqCst),
        1,
        "fetched once, for the 30 s in which late spans may still arrive"
    );
}

async fn running_execution_with_nothing_exported_yet_is_empty(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution(
        "exec_new",
        "acme",
        Some(crate::helpers::trace_id(7)),
        ExecutionStatus::Running,
    );
    let answer = app
        .get(
            "/api/executions/exec_new/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["root"], Value::Null);
    assert_eq!(body["execution"]["status"], "running");
    assert_eq!(body["execution"]["span_count"], 0);
}

fn collect_ids(node: &Value, into: &mut Vec<String>) {
    into.push(node["span_id"].as_str().unwrap().to_owned());
    for child in node["children"].as_array().unwrap() {
        collect_ids(child, into);
    }
}

async fn huge_trace_pages_without_gaps_or_repeats(db: Db) {
    let options = Options {
        page_max_spans: Some(10),
        ..Options::default()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    app.seed("exec_big", "acme", 1, 24, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read");
    for view in ["tree", "flat"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                None => format!("/api/executions/exec_big/trace?view={view}"),
                Some(c) => format!("/api/executions/exec_big/trace?view={view}&cursor={c}"),
            };
            let body = app.get(&path, Some(&token)).await.json();
            pages += 1;
            if view == "tree" {
                if !body["root"].is_null() {
                    collect_ids(&body["root"], &mut seen);
                }
                for subtree in body["subtrees"].as_array().unwrap() {
                    collect_ids(subtree, &mut seen);
                }
            } else {
                for span in body["spans"].as_array().unwrap() {
                    seen.push(span["span_id"].as_str().unwrap().to_owned());
                }
            }
            match body["page_info"]["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(pages < 10, "paging does not end");
        }
        assert_eq!(pages, 3, "{view}: 25 spans in pages of 10");
        let distinct: HashSet<_> = seen.iter().collect();
        assert_eq!(
            (seen.len(), distinct.len()),
            (25, 25),
            "{view}: every span once"
        );
    }
    // A client's smaller limit is honoured; a larger one is capped.
    let body = app
        .get(
            "/api/executions/exec_big/trace?view=flat&limit=4",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(body["spans"].as_array().unwrap().len(), 4);
    let body = app
        .get(
            "/api/executions/exec_big/trace?view=flat&limit=1000",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(body["spans"].as_array().unwrap().len(), 10);
}

async fn depth_limits_the_tree_and_keeps_child_counts(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 3, ExecutionStatus::Completed);
    let body = app
        .get(
            "/api/executions/exec_1/trace?view=tree&depth=0",
            Some(&jwt("acme", "traces:read")),
        )
        .await
        .json();
    assert_eq!(body["root"]["child_count"], 3);
    assert_eq!(body["root"]["children"].as_array().unwrap().len(), 0);
}

async fn one_span_in_full(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 2, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read_content");
    let answer = app
        .get(
            &format!("/api/executions/exec_1/trace/spans/{}", span_id(3)),
            Some(&token),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["execution_id"], "exec_1");
    assert_eq!(body["span"]["name"], "Draft Email 1");
    assert_eq!(body["span"]["attributes"]["gen_ai.request.model"], "gpt-4o");
    assert_eq!(body["span"]["responses"][0]["content"], "Dear customer");
    let missing = app
        .get(
            &format!("/api/executions/exec_1/trace/spans/{}", span_id(99)),
            Some(&token),
        )
        .await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "not_found")
    );
}

async fn a_request_past_its_time_limit_is_503_timeout(db: Db) {
    let options = Options {
        request_timeout: Some(std::time::Duration::from_millis(500)),
        ..Options::default()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    app.tempo.set_mode(StoreMode::Hanging);
    let answer = app
        .expect_error(
            "/api/executions/exec_1/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
            503,
            "timeout",
        )
        .await;
    assert!(answer.header("x-request-id").is_some());
    // The server goes on serving.
    app.tempo.set_mode(StoreMode::Up);
    assert_eq!(app.get("/healthz", None).await.status, 200);
}

async fn foreign_content_is_redacted_before_it_is_served(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let trace_id = crate::helpers::trace_id(8);
    let mut trace = crate::helpers::otlp_trace(trace_id, "exec_raw", 1);
    let child = &mut trace["resourceSpans"][0]["scopeSpans"][0]["spans"][1];
    child["events"][0]["attributes"][0]["value"]["stringValue"] =
        "Write to ada@example.com about ORDER-1042".into();
    child["attributes"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"key": "input.value", "value": {"stringValue": "api_key=sk-live-123456"}}));
    app.tempo.put(trace_id, &trace);
    app.execution(
        "exec_raw",
        "acme",
        Some(trace_id),
        ExecutionStatus::Completed,
    );
    let answer = app
        .get(
            "/api/executions/exec_raw/trace?view=tree",
            Some(&jwt("acme", "traces:read_content")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    for secret in ["ada@example.com", "ORDER-1042", "sk-live-123456"] {
        assert!(
            !answer.text.contains(secret),
            "{secret} served: {}",
            answer.text
        );
    }
    let body = answer.json();
    let prompts = body["root"]["children"][0]["prompts"].as_array().unwrap();
    assert!(prompts.iter().all(|p| p["redacted"] == true), "{prompts:?}");
    assert!(
        prompts
            .iter()
            .any(|p| p["content"].as_str().unwrap().starts_with("Write to ")),
        "the rest of the text stays: {prompts:?}"
    );
}
