//! Building the application from its configuration: open and migrate the database, connect the
//! trace source, register the metrics, bind, and run — with retention running beside it.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use orcheo_collector_client::TraceSource;
use orcheo_trace_store::{PoolConfig, Store, redact_password};

use crate::auth::Authenticator;
use crate::config::{ServerConfig, TraceBackend};
use crate::live::LiveHub;
use crate::metrics::ServerMetrics;
use crate::observe::{Observer, observe};
use crate::routes::{self, AppState};
use crate::telemetry::OwnTelemetry;
use orcheo_ingest::connections::{self, Connections};
use orcheo_ingest::credentials::IngestAuth;
use orcheo_ingest::health::WriterHealth;
use orcheo_ingest::{Ingest, IngestMetrics};
use orcheo_trace_service::TraceService;
use orcheo_trace_service::embedded::EmbeddedSource;

/// How often expired data is deleted.
const RETENTION_INTERVAL: Duration = Duration::from_hours(1);
/// Largest request body accepted (the API reads no bodies; this bounds what is buffered).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A built, bound application, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    retention: Option<Duration>,
    otlp_http: Option<(u16, Server)>,
    otlp_grpc: Option<(TcpListener, Ingest, Connections)>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the database (migrating it), connects the trace source and binds the address
    /// (port 0 picks a free port: see [`Application::port`]).
    pub async fn build(config: ServerConfig) -> anyhow::Result<Self> {
        Self::build_with_exporter(config, None).await
    }

    /// As [`Application::build`], reporting on the exporter of the server's own spans (its
    /// name and counters) in `/readyz` and `/metrics`.
    pub async fn build_with_exporter(
        config: ServerConfig,
        exporter: Option<OwnTelemetry>,
    ) -> anyhow::Result<Self> {
        let store = open_store(config.database_url.expose_secret().clone()).await?;
        let metrics = ServerMetrics::new().context("cannot register the metrics")?;
        let hub = LiveHub::new(config.live, store.clone(), &metrics.registry)
            .context("cannot register the live-update metrics")?;
        if let Some(own) = exporter.as_ref().and_then(|o| o.metrics.as_ref()) {
            own.register(&metrics.registry)
                .context("cannot register the instrumentation's metrics")?;
        }
        let traces = trace_service(&config, store.clone(), metrics.fetch.clone())?;
        let authenticator = web::Data::new(authenticator(&config)?);
        if let Some(jwks) = authenticator.jwks() {
            // An unreachable identity provider does not stop the server: the failure is logged,
            // /readyz reports it, and the keys are fetched again when tokens need them.
            jwks.refresh(false).await;
        }
        // Before the state: readiness reports on the span writer they start.
        // The cache forgets a trace before its live subscribers are told to fetch it again.
        let watchers = orcheo_ingest::Watchers::new()
            .with(Arc::new(traces.invalidator()))
            .with(Arc::clone(&hub) as Arc<dyn orcheo_trace_model::SpanWatcher>);
        let ingest_auth = IngestAuth::new(
            config
                .otlp_ingest_token
                .as_ref()
                .map(|token| token.expose_secret().as_str()),
            Some(authenticator.clone().into_inner()
                as Arc<dyn orcheo_ingest::credentials::ApiTokens>),
        );
        let (otlp_http, otlp_grpc, writer_health) = receivers(
            &config,
            &store,
            &metrics,
            ingest_auth,
            watchers,
            traces.redactor(),
        )?;
        let links = link_signer(&config)?;
        let state = web::Data::new(AppState {
            traces: traces.with_store_search(config.search_lookback),
            links,
            dashboards: config.dashboards.clone(),
            page_max_spans: config.page_max_spans,
            artifact_dir: config.artifact_dir.clone(),
            metrics: metrics.clone(),
            backend: config.backend.name(),
            exporter,
            writer_health,
        });
        let observer = web::Data::new(Observer {
            metrics,
            request_timeout: config.request_timeout,
        });
        let hub_data = web::Data::new(Arc::clone(&hub));
        let cors = web::Data::new(config.cors.clone());
        let listener = TcpListener::bind(config.http_addr)
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(authenticator.clone())
                .app_data(observer.clone())
                .app_data(hub_data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .app_data(cors.clone())
                .wrap(from_fn(observe))
                // Outermost: every answer, errors and time-outs included, gets the CORS headers.
                .wrap(from_fn(crate::cors::cors))
                .configure(routes::configure)
        })
        .on_connect(crate::live::on_connect)
        .client_request_timeout(Duration::from_secs(10))
        .shutdown_timeout(10);
        if config.workers > 0 {
            server = server.workers(config.workers);
        }
        let server = server.listen(listener)?.run();
        tracing::info!(
            http.addr = %config.http_addr,
            http.port = port,
            trace.backend = config.backend.name(),
            database = %redact_password(config.database_url.expose_secret()),
            "serving"
        );
        Ok(Self {
            port,
            server,
            store,
            retention: config.retention,
            otlp_http,
            otlp_grpc,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OTLP/HTTP receiver's port, when it runs.
    pub fn otlp_http_port(&self) -> Option<u16> {
        self.otlp_http.as_ref().map(|(port, _)| *port)
    }

    /// The OTLP/gRPC receiver's port, when it runs.
    pub fn otlp_grpc_port(&self) -> Option<u16> {
        self.otlp_grpc
            .as_ref()
            .and_then(|(listener, ..)| listener.local_addr().ok())
            .map(|a| a.port())
    }

    /// Serves until the server is stopped (SIGINT / SIGTERM); the receivers stop with it.
    pub async fn run(self) -> std::io::Result<()> {
        if let Some(retention) = self.retention {
            let store = self.store.clone();
            tokio::spawn(prune_forever(store, retention));
        }
        let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some((listener, ingest, connections)) = self.otlp_grpc {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tokio::spawn(async move {
                let shutdown = async {
                    let _ = grpc_stopped.await;
                };
                if let Err(e) =
                    orcheo_ingest::grpc::serve(listener, ingest, &connections, shutdown).await
                {
                    tracing::error!(error = %e, "the OTLP/gRPC receiver stopped");
                }
            });
        }
        let result = match self.otlp_http {
            Some((_, otlp)) => {
                let (api, otlp) = futures_util::future::join(self.server, otlp).await;
                api.and(otlp)
            }
            None => self.server.await,
        };
        let _ = stop_grpc.send(());
        result
    }
}

/// The API's authenticator; without any way of authenticating, a loud warning.
fn authenticator(config: &ServerConfig) -> anyhow::Result<Authenticator> {
    let authenticator =
        Authenticator::new(&config.auth).map_err(|e| anyhow::anyhow!("authentication: {e}"))?;
    if !authenticator.is_enabled() {
        tracing::warn!(
            http.addr = %config.http_addr,
            "NO AUTHENTICATION CONFIGURED: every caller reads every trace, and any local process \
             may export spans. Set ORCHEO_AUTH_JWT_SECRET, ORCHEO_AUTH_JWT_PUBLIC_KEY_FILE, \
             ORCHEO_AUTH_JWKS_URL, ORCHEO_AUTH_JWKS_FILE or ORCHEO_AUTH_TOKENS_FILE before exposing this server."
        );
    }
    Ok(authenticator)
}

/// The trace service `config` describes: traces from its backend, redacted with its patterns,
/// priced with its price table.
pub fn trace_service(
    config: &ServerConfig,
    store: Store,
    fetch_metrics: orcheo_collector_client::FetchMetrics,
) -> anyhow::Result<TraceService> {
    let source: Arc<dyn TraceSource> = match &config.backend {
        TraceBackend::Embedded => Arc::new(EmbeddedSource::new(store.clone())),
        TraceBackend::Remote(client) => {
            orcheo_collector_client::backends::connect(client, fetch_metrics)
                .context("cannot set up the trace backend client")?
        }
    };
    let redactor = config
        .redaction
        .as_deref()
        .map(orcheo_span_tree::redact::Redactor::new)
        .transpose()
        .context("redaction patterns")?;
    Ok(
        TraceService::new(store, source, config.trace_cache(), redactor)
            .with_prices(config.prices.clone()),
    )
}

/// Opens the database and migrates it, off the async workers.
pub async fn open_store(url: String) -> anyhow::Result<Store> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<Store> {
        let store = Store::open(&url, PoolConfig::default())
            .with_context(|| format!("cannot open the database {}", redact_password(&url)))?;
        let applied = store.migrate()?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }
        Ok(store)
    })
    .await
    .context("database set-up task failed")?
}

/// The signer of artifact download links; without a configured key, one drawn now.
fn link_signer(config: &ServerConfig) -> anyhow::Result<crate::artifact_links::LinkSigner> {
    let links = crate::artifact_links::LinkSigner::new(
        config
            .artifact_link_key
            .as_ref()
            .map(|key| key.expose_secret().as_slice()),
        config.artifact_link_ttl,
    )
    .map_err(|e| anyhow::anyhow!("ORCHEO_ARTIFACT_LINK_KEY: {e}"))?;
    if links.key_is_generated() {
        tracing::info!(
            "ORCHEO_ARTIFACT_LINK_KEY is not set: artifact download links are signed with a key \
             drawn at start, so they stop working at a restart and on other replicas"
        );
    }
    Ok(links)
}

/// The OTLP/HTTP server and its port, the OTLP/gRPC listener with the writer's handle, and the
/// writer's health.
type Receivers = (
    Option<(u16, Server)>,
    Option<(TcpListener, Ingest, Connections)>,
    Option<Arc<WriterHealth>>,
);

/// The OTLP receivers of the embedded mode, bound (the gRPC one is started by `run`).
fn receivers(
    config: &ServerConfig,
    store: &Store,
    metrics: &ServerMetrics,
    auth: IngestAuth,
    watchers: orcheo_ingest::Watchers,
    redactor: Option<Arc<orcheo_span_tree::redact::Redactor>>,
) -> anyhow::Result<Receivers> {
    if config.otlp_http_addr.is_none() && config.otlp_grpc_addr.is_none() {
        return Ok((None, None, None));
    }
    let ingest_metrics = IngestMetrics::register(&metrics.registry)
        .context("cannot register the receiver's metrics")?;
    let ingest = Ingest::start(
        store.clone(),
        config.ingest_limits,
        auth,
        ingest_metrics,
        watchers,
        redactor,
    )
    .context("cannot start the span writer")?;
    let connections =
        Connections::register(&metrics.registry, config.otlp_connections, &ingest.metrics)
            .context("cannot register the receiver's connection metrics")?;
    let limits = connections.limits();
    let health = ingest.health();
    let http = match config.otlp_http_addr {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .with_context(|| format!("cannot listen for OTLP/HTTP on {addr}"))?;
            let port = listener.local_addr()?.port();
            let data = web::Data::new(ingest.clone());
            let limits_data = web::Data::new(limits);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .app_data(limits_data.clone())
                    .configure(crate::otlp_http::configure)
            })
            .workers(connections::HTTP_WORKERS)
            .max_connections(limits.per_http_worker())
            .client_request_timeout(limits.header_timeout)
            .keep_alive(limits.header_timeout)
            .client_disconnect_timeout(connections::DISCONNECT_TIMEOUT)
            .on_connect({
                let connections = connections.clone();
                move |_, extensions| {
                    extensions.insert(connections.http_connection());
                }
            })
            .shutdown_timeout(10)
            .listen(listener)?
            .run();
            tracing::info!(otlp.http.addr = %addr, otlp.http.port = port, "receiving OTLP/HTTP at POST /v1/traces");
            Some((port, server))
        }
    };
    let grpc = match config.otlp_grpc_addr {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .with_context(|| format!("cannot listen for OTLP/gRPC on {addr}"))?;
            tracing::info!(otlp.grpc.addr = %addr, "receiving OTLP/gRPC");
            Some((listener, ingest, connections))
        }
    };
    Ok((http, grpc, Some(health)))
}

/// Deletes data older than the retention period, once an hour.
async fn prune_forever(store: Store, retention: Duration) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    loop {
        tick.tick().await;
        let cutoff = orcheo_trace_model::Timestamp::from_unix_nanos(
            orcheo_trace_model::Timestamp::now()
                .unix_nanos()
                .saturating_sub(u64::try_from(retention.as_nanos()).unwrap_or(u64::MAX)),
        );
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.prune(cutoff)).await {
            Ok(Ok(report)) => tracing::info!(
                executions = report.executions,
                local_spans = report.local_spans,
                "retention: expired data deleted"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "retention: prune failed"),
            Err(e) => tracing::warn!(error = %e, "retention: prune task failed"),
        }
    }
}
