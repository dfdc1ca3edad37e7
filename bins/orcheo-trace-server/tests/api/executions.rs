//! `GET /api/executions`.

use orcheo_trace_model::ExecutionStatus;

use crate::helpers::{Db, jwt, on_each_backend, spawn_app};

on_each_backend!(
    list_is_tenant_scoped_filtered_and_paged,
    list_carries_token_span_and_error_totals_of_recorded_spans,
);

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
