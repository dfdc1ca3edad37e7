//! Tokens of an identity provider, verified with the keys of its JWKS (fetched from a URL and
//! cached, or read from a file): the key is the one the token's `kid` names, a rotation at the
//! URL is picked up, and unknown keys cannot make the server hammer the provider.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orcheo_trace_model::ExecutionStatus;
use orcheo_trace_server::jwks::JwksConfig;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::helpers::{Db, Options, SECRET, TestApp, serve_stand_in, spawn_app_with};

/// A P-256 key pair made for the test, and its public half as a JWK.
struct TestKey {
    encoding: EncodingKey,
    kid: String,
    jwk: Value,
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // An uncompressed point: 0x04, then x and y.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Self {
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            kid: kid.to_owned(),
            jwk,
        }
    }

    /// A token Orcheo's backend would accept: workspaces and `workflows:*` scopes.
    fn token(&self, workspace: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims(workspace), &self.encoding).unwrap()
    }
}

fn claims(workspace: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "sub": "user-42",
        "scope": "workflows:read workflows:execute",
        "workspace_ids": [workspace],
        "iat": now,
        "exp": now + 600,
    })
}

fn document(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// A stand-in identity provider serving a JWKS document and counting its fetches.
#[derive(Clone)]
struct Provider {
    addr: SocketAddr,
    document: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn start(document: String) -> Self {
        let document = Arc::new(Mutex::new(document));
        let fetches: Arc<AtomicUsize> = Arc::default();
        let (served, counted) = (Arc::clone(&document), Arc::clone(&fetches));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = serve_stand_in(listener, move |_req| {
            counted.fetch_add(1, Ordering::SeqCst);
            let body = served.lock().unwrap().clone();
            http::Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        });
        Self {
            addr,
            document,
            fetches,
        }
    }

    fn publish(&self, document: String) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn config(&self, min_refetch: Duration) -> JwksConfig {
        JwksConfig {
            url: Some(format!("http://{}/jwks.json", self.addr).parse().unwrap()),
            static_keys: None,
            cache: Duration::from_mins(5),
            min_refetch,
        }
    }
}

async fn app_with(jwks: JwksConfig) -> TestApp {
    let app = spawn_app_with(
        Db::Sqlite,
        Options {
            jwks: Some(jwks),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    app.seed("exec_acme", "acme", 1, 1, ExecutionStatus::Completed);
    app.seed("exec_globex", "globex", 2, 1, ExecutionStatus::Completed);
    app
}

async fn status(app: &TestApp, execution: &str, token: &str) -> u16 {
    let answer = app
        .get(&format!("/api/executions/{execution}/trace"), Some(token))
        .await;
    answer.status
}

#[actix_web::test]
async fn a_token_signed_by_a_fetched_key_reads_its_workspace() {
    let key = TestKey::generate("k1");
    let provider = Provider::start(document(&[&key]));
    let app = app_with(provider.config(Duration::ZERO)).await;
    assert_eq!(provider.fetches(), 1, "the keys are fetched at start");
    let token = key.token("acme");
    assert_eq!(status(&app, "exec_acme", &token).await, 200);
    // The workspace is the tenant: another one's execution is unknown.
    assert_eq!(status(&app, "exec_globex", &token).await, 404);
    // Cached: no fetch per request.
    assert_eq!(provider.fetches(), 1);
}

#[actix_web::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let old = TestKey::generate("k1");
    let provider = Provider::start(document(&[&old]));
    let app = app_with(provider.config(Duration::ZERO)).await;
    let new = TestKey::generate("k2");
    // Not published yet: refused after one refetch.
    assert_eq!(status(&app, "exec_acme", &new.token("acme")).await, 401);
    assert_eq!(provider.fetches(), 2);
    provider.publish(document(&[&old, &new]));
    assert_eq!(status(&app, "exec_acme", &new.token("acme")).await, 200);
    assert_eq!(status(&app, "exec_acme", &old.token("acme")).await, 200);
    assert_eq!(provider.fetches(), 3);
}

#[actix_web::test]
async fn unknown_keys_refetch_at_most_once_per_interval() {
    let key = TestKey::generate("k1");
    let provider = Provider::start(document(&[&key]));
    let app = app_with(provider.config(Duration::from_hours(1))).await;
    assert_eq!(provider.fetches(), 1);
    let stranger = TestKey::generate("k2");
    provider.publish(document(&[&key, &stranger]));
    for _ in 0..20 {
        assert_eq!(
            status(&app, "exec_acme", &stranger.token("acme")).await,
            401
        );
    }
    let answer = app
        .get(
            "/api/executions/exec_acme/trace",
            Some(&stranger.token("acme")),
        )
        .await;
    assert!(answer.text.contains("k2"), "{}", answer.text);
    // The interval since the fetch at start has not passed: the provider was not asked again.
    assert_eq!(provider.fetches(), 1);
    assert_eq!(status(&app, "exec_acme", &key.token("acme")).await, 200);
}

#[actix_web::test]
async fn tampered_tokens_and_other_algorithms_are_refused() {
    let key = TestKey::generate("k1");
    let provider = Provider::start(document(&[&key]));
    let app = app_with(provider.config(Duration::ZERO)).await;
    let token = key.token("acme");

    // Another workspace in the payload, the signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims("globex").to_string());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(status(&app, "exec_globex", &tampered).await, 401);

    // The key's public coordinates used as an HMAC secret under its kid.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".to_owned());
    let x = key.jwk["x"].as_str().unwrap().as_bytes().to_vec();
    let hmac = jsonwebtoken::encode(&hs, &claims("acme"), &EncodingKey::from_secret(&x)).unwrap();
    assert_eq!(status(&app, "exec_acme", &hmac).await, 401);
    // With the server's HS256 secret: a token naming a JWKS key is verified by that key only.
    let ours =
        jsonwebtoken::encode(&hs, &claims("acme"), &EncodingKey::from_secret(SECRET)).unwrap();
    assert_eq!(status(&app, "exec_acme", &ours).await, 401);

    // `alg: none`.
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#);
    let none = format!("{none_header}.{}.", parts[1]);
    assert_eq!(status(&app, "exec_acme", &none).await, 401);

    assert_eq!(status(&app, "exec_acme", &token).await, 200);
}

#[actix_web::test]
async fn a_jwks_file_holds_static_keys() {
    let key = TestKey::generate("static-1");
    let app = app_with(JwksConfig {
        static_keys: Some(document(&[&key]).into_bytes()),
        ..JwksConfig::default()
    })
    .await;
    assert_eq!(status(&app, "exec_acme", &key.token("acme")).await, 200);
    let other = TestKey::generate("static-2");
    assert_eq!(status(&app, "exec_acme", &other.token("acme")).await, 401);
}

#[actix_web::test]
async fn an_unreachable_provider_does_not_stop_the_server_and_is_reported() {
    // A port nothing listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = app_with(JwksConfig {
        url: Some(format!("http://{addr}/jwks.json").parse().unwrap()),
        static_keys: None,
        cache: Duration::from_mins(5),
        min_refetch: Duration::ZERO,
    })
    .await;
    let answer = app.get("/readyz", None).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.json()["jwks"]["status"], "failing");
    let key = TestKey::generate("k1");
    assert_eq!(status(&app, "exec_acme", &key.token("acme")).await, 401);
}
