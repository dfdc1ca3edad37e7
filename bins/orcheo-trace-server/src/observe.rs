//! Around every request: a request id (the caller's `x-request-id` if sane, else a new one),
//! a `tracing` span carrying it (handlers add `execution.id` and `trace.id`), the time limit,
//! the HTTP metrics, one log line, and error answers rewritten into the envelope.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use tracing::Instrument as _;

use crate::error::{ApiError, code_for_status, envelope};
use crate::metrics::ServerMetrics;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the middleware needs.
#[derive(Debug, Clone)]
pub struct Observer {
    pub metrics: ServerMetrics,
    pub request_timeout: Duration,
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    // A failed draw leaves zeros: the id is for correlation, not security.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().fold(String::with_capacity(16), |mut id, b| {
        let _ = write!(id, "{b:02x}");
        id
    })
}

fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| value.to_owned())
}

/// The middleware (`from_fn`).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let observer = req.app_data::<web::Data<Observer>>().cloned();
    let request_id = incoming_request_id(&req).unwrap_or_else(new_request_id);
    let method = req.method().clone();
    let span = tracing::info_span!(
        "http.request",
        request.id = %request_id,
        http.method = %method,
        http.route = tracing::field::Empty,
        execution.id = tracing::field::Empty,
        trace.id = tracing::field::Empty,
    );
    let timeout = observer
        .as_ref()
        .map_or(Duration::from_secs(30), |o| o.request_timeout);
    let outcome = tokio::time::timeout(timeout, next.call(req).instrument(span.clone())).await;
    let mut response = match outcome {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(error)) => return Err(error),
        Err(_) => {
            // The request was handed to the handler and is gone with it: the answer is built
            // from an error the server turns into a response.
            let route = "timed_out";
            if let Some(observer) = &observer {
                observer
                    .metrics
                    .http_requests
                    .with_label_values(&[method.as_str(), route, "503"])
                    .inc();
            }
            span.in_scope(|| {
                tracing::warn!(
                    http.status = 503,
                    timeout_ms = timeout.as_millis(),
                    "request timed out"
                );
            });
            return Err(TimedOut {
                request_id,
                after: timeout,
            }
            .into());
        }
    };
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        response = rewrite_error(response, &request_id, &span);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    span.record("http.route", route.as_str());
    let elapsed = started.elapsed();
    if let Some(observer) = observer {
        observer
            .metrics
            .http_requests
            .with_label_values(&[method.as_str(), &route, status.as_str()])
            .inc();
        observer
            .metrics
            .http_duration
            .with_label_values(&[method.as_str(), &route])
            .observe(elapsed.as_secs_f64());
    }
    let duration_ms = elapsed.as_secs_f64() * 1e3;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(http.status = status.as_u16(), duration_ms, "request failed");
        } else {
            tracing::info!(http.status = status.as_u16(), duration_ms, "request");
        }
    });
    Ok(response)
}

/// Puts an error answer into the envelope with the request id, and logs the cause once.
fn rewrite_error(
    response: ServiceResponse<BoxBody>,
    request_id: &str,
    span: &tracing::Span,
) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let rebuilt: Option<HttpResponse> = if let Some(error) = response.response().error() {
        if let Some(api) = error.as_error::<ApiError>() {
            if status.is_server_error() {
                span.in_scope(
                    || tracing::error!(error.code = api.code(), error = %api, "request error"),
                );
            }
            Some(api.to_response(request_id))
        } else {
            let message = error.to_string();
            Some(envelope(
                status,
                code_for_status(status),
                &message,
                request_id,
            ))
        }
    } else {
        // A response built without an error (the default 404 service, a 405 answer).
        let is_json = response
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        (!is_json).then(|| {
            let message = status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase();
            envelope(status, code_for_status(status), &message, request_id)
        })
    };
    match rebuilt {
        Some(mut new) => {
            // Headers that tell the client what to do next survive the rewrite.
            for name in [
                actix_web::http::header::ALLOW,
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::WWW_AUTHENTICATE,
            ] {
                if let Some(value) = response.headers().get(&name)
                    && !new.headers().contains_key(&name)
                {
                    new.headers_mut().insert(name, value.clone());
                }
            }
            let (req, _) = response.into_parts();
            ServiceResponse::new(req, new)
        }
        None => response,
    }
}

/// A request that ran out of time, answered in the envelope.
#[derive(Debug, thiserror::Error)]
#[error("the request took longer than {} ms", after.as_millis())]
struct TimedOut {
    request_id: String,
    after: Duration,
}

impl actix_web::ResponseError for TimedOut {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = envelope(
            self.status_code(),
            "timeout",
            &self.to_string(),
            &self.request_id,
        );
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        response
    }
}
