//! `GET /api/executions/{id}/export` and `orcheo-trace-server export`: the same authorization,
//! content scope and redaction as the trace route, whole traces only; `GET
//! /api/executions/export` and `export --all`: the same for every run a list's filters match.

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
    a_search_exports_its_runs_newest_first_and_names_those_it_cannot,
    a_search_export_refuses_malformed_filters_and_leaves_deletion_alone,
    a_search_export_as_csv_has_one_header_and_a_row_per_span_of_every_run,
    a_search_export_stops_at_its_bound_and_says_so,
    a_search_export_follows_the_tenant_the_content_scope_and_the_store,
    the_command_line_exports_a_search_as_the_route_does,
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

/// The ids of a set export's executions, in order.
fn exported_ids(doc: &Value) -> Vec<String> {
    doc["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["execution"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids the list route gives for `query`, in order (every page of up to 500).
async fn listed_ids(app: &crate::helpers::TestApp, query: &str, token: &str) -> Vec<String> {
    let list = app
        .get(&format!("/api/executions?limit=500&{query}"), Some(token))
        .await
        .json();
    list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_search_exports_its_runs_newest_first_and_names_those_it_cannot(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_a", "acme", 1, 2, ExecutionStatus::Completed);
    app.seed("exec_b", "acme", 2, 1, ExecutionStatus::Error);
    app.seed("exec_c", "acme", 3, 3, ExecutionStatus::Completed);
    app.seed("exec_other", "globex", 4, 1, ExecutionStatus::Completed);
    // A run that recorded no trace matches, but cannot be exported.
    app.execution("exec_untraced", "acme", None, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read traces:read_content");

    let answer = app.get("/api/executions/export", Some(&token)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(
        answer.header("content-disposition"),
        Some("attachment; filename=\"executions.first-1000.trace.json\"")
    );
    let doc = answer.json();
    assert_eq!(doc["format"], "orcheo-trace-export-set");
    assert_eq!(doc["filters"], serde_json::json!({"tenant": "acme"}));
    assert_eq!(doc["max_executions"], 1000);
    assert_eq!(doc["truncated"], false);
    // The list's runs, in the list's order, but the one without a trace.
    let listed: Vec<String> = listed_ids(&app, "", &token)
        .await
        .into_iter()
        .filter(|id| id != "exec_untraced")
        .collect();
    assert_eq!(listed.len(), 3);
    assert_eq!(exported_ids(&doc), listed);
    assert_eq!(doc["exported"], 3);
    let unavailable = doc["unavailable"].as_array().unwrap();
    assert_eq!(unavailable.len(), 1);
    assert_eq!(unavailable[0]["execution_id"], "exec_untraced");
    assert_eq!(unavailable[0]["error"], "trace_unavailable");
    assert!(
        unavailable[0]["message"]
            .as_str()
            .unwrap()
            .contains("no trace was recorded")
    );
    // Each one is the single export's document, whole.
    let single = app
        .get("/api/executions/exec_c/export", Some(&token))
        .await
        .json();
    let exec_c = doc["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["execution"]["id"] == "exec_c")
        .unwrap();
    assert_eq!(exec_c["format"], "orcheo-trace-export");
    assert_eq!(exec_c["root"], single["root"]);
    assert_eq!(exec_c["execution"], single["execution"]);
    assert_eq!(
        exec_c["root"]["children"][0]["prompts"][0]["content"],
        "Write to the customer"
    );

    // The list's filters, parsed as the list parses them.
    let completed = app
        .get("/api/executions/export?status=completed", Some(&token))
        .await
        .json();
    let mut ids = exported_ids(&completed);
    ids.sort();
    assert_eq!(ids, ["exec_a", "exec_c"]);
    assert_eq!(completed["filters"]["status"], "completed");
    let errors = app
        .get("/api/executions/export?has_error=true", Some(&token))
        .await
        .json();
    assert_eq!(exported_ids(&errors), ["exec_b"]);
    assert_eq!(errors["unavailable"], serde_json::json!([]));
    let none = app
        .get(
            "/api/executions/export?workflow_id=wf_nothing",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(exported_ids(&none), Vec::<String>::new());
}

async fn a_search_export_refuses_malformed_filters_and_leaves_deletion_alone(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let token = jwt("acme", "traces:read");
    for bad in [
        "status=finished",
        "started_after=yesterday",
        "has_error=maybe",
        "format=xml",
    ] {
        app.expect_error(
            &format!("/api/executions/export?{bad}"),
            Some(&token),
            400,
            "invalid_request",
        )
        .await;
    }
    // The path is the export's alone: any other method is refused with what it allows (a run
    // whose id is `export` cannot be deleted through the API).
    let admin = format!("Bearer {}", jwt("ops", "traces:read traces:admin"));
    let deleted = app
        .request(
            reqwest::Method::DELETE,
            "/api/executions/export",
            &[("authorization", admin.as_str())],
        )
        .await;
    assert_eq!(deleted.status, 405, "{}", deleted.text);
    assert_eq!(deleted.header("allow"), Some("GET, HEAD"));
}

async fn a_search_export_as_csv_has_one_header_and_a_row_per_span_of_every_run(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let a = app.seed("exec_a", "acme", 1, 2, ExecutionStatus::Completed);
    let b = app.seed("exec_b", "acme", 2, 3, ExecutionStatus::Completed);
    app.seed("exec_other", "globex", 3, 1, ExecutionStatus::Completed);
    app.execution("exec_untraced", "acme", None, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read traces:read_content");
    let answer = app
        .get("/api/executions/export?format=csv", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        answer.header("content-disposition"),
        Some("attachment; filename=\"executions.first-1000.trace.csv\"")
    );
    let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header.first().map(String::as_str), Some("execution_id"));
    let spans = rows(&answer.text);
    // A root and its children per run; none for the run without a trace or another tenant's.
    assert_eq!(spans.len(), 3 + 4);
    assert!(spans.iter().all(|r| r.len() == header.len()));
    assert_eq!(spans.iter().filter(|r| &r[0] == "exec_a").count(), 3);
    assert_eq!(spans.iter().filter(|r| &r[0] == "exec_b").count(), 4);
    assert!(spans.iter().all(|r| match &r[0] {
        "exec_a" => r[1] == a.to_string(),
        "exec_b" => r[1] == b.to_string(),
        _ => false,
    }));
    // A run's rows stay together, in the list's order.
    let order: Vec<&str> = spans
        .iter()
        .map(|r| &r[0])
        .fold(Vec::new(), |mut runs, id| {
            if runs.last() != Some(&id) {
                runs.push(id);
            }
            runs
        });
    let listed: Vec<String> = listed_ids(&app, "", &token)
        .await
        .into_iter()
        .filter(|id| id != "exec_untraced")
        .collect();
    assert_eq!(order, listed);
    // The single export's rows, byte for byte.
    let single = app
        .get("/api/executions/exec_b/export?format=csv", Some(&token))
        .await;
    let single = rows(&single.text);
    let in_set: Vec<_> = spans
        .iter()
        .filter(|r| &r[0] == "exec_b")
        .cloned()
        .collect();
    assert_eq!(in_set, single);
    assert!(!answer.text.contains("Write to the customer"));
}

async fn a_search_export_stops_at_its_bound_and_says_so(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    for (i, id) in ["exec_1", "exec_2", "exec_3"].into_iter().enumerate() {
        app.seed(
            id,
            "acme",
            u8::try_from(i + 1).unwrap(),
            1,
            ExecutionStatus::Completed,
        );
    }
    let token = jwt("acme", "traces:read");
    let listed = listed_ids(&app, "", &token).await;
    let two = app
        .get("/api/executions/export?max_executions=2", Some(&token))
        .await;
    assert_eq!(two.status, 200, "{}", two.text);
    assert_eq!(
        two.header("content-disposition"),
        Some("attachment; filename=\"executions.first-2.trace.json\"")
    );
    let doc = two.json();
    assert_eq!(doc["truncated"], true);
    assert_eq!(doc["max_executions"], 2);
    assert_eq!(exported_ids(&doc), listed[..2]);
    // Exactly as many as match: nothing left out.
    let three = app
        .get("/api/executions/export?max_executions=3", Some(&token))
        .await
        .json();
    assert_eq!(three["truncated"], false);
    assert_eq!(exported_ids(&three), listed);
    let csv = app
        .get(
            "/api/executions/export?max_executions=1&format=csv",
            Some(&token),
        )
        .await;
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"executions.first-1.trace.csv\"")
    );
    let spans = rows(&csv.text);
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|r| r[0] == listed[0]));
    for bad in ["0", "10001", "-1", "many"] {
        app.expect_error(
            &format!("/api/executions/export?max_executions={bad}"),
            Some(&token),
            400,
            "invalid_request",
        )
        .await;
    }
    let most = app
        .get("/api/executions/export?max_executions=10000", Some(&token))
        .await;
    assert_eq!(most.status, 200, "{}", most.text);
    // Read once, the exported traces are not kept in the trace cache; a trace opened is.
    assert_eq!(cache_bytes(&app).await, 0);
    let opened = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&token))
        .await;
    assert_eq!(opened.status, 200, "{}", opened.text);
    assert!(cache_bytes(&app).await > 0);
}

/// What the trace cache holds, from `/metrics`.
async fn cache_bytes(app: &crate::helpers::TestApp) -> u64 {
    let metrics = app.get("/metrics", None).await.text;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("orcheo_trace_cache_bytes "))
        .map(|n| n.trim().parse().unwrap())
        .unwrap()
}

async fn a_search_export_follows_the_tenant_the_content_scope_and_the_store(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_acme", "acme", 1, 1, ExecutionStatus::Completed);
    app.seed("exec_globex", "globex", 2, 1, ExecutionStatus::Completed);
    // Another tenant's runs never appear, whatever the query says.
    let globex = jwt("globex", "traces:read traces:read_content");
    for query in ["", "?tenant=acme", "?workflow_id=wf_email"] {
        let doc = app
            .get(&format!("/api/executions/export{query}"), Some(&globex))
            .await
            .json();
        assert_eq!(exported_ids(&doc), ["exec_globex"], "{query}");
        assert_eq!(doc["filters"]["tenant"], "globex");
        let csv = app
            .get(
                &format!(
                    "/api/executions/export{}format=csv",
                    if query.is_empty() { "?" } else { "&" }
                ),
                Some(&globex),
            )
            .await;
        assert!(rows(&csv.text).iter().all(|r| &r[0] == "exec_globex"));
    }
    let no_token = app.get("/api/executions/export", None).await;
    assert_eq!(no_token.status, 401, "{}", no_token.text);
    // An administrator sees every tenant's, or the one named.
    let admin = jwt("ops", "traces:read traces:admin");
    let mut all = exported_ids(&app.get("/api/executions/export", Some(&admin)).await.json());
    all.sort();
    assert_eq!(all, ["exec_acme", "exec_globex"]);
    let named = app
        .get("/api/executions/export?tenant=acme", Some(&admin))
        .await
        .json();
    assert_eq!(exported_ids(&named), ["exec_acme"]);
    // Content only with the scope, and not when declined.
    let reader = jwt("acme", "traces:read");
    let doc = app
        .get("/api/executions/export", Some(&reader))
        .await
        .json();
    let prompt = &doc["executions"][0]["root"]["children"][0]["prompts"][0];
    assert_eq!(prompt["withheld"], true);
    assert_eq!(prompt["content"], Value::Null);
    let declined = app
        .get(
            "/api/executions/export?include_content=false",
            Some(&jwt("acme", "traces:read traces:read_content")),
        )
        .await;
    assert_eq!(exported_ids(&declined.json()), ["exec_acme"]);
    assert!(!declined.text.contains("Write to the customer"));
    // A trace store that is down: the runs are named, not passed off as their summaries (a
    // run never read, so that no cached trace stands in).
    app.seed("exec_down", "initech", 3, 1, ExecutionStatus::Completed);
    app.summaries("exec_down");
    app.tempo.set_mode(StoreMode::Down);
    let initech = jwt("initech", "traces:read");
    let down = app
        .get("/api/executions/export", Some(&initech))
        .await
        .json();
    assert_eq!(exported_ids(&down), Vec::<String>::new());
    assert_eq!(down["unavailable"][0]["execution_id"], "exec_down");
    assert_eq!(down["unavailable"][0]["error"], "trace_store_unavailable");
    let csv = app
        .get("/api/executions/export?format=csv", Some(&initech))
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(rows(&csv.text).is_empty());
}

async fn the_command_line_exports_a_search_as_the_route_does(db: Db) {
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
    for (n, id) in [(7, "exec_one"), (8, "exec_two")] {
        let trace = trace_id(n);
        app.execution(id, "acme", Some(trace), ExecutionStatus::Completed);
        app.local_spans(trace, id, 2);
    }
    app.execution("exec_failed", "acme", None, ExecutionStatus::Error);
    let admin = jwt("ops", "traces:read traces:admin");
    let route = app
        .get(
            "/api/executions/export?format=csv&status=completed",
            Some(&admin),
        )
        .await;
    assert_eq!(route.status, 200, "{}", route.text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runs.csv");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
            .arg("export")
            .args(args)
            .env_clear()
            .env("ORCHEO_DATABASE_URL", app.database_url())
            .output()
            .unwrap()
    };
    let output = run(&[
        "--all",
        "--status",
        "completed",
        "--format",
        "csv",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(rows(&written), rows(&route.text));
    assert_eq!(rows(&written).len(), 6);
    // JSON on standard output; the run without a trace is named, and the bound is said.
    let json = run(&["--all", "--max-executions", "2"]);
    assert!(json.status.success());
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["format"], "orcheo-trace-export-set");
    assert_eq!(doc["truncated"], true);
    assert_eq!(doc["max_executions"], 2);
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert!(stderr.contains("--max-executions 2"), "{stderr}");
    let everything = run(&["--all"]);
    let doc: Value = serde_json::from_slice(&everything.stdout).unwrap();
    assert_eq!(doc["truncated"], false);
    assert_eq!(doc["exported"], 2);
    assert_eq!(doc["unavailable"][0]["execution_id"], "exec_failed");
    assert!(String::from_utf8_lossy(&everything.stderr).contains("not exported: exec_failed"));
    // Filters need --all, and --all no id; a malformed filter fails with a message.
    assert!(!run(&["exec_one", "--status", "completed"]).status.success());
    assert!(!run(&["exec_one", "--all"]).status.success());
    let bad = run(&["--all", "--since", "yesterday"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an RFC 3339 time"));
}
