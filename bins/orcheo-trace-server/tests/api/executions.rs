//! `GET /api/executions`.

use orcheo_trace_model::{ExecutionId, ExecutionStatus, SpanSummary, StatusCode};
use orcheo_trace_store::NewExecution;

use crate::helpers::{Db, TestApp, at, jwt, on_each_backend, span_id, spawn_app};

on_each_backend!(
    list_is_tenant_scoped_filtered_and_paged,
    list_carries_token_span_and_error_totals_of_recorded_spans,
    list_tells_a_failed_run_from_a_run_whose_step_failed,
    workflows_are_suggested_by_prefix_within_the_callers_tenant,
    search_refuses_bad_values_with_a_clear_400,
    search_filters_by_duration_tokens_model_and_cost,
    search_over_received_spans_says_where_it_matched_within_scope_and_tenant,
    a_search_exports_what_the_list_finds_from_the_api_and_the_command_line,
    a_run_kept_in_tempo_is_searchable_once_its_trace_was_read,
    a_run_tempo_finds_for_the_text_is_listed_before_it_is_indexed,
    the_command_line_indexes_the_runs_the_search_does_not_know,
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

async fn search_refuses_bad_values_with_a_clear_400(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let token = jwt("default", "traces:read");
    let long = "a".repeat(257);
    for (query, says) in [
        ("min_duration_ms=-1".to_owned(), "min_duration_ms"),
        ("max_duration_ms=soon".to_owned(), "max_duration_ms"),
        ("min_tokens=1.5".to_owned(), "min_tokens"),
        ("max_tokens=99999999999999999999".to_owned(), "max_tokens"),
        ("min_cost=-0.5".to_owned(), "min_cost"),
        ("max_cost=NaN".to_owned(), "max_cost"),
        ("max_cost=inf".to_owned(), "max_cost"),
        (
            "min_duration_ms=18446744073709551615".to_owned(),
            "min_duration_ms",
        ),
        (format!("q={long}"), "q must be at most 256"),
        (format!("model={long}"), "model"),
        (format!("error_type={long}"), "error_type"),
    ] {
        let answer = app
            .get(&format!("/api/executions?{query}"), Some(&token))
            .await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text);
        assert_eq!(answer.error_code(), "invalid_request", "{query}");
        assert!(answer.text.contains(says), "{query}: {}", answer.text);
    }
    // Empty values are no filter.
    let answer = app
        .get(
            "/api/executions?q=&min_cost=&max_tokens=&model=&error_type=",
            Some(&token),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json()["executions"][0].get("matches").is_none());
    // A range that holds nothing matches nothing: not an error.
    // Nor is text without a letter or digit: it holds no word, so no run holds it.
    for empty in [
        "min_tokens=10&max_tokens=5",
        "min_cost=2&max_cost=1",
        "q=%3F%21",
    ] {
        let answer = app
            .get(&format!("/api/executions?{empty}"), Some(&token))
            .await;
        assert_eq!(answer.status, 200, "{empty}: {}", answer.text);
        assert_eq!(
            answer.json()["executions"],
            serde_json::json!([]),
            "{empty}"
        );
    }
}

async fn search_filters_by_duration_tokens_model_and_cost(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    // Finished after 12 s.
    app.execution("priced", "default", None, ExecutionStatus::Completed);
    app.execution("unpriced", "default", None, ExecutionStatus::Completed);
    app.execution("running", "default", None, ExecutionStatus::Running);
    let summary = |execution: &str, model: &str, input: u64| SpanSummary {
        execution_id: ExecutionId::new(execution).unwrap(),
        span_id: span_id(2),
        parent_span_id: Some(span_id(1)),
        name: "llm".to_owned(),
        kind: "llm".to_owned(),
        start_time: at(1),
        end_time: Some(at(2)),
        status_code: StatusCode::Ok,
        status_message: None,
        input_tokens: Some(input),
        output_tokens: Some(0),
        cached_input_tokens: None,
        model: Some(model.to_owned()),
        provider: None,
    };
    app.store
        .record_summaries(&[
            summary("priced", "gpt-4o", 1_000_000),
            summary("unpriced", "in-house-model-7", 10),
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
            ids(&answer.json())
        }
    };
    assert_eq!(list("min_duration_ms=12000").await, ["priced", "unpriced"]);
    assert!(list("min_duration_ms=12001").await.is_empty());
    assert_eq!(list("max_duration_ms=12000").await, ["priced", "unpriced"]);
    assert_eq!(list("min_tokens=11").await, ["priced"]);
    assert_eq!(list("max_tokens=10").await, ["running", "unpriced"]);
    assert_eq!(list("model=in-house-model-7").await, ["unpriced"]);
    // gpt-4o's million input tokens cost dollars; the unpriced run never matches a cost bound,
    // and a run without tokens costs nothing.
    assert_eq!(list("min_cost=0.5").await, ["priced"]);
    assert_eq!(list("max_cost=0.5").await, ["running"]);
    assert_eq!(list("min_cost=0").await, ["priced", "running"]);
}

/// A run as Orcheo's tracing exports it, with a failing node that carries a node id, an
/// attribute with an order number (redacted by the test server), an exception and a prompt.
fn searchable_trace(trace: orcheo_trace_model::TraceId, execution: &str) -> serde_json::Value {
    let mut body = crate::helpers::otlp_trace(trace, execution, 1);
    let node = &mut body["resourceSpans"][0]["scopeSpans"][0]["spans"][1];
    node["attributes"]
        .as_array_mut()
        .unwrap()
        .extend(serde_json::json!([
            {"key": "orcheo.node.id", "value": {"stringValue": "lookup_invoice"}},
            {"key": "customer.note", "value": {"stringValue": "rush delivery for ORDER-88231 please"}}
        ]).as_array().unwrap().iter().cloned());
    node["events"].as_array_mut().unwrap().extend(
        serde_json::json!([
            {"name": "prompt", "timeUnixNano": "1770000001000000000", "attributes": [
                {"key": "preview", "value": {"stringValue": "Explain the refund policy"}},
                {"key": "role", "value": {"stringValue": "user"}}
            ]},
            {"name": "exception", "timeUnixNano": "1770000001500000000", "attributes": [
                {"key": "exception.type", "value": {"stringValue": "openai.RateLimitError"}},
                {"key": "exception.message", "value": {"stringValue": "quota exceeded for the month"}}
            ]}
        ])
        .as_array()
        .unwrap()
        .iter()
        .cloned(),
    );
    node["status"] = serde_json::json!({"code": 2, "message": "quota exceeded for the month"});
    body
}

/// Two runs received over OTLP, `acme_run` of tenant acme and `globex_run` of globex, with the
/// same searchable text.
async fn receive_searchable_runs(app: &TestApp) {
    for (n, execution, tenant) in [(31, "acme_run", "acme"), (32, "globex_run", "globex")] {
        let body = searchable_trace(crate::helpers::trace_id(n), execution);
        let auth = crate::ingest::writes_as(tenant);
        let (status, _, _) = crate::ingest::post(
            app,
            "application/json",
            serde_json::to_vec(&body).unwrap(),
            &[("authorization", auth.as_str())],
        )
        .await;
        assert_eq!(status, 200);
    }
}

async fn a_search_exports_what_the_list_finds_from_the_api_and_the_command_line(db: Db) {
    let Some(app) = crate::helpers::spawn_app_with(db, crate::ingest::embedded()).await else {
        return;
    };
    receive_searchable_runs(&app).await;
    // A search's results export as the list finds them, in the same tenant and content scope.
    let export = |tenant: &'static str, scope: &'static str, query: &'static str| {
        let app = &app;
        async move {
            let answer = app
                .get(
                    &format!("/api/executions/export?{query}"),
                    Some(&jwt(tenant, scope)),
                )
                .await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.text);
            answer.json()["executions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|doc| doc["execution"]["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        export("globex", "traces:read", "q=lookup_invoice").await,
        ["globex_run"]
    );
    assert_eq!(
        export("acme", "traces:read", "q=lookup_invoice").await,
        ["acme_run"]
    );
    assert!(
        export("acme", "traces:read", "q=refund%20policy")
            .await
            .is_empty()
    );
    assert_eq!(
        export(
            "acme",
            "traces:read traces:read_content",
            "q=refund%20policy"
        )
        .await,
        ["acme_run"]
    );
    // And so does the command line's export of a search.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args([
            "export",
            "--all",
            "--text",
            "lookup_invoice",
            "--tenant",
            "acme",
        ])
        .env_clear()
        .env("ORCHEO_DATABASE_URL", app.database_url())
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(doc["exported"], 1, "{doc}");
    assert_eq!(doc["executions"][0]["execution"]["id"], "acme_run");
}

async fn search_over_received_spans_says_where_it_matched_within_scope_and_tenant(db: Db) {
    let Some(app) = crate::helpers::spawn_app_with(db, crate::ingest::embedded()).await else {
        return;
    };
    receive_searchable_runs(&app).await;
    let search = |tenant: &'static str, scope: &'static str, query: &'static str| {
        let app = &app;
        async move {
            let answer = app
                .get(
                    &format!("/api/executions?{query}"),
                    Some(&jwt(tenant, scope)),
                )
                .await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.text);
            answer.json()
        }
    };
    // A node id: the run, and the span and field that matched.
    let body = search("acme", "traces:read", "q=lookup_invoice").await;
    assert_eq!(ids(&body), ["acme_run"]);
    let matches = &body["executions"][0]["matches"];
    assert_eq!(matches[0]["span_id"], span_id(2).to_string());
    assert_eq!(matches[0]["span_name"], "Draft Email 0");
    assert_eq!(matches[0]["field"], "node_id");
    assert_eq!(matches[0]["snippet"], "lookup_invoice");
    // Span names, error messages and types, attribute values.
    for query in [
        "q=draft%20email",
        "q=quota%20exceeded",
        "q=RateLimitError",
        "q=rush%20delivery",
        "error_type=openai.RateLimitError",
    ] {
        assert_eq!(
            ids(&search("acme", "traces:read", query).await),
            ["acme_run"],
            "{query}"
        );
    }
    let body = search("acme", "traces:read", "q=rush%20delivery").await;
    let hit = &body["executions"][0]["matches"][0];
    assert_eq!(hit["field"], "attributes");
    // Indexed as the API shows it: the order number was redacted before it was stored.
    assert!(!hit["snippet"].as_str().unwrap().contains("88231"), "{hit}");
    assert!(ids(&search("acme", "traces:read", "q=88231").await).is_empty());
    // Prompt text only with `traces:read_content`.
    assert!(ids(&search("acme", "traces:read", "q=refund%20policy").await).is_empty());
    let body = search(
        "acme",
        "traces:read traces:read_content",
        "q=refund%20policy",
    )
    .await;
    assert_eq!(ids(&body), ["acme_run"]);
    assert_eq!(body["executions"][0]["matches"][0]["field"], "prompt");
    // Each tenant sees its own runs; an administrator sees every tenant's.
    assert_eq!(
        ids(&search("globex", "traces:read", "q=lookup_invoice").await),
        ["globex_run"]
    );
    assert_eq!(
        ids(&search("globex", "traces:read", "q=lookup_invoice&tenant=acme").await),
        ["globex_run"]
    );
    assert_eq!(
        ids(&search("globex", "traces:admin", "q=lookup_invoice&tenant=acme").await),
        ["acme_run"]
    );
    // The list of a search pages as any other.
    let body = search("acme", "traces:admin", "q=lookup_invoice&limit=1").await;
    assert_eq!(body["executions"].as_array().unwrap().len(), 1);
    // Deleting a run deletes what was indexed of it.
    let authorization = format!("Bearer {}", jwt("acme", "traces:admin"));
    let answer = app
        .request(
            reqwest::Method::DELETE,
            "/api/executions/acme_run",
            &[("authorization", authorization.as_str())],
        )
        .await;
    assert!(answer.status < 300, "{}", answer.text);
    assert!(ids(&search("acme", "traces:admin", "q=lookup_invoice&tenant=acme").await).is_empty());
}

async fn a_run_kept_in_tempo_is_searchable_once_its_trace_was_read(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let trace = crate::helpers::trace_id(40);
    app.tempo.put(trace, &searchable_trace(trace, "tempo_run"));
    app.execution("tempo_run", "acme", Some(trace), ExecutionStatus::Error);
    let token = jwt("acme", "traces:read");
    let found = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let answer = app
                .get(&format!("/api/executions?{query}"), Some(token))
                .await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            ids(&answer.json())
        }
    };
    assert!(found("q=lookup_invoice").await.is_empty());
    let answer = app
        .get("/api/executions/tempo_run/trace", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(found("q=lookup_invoice").await, ["tempo_run"]);
    assert_eq!(
        found("error_type=openai.RateLimitError").await,
        ["tempo_run"]
    );
    assert!(
        found("q=88231").await.is_empty(),
        "redacted before it was indexed"
    );
}

async fn a_run_tempo_finds_for_the_text_is_listed_before_it_is_indexed(db: Db) {
    let options = crate::helpers::Options {
        search_lookback: Some(std::time::Duration::from_hours(1)),
        ..crate::helpers::Options::default()
    };
    let Some(app) = crate::helpers::spawn_app_with(db, options).await else {
        return;
    };
    let (ours, theirs, read) = (
        crate::helpers::trace_id(41),
        crate::helpers::trace_id(42),
        crate::helpers::trace_id(43),
    );
    app.execution("in_tempo", "acme", Some(ours), ExecutionStatus::Completed);
    app.execution(
        "other_tenant",
        "globex",
        Some(theirs),
        ExecutionStatus::Completed,
    );
    app.tempo.put(read, &searchable_trace(read, "read_once"));
    app.execution("read_once", "acme", Some(read), ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read");
    // Indexed from its trace: from then on the database answers for it, not Tempo.
    let answer = app
        .get("/api/executions/read_once/trace", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    app.tempo.find(&[ours, theirs, read]);
    let answer = app
        .get("/api/executions?q=Rate%20limit", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    // Tempo's answer is a hint checked against the database: the caller's tenant only, and a
    // run already indexed only if its rows match.
    assert_eq!(ids(&body), ["in_tempo"]);
    assert_eq!(body["executions"][0]["matches"], serde_json::json!([]));
    let searches = app.tempo.searches.lock().unwrap().clone();
    assert_eq!(searches.len(), 1, "{searches:?}");
    assert!(
        searches[0].starts_with(
            "q=%7B%20name%20%3D~%20%22%28%3Fi%29.%2Arate%5B%5E%5B%3Aalnum%3A%5D%5D%2Blimit.%2A%22"
        ),
        "{}",
        searches[0]
    );
}

/// `orcheo-trace-server reindex`, with the same environment as the server.
fn reindex(app: &TestApp, all: bool) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"));
    command.arg("reindex");
    if all {
        command.arg("--all");
    }
    let output = command
        .env_clear()
        .env("ORCHEO_DATABASE_URL", app.database_url())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs whose spans were stored without search rows (as before the search was indexed) are
/// found once `reindex` has read their traces; running runs are left to the server, and a run
/// whose trace cannot be read is named and fails the command after the others are done.
async fn the_command_line_indexes_the_runs_the_search_does_not_know(db: Db) {
    let Some(app) = crate::helpers::spawn_app_with(
        db,
        crate::helpers::Options {
            embedded: true,
            ..crate::helpers::Options::default()
        },
    )
    .await
    else {
        return;
    };
    let (old, live) = (crate::helpers::trace_id(31), crate::helpers::trace_id(32));
    app.execution("exec_old", "acme", Some(old), ExecutionStatus::Completed);
    app.local_spans(old, "exec_old", 2);
    app.execution("exec_live", "acme", Some(live), ExecutionStatus::Running);
    app.local_spans(live, "exec_live", 1);
    let search = || async {
        let answer = app
            .get(
                "/api/executions?q=node%202",
                Some(&jwt("acme", "traces:read")),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        (ids(&body), body["executions"][0]["matches"].clone())
    };
    assert!(search().await.0.is_empty(), "not indexed yet");
    let (ok, said) = reindex(&app, false);
    assert!(ok, "{said}");
    assert!(said.contains("indexed 1 execution(s)"), "{said}");
    assert!(said.contains("1 still running"), "{said}");
    let (found, matches) = search().await;
    assert_eq!(found, ["exec_old"]);
    assert_eq!(matches[0]["span_name"], "node 2");
    assert_eq!(matches[0]["field"], "name");
    // Again: nothing left to do; with --all, every finished run again.
    let (ok, said) = reindex(&app, false);
    assert!(ok && said.contains("indexed 0 execution(s)"), "{said}");
    let (ok, said) = reindex(&app, true);
    assert!(ok && said.contains("indexed 1 execution(s)"), "{said}");
    assert_eq!(search().await.0, ["exec_old"]);
    // A finished run without a trace to read: named, and the command fails.
    app.execution(
        "exec_lost",
        "acme",
        Some(crate::helpers::trace_id(33)),
        ExecutionStatus::Completed,
    );
    let (ok, said) = reindex(&app, false);
    assert!(!ok, "{said}");
    assert!(said.contains("exec_lost: not indexed"), "{said}");
    assert!(said.contains("1 could not be read"), "{said}");
}
