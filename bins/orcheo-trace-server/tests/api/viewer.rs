//! The Trace tab's files: the page at `/` and at its deep links, its modules and styles, with
//! the headers that keep it to this origin. (What it does in a browser: `browser-tests/`.)

use crate::helpers::{Db, on_each_backend, spawn_app};

on_each_backend!(
    the_page_is_served_at_the_root_and_at_deep_links,
    assets_have_types_a_strict_policy_and_revalidate_by_etag,
);

async fn the_page_is_served_at_the_root_and_at_deep_links(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    for path in [
        "/",
        "/executions/exec_1",
        "/executions/exec_1?span=00f067aa0ba902b7",
    ] {
        let answer = app.get(path, None).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8");
        assert!(
            answer
                .text
                .contains(r#"<script type="module" src="/ui/app.js">"#)
        );
        let policy = answer.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
    }
    // Only one level below /executions is a page; the rest stays the API's 404.
    assert_eq!(app.get("/executions/a/b", None).await.status, 404);
    assert_eq!(app.get("/ui/nope.js", None).await.status, 404);
    assert_eq!(app.get("/ui/..%2Fsrc%2Fmain.rs", None).await.status, 404);
}

async fn assets_have_types_a_strict_policy_and_revalidate_by_etag(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let page = app.get("/", None).await;
    // Every module and style the page names is served, with its type.
    let mut named = 0;
    for (attr, kind) in [("src=\"/ui/", "text/javascript"), ("href=\"/ui/", "")] {
        for part in page.text.split(attr).skip(1) {
            let file = part.split('"').next().unwrap();
            let answer = app.get(&format!("/ui/{file}"), None).await;
            assert_eq!(answer.status, 200, "{file}");
            let content_type = answer.headers["content-type"].to_str().unwrap();
            let expected = match file.rsplit('.').next() {
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                other => panic!("unexpected asset {other:?}"),
            };
            assert!(content_type.starts_with(expected), "{file}: {content_type}");
            assert!(kind.is_empty() || content_type.starts_with(kind));
            assert_eq!(answer.headers["x-content-type-options"], "nosniff");
            named += 1;
        }
    }
    assert!(named >= 10, "{named}");
    let first = app.get("/ui/app.js", None).await;
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers["cache-control"], "no-cache");
    let again = app
        .client
        .get(format!("{}/ui/app.js", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    // Modules import each other by relative path: each import names a served file.
    for part in first.text.split("from './").skip(1) {
        let file = part.split('\'').next().unwrap();
        assert_eq!(
            app.get(&format!("/ui/{file}"), None).await.status,
            200,
            "{file}"
        );
    }
}
