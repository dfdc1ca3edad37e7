//! `GET /api/artifacts/{artifact_id}` (and `…/download`): streams an artifact's file, under the same rule as its
//! execution. Files live in the artifact directory; a record's `storage_uri` is `file:PATH`
//! (or a bare path), relative to that directory, and may not point outside it — neither by its
//! form (`..`, absolute paths) nor through symbolic links: the file's real path must lie in the
//! folder the record names (`run_42/` for `file:run_42/email.txt`), and it must be a regular
//! file. Every file that cannot be served is answered like an unknown artifact.

use std::fs::File;
use std::io;
use std::path::{Component, Path};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use orcheo_trace_store::ArtifactRecord;

use crate::artifact_links::{LinkRefusal, SignedReference};
use crate::auth::{Caller, bearer};
use crate::error::ApiError;
use crate::routes::AppState;

/// The path a record's location names, relative to the artifact directory; `Ok(None)` when its
/// form leaves the directory.
pub(crate) fn location(storage_uri: &str) -> Result<Option<&Path>, ApiError> {
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
    Ok((!escapes && relative.file_name().is_some()).then_some(relative))
}

/// Why an artifact's file is not served. The caller hears only "no such artifact"; the log
/// hears this.
#[derive(Debug, thiserror::Error)]
enum Unservable {
    #[error("its location leaves the artifact directory")]
    Outside,
    #[error("its real path (links resolved) is outside the folder the record names")]
    LinkedOutside,
    #[error("it is not a regular file")]
    NotAFile,
    #[error("the file changed while it was opened")]
    Changed,
    #[error("it cannot be read: {0}")]
    Unreadable(#[from] io::Error),
}

/// Opens the file at `relative` in `root` if it may be served: its real path lies in the folder
/// `relative` names (the directory itself for a file at its top), so a link may point elsewhere
/// in that folder but never to another run's folder or out of the directory; and the opened
/// handle is a regular file.
fn open_inside(root: &Path, relative: &Path) -> Result<File, Unservable> {
    let root = root.canonicalize()?;
    // Lexical, not resolved: a folder that is itself a link to another folder does not count as
    // the folder the record names.
    let folder = match relative.parent() {
        Some(parent) => root.join(parent),
        None => root.clone(),
    };
    let real = root.join(relative).canonicalize()?;
    if !real.starts_with(&folder) {
        return Err(Unservable::LinkedOutside);
    }
    let file = open_no_follow(&real)?;
    // The handle's own metadata, not the path's: what was checked is what is served.
    if !file.metadata()?.is_file() {
        return Err(Unservable::NotAFile);
    }
    if !still_at(&file, &real)? {
        return Err(Unservable::Changed);
    }
    Ok(file)
}

/// Removes the file of a deleted artifact record, when it is one this server could serve (the
/// same rules of form and folder as a download); a link is removed, never what it points to.
/// `Ok(false)` when there is no such file here.
pub(crate) fn remove_file(root: &Path, storage_uri: &str) -> io::Result<bool> {
    let Ok(Some(relative)) = location(storage_uri) else {
        return Ok(false);
    };
    let root = match root.canonicalize() {
        Ok(root) => root,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let path = root.join(relative);
    let folder = match relative.parent() {
        Some(parent) => root.join(parent),
        None => root.clone(),
    };
    // The folder the file is in, links resolved, must be the one the record names.
    let real_folder = match path.parent().map(Path::canonicalize) {
        Some(Ok(folder)) => folder,
        Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Some(Err(e)) => return Err(e),
        None => return Ok(false),
    };
    if real_folder != folder {
        return Ok(false);
    }
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() || meta.file_type().is_symlink() => {
            std::fs::remove_file(&path)?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading without following a link in its last part, and without waiting
/// for a writer when it is a FIFO (so such a file is refused, not a blocked thread).
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Whether the opened `file` is the one at `real`. The path was resolved before it was opened,
/// so a folder on it swapped for a link in between would have opened another file.
fn still_at(file: &File, real: &Path) -> io::Result<bool> {
    // Linux names the file a descriptor refers to: exact, whatever happened to the path since.
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        if let Ok(opened) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Ok(opened == real);
        }
    }
    // Elsewhere (or without /proc): the path still resolves to itself, and to the same file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let (opened, at) = (file.metadata()?, std::fs::metadata(real)?);
        Ok(real.canonicalize()? == real && (opened.dev(), opened.ino()) == (at.dev(), at.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(real.canonicalize()? == real)
    }
}

/// Downloads an artifact.
#[utoipa::path(
    get,
    path = "/api/artifacts/{artifact_id}",
    tag = "artifacts",
    params(("artifact_id" = String, Path, description = "The artifact's id (1 to 256 characters), or a signed reference to it from a trace answer (`<id>~<expiry>~<signature>`), which needs no token.", min_length = 1, max_length = 320)),
    responses(
        (status = 200, description = "The file, with its content type.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "A malformed artifact id.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token (and no valid signed reference).", body = crate::openapi::ErrorResponse),
        (status = 403, description = "`link_expired`: a signed reference past its expiry.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such artifact (or another tenant's, or a signed reference that is not this artifact's), or its file is gone.", body = crate::openapi::ErrorResponse),
        (status = 501, description = "The artifact is stored where this server cannot read.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn get_artifact(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve_reference(&req, &state, &path.into_inner()).await
}

/// Downloads an artifact: the path Canvas opens in a new window, with no header, from the
/// signed reference the trace answer put in `orcheo.artifact.ids`.
#[utoipa::path(
    get,
    path = "/api/artifacts/{artifact_id}/download",
    tag = "artifacts",
    params(("artifact_id" = String, Path, description = "A signed reference from a trace answer (`<id>~<expiry>~<signature>`), which needs no token, or the artifact's id with a token.", min_length = 1, max_length = 320)),
    responses(
        (status = 200, description = "The file, with its content type.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "A malformed artifact id.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token (and no valid signed reference).", body = crate::openapi::ErrorResponse),
        (status = 403, description = "`link_expired`: a signed reference past its expiry.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such artifact (or another tenant's, or a signed reference that is not this artifact's), or its file is gone.", body = crate::openapi::ErrorResponse),
        (status = 501, description = "The artifact is stored where this server cannot read.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn download_artifact(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve_reference(&req, &state, &path.into_inner()).await
}

/// The record of an artifact and the tenant of its execution.
async fn lookup(
    state: &AppState,
    artifact_id: String,
) -> Result<Option<(ArtifactRecord, Option<String>)>, ApiError> {
    let store = state.traces.store().clone();
    Ok(web::block(move || -> Result<Option<(ArtifactRecord, Option<String>)>, orcheo_trace_store::StoreError> {
        let Some(record) = store.artifact(&artifact_id)? else {
            return Ok(None);
        };
        let tenant = store.execution_tenant(&record.execution_id)?;
        Ok(Some((record, tenant)))
    })
    .await??)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such artifact".to_owned())
}

/// A signed reference opens its artifact with no token; anything else is an artifact id that
/// needs a caller allowed to read the artifact's execution.
async fn serve_reference(
    req: &HttpRequest,
    state: &AppState,
    reference: &str,
) -> Result<HttpResponse, ApiError> {
    if reference.is_empty() || reference.chars().count() > 320 {
        return Err(ApiError::bad_request(
            "invalid_artifact_id",
            "artifact ids are 1 to 256 characters, signed references at most 320",
        ));
    }
    if let Some(signed) = SignedReference::parse(reference) {
        if let Some((record, Some(tenant))) = lookup(state, signed.artifact_id.to_owned()).await? {
            match state.links.verify(&signed, &tenant) {
                Ok(()) => return serve(req, state, record).await,
                Err(LinkRefusal::Expired) => {
                    return Err(ApiError::LinkExpired(
                        "this download link has expired; load the trace again for a new one"
                            .to_owned(),
                    ));
                }
                Err(LinkRefusal::BadSignature) => {}
            }
        }
        // Not a genuine link: with a token it may still be an id of that form; without one
        // it is answered like an unknown artifact, so a forged link learns nothing.
        if bearer(req).is_none() {
            return Err(not_found());
        }
    }
    let caller = Caller::reader(req)?;
    // Longer than any artifact id, and not a signed reference: no artifact has it.
    if reference.chars().count() > 256 {
        return Err(not_found());
    }
    let (record, tenant) = lookup(state, reference.to_owned())
        .await?
        .ok_or_else(not_found)?;
    if !tenant.is_some_and(|t| caller.can_see(&t)) {
        return Err(not_found());
    }
    serve(req, state, record).await
}

/// Streams the file of an artifact the caller may read.
async fn serve(
    req: &HttpRequest,
    state: &AppState,
    record: ArtifactRecord,
) -> Result<HttpResponse, ApiError> {
    tracing::Span::current().record("execution.id", record.execution_id.as_str());
    let relative = location(&record.storage_uri)?.map(Path::to_owned);
    let root = state.artifact_dir.clone();
    let opened = web::block(move || {
        let relative = relative.ok_or(Unservable::Outside)?;
        let file = open_inside(&root, &relative)?;
        // Named as the record names it (the default content type comes from that name).
        actix_files::NamedFile::from_file(file, root.join(relative)).map_err(Unservable::from)
    })
    .await?;
    // Missing, outside, not a file: all answered as an unknown artifact, so an answer never
    // tells what exists where a record points.
    let file = opened.map_err(|e| {
        tracing::warn!(artifact.id = %record.artifact_id, reason = %e, "artifact file not served");
        not_found()
    })?;
    let mut response = file
        .use_etag(true)
        .use_last_modified(true)
        .disable_content_disposition()
        .into_response(req);
    let headers = response.headers_mut();
    if let Some(value) = record
        .content_type
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    // The name is text from the workflow, served like any other: redacted.
    let policy = state.traces.policy();
    let name: String = policy
        .redact(record.name.as_deref().unwrap_or(&record.artifact_id))
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
        assert_eq!(
            location("file:run1/email.txt").unwrap(),
            Some(Path::new("run1/email.txt"))
        );
        assert_eq!(
            location("run1/a.png").unwrap(),
            Some(Path::new("run1/a.png"))
        );
        for outside in [
            "file:../etc/passwd",
            "file:run1/../../etc/passwd",
            "file:///etc/passwd",
            "/etc/passwd",
            "file:",
            "",
        ] {
            assert!(location(outside).unwrap().is_none(), "{outside}");
        }
        assert!(matches!(
            location("s3://bucket/key"),
            Err(ApiError::ArtifactStorage(_))
        ));
    }
}
