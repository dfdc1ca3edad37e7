//! Jaeger API v3 over gRPC: `jaeger.api_v3.QueryService/GetTrace` streams OTLP `TracesData`
//! chunks, merged here; a missing trace is `NOT_FOUND`. The two messages we send are declared
//! by hand (no `protoc`); the chunks are taken as bytes and read by the span tree's protobuf
//! decoder, as a Tempo answer is, with no generated OTLP types in between.

use std::marker::PhantomData;
use std::time::Duration;

use http::uri::PathAndQuery;
use orcheo_span_tree::Format;
use prost::bytes::{Buf as _, Bytes};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::ClientConfig;
use crate::error::UnavailableReason;
use crate::{BoxFuture, ConfigError, FetchError, FetchRequest, FetchedTrace, TraceSource};

/// `/jaeger.api_v3.QueryService/GetTrace`
pub const GET_TRACE: &str = "/jaeger.api_v3.QueryService/GetTrace";
/// `/jaeger.api_v3.QueryService/GetServices`
pub const GET_SERVICES: &str = "/jaeger.api_v3.QueryService/GetServices";

/// `google.protobuf.Timestamp`
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ProtoTimestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `jaeger.api_v3.GetTraceRequest`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct GetTraceRequest {
    /// Hex.
    #[prost(string, tag = "1")]
    pub trace_id: String,
    #[prost(message, optional, tag = "2")]
    pub start_time: Option<ProtoTimestamp>,
    #[prost(message, optional, tag = "3")]
    pub end_time: Option<ProtoTimestamp>,
    #[prost(bool, tag = "4")]
    pub raw_traces: bool,
}

/// `jaeger.api_v3.GetServicesRequest` (no fields).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct GetServicesRequest {}

/// `jaeger.api_v3.GetServicesResponse`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct GetServicesResponse {
    #[prost(string, repeated, tag = "1")]
    pub services: Vec<String>,
}

/// Sends a `prost` message and takes each answer as the bytes it came in.
#[derive(Debug)]
struct AnswersAsBytes<T>(PhantomData<T>);

impl<T> Default for AnswersAsBytes<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T: prost::Message + Send + 'static> Codec for AnswersAsBytes<T> {
    type Encode = T;
    type Decode = Bytes;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = AsReceived;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        AsReceived
    }
}

/// A message's bytes, as received.
#[derive(Debug, Clone, Copy)]
struct AsReceived;

impl Decoder for AsReceived {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

/// The Jaeger gRPC backend.
#[derive(Debug)]
pub struct JaegerGrpc {
    channel: Channel,
    headers: Vec<(
        MetadataKey<tonic::metadata::Ascii>,
        MetadataValue<tonic::metadata::Ascii>,
    )>,
    attempt_timeout: Duration,
    max_message_bytes: usize,
}

impl JaegerGrpc {
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        config.validate()?;

        super::install_crypto_provider();
        let mut endpoint = Endpoint::from_shared(config.base_url.clone())
            .map_err(|_| ConfigError::BadUrl(config.base_url.clone()))?
            .connect_timeout(config.attempt_timeout.min(Duration::from_secs(5)));
        if config.base_url.starts_with("https://") {
            if config.tls.insecure_skip_verify {
                return Err(ConfigError::Client(
                    "jaeger-grpc cannot skip certificate checks; give the store's CA file instead"
                        .into(),
                ));
            }
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(path) = &config.tls.ca_file {
                let pem = std::fs::read(path).map_err(|e| ConfigError::CaFile {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| ConfigError::Client(e.to_string()))?;
        }
        let headers = config
            .headers
            .iter()
            .map(|(name, value)| {
                let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| ConfigError::BadHeader(name.clone()))?;
                let value = MetadataValue::try_from(value.expose_secret().as_str())
                    .map_err(|_| ConfigError::BadHeader(name.clone()))?;
                Ok((key, value))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self {
            channel: endpoint.connect_lazy(),
            headers,
            attempt_timeout: config.attempt_timeout,
            max_message_bytes: config.max_body_bytes,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.attempt_timeout);
        for (key, value) in &self.headers {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        request
    }

    fn client(&self) -> tonic::client::Grpc<Channel> {
        tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(self.max_message_bytes)
    }

    async fn fetch_trace(&self, request: &FetchRequest) -> Result<FetchedTrace, FetchError> {
        let timestamp = |t: orcheo_trace_model::Timestamp| ProtoTimestamp {
            seconds: i64::try_from(t.unix_nanos() / 1_000_000_000).unwrap_or(i64::MAX),
            nanos: (t.unix_nanos() % 1_000_000_000) as i32,
        };
        let message = GetTraceRequest {
            trace_id: request.trace_id.to_string(),
            start_time: request.window.map(|w| timestamp(w.start)),
            end_time: request.window.map(|w| timestamp(w.end)),
            raw_traces: false,
        };
        let mut client = self.client();
        client
            .ready()
            .await
            .map_err(|e| FetchError::unavailable(UnavailableReason::Connect, e.to_string()))?;
        let response = client
            .server_streaming(
                self.request(message),
                PathAndQuery::from_static(GET_TRACE),
                AnswersAsBytes::<GetTraceRequest>::default(),
            )
            .await
            .map_err(|status| status_error(&status))?;
        let mut stream = response.into_inner();
        // Chunks of one `TracesData` each: their bytes one after the other are one `TracesData`
        // holding every chunk's resource blocks, which protobuf defines as their merge.
        let mut payload = Vec::new();
        // The deadline above ends at the response headers; the stream is bounded by the caller's
        // attempt timeout, and each chunk's size here.
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|status| status_error(&status))?
        {
            payload.extend_from_slice(&chunk);
        }
        if payload.is_empty() {
            return Err(FetchError::NotFound);
        }
        super::found(super::http::decode(payload, Format::OtlpProto).await?)
    }
}

fn status_error(status: &tonic::Status) -> FetchError {
    let detail = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::NotFound => FetchError::NotFound,
        Code::Unavailable | Code::Aborted => {
            FetchError::unavailable(UnavailableReason::Connect, detail)
        }
        Code::DeadlineExceeded | Code::Cancelled => {
            FetchError::unavailable(UnavailableReason::Timeout, detail)
        }
        Code::Internal | Code::Unknown => {
            FetchError::unavailable(UnavailableReason::ServerError, detail)
        }
        Code::Unauthenticated => FetchError::Unauthorized { status: 401 },
        Code::PermissionDenied => FetchError::Unauthorized { status: 403 },
        Code::ResourceExhausted if status.message().contains("message length too large") => {
            FetchError::bad(format!(
                "the answer is larger than the size limit ({detail})"
            ))
        }
        Code::ResourceExhausted => FetchError::Unavailable {
            reason: UnavailableReason::RateLimited,
            retry_after: None,
            detail,
        },
        _ => FetchError::bad(detail),
    }
}

impl TraceSource for JaegerGrpc {
    fn name(&self) -> &'static str {
        "jaeger-grpc"
    }

    fn fetch<'a>(
        &'a self,
        request: &'a FetchRequest,
    ) -> BoxFuture<'a, Result<FetchedTrace, FetchError>> {
        Box::pin(self.fetch_trace(request))
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async move {
            let mut client = self.client();
            client
                .ready()
                .await
                .map_err(|e| FetchError::unavailable(UnavailableReason::Connect, e.to_string()))?;
            let codec =
                tonic_prost::ProstCodec::<GetServicesRequest, GetServicesResponse>::default();
            client
                .unary(
                    self.request(GetServicesRequest {}),
                    PathAndQuery::from_static(GET_SERVICES),
                    codec,
                )
                .await
                .map(drop)
                .map_err(|status| status_error(&status))
        })
    }
}
