//! Live trace updates: `GET /api/executions/{execution_id}/trace/live` upgrades to a WebSocket
//! that sends the run's ended spans as they are recorded, in Orcheo's `trace:update` messages,
//! and `complete: true` last.
//!
//! The feed is the span summaries' sequence numbers (`workflow_trace_summary.updated_seq`, commit
//! order): a subscriber reads what was written after its cursor, so it sees every span exactly
//! once and can resume after a reconnect. Writers in this process (the OTLP receiver) wake the
//! subscribers of an execution at once; writers in other processes are picked up by one poller
//! per watched execution at a short interval (ADR 0003).
//!
//! A client that stops reading costs a bounded amount: what waits in its session is counted
//! where the response body hands it to the connection (`max_queued_bytes`), every send and close
//! has a time limit, and a connection that does not take its close frame in time is reset
//! through a second handle on its socket, kept for each connection by `on_connect`.

use std::any::Any;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Extensions;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, ProtocolError};
use futures_util::{FutureExt as _, StreamExt as _};
use orcheo_span_tree::filter::ContentPolicy;
use orcheo_span_tree::redact::Redactor;
use orcheo_span_tree::render::FlatSpan;
use orcheo_trace_model::{AttributeValue, ExecutionId, KeyValue, RawStatus, TraceId};
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
    /// No pong (or other message) for this long: the connection is dead. It counts while a send
    /// waits, too.
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// A client that does not take a message within this is cut off.
    pub send_timeout: Duration,
    /// A connection that has not finished this long after its close frame was queued is reset.
    pub close_timeout: Duration,
    /// Spans in one message.
    pub page: usize,
    /// A message's spans stop at about this many bytes of JSON (one span always goes).
    pub max_message_bytes: usize,
    /// Bytes queued for a client that its connection has not taken yet; the next message waits
    /// until it fits (or nothing is queued).
    pub max_queued_bytes: usize,
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
            close_timeout: Duration::from_secs(5),
            page: 500,
            max_message_bytes: 64 * 1024,
            max_queued_bytes: 256 * 1024,
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

/// One `trace:update` message.
#[derive(Debug, Serialize)]
struct Update<'a> {
    r#type: &'static str,
    execution_id: &'a str,
    trace_id: Option<TraceId>,
    spans: Vec<FlatSpan<'static>>,
    complete: bool,
    /// Pass as `after` when reconnecting.
    cursor: u64,
}

/// A summary as a flat span (the trace view's shape, with the attributes a summary keeps), its
/// texts redacted as the trace route's are.
fn flat(
    trace_id: Option<TraceId>,
    stored: &StoredSummary,
    redactor: Option<&Redactor>,
) -> FlatSpan<'static> {
    let policy = ContentPolicy {
        redactor,
        ..ContentPolicy::default()
    };
    let text = |t: &str| policy.redact(t).into_owned();
    // The store keeps token counts in a signed column: any it returns fits.
    let count =
        |n: u64| i64::try_from(n).map_or(AttributeValue::Double(n as f64), AttributeValue::Int);
    let s = &stored.summary;
    let mut attributes = vec![KeyValue::new(
        "orcheo.execution.id",
        s.execution_id.as_str(),
    )];
    if !s.kind.is_empty() {
        attributes.push(KeyValue::new("orcheo.node.kind", text(&s.kind)));
    }
    if let Some(n) = s.input_tokens {
        attributes.push(KeyValue::new("orcheo.token.input", count(n)));
    }
    if let Some(n) = s.output_tokens {
        attributes.push(KeyValue::new("orcheo.token.output", count(n)));
    }
    FlatSpan {
        span_id: s.span_id,
        parent_span_id: s.parent_span_id,
        trace_id,
        name: text(&s.name).into(),
        start_time: s.start_time,
        end_time: s.end_time,
        attributes: attributes.into(),
        events: &[],
        status: std::borrow::Cow::Owned(RawStatus {
            code: s.status_code,
            message: s.status_message.as_deref().map(text),
        }),
        links: &[],
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
    let caller = auth.authenticate_async(token).await?;
    if !caller.scopes.read {
        return Err(AuthError::MissingScope(SCOPE_READ).into());
    }
    let execution = state.traces.execution(&caller.audience(), &path).await?;
    let place =
        hub.admit(execution.id.as_str())
            .ok_or_else(|| ApiError::TraceStoreUnavailable {
                message: "too many live subscribers; try again later".to_owned(),
                retry_after: Duration::from_secs(5),
            })?;
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::bad_request("not_a_websocket", format!("this route is a WebSocket: {e}"))
    })?;
    let handed_over = Arc::new(Taken::default());
    let counter = Arc::clone(&handed_over);
    let mut response = response
        .map_body(|_, inner| CountedBody {
            inner,
            taken: counter,
        })
        .map_into_boxed_body();
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
    let mut heartbeat = tokio::time::interval(hub.limits.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let link = Link {
        session,
        stream: stream.max_frame_size(64 * 1024),
        limits: hub.limits,
        heartbeat,
        queued: 0,
        taken: handed_over,
        last_heard: Instant::now(),
        socket: req.conn_data::<ConnectionSocket>().map(|c| {
            // The kernel's own buffer would otherwise grow to megabytes that a client which
            // stops reading still receives after its session was closed; kept small, what waits
            // for a client is what `max_queued_bytes` counts, give or take this much.
            let _ = c.socket.set_send_buffer_size(LIVE_SEND_BUFFER);
            (Arc::clone(&c.socket), c.open.subscribe())
        }),
    };
    actix_web::rt::spawn(feed.run(link));
    Ok(response)
}

/// The kernel send buffer of a live connection (Linux doubles it): a few messages.
const LIVE_SEND_BUFFER: usize = 64 * 1024;

/// A second handle on a connection's socket, so that a feed can reset a connection whose client
/// takes nothing (the server's own writes to it would wait forever). `open` is dropped with the
/// connection.
struct ConnectionSocket {
    socket: Arc<socket2::Socket>,
    open: tokio::sync::watch::Sender<()>,
}

/// Keeps a [`ConnectionSocket`] in each plain TCP connection's data (`HttpServer::on_connect`).
pub(crate) fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    // Without it a stuck connection is only closed, not reset; the feed still ends.
    if let Ok(socket) = socket2::SockRef::from(stream).try_clone() {
        data.insert(ConnectionSocket {
            socket: Arc::new(socket),
            open: tokio::sync::watch::channel(()).0,
        });
    }
}

/// What the connection has taken of a session's frames, in bytes (wrapping).
#[derive(Debug, Default)]
struct Taken {
    bytes: AtomicUsize,
    more: tokio::sync::Notify,
}

/// The WebSocket response body, counting the bytes it hands to the connection. The connection
/// takes more only while its write buffer is short, so this is what a client has really taken,
/// give or take that buffer.
struct CountedBody {
    inner: BoxBody,
    taken: Arc<Taken>,
}

impl MessageBody for CountedBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let next = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &next {
            this.taken.bytes.fetch_add(bytes.len(), Ordering::AcqRel);
            this.taken.more.notify_one();
        }
        next
    }
}

/// The length of a server frame (unmasked) carrying `payload` bytes, as the session's codec
/// writes it (RFC 6455, section 5.2).
const fn frame_len(payload: usize) -> usize {
    payload
        + if payload < 126 {
            2
        } else if payload <= 0xFFFF {
            4
        } else {
            10
        }
}

/// How many of these spans go in one message: as many as fit in `max_bytes` of JSON, at least one.
fn fitting(spans: &[FlatSpan<'_>], max_bytes: usize) -> usize {
    let mut bytes = 0;
    for (n, span) in spans.iter().enumerate() {
        bytes += json_len(span) + 1;
        if n > 0 && bytes > max_bytes {
            return n;
        }
    }
    spans.len()
}

/// The length of a value's JSON, counted without keeping it.
fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A span always serializes (the message is serialized again anyway).
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

fn too_slow() -> End {
    End::Reason(CloseReason {
        code: CloseCode::Policy,
        description: Some("too slow to take updates; reconnect with `after`".into()),
    })
}

fn silent() -> End {
    End::Reason(CloseReason {
        code: CloseCode::Away,
        description: Some("no answer to pings".into()),
    })
}

/// A subscriber's connection: the session that queues frames for it, the frames it sends, and
/// how much of what was queued it has taken.
struct Link {
    session: actix_ws::Session,
    stream: actix_ws::MessageStream,
    limits: LiveLimits,
    /// Pings go out on it while messages are sent, too: a client busy taking a long burst
    /// answers them, and is not taken for silent.
    heartbeat: tokio::time::Interval,
    /// Bytes of frames queued in the session (wrapping, like `taken`).
    queued: usize,
    taken: Arc<Taken>,
    last_heard: Instant,
    socket: Option<(Arc<socket2::Socket>, tokio::sync::watch::Receiver<()>)>,
}

impl Link {
    fn idle_deadline(&self) -> tokio::time::Instant {
        (self.last_heard + self.limits.idle_timeout).into()
    }

    /// Takes note of a frame from the client; a ping's payload is returned, to be answered.
    fn heard(
        &mut self,
        message: Option<Result<Message, ProtocolError>>,
    ) -> Result<Option<Bytes>, End> {
        match message {
            Some(Ok(Message::Close(_)) | Err(_)) | None => Err(End::Gone),
            Some(Ok(Message::Ping(bytes))) => {
                self.last_heard = Instant::now();
                Ok(Some(bytes))
            }
            Some(Ok(_)) => {
                self.last_heard = Instant::now();
                Ok(None)
            }
        }
    }

    /// Counts a frame that was queued (or says why it was not).
    fn queued(
        &mut self,
        sent: &Result<Result<(), actix_ws::Closed>, tokio::time::error::Elapsed>,
        payload: usize,
    ) -> Result<(), End> {
        match sent {
            Ok(Ok(())) => {
                self.queued = self.queued.wrapping_add(frame_len(payload));
                Ok(())
            }
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(too_slow()),
        }
    }

    async fn ping(&mut self) -> Result<(), End> {
        let sent = tokio::time::timeout(self.limits.send_timeout, self.session.ping(b"")).await;
        self.queued(&sent, 0)
    }

    async fn pong(&mut self, bytes: &[u8]) -> Result<(), End> {
        let sent = tokio::time::timeout(self.limits.send_timeout, self.session.pong(bytes)).await;
        // The session cuts control payloads to 125 bytes.
        self.queued(&sent, bytes.len().min(125))
    }

    /// Answers a frame from the client.
    async fn answer(&mut self, message: Option<Result<Message, ProtocolError>>) -> Result<(), End> {
        match self.heard(message)? {
            Some(ping) => self.pong(&ping).await,
            None => Ok(()),
        }
    }

    /// Queues a message once the client has taken enough of the earlier ones. A client that
    /// does not make room within the send limit is too slow; one that says nothing within the
    /// idle limit meanwhile is gone. What the client sent is read first, and a ping goes out when
    /// one is due.
    async fn text(&mut self, text: String) -> Result<(), End> {
        let deadline = tokio::time::Instant::now() + self.limits.send_timeout;
        let payload = text.len();
        // Bounded: a client cannot keep the feed answering it.
        for _ in 0..64 {
            let Some(message) = self.stream.next().now_or_never() else {
                break;
            };
            self.answer(message).await?;
        }
        if self.heartbeat.tick().now_or_never().is_some() {
            self.ping().await?;
        }
        loop {
            let outstanding = self
                .queued
                .wrapping_sub(self.taken.bytes.load(Ordering::Acquire));
            if outstanding == 0
                || outstanding.saturating_add(frame_len(payload)) <= self.limits.max_queued_bytes
            {
                break;
            }
            let idle = self.idle_deadline();
            let heard = tokio::select! {
                biased;
                message = self.stream.next() => Some(message),
                () = self.taken.more.notified() => None,
                () = tokio::time::sleep_until(deadline) => return Err(too_slow()),
                () = tokio::time::sleep_until(idle) => return Err(silent()),
            };
            if let Some(message) = heard {
                self.answer(message).await?;
            }
        }
        let sent = tokio::time::timeout_at(deadline, self.session.text(text)).await;
        self.queued(&sent, payload)
    }

    /// Queues the close frame (none when the client has gone: the session's end ends the
    /// response), then gives the connection the close limit to finish; one that
    /// cannot take the frame or does not finish is reset, which drops whatever is still queued
    /// for it.
    async fn close(self, reason: Option<CloseReason>) {
        let Self {
            session,
            stream,
            limits,
            socket,
            ..
        } = self;
        let closed = if let Some(reason) = reason {
            tokio::time::timeout(limits.send_timeout, session.close(Some(reason)))
                .await
                .is_ok()
        } else {
            // A client that sent its close frame (or broke the protocol) may still not read
            // what is queued for it.
            drop(session);
            true
        };
        let Some((socket, mut open)) = socket else {
            return;
        };
        // `open` never changes: `changed` returns when the connection has ended.
        if closed
            && tokio::time::timeout(limits.close_timeout, open.changed())
                .await
                .is_ok()
        {
            return;
        }
        drop(stream);
        // The connection's task finds its socket shut at its next write and ends; the reset
        // (linger zero) throws away what the kernel still holds for the client.
        let _ = socket.set_linger(Some(Duration::ZERO));
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
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
    async fn run(mut self, mut link: Link) {
        let started = Instant::now();
        link.heartbeat.tick().await;
        let end = loop {
            match self.send_new(&mut link).await {
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
            let idle = link.idle_deadline();
            let woken = tokio::select! {
                // What the client sent counts before the idle limit is looked at.
                biased;
                message = link.stream.next() => {
                    if let Err(end) = link.answer(message).await { break end; }
                    false
                }
                _ = link.heartbeat.tick() => {
                    if let Err(end) = link.ping().await { break end; }
                    false
                }
                () = tokio::time::sleep_until(idle) => break silent(),
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
        let reason = match end {
            End::Complete => Some(CloseReason {
                code: CloseCode::Normal,
                description: Some("run complete".into()),
            }),
            End::Reason(reason) => Some(reason),
            End::Gone => None,
        };
        // The subscription ends here (its place is given back); the connection gets its close.
        drop(self);
        link.close(reason).await;
    }

    /// Sends what was written after the cursor; `Ok(true)` once the run has ended and all of
    /// its spans went out with `complete: true`.
    async fn send_new(&mut self, link: &mut Link) -> Result<bool, End> {
        let mut batch = self.limits.page;
        loop {
            let store = self.store.clone();
            let execution = self.execution.clone();
            let (cursor, page) = (self.cursor, batch);
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
            let mut update = Update {
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
            // Spans past one message's bytes are read again for the next message, so that a
            // client slow to make room holds one message here, not a page; reads shrink to fit.
            let fit = fitting(&update.spans, self.limits.max_message_bytes);
            let more = fit < rows.len();
            if more && let Some(last) = fit.checked_sub(1).and_then(|i| rows.get(i)) {
                update.spans.truncate(fit);
                update.complete = false;
                update.cursor = last.seq;
                self.cursor = last.seq;
                batch = fit.saturating_mul(2).min(self.limits.page);
            } else {
                batch = self.limits.page;
            }
            let complete = update.complete;
            let text = serde_json::to_string(&update).map_err(|_| End::Gone)?;
            drop(update);
            drop(rows);
            link.text(text).await?;
            if complete {
                return Ok(true);
            }
            if !full_page && !more {
                return Ok(false);
            }
        }
    }
}
/// The span writer wakes the subscribers of the executions it committed spans for.
impl orcheo_trace_model::SpanWatcher for LiveHub {
    fn spans_committed(&self, executions: &[ExecutionId]) {
        self.notify(executions);
    }
}
