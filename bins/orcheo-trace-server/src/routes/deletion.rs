//! `DELETE /api/executions/{execution_id}`: an execution deleted for good, for compliance.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;

/// What a deletion removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletionReport {
    pub execution_id: String,
    /// The execution's tenant.
    pub tenant: String,
    /// Span summaries deleted.
    pub summaries: usize,
    /// Spans of its trace deleted from the server's own span store (embedded mode; a trace in
    /// Tempo or Jaeger is left to their retention).
    pub local_spans: usize,
    /// Artifact records deleted.
    pub artifacts: usize,
    /// Artifact files deleted from the artifact directory (a file another run's artifact also
    /// names stays).
    pub artifact_files: usize,
}

/// Deletes an execution: its record, span summaries, artifacts and the spans of its trace in
/// the server's own store. Needs `traces:admin`; logged with who asked.
#[utoipa::path(
    delete,
    path = "/api/executions/{execution_id}",
    tag = "executions",
    params(("execution_id" = String, Path, description = "The execution's id.", pattern = r"^[A-Za-z0-9._:-]{1,128}$")),
    responses(
        (status = 200, description = "Deleted; what went with it.", body = DeletionReport),
        (status = 400, description = "Malformed id.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:admin`.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such execution.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The database is unavailable.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn delete_execution(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !caller.scopes.admin {
        return Err(ApiError::Forbidden(
            "deleting an execution needs the traces:admin scope".to_owned(),
        ));
    }
    let deleted = state
        .traces
        .delete_execution(&caller.audience(), &path)
        .await?;
    let root = state.artifact_dir.clone();
    let uris = deleted.artifacts.clone();
    let files = web::block(move || {
        uris.iter()
            .filter(|uri| match super::artifacts::remove_file(&root, uri) {
                Ok(removed) => removed,
                Err(e) => {
                    tracing::warn!(artifact.storage_uri = %uri, error = %e, "artifact.file_not_removed");
                    false
                }
            })
            .count()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("artifact removal failed: {e}")))?;
    let report = DeletionReport {
        execution_id: path.into_inner(),
        tenant: deleted.tenant,
        summaries: deleted.summaries,
        local_spans: deleted.local_spans,
        artifacts: deleted.artifact_records,
        artifact_files: files,
    };
    // The record of who deleted what: one line, at the level operators keep.
    tracing::info!(
        execution.id = %report.execution_id,
        execution.tenant = %report.tenant,
        deleted_by = %caller.subject,
        deleted_by.tenant = %caller.tenant,
        summaries = report.summaries,
        local_spans = report.local_spans,
        artifacts = report.artifacts,
        artifact_files = report.artifact_files,
        "execution.deleted"
    );
    Ok(HttpResponse::Ok().json(report))
}
