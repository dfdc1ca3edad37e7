//! Jaeger over HTTP: the query JSON `GET /api/traces/{id}` (v1) or API v3
//! `GET /api/v3/traces/{id}`. Both answer a missing trace with 404. Searches by attribute use
//! the query service's `GET /api/traces?service=…&tags=…` (served beside API v3 too), once per
//! service: the configured ones, or those `GET /api/services` names.

use orcheo_span_tree::Format;
use orcheo_trace_model::{Timestamp, TraceId};

use super::found;
use super::http::{Http, decode};
use crate::config::{BackendKind, ClientConfig};
use crate::search::{encode_component, jaeger_tags, parse_jaeger_search, parse_jaeger_services};
use crate::{
    BoxFuture, ConfigError, FetchError, FetchRequest, FetchedTrace, SearchRequest, TraceSource,
};

/// Most services one search asks about when the store names them (each is one request).
pub const MAX_SEARCHED_SERVICES: usize = 10;

/// The Jaeger HTTP backend, v1 or v3.
#[derive(Debug)]
pub struct JaegerHttp {
    http: Http,
    v3: bool,
    /// Searched by attribute; empty: the services the store names.
    services: Vec<String>,
}

impl JaegerHttp {
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            http: Http::new(config)?,
            v3: config.backend != BackendKind::JaegerV1,
            services: config.search_services.clone(),
        })
    }

    async fn search_traces(&self, request: &SearchRequest) -> Result<Vec<TraceId>, FetchError> {
        let services = if self.services.is_empty() {
            let answer = self.http.get("/api/services", "application/json").await?;
            if answer.status == 404 {
                return Err(FetchError::bad(
                    "GET /api/services answered 404: is this a Jaeger query service?",
                ));
            }
            let mut named = parse_jaeger_services(&answer.body).map_err(FetchError::bad)?;
            named.truncate(MAX_SEARCHED_SERVICES);
            named
        } else {
            self.services.clone()
        };
        let tags = encode_component(&jaeger_tags(&request.key, &request.value));
        let start = request.window.start.unix_nanos() / 1_000;
        let end = request.window.end.unix_nanos().div_ceil(1_000);
        let limit = request.limit.max(1);
        let mut found: Vec<TraceId> = Vec::new();
        for service in &services {
            let path = format!(
                "/api/traces?service={}&tags={tags}&start={start}&end={end}&limit={limit}",
                encode_component(service)
            );
            let answer = self.http.get(&path, "application/json").await?;
            // A service the store does not know (any more) has no traces.
            if answer.status == 404 {
                continue;
            }
            for id in parse_jaeger_search(&answer.body).map_err(FetchError::bad)? {
                if !found.contains(&id) {
                    found.push(id);
                }
            }
            if found.len() >= limit {
                break;
            }
        }
        Ok(found)
    }

    async fn fetch_trace(&self, request: &FetchRequest) -> Result<FetchedTrace, FetchError> {
        let id = request.trace_id;
        let (path, format) = if self.v3 {
            let query = request.window.map_or_else(String::new, |w| {
                format!(
                    "?start_time={}&end_time={}",
                    rfc3339(w.start),
                    rfc3339(w.end)
                )
            });
            (format!("/api/v3/traces/{id}{query}"), Format::JaegerV3)
        } else {
            let query = request.window.map_or_else(String::new, |w| {
                format!(
                    "?start={}&end={}",
                    w.start.unix_nanos() / 1_000,
                    w.end.unix_nanos().div_ceil(1_000)
                )
            });
            (format!("/api/traces/{id}{query}"), Format::JaegerV1)
        };
        let answer = self.http.get(&path, "application/json").await?;
        if answer.status == 404 {
            return Err(FetchError::NotFound);
        }
        found(decode(answer.body, format).await?)
    }
}

/// RFC 3339 for a query string (`:` is allowed there; `+` is not used: times are in UTC, `Z`).
fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

impl TraceSource for JaegerHttp {
    fn name(&self) -> &'static str {
        if self.v3 { "jaeger" } else { "jaeger-v1" }
    }

    fn fetch<'a>(
        &'a self,
        request: &'a FetchRequest,
    ) -> BoxFuture<'a, Result<FetchedTrace, FetchError>> {
        Box::pin(self.fetch_trace(request))
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async move {
            let path = if self.v3 {
                "/api/v3/services"
            } else {
                "/api/services"
            };
            match self.http.get(path, "application/json").await?.status {
                404 => Err(FetchError::bad(format!(
                    "GET {path} answered 404: is this a Jaeger query service?"
                ))),
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
}
