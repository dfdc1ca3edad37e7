//! Tokens issued for Orcheo's backend (workspaces and `workflows:*` scopes) read traces here
//! through the claim mapping, and our own claims keep working beside them.

use jsonwebtoken::{EncodingKey, Header};
use orcheo_trace_model::ExecutionStatus;
use orcheo_trace_server::auth::ClaimMapping;
use serde_json::{Value, json};

use crate::helpers::{Db, Options, SECRET, jwt, on_each_backend, spawn_app, spawn_app_with};

on_each_backend!(
    orcheo_tokens_read_their_workspace_with_the_default_mapping,
    a_configured_mapping_decides_tenant_and_scopes,
);

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn exp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600
}

/// The claims Orcheo's backend reads from its bearer tokens: subject, scopes as a space
/// separated `scope`, workspaces as a `workspace_ids` list, `token_use`, `iat`, `exp`.
fn orcheo_claims(scope: &str, workspaces: &[&str]) -> Value {
    json!({
        "sub": "user-42",
        "token_use": "user",
        "scope": scope,
        "workspace_ids": workspaces,
        "iat": exp() - 600,
        "exp": exp(),
        "jti": "tok-1"
    })
}

fn prompt(body: &Value) -> Value {
    body["root"]["children"][0]["prompts"][0].clone()
}

async fn orcheo_tokens_read_their_workspace_with_the_default_mapping(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_acme", "acme", 1, 1, ExecutionStatus::Completed);
    app.seed("exec_globex", "globex", 2, 1, ExecutionStatus::Completed);
    let path = "/api/executions/exec_acme/trace?view=tree";

    let canvas = sign(&orcheo_claims(
        "workflows:read workflows:write workflows:execute",
        &["acme"],
    ));
    let answer = app.get(path, Some(&canvas)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // `workflows:read` reads content too, as Canvas shows it in Orcheo.
    assert_eq!(prompt(&answer.json())["content"], "Write to the customer");
    // The workspace is the tenant: another workspace's execution is unknown.
    app.expect_error(
        "/api/executions/exec_globex/trace",
        Some(&canvas),
        404,
        "not_found",
    )
    .await;
    let listed = app.get("/api/executions", Some(&canvas)).await.json();
    let ids: Vec<&str> = listed["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["exec_acme"]);

    // The other places Orcheo reads: `scopes` as a list, workspaces nested under `orcheo`.
    let nested = sign(&json!({
        "sub": "svc", "exp": exp(),
        "scopes": ["workflows:read"],
        "orcheo": {"workspace_ids": ["globex"]}
    }));
    assert_eq!(
        app.get("/api/executions/exec_globex/trace?view=tree", Some(&nested))
            .await
            .status,
        200
    );
    // Several workspaces: the first is the tenant.
    let several = sign(&orcheo_claims("workflows:read", &["acme", "globex"]));
    assert_eq!(app.get(path, Some(&several)).await.status, 200);
    app.expect_error(
        "/api/executions/exec_globex/trace",
        Some(&several),
        404,
        "not_found",
    )
    .await;

    // Without the mapped scope, no trace.
    let no_read = sign(&orcheo_claims("workflows:execute vault:read", &["acme"]));
    app.expect_error(path, Some(&no_read), 403, "forbidden")
        .await;
    // A tenant claim that names no tenant is refused, not guessed.
    let odd =
        sign(&json!({"sub": "x", "exp": exp(), "scope": "workflows:read", "workspace_ids": 7}));
    app.expect_error(path, Some(&odd), 401, "unauthenticated")
        .await;

    // Our own claims work as before.
    let ours = jwt("acme", "traces:read");
    let answer = app.get(path, Some(&ours)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(prompt(&answer.json())["withheld"], true);
}

async fn a_configured_mapping_decides_tenant_and_scopes(db: Db) {
    let Some(app) = spawn_app_with(
        db,
        Options {
            claims: Some(ClaimMapping {
                tenant_claims: vec!["org.id".to_owned()],
                read_scopes: vec!["traces.viewer".to_owned()],
                read_content_scopes: vec![],
                admin_scopes: vec!["platform:admin".to_owned()],
            }),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    app.seed("exec_acme", "acme", 1, 1, ExecutionStatus::Completed);
    app.seed("exec_globex", "globex", 2, 1, ExecutionStatus::Completed);
    let path = "/api/executions/exec_acme/trace?view=tree";
    let viewer =
        sign(&json!({"sub": "u", "exp": exp(), "scp": "traces.viewer", "org": {"id": "acme"}}));
    let answer = app.get(path, Some(&viewer)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // Reading is granted, content is not.
    assert_eq!(prompt(&answer.json())["withheld"], true);
    // `workflows:read` is no longer mapped.
    let orcheo = sign(&orcheo_claims("workflows:read", &["acme"]));
    app.expect_error(path, Some(&orcheo), 403, "forbidden")
        .await;
    // The mapped admin scope sees every tenant.
    let admin = sign(
        &json!({"sub": "root", "exp": exp(), "scope": "platform:admin", "org": {"id": "ops"}}),
    );
    assert_eq!(
        app.get("/api/executions/exec_globex/trace?view=tree", Some(&admin))
            .await
            .status,
        200
    );
}
