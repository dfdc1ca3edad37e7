//! `/healthz`, `/readyz`, `/metrics`, `/api/openapi.json`, and the unauthenticated mode.

use orcheo_trace_model::ExecutionStatus;

use crate::helpers::{
    Db, Options, StoreMode, jwt, on_each_backend, skipped, spawn_app, spawn_app_with,
};

on_each_backend!(
    health_and_readiness_report_dependencies,
    metrics_are_valid_exposition_with_every_server_metric,
    ops_endpoints_can_be_protected,
    without_auth_every_caller_is_the_local_operator,
    embedded_backend_reads_the_local_span_store,
    a_failing_exporter_of_our_own_spans_shows_in_readiness_and_metrics,
    a_store_refusing_writes_fails_readiness_and_counts_refusals_until_a_write_succeeds,
);

async fn health_and_readiness_report_dependencies(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.get("/healthz", None).await.json()["status"], "ok");
    let post = app
        .client
        .post(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    let head = app
        .client
        .head(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let body: serde_json::Value = post.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let body = ready.json();
    assert_eq!(body["database"]["status"], "ok");
    assert_eq!(body["trace_backend"]["backend"], "tempo");
    assert_eq!(body["trace_backend"]["circuit"], "closed");
    app.tempo.set_mode(StoreMode::Down);
    let not_ready = app.get("/readyz", None).await;
    assert_eq!(not_ready.status, 503, "{}", not_ready.text);
    assert_eq!(not_ready.json()["trace_backend"]["status"], "failing");
}

/// Parses the text exposition: `name{labels} value` lines and `# TYPE` lines.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse::<f64>().unwrap())
        })
        .collect()
}

async fn metrics_are_valid_exposition_with_every_server_metric(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read");
    assert_eq!(
        app.get("/api/executions/exec_1/trace?view=tree", Some(&token))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/api/executions/nope/trace?view=tree", Some(&token))
            .await
            .status,
        404
    );
    let answer = app.get("/metrics", None).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let samples = samples(&answer.text);
    let value = |series: &str| samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v);
    assert_eq!(
        value(
            r#"orcheo_http_requests_total{method="GET",route="/api/executions/{execution_id}/trace",status="200"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            r#"orcheo_http_requests_total{method="GET",route="/api/executions/{execution_id}/trace",status="404"}"#
        ),
        Some(1.0)
    );
    for name in [
        "orcheo_http_request_duration_seconds_bucket",
        "orcheo_trace_fetch_duration_seconds_bucket",
        "orcheo_trace_backend_circuit_state",
    ] {
        assert!(
            samples.iter().any(|(s, _)| s.starts_with(name)),
            "{name} missing:\n{}",
            answer.text
        );
    }
    // `promtool check metrics`, where Prometheus's tool is installed (CI installs it).
    if let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        skipped(
            "the promtool check only: promtool is not installed, put Prometheus's promtool on the PATH to run it",
            "CI must have promtool",
        );
    }
}

async fn ops_endpoints_can_be_protected(db: Db) {
    let options = Options {
        protect_ops: true,
        ..Options::default()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    assert_eq!(
        app.get("/healthz", None).await.status,
        200,
        "liveness stays open"
    );
    assert_eq!(app.get("/metrics", None).await.status, 401);
    assert_eq!(
        app.get("/readyz", Some(&jwt("acme", "traces:read")))
            .await
            .status,
        403
    );
    let admin = jwt("acme", "traces:admin");
    assert_eq!(app.get("/metrics", Some(&admin)).await.status, 200);
    assert_eq!(app.get("/readyz", Some(&admin)).await.status, 200);
}

async fn without_auth_every_caller_is_the_local_operator(db: Db) {
    let options = Options {
        no_auth: true,
        ..Options::default()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    app.seed("exec_1", "globex", 1, 1, ExecutionStatus::Completed);
    let body = app
        .get("/api/executions/exec_1/trace?view=tree", None)
        .await
        .json();
    assert_eq!(
        body["root"]["children"][0]["prompts"][0]["content"],
        "Write to the customer"
    );
}

async fn embedded_backend_reads_the_local_span_store(db: Db) {
    let options = Options {
        embedded: true,
        ..Options::default()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    let trace_id = crate::helpers::trace_id(5);
    app.execution(
        "exec_local",
        "acme",
        Some(trace_id),
        ExecutionStatus::Completed,
    );
    app.local_spans(trace_id, "exec_local", 3);
    let answer = app
        .get(
            "/api/executions/exec_local/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["source"]["backend"], "embedded");
    assert_eq!(body["root"]["name"], "workflow.execution");
    assert_eq!(body["root"]["child_count"], 3);
    assert_eq!(body["root"]["service"], "orcheo-backend");
    let ready = app.get("/readyz", None).await.json();
    assert_eq!(ready["trace_backend"]["backend"], "embedded");
}

/// The document is generated from the handlers; a change to the API shows up here for review.
#[test]
fn openapi_document_is_stable() {
    let document = orcheo_trace_server::openapi::document();
    let parsed: serde_json::Value = serde_json::from_str(&document).unwrap();
    for path in [
        "/api/executions/{execution_id}/trace",
        "/api/executions/{execution_id}/trace/spans/{span_id}",
        "/api/executions",
        "/api/workflows",
        "/api/artifacts/{artifact_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(parsed["paths"].get(path).is_some(), "{path} missing");
    }
    insta::assert_snapshot!("openapi", document);
}

async fn a_failing_exporter_of_our_own_spans_shows_in_readiness_and_metrics(db: Db) {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    // An OTLP exporter aimed at a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = orcheo_tracing::TracingConfig {
        exporter: orcheo_tracing::Exporter::Otlp,
        endpoint: format!("http://{closed}/v1/traces"),
        export_timeout: std::time::Duration::from_secs(2),
        ..orcheo_tracing::TracingConfig::default()
    };
    let telemetry = std::sync::Arc::new(orcheo_tracing::Telemetry::init(&config).unwrap());
    telemetry
        .provider()
        .tracer("test")
        .in_span("http.request", |_| {});
    let flushing = std::sync::Arc::clone(&telemetry);
    let flushed = tokio::task::spawn_blocking(move || flushing.flush())
        .await
        .unwrap();
    assert!(flushed.is_err(), "nothing listens there");
    let options = Options {
        exporter: Some(orcheo_trace_server::telemetry::OwnTelemetry {
            exporter: "otlp",
            stats: telemetry.export_stats(),
            metrics: telemetry.metrics().cloned(),
        }),
        ..Options::default()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status, 200,
        "our own exporter does not decide readiness: {}",
        ready.text
    );
    let exporter = &ready.json()["exporter"];
    assert_eq!(exporter["exporter"], "otlp");
    assert_eq!(exporter["status"], "failing");
    assert_eq!(exporter["spans_failed"], 1);
    assert!(exporter["detail"].as_str().is_some());
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("orcheo_tracing_export_failures_total 1"),
        "{metrics}"
    );
    tokio::task::spawn_blocking(move || drop(telemetry))
        .await
        .unwrap();
}

/// Makes the app's database refuse the span writer's inserts (`refuse`) or take them again, from
/// a connection of its own. PostgreSQL: the database made read-only, as on a standby, and its
/// sessions ended so that the pool reconnects to it. SQLite: a full disk cannot be made here, so a
/// trigger fails the inserts with SQLite's own message for one.
fn refuse_writes(db: Db, url: &str, refuse: bool) {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    match db {
        Db::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap();
            let mut conn = diesel::sqlite::SqliteConnection::establish(path).unwrap();
            conn.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
            conn.batch_execute(if refuse {
                "CREATE TRIGGER disk_full BEFORE INSERT ON local_spans \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            } else {
                "DROP TRIGGER disk_full"
            })
            .unwrap();
        }
        Db::Postgres => {
            let (_, name) = url.rsplit_once('/').unwrap();
            let admin_url = std::env::var("ORCHEO_TEST_DATABASE_URL").unwrap();
            let mut admin = orcheo_trace_store::postgres_connection(&admin_url).unwrap();
            // Two statements, not one batch: a batch is one transaction, and a session the pool
            // opened before it committed would keep the old setting without being ended.
            admin
                .batch_execute(&format!(
                    "ALTER DATABASE \"{name}\" SET default_transaction_read_only = {}",
                    if refuse { "on" } else { "off" }
                ))
                .unwrap();
            admin
                .batch_execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .unwrap();
        }
    }
}

/// A two-span export over OTLP/HTTP; its status.
async fn export_over_http(app: &crate::helpers::TestApp, n: u8) -> u16 {
    use prost::Message as _;
    let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: crate::helpers::otlp_proto_trace(
            crate::helpers::trace_id(n),
            &format!("exec_fault_{n}"),
            1,
        ),
    };
    app.client
        .post(format!("{}/v1/traces", app.otlp_http.as_deref().unwrap()))
        .header("content-type", "application/x-protobuf")
        .header("authorization", crate::ingest::writes_as("default"))
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn store_errors_counted(metrics: &str) -> f64 {
    samples(metrics)
        .into_iter()
        .find(|(name, _)| name == "orcheo_otlp_requests_rejected_total{reason=\"store_error\"}")
        .map_or(0.0, |(_, value)| value)
}

async fn a_store_refusing_writes_fails_readiness_and_counts_refusals_until_a_write_succeeds(
    db: Db,
) {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let options = Options {
        embedded: true,
        ..Options::default()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    assert_eq!(export_over_http(&app, 1).await, 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["ingest"]["status"], "ok");
    refuse_writes(db, app.database_url(), true);
    let reason = match db {
        Db::Sqlite => "disk_full",
        Db::Postgres => "read_only",
    };
    // Every export is refused; once the pool is past the sessions PostgreSQL ended, the
    // database itself answers, and it is the reason readiness gives.
    let mut refused = 0.0;
    let mut ready = None;
    for n in 2..30 {
        assert_eq!(export_over_http(&app, n).await, 503);
        refused += 1.0;
        let answer = app.get("/readyz", None).await;
        assert_eq!(answer.status, 503, "{}", answer.text);
        let body = answer.json();
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["ingest"]["status"], "failing", "{body}");
        if body["ingest"]["reason"] == reason && body["database"]["status"] == "ok" {
            ready = Some(body);
            break;
        }
    }
    let ready = ready.expect("readiness never named the database's refusal");
    assert!(ready["ingest"]["since"].as_str().is_some(), "{ready}");
    assert!(ready["ingest"]["detail"].as_str().is_some(), "{ready}");
    let mut grpc = TraceServiceClient::connect(app.otlp_grpc.clone().unwrap())
        .await
        .unwrap();
    let request = crate::ingest::grpc_export(
        &crate::ingest::writes_as("default"),
        crate::helpers::otlp_proto_trace(crate::helpers::trace_id(40), "exec_fault_grpc", 1),
    );
    let status = grpc.export(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
    refused += 1.0;
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        (store_errors_counted(&metrics) - refused).abs() < f64::EPSILON,
        "{refused} refused: {metrics}"
    );
    refuse_writes(db, app.database_url(), false);
    // PostgreSQL: a pooled session PostgreSQL ended fails once more before the pool replaces it.
    let mut stored = false;
    for n in 41..70 {
        if export_over_http(&app, n).await == 200 {
            stored = true;
            break;
        }
        assert_eq!(db, Db::Postgres, "SQLite takes the next export");
    }
    assert!(
        stored,
        "no export was taken once the database took writes again"
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["ingest"]["status"], "ok");
}
