//! OTLP over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::{Request, Response, Status};

use super::{BUSY_RETRY_AFTER, Ingest, IngestError};

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct GrpcReceiver {
    ingest: Ingest,
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if !self.ingest.authorized(authorization) {
            self.ingest.metrics.reject("unauthenticated");
            return Err(Status::unauthenticated(
                "this receiver needs `authorization: Bearer <ORCHEO_OTLP_INGEST_TOKEN>`",
            ));
        }
        match self.ingest.submit(request.into_inner(), "grpc").await {
            Ok(outcome) => Ok(Response::new(ExportTraceServiceResponse {
                partial_success: (outcome.rejected > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                    error_message: outcome.message.unwrap_or_default(),
                }),
            })),
            Err(e @ IngestError::TooManySpans(_)) => Err(Status::resource_exhausted(e.to_string())),
            Err(e @ (IngestError::Busy | IngestError::Store(_) | IngestError::Stopped)) => {
                // OTLP exporters retry UNAVAILABLE, honouring the retry delay when given.
                let mut status = Status::unavailable(e.to_string());
                if let Ok(value) = format!("{}s", BUSY_RETRY_AFTER.as_secs()).parse() {
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

/// Serves the receiver on `listener` until `shutdown` resolves. Messages larger than the
/// receiver's request limit are refused with `RESOURCE_EXHAUSTED`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let max = ingest.limits().max_request_bytes;
    let service = TraceServiceServer::new(GrpcReceiver { ingest })
        .max_decoding_message_size(max)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let service = tower::ServiceBuilder::new()
        .map_response(otlp_status_codes)
        .service(service);
    tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(
            service,
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}
