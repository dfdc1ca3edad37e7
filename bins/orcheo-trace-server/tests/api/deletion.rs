//! `DELETE /api/executions/{id}`: an administrator deletes a run for good — its record,
//! summaries, artifacts (records and files) and the spans of its trace in the embedded store.

use orcheo_trace_model::ExecutionStatus;

use crate::helpers::{Db, Options, jwt, on_each_backend, spawn_app, spawn_app_with, trace_id};

on_each_backend!(
    an_administrator_deletes_a_run_with_everything_it_left,
    deleting_needs_the_admin_scope_and_an_existing_run,
);

async fn delete(app: &crate::helpers::TestApp, path: &str, token: &str) -> crate::helpers::Answer {
    let authorization = format!("Bearer {token}");
    app.request(
        reqwest::Method::DELETE,
        path,
        &[("authorization", authorization.as_str())],
    )
    .await
}

async fn an_administrator_deletes_a_run_with_everything_it_left(db: Db) {
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
    // The spans are stored as an exporter without a tenant of its own sends them: the default
    // tenant's, as is the run.
    let trace = trace_id(9);
    app.execution("exec_1", "default", Some(trace), ExecutionStatus::Completed);
    app.local_spans(trace, "exec_1", 3);
    app.summaries("exec_1");
    std::fs::create_dir_all(app.artifact_dir.join("exec_1")).unwrap();
    std::fs::write(app.artifact_dir.join("exec_1/email.txt"), "hello").unwrap();
    app.artifact("a1", "exec_1", "file:exec_1/email.txt", "text/plain");
    // A file both runs' artifacts name stays with the run that keeps it.
    std::fs::write(app.artifact_dir.join("exec_1/shared.txt"), "both").unwrap();
    app.artifact("a_shared", "exec_1", "file:exec_1/shared.txt", "text/plain");
    // Another run, which stays.
    app.execution(
        "exec_2",
        "default",
        Some(trace_id(10)),
        ExecutionStatus::Completed,
    );
    app.local_spans(trace_id(10), "exec_2", 1);
    app.artifact("b_shared", "exec_2", "file:exec_1/shared.txt", "text/plain");
    let reader = jwt("default", "traces:read traces:read_content");
    // Read once, so the trace is cached.
    let before = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&reader))
        .await;
    assert_eq!(before.status, 200, "{}", before.text);

    let admin = jwt("ops", "traces:read traces:admin");
    let answer = delete(&app, "/api/executions/exec_1", &admin).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let report = answer.json();
    assert_eq!(report["execution_id"], "exec_1");
    assert_eq!(report["tenant"], "default");
    assert_eq!(report["summaries"], 2);
    assert_eq!(report["local_spans"], 4);
    assert_eq!(report["artifacts"], 2);
    assert_eq!(report["artifact_files"], 1);
    assert!(!app.artifact_dir.join("exec_1/email.txt").exists());
    assert!(app.artifact_dir.join("exec_1/shared.txt").exists());

    // Gone everywhere: the trace (cached or not), the list, the artifact, the stored spans.
    app.expect_error(
        "/api/executions/exec_1/trace?view=tree",
        Some(&reader),
        404,
        "not_found",
    )
    .await;
    app.expect_error("/api/artifacts/a1", Some(&reader), 404, "not_found")
        .await;
    let list = app.get("/api/executions", Some(&reader)).await.json();
    let ids: Vec<&str> = list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, ["exec_2"]);
    assert!(app.store.local_spans(trace, 100).unwrap().is_empty());
    assert_eq!(app.store.local_spans(trace_id(10), 100).unwrap().len(), 2);
    // Deleting again finds nothing.
    let again = delete(&app, "/api/executions/exec_1", &admin).await;
    assert_eq!(again.status, 404, "{}", again.text);
}

async fn deleting_needs_the_admin_scope_and_an_existing_run(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    // The run's own tenant may read it, not delete it.
    let owner = jwt("acme", "traces:read traces:read_content");
    let refused = delete(&app, "/api/executions/exec_1", &owner).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.error_code(), "forbidden");
    let still = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&owner))
        .await;
    assert_eq!(still.status, 200);
    let admin = jwt("ops", "traces:admin");
    let unknown = delete(&app, "/api/executions/no_such_run", &admin).await;
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (404, "not_found")
    );
    let malformed = delete(&app, "/api/executions/bad%20id", &admin).await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    let anonymous = app
        .request(reqwest::Method::DELETE, "/api/executions/exec_1", &[])
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    let other_method = app
        .request(reqwest::Method::PUT, "/api/executions/exec_1", &[])
        .await;
    assert_eq!(other_method.status, 405);
    assert_eq!(other_method.header("allow"), Some("DELETE"));
}
