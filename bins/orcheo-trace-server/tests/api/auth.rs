//! Who may call: bearer tokens, scopes, and the answers to those who may not.

use orcheo_trace_model::ExecutionStatus;

use crate::helpers::{Db, STATIC_TOKEN, jwt, on_each_backend, spawn_app};

on_each_backend!(tokens_are_required_and_checked);

async fn tokens_are_required_and_checked(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let path = "/api/executions/exec_1/trace";
    let none = app.get(path, None).await;
    assert_eq!(
        (none.status, none.error_code().as_str()),
        (401, "unauthenticated")
    );
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let bad = app.get(path, Some("not-a-token")).await;
    assert_eq!(bad.status, 401);
    let forged = jwt("acme", "traces:read").replace('.', ".x");
    assert_eq!(app.get(path, Some(&forged)).await.status, 401);
    let no_scope = app.get(path, Some(&jwt("acme", "profile"))).await;
    assert_eq!(
        (no_scope.status, no_scope.error_code().as_str()),
        (403, "forbidden")
    );
    // The static token of tenant acme, with content.
    let body = app.get(path, Some(STATIC_TOKEN)).await.json();
    assert_eq!(
        body["root"]["children"][0]["prompts"][0]["content"],
        "Write to the customer"
    );
    // A caller's request id comes back.
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .header("x-request-id", "canvas-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "canvas-req-42");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "canvas-req-42");
}
