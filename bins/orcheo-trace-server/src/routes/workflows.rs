//! `GET /api/workflows`: the caller's workflow ids by prefix, for a workflow field's suggestions;
//! `GET /api/workflows/{workflow_id}/executions`: a workflow's latest runs, newest first, in the
//! run-history shape of Orcheo's backend, which Canvas reads to find runs it has not seen yet.

use actix_web::{HttpResponse, web};
use orcheo_trace_model::Timestamp;
use orcheo_trace_store::ListFilter;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// Longest workflow id accepted in the path.
const MAX_WORKFLOW_ID_CHARS: usize = 256;

const DEFAULT_WORKFLOWS: u32 = 20;
const MAX_WORKFLOWS: u32 = 100;

/// Query of the workflow ids (unknown keys are ignored).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkflowsQuery {
    /// Only ids that start with this text (case-sensitive; empty or absent: every id).
    #[param(max_length = 256)]
    pub prefix: Option<String>,
    /// Most ids, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A workflow as its runs record it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowView {
    pub workflow_id: String,
    /// The caller's runs of it.
    pub execution_count: u64,
    /// When the latest of them started (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub last_started_at: Timestamp,
}

/// The caller's workflows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowList {
    /// The most recently run first.
    pub workflows: Vec<WorkflowView>,
}

/// The ids of the workflows whose runs the caller may see, the most recently run first.
#[utoipa::path(
    get,
    path = "/api/workflows",
    tag = "executions",
    params(WorkflowsQuery),
    responses(
        (status = 200, description = "The caller's workflows whose id starts with `prefix`, the most recently run first.", body = WorkflowList),
        (status = 400, description = "A prefix or limit out of range.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:read`.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The database is unavailable.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn list_workflows(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<WorkflowsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let prefix = query.prefix.unwrap_or_default();
    if prefix.chars().count() > MAX_WORKFLOW_ID_CHARS {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("prefix must be at most {MAX_WORKFLOW_ID_CHARS} characters"),
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_WORKFLOWS);
    if !(1..=MAX_WORKFLOWS).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("limit must be within 1..={MAX_WORKFLOWS}"),
        ));
    }
    // The rule of `GET /api/executions`: the caller's own tenant, every tenant for an admin.
    let tenant = caller.list_tenant(None);
    let store = state.traces.store().clone();
    let rows =
        web::block(move || store.workflows(tenant.as_deref(), &prefix, limit as usize)).await??;
    let policy = state.traces.policy();
    Ok(HttpResponse::Ok().json(WorkflowList {
        workflows: rows
            .into_iter()
            .map(|w| WorkflowView {
                // Redacted as the executions list shows it.
                workflow_id: policy.redact(&w.workflow_id).into_owned(),
                execution_count: w.execution_count,
                last_started_at: w.last_started_at,
            })
            .collect(),
    }))
}

/// Query of the list (unknown keys are ignored).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkflowRunsQuery {
    /// Most runs, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A run in the shape of Orcheo's run history. What this server does not record (inputs, the
/// runnable config, tags, callbacks, metadata, run name, steps) is served empty.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunHistory {
    pub execution_id: String,
    pub workflow_id: String,
    /// `running`, `completed`, `error` or `cancelled`.
    pub status: &'static str,
    /// RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
    pub error: Option<String>,
    /// Always `{}`.
    #[schema(value_type = Object)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Always `{}`.
    #[schema(value_type = Object)]
    pub runnable_config: serde_json::Map<String, serde_json::Value>,
    /// Always `[]`.
    #[schema(value_type = Vec<Object>)]
    pub tags: Vec<serde_json::Value>,
    /// Always `[]`.
    #[schema(value_type = Vec<Object>)]
    pub callbacks: Vec<serde_json::Value>,
    /// Always `{}`.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Always `null`.
    pub run_name: Option<String>,
    /// Always `[]`.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<serde_json::Value>,
}

/// A workflow's runs that the caller may see, newest first.
#[utoipa::path(
    get,
    path = "/api/workflows/{workflow_id}/executions",
    tag = "executions",
    params(
        ("workflow_id" = String, Path, description = "The workflow's id, as its runs record it.", min_length = 1, max_length = 256),
        WorkflowRunsQuery
    ),
    responses(
        (status = 200, description = "The workflow's latest runs, newest first (an empty list for an unknown workflow).", body = Vec<RunHistory>),
        (status = 400, description = "A malformed id or limit.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:read`.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The database is unavailable.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn list_workflow_executions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<WorkflowRunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let workflow_id = path.into_inner();
    if workflow_id.is_empty() || workflow_id.chars().count() > MAX_WORKFLOW_ID_CHARS {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("workflow id must be 1 to {MAX_WORKFLOW_ID_CHARS} characters"),
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("limit must be within 1..={MAX_LIMIT}"),
        ));
    }
    let filter = ListFilter {
        // The rule of `GET /api/executions`: the caller's own tenant, every tenant for an admin.
        tenant: caller.list_tenant(None),
        workflow_id: Some(workflow_id.clone()),
        ..ListFilter::default()
    };
    let store = state.traces.store().clone();
    let (rows, _) =
        web::block(move || store.list_executions(&filter, None, limit as usize)).await??;
    let policy = state.traces.policy();
    let text = |t: &Option<String>| t.as_deref().map(|t| policy.redact(t).into_owned());
    let runs: Vec<RunHistory> = rows
        .iter()
        .map(|e| RunHistory {
            execution_id: e.id.as_str().to_owned(),
            workflow_id: text(&e.workflow_id)
                .unwrap_or_else(|| policy.redact(&workflow_id).into_owned()),
            status: e.status.as_str(),
            started_at: e.started_at,
            completed_at: e.finished_at,
            error: text(&e.error),
            inputs: serde_json::Map::new(),
            runnable_config: serde_json::Map::new(),
            tags: Vec::new(),
            callbacks: Vec::new(),
            metadata: serde_json::Map::new(),
            run_name: None,
            steps: Vec::new(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(runs))
}
