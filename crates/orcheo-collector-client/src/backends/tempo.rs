//! Grafana Tempo: `GET /api/v2/traces/{id}` as protobuf (`TraceByIDResponse`), falling back to
//! v1 `GET /api/traces/{id}` (a bare `Trace`) on stores without v2. v2 answers a missing trace with
//! 200 and an empty trace, v1 with 404; `PARTIAL` (trace over the size limit) is surfaced.
//! Searches by attribute are `GET /api/search` with a query `q` in Tempo's query language, or the
//! older `tags` form on a Tempo that refuses that language.

use std::sync::atomic::{AtomicBool, Ordering};

use orcheo_span_tree::Format;

use super::found;
use super::http::{Http, decode};
use crate::config::ClientConfig;
use crate::search::{
    encode_component, parse_tempo_search, tempo_tags, traceql_equals, traceql_text,
};
use crate::{
    BoxFuture, ConfigError, FetchError, FetchRequest, FetchedTrace, SearchRequest,
    TextSearchRequest, TimeWindow, TraceSource,
};
use orcheo_trace_model::TraceId;

const PROTOBUF: &str = "application/protobuf";

/// The Tempo backend.
#[derive(Debug)]
pub struct Tempo {
    http: Http,
    /// Set once the store has shown it has no v2 API, so later fetches go straight to v1.
    v1_only: AtomicBool,
    /// Set once the store has refused a `q` query and answered the `tags` form instead.
    tags_only: AtomicBool,
}

impl Tempo {
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            http: Http::new(config)?,
            v1_only: AtomicBool::new(false),
            tags_only: AtomicBool::new(false),
        })
    }

    async fn search_traces(&self, request: &SearchRequest) -> Result<Vec<TraceId>, FetchError> {
        let (start, end) = seconds(request.window);
        let bounds = format!("&start={start}&end={end}&limit={}", request.limit.max(1));
        if !self.tags_only.load(Ordering::Relaxed) {
            let q = encode_component(&traceql_equals(&request.key, &request.value));
            match self
                .http
                .get(&format!("/api/search?q={q}{bounds}"), "application/json")
                .await
            {
                Ok(answer) if answer.status == 404 => return Err(no_search()),
                Ok(answer) => return parse_tempo_search(&answer.body).map_err(FetchError::bad),
                // A Tempo from before TraceQL refuses `q` (400): it knows the `tags` form.
                Err(FetchError::BadResponse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let tags = encode_component(&tempo_tags(&request.key, &request.value));
        let answer = self
            .http
            .get(
                &format!("/api/search?tags={tags}{bounds}"),
                "application/json",
            )
            .await?;
        if answer.status == 404 {
            return Err(no_search());
        }
        let found = parse_tempo_search(&answer.body).map_err(FetchError::bad)?;
        self.tags_only.store(true, Ordering::Relaxed);
        Ok(found)
    }

    async fn search_text(&self, request: &TextSearchRequest) -> Result<Vec<TraceId>, FetchError> {
        let Some(query) = traceql_text(&request.words) else {
            return Ok(Vec::new());
        };
        let (start, end) = seconds(request.window);
        let q = encode_component(&query);
        let answer = self
            .http
            .get(
                &format!(
                    "/api/search?q={q}&start={start}&end={end}&limit={}",
                    request.limit.max(1)
                ),
                "application/json",
            )
            .await?;
        if answer.status == 404 {
            return Err(no_search());
        }
        parse_tempo_search(&answer.body).map_err(FetchError::bad)
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
                return found(
                    decode_answer(answer.body, &answer.content_type, Format::TempoProto).await?,
                );
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
        found(decode_answer(answer.body, &answer.content_type, Format::OtlpProto).await?)
    }
}

/// Tempo's `start`/`end` hints: whole unix seconds, `end` strictly after `start`.
fn window_query(request: &FetchRequest) -> String {
    match request.window {
        Some(w) => {
            let (start, end) = seconds(w);
            format!("?start={start}&end={end}")
        }
        None => String::new(),
    }
}

/// A window in whole unix seconds, widened outwards, `end` strictly after `start`.
fn seconds(w: TimeWindow) -> (u64, u64) {
    let start = w.start.unix_nanos() / 1_000_000_000;
    let end = w.end.unix_nanos().div_ceil(1_000_000_000).max(start + 1);
    (start, end)
}

fn no_search() -> FetchError {
    FetchError::bad("GET /api/search answered 404: this Tempo has no search API")
}

/// Reads an answer as protobuf unless the store (or a proxy) sent JSON anyway; an empty body is
/// an empty trace (protobuf omits every default field).
async fn decode_answer(
    body: Vec<u8>,
    content_type: &str,
    proto: Format,
) -> Result<orcheo_span_tree::Decoded, FetchError> {
    if body.is_empty() {
        return Ok(orcheo_span_tree::Decoded::default());
    }
    if content_type.contains("json") {
        decode(body, Format::Tempo).await
    } else {
        decode(body, proto).await
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

    fn can_search(&self) -> bool {
        true
    }

    fn search<'a>(
        &'a self,
        request: &'a SearchRequest,
    ) -> BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
        Box::pin(self.search_traces(request))
    }

    fn can_search_text(&self) -> bool {
        true
    }

    fn search_text<'a>(
        &'a self,
        request: &'a TextSearchRequest,
    ) -> BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
        Box::pin(Tempo::search_text(self, request))
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
