//! `GET /api/executions`.

use orcheo_trace_model::{ExecutionId, ExecutionStatus, SpanSummary, StatusCode};
use orcheo_trace_store::NewExecution;

use crate::helpers::{Db, TestApp, at, jwt, on_each_backend, span_id, spawn_app};

on_each_backend!(
    list_is_tenant_scoped_filtered_and_paged,
    list_carries_token_span_and_error_totals_of_recorded_spans,
    list_tells_a_failed_run_from_a_run_whose_step_failed,
    workflows_are_suggested_by_prefix_within_the_callers_tenant,
);

/// A run of `workflow` in `tenant`, started at `started` seconds.
fn run(app: &TestApp, id: &str, workflow: &str, tenant: &str, started: u64) {
    app.store
        .start_execution(&NewExecution {
            id: ExecutionId::new(id).unwrap(),
            workflow_id: Some(workflow.to_owned()),
            workflow_version: None,
            tenant: Some(tenant.to_owned()),
            triggered_by: None,
            started_at: at(started),
            trace: None,
        })
        .unwrap();
}

/// The ids a list answer holds, sorted.
fn ids(body: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn list_tells_a_failed_run_from_a_run_whose_step_failed(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution("failed", "default", None, ExecutionStatus::Error);
    app.execution("recovered", "default", None, ExecutionStatus::Completed);
    app.execution("clean", "default", None, ExecutionStatus::Completed);
    let summary = |execution: &str, span: u64, failed: bool| SpanSummary {
        execution_id: ExecutionId::new(execution).unwrap(),
        span_id: span_id(span),
        parent_span_id: (span > 1).then(|| span_id(1)),
        name: format!("node {span}"),
        kind: "task".to_owned(),
        start_time: at(span),
        end_time: Some(at(span + 1)),
        status_code: if failed {
            StatusCode::Error
        } else {
            StatusCode::Ok
        },
        status_message: None,
        input_tokens: None,
        output_tokens: None,
        cached_input_tokens: None,
        model: None,
        provider: None,
    };
    app.store
        .record_summaries(&[
            // The failed run's root inherits its node's failure.
            summary("failed", 1, true),
            summary("failed", 2, true),
            summary("recovered", 1, false),
            summary("recovered", 2, true),
            summary("clean", 1, false),
        ])
        .unwrap();
    let token = jwt("default", "traces:read");
    let list = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let answer = app
                .get(&format!("/api/executions?{query}"), Some(token))
                .await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.text);
            answer.json()
        }
    };
    assert_eq!(ids(&list("has_error=true").await), ["failed"]);
    assert_eq!(
        ids(&list("has_failing_span=true").await),
        ["failed", "recovered"]
    );
    assert_eq!(
        ids(&list("has_error=false&has_failing_span=false").await),
        ["clean"]
    );
    let body = list("has_failing_span=true").await;
    let errors: Vec<(String, u64)> = body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["error_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        errors.iter().all(|(_, n)| *n == 1),
        "a root that only inherits the failure is not counted: {errors:?}"
    );
    let answer = app
        .get("/api/executions?has_failing_span=maybe", Some(&token))
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    // An empty value is no filter, as for the other parameters.
    assert_eq!(ids(&list("has_error=&has_failing_span=").await).len(), 3);
}

async fn workflows_are_suggested_by_prefix_within_the_callers_tenant(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    run(&app, "a1", "wf_invoice", "acme", 1);
    run(&app, "a2", "wf_invoice", "acme", 5);
    run(&app, "a3", "wf_intake", "acme", 3);
    run(&app, "a4", "wf_support", "acme", 4);
    run(&app, "g1", "wf_invoice_globex", "globex", 9);
    let acme = jwt("acme", "traces:read");
    let answer = app.get("/api/workflows?prefix=wf_in", Some(&acme)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(
        body["workflows"],
        serde_json::json!([
            {"workflow_id": "wf_invoice", "execution_count": 2, "last_started_at": body["workflows"][0]["last_started_at"]},
            {"workflow_id": "wf_intake", "execution_count": 1, "last_started_at": body["workflows"][1]["last_started_at"]},
        ])
    );
    assert_eq!(
        body["workflows"][0]["last_started_at"],
        serde_json::to_value(at(5)).unwrap()
    );
    // Every workflow of the caller's tenant without a prefix; another tenant's never.
    let all = app.get("/api/workflows?limit=10", Some(&acme)).await.json();
    let names: Vec<&str> = all["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["workflow_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wf_invoice", "wf_support", "wf_intake"]);
    let globex = jwt("globex", "traces:read");
    let body = app
        .get("/api/workflows?prefix=wf_inv", Some(&globex))
        .await
        .json();
    assert_eq!(body["workflows"][0]["workflow_id"], "wf_invoice_globex");
    assert_eq!(body["workflows"].as_array().unwrap().len(), 1);
    let admin = jwt("acme", "traces:admin");
    let body = app
        .get("/api/workflows?prefix=wf_inv", Some(&admin))
        .await
        .json();
    assert_eq!(body["workflows"].as_array().unwrap().len(), 2);
    assert_eq!(app.get("/api/workflows", None).await.status, 401);
    for bad in [
        "limit=0",
        "limit=101",
        &format!("prefix={}", "w".repeat(257)),
    ] {
        let answer = app.get(&format!("/api/workflows?{bad}"), Some(&acme)).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
    }

    // The list by prefix: the caller's runs of every workflow that starts with it.
    let body = app
        .get("/api/executions?workflow_prefix=wf_in", Some(&acme))
        .await
        .json();
    assert_eq!(ids(&body), ["a1", "a2", "a3"]);
    let body = app
        .get("/api/executions?workflow_prefix=wf%25", Some(&acme))
        .await
        .json();
    assert_eq!(
        ids(&body),
        Vec::<String>::new(),
        "% is a character, not a pattern"
    );
    let body = app
        .get("/api/executions?workflow_prefix=wf_inv", Some(&globex))
        .await
        .json();
    assert_eq!(ids(&body), ["g1"]);
}

async fn list_carries_token_span_and_error_totals_of_recorded_spans(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution("with_spans", "default", None, ExecutionStatus::Completed);
    app.execution("no_spans", "default", None, ExecutionStatus::Running);
    app.summaries("with_spans");
    let body = app
        .get("/api/executions", Some(&jwt("default", "traces:read")))
        .await
        .json();
    let by_id = |id: &str| {
        body["executions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap()
    };
    let with = by_id("with_spans");
    assert_eq!(
        with["token_usage"],
        serde_json::json!({"input": 100, "output": 20, "total": 120})
    );
    assert_eq!(
        (with["span_count"].as_u64(), with["error_count"].as_u64()),
        (Some(2), Some(0))
    );
    let without = by_id("no_spans");
    assert!(without.get("token_usage").is_none(), "{without}");
    assert!(without.get("span_count").is_none(), "{without}");
}

async fn list_is_tenant_scoped_filtered_and_paged(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    for i in 0..5 {
        app.execution(
            &format!("acme_{i}"),
            "acme",
            None,
            if i == 2 {
                ExecutionStatus::Error
            } else {
                ExecutionStatus::Completed
            },
        );
    }
    app.execution("globex_0", "globex", None, ExecutionStatus::Completed);
    let acme = jwt("acme", "traces:read");
    let mut ids = Vec::new();
    let mut path = "/api/executions?limit=2".to_owned();
    loop {
        let answer = app.get(&path, Some(&acme)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        for e in body["executions"].as_array().unwrap() {
            assert_eq!(e["tenant"], "acme");
            ids.push(e["id"].as_str().unwrap().to_owned());
        }
        match body["page_info"]["cursor"].as_str() {
            Some(cursor) => path = format!("/api/executions?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(ids, ["acme_0", "acme_1", "acme_2", "acme_3", "acme_4"]);
    // A non-admin naming another tenant still sees only its own.
    let body = app
        .get("/api/executions?tenant=globex", Some(&acme))
        .await
        .json();
    assert!(
        body["executions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant"] == "acme")
    );
    let admin = jwt("acme", "traces:admin");
    let body = app
        .get("/api/executions?tenant=globex", Some(&admin))
        .await
        .json();
    assert_eq!(body["executions"][0]["id"], "globex_0");
    let body = app
        .get("/api/executions?status=error", Some(&acme))
        .await
        .json();
    assert_eq!(body["executions"].as_array().unwrap().len(), 1);
    assert_eq!(body["executions"][0]["error"], "boom");
    let body = app
        .get(
            "/api/executions?has_error=true&workflow_id=wf_email",
            Some(&acme),
        )
        .await
        .json();
    assert_eq!(body["executions"].as_array().unwrap().len(), 1);
    let body = app
        .get(
            "/api/executions?started_after=2099-01-01T00:00:00Z",
            Some(&acme),
        )
        .await
        .json();
    assert_eq!(body["executions"].as_array().unwrap().len(), 0);
    for bad in [
        "status=paused",
        "started_after=yesterday",
        "cursor=nonsense",
        "limit=501",
    ] {
        let answer = app
            .get(&format!("/api/executions?{bad}"), Some(&acme))
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
    }
    // A key the route does not know is ignored, like a client's cache buster.
    let answer = app
        .get("/api/executions?color=red&limit=2", Some(&acme))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["executions"].as_array().unwrap().len(), 2);
}
