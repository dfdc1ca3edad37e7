//! `GET /api/artifacts/{artifact_id}`.

use orcheo_trace_model::ExecutionStatus;

use crate::helpers::{Db, jwt, on_each_backend, spawn_app};

on_each_backend!(artifacts_stream_with_their_type_to_their_tenant_only);

async fn artifacts_stream_with_their_type_to_their_tenant_only(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution("exec_1", "acme", None, ExecutionStatus::Completed);
    std::fs::create_dir_all(app.artifact_dir.join("exec_1")).unwrap();
    std::fs::write(app.artifact_dir.join("exec_1/email.txt"), "hello").unwrap();
    app.artifact(
        "a1",
        "exec_1",
        "file:exec_1/email.txt",
        "text/plain; charset=utf-8",
    );
    app.artifact("escape", "exec_1", "file:../../etc/passwd", "text/plain");
    app.artifact("gone", "exec_1", "file:exec_1/deleted.txt", "text/plain");
    app.artifact("remote", "exec_1", "s3://bucket/key", "text/plain");
    let acme = jwt("acme", "traces:read");
    let answer = app.get("/api/artifacts/a1", Some(&acme)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, "hello");
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert!(
        answer
            .header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );
    let globex = app
        .get("/api/artifacts/a1", Some(&jwt("globex", "traces:read")))
        .await;
    let unknown = app.get("/api/artifacts/nope", Some(&acme)).await;
    assert_eq!((globex.status, unknown.status), (404, 404));
    assert_eq!(
        globex.json()["error"]["message"],
        unknown.json()["error"]["message"]
    );
    assert_eq!(
        app.get("/api/artifacts/escape", Some(&acme)).await.status,
        404
    );
    assert_eq!(
        app.get("/api/artifacts/gone", Some(&acme)).await.status,
        404
    );
    app.expect_error(
        "/api/artifacts/remote",
        Some(&acme),
        501,
        "artifact_storage_unsupported",
    )
    .await;
    assert_eq!(app.get("/api/artifacts/a1", None).await.status, 401);
}
