//! A tiny HTTP store: canned answers per path, recorded requests, a switch to drop connections.
//! It runs on the test's own runtime, so tests with a paused clock see its delays.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Canned {
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the store saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    /// Answers per path; the last one repeats.
    routes: HashMap<String, VecDeque<Canned>>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FakeHttp {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    down: Arc<AtomicBool>,
}

impl FakeHttp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Self {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
            down: Arc::default(),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                if server.down.load(Ordering::SeqCst) {
                    // A store that is down: the connection is closed before any answer.
                    drop(socket);
                    continue;
                }
                let server = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| server.clone().answer(req));
                    let io = hyper_util::rt::TokioIo::new(socket);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        fake
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `path` with these, in order; the last repeats.
    pub fn route(&self, path: &str, answers: Vec<Canned>) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), answers.into());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = req.uri().path().to_owned();
        let canned = {
            let mut state = self.state.lock().unwrap();
            state.seen.push(Seen {
                path_and_query: req
                    .uri()
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                headers: req
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            v.to_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            });
            match state.routes.get_mut(&path) {
                Some(queue) if queue.len() > 1 => queue.pop_front(),
                Some(queue) => queue.front().cloned(),
                None => None,
            }
        };
        let canned = canned.unwrap_or_else(|| Canned::new(404, "404 page not found\n"));
        tokio::time::sleep(canned.delay).await;
        let mut response = Response::builder().status(canned.status);
        for (name, value) in &canned.headers {
            response = response.header(*name, value);
        }
        Ok(response.body(Full::new(canned.body)).unwrap())
    }
}
