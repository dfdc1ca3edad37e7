//! `GET /api/artifacts/{id}/download`: downloads with a token, or with the signed reference a
//! trace answer hands out in place of each artifact id (Canvas opens it with no header).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orcheo_trace_model::ExecutionStatus;
use orcheo_trace_server::artifact_links::LinkSigner;
use serde_json::{Value, json};

use crate::helpers::{
    Db, Options, TestApp, jwt, on_each_backend, otlp_trace, spawn_app_with, trace_id,
};

on_each_backend!(
    signed_references_in_the_trace_download_without_a_header,
    expired_tampered_and_foreign_references_are_refused,
    ids_longer_than_any_artifact_are_unknown_up_to_the_documented_limit,
    artifacts_say_whether_this_server_holds_their_file,
);

const KEY: [u8; 32] = [42; 32];

/// `exec_1` of acme with one node naming artifact `a1` (and acme's `a2`, globex's `g1`).
async fn app_with_artifacts(db: Db) -> Option<TestApp> {
    let app = spawn_app_with(
        db,
        Options {
            artifact_link_key: Some(KEY.to_vec()),
            artifact_link_ttl: Some(Duration::from_mins(10)),
            ..Options::default()
        },
    )
    .await?;
    let trace = trace_id(7);
    let mut otlp = otlp_trace(trace, "exec_1", 1);
    let node = &mut otlp["resourceSpans"][0]["scopeSpans"][0]["spans"][1];
    node["attributes"].as_array_mut().unwrap().push(json!({
        "key": "orcheo.artifact.ids",
        "value": {"arrayValue": {"values": [{"stringValue": "a1"}]}}
    }));
    let start = node["startTimeUnixNano"].clone();
    node["events"].as_array_mut().unwrap().push(json!({
        "name": "artifact", "timeUnixNano": start,
        "attributes": [
            {"key": "artifact.id", "value": {"stringValue": "a1"}},
            {"key": "artifact.name", "value": {"stringValue": "email.txt"}}
        ]
    }));
    app.tempo.put(trace, &otlp);
    app.execution("exec_1", "acme", Some(trace), ExecutionStatus::Completed);
    app.execution("exec_2", "globex", None, ExecutionStatus::Completed);
    for (dir, file, text) in [
        ("exec_1", "email.txt", "hello"),
        ("exec_1", "other.txt", "other"),
        ("exec_2", "g.txt", "globex"),
    ] {
        std::fs::create_dir_all(app.artifact_dir.join(dir)).unwrap();
        std::fs::write(app.artifact_dir.join(dir).join(file), text).unwrap();
    }
    app.artifact("a1", "exec_1", "file:exec_1/email.txt", "text/plain");
    app.artifact("a2", "exec_1", "file:exec_1/other.txt", "text/plain");
    app.artifact("g1", "exec_2", "file:exec_2/g.txt", "text/plain");
    Some(app)
}

/// `encodeURIComponent`, as Canvas applies it to an artifact id.
fn encode_uri_component(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The artifact ids of the flat view's node, as Canvas reads them.
fn flat_artifact_ids(body: &Value) -> Vec<String> {
    body["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["attributes"]["orcheo.artifact.ids"].as_array())
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn signed_references_in_the_trace_download_without_a_header(db: Db) {
    let Some(app) = app_with_artifacts(db).await else {
        return;
    };
    let acme = jwt("acme", "traces:read");
    let flat = app
        .get("/api/executions/exec_1/trace?view=flat", Some(&acme))
        .await;
    assert_eq!(flat.status, 200, "{}", flat.text);
    let ids = flat_artifact_ids(&flat.json());
    assert_eq!(ids.len(), 1, "{}", flat.text);
    let reference = &ids[0];
    assert!(reference.starts_with("a1~"), "{reference}");
    // Canvas: window.open(`/api/artifacts/${encodeURIComponent(id)}/download`), no header.
    let download = app
        .get(
            &format!(
                "/api/artifacts/{}/download",
                encode_uri_component(reference)
            ),
            None,
        )
        .await;
    assert_eq!(download.status, 200, "{}", download.text);
    assert_eq!(download.text, "hello");
    assert_eq!(download.header("x-content-type-options"), Some("nosniff"));
    // The same reference on the plain route.
    let plain = app
        .get(
            &format!("/api/artifacts/{}", encode_uri_component(reference)),
            None,
        )
        .await;
    assert_eq!((plain.status, plain.text.as_str()), (200, "hello"));

    // The tree view: each artifact has a download_url that needs no token.
    let tree = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&acme))
        .await
        .json();
    let artifact = &tree["root"]["children"][0]["artifacts"][0];
    assert_eq!(artifact["id"], "a1", "{tree}");
    assert_eq!(artifact["url"], "/api/artifacts/a1");
    let url = artifact["download_url"].as_str().unwrap();
    assert!(
        url.starts_with("/api/artifacts/a1~") && url.ends_with("/download"),
        "{url}"
    );
    let by_url = app.get(url, None).await;
    assert_eq!((by_url.status, by_url.text.as_str()), (200, "hello"));

    // Header authorization still works on both routes; without either, no download.
    for path in ["/api/artifacts/a1", "/api/artifacts/a1/download"] {
        let answer = app.get(path, Some(&acme)).await;
        assert_eq!(
            (answer.status, answer.text.as_str()),
            (200, "hello"),
            "{path}"
        );
        app.expect_error(path, None, 401, "unauthenticated").await;
        app.expect_error(path, Some(&jwt("globex", "traces:read")), 404, "not_found")
            .await;
    }
    // A caller who may not read the execution gets no trace, hence no link.
    app.expect_error(
        "/api/executions/exec_1/trace?view=flat",
        Some(&jwt("globex", "traces:read")),
        404,
        "not_found",
    )
    .await;
}

async fn expired_tampered_and_foreign_references_are_refused(db: Db) {
    let Some(app) = app_with_artifacts(db).await else {
        return;
    };
    let signer = LinkSigner::new(Some(&KEY), Duration::from_mins(10)).unwrap();
    let later = now() + 600;
    let download = |reference: &str| {
        format!(
            "/api/artifacts/{}/download",
            encode_uri_component(reference)
        )
    };
    // A link this server would mint works...
    let good = signer.sign("a1", "acme", later);
    assert_eq!(app.get(&download(&good), None).await.status, 200);
    // ...until it expires: a clear 403.
    let expired = signer.sign("a1", "acme", now() - 1);
    let answer = app
        .expect_error(&download(&expired), None, 403, "link_expired")
        .await;
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // Tampered with: another expiry, another signature, another artifact of the same tenant.
    let (rest, signature) = good.rsplit_once('~').unwrap();
    let (_, expiry) = rest.rsplit_once('~').unwrap();
    let longer = good.replacen(&format!("~{expiry}~"), &format!("~{}~", later + 86_400), 1);
    let flipped_char = if signature.starts_with('A') { 'B' } else { 'A' };
    let flipped = format!("{rest}~{flipped_char}{}", &signature[1..]);
    let other_artifact = format!("a2~{expiry}~{signature}");
    // Signed for another tenant (globex's key use on acme's artifact, and acme's on globex's).
    let other_tenant = signer.sign("a1", "globex", later);
    let foreign = signer.sign("g1", "acme", later);
    // Signed with another key.
    let other_key = LinkSigner::new(None, Duration::from_mins(10))
        .unwrap()
        .sign("a1", "acme", later);
    let unknown = signer.sign("nope", "acme", later);
    let unknown_answer = app
        .expect_error(&download(&unknown), None, 404, "not_found")
        .await;
    for bad in [
        longer,
        flipped,
        other_artifact,
        other_tenant,
        foreign,
        other_key,
    ] {
        let answer = app
            .expect_error(&download(&bad), None, 404, "not_found")
            .await;
        // The same answer as an artifact that does not exist.
        assert_eq!(
            answer.json()["error"]["message"],
            unknown_answer.json()["error"]["message"],
            "{bad}"
        );
    }
    // A bad reference with a token is an ordinary id: no such artifact.
    let acme = jwt("acme", "traces:read");
    let with_token = app
        .get(&download(&signer.sign("a1", "globex", later)), Some(&acme))
        .await;
    assert_eq!(with_token.status, 404);
}

/// The documented limit is a signed reference's (320): anything up to it is a well-formed
/// request, and an id longer than any artifact's (256) is simply unknown.
async fn ids_longer_than_any_artifact_are_unknown_up_to_the_documented_limit(db: Db) {
    let Some(app) = app_with_artifacts(db).await else {
        return;
    };
    let acme = jwt("acme", "traces:read");
    let long = "0".repeat(300);
    for route in ["/api/artifacts/{}", "/api/artifacts/{}/download"] {
        let path = route.replace("{}", &long);
        app.expect_error(&path, Some(&acme), 404, "not_found").await;
        app.expect_error(&path, None, 401, "unauthenticated").await;
        let too_long = route.replace("{}", &"0".repeat(321));
        app.expect_error(&too_long, Some(&acme), 400, "invalid_artifact_id")
            .await;
    }
}

async fn artifacts_say_whether_this_server_holds_their_file(db: Db) {
    let Some(app) = app_with_artifacts(db).await else {
        return;
    };
    // The node also names an artifact that was never uploaded, and globex's `g1`.
    let trace = trace_id(7);
    let mut otlp = otlp_trace(trace, "exec_1", 1);
    let node = &mut otlp["resourceSpans"][0]["scopeSpans"][0]["spans"][1];
    node["attributes"].as_array_mut().unwrap().push(json!({
        "key": "orcheo.artifact.ids",
        "value": {"arrayValue": {"values": [
            {"stringValue": "a1"}, {"stringValue": "never_uploaded"}, {"stringValue": "g1"}
        ]}}
    }));
    app.tempo.put(trace, &otlp);
    let acme = jwt("acme", "traces:read");
    let available = |artifacts: &Value| -> Vec<(String, bool)> {
        artifacts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["id"].as_str().unwrap().to_owned(),
                    a["available"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let expected = [
        ("a1".to_owned(), true),
        ("never_uploaded".to_owned(), false),
        ("g1".to_owned(), false),
    ];
    let tree = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&acme))
        .await
        .json();
    assert_eq!(
        available(&tree["root"]["children"][0]["artifacts"]),
        expected,
        "{tree}"
    );
    let span_id = tree["root"]["children"][0]["span_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let span = app
        .get(
            &format!("/api/executions/exec_1/trace/spans/{span_id}"),
            Some(&acme),
        )
        .await
        .json();
    assert_eq!(available(&span["span"]["artifacts"]), expected, "{span}");
    // What the answer promises holds: the one held downloads, the others do not.
    app.expect_error(
        "/api/artifacts/never_uploaded",
        Some(&acme),
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.get("/api/artifacts/a1", Some(&acme)).await.status, 200);

    // Uploaded later: the next answer says so, though the trace itself is cached.
    std::fs::write(app.artifact_dir.join("exec_1").join("late.txt"), "late").unwrap();
    app.artifact(
        "never_uploaded",
        "exec_1",
        "file:exec_1/late.txt",
        "text/plain",
    );
    let again = app
        .get("/api/executions/exec_1/trace?view=tree", Some(&acme))
        .await
        .json();
    assert_eq!(
        available(&again["root"]["children"][0]["artifacts"])[1],
        ("never_uploaded".to_owned(), true)
    );
}
