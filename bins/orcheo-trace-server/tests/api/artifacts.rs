//! `GET /api/artifacts/{artifact_id}`.

use orcheo_trace_model::ExecutionStatus;

use crate::helpers::{Db, TestApp, jwt, on_each_backend, spawn_app};

on_each_backend!(
    artifacts_stream_with_their_type_to_their_tenant_only,
    links_out_of_the_record_folder_and_non_files_are_unknown_artifacts,
);

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
    assert_eq!(
        answer.header("content-disposition"),
        Some("inline; filename=\"email.txt\"")
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

    // A name is text from the workflow: served redacted, like every other.
    app.store
        .register_artifact(&orcheo_trace_store::ArtifactRecord {
            name: Some("leak.victim@example.com.txt".to_owned()),
            ..app.store.artifact("a1").unwrap().unwrap()
        })
        .unwrap();
    let answer = app.get("/api/artifacts/a1", Some(&acme)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let disposition = answer.header("content-disposition").unwrap();
    assert!(
        !disposition.contains("leak.victim") && disposition.contains("REDACTED"),
        "{disposition}"
    );
}

/// GETs an artifact that must not be served: the answer is that of an unknown artifact.
async fn assert_unknown(app: &TestApp, artifact: &str) {
    let acme = jwt("acme", "traces:read");
    let unknown = app.get("/api/artifacts/nope", Some(&acme)).await;
    let answer = app
        .get(&format!("/api/artifacts/{artifact}"), Some(&acme))
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (404, "not_found".to_owned()),
        "{artifact}: {}",
        answer.text
    );
    assert_eq!(
        answer.json()["error"]["message"],
        unknown.json()["error"]["message"],
        "{artifact}"
    );
}

#[cfg(unix)]
async fn links_out_of_the_record_folder_and_non_files_are_unknown_artifacts(db: Db) {
    use std::os::unix::fs::symlink;
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let dir = &app.artifact_dir;
    app.execution("exec_1", "acme", None, ExecutionStatus::Completed);
    app.execution("exec_2", "globex", None, ExecutionStatus::Completed);
    for folder in ["exec_1/v2", "exec_2"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    std::fs::write(dir.join("exec_1/v2/email.txt"), "hello").unwrap();
    std::fs::write(dir.join("exec_2/secret.txt"), "globex only").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "not an artifact").unwrap();
    // A link inside the record's own folder is followed.
    symlink("v2/email.txt", dir.join("exec_1/latest.txt")).unwrap();
    app.artifact("latest", "exec_1", "file:exec_1/latest.txt", "text/plain");
    let answer = app
        .get("/api/artifacts/latest", Some(&jwt("acme", "traces:read")))
        .await;
    assert_eq!((answer.status, answer.text.as_str()), (200, "hello"));
    // Links out of the directory: to a system file, to a file elsewhere.
    symlink("/etc/passwd", dir.join("exec_1/passwd")).unwrap();
    symlink(
        outside.path().join("secret.txt"),
        dir.join("exec_1/outside.txt"),
    )
    .unwrap();
    symlink(outside.path(), dir.join("exec_1/outside")).unwrap();
    // Links into another tenant's folder: to its file, and a folder that is a link to its folder.
    symlink("../exec_2/secret.txt", dir.join("exec_1/theirs.txt")).unwrap();
    symlink("exec_2", dir.join("exec_1_files")).unwrap();
    // Not regular files: a directory, a socket, a FIFO (opening one must not wait for a writer).
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("exec_1/socket")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(dir.join("exec_1/fifo"))
        .status()
        .unwrap();
    assert!(fifo.success());
    for (id, uri) in [
        ("passwd", "file:exec_1/passwd"),
        ("outside", "file:exec_1/outside.txt"),
        ("outside-folder", "file:exec_1/outside/secret.txt"),
        ("theirs", "file:exec_1/theirs.txt"),
        ("linked-folder", "file:exec_1_files/secret.txt"),
        ("folder", "file:exec_1"),
        ("folder-slash", "file:exec_1/v2/"),
        ("socket", "file:exec_1/socket"),
        ("fifo", "file:exec_1/fifo"),
        ("escape", "file:exec_1/../exec_2/secret.txt"),
        ("gone", "file:exec_1/deleted.txt"),
    ] {
        app.artifact(id, "exec_1", uri, "text/plain");
        assert_unknown(&app, id).await;
    }
}

#[cfg(not(unix))]
async fn links_out_of_the_record_folder_and_non_files_are_unknown_artifacts(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution("exec_1", "acme", None, ExecutionStatus::Completed);
    std::fs::create_dir_all(app.artifact_dir.join("exec_1")).unwrap();
    app.artifact("folder", "exec_1", "file:exec_1", "text/plain");
    assert_unknown(&app, "folder").await;
}
