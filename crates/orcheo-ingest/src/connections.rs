//! The receivers' connections: how many may be open at once, how long a new one may stay silent,
//! and how many are open now (`orcheo_otlp_connections{transport}`).
//!
//! A connection that never sends, or sends a byte now and then, costs the sender nothing and
//! the server a file descriptor; without these bounds enough of them use up the process's
//! descriptors, and the API stops answering too.
//!
//! - OTLP/HTTP uses actix-web's own limits (set in `startup.rs` from [`ReceiverLimits`]): a new
//!   connection's request head must arrive within the header timeout (else 408), an idle
//!   kept-alive connection is closed after the same time, each of the two workers holds at most
//!   half the connections (past that the listener stops accepting until one closes), and the
//!   body has the read timeout (the server's OTLP/HTTP side). [`Connections::http_connection`] keeps the gauge.
//! - OTLP/gRPC: tonic has no connection limit, so [`Connections::incoming`] accepts the
//!   connections itself. A connection past the limit is closed at once, and one that has not
//!   sent the HTTP/2 preface within the header timeout is closed, both counted in
//!   `orcheo_otlp_requests_rejected_total` (`connection_limit`, `timeout`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::IngestMetrics;

/// Worker threads of the OTLP/HTTP receiver.
pub const HTTP_WORKERS: usize = 2;
/// How long a closing OTLP/HTTP connection waits for the client to close its side.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// gRPC: how often an idle connection is pinged, and how long the answer may take; a peer
/// that has gone away without closing is noticed this way.
pub const GRPC_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
pub const GRPC_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// gRPC: a connection is asked to close (exporters reconnect) after this long, so that even a
/// connection that answers pings and sends nothing does not hold its place for ever.
pub const GRPC_MAX_CONNECTION_AGE: Duration = Duration::from_mins(10);
/// Length of the HTTP/2 client connection preface (`PRI * HTTP/2.0…`), which a gRPC client
/// sends first.
const HTTP2_PREFACE_LEN: usize = 24;
/// Pause after a failed `accept` (out of descriptors, say), rather than retrying at once.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Bounds on the receivers' connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverLimits {
    /// Open connections each receiver holds at most.
    pub max_connections: usize,
    /// Time a new connection has to send its first request head (HTTP) or its HTTP/2 preface
    /// (gRPC); also how long an idle kept-alive HTTP connection is kept.
    pub header_timeout: Duration,
    /// Time an HTTP request body has to arrive whole; a gRPC call's time limit.
    pub read_timeout: Duration,
}

impl Default for ReceiverLimits {
    /// 256 connections a receiver (both full use half of the common 1,024-descriptor limit,
    /// leaving the rest to the API and the database), 10 s for the head, 30 s for the body.
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

impl ReceiverLimits {
    /// The connections each OTLP/HTTP worker holds (actix-web counts per worker).
    pub fn per_http_worker(&self) -> usize {
        self.max_connections.div_ceil(HTTP_WORKERS).max(1)
    }
}

/// The receivers' limits and connection metrics.
#[derive(Debug, Clone)]
pub struct Connections {
    limits: ReceiverLimits,
    /// `orcheo_otlp_connections{transport}`
    open: IntGaugeVec,
    /// `orcheo_otlp_requests_rejected_total{reason}`, shared with [`IngestMetrics`].
    rejected: IntCounterVec,
}

impl Connections {
    pub fn register(
        registry: &prometheus::Registry,
        limits: ReceiverLimits,
        ingest: &IngestMetrics,
    ) -> Result<Self, prometheus::Error> {
        let open = IntGaugeVec::new(
            prometheus::Opts::new(
                "orcheo_otlp_connections",
                "Open connections to the OTLP receivers, by transport.",
            ),
            &["transport"],
        )?;
        registry.register(Box::new(open.clone()))?;
        Ok(Self {
            limits,
            open,
            rejected: ingest.rejected.clone(),
        })
    }

    pub fn limits(&self) -> ReceiverLimits {
        self.limits
    }

    /// An OTLP/HTTP connection, counted as open until the value is dropped (the server keeps it
    /// with the connection).
    pub fn http_connection(&self) -> OpenConnection {
        OpenConnection::new(self.open.with_label_values(&["http"]))
    }

    /// The gRPC listener's connections, at most `max_connections` open at once, with
    /// `TCP_NODELAY` set. A response's headers, message and trailers go out as separate writes;
    /// without it Nagle's algorithm holds the last one back until the exporter's delayed ACK
    /// (about 40 ms), which capped an exporter waiting for its answers at a few dozen exports a
    /// second.
    pub fn incoming(
        &self,
        listener: TcpListener,
    ) -> impl Stream<Item = io::Result<GrpcConnection>> + Send + 'static {
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let state = (listener, permits, self.clone());
        futures_util::stream::unfold(state, |(listener, permits, this)| async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "OTLP/gRPC: cannot accept a connection");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    // Dropping it closes it: the exporter sees the connection fail and retries.
                    this.rejected.with_label_values(&["connection_limit"]).inc();
                    tracing::debug!("OTLP/gRPC: connection limit reached, connection closed");
                    continue;
                };
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "OTLP/gRPC: cannot set TCP_NODELAY");
                }
                let connection = GrpcConnection {
                    stream,
                    awaiting: Some((
                        HTTP2_PREFACE_LEN,
                        Box::pin(tokio::time::sleep(this.limits.header_timeout)),
                    )),
                    timed_out: this.rejected.with_label_values(&["timeout"]),
                    _permit: permit,
                    _open: OpenConnection::new(this.open.with_label_values(&["grpc"])),
                };
                return Some((Ok(connection), (listener, permits, this)));
            }
        })
    }
}

/// Counts a connection as open for as long as it lives.
#[derive(Debug)]
pub struct OpenConnection(IntGauge);

impl OpenConnection {
    fn new(gauge: IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// An accepted gRPC connection: holds its place under the limit, and fails its reads once the
/// header timeout has passed without the HTTP/2 preface (the server then closes it).
#[derive(Debug)]
pub struct GrpcConnection {
    stream: TcpStream,
    /// Until the preface has arrived: how many of its bytes are still to come, and by when.
    awaiting: Option<(usize, Pin<Box<tokio::time::Sleep>>)>,
    timed_out: IntCounter,
    _permit: OwnedSemaphorePermit,
    _open: OpenConnection,
}

impl AsyncRead for GrpcConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        let Some((missing, deadline)) = &mut this.awaiting else {
            return read;
        };
        match read {
            Poll::Ready(Ok(())) => {
                let got = buf.filled().len() - before;
                // Nothing read is the end of the stream: nothing more to wait for either.
                if got == 0 || got >= *missing {
                    this.awaiting = None;
                } else {
                    *missing -= got;
                }
                read
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                this.awaiting = None;
                this.timed_out.inc();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface within the header timeout",
                )))
            }
            other => other,
        }
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for GrpcConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn connections(limits: ReceiverLimits) -> Connections {
        let registry = prometheus::Registry::new();
        let ingest = IngestMetrics::register(&registry).unwrap();
        Connections::register(&registry, limits, &ingest).unwrap()
    }

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_acks_to_send() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = Box::pin(connections(ReceiverLimits::default()).incoming(listener));
        let _client = TcpStream::connect(addr).await.unwrap();
        let server_side = incoming.next().await.unwrap().unwrap();
        assert!(server_side.stream.nodelay().unwrap());
    }

    /// Reads stop failing once the preface is in, however it was split.
    #[tokio::test]
    async fn a_preface_in_pieces_lifts_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = connections(ReceiverLimits {
            header_timeout: Duration::from_millis(300),
            ..ReceiverLimits::default()
        });
        let mut incoming = Box::pin(connections.incoming(listener));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut server_side = incoming.next().await.unwrap().unwrap();
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let mut buf = [0u8; 64];
        for piece in [&preface[..10], &preface[10..]] {
            client.write_all(piece).await.unwrap();
            let n = server_side.read(&mut buf).await.unwrap();
            assert_eq!(n, piece.len());
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        client.write_all(b"x").await.unwrap();
        assert_eq!(server_side.read(&mut buf).await.unwrap(), 1);
        assert_eq!(
            connections.rejected.with_label_values(&["timeout"]).get(),
            0
        );
    }
}
