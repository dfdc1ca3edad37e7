//! Jaeger over HTTP: the query JSON `GET /api/traces/{id}` (v1) or API v3
//! `GET /api/v3/traces/{id}`. Both answer a missing trace with 404.

use orcheo_span_tree::Format;
use orcheo_trace_model::Timestamp;

use super::found;
use super::http::{Http, decode};
use crate::config::{BackendKind, ClientConfig};
use crate::{BoxFuture, ConfigError, FetchError, FetchRequest, FetchedTrace, TraceSource};

/// The Jaeger HTTP backend, v1 or v3.
#[derive(Debug)]
pub struct JaegerHttp {
    http: Http,
    v3: bool,
}

impl JaegerHttp {
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            http: Http::new(config)?,
            v3: config.backend != BackendKind::JaegerV1,
        })
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
        found(decode(&answer.body, format)?)
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
}
