//! `GET /api/artifacts/{artifact_id}`: streams an artifact's file, under the same rule as its
//! execution. Files live in the artifact directory; a record's `storage_uri` is `file:PATH`
//! (or a bare path), relative to that directory, and may not point outside it.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use orcheo_trace_store::ArtifactRecord;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;

/// Where a record's bytes are, inside `root`; `None` when the location leaves it.
fn resolve(root: &Path, storage_uri: &str) -> Result<PathBuf, ApiError> {
    let path = match storage_uri.split_once(':') {
        Some(("file", rest)) => rest.strip_prefix("//").unwrap_or(rest),
        // One letter before the colon is a Windows drive, not a scheme; refused below as absolute.
        Some((scheme, _)) if scheme.len() > 1 => {
            return Err(ApiError::ArtifactStorage(format!(
                "artifacts stored at {scheme}: locations cannot be served by this server"
            )));
        }
        _ => storage_uri,
    };
    let relative = Path::new(path);
    let escapes = relative.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    });
    if escapes || path.is_empty() {
        return Err(ApiError::NotFound(
            "the artifact's file is outside the artifact directory".to_owned(),
        ));
    }
    Ok(root.join(relative))
}

/// Downloads an artifact.
#[utoipa::path(
    get,
    path = "/api/artifacts/{artifact_id}",
    tag = "artifacts",
    params(("artifact_id" = String, Path, description = "The artifact's id (1 to 256 characters).", min_length = 1, max_length = 256)),
    responses(
        (status = 200, description = "The file, with its content type.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "A malformed artifact id.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such artifact (or another tenant's), or its file is gone.", body = crate::openapi::ErrorResponse),
        (status = 501, description = "The artifact is stored where this server cannot read.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn get_artifact(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let artifact_id = path.into_inner();
    if artifact_id.is_empty() || artifact_id.chars().count() > 256 {
        return Err(ApiError::bad_request(
            "invalid_artifact_id",
            "artifact ids are 1 to 256 characters",
        ));
    }
    let store = state.traces.store().clone();
    let found = web::block(move || -> Result<Option<(ArtifactRecord, Option<String>)>, orcheo_trace_store::StoreError> {
        let Some(record) = store.artifact(&artifact_id)? else {
            return Ok(None);
        };
        let tenant = store.execution_tenant(&record.execution_id)?;
        Ok(Some((record, tenant)))
    })
    .await??;
    let not_found = || ApiError::NotFound("no such artifact".to_owned());
    let (record, tenant) = found.ok_or_else(not_found)?;
    if !tenant.is_some_and(|t| caller.can_see(&t)) {
        return Err(not_found());
    }
    tracing::Span::current().record("execution.id", record.execution_id.as_str());
    let file_path = resolve(&state.artifact_dir, &record.storage_uri)?;
    let file = actix_files::NamedFile::open_async(&file_path).await.map_err(|e| {
        tracing::warn!(artifact.id = %record.artifact_id, error = %e, "artifact file unreadable");
        ApiError::NotFound("the artifact's file is no longer available".to_owned())
    })?;
    let mut response = file
        .use_etag(true)
        .use_last_modified(true)
        .disable_content_disposition()
        .into_response(&req);
    let headers = response.headers_mut();
    if let Some(value) = record
        .content_type
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let name: String = record
        .name
        .as_deref()
        .unwrap_or(&record.artifact_id)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // An artifact is whatever a workflow produced: never let it run as a page of this origin.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
        ),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_stay_inside_the_artifact_directory() {
        let root = Path::new("/srv/artifacts");
        assert_eq!(
            resolve(root, "file:run1/email.txt").unwrap(),
            root.join("run1/email.txt")
        );
        assert_eq!(
            resolve(root, "run1/a.png").unwrap(),
            root.join("run1/a.png")
        );
        assert!(matches!(
            resolve(root, "file:../etc/passwd"),
            Err(ApiError::NotFound(_))
        ));
        assert!(matches!(
            resolve(root, "file:///etc/passwd"),
            Err(ApiError::NotFound(_))
        ));
        assert!(matches!(
            resolve(root, "/etc/passwd"),
            Err(ApiError::NotFound(_))
        ));
        assert!(matches!(
            resolve(root, "s3://bucket/key"),
            Err(ApiError::ArtifactStorage(_))
        ));
    }
}
