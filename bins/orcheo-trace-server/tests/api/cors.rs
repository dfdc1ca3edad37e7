//! Cross-origin calls from the configured origins (Canvas on its own origin), and none from
//! any other.

use orcheo_trace_model::ExecutionStatus;
use reqwest::Method;

use crate::helpers::{Db, Options, jwt, on_each_backend, spawn_app, spawn_app_with};

on_each_backend!(
    allowed_origins_get_preflights_and_readable_answers,
    other_origins_get_no_cors_header,
    without_configuration_no_cors_header_is_sent,
);

const CANVAS: &str = "http://canvas.example.com:3000";

async fn allowed_origins_get_preflights_and_readable_answers(db: Db) {
    let Some(app) = spawn_app_with(
        db,
        Options {
            cors_origins: Some("http://Canvas.example.com:3000/, https://other.example.com"),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let path = "/api/executions/exec_1/trace";

    // Preflight from an allowed origin: 204 without a token, the origin echoed.
    let preflight = app
        .request(
            Method::OPTIONS,
            path,
            &[
                ("Origin", CANVAS),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        )
        .await;
    assert_eq!(preflight.status, 204, "{}", preflight.text);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(CANVAS)
    );
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("GET") && methods.contains("HEAD") && methods.contains("OPTIONS"));
    let headers = preflight
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));
    assert_eq!(preflight.header("vary"), Some("Origin"));
    assert!(
        preflight
            .header("access-control-allow-credentials")
            .is_none()
    );

    // The answer itself (and an error answer) carries the origin, Vary and exposed headers.
    let token = jwt("acme", "traces:read");
    let bearer = format!("Bearer {token}");
    let answer = app
        .request(
            Method::GET,
            path,
            &[("Origin", CANVAS), ("Authorization", &bearer)],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("access-control-allow-origin"), Some(CANVAS));
    assert_eq!(answer.header("vary"), Some("Origin"));
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["etag", "retry-after", "content-disposition"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    let refused = app.request(Method::GET, path, &[("Origin", CANVAS)]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(CANVAS));

    // No origin (not a browser, or same origin): the answer as ever, plus Vary.
    let plain = app.get(path, Some(&token)).await;
    assert_eq!(plain.status, 200);
    assert!(plain.header("access-control-allow-origin").is_none());
    assert_eq!(plain.header("vary"), Some("Origin"));
}

async fn other_origins_get_no_cors_header(db: Db) {
    let Some(app) = spawn_app_with(
        db,
        Options {
            cors_origins: Some(CANVAS),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let path = "/api/executions/exec_1/trace";
    let bearer = format!("Bearer {}", jwt("acme", "traces:read"));
    // Neither the preflight nor the answer says anything a browser would honour.
    for origin in [
        "http://evil.example.com",
        "http://canvas.example.com:3001",
        "null",
    ] {
        let preflight = app
            .request(
                Method::OPTIONS,
                path,
                &[("Origin", origin), ("Access-Control-Request-Method", "GET")],
            )
            .await;
        assert_ne!(preflight.status, 204, "{origin}");
        let answer = app
            .request(
                Method::GET,
                path,
                &[("Origin", origin), ("Authorization", &bearer)],
            )
            .await;
        assert_eq!(answer.status, 200);
        for response in [&preflight, &answer] {
            assert!(
                !response
                    .headers
                    .keys()
                    .any(|k| k.as_str().starts_with("access-control-")),
                "{origin}: {:?}",
                response.headers
            );
        }
        assert_eq!(answer.header("vary"), Some("Origin"));
    }
}

async fn without_configuration_no_cors_header_is_sent(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_1", "acme", 1, 1, ExecutionStatus::Completed);
    let path = "/api/executions/exec_1/trace";
    let preflight = app
        .request(
            Method::OPTIONS,
            path,
            &[("Origin", CANVAS), ("Access-Control-Request-Method", "GET")],
        )
        .await;
    assert_eq!(preflight.status, 405);
    let bearer = format!("Bearer {}", jwt("acme", "traces:read"));
    let answer = app
        .request(
            Method::GET,
            path,
            &[("Origin", CANVAS), ("Authorization", &bearer)],
        )
        .await;
    assert_eq!(answer.status, 200);
    for response in [&preflight, &answer] {
        assert!(
            !response
                .headers
                .keys()
                .any(|k| k.as_str().starts_with("access-control-") || k.as_str() == "vary"),
            "{:?}",
            response.headers
        );
    }
}
