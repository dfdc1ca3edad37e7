//! `spawn_app()`: the real application on port 0 with a temporary database (SQLite, or a fresh
//! PostgreSQL database) and a fake Tempo, plus typed request helpers and data builders.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use diesel::RunQueryDsl as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use jsonwebtoken::{EncodingKey, Header};
use orcheo_collector_client::{BackendKind, ClientConfig, RetryConfig};
use orcheo_trace_model::{
    ExecutionId, ExecutionStatus, SpanId, SpanSummary, StatusCode, Timestamp, TraceId,
};
use orcheo_trace_server::Application;
use orcheo_trace_server::auth::{AuthConfig, StaticToken};
use orcheo_trace_server::config::{LogFormat, ServerConfig, TraceBackend};
use orcheo_trace_store::{ArtifactRecord, NewExecution, PoolConfig, Store, TraceLink};
use serde_json::{Value, json};

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const STATIC_TOKEN: &str = "static-token-of-acme-canvas";

/// Which database the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// How the fake Tempo answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Up,
    /// 503 to everything.
    Down,
    /// 503 with `Retry-After: n` (seconds) to everything.
    DownFor(u64),
    /// 200 with a body that is not a trace.
    Garbage,
    /// Connections accepted, answers never sent.
    Hanging,
}

/// A fake Tempo on its own thread: `/api/v2/traces/{id}` answers from a map, `/api/search`
/// with the traces it was told to find (and records each query string).
#[derive(Clone)]
pub struct FakeTempo {
    pub addr: SocketAddr,
    traces: Arc<Mutex<HashMap<String, Value>>>,
    mode: Arc<Mutex<StoreMode>>,
    pub fetches: Arc<AtomicUsize>,
    search_hits: Arc<Mutex<Vec<TraceId>>>,
    pub searches: Arc<Mutex<Vec<String>>>,
}

impl FakeTempo {
    fn start() -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let fake = Self {
            addr: std_listener.local_addr().unwrap(),
            traces: Arc::default(),
            mode: Arc::new(Mutex::new(StoreMode::Up)),
            fetches: Arc::default(),
            search_hits: Arc::default(),
            searches: Arc::default(),
        };
        let server = fake.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                while let Ok((socket, _)) = listener.accept().await {
                    let server = server.clone();
                    if *server.mode.lock().unwrap() == StoreMode::Hanging {
                        // Keep the connection open and say nothing.
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_mins(1)).await;
                            drop(socket);
                        });
                        continue;
                    }
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            std::future::ready(Ok::<_, Infallible>(server.answer(&req)))
                        });
                        let io = hyper_util::rt::TokioIo::new(socket);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        });
        fake
    }

    pub fn put(&self, trace_id: TraceId, otlp: &Value) {
        self.traces
            .lock()
            .unwrap()
            .insert(trace_id.to_string(), json!({ "trace": otlp }));
    }

    /// What every `/api/search` answers from now on.
    pub fn find(&self, traces: &[TraceId]) {
        *self.search_hits.lock().unwrap() = traces.to_vec();
    }

    pub fn set_mode(&self, mode: StoreMode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let mode = *self.mode.lock().unwrap();
        let (status, body) = match mode {
            StoreMode::Down | StoreMode::DownFor(_) | StoreMode::Hanging => {
                (503, Bytes::from_static(b"tempo is restarting"))
            }
            StoreMode::Garbage => (200, Bytes::from_static(b"<html>proxy error</html>")),
            StoreMode::Up => {
                if path == "/ready" || path == "/api/echo" {
                    (200, Bytes::from_static(b"ready"))
                } else if path == "/api/search" {
                    let query = req.uri().query().unwrap_or_default().to_owned();
                    self.searches.lock().unwrap().push(query);
                    let traces: Vec<Value> = self
                        .search_hits
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|t| json!({ "traceID": t.to_string() }))
                        .collect();
                    (200, Bytes::from(json!({ "traces": traces }).to_string()))
                } else if let Some(id) = path.strip_prefix("/api/v2/traces/") {
                    self.fetches.fetch_add(1, Ordering::SeqCst);
                    match self.traces.lock().unwrap().get(id) {
                        Some(body) => (200, Bytes::from(body.to_string())),
                        // Tempo v2's answer for a trace it does not have.
                        None => (200, Bytes::from_static(b"{\"trace\":{}}")),
                    }
                } else {
                    (404, Bytes::from_static(b"404 page not found"))
                }
            }
        };
        let mut response = Response::builder()
            .status(status)
            .header("content-type", "application/json");
        if let StoreMode::DownFor(seconds) = mode {
            response = response.header("retry-after", seconds.to_string());
        }
        response.body(Full::new(body)).unwrap()
    }
}

/// A fresh database; dropped with the test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg_drop
            && let Ok(mut admin) = orcheo_trace_store::postgres_connection(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// Says, where the test output shows it, that the running test did not run (`why`, and how to
/// run it); in CI, which must run every test, fails it with `in_ci` instead.
pub fn skipped(why: &str, in_ci: &str) {
    use std::io::Write as _;
    let current = std::thread::current();
    let test = current.name().unwrap_or("a server test");
    assert!(std::env::var_os("CI").is_none(), "{test}: {in_ci}");
    // Straight to stderr: the test harness captures `eprintln!`, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test} ({why})");
}

fn database(db: Db) -> Option<TestDb> {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("trace.db").display());
            Some(TestDb {
                url,
                _dir: Some(dir),
                pg_drop: None,
            })
        }
        Db::Postgres => {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let Ok(admin_url) = std::env::var("ORCHEO_TEST_DATABASE_URL") else {
                skipped(
                    "no PostgreSQL server given, set ORCHEO_TEST_DATABASE_URL to run it",
                    "CI must set ORCHEO_TEST_DATABASE_URL",
                );
                return None;
            };
            let name = format!(
                "orcheo_api_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            let mut admin = orcheo_trace_store::postgres_connection(&admin_url).unwrap();
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut admin)
                .unwrap();
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            Some(TestDb {
                url: format!("{base}/{name}"),
                _dir: None,
                pg_drop: Some((admin_url, name)),
            })
        }
    }
}

/// What to change from the test defaults.
#[derive(Default)]
pub struct Options {
    /// No authentication at all.
    pub no_auth: bool,
    pub protect_ops: bool,
    pub embedded: bool,
    pub cache_bytes: Option<u64>,
    pub page_max_spans: Option<usize>,
    /// The exporter of the server's own spans to report on.
    pub exporter: Option<orcheo_trace_server::telemetry::OwnTelemetry>,
    pub request_timeout: Option<Duration>,
    pub ingest_token: Option<String>,
    pub ingest_limits: Option<orcheo_ingest::IngestLimits>,
    pub live: Option<orcheo_trace_server::live::LiveLimits>,
    /// The `iss` and `aud` JWTs must carry.
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// The RSA public key (PEM) of accepted RS256 JWTs.
    pub jwt_public_key_pem: Option<Vec<u8>>,
    /// An identity provider's keys (a JWKS URL or document).
    pub jwks: Option<orcheo_trace_server::jwks::JwksConfig>,
    pub otlp_connections: Option<orcheo_ingest::connections::ReceiverLimits>,
    /// Another trace store than the fake Tempo.
    pub trace_store: Option<ClientConfig>,
    /// Search the trace store for unknown executions over this lookback.
    pub search_lookback: Option<Duration>,
    /// `ORCHEO_CORS_ALLOWED_ORIGINS`.
    pub cors_origins: Option<&'static str>,
    /// The key of signed artifact links (a random one otherwise).
    pub artifact_link_key: Option<Vec<u8>>,
    pub artifact_link_ttl: Option<Duration>,
    /// How JWT claims name tenants and scopes (the default mapping otherwise).
    pub claims: Option<orcheo_trace_server::auth::ClaimMapping>,
    /// How long the fake Tempo may take in all (3 s unless set): large traces in debug builds.
    pub trace_store_timeout: Option<Duration>,
    /// The price table (the built-in one otherwise).
    pub prices: Option<orcheo_pricing::PriceTable>,
}

/// A running application.
pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the OTLP receivers (embedded mode).
    pub otlp_http: Option<String>,
    pub otlp_grpc: Option<String>,
    pub client: reqwest::Client,
    pub store: Store,
    pub tempo: FakeTempo,
    pub artifact_dir: PathBuf,
    _artifacts: tempfile::TempDir,
    db: TestDb,
}

/// The tokens file: [`STATIC_TOKEN`] reads tenant `acme` with content.
fn static_tokens() -> Vec<StaticToken> {
    let hash = ring::digest::digest(&ring::digest::SHA256, STATIC_TOKEN.as_bytes());
    let hex: String = hash
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .concat();
    let tokens = format!(
        r#"[{{"name": "canvas", "sha256": "{hex}", "tenant": "acme", "scopes": ["traces:read", "traces:read_content"]}}]"#
    );
    StaticToken::parse_file(tokens.as_bytes()).unwrap()
}

pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with(db, Options::default()).await
}

pub async fn spawn_app_with(db: Db, options: Options) -> Option<TestApp> {
    // The test's own HTTP client needs a TLS provider even when the app built none.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let test_db = database(db)?;
    let tempo = FakeTempo::start();
    let artifacts = tempfile::tempdir().unwrap();
    let mut client = ClientConfig::new(BackendKind::Tempo, format!("http://{}", tempo.addr));
    client.attempt_timeout = Duration::from_secs(2);
    client.overall_timeout = Duration::from_secs(3);
    if let Some(timeout) = options.trace_store_timeout {
        client.attempt_timeout = timeout;
        client.overall_timeout = timeout;
    }
    client.retry = RetryConfig {
        max_attempts: 2,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        jitter: false,
    };
    let auth = if options.no_auth {
        AuthConfig::default()
    } else {
        AuthConfig {
            jwt_secret: Some(SECRET.to_vec().into()),
            static_tokens: static_tokens(),
            protect_ops: options.protect_ops,
            issuer: options.jwt_issuer.clone(),
            audience: options.jwt_audience.clone(),
            jwt_public_key_pem: options.jwt_public_key_pem.clone(),
            jwks: options.jwks.clone().unwrap_or_default(),
            claims: options.claims.clone().unwrap_or_default(),
        }
    };
    let receiver = options.embedded.then(|| "127.0.0.1:0".parse().unwrap());
    let config = ServerConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        otlp_grpc_addr: receiver,
        otlp_http_addr: receiver,
        otlp_ingest_token: options.ingest_token.clone().map(Into::into),
        ingest_limits: options.ingest_limits.unwrap_or_default(),
        otlp_connections: options.otlp_connections.unwrap_or_default(),
        database_url: test_db.url.clone().into(),
        backend: if options.embedded {
            TraceBackend::Embedded
        } else {
            TraceBackend::Remote(Box::new(options.trace_store.clone().unwrap_or(client)))
        },
        search_lookback: options.search_lookback,
        dashboards: vec![(
            "tempo".to_owned(),
            "https://grafana.example.com/explore?traceId={trace_id}".to_owned(),
        )],
        auth,
        allow_unauthenticated: false,
        redaction: Some(vec!["ORDER-[0-9]+".to_owned()]),
        prices: options
            .prices
            .clone()
            .unwrap_or_else(|| orcheo_pricing::PriceTable::builtin().unwrap()),
        retention: None,
        artifact_dir: artifacts.path().to_owned(),
        cors: orcheo_trace_server::cors::CorsConfig::parse(options.cors_origins.unwrap_or(""))
            .unwrap(),
        artifact_link_key: options.artifact_link_key.clone().map(Into::into),
        artifact_link_ttl: options.artifact_link_ttl.unwrap_or(Duration::from_mins(15)),
        cache_bytes: options.cache_bytes.unwrap_or(16 * 1024 * 1024),
        page_max_spans: options.page_max_spans.unwrap_or(10_000),
        request_timeout: options.request_timeout.unwrap_or(Duration::from_secs(20)),
        workers: 1,
        log_format: LogFormat::Text,
        live: options.live.unwrap_or_default(),
    };
    let app = Application::build_with_exporter(config, options.exporter)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let otlp_http = app
        .otlp_http_port()
        .map(|p| format!("http://127.0.0.1:{p}"));
    let otlp_grpc = app
        .otlp_grpc_port()
        .map(|p| format!("http://127.0.0.1:{p}"));
    actix_web::rt::spawn(app.run());
    let store = Store::open(&test_db.url, PoolConfig::default()).unwrap();
    Some(TestApp {
        address,
        otlp_http,
        otlp_grpc,
        client: reqwest::Client::new(),
        store,
        tempo,
        artifact_dir: artifacts.path().to_owned(),
        _artifacts: artifacts,
        db: test_db,
    })
}

/// An answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error envelope's code.
    pub fn error_code(&self) -> String {
        let body = self.json();
        assert!(
            body["error"]["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{body}"
        );
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl TestApp {
    /// The database the app runs on.
    pub fn database_url(&self) -> &str {
        &self.db.url
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    /// Sends `method` to `path` with `headers`.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    /// GETs `path`; the answer must be the error `code` with `status`.
    pub async fn expect_error(
        &self,
        path: &str,
        token: Option<&str>,
        status: u16,
        code: &str,
    ) -> Answer {
        let answer = self.get(path, token).await;
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (status, code),
            "{path}: {}",
            answer.text
        );
        answer
    }

    /// A trace of `children` nodes under a root, in the fake Tempo, and its execution.
    pub fn seed(
        &self,
        execution: &str,
        tenant: &str,
        trace: u8,
        children: usize,
        status: ExecutionStatus,
    ) -> TraceId {
        let trace_id = trace_id(trace);
        self.tempo
            .put(trace_id, &otlp_trace(trace_id, execution, children));
        self.execution(execution, tenant, Some(trace_id), status);
        trace_id
    }

    pub fn execution(
        &self,
        execution: &str,
        tenant: &str,
        trace_id: Option<TraceId>,
        status: ExecutionStatus,
    ) {
        let id = ExecutionId::new(execution).unwrap();
        self.store
            .start_execution(&NewExecution {
                id: id.clone(),
                workflow_id: Some("wf_email".to_owned()),
                workflow_version: Some("3".to_owned()),
                tenant: Some(tenant.to_owned()),
                triggered_by: Some("manual".to_owned()),
                started_at: at(0),
                trace: trace_id.map(|trace_id| TraceLink {
                    trace_id,
                    traceparent: format!("00-{trace_id}-{}-01", span_id(1)),
                }),
            })
            .unwrap();
        if status.is_final() {
            self.store
                .finish_execution(
                    &id,
                    status,
                    (status == ExecutionStatus::Error).then_some("boom"),
                    at(12),
                )
                .unwrap();
        }
    }

    /// Span summaries of the seeded trace's root and first child.
    pub fn summaries(&self, execution: &str) {
        let id = ExecutionId::new(execution).unwrap();
        let summary = |span: u64, parent: Option<u64>, name: &str, kind: &str| SpanSummary {
            execution_id: id.clone(),
            span_id: span_id(span),
            parent_span_id: parent.map(span_id),
            name: name.to_owned(),
            kind: kind.to_owned(),
            start_time: at(span),
            end_time: Some(at(span + 1)),
            status_code: StatusCode::Ok,
            status_message: None,
            input_tokens: (span > 1).then_some(100),
            output_tokens: (span > 1).then_some(20),
            cached_input_tokens: None,
            model: None,
            provider: None,
        };
        self.store
            .record_summaries(&[
                summary(1, None, "workflow.execution", "workflow"),
                summary(2, Some(1), "Draft Email", "llm"),
            ])
            .unwrap();
    }

    /// `children` node spans and a root, as the OTLP receiver stores them.
    pub fn local_spans(&self, trace_id: TraceId, execution: &str, children: u64) {
        use opentelemetry_proto::tonic::trace::v1::{Span, TracesData};
        use prost::Message as _;
        let mut resource_spans = otlp_proto_trace(trace_id, execution, children);
        // One span the receiver cannot place: counted, not stored.
        resource_spans[0].scope_spans[0].spans.push(Span {
            trace_id: vec![1, 2, 3],
            ..Span::default()
        });
        let data = TracesData { resource_spans };
        let data =
            orcheo_ingest::otlp::TracesData::decode(data.encode_to_vec().as_slice()).unwrap();
        let split = orcheo_ingest::split::split(data);
        assert_eq!(split.invalid, 1);
        assert!(
            split
                .spans
                .iter()
                .all(|s| s.execution_id.as_ref().map(ExecutionId::as_str) == Some(execution))
        );
        let report = self
            .store
            .store_local_spans(
                &split.spans,
                at(20),
                orcheo_trace_store::LocalSpanLimits::default(),
            )
            .unwrap();
        assert_eq!(report.stored, split.spans.len());
    }

    pub fn artifact(
        &self,
        artifact_id: &str,
        execution: &str,
        storage_uri: &str,
        content_type: &str,
    ) {
        self.store
            .register_artifact(&ArtifactRecord {
                artifact_id: artifact_id.to_owned(),
                execution_id: ExecutionId::new(execution).unwrap(),
                span_id: Some(span_id(2)),
                name: Some("email.txt".to_owned()),
                content_type: Some(content_type.to_owned()),
                size_bytes: Some(5),
                storage_uri: storage_uri.to_owned(),
                created_at: at(3),
            })
            .unwrap();
    }
}

/// A root and `children` nodes as OTLP protobuf, the way an exporter sends them.
pub fn otlp_proto_trace(
    trace_id: TraceId,
    execution: &str,
    children: u64,
) -> Vec<opentelemetry_proto::tonic::trace::v1::ResourceSpans> {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let text = |key: &str, value: &str| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    };
    let spans = (1..=children + 1)
        .map(|n| Span {
            trace_id: trace_id.to_bytes().to_vec(),
            span_id: span_id(n).to_bytes().to_vec(),
            parent_span_id: if n == 1 {
                Vec::new()
            } else {
                span_id(1).to_bytes().to_vec()
            },
            name: if n == 1 {
                "workflow.execution".to_owned()
            } else {
                format!("node {n}")
            },
            start_time_unix_nano: at(n).unix_nanos(),
            end_time_unix_nano: at(n + 1).unix_nanos(),
            attributes: vec![text("orcheo.execution.id", execution)],
            ..Span::default()
        })
        .collect();
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![text("service.name", "orcheo-backend")],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "orcheo.tracing".to_owned(),
                ..InstrumentationScope::default()
            }),
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }]
}

/// The message of an OTLP/HTTP `Status` body (protobuf).
pub fn rpc_status(body: &[u8]) -> String {
    use prost::Message as _;
    orcheo_ingest::http::RpcStatus::decode(body)
        .unwrap()
        .message
}

pub fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_790_000_000_000_000_000 + seconds * 1_000_000_000)
}

pub fn trace_id(n: u8) -> TraceId {
    TraceId::from_bytes([n; 16]).unwrap()
}

pub fn span_id(n: u64) -> SpanId {
    SpanId::from_bytes(n.to_be_bytes()).unwrap()
}

/// An OTLP/JSON trace: `workflow.execution` with `children` LLM nodes, each with a prompt,
/// a response and tokens.
pub fn otlp_trace(trace_id: TraceId, execution: &str, children: usize) -> Value {
    let nanos = |s: u64| at(s).unix_nanos().to_string();
    let mut spans = vec![json!({
        "traceId": trace_id.to_string(),
        "spanId": span_id(1).to_string(),
        "name": "workflow.execution",
        "kind": 1,
        "startTimeUnixNano": nanos(0),
        "endTimeUnixNano": nanos(12),
        "attributes": [
            {"key": "orcheo.execution.id", "value": {"stringValue": execution}},
            {"key": "orcheo.workflow.id", "value": {"stringValue": "wf_email"}}
        ],
        "status": {"code": 1}
    })];
    for i in 0..children as u64 {
        spans.push(json!({
            "traceId": trace_id.to_string(),
            "spanId": span_id(i + 2).to_string(),
            "parentSpanId": span_id(1).to_string(),
            "name": format!("Draft Email {i}"),
            "kind": 1,
            "startTimeUnixNano": nanos(1),
            "endTimeUnixNano": nanos(2),
            "attributes": [
                {"key": "orcheo.execution.id", "value": {"stringValue": execution}},
                {"key": "orcheo.node.kind", "value": {"stringValue": "llm"}},
                {"key": "orcheo.token.input", "value": {"intValue": "100"}},
                {"key": "orcheo.token.output", "value": {"intValue": "20"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}
            ],
            "events": [
                {"name": "prompt", "timeUnixNano": nanos(1), "attributes": [
                    {"key": "preview", "value": {"stringValue": "Write to the customer"}},
                    {"key": "role", "value": {"stringValue": "user"}}
                ]},
                {"name": "response", "timeUnixNano": nanos(2), "attributes": [
                    {"key": "preview", "value": {"stringValue": "Dear customer"}}
                ]}
            ],
            "status": {"code": 1}
        }));
    }
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orcheo-backend"}}]},
        "scopeSpans": [{"scope": {"name": "orcheo.tracing"}, "spans": spans}]
    }]})
}

/// A JWT signed with the test secret.
pub fn jwt(tenant: &str, scope: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    jsonwebtoken::encode(
        &Header::default(),
        &json!({"sub": "ada", "tenant": tenant, "scope": scope, "exp": exp}),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// Runs each named check on SQLite and on PostgreSQL (when configured; always in CI).
macro_rules! on_each_backend {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $check() {
                    super::$check(crate::helpers::Db::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $check() {
                    super::$check(crate::helpers::Db::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_each_backend;

/// Serves HTTP/1 on `listener` from its own thread until the test ends, answering every
/// request with `answer`: the stand-ins for the services the server calls (trace stores,
/// identity providers).
pub fn serve_stand_in<F>(listener: std::net::TcpListener, answer: F) -> SocketAddr
where
    F: Fn(&Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                let answer = Arc::clone(&answer);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        std::future::ready(Ok::<_, Infallible>(answer(&req)))
                    });
                    let io = hyper_util::rt::TokioIo::new(socket);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    });
    addr
}
