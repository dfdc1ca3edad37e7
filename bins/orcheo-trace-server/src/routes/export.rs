//! `GET /api/executions/{execution_id}/export`: an execution's trace as a file, for an audit;
//! `GET /api/executions/export`: the same for every execution a list's filters match.

use std::sync::Arc;

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use futures_util::stream;
use orcheo_trace_service::{ExportFormat, export};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::export_set::{self, SetRequest};
use crate::routes::executions::ListQuery;
use crate::routes::{AppState, ExecutionView};

/// Query of the export route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default): the execution and its whole span tree, nested, in one document;
    /// `csv`: a row per span.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<ExportFormatParam>,
    /// `false` withholds prompt, response and message text from the JSON export (content is
    /// withheld anyway without the `traces:read_content` scope; the CSV export has none).
    #[serde(default)]
    pub include_content: Option<bool>,
}

/// `json` or `csv`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormatParam {
    Json,
    Csv,
}

impl From<ExportFormatParam> for ExportFormat {
    fn from(format: ExportFormatParam) -> Self {
        match format {
            ExportFormatParam::Json => Self::Json,
            ExportFormatParam::Csv => Self::Csv,
        }
    }
}

/// The execution's trace as a download, written as it is sent.
#[utoipa::path(
    get,
    path = "/api/executions/{execution_id}/export",
    tag = "traces",
    params(
        ("execution_id" = String, Path, description = "The execution's id.", pattern = r"^[A-Za-z0-9._:-]{1,128}$"),
        ExportQuery
    ),
    responses(
        (status = 200, description = "The export, as an attachment: `application/json` (an `orcheo-trace-export` document: `execution`, `source`, `trace_id`, `stats`, `root` — the whole tree, nested — and `anomalies`) or `text/csv` (a header row, then a row per span).", content((Object = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Malformed id or query.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:read`.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "`not_found`: no such execution (or another tenant's); `trace_unavailable`: no trace recorded.", body = crate::openapi::ErrorResponse),
        (status = 502, description = "The trace store answered something unusable.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The trace store is down (an export is never built from span summaries); see `Retry-After`.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn export_trace(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format: ExportFormat = query.format.map(Into::into).unwrap_or_default();
    let execution = state.traces.execution(&caller.audience(), &path).await?;
    let withhold = !caller.scopes.read_content
        || query.include_content == Some(false)
        || format == ExportFormat::Csv;
    let loaded = state.traces.trace(&execution, withhold).await?;
    let tree = Arc::clone(loaded.whole(&execution)?);
    // Before anything is sent: a busy server says so with a status, not a cut-short file.
    let slot = state.traces.export_slot()?;
    let chunks = match format {
        ExportFormat::Json => {
            let view = ExecutionView::of_trace(&execution, &loaded, &state.traces.policy());
            export::json_stream(slot, view, loaded.source, tree, loaded.costs)
        }
        ExportFormat::Csv => export::csv_stream(slot, execution.id.to_string(), tree, loaded.costs),
    };
    Ok(attachment(
        format,
        format!("{}.trace.{}", execution.id, format.extension()),
        chunks,
    ))
}

/// An export's answer: the file named `name`, sent as its writer hands it over.
fn attachment(
    format: ExportFormat,
    name: String,
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<web::Bytes>>,
) -> HttpResponse {
    let body = stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format.content_type()))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .streaming(body)
}

/// Query of the export of a list's results, besides the list's filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportSetQuery {
    /// `json` (default): one document holding each execution's single export; `csv`: one
    /// header row, then a row per span of every execution.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<ExportFormatParam>,
    /// `false` withholds prompt, response and message text from the JSON export (content is
    /// withheld anyway without the `traces:read_content` scope; the CSV export has none).
    #[serde(default)]
    pub include_content: Option<bool>,
    /// Executions written at most, newest first, 1..=10000 (default 1000); when more match, the
    /// export stops there (JSON: `"truncated": true`).
    #[param(minimum = 1, maximum = 10000)]
    pub max_executions: Option<u32>,
}

/// The results of a list's filters, every matching execution with its whole trace, as one
/// download written as it is sent.
#[utoipa::path(
    get,
    path = "/api/executions/export",
    tag = "traces",
    params(crate::routes::executions::ListQuery, ExportSetQuery),
    responses(
        (status = 200, description = "The export, as an attachment named `executions.first-<max_executions>.trace.<json|csv>`: `application/json` (an `orcheo-trace-export-set` document: `filters`, `max_executions`, `executions` — one `orcheo-trace-export` document each, newest first —, `unavailable` — `{execution_id, error, message}` for each matching run whose trace could not be had whole —, `exported` and `truncated`) or `text/csv` (one header row, then a row per span of each execution; a run without a whole trace has no rows).", content((Object = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A malformed filter, format or `max_executions`.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:read`.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "`trace_store_unavailable`: four exports are being written already; `database_unavailable`: the database cannot list the executions. See `Retry-After`.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn export_executions(
    state: web::Data<AppState>,
    caller: Caller,
    filters: web::Query<ListQuery>,
    query: web::Query<ExportSetQuery>,
) -> Result<HttpResponse, ApiError> {
    let format: ExportFormat = query.format.map(Into::into).unwrap_or_default();
    let mut filters = filters.into_inner();
    let mut filter = filters.filter(
        |requested| caller.list_tenant(requested),
        caller.scopes.read_content,
        state.traces.shared_prices(),
    )?;
    let max_executions = query
        .max_executions
        .unwrap_or(export_set::DEFAULT_MAX_EXECUTIONS);
    if !(1..=export_set::MAX_EXECUTIONS).contains(&max_executions) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "max_executions must be within 1..={}",
                export_set::MAX_EXECUTIONS
            ),
        ));
    }
    crate::routes::executions::add_trace_store_hits(&state, &mut filter).await;
    let request = SetRequest {
        filter,
        filters: export_set::filters_json(&filters),
        audience: caller.audience(),
        format,
        withhold_content: !caller.scopes.read_content
            || query.include_content == Some(false)
            || format == ExportFormat::Csv,
        max_executions,
    };
    let name = export_set::file_name(&request);
    // A database that cannot list says so with a status, before anything is sent.
    let store = state.traces.store().clone();
    let probe = request.filter.clone();
    web::block(move || store.list_executions(&probe, None, 1)).await??;
    let slot = state.traces.export_slot()?;
    let runtime = tokio::runtime::Handle::current();
    let state = state.into_inner();
    let chunks = export::stream(slot, move |out| {
        let summary = export_set::write_set(out, &runtime, &state.traces, &request)?;
        tracing::info!(
            exported = summary.exported,
            unavailable = summary.unavailable.len(),
            truncated = summary.truncated,
            "export.set_written"
        );
        Ok(())
    });
    Ok(attachment(format, name, chunks))
}
