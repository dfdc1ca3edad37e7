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

/// Serves the receiver on `listener` until `shutdown` resolves. Messages larger than the
/// receiver's request limit are refused with `RESOURCE_EXHAUSTED` (tonic's own check).
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let max = ingest.limits().max_request_bytes;
    let service = TraceServiceServer::new(GrpcReceiver { ingest })
        .max_decoding_message_size(max)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(
            service,
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}
