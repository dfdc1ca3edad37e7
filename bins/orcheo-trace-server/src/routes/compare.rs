//! `GET /api/executions/compare?a=…&b=…`: two runs side by side.

use actix_web::{HttpResponse, web};
use orcheo_trace_service::compare::Comparison;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;

/// Query of the compare route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// The first run's execution id (the "before").
    #[param(required = true, pattern = r"^[A-Za-z0-9._:-]{1,128}$")]
    pub a: Option<String>,
    /// The second run's execution id (the "after"); it may be `a` itself.
    #[param(required = true, pattern = r"^[A-Za-z0-9._:-]{1,128}$")]
    pub b: Option<String>,
    /// `false` leaves the prompt and response diffs out (they are left out anyway without the
    /// `traces:read_content` scope).
    #[serde(default)]
    pub include_content: Option<bool>,
}

/// The id named by `name`, or a 400 that says it is missing.
fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, ApiError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            format!("the query parameter `{name}` (an execution id) is required"),
        )
    })
}

/// Two executions' traces compared node by node: what was added, removed or changed, the
/// deltas of duration, tokens and cost, and (with content scope) the prompt and response diffs
/// of matched LLM nodes.
#[utoipa::path(
    get,
    path = "/api/executions/compare",
    tag = "traces",
    params(CompareQuery),
    responses(
        (status = 200, description = "The comparison: both runs, their totals and deltas (`b − a`), and the merged node tree, depth first.", body = Comparison),
        (status = 400, description = "`a` or `b` missing or not an execution id.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:read`.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "`not_found`: either execution does not exist (or is another tenant's); `trace_unavailable`: no trace recorded for one of them.", body = crate::openapi::ErrorResponse),
        (status = 422, description = "`trace_too_large`: a run has more than 10,000 spans.", body = crate::openapi::ErrorResponse),
        (status = 502, description = "The trace store answered something unusable.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The trace store is down (a comparison is never built from span summaries); see `Retry-After`.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn compare_executions(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<CompareQuery>,
) -> Result<HttpResponse, ApiError> {
    let a = required(query.a.as_deref(), "a")?;
    let b = required(query.b.as_deref(), "b")?;
    let withhold = !caller.scopes.read_content || query.include_content == Some(false);
    let comparison = state
        .traces
        .compare(&caller.audience(), a, b, withhold)
        .await?;
    Ok(HttpResponse::Ok().json(comparison))
}
