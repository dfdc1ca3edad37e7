//! Live trace updates: `GET /api/executions/{execution_id}/trace/live` upgrades to a WebSocket
//! that sends the run's ended spans as they are recorded, in Orcheo's `trace:update` messages,
//! and `complete: true` last.
//!
//! The feed is the span summaries' sequence numbers (`workflow_trace_summary.updated_seq`, commit
//! order): a subscriber reads what was written after its cursor, so it sees every span exactly
//! once and can resume after a reconnect. Writers in this process (the OTLP receiver) wake the
//! subscribers of an execution at once; writers in other processes are picked up by one poller
//! per watched execution at a short interval (ADR 0003).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use futures_util::StreamExt as _;
use orcheo_span_tree::filter::ContentPolicy;
use orcheo_span_tree::redact::Redactor;
use orcheo_trace_model::{ExecutionId, TraceId};
use orcheo_trace_store::{Store, StoredSummary};
use prometheus::IntGauge;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthError, Authenticator, SCOPE_READ};
use crate::error::ApiError;
use crate::routes::AppState;

/// Bounds and timings of the live feed.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    pub max_subscribers: usize,
    pub max_per_execution: usize,
    /// How often an execution with subscribers is checked for spans written by other
    /// processes (one check per execution, however many subscribers it has).
    pub poll_interval: Duration,
    /// How often a subscriber looks by itself, in case a wake-up was lost.
    pub fallback_poll: Duration,
    /// Spans ending within this window go out in one message.
    pub batch_window: Duration,
    pub heartbeat: Duration,
    /// No pong (or other message) for this long: the connection is dead.
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// A client that does not take a message within this is cut off.
    pub send_timeout: Duration,
    /// Spans in one message.
    pub page: usize,
}

impl Default for LiveLimits {
    fn default() -> Self {
        Self {
            max_subscribers: 2_000,
            max_per_execution: 500,
            poll_interval: Duration::from_millis(100),
            fallback_poll: Duration::from_secs(5),
            batch_window: Duration::from_millis(20),
            heartbeat: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            max_lifetime: Duration::from_hours(1),
            send_timeout: Duration::from_secs(5),
            page: 500,
        }
    }
}

/// Who is subscribed, and the in-process wake-up signal.
#[derive(Debug)]
pub struct LiveHub {
    limits: LiveLimits,
    store: Store,
    total: AtomicUsize,
    /// Subscribers per execution; an execution listed here has its poller running.
    per_execution: Mutex<HashMap<String, usize>>,
    wake: tokio::sync::broadcast::Sender<String>,
    /// `orcheo_live_subscribers`
    pub gauge: IntGauge,
}

/// A subscriber's place; dropping it gives the place back.
#[derive(Debug)]
struct Place {
    hub: Arc<LiveHub>,
    execution: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.hub.total.fetch_sub(1, Ordering::AcqRel);
        self.hub.gauge.dec();
        let mut map = self
            .hub
            .per_execution
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The entry stays at 0 until the poller sees it and leaves (then it removes it).
        if let Some(n) = map.get_mut(&self.execution) {
            *n = n.saturating_sub(1);
        }
    }
}

impl LiveHub {
    pub fn new(
        limits: LiveLimits,
        store: Store,
        registry: &prometheus::Registry,
    ) -> Result<Arc<Self>, prometheus::Error> {
        let gauge = IntGauge::new(
            "orcheo_live_subscribers",
            "WebSocket subscribers to live trace updates.",
        )?;
        registry.register(Box::new(gauge.clone()))?;
        let (wake, _) = tokio::sync::broadcast::channel(1024);
        Ok(Arc::new(Self {
            limits,
            store,
            total: AtomicUsize::new(0),
            per_execution: Mutex::new(HashMap::new()),
            wake,
            gauge,
        }))
    }

    /// Wakes the subscribers of these executions (new summaries were committed).
    pub fn notify<'a>(&self, executions: impl IntoIterator<Item = &'a ExecutionId>) {
        for execution in executions {
            // No receiver is not an error: nobody is watching.
            let _ = self.wake.send(execution.as_str().to_owned());
        }
    }

    /// Watches an execution for writes from other processes while it has subscribers, and wakes
    /// them when its newest sequence or its status changes.
    fn spawn_poller(self: &Arc<Self>, execution: ExecutionId) {
        let hub = Arc::clone(self);
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(hub.limits.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = None;
            loop {
                tick.tick().await;
                {
                    let mut map = hub
                        .per_execution
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if map.get(execution.as_str()).is_none_or(|&n| n == 0) {
                        map.remove(execution.as_str());
                        return;
                    }
                }
                let store = hub.store.clone();
                let id = execution.clone();
                let Ok(Ok(state)) = web::block(move || store.live_state(&id)).await else {
                    continue;
                };
                if last != Some(state) {
                    let _ = hub.wake.send(execution.as_str().to_owned());
                    last = Some(state);
                }
            }
        });
    }

    fn admit(self: &Arc<Self>, execution: &str) -> Option<Place> {
        let mut map = self
            .per_execution
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let here = map.get(execution).copied().unwrap_or(0);
        if here >= self.limits.max_per_execution
            || self.total.load(Ordering::Acquire) >= self.limits.max_subscribers
        {
            return None;
        }
        let polled = map.contains_key(execution);
        map.insert(execution.to_owned(), here + 1);
        drop(map);
        if !polled && let Ok(id) = ExecutionId::new(execution) {
            self.spawn_poller(id);
        }
        self.total.fetch_add(1, Ordering::AcqRel);
        self.gauge.inc();
        Some(Place {
            hub: Arc::clone(self),
            execution: execution.to_owned(),
        })
    }
}

/// Query of the live route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// A bearer token, for clients that cannot set headers (browsers' WebSocket API).
    pub access_token: Option<String>,
    /// The last `cursor` this client received: only later spans are sent.
    pub after: Option<u64>,
}

/// A span in Orcheo's flat shape, from its summary.
#[derive(Debug, Serialize)]
struct FlatSpan {
    span_id: String,
    parent_span_id: Option<String>,
    trace_id: Option<TraceId>,
    name: String,
    start_time: orcheo_trace_model::Timestamp,
    end_time: Option<orcheo_trace_model::Timestamp>,
    attributes: serde_json::Map<String, serde_json::Value>,
    events: [(); 0],
    status: Status,
    links: [(); 0],
}

#[derive(Debug, Serialize)]
struct Status {
    code: String,
    message: Option<String>,
}

/// One `trace:update` message.
#[derive(Debug, Serialize)]
struct Update<'a> {
    r#type: &'static str,
    execution_id: &'a str,
    trace_id: Option<TraceId>,
    spans: Vec<FlatSpan>,
    complete: bool,
    /// Pass as `after` when reconnecting.
    cursor: u64,
}

/// A summary as a flat span, its texts redacted as the trace route's are.
fn flat(
    trace_id: Option<TraceId>,
    stored: &StoredSummary,
    redactor: Option<&Redactor>,
) -> FlatSpan {
    let policy = ContentPolicy {
        redactor,
        ..ContentPolicy::default()
    };
    let text = |t: &str| policy.redact(t).into_owned();
    let s = &stored.summary;
    let mut attributes = serde_json::Map::new();
    attributes.insert("orcheo.execution.id".into(), s.execution_id.as_str().into());
    if !s.kind.is_empty() {
        attributes.insert("orcheo.node.kind".into(), text(&s.kind).into());
    }
    if let Some(n) = s.input_tokens {
        attributes.insert("orcheo.token.input".into(), n.into());
    }
    if let Some(n) = s.output_tokens {
        attributes.insert("orcheo.token.output".into(), n.into());
    }
    FlatSpan {
        span_id: s.span_id.to_string(),
        parent_span_id: s.parent_span_id.map(|p| p.to_string()),
        trace_id,
        name: text(&s.name),
        start_time: s.start_time,
        end_time: s.end_time,
        attributes,
        events: [],
        status: Status {
            code: s.status_code.to_string(),
            message: s.status_message.as_deref().map(text),
        },
        links: [],
    }
}

/// The token: `Authorization: Bearer`, `?access_token=`, or the subprotocols
/// `["orcheo-auth", "bearer.<token>"]` (as Canvas sends it); and whether the last was used.
fn token<'a>(req: &'a HttpRequest, query: &'a LiveQuery) -> (Option<&'a str>, bool) {
    if let Some(token) = crate::auth::bearer(req) {
        return (Some(token), false);
    }
    if let Some(token) = query.access_token.as_deref().filter(|t| !t.is_empty()) {
        return (Some(token), false);
    }
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut protocols = offered.split(',').map(str::trim);
    let token = protocols.clone().find_map(|p| p.strip_prefix("bearer."));
    let asked = protocols.any(|p| p == "orcheo-auth");
    match token {
        Some(token) if asked => (Some(token), true),
        _ => (None, false),
    }
}

/// The live route.
pub(crate) async fn live(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    hub: web::Data<Arc<LiveHub>>,
    path: web::Path<String>,
    query: web::Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let (token, by_subprotocol) = token(&req, &query);
    let caller = auth.authenticate(token)?;
    if !caller.scopes.read {
        return Err(AuthError::MissingScope(SCOPE_READ).into());
    }
    let execution = state.traces.execution(&caller, &path).await?;
    let place =
        hub.admit(execution.id.as_str())
            .ok_or_else(|| ApiError::TraceStoreUnavailable {
                message: "too many live subscribers; try again later".to_owned(),
                retry_after: Duration::from_secs(5),
            })?;
    let (mut response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::bad_request("not_a_websocket", format!("this route is a WebSocket: {e}"))
    })?;
    if by_subprotocol {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("orcheo-auth"),
        );
    }
    let feed = Feed {
        store: state.traces.store().clone(),
        execution: execution.id,
        trace_id: execution.trace_id,
        redactor: state.traces.redactor(),
        cursor: query.after.unwrap_or(0),
        limits: hub.limits,
        wake: hub.wake.subscribe(),
        _place: place,
    };
    actix_web::rt::spawn(feed.run(session, stream.max_frame_size(64 * 1024)));
    Ok(response)
}

/// One subscriber's loop.
struct Feed {
    store: Store,
    execution: ExecutionId,
    trace_id: Option<TraceId>,
    redactor: Option<Arc<Redactor>>,
    cursor: u64,
    limits: LiveLimits,
    wake: tokio::sync::broadcast::Receiver<String>,
    _place: Place,
}

/// Why a feed ended, as its close frame says.
enum End {
    Complete,
    Gone,
    Reason(CloseReason),
}

impl Feed {
    async fn run(mut self, mut session: actix_ws::Session, mut stream: actix_ws::MessageStream) {
        let started = Instant::now();
        let mut last_heard = Instant::now();
        let mut heartbeat = tokio::time::interval(self.limits.heartbeat);
        heartbeat.tick().await;
        let end = loop {
            match self.send_new(&mut session).await {
                Ok(true) => break End::Complete,
                Ok(false) => {}
                Err(end) => break end,
            }
            if started.elapsed() >= self.limits.max_lifetime {
                break End::Reason(CloseReason {
                    code: CloseCode::Again,
                    description: Some(
                        "maximum connection lifetime reached; reconnect with `after`".into(),
                    ),
                });
            }
            let woken = tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        last_heard = Instant::now();
                        if session.pong(&bytes).await.is_err() { break End::Gone; }
                        false
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break End::Gone,
                    Some(Ok(_)) => { last_heard = Instant::now(); false }
                },
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > self.limits.idle_timeout {
                        break End::Reason(CloseReason {
                            code: CloseCode::Away,
                            description: Some("no answer to pings".into()),
                        });
                    }
                    if session.ping(b"").await.is_err() { break End::Gone; }
                    false
                }
                woke = self.wake.recv() => match woke {
                    Ok(id) => id == self.execution.as_str(),
                    // Missed wake-ups: look anyway.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break End::Gone,
                },
                () = tokio::time::sleep(self.limits.fallback_poll) => true,
            };
            if woken {
                // Let the spans ending together go out together.
                tokio::time::sleep(self.limits.batch_window).await;
            }
        };
        match end {
            End::Complete => {
                let _ = session
                    .close(Some(CloseReason {
                        code: CloseCode::Normal,
                        description: Some("run complete".into()),
                    }))
                    .await;
            }
            End::Reason(reason) => {
                let _ = session.close(Some(reason)).await;
            }
            End::Gone => {}
        }
    }

    /// Sends what was written after the cursor; `Ok(true)` once the run has ended and all of
    /// its spans went out with `complete: true`.
    async fn send_new(&mut self, session: &mut actix_ws::Session) -> Result<bool, End> {
        loop {
            let store = self.store.clone();
            let execution = self.execution.clone();
            let (cursor, page) = (self.cursor, self.limits.page);
            // The status is read before the spans: a run seen ended has all its spans below.
            let read = web::block(move || -> Result<_, orcheo_trace_store::StoreError> {
                let (_, ended) = store.live_state(&execution)?;
                let rows = store.summaries_after(&execution, cursor, page)?;
                Ok((ended, rows))
            })
            .await;
            let Ok(Ok((ended, rows))) = read else {
                // The database is away: keep the connection, try again at the next wake.
                return Ok(false);
            };
            let full_page = rows.len() == page;
            let complete = ended && !full_page;
            if rows.is_empty() && !complete {
                return Ok(false);
            }
            if let Some(last) = rows.last() {
                self.cursor = last.seq;
            }
            let update = Update {
                r#type: "trace:update",
                execution_id: self.execution.as_str(),
                trace_id: self.trace_id,
                spans: rows
                    .iter()
                    .map(|r| flat(self.trace_id, r, self.redactor.as_deref()))
                    .collect(),
                complete,
                cursor: self.cursor,
            };
            let text = serde_json::to_string(&update).map_err(|_| End::Gone)?;
            match tokio::time::timeout(self.limits.send_timeout, session.text(text)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(End::Gone),
                Err(_) => {
                    return Err(End::Reason(CloseReason {
                        code: CloseCode::Policy,
                        description: Some(
                            "too slow to take updates; reconnect with `after`".into(),
                        ),
                    }));
                }
            }
            if complete {
                return Ok(true);
            }
            if !full_page {
                return Ok(false);
            }
        }
    }
}
