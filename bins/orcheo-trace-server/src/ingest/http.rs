//! OTLP over HTTP: `POST /v1/traces`, protobuf (`application/x-protobuf`) or JSON
//! (`application/json`), optionally gzip-compressed, answered as the OTLP specification says: an
//! `ExportTraceServiceResponse` (with partial success) in the request's encoding, 400 with a
//! `Status` for a malformed request, 413 for one too large, 415 for another media type, 503 with
//! `Retry-After` when the writer is behind, 408 for a body that does not arrive within the read
//! timeout. An error answer closes the connection: only accepted exports keep one alive.

use std::io::Read as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

use super::connections::ReceiverLimits;
use super::credentials::CredentialError;
use super::{BUSY_RETRY_AFTER, Ingest, IngestError};

/// `google.rpc.Status`, the body of OTLP/HTTP error answers.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

fn answer_status(
    encoding: Encoding,
    status: StatusCode,
    grpc_code: i32,
    message: String,
) -> HttpResponse {
    let body = RpcStatus {
        code: grpc_code,
        message,
    };
    let bytes = match encoding {
        Encoding::Protobuf => body.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&body).unwrap_or_default(),
    };
    // actix-web times only a connection's first request head: a kept-alive connection could
    // start its next request and then say nothing for ever. Closing after a refusal leaves that
    // to exporters that get their exports accepted (with a token, when one is set).
    HttpResponse::build(status)
        .content_type(encoding.content_type())
        .force_close()
        .body(bytes)
}

const INVALID_ARGUMENT: i32 = 3;
const DEADLINE_EXCEEDED: i32 = 4;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;
const PERMISSION_DENIED: i32 = 7;
const UNAUTHENTICATED: i32 = 16;

/// Reads the body, at most `max` bytes before and after decompression.
async fn read_body(
    req: &HttpRequest,
    payload: &mut web::Payload,
    max: usize,
) -> Result<Vec<u8>, (StatusCode, i32, String, &'static str)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            RESOURCE_EXHAUSTED,
            format!("the request is larger than {max} bytes"),
            "too_large",
        )
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                format!("cannot read the body: {e}"),
                "malformed",
            )
        })?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body),
        Some("gzip") => {
            let mut inflated = Vec::new();
            // One byte past the limit tells "too large" from "exactly the limit".
            flate2::read::GzDecoder::new(body.as_slice())
                .take(max as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| {
                    (
                        StatusCode::BAD_REQUEST,
                        INVALID_ARGUMENT,
                        format!("not valid gzip: {e}"),
                        "malformed",
                    )
                })?;
            if inflated.len() > max {
                return Err(too_large());
            }
            Ok(inflated)
        }
        Some(other) => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            INVALID_ARGUMENT,
            format!("content encoding {other:?} is not supported; use gzip or none"),
            "unsupported_encoding",
        )),
    }
}

/// The body, as [`read_body`] reads it, all of it within `limit`: one dripped a byte at a
/// time would otherwise hold its connection for as long as the sender likes.
async fn read_body_within(
    req: &HttpRequest,
    payload: &mut web::Payload,
    ingest: &Ingest,
    limits: &ReceiverLimits,
) -> Result<Vec<u8>, (StatusCode, i32, String, &'static str)> {
    let (max, limit) = (ingest.limits().max_request_bytes, limits.read_timeout);
    actix_web::rt::time::timeout(limit, read_body(req, payload, max))
        .await
        .unwrap_or_else(|_| {
            Err((
                StatusCode::REQUEST_TIMEOUT,
                DEADLINE_EXCEEDED,
                format!("the body did not arrive within {} ms", limit.as_millis()),
                "timeout",
            ))
        })
}

/// `answer` holding the request's body until its own is sent. actix-web reads a dropped chunked
/// request body to its end before it closes the connection, however slowly that body comes; one
/// still held when the answer is written is not waited for (the connection is closed, after
/// `client_disconnect_timeout` at most).
fn keeping_body(answer: HttpResponse, payload: web::Payload) -> HttpResponse {
    answer
        .map_body(|_, body| KeepingBody {
            body,
            _payload: payload,
        })
        .map_into_boxed_body()
}

/// An answer's body and the request body it holds.
struct KeepingBody {
    body: BoxBody,
    _payload: web::Payload,
}

impl MessageBody for KeepingBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// `POST /v1/traces`: [`export`], holding the request body until the answer is sent.
async fn receive(
    req: HttpRequest,
    mut payload: web::Payload,
    ingest: web::Data<Ingest>,
    limits: web::Data<ReceiverLimits>,
) -> HttpResponse {
    let answer = export(&req, &mut payload, &ingest, &limits).await;
    keeping_body(answer, payload)
}

/// Answers one export.
pub async fn export(
    req: &HttpRequest,
    payload: &mut web::Payload,
    ingest: &Ingest,
    limits: &ReceiverLimits,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let writer = match ingest.writer(authorization) {
        Ok(writer) => writer,
        Err(e) => {
            let (status, code) = match e {
                CredentialError::MissingScope => (StatusCode::FORBIDDEN, PERMISSION_DENIED),
                _ => (StatusCode::UNAUTHORIZED, UNAUTHENTICATED),
            };
            return answer_status(Encoding::Json, status, code, e.to_string());
        }
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let encoding = match content_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            ingest.metrics.reject("unsupported_media_type");
            return answer_status(
                Encoding::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                INVALID_ARGUMENT,
                format!(
                    "content type {other:?} is not OTLP; use application/x-protobuf or application/json"
                ),
            );
        }
    };
    let body = match read_body_within(req, payload, ingest, limits).await {
        Ok(body) => body,
        Err((status, code, message, reason)) => {
            ingest.metrics.reject(reason);
            return answer_status(encoding, status, code, message);
        }
    };
    if let Some(refusal) = refuse_before_decoding(encoding, &body, ingest) {
        return refusal;
    }
    let request = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body.as_slice())
            .map_err(|e| format!("not an OTLP protobuf ExportTraceServiceRequest: {e}")),
        Encoding::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&body)
            .map_err(|e| format!("not an OTLP/JSON ExportTraceServiceRequest: {e}")),
    };
    let request = match request {
        Ok(request) => request,
        Err(message) => {
            ingest.metrics.reject("malformed");
            return answer_status(encoding, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, message);
        }
    };
    answer(ingest.submit(request, writer, "http").await, encoding)
}

/// The answer to an export the writer took or refused.
fn answer(result: Result<super::Outcome, IngestError>, encoding: Encoding) -> HttpResponse {
    match result {
        Ok(outcome) => {
            let response = ExportTraceServiceResponse {
                partial_success: (outcome.rejected > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                    error_message: outcome.message.unwrap_or_default(),
                }),
            };
            let bytes = match encoding {
                Encoding::Protobuf => response.encode_to_vec(),
                Encoding::Json => serde_json::to_vec(&response).unwrap_or_default(),
            };
            HttpResponse::Ok()
                .content_type(encoding.content_type())
                .body(bytes)
        }
        Err(e @ IngestError::TooManySpans(_)) => answer_status(
            encoding,
            StatusCode::PAYLOAD_TOO_LARGE,
            RESOURCE_EXHAUSTED,
            e.to_string(),
        ),
        Err(e) => {
            // OTLP/HTTP exporters retry 429 and 503, honouring Retry-After.
            let (status, code) = match e {
                IngestError::RateLimited { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, RESOURCE_EXHAUSTED)
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            };
            let retry_after = e.retry_after().unwrap_or(BUSY_RETRY_AFTER);
            let mut response = answer_status(encoding, status, code, e.to_string());
            if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// The answer to an export that would decode into too much memory, or whose protobuf is
/// malformed, found before decoding it.
fn refuse_before_decoding(
    encoding: Encoding,
    body: &[u8],
    ingest: &Ingest,
) -> Option<HttpResponse> {
    let footprint = match encoding {
        Encoding::Protobuf => super::wire::protobuf_footprint(body),
        Encoding::Json => Ok(super::wire::json_footprint(body)),
    };
    let refusal = super::wire::admit(footprint).err()?;
    ingest.metrics.reject(refusal.reason());
    Some(match refusal {
        super::wire::Refusal::Malformed(message) => {
            answer_status(encoding, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, message)
        }
        super::wire::Refusal::TooLarge(message) => answer_status(
            encoding,
            StatusCode::PAYLOAD_TOO_LARGE,
            RESOURCE_EXHAUSTED,
            message,
        ),
    })
}

/// The OTLP/HTTP app: one route, and 404/405 in the same `Status` shape for anything else.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/traces")
            .route(web::post().to(receive))
            .default_service(web::to(|payload: web::Payload| async {
                let answer = answer_status(
                    Encoding::Json,
                    StatusCode::METHOD_NOT_ALLOWED,
                    INVALID_ARGUMENT,
                    "use POST".to_owned(),
                );
                keeping_body(answer, payload)
            })),
    )
    .default_service(web::to(|payload: web::Payload| async {
        let answer = answer_status(
            Encoding::Json,
            StatusCode::NOT_FOUND,
            INVALID_ARGUMENT,
            "this port receives OTLP traces at POST /v1/traces".to_owned(),
        );
        keeping_body(answer, payload)
    }));
}
