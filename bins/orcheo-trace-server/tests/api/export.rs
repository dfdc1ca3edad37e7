//! `GET /api/executions/{id}/export` and `orcheo-trace-server export`: the same authorization,
//! content scope and redaction as the trace route, whole traces only.

use orcheo_trace_model::ExecutionStatus;
use serde_json::Value;

use crate::helpers::{
    Db, Options, StoreMode, jwt, on_each_backend, spawn_app, spawn_app_with, trace_id,
};

on_each_backend!(
    a_csv_export_has_a_row_per_span_and_names_its_file,
    a_json_export_is_the_execution_and_its_whole_tree,
    an_export_follows_the_tenant_and_the_content_scope,
    a_trace_only_summaries_are_left_of_is_not_exported,
    the_command_line_exports_what_the_route_does,
);

fn rows(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap())
        .collect()
}

async fn a_csv_export_has_a_row_per_span_and_names_its_file(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let trace = app.seed("exec_1", "acme", 1, 3, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read traces:read_content");
    let answer = app
        .get("/api/executions/exec_1/export?format=csv", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        answer.header("content-disposition"),
        Some("attachment; filename=\"exec_1.trace.csv\"")
    );
    let rows = rows(&answer.text);
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|r| &r[0] == "exec_1" && r[1] == trace.to_string())
    );
    assert_eq!(&rows[1][5], "Draft Email 0");
    // Content is never in a CSV export, whatever the scope.
    assert!(!answer.text.contains("Write to the customer"));
    app.expect_error(
        "/api/executions/exec_1/export?format=xml",
        Some(&token),
        400,
        "invalid_request",
    )
    .await;
}

async fn a_json_export_is_the_execution_and_its_whole_tree(db: Db) {
    let Some(app) = spawn_app_with(
        db,
        Options {
            page_max_spans: Some(10),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    app.seed("exec_1", "acme", 1, 40, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read traces:read_content");
    let answer = app.get("/api/executions/exec_1/export", Some(&token)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let doc = answer.json();
    assert_eq!(doc["format"], "orcheo-trace-export");
    assert_eq!(doc["execution"]["id"], "exec_1");
    assert_eq!(doc["execution"]["status"], "completed");
    assert_eq!(doc["source"]["degraded"], false);
    // Whole, not a page: the trace route's page limit does not apply.
    assert_eq!(doc["root"]["children"].as_array().map(Vec::len), Some(40));
    assert_eq!(
        doc["root"]["children"][0]["prompts"][0]["content"],
        "Write to the customer"
    );
}

async fn an_export_follows_the_tenant_and_the_content_scope(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let other = jwt("globex", "traces:read traces:read_content");
    for format in ["json", "csv"] {
        app.expect_error(
            &format!("/api/executions/exec_1/export?format={format}"),
            Some(&other),
            404,
            "not_found",
        )
        .await;
    }
    let no_token = app.get("/api/executions/exec_1/export", None).await;
    assert_eq!(no_token.status, 401, "{}", no_token.text);
    let reader = jwt("acme", "traces:read");
    let doc = app
        .get("/api/executions/exec_1/export", Some(&reader))
        .await
        .json();
    let prompt = &doc["root"]["children"][0]["prompts"][0];
    assert_eq!(prompt["withheld"], true);
    assert_eq!(prompt["content"], Value::Null);
    let declined = app
        .get(
            "/api/executions/exec_1/export?include_content=false",
            Some(&jwt("acme", "traces:read traces:read_content")),
        )
        .await;
    assert!(!declined.text.contains("Write to the customer"));
    // An administrator sees every tenant's.
    let admin = jwt("ops", "traces:read traces:admin");
    let answer = app
        .get("/api/executions/exec_1/export?format=csv", Some(&admin))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

async fn a_trace_only_summaries_are_left_of_is_not_exported(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    app.summaries("exec_1");
    app.tempo.set_mode(StoreMode::Down);
    let token = jwt("acme", "traces:read");
    // The trace route answers from the summaries; an export does not pass them off as the trace.
    let trace = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&token))
        .await;
    assert_eq!(trace.json()["source"]["degraded"], true);
    let answer = app
        .expect_error(
            "/api/executions/exec_1/export?format=csv",
            Some(&token),
            503,
            "trace_store_unavailable",
        )
        .await;
    assert!(answer.header("retry-after").is_some());
}

async fn the_command_line_exports_what_the_route_does(db: Db) {
    let Some(app) = spawn_app_with(
        db,
        Options {
            embedded: true,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let trace = trace_id(7);
    app.execution("exec_cli", "acme", Some(trace), ExecutionStatus::Completed);
    app.local_spans(trace, "exec_cli", 2);
    let token = jwt("acme", "traces:read traces:read_content");
    let route = app
        .get("/api/executions/exec_cli/export?format=csv", Some(&token))
        .await;
    assert_eq!(route.status, 200, "{}", route.text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exec_cli.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args(["export", "exec_cli", "--format", "csv", "--output"])
        .arg(&file)
        .env_clear()
        .env("ORCHEO_DATABASE_URL", app.database_url())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(rows(&written), rows(&route.text));
    assert_eq!(rows(&written).len(), 3);
    // JSON on standard output; an unknown execution fails with a message.
    let json = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args(["export", "exec_cli"])
        .env_clear()
        .env("ORCHEO_DATABASE_URL", app.database_url())
        .output()
        .unwrap();
    assert!(json.status.success());
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["execution"]["id"], "exec_cli");
    assert_eq!(doc["root"]["children"].as_array().map(Vec::len), Some(2));
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args(["export", "no_such_run"])
        .env_clear()
        .env("ORCHEO_DATABASE_URL", app.database_url())
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no execution no_such_run"));
}
