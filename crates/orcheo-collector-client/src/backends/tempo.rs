//! Grafana Tempo: `GET /api/v2/traces/{id}` as protobuf (`TraceByIDResponse`), falling back to
//! v1 `GET /api/traces/{id}` (a bare `Trace`) on stores without v2. v2 answers a missing trace with
//! 200 and an empty trace, v1 with 404; `PARTIAL` (trace over the size limit) is surfaced.

use std::sync::atomic::{AtomicBool, Ordering};

use orcheo_span_tree::Format;

use super::found;
use super::http::{Http, decode};
use crate::config::ClientConfig;
use crate::{BoxFuture, ConfigError, FetchError, FetchRequest, FetchedTrace, TraceSource};

const PROTOBUF: &str = "application/protobuf";

/// The Tempo backend.
#[derive(Debug)]
pub struct Tempo {
    http: Http,
    /// Set once the store has shown it has no v2 API, so later fetches go straight to v1.
    v1_only: AtomicBool,
}

impl Tempo {
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            http: Http::new(config)?,
            v1_only: AtomicBool::new(false),
        })
    }

    async fn fetch_trace(&self, request: &FetchRequest) -> Result<FetchedTrace, FetchError> {
        let query = window_query(request);
        let id = request.trace_id;
        if !self.v1_only.load(Ordering::Relaxed) {
            let answer = self
                .http
                .get(&format!("/api/v2/traces/{id}{query}"), PROTOBUF)
                .await?;
            if answer.status != 404 {
                return found(decode_answer(
                    &answer.body,
                    &answer.content_type,
                    Format::TempoProto,
                )?);
            }
        }
        // v2 answered 404: either it does not exist here, or it hides this trace. v1 decides.
        let answer = self
            .http
            .get(&format!("/api/traces/{id}{query}"), PROTOBUF)
            .await?;
        if answer.status == 404 {
            return Err(FetchError::NotFound);
        }
        self.v1_only.store(true, Ordering::Relaxed);
        found(decode_answer(
            &answer.body,
            &answer.content_type,
            Format::OtlpProto,
        )?)
    }
}

/// Tempo's `start`/`end` hints: whole unix seconds, `end` strictly after `start`.
fn window_query(request: &FetchRequest) -> String {
    match request.window {
        Some(w) => {
            let start = w.start.unix_nanos() / 1_000_000_000;
            let end = w.end.unix_nanos().div_ceil(1_000_000_000).max(start + 1);
            format!("?start={start}&end={end}")
        }
        None => String::new(),
    }
}

/// Reads an answer as protobuf unless the store (or a proxy) sent JSON anyway; an empty body is
/// an empty trace (protobuf omits every default field).
fn decode_answer(
    body: &[u8],
    content_type: &str,
    proto: Format,
) -> Result<orcheo_span_tree::Decoded, FetchError> {
    if body.is_empty() {
        return Ok(orcheo_span_tree::Decoded::default());
    }
    if content_type.contains("json") {
        decode(body, Format::Tempo)
    } else {
        decode(body, proto)
    }
}

impl TraceSource for Tempo {
    fn name(&self) -> &'static str {
        "tempo"
    }

    fn fetch<'a>(
        &'a self,
        request: &'a FetchRequest,
    ) -> BoxFuture<'a, Result<FetchedTrace, FetchError>> {
        Box::pin(self.fetch_trace(request))
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async move {
            match self.http.get("/ready", "text/plain").await?.status {
                404 => Err(FetchError::bad(
                    "GET /ready answered 404: is this a Tempo query frontend?",
                )),
                _ => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use orcheo_trace_model::{Timestamp, TraceId};

    use super::*;
    use crate::TimeWindow;

    #[test]
    fn window_is_whole_seconds_with_end_after_start() {
        let request = |start, end| FetchRequest {
            trace_id: TraceId::from_hex("1").unwrap(),
            window: Some(TimeWindow {
                start: Timestamp::from_unix_nanos(start),
                end: Timestamp::from_unix_nanos(end),
            }),
        };
        assert_eq!(
            window_query(&request(1_500_000_000, 2_500_000_000)),
            "?start=1&end=3"
        );
        assert_eq!(
            window_query(&request(1_000_000_000, 1_000_000_000)),
            "?start=1&end=2"
        );
    }
}
