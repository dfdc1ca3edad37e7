//! Who may call: bearer tokens, scopes, and the answers to those who may not.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orcheo_trace_model::ExecutionStatus;
use serde_json::{Value, json};

use crate::helpers::{
    Db, Options, SECRET, STATIC_TOKEN, jwt, on_each_backend, spawn_app, spawn_app_with,
};

on_each_backend!(
    tokens_are_required_and_checked,
    a_configured_issuer_and_audience_must_be_in_the_token,
);

async fn tokens_are_required_and_checked(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let path = "/api/executions/exec_1/trace?view=tree";
    let none = app.get(path, None).await;
    assert_eq!(
        (none.status, none.error_code().as_str()),
        (401, "unauthenticated")
    );
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let bad = app.get(path, Some("not-a-token")).await;
    assert_eq!(bad.status, 401);
    let forged = jwt("acme", "traces:read").replace('.', ".x");
    assert_eq!(app.get(path, Some(&forged)).await.status, 401);
    let no_scope = app.get(path, Some(&jwt("acme", "profile"))).await;
    assert_eq!(
        (no_scope.status, no_scope.error_code().as_str()),
        (403, "forbidden")
    );
    // The static token of tenant acme, with content.
    let body = app.get(path, Some(STATIC_TOKEN)).await.json();
    assert_eq!(
        body["root"]["children"][0]["prompts"][0]["content"],
        "Write to the customer"
    );
    // A caller's request id comes back.
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .header("x-request-id", "canvas-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "canvas-req-42");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "canvas-req-42");
}

/// `claims` with a subject, a scope and an expiry, signed with HS256 or RS256.
fn signed(algorithm: Algorithm, claims: &Value) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut claims = claims.clone();
    claims["sub"] = json!("ada");
    claims["tenant"] = json!("acme");
    claims["scope"] = json!("traces:read");
    claims["exp"] = json!(exp);
    let key = match algorithm {
        Algorithm::RS256 => {
            EncodingKey::from_rsa_pem(include_bytes!("../data/jwt-test-rsa.key.pem")).unwrap()
        }
        _ => EncodingKey::from_secret(SECRET),
    };
    jsonwebtoken::encode(&Header::new(algorithm), &claims, &key).unwrap()
}

async fn a_configured_issuer_and_audience_must_be_in_the_token(db: Db) {
    let Some(app) = spawn_app_with(
        db,
        Options {
            jwt_issuer: Some("https://auth.orcheo.example".to_owned()),
            jwt_audience: Some("orcheo-trace".to_owned()),
            jwt_public_key_pem: Some(include_bytes!("../data/jwt-test-rsa.pub.pem").to_vec()),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let iss = "https://auth.orcheo.example";
    let aud = "orcheo-trace";
    let refused = [
        ("no iss", json!({"aud": aud})),
        ("no aud", json!({"iss": iss})),
        ("neither", json!({})),
        (
            "wrong iss",
            json!({"iss": "https://evil.example", "aud": aud}),
        ),
        ("wrong aud", json!({"iss": iss, "aud": "another-service"})),
        ("iss not a string", json!({"iss": 7, "aud": aud})),
    ];
    for algorithm in [Algorithm::HS256, Algorithm::RS256] {
        for (what, claims) in &refused {
            let token = signed(algorithm, claims);
            for path in ["/api/executions/exec_1/trace?view=tree", "/api/executions"] {
                let answer = app.get(path, Some(&token)).await;
                assert_eq!(
                    (answer.status, answer.error_code().as_str()),
                    (401, "unauthenticated"),
                    "{algorithm:?}, {what}, {path}: {}",
                    answer.text
                );
            }
        }
        let token = signed(algorithm, &json!({"iss": iss, "aud": aud}));
        let answer = app
            .get("/api/executions/exec_1/trace?view=tree", Some(&token))
            .await;
        assert_eq!(answer.status, 200, "{algorithm:?}: {}", answer.text);
        // `aud` may list several audiences, this one among them.
        let token = signed(algorithm, &json!({"iss": iss, "aud": ["other", aud]}));
        assert_eq!(app.get("/api/executions", Some(&token)).await.status, 200);
    }
}
