//! Serves the Trace tab (the `orcheo-trace-viewer` crate's embedded page)
//! at `/`, with the deep links `/executions/{execution_id}` (and `?span=`) and
//! `/compare?a=…&b=…` answering the same page.
//!
//! Nothing is fetched from elsewhere at run time: the content security policy allows this
//! origin only, so a page that tried would fail in the browser tests. Assets are revalidated on
//! every load (`no-cache` with a strong `ETag`), so an upgraded server never serves a stale page.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use orcheo_trace_viewer::{Asset, CONTENT_SECURITY_POLICY, INDEX};

use crate::error::ApiError;

fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    let mut answer = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::ETAG, asset.etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ));
    if fresh {
        answer.finish()
    } else {
        answer
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .body(asset.bytes)
    }
}

/// `/` and the deep links: the page, which reads the path itself.
pub(crate) async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    orcheo_trace_viewer::find(INDEX)
        .map(|asset| serve(&req, asset))
        .ok_or_else(|| ApiError::Internal("the viewer page is missing".to_owned()))
}

/// `/ui/{file}`: the page's scripts, styles and icon.
pub(crate) async fn file(
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match orcheo_trace_viewer::find(&name) {
        Some(asset) if asset.name != INDEX => Ok(serve(&req, asset)),
        _ => Err(ApiError::NotFound(format!(
            "no file {name:?} in the viewer"
        ))),
    }
}
