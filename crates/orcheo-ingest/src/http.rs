//! OTLP over HTTP, apart from the web framework that carries it: `POST /v1/traces` with a
//! protobuf (`application/x-protobuf`) or JSON (`application/json`) body, optionally
//! gzip-compressed, answered as the OTLP specification says: an `ExportTraceServiceResponse`
//! (with partial success) in the request's encoding, 400 with a `google.rpc.Status` for a
//! malformed request, 401/403 for a refused credential, 413 for one too large, 415 for another
//! media type, 429/503 with `Retry-After` when the tenant is over its rate or the writer is
//! behind, 408 for a body that does not arrive in time.
//!
//! The server reads the body (within the size limit and the read timeout) and turns an
//! [`Answer`] into its response; everything else is here: [`begin`] checks the credential and
//! the media type before the body is read, [`Export::finish`] inflates, checks what decoding
//! would cost, decodes and submits.

use std::io::Read as _;
use std::time::Duration;

use crate::otlp::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

use crate::credentials::{CredentialError, Writer};
use crate::{BUSY_RETRY_AFTER, Ingest, IngestError, Outcome, wire};

/// `google.rpc.Status`, the body of OTLP/HTTP error answers.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// gRPC status codes, as `google.rpc.Status` carries them.
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// The request's (and so the answer's) encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The `Content-Type` of this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    /// The encoding a `Content-Type` value names (parameters ignored), if it is OTLP's.
    pub fn of_content_type(value: Option<&str>) -> Option<Self> {
        let media = value
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Self::Protobuf),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// What to answer: the server writes it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    pub encoding: Encoding,
    pub body: Vec<u8>,
    /// `Retry-After`, for 429 and 503.
    pub retry_after: Option<Duration>,
    /// Whether to close the connection after the answer. Only accepted exports keep one alive:
    /// a kept-alive connection could otherwise start its next request and then say nothing for
    /// ever.
    pub close: bool,
}

impl Answer {
    /// A `google.rpc.Status` answer, closing the connection.
    pub fn status(encoding: Encoding, status: u16, code: i32, message: String) -> Self {
        let body = RpcStatus { code, message };
        let body = match encoding {
            Encoding::Protobuf => body.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(&body).unwrap_or_default(),
        };
        Self {
            status,
            encoding,
            body,
            retry_after: None,
            close: true,
        }
    }

    /// 404 for any other path of the receiver's port.
    pub fn not_found() -> Self {
        Self::status(
            Encoding::Json,
            404,
            code::INVALID_ARGUMENT,
            "this port receives OTLP traces at POST /v1/traces".to_owned(),
        )
    }

    /// 405 for another method on `/v1/traces`.
    pub fn method_not_allowed() -> Self {
        Self::status(
            Encoding::Json,
            405,
            code::INVALID_ARGUMENT,
            "use POST".to_owned(),
        )
    }
}

/// Why the server could not read a body; counted under `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Over `max_request_bytes`.
    TooLarge,
    /// Not all there within the read timeout.
    Timeout(Duration),
    /// The connection failed.
    Unreadable(String),
}

/// An export whose credential and media type passed, waiting for its body.
#[derive(Debug)]
pub struct Export {
    writer: Writer,
    encoding: Encoding,
}

/// Checks an export's credential and media type, before its body is read.
pub fn begin(
    ingest: &Ingest,
    authorization: Option<&str>,
    content_type: Option<&str>,
) -> Result<Export, Answer> {
    let writer = ingest.writer(authorization).map_err(|e| {
        let (status, code) = match e {
            CredentialError::MissingScope => (403, code::PERMISSION_DENIED),
            _ => (401, code::UNAUTHENTICATED),
        };
        Answer::status(Encoding::Json, status, code, e.to_string())
    })?;
    let Some(encoding) = Encoding::of_content_type(content_type) else {
        ingest.metrics.reject("unsupported_media_type");
        let named = content_type.unwrap_or_default();
        return Err(Answer::status(
            Encoding::Json,
            415,
            code::INVALID_ARGUMENT,
            format!(
                "content type {named:?} is not OTLP; use application/x-protobuf or application/json"
            ),
        ));
    };
    Ok(Export { writer, encoding })
}

impl Export {
    /// The most bytes the server should read: the receiver's request limit.
    pub fn max_body(ingest: &Ingest) -> usize {
        ingest.limits().max_request_bytes
    }

    /// Inflates `body` (as `content_encoding` says), checks what decoding it would cost,
    /// decodes it and submits it; answers as OTLP says.
    pub async fn finish(
        self,
        ingest: &Ingest,
        body: Result<Vec<u8>, BodyError>,
        content_encoding: Option<&str>,
    ) -> Answer {
        let encoding = self.encoding;
        let max = Self::max_body(ingest);
        let body = body
            .map_err(|e| match e {
                BodyError::TooLarge => too_large(max),
                BodyError::Timeout(limit) => Refusal {
                    status: 408,
                    code: code::DEADLINE_EXCEEDED,
                    message: format!("the body did not arrive within {} ms", limit.as_millis()),
                    reason: "timeout",
                },
                BodyError::Unreadable(e) => Refusal {
                    status: 400,
                    code: code::INVALID_ARGUMENT,
                    message: format!("cannot read the body: {e}"),
                    reason: "malformed",
                },
            })
            .and_then(|body| inflate(body, content_encoding, max));
        let body = match body {
            Ok(body) => body,
            Err(refusal) => return refusal.answer(ingest, encoding),
        };
        if let Some(refusal) = refuse_before_decoding(encoding, &body) {
            return refusal.answer(ingest, encoding);
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
                return Refusal {
                    status: 400,
                    code: code::INVALID_ARGUMENT,
                    message,
                    reason: "malformed",
                }
                .answer(ingest, encoding);
            }
        };
        answer(ingest.submit(request, self.writer, "http").await, encoding)
    }
}

/// An export refused before it reached the writer.
struct Refusal {
    status: u16,
    code: i32,
    message: String,
    reason: &'static str,
}

impl Refusal {
    fn answer(self, ingest: &Ingest, encoding: Encoding) -> Answer {
        ingest.metrics.reject(self.reason);
        Answer::status(encoding, self.status, self.code, self.message)
    }
}

fn too_large(max: usize) -> Refusal {
    Refusal {
        status: 413,
        code: code::RESOURCE_EXHAUSTED,
        message: format!("the request is larger than {max} bytes"),
        reason: "too_large",
    }
}

/// The body as sent, inflated when it is gzip-compressed, at most `max` bytes after.
fn inflate(body: Vec<u8>, content_encoding: Option<&str>, max: usize) -> Result<Vec<u8>, Refusal> {
    let encoding = content_encoding.map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body),
        Some("gzip") => {
            let mut inflated = Vec::new();
            // One byte past the limit tells "too large" from "exactly the limit".
            flate2::read::GzDecoder::new(body.as_slice())
                .take(max as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| Refusal {
                    status: 400,
                    code: code::INVALID_ARGUMENT,
                    message: format!("not valid gzip: {e}"),
                    reason: "malformed",
                })?;
            if inflated.len() > max {
                return Err(too_large(max));
            }
            Ok(inflated)
        }
        Some(other) => Err(Refusal {
            status: 415,
            code: code::INVALID_ARGUMENT,
            message: format!("content encoding {other:?} is not supported; use gzip or none"),
            reason: "unsupported_encoding",
        }),
    }
}

/// The refusal of an export that would decode into too much memory, or whose protobuf is
/// malformed, found before decoding it.
fn refuse_before_decoding(encoding: Encoding, body: &[u8]) -> Option<Refusal> {
    let footprint = match encoding {
        Encoding::Protobuf => wire::protobuf_footprint(body),
        Encoding::Json => Ok(wire::json_footprint(body)),
    };
    let refusal = wire::admit(footprint).err()?;
    let reason = refusal.reason();
    Some(match refusal {
        wire::Refusal::Malformed(message) => Refusal {
            status: 400,
            code: code::INVALID_ARGUMENT,
            message,
            reason,
        },
        wire::Refusal::TooLarge(message) => Refusal {
            status: 413,
            code: code::RESOURCE_EXHAUSTED,
            message,
            reason,
        },
    })
}

/// The answer to an export the writer took or refused.
fn answer(result: Result<Outcome, IngestError>, encoding: Encoding) -> Answer {
    match result {
        Ok(outcome) => {
            let response = ExportTraceServiceResponse {
                partial_success: (outcome.rejected > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                    error_message: outcome.message.unwrap_or_default(),
                }),
            };
            let body = match encoding {
                Encoding::Protobuf => response.encode_to_vec(),
                Encoding::Json => serde_json::to_vec(&response).unwrap_or_default(),
            };
            Answer {
                status: 200,
                encoding,
                body,
                retry_after: None,
                close: false,
            }
        }
        Err(e @ IngestError::TooManySpans(_)) => {
            Answer::status(encoding, 413, code::RESOURCE_EXHAUSTED, e.to_string())
        }
        Err(e) => {
            // OTLP/HTTP exporters retry 429 and 503, honouring Retry-After.
            let (status, code) = match e {
                IngestError::RateLimited { .. } => (429, code::RESOURCE_EXHAUSTED),
                _ => (503, code::UNAVAILABLE),
            };
            let retry_after = e.retry_after().unwrap_or(BUSY_RETRY_AFTER);
            Answer {
                retry_after: Some(retry_after),
                ..Answer::status(encoding, status, code, e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Encoding, inflate};

    #[test]
    fn the_media_type_decides_the_encoding_whatever_its_case_and_parameters() {
        assert_eq!(
            Encoding::of_content_type(Some("Application/X-Protobuf")),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::of_content_type(Some("application/protobuf")),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::of_content_type(Some("application/json; charset=utf-8")),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::of_content_type(Some("text/plain")), None);
        assert_eq!(Encoding::of_content_type(None), None);
    }

    #[test]
    fn a_gzip_body_inflates_up_to_the_limit_and_no_further() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[7u8; 100]).unwrap();
        let packed = gz.finish().unwrap();
        assert_eq!(
            inflate(packed.clone(), Some("GZIP"), 100).ok(),
            Some(vec![7u8; 100])
        );
        let refused = inflate(packed, Some("gzip"), 99).err().unwrap();
        assert_eq!((refused.status, refused.reason), (413, "too_large"));
        let refused = inflate(vec![1, 2, 3], Some("gzip"), 99).err().unwrap();
        assert_eq!((refused.status, refused.reason), (400, "malformed"));
        let refused = inflate(vec![1], Some("br"), 99).err().unwrap();
        assert_eq!(
            (refused.status, refused.reason),
            (415, "unsupported_encoding")
        );
        assert_eq!(inflate(vec![1], Some(" identity "), 1).ok(), Some(vec![1]));
    }
}
