//! `GET /api/executions/compare`: two runs compared, with the trace route's authorization,
//! content scope and bounds.

use orcheo_trace_model::ExecutionStatus;

use crate::helpers::{Db, TestApp, jwt, on_each_backend, otlp_trace, spawn_app, trace_id};

on_each_backend!(
    two_runs_are_compared_node_by_node,
    a_run_compared_with_itself_is_all_same,
    missing_or_malformed_ids_are_refused,
    another_tenants_run_is_not_found_on_either_side,
    prompt_diffs_need_the_content_scope,
    a_run_past_the_bound_is_refused_with_422,
);

/// Runs `exec_a` (two LLM nodes) and `exec_b` (three, the first with another prompt), of
/// tenant `acme`.
fn seed_pair(app: &TestApp) {
    app.seed("exec_a", "acme", 1, 2, ExecutionStatus::Completed);
    let b = trace_id(2);
    let mut otlp = otlp_trace(b, "exec_b", 3);
    otlp["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["events"][0]["attributes"][0]["value"]
        ["stringValue"] = "Write to the customer today".into();
    app.tempo.put(b, &otlp);
    app.execution("exec_b", "acme", Some(b), ExecutionStatus::Completed);
}

async fn two_runs_are_compared_node_by_node(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    seed_pair(&app);
    let token = jwt("acme", "traces:read traces:read_content");
    let answer = app
        .get("/api/executions/compare?a=exec_a&b=exec_b", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let doc = answer.json();
    let openapi = app.get("/api/openapi.json", None).await.json();
    let schema = &openapi["paths"]["/api/executions/compare"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    let broken = crate::schema::violations(&openapi, schema, &doc);
    assert!(broken.is_empty(), "{}\n{doc:#}", broken.join("\n"));
    assert_eq!(doc["a"]["id"], "exec_a");
    assert_eq!(doc["b"]["id"], "exec_b");
    assert_eq!(doc["a"]["status"], "completed");
    assert_eq!(doc["content_included"], true);
    let changes: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["same", "changed", "same", "added"]);
    assert_eq!(doc["counts"]["added"], 1);
    assert_eq!(doc["nodes"][3]["b"]["name"], "Draft Email 2");
    assert_eq!(doc["nodes"][3]["a"], serde_json::Value::Null);
    assert_eq!(doc["nodes"][3]["parent"], 0);
    assert_eq!(doc["nodes"][1]["changes"], serde_json::json!(["content"]));
    // One more LLM call: 100 input and 20 output tokens of gpt-4o more.
    assert_eq!(doc["delta"]["input_tokens"], 100);
    assert_eq!(doc["delta"]["output_tokens"], 20);
    let usd = doc["delta"]["cost_usd"].as_f64().unwrap();
    assert!(
        (usd - (100.0 * 2.5 + 20.0 * 10.0) / 1e6).abs() < 1e-12,
        "{usd}"
    );
    assert_eq!(doc["totals_b"]["span_count"], 4);
    assert!(doc["totals_a"]["cost"]["usd"].as_f64().is_some());
    assert_eq!(doc["nodes"][1]["a"]["status"], "OK");
    assert!(doc["nodes"][1]["delta"]["duration_ms"].is_number());
}

async fn a_run_compared_with_itself_is_all_same(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_a", "acme", 1, 2, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read traces:read_content");
    let doc = app
        .get("/api/executions/compare?a=exec_a&b=exec_a", Some(&token))
        .await
        .json();
    assert_eq!(doc["counts"]["same"], 3, "{doc}");
    assert_eq!(doc["counts"]["changed"], 0);
    assert_eq!(doc["delta"]["cost_usd"], 0.0);
}

async fn missing_or_malformed_ids_are_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_a", "acme", 1, 1, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read");
    for query in ["", "?a=exec_a", "?b=exec_a", "?a=&b=exec_a"] {
        let answer = app
            .expect_error(
                &format!("/api/executions/compare{query}"),
                Some(&token),
                400,
                "invalid_request",
            )
            .await;
        assert!(answer.text.contains("is required"), "{}", answer.text);
    }
    app.expect_error(
        "/api/executions/compare?a=exec_a&b=not%20an%20id",
        Some(&token),
        400,
        "invalid_execution_id",
    )
    .await;
    let unauthenticated = app
        .get("/api/executions/compare?a=exec_a&b=exec_a", None)
        .await;
    assert_eq!(unauthenticated.status, 401);
    // The path is the comparison's alone, not an execution id.
    let bearer = format!("Bearer {token}");
    let post = app
        .request(
            reqwest::Method::POST,
            "/api/executions/compare?a=exec_a&b=exec_a",
            &[("authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

async fn another_tenants_run_is_not_found_on_either_side(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_a", "acme", 1, 1, ExecutionStatus::Completed);
    app.seed("exec_g", "globex", 2, 1, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read traces:read_content");
    for query in [
        "a=exec_a&b=exec_g",
        "a=exec_g&b=exec_a",
        "a=exec_a&b=exec_nope",
    ] {
        let answer = app
            .expect_error(
                &format!("/api/executions/compare?{query}"),
                Some(&token),
                404,
                "not_found",
            )
            .await;
        assert!(!answer.text.contains("globex"), "{}", answer.text);
    }
    let admin = jwt("acme", "traces:read traces:admin");
    let answer = app
        .get("/api/executions/compare?a=exec_a&b=exec_g", Some(&admin))
        .await;
    assert_eq!(
        answer.status, 200,
        "an administrator sees every tenant's runs"
    );
}

async fn prompt_diffs_need_the_content_scope(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    seed_pair(&app);
    let with = app
        .get(
            "/api/executions/compare?a=exec_a&b=exec_b",
            Some(&jwt("acme", "traces:read traces:read_content")),
        )
        .await
        .json();
    let parts = &with["nodes"][1]["diff"]["prompt"]["parts"];
    assert_eq!(
        parts,
        &serde_json::json!([
            {"op": "equal", "text": "[user]\nWrite to the customer"},
            {"op": "insert", "text": " today"},
            {"op": "equal", "text": "\n"}
        ]),
        "{with}"
    );
    assert_eq!(with["nodes"][1]["diff"]["prompt"]["truncated"], false);
    for (token, query) in [
        (jwt("acme", "traces:read"), ""),
        (
            jwt("acme", "traces:read traces:read_content"),
            "&include_content=false",
        ),
    ] {
        let without = app
            .get(
                &format!("/api/executions/compare?a=exec_a&b=exec_b{query}"),
                Some(&token),
            )
            .await;
        assert_eq!(without.status, 200, "{}", without.text);
        let doc = without.json();
        assert_eq!(doc["content_included"], false);
        assert!(doc["nodes"][1].get("diff").is_none());
        assert_eq!(doc["nodes"][1]["change"], "same");
        assert!(!without.text.contains("Write to the customer"));
    }
}

async fn a_run_past_the_bound_is_refused_with_422(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_a", "acme", 1, 1, ExecutionStatus::Completed);
    // A root and 10,000 nodes: one span past the bound.
    app.seed("exec_big", "acme", 2, 10_000, ExecutionStatus::Completed);
    let answer = app
        .expect_error(
            "/api/executions/compare?a=exec_a&b=exec_big",
            Some(&jwt("acme", "traces:read")),
            422,
            "trace_too_large",
        )
        .await;
    assert!(
        answer.text.contains("run exec_big has 10001 spans"),
        "{}",
        answer.text
    );
}
