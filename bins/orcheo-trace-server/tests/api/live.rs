//! `GET /api/executions/{id}/trace/live`: the WebSocket feed of a run's spans.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use orcheo_trace_model::{ExecutionId, ExecutionStatus, SpanSummary, StatusCode};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{Db, TestApp, at, jwt, on_each_backend, span_id, spawn_app};

on_each_backend!(
    a_subscriber_gets_every_span_once_in_order_and_complete_last,
    a_finished_run_answers_at_once_and_a_cursor_resumes_without_gaps,
    subscriptions_need_a_token_of_the_tenant_by_any_of_three_carriers,
    many_subscribers_all_get_every_update,
    a_slow_consumer_is_cut_off_without_hurting_the_others,
    subscriber_caps_and_silent_clients_are_enforced,
    a_client_that_stops_reading_is_cut_off_and_its_place_freed,
    a_client_that_stops_reading_and_answers_no_ping_is_closed_when_idle,
    a_client_that_says_goodbye_but_reads_nothing_is_cut_off,
    a_live_span_has_the_shape_of_the_trace_views_span,
);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn summary(execution: &str, n: u64) -> SpanSummary {
    SpanSummary {
        execution_id: ExecutionId::new(execution).unwrap(),
        span_id: span_id(n),
        parent_span_id: (n > 1).then(|| span_id(1)),
        name: format!("node {n}"),
        kind: "llm".to_owned(),
        start_time: at(n),
        end_time: Some(at(n + 1)),
        status_code: StatusCode::Ok,
        status_message: None,
        input_tokens: Some(10),
        output_tokens: Some(n),
        cached_input_tokens: None,
        model: None,
        provider: None,
    }
}

fn url(app: &TestApp, execution: &str, query: &str) -> String {
    format!(
        "{}/api/executions/{execution}/trace/live{query}",
        app.address.replace("http://", "ws://")
    )
}

async fn connect(app: &TestApp, execution: &str, query: &str, token: &str) -> Socket {
    let mut request = url(app, execution, query).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Reads updates until `complete: true`; returns them.
async fn until_complete(socket: &mut Socket) -> Vec<Value> {
    let mut updates = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an update within 10 s")
            .expect("the socket stays open until complete")
            .unwrap();
        match message {
            Message::Text(text) => {
                let update: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(update["type"], "trace:update");
                let complete = update["complete"] == true;
                updates.push(update);
                if complete {
                    return updates;
                }
            }
            Message::Ping(bytes) => socket.send(Message::Pong(bytes)).await.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn span_names(updates: &[Value]) -> Vec<String> {
    updates
        .iter()
        .flat_map(|u| u["spans"].as_array().unwrap().iter())
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn names(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|n| format!("node {n}")).collect()
}

fn write_later(app: &TestApp, execution: &'static str) {
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        for batch in [1..=3, 4..=6, 7..=9] {
            std::thread::sleep(Duration::from_millis(150));
            let rows: Vec<_> = batch.map(|n| summary(execution, n)).collect();
            store.record_summaries(&rows).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        store
            .finish_execution(
                &ExecutionId::new(execution).unwrap(),
                ExecutionStatus::Completed,
                None,
                at(20),
            )
            .unwrap();
    });
}

async fn a_subscriber_gets_every_span_once_in_order_and_complete_last(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution(
        "exec_live",
        "acme",
        Some(crate::helpers::trace_id(1)),
        ExecutionStatus::Running,
    );
    let mut socket = connect(&app, "exec_live", "", &jwt("acme", "traces:read")).await;
    write_later(&app, "exec_live");
    let updates = until_complete(&mut socket).await;
    assert_eq!(
        span_names(&updates),
        names(1..=9),
        "every span once, in order of ending"
    );
    assert!(
        updates.len() >= 2,
        "spans arrive as they end, not all at the end"
    );
    let last = updates.last().unwrap();
    assert_eq!(last["complete"], true);
    assert_eq!(last["execution_id"], "exec_live");
    assert_eq!(last["trace_id"], crate::helpers::trace_id(1).to_string());
    let cursors: Vec<u64> = updates
        .iter()
        .map(|u| u["cursor"].as_u64().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] <= w[1]), "{cursors:?}");
    let span = &updates[0]["spans"][0];
    for key in [
        "span_id",
        "parent_span_id",
        "name",
        "start_time",
        "end_time",
        "attributes",
        "events",
        "status",
        "links",
    ] {
        assert!(span.get(key).is_some(), "{key} missing: {span}");
    }
    assert_eq!(span["attributes"]["orcheo.token.input"], 10);
    // The server closes the socket after the last update.
    let close = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    assert!(
        matches!(close, Some(Ok(Message::Close(_))) | None),
        "{close:?}"
    );
}

async fn a_finished_run_answers_at_once_and_a_cursor_resumes_without_gaps(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution(
        "exec_done",
        "acme",
        Some(crate::helpers::trace_id(2)),
        ExecutionStatus::Running,
    );
    let first: Vec<_> = (1..=4).map(|n| summary("exec_done", n)).collect();
    let cursor = app.store.record_summaries(&first).unwrap();
    let rest: Vec<_> = (5..=7).map(|n| summary("exec_done", n)).collect();
    app.store.record_summaries(&rest).unwrap();
    app.store
        .finish_execution(
            &ExecutionId::new("exec_done").unwrap(),
            ExecutionStatus::Completed,
            None,
            at(20),
        )
        .unwrap();
    let token = jwt("acme", "traces:read");
    let mut all = connect(&app, "exec_done", "", &token).await;
    let updates = until_complete(&mut all).await;
    assert_eq!(span_names(&updates), names(1..=7));
    let mut resumed = connect(&app, "exec_done", &format!("?after={cursor}"), &token).await;
    let updates = until_complete(&mut resumed).await;
    assert_eq!(
        span_names(&updates),
        names(5..=7),
        "no gap, no repeat after the cursor"
    );
}

async fn subscriptions_need_a_token_of_the_tenant_by_any_of_three_carriers(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution(
        "exec_t",
        "acme",
        Some(crate::helpers::trace_id(3)),
        ExecutionStatus::Completed,
    );
    let refused = |result: Result<_, tungstenite::Error>| match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other:?}"),
        Ok(_) => 101,
    };
    let bare = tokio_tungstenite::connect_async(url(&app, "exec_t", "")).await;
    assert_eq!(refused(bare), 401);
    let other = tokio_tungstenite::connect_async(url(
        &app,
        "exec_t",
        &format!("?access_token={}", jwt("globex", "traces:read")),
    ))
    .await;
    assert_eq!(refused(other), 404);
    // `access_token` in the query (browsers cannot set headers on a WebSocket).
    let (mut by_query, _) = tokio_tungstenite::connect_async(url(
        &app,
        "exec_t",
        &format!("?access_token={}", jwt("acme", "traces:read")),
    ))
    .await
    .unwrap();
    assert_eq!(
        until_complete(&mut by_query).await.last().unwrap()["complete"],
        true
    );
    // The subprotocols Canvas sends: ["orcheo-auth", "bearer.<token>"].
    let mut request = url(&app, "exec_t", "").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("orcheo-auth, bearer.{}", jwt("acme", "traces:read"))
            .parse()
            .unwrap(),
    );
    let (mut by_protocol, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "orcheo-auth");
    assert_eq!(
        until_complete(&mut by_protocol).await.last().unwrap()["complete"],
        true
    );
}

async fn many_subscribers_all_get_every_update(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.execution(
        "exec_many",
        "acme",
        Some(crate::helpers::trace_id(4)),
        ExecutionStatus::Running,
    );
    let token = jwt("acme", "traces:read");
    let mut sockets = Vec::new();
    for _ in 0..200 {
        sockets.push(connect(&app, "exec_many", "", &token).await);
    }
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains("orcheo_live_subscribers 200"), "{metrics}");
    write_later(&app, "exec_many");
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move { span_names(&until_complete(&mut socket).await) })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), names(1..=9));
    }
}

async fn a_slow_consumer_is_cut_off_without_hurting_the_others(db: Db) {
    // Small messages, so that many of them queue; a short send limit.
    let options = crate::helpers::Options {
        live: Some(orcheo_trace_server::live::LiveLimits {
            page: 20,
            send_timeout: Duration::from_secs(2),
            // Long enough for the slow one to read its close frame after its nap, which starts
            // only when the good one has read everything (a minute and more on a busy machine).
            close_timeout: Duration::from_mins(10),
            ..orcheo_trace_server::live::LiveLimits::default()
        }),
        ..crate::helpers::Options::default()
    };
    let Some(app) = crate::helpers::spawn_app_with(db, options).await else {
        return;
    };
    app.execution(
        "exec_flood",
        "acme",
        Some(crate::helpers::trace_id(5)),
        ExecutionStatus::Running,
    );
    let token = jwt("acme", "traces:read");
    let mut good = connect(&app, "exec_flood", "", &token).await;
    let mut slow = connect(&app, "exec_flood", "", &token).await;
    // 20,000 spans with long status messages: 1,000 updates, about 90 MB, more than the
    // session's queue and the sockets' buffers hold.
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        for page in 0..40u64 {
            let rows: Vec<_> = (1..=500u64)
                .map(|i| {
                    let mut s = summary("exec_flood", page * 500 + i);
                    s.status_message = Some("x".repeat(4000));
                    s
                })
                .collect();
            store.record_summaries(&rows).unwrap();
        }
        store
            .finish_execution(
                &ExecutionId::new("exec_flood").unwrap(),
                ExecutionStatus::Completed,
                None,
                at(20),
            )
            .unwrap();
    });
    // The good subscriber reads along and gets everything.
    let updates = until_complete(&mut good).await;
    assert_eq!(span_names(&updates).len(), 20_000);
    // The slow one reads nothing for longer than the send limit, then finds itself closed.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut closed_with = None;
    while let Some(Ok(message)) = slow.next().await {
        if let Message::Close(frame) = message {
            closed_with = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(
        closed_with,
        Some(1008),
        "closed as a policy violation (too slow)"
    );
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("orcheo_live_subscribers 0"),
        "both places freed: {metrics}"
    );
}

async fn subscriber_caps_and_silent_clients_are_enforced(db: Db) {
    let options = crate::helpers::Options {
        live: Some(orcheo_trace_server::live::LiveLimits {
            max_per_execution: 2,
            heartbeat: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(500),
            ..orcheo_trace_server::live::LiveLimits::default()
        }),
        ..crate::helpers::Options::default()
    };
    let Some(app) = crate::helpers::spawn_app_with(db, options).await else {
        return;
    };
    app.execution(
        "exec_cap",
        "acme",
        Some(crate::helpers::trace_id(6)),
        ExecutionStatus::Running,
    );
    let token = jwt("acme", "traces:read");
    let mut first = connect(&app, "exec_cap", "", &token).await;
    let _second = connect(&app, "exec_cap", "", &token).await;
    let third =
        tokio_tungstenite::connect_async(url(&app, "exec_cap", &format!("?access_token={token}")))
            .await;
    match third {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("a third subscriber must be refused: {other:?}"),
    }
    // A client that answers no ping (its socket is not read) is closed as gone away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match first.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                // The server may drop the connection right after its close frame.
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the server closes a silent client");
    assert!(ended.is_none_or(|code| code == 1001), "{ended:?}");
}

/// The subscriber gauge, from `/metrics`.
async fn subscribers(app: &TestApp) -> i64 {
    let metrics = app.get("/metrics", None).await.text;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("orcheo_live_subscribers "))
        .unwrap_or_else(|| panic!("no subscriber gauge: {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the subscriber gauge reads `n`; returns how long that took.
async fn until_subscribers(app: &TestApp, n: i64, within: Duration) -> Duration {
    let start = Instant::now();
    for _ in 0..1_000 {
        if subscribers(app).await == n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "the subscriber gauge did not come to {n} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the subscriber gauge did not come to {n}");
}

/// Subscribes through a socket with a tiny receive buffer, and never reads from it: once the
/// buffers between it and the server are full, whatever the server sends has to wait.
async fn connect_and_stop_reading(
    app: &TestApp,
    execution: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let addr: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = url(app, execution, "").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap()
        .0
}

/// Records pages of 200 spans with long status messages (about 0.9 MB each) into a running
/// execution: 20 at once, so that a new subscriber has far more to take than any buffer holds,
/// then one every 20 ms until `stop` is set, at most 150 in all.
async fn keep_writing(
    app: &TestApp,
    execution: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let page = |store: &orcheo_trace_store::Store, page: u64| {
        let rows: Vec<_> = (1..=200u64)
            .map(|i| {
                let mut s = summary(execution, page * 200 + i);
                s.status_message = Some("x".repeat(4000));
                s
            })
            .collect();
        store.record_summaries(&rows).unwrap();
    };
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || (0..20).for_each(|n| page(&store, n)))
        .await
        .unwrap();
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        for n in 20..150u64 {
            if stop.load(Ordering::Acquire) {
                return;
            }
            page(&store, n);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Asserts that the server answers other requests promptly.
async fn responsive(app: &TestApp) {
    let start = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), app.get("/healthz", None))
        .await
        .expect("the server answers /healthz within 5 s");
    assert_eq!(answer.status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

async fn a_client_that_stops_reading_is_cut_off_and_its_place_freed(db: Db) {
    let options = crate::helpers::Options {
        live: Some(orcheo_trace_server::live::LiveLimits {
            send_timeout: Duration::from_secs(1),
            close_timeout: Duration::from_secs(1),
            ..orcheo_trace_server::live::LiveLimits::default()
        }),
        ..crate::helpers::Options::default()
    };
    let Some(app) = crate::helpers::spawn_app_with(db, options).await else {
        return;
    };
    app.execution(
        "exec_stuck",
        "acme",
        Some(crate::helpers::trace_id(7)),
        ExecutionStatus::Running,
    );
    let token = jwt("acme", "traces:read");
    let before = subscribers(&app).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(&app, "exec_stuck", Arc::clone(&stop)).await;
    let mut stuck = connect_and_stop_reading(&app, "exec_stuck", &token).await;
    assert_eq!(subscribers(&app).await, before + 1);
    responsive(&app).await;
    // The send limit (1 s), after the kernel's socket buffers (a few MB on loopback) are full,
    // and a margin for a loaded machine.
    let freed_after = until_subscribers(&app, before, Duration::from_secs(15)).await;
    responsive(&app).await;
    // A subscriber that reads along still gets its updates.
    let mut reader = connect(&app, "exec_stuck", "", &token).await;
    let first = tokio::time::timeout(Duration::from_secs(10), reader.next())
        .await
        .expect("an update for a new subscriber")
        .unwrap()
        .unwrap();
    assert!(matches!(first, Message::Text(_)), "{first:?}");
    drop(reader);
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    // Past the close limit (1 s) the connection itself is cut: what the client reads now ends
    // without the rest of the feed and without the close frame it never took.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut texts = 0;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stuck.next().await {
                Some(Ok(Message::Text(_))) => texts += 1,
                Some(Ok(Message::Close(frame))) => return Some(frame),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the connection ends");
    assert!(
        ended.is_none(),
        "cut off, not left to deliver its queue ({texts} updates, then {ended:?}; freed after {freed_after:?})"
    );
    assert_eq!(subscribers(&app).await, before);
}

async fn a_client_that_stops_reading_and_answers_no_ping_is_closed_when_idle(db: Db) {
    // A send limit far longer than the idle limit: the silence is what ends the connection.
    // Small messages, so that many are waiting to be sent when the client falls silent.
    let options = crate::helpers::Options {
        live: Some(orcheo_trace_server::live::LiveLimits {
            page: 20,
            heartbeat: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(1),
            send_timeout: Duration::from_mins(1),
            ..orcheo_trace_server::live::LiveLimits::default()
        }),
        ..crate::helpers::Options::default()
    };
    let Some(app) = crate::helpers::spawn_app_with(db, options).await else {
        return;
    };
    app.execution(
        "exec_quiet",
        "acme",
        Some(crate::helpers::trace_id(8)),
        ExecutionStatus::Running,
    );
    let token = jwt("acme", "traces:read");
    let before = subscribers(&app).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(&app, "exec_quiet", Arc::clone(&stop)).await;
    let _quiet = connect_and_stop_reading(&app, "exec_quiet", &token).await;
    assert_eq!(subscribers(&app).await, before + 1);
    // The idle limit (1 s) and a margin; the send limit (a minute) is far away.
    until_subscribers(&app, before, Duration::from_secs(10)).await;
    responsive(&app).await;
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
}

async fn a_client_that_says_goodbye_but_reads_nothing_is_cut_off(db: Db) {
    // Neither the send limit nor the idle limit comes into it.
    let options = crate::helpers::Options {
        live: Some(orcheo_trace_server::live::LiveLimits {
            send_timeout: Duration::from_mins(1),
            close_timeout: Duration::from_secs(1),
            ..orcheo_trace_server::live::LiveLimits::default()
        }),
        ..crate::helpers::Options::default()
    };
    let Some(app) = crate::helpers::spawn_app_with(db, options).await else {
        return;
    };
    app.execution(
        "exec_bye",
        "acme",
        Some(crate::helpers::trace_id(10)),
        ExecutionStatus::Running,
    );
    let token = jwt("acme", "traces:read");
    let before = subscribers(&app).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(&app, "exec_bye", Arc::clone(&stop)).await;
    let mut stuck = connect_and_stop_reading(&app, "exec_bye", &token).await;
    // Time for the buffers between the server and the client to fill.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stuck.send(Message::Close(None)).await.unwrap();
    until_subscribers(&app, before, Duration::from_secs(5)).await;
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    // Past the close limit (1 s), the connection is reset: the megabytes that were waiting for
    // the client are gone, not delivered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut texts = 0;
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = stuck.next().await {
            if let Message::Text(_) = message {
                texts += 1;
            }
        }
    })
    .await
    .expect("the connection ends");
    assert!(texts < 5, "{texts} updates were still delivered");
    responsive(&app).await;
}

/// `a` and `b` hold the same keys with values of the same JSON types, at every level; of the
/// attributes, the keys both have. Lists are compared by their first elements, when both have one.
fn assert_same_shape(a: &Value, b: &Value, at: &str) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert_eq!(kind(a), kind(b), "{at}: {a} and {b}");
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let attributes = at.ends_with(".attributes");
            if !attributes {
                let keys =
                    |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
                assert_eq!(keys(a), keys(b), "{at}");
            }
            for (key, value) in a {
                if let Some(other) = b.get(key) {
                    assert_same_shape(value, other, &format!("{at}.{key}"));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(a), Some(b)) = (a.first(), b.first()) {
                assert_same_shape(a, b, &format!("{at}[0]"));
            }
        }
        _ => {}
    }
}

/// Canvas reads the live feed's spans with the parser of the trace view's: a span comes in both
/// with the same keys and value types, its token counts as numbers in both.
async fn a_live_span_has_the_shape_of_the_trace_views_span(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.seed("exec_both", "acme", 4, 1, ExecutionStatus::Completed);
    app.summaries("exec_both");
    let token = jwt("acme", "traces:read");
    let answer = app
        .get("/api/executions/exec_both/trace", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let flat = answer.json();
    let mut socket = connect(&app, "exec_both", "", &token).await;
    let updates = until_complete(&mut socket).await;
    let live: Vec<&Value> = updates
        .iter()
        .flat_map(|u| u["spans"].as_array().unwrap())
        .collect();
    assert_eq!(live.len(), 2, "{updates:?}");
    for span in live {
        let same = flat["spans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["span_id"] == span["span_id"])
            .unwrap_or_else(|| panic!("{} is not in the trace view: {flat}", span["span_id"]));
        assert_same_shape(same, span, "span");
    }
    let node = |spans: &Value| {
        spans
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["span_id"] == span_id(2).to_string())
            .unwrap()["attributes"]
            .clone()
    };
    let (api, live) = (node(&flat["spans"]), node(&updates[0]["spans"]));
    for key in [
        "orcheo.node.kind",
        "orcheo.token.input",
        "orcheo.token.output",
    ] {
        assert!(
            api.get(key).is_some() && live.get(key).is_some(),
            "{key}: {api} {live}"
        );
    }
    // The span, as the live feed sends it, is what the document calls a flat span.
    let doc = app.get("/api/openapi.json", None).await.json();
    let flat_span = serde_json::json!({"$ref": "#/components/schemas/FlatSpan"});
    for span in updates[0]["spans"].as_array().unwrap() {
        let broken = crate::schema::violations(&doc, &flat_span, span);
        assert!(broken.is_empty(), "{broken:?}");
    }
}
