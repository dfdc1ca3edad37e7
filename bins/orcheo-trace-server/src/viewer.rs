//! The Trace tab: a page of plain ES modules and CSS (`ui/`), compiled into the binary and served
//! at `/`, with the deep links `/executions/{execution_id}` (and `?span=`) answering the same page.
//!
//! Nothing is fetched from elsewhere at run time: the content security policy allows this
//! origin only, so a page that tried would fail in the browser tests. Assets are revalidated on
//! every load (`no-cache` with a strong `ETag`), so an upgraded server never serves a stale page.

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// The page's files: name under `/ui/`, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../ui/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../ui/favicon.svg"),
    ),
    ("app.js", JS, include_bytes!("../ui/app.js")),
    ("api.js", JS, include_bytes!("../ui/api.js")),
    ("details.js", JS, include_bytes!("../ui/details.js")),
    ("dom.js", JS, include_bytes!("../ui/dom.js")),
    ("format.js", JS, include_bytes!("../ui/format.js")),
    ("list.js", JS, include_bytes!("../ui/list.js")),
    ("live.js", JS, include_bytes!("../ui/live.js")),
    ("trace-view.js", JS, include_bytes!("../ui/trace-view.js")),
    ("tree-model.js", JS, include_bytes!("../ui/tree-model.js")),
    ("tree-view.js", JS, include_bytes!("../ui/tree-view.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// Same origin only; `blob:` for artifact previews and downloads (fetched with the bearer token).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'self'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    etag: String,
}

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|&(name, content_type, bytes)| {
                let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
                let hex =
                    digest.as_ref()[..12]
                        .iter()
                        .fold(String::with_capacity(24), |mut hex, b| {
                            use std::fmt::Write as _;
                            let _ = write!(hex, "{b:02x}");
                            hex
                        });
                Asset {
                    name,
                    content_type,
                    bytes,
                    etag: format!("\"{hex}\""),
                }
            })
            .collect()
    })
}

/// The names of the embedded files, so a test can check that every file of `ui/` is here.
pub fn embedded_files() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|&(name, _, _)| name)
}

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
        .insert_header((header::ETAG, asset.etag.as_str()))
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

fn find(name: &str) -> Option<&'static Asset> {
    assets().iter().find(|a| a.name == name)
}

/// `/` and the deep links: the page, which reads the path itself.
pub(crate) async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    find("index.html")
        .map(|asset| serve(&req, asset))
        .ok_or_else(|| ApiError::Internal("the viewer page is missing".to_owned()))
}

/// `/ui/{file}`: the page's scripts, styles and icon.
pub(crate) async fn file(
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match find(&name) {
        Some(asset) if asset.name != "index.html" => Ok(serve(&req, asset)),
        _ => Err(ApiError::NotFound(format!(
            "no file {name:?} in the viewer"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_of_the_ui_folder_is_embedded_and_nothing_else() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
            .expect("the ui folder")
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != "tsconfig.json")
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = super::embedded_files().map(str::to_owned).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn etags_differ_between_files() {
        let assets = super::assets();
        for (i, a) in assets.iter().enumerate() {
            assert!(
                assets[i + 1..].iter().all(|b| b.etag != a.etag),
                "{}",
                a.name
            );
        }
    }
}
