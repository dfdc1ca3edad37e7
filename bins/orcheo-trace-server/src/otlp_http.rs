//! The OTLP/HTTP receiver's actix-web side: reads a request's body within the size limit and the
//! read timeout, and writes the ingest crate's [`Answer`]. What the answer says is decided by
//! `orcheo_ingest::http`.
//!
//! An error answer closes the connection: only accepted exports keep one alive.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use orcheo_ingest::Ingest;
use orcheo_ingest::connections::ReceiverLimits;
use orcheo_ingest::http::{Answer, BodyError, Export};

/// Reads the body as sent, at most `max` bytes.
async fn read_body(payload: &mut web::Payload, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body, all of it within the read timeout: one dripped a byte at a time would otherwise
/// hold its connection for as long as the sender likes.
async fn read_body_within(
    payload: &mut web::Payload,
    max: usize,
    limits: &ReceiverLimits,
) -> Result<Vec<u8>, BodyError> {
    actix_web::rt::time::timeout(limits.read_timeout, read_body(payload, max))
        .await
        .unwrap_or(Err(BodyError::Timeout(limits.read_timeout)))
}

fn header<'r>(req: &'r HttpRequest, name: &header::HeaderName) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Answers one export.
async fn export(
    req: &HttpRequest,
    payload: &mut web::Payload,
    ingest: &Ingest,
    limits: &ReceiverLimits,
) -> HttpResponse {
    let export = match orcheo_ingest::http::begin(
        ingest,
        header(req, &header::AUTHORIZATION),
        header(req, &header::CONTENT_TYPE),
    ) {
        Ok(export) => export,
        Err(answer) => return respond(answer),
    };
    let body = read_body_within(payload, Export::max_body(ingest), limits).await;
    respond(
        export
            .finish(ingest, body, header(req, &header::CONTENT_ENCODING))
            .await,
    )
}

fn respond(answer: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.content_type(answer.encoding.content_type());
    if answer.close {
        // actix-web times only a connection's first request head: a kept-alive connection could
        // start its next request and then say nothing for ever.
        response.force_close();
    }
    if let Some(retry_after) = answer.retry_after
        && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        response.insert_header((header::RETRY_AFTER, value));
    }
    response.body(answer.body)
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

/// The OTLP/HTTP app: one route, and 404/405 in the same `Status` shape for anything else.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/traces")
            .route(web::post().to(receive))
            .default_service(web::to(|payload: web::Payload| async {
                keeping_body(respond(Answer::method_not_allowed()), payload)
            })),
    )
    .default_service(web::to(|payload: web::Payload| async {
        keeping_body(respond(Answer::not_found()), payload)
    }));
}
