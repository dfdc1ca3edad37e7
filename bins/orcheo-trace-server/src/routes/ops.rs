//! Operational endpoints: `/healthz` (alive), `/readyz` (database, trace backend and the OTLP
//! receivers' span writer),
//! `/metrics` (Prometheus), `/api/openapi.json`.

use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use orcheo_collector_client::CircuitState;
use serde::Serialize;

use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::routes::AppState;

/// Longest a readiness check waits for the trace store.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The server is alive.", body = Health)))]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The state of one dependency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// `ok` or `failing`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The trace backend's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackendCheck {
    pub backend: &'static str,
    /// `ok` or `failing`.
    pub status: &'static str,
    /// `closed`, `half_open` or `open` (remote backends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The exporter of the server's own spans. Reported, not counted against readiness: a server
/// that cannot export its own spans still serves traces.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExporterCheck {
    /// `none`, `console` or `otlp`.
    pub exporter: &'static str,
    /// `ok`, `failing` (the last export failed) or `disabled`.
    pub status: &'static str,
    pub spans_exported: u64,
    pub spans_failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The OTLP receivers' span writer: failing while its last write failed (every export is
/// refused then), until a write succeeds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestCheck {
    /// `ok` or `failing`.
    pub status: &'static str,
    /// `disk_full`, `read_only` or `other`, while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// When the last write failed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub since: Option<orcheo_trace_model::Timestamp>,
    /// The database's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Readiness: `ready` when the database answers, the trace backend is reachable and the OTLP
/// receivers' span writer (when they run) stores what it is sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub database: Check,
    pub trace_backend: BackendCheck,
    pub exporter: ExporterCheck,
    /// Present when the OTLP receivers run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest: Option<IngestCheck>,
    /// Present when keys come from a JWKS URL: `ok` once its keys were fetched (a later
    /// failed fetch keeps them in use, and says so in `detail`), `failing` before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Check>,
}

/// The JWKS URL's keys; before they were ever fetched, one more attempt (within the refetch
/// interval) so that a provider that came up after the server is noticed.
async fn jwks_check(auth: &Authenticator) -> Option<Check> {
    let jwks = auth.jwks().filter(|j| j.has_url())?;
    if jwks.url_status().is_some_and(|(fetched, _)| !fetched) {
        jwks.refresh(false).await;
    }
    let (fetched, error) = jwks.url_status()?;
    Some(Check {
        status: if fetched { "ok" } else { "failing" },
        detail: error,
    })
}

fn ingest_check(state: &AppState) -> Option<IngestCheck> {
    let health = state.writer_health.as_ref()?;
    Some(match health.last_failure() {
        None => IngestCheck {
            status: "ok",
            reason: None,
            since: None,
            detail: None,
        },
        Some(failure) => IngestCheck {
            status: "failing",
            reason: Some(failure.reason.label()),
            since: Some(failure.at),
            detail: Some(failure.message),
        },
    })
}

fn exporter_check(state: &AppState) -> ExporterCheck {
    match &state.exporter {
        None => ExporterCheck {
            exporter: "none",
            status: "disabled",
            spans_exported: 0,
            spans_failed: 0,
            detail: None,
        },
        Some(own) => ExporterCheck {
            exporter: own.exporter,
            status: if own.stats.is_healthy() {
                "ok"
            } else {
                "failing"
            },
            spans_exported: own.stats.exported_spans(),
            spans_failed: own.stats.failed_spans(),
            detail: (!own.stats.is_healthy())
                .then(|| own.stats.last_error())
                .flatten(),
        },
    }
}

fn circuit_state(state: &AppState) -> Option<CircuitState> {
    if state.backend == "embedded" {
        return None;
    }
    let value = state
        .metrics
        .fetch
        .circuit_state
        .with_label_values(&[state.traces.source().name()])
        .get();
    Some(match value {
        1 => CircuitState::HalfOpen,
        2 => CircuitState::Open,
        _ => CircuitState::Closed,
    })
}

/// Ready to serve traces.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "A dependency is failing.", body = Readiness),
    ))]
pub(crate) async fn readyz(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
) -> Result<HttpResponse, ApiError> {
    auth.authorize_ops(&req).await?;
    let store = state.traces.store().clone();
    let database = match web::block(move || store.ping()).await? {
        Ok(()) => Check {
            status: "ok",
            detail: None,
        },
        Err(e) => Check {
            status: "failing",
            detail: Some(e.to_string()),
        },
    };
    let circuit = circuit_state(&state);
    let probe = tokio::time::timeout(PROBE_TIMEOUT, state.traces.source().probe()).await;
    let (backend_ok, detail) = match probe {
        Ok(Ok(())) => (true, None),
        Ok(Err(e)) => (false, Some(e.to_string())),
        Err(_) => (false, Some("the probe timed out".to_owned())),
    };
    let backend_ok = backend_ok && circuit != Some(CircuitState::Open);
    let ingest = ingest_check(&state);
    let ingest_ok = ingest.as_ref().is_none_or(|check| check.status == "ok");
    let jwks = jwks_check(&auth).await;
    let jwks_ok = jwks.as_ref().is_none_or(|check| check.status == "ok");
    let ready = database.status == "ok" && backend_ok && ingest_ok && jwks_ok;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database,
        trace_backend: BackendCheck {
            backend: state.backend,
            status: if backend_ok { "ok" } else { "failing" },
            circuit: circuit.map(CircuitState::label),
            detail,
        },
        exporter: exporter_check(&state),
        ingest,
        jwks,
    };
    Ok(if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    })
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics in the Prometheus text format.", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
) -> Result<HttpResponse, ApiError> {
    auth.authorize_ops(&req).await?;
    state
        .metrics
        .trace_cache_bytes
        .set(i64::try_from(state.traces.cache_bytes()).unwrap_or(i64::MAX));
    let body = state
        .metrics
        .render()
        .map_err(|e| ApiError::Internal(format!("cannot encode metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

/// This API's OpenAPI document.
pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(crate::openapi::document())
}
