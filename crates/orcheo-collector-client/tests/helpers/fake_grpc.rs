//! A Jaeger query service speaking `jaeger.api_v3.QueryService/GetTrace` over gRPC, streaming
//! canned `TracesData` chunks or failing with a status.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use opentelemetry_proto::tonic::trace::v1::TracesData;
use orcheo_collector_client::backends::jaeger_grpc::{GET_TRACE, GetTraceRequest};
use tokio_stream::Stream;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

type Chunks = Pin<Box<dyn Stream<Item = Result<TracesData, Status>> + Send>>;

#[derive(Clone)]
pub struct FakeJaegerGrpc {
    chunks: Arc<Vec<TracesData>>,
    fail_with: Option<Code>,
    seen: Arc<std::sync::Mutex<Vec<GetTraceRequest>>>,
}

impl tonic::server::NamedService for FakeJaegerGrpc {
    const NAME: &'static str = "jaeger.api_v3.QueryService";
}

impl tower::Service<http::Request<tonic::body::Body>> for FakeJaegerGrpc {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if req.uri().path() != GET_TRACE {
                return Ok(Status::unimplemented("only GetTrace").into_http());
            }
            let handler = tower::service_fn(move |r: tonic::Request<GetTraceRequest>| {
                let this = this.clone();
                async move {
                    this.seen.lock().unwrap().push(r.into_inner());
                    if let Some(code) = this.fail_with {
                        return Err(Status::new(code, "trace not found"));
                    }
                    let chunks: Vec<_> = this.chunks.iter().cloned().map(Ok).collect();
                    let stream: Chunks = Box::pin(tokio_stream::iter(chunks));
                    Ok::<_, Status>(tonic::Response::new(stream))
                }
            });
            Ok(
                tonic::server::Grpc::new(ProstCodec::<TracesData, GetTraceRequest>::default())
                    .server_streaming(handler, req)
                    .await,
            )
        })
    }
}

impl FakeJaegerGrpc {
    /// Serves `chunks` (or fails with `fail_with`) on a fresh loopback port.
    pub async fn start(chunks: Vec<TracesData>, fail_with: Option<Code>) -> (SocketAddr, Self) {
        let fake = Self {
            chunks: Arc::new(chunks),
            fail_with,
            seen: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = fake.clone();
        tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(
            service,
            tokio_stream::wrappers::TcpListenerStream::new(listener),
        ));
        (addr, fake)
    }

    pub fn seen(&self) -> Vec<GetTraceRequest> {
        self.seen.lock().unwrap().clone()
    }
}
