//! OTLP over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! The service is written out here rather than taken from the generated server, whose codec
//! decodes whatever fits the size limit: ours first reads what decoding would cost
//! ([`super::wire`]) and refuses an export that would decode into too much memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::otlp::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::{Request, Response, Status};

use super::connections::{
    Connections, GRPC_KEEPALIVE_INTERVAL, GRPC_KEEPALIVE_TIMEOUT, GRPC_MAX_CONNECTION_AGE,
};
use super::credentials::CredentialError;
use super::{BUSY_RETRY_AFTER, Ingest, IngestError, IngestMetrics, wire};

/// The path of the one method.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct GrpcReceiver {
    ingest: Ingest,
}

impl GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let writer = match self.ingest.writer(authorization) {
            Ok(writer) => writer,
            Err(e @ CredentialError::MissingScope) => {
                return Err(Status::permission_denied(e.to_string()));
            }
            Err(e) => return Err(Status::unauthenticated(e.to_string())),
        };
        match self
            .ingest
            .submit(request.into_inner(), writer, "grpc")
            .await
        {
            Ok(outcome) => Ok(Response::new(ExportTraceServiceResponse {
                partial_success: (outcome.rejected > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                    error_message: outcome.message.unwrap_or_default(),
                }),
            })),
            Err(e @ IngestError::TooManySpans(_)) => Err(Status::resource_exhausted(e.to_string())),
            Err(e) => {
                // OTLP exporters retry UNAVAILABLE, honouring the retry delay when given; a
                // tenant over its rate is told the same way, to come back later.
                let retry_after = e.retry_after().unwrap_or(BUSY_RETRY_AFTER);
                let mut status = Status::unavailable(e.to_string());
                if let Ok(value) = format!("{}s", retry_after.as_secs().max(1)).parse() {
                    status.metadata_mut().insert("retry-after", value);
                }
                Err(status)
            }
        }
    }
}

/// tonic refuses a message over the size limit with `OUT_OF_RANGE` and one it cannot decode
/// with `INTERNAL`; OTLP says `RESOURCE_EXHAUSTED` and `INVALID_ARGUMENT` (codes exporters know
/// not to retry unchanged). Either refusal is a trailers-only answer: the code is in the headers.
fn otlp_status_codes<B>(mut response: http::Response<B>) -> http::Response<B> {
    const OUT_OF_RANGE: &str = "11";
    const INTERNAL: &str = "13";
    let headers = response.headers_mut();
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .map(|m| m.replace("%20", " "))
        .unwrap_or_default();
    let code = match headers.get("grpc-status").and_then(|v| v.to_str().ok()) {
        Some(OUT_OF_RANGE) if message.contains("too large") => Some("8"),
        Some(INTERNAL) if message.contains("failed to decode") => Some("3"),
        _ => None,
    };
    if let Some(code) = code {
        headers.insert("grpc-status", http::HeaderValue::from_static(code));
    }
    response
}

/// Protobuf both ways; an export is decoded only once its footprint is known to fit.
#[derive(Debug, Clone)]
struct BoundedCodec {
    metrics: IngestMetrics,
}

impl Codec for BoundedCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = ExportTraceServiceRequest;
    type Encoder = ResponseEncoder;
    type Decoder = Self;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        self.clone()
    }
}

#[derive(Debug, Clone, Copy)]
struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the answer: {e}")))
    }
}

impl Decoder for BoundedCodec {
    type Item = ExportTraceServiceRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        use prost::bytes::Buf as _;
        let bytes = src.copy_to_bytes(src.remaining());
        if let Err(refusal) = wire::admit(wire::protobuf_footprint(&bytes)) {
            self.metrics.reject(refusal.reason());
            return Err(match refusal {
                wire::Refusal::Malformed(message) => Status::invalid_argument(message),
                wire::Refusal::TooLarge(message) => Status::resource_exhausted(message),
            });
        }
        ExportTraceServiceRequest::decode(bytes)
            .map(Some)
            .map_err(|e| {
                self.metrics.reject("malformed");
                Status::invalid_argument(format!(
                    "not an OTLP protobuf ExportTraceServiceRequest: {e}"
                ))
            })
    }
}

/// The `Export` method, for tonic's unary plumbing.
struct ExportMethod(Arc<GrpcReceiver>);

impl tonic::server::UnaryService<ExportTraceServiceRequest> for ExportMethod {
    type Response = ExportTraceServiceResponse;
    type Future =
        Pin<Box<dyn Future<Output = Result<Response<Self::Response>, Status>> + Send + 'static>>;

    fn call(&mut self, request: Request<ExportTraceServiceRequest>) -> Self::Future {
        let receiver = Arc::clone(&self.0);
        Box::pin(async move { receiver.export(request).await })
    }
}

/// `TraceService` as a tower service: `Export`, and `UNIMPLEMENTED` for any other path.
#[derive(Debug, Clone)]
struct TraceServiceEndpoint {
    receiver: Arc<GrpcReceiver>,
    max_request_bytes: usize,
}

impl tonic::server::NamedService for TraceServiceEndpoint {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tower::Service<http::Request<B>> for TraceServiceEndpoint
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let endpoint = self.clone();
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(
                    Status::unimplemented("this port receives OTLP trace exports only").into_http(),
                );
            }
            let codec = BoundedCodec {
                metrics: endpoint.receiver.ingest.metrics.clone(),
            };
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(codec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(endpoint.max_request_bytes), None);
            Ok(grpc.unary(ExportMethod(endpoint.receiver), request).await)
        })
    }
}

/// Serves the receiver on `listener` until `shutdown` resolves, within the connection limits
/// of [`Connections`]. Messages larger than the receiver's request limit, or that would decode
/// into more than [`wire::MAX_DECODED_BYTES`], are refused with `RESOURCE_EXHAUSTED`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    connections: &Connections,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service = TraceServiceEndpoint {
        max_request_bytes: ingest.limits().max_request_bytes,
        receiver: Arc::new(GrpcReceiver { ingest }),
    };
    let service = tower::ServiceBuilder::new()
        .map_response(otlp_status_codes)
        .service(service);
    let limits = connections.limits();
    tonic::transport::Server::builder()
        .timeout(limits.read_timeout)
        .http2_keepalive_interval(Some(GRPC_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(GRPC_KEEPALIVE_TIMEOUT))
        .max_connection_age(GRPC_MAX_CONNECTION_AGE)
        // Calls still running when the age is reached get one call's time to finish.
        .max_connection_age_grace(limits.read_timeout)
        .serve_with_incoming_shutdown(service, connections.incoming(listener), shutdown)
        .await
}
