//! The server's settings: every option is an environment variable and a flag of the same name
//! (`ORCHEO_HTTP_ADDR` ⇔ `--http-addr`). [`ServeArgs`] is what clap reads; [`ServerConfig`] is
//! the validated result the application is built from. A bad value stops the server before it
//! binds anything, with an error naming the variable. Values are read by the workspace's one set
//! of rules (`orcheo_settings`); credentials are held as [`Secret`]s, so neither struct's `Debug`
//! output shows them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use orcheo_collector_client::{BackendKind, ClientConfig};
use orcheo_settings::{
    Secret, SettingError, boolean_or, integer, integer_of, list, list_split, millis, seconds,
};

use crate::auth::{AuthConfig, StaticToken};

/// `serve`'s options.
#[derive(Debug, Clone, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each flag is an independent on/off option"
)]
pub struct ServeArgs {
    /// Address of the HTTP API and `/metrics`.
    #[arg(long, env = "ORCHEO_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,

    /// Metadata database: `sqlite://PATH` (embedded default) or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "ORCHEO_DATABASE_URL",
        default_value = "sqlite://orcheo-trace.db",
        hide_env_values = true
    )]
    pub database_url: Secret<String>,

    /// Where traces are read from: `embedded` (this server's own span store), `tempo`,
    /// `jaeger` (API v3 over HTTP), `jaeger-v1` (query JSON) or `jaeger-grpc` (API v3 over gRPC).
    #[arg(long, env = "ORCHEO_TRACE_BACKEND", default_value = "embedded")]
    pub trace_backend: String,

    /// Base URL of the trace store's query API (`http://tempo:3200`); required unless embedded.
    #[arg(long, env = "ORCHEO_TRACE_BACKEND_URL")]
    pub trace_backend_url: Option<String>,

    /// OTLP/gRPC receiver address (embedded backend only); `off` disables it.
    #[arg(long, env = "ORCHEO_OTLP_GRPC_ADDR", default_value = "127.0.0.1:4317")]
    pub otlp_grpc_addr: String,

    /// OTLP/HTTP receiver address, `POST /v1/traces` (embedded backend only); `off` disables it.
    #[arg(long, env = "ORCHEO_OTLP_HTTP_ADDR", default_value = "127.0.0.1:4318")]
    pub otlp_http_addr: String,

    /// Bearer token the OTLP receivers accept (`Authorization: Bearer …`), writing for the
    /// default tenant; API tokens with the `traces:write` scope are accepted too. A receiver
    /// beyond loopback needs one or the other.
    #[arg(long, env = "ORCHEO_OTLP_INGEST_TOKEN", hide_env_values = true)]
    pub otlp_ingest_token: Option<Secret<String>>,

    /// Most spans the embedded store keeps in all; past it new spans are refused.
    #[arg(long, env = "ORCHEO_OTLP_MAX_SPANS", default_value = "2000000")]
    pub otlp_max_spans: String,

    /// Most spans the embedded store keeps of one tenant, so one sender cannot fill the store
    /// for the others.
    #[arg(
        long,
        env = "ORCHEO_OTLP_MAX_SPANS_PER_TENANT",
        default_value = "1000000"
    )]
    pub otlp_max_spans_per_tenant: String,

    /// Most spans the embedded store keeps of one trace.
    #[arg(long, env = "ORCHEO_OTLP_MAX_SPANS_PER_TRACE", default_value = "10000")]
    pub otlp_max_spans_per_trace: String,

    /// Spans a second one tenant's credential may export (`0`: no limit); past it exports are
    /// answered 429 (gRPC `UNAVAILABLE`) with `Retry-After`.
    #[arg(
        long,
        env = "ORCHEO_OTLP_TENANT_SPANS_PER_SECOND",
        default_value = "50000"
    )]
    pub otlp_tenant_spans_per_second: String,

    /// Open connections each OTLP receiver holds at most; keep twice this well under the
    /// process's file descriptor limit.
    #[arg(long, env = "ORCHEO_OTLP_MAX_CONNECTIONS", default_value = "256")]
    pub otlp_max_connections: String,

    /// Time a new OTLP connection has to send its request head (HTTP) or HTTP/2 preface (gRPC),
    /// and that an idle OTLP/HTTP connection is kept, in milliseconds.
    #[arg(long, env = "ORCHEO_OTLP_HEADER_TIMEOUT_MS", default_value = "10000")]
    pub otlp_header_timeout_ms: String,

    /// Time an OTLP/HTTP request body has to arrive whole (else 408), and an OTLP/gRPC call's
    /// time limit, in milliseconds.
    #[arg(long, env = "ORCHEO_OTLP_READ_TIMEOUT_MS", default_value = "30000")]
    pub otlp_read_timeout_ms: String,

    /// Headers sent to the trace store, `name=value,name2=value2` (a tenant, an API key);
    /// `%XX` in a value is a byte (`%2C` a comma, `%25` a percent sign).
    #[arg(long, env = "ORCHEO_TRACE_BACKEND_HEADERS", hide_env_values = true)]
    pub trace_backend_headers: Option<Secret<String>>,

    /// Time limit of one request to the trace store, in milliseconds (the whole fetch, retries
    /// included, may take twice this).
    #[arg(long, env = "ORCHEO_TRACE_BACKEND_TIMEOUT_MS", default_value = "5000")]
    pub trace_backend_timeout_ms: String,

    /// How far back, in hours, an execution the database does not know is searched for in a
    /// Tempo or Jaeger trace store by its `orcheo.execution.id`; `0` turns the search off.
    #[arg(long, env = "ORCHEO_TRACE_SEARCH_LOOKBACK_HOURS", default_value = "24")]
    pub trace_search_lookback_hours: String,

    /// Jaeger services searched for executions, `a,b`; unset: those Jaeger names (at most 10).
    #[arg(long, env = "ORCHEO_TRACE_SEARCH_SERVICES")]
    pub trace_search_services: Option<String>,

    /// Dashboard links added to every trace: `name=URL-template,…` with `{trace_id}` in each
    /// template (`tempo=https://grafana.example.com/explore?traceId={trace_id}`).
    #[arg(long, env = "ORCHEO_DASHBOARD_URLS")]
    pub dashboard_urls: Option<String>,

    /// HS256 secret that signs accepted JWTs.
    #[arg(long, env = "ORCHEO_AUTH_JWT_SECRET", hide_env_values = true)]
    pub auth_jwt_secret: Option<Secret<String>>,

    /// PEM file with the RSA public key that verifies accepted RS256 JWTs.
    #[arg(long, env = "ORCHEO_AUTH_JWT_PUBLIC_KEY_FILE")]
    pub auth_jwt_public_key_file: Option<PathBuf>,

    /// Required `iss` claim of JWTs (not checked when unset).
    #[arg(long, env = "ORCHEO_AUTH_JWT_ISSUER")]
    pub auth_jwt_issuer: Option<String>,

    /// Required `aud` claim of JWTs (not checked when unset).
    #[arg(long, env = "ORCHEO_AUTH_JWT_AUDIENCE")]
    pub auth_jwt_audience: Option<String>,

    /// JWKS URL of an identity provider whose keys verify accepted JWTs (by `kid`): https, or
    /// http on a loopback host.
    #[arg(long, env = "ORCHEO_AUTH_JWKS_URL")]
    pub auth_jwks_url: Option<String>,

    /// JWKS file (`{"keys": [...]}`) whose keys verify accepted JWTs (by `kid`).
    #[arg(long, env = "ORCHEO_AUTH_JWKS_FILE")]
    pub auth_jwks_file: Option<PathBuf>,

    /// How long keys fetched from the JWKS URL are used before they are fetched again, in
    /// seconds.
    #[arg(long, env = "ORCHEO_AUTH_JWKS_CACHE_SECONDS", default_value = "300")]
    pub auth_jwks_cache_seconds: String,

    /// The shortest time between two fetches of the JWKS URL, in seconds, however many tokens
    /// name unknown keys.
    #[arg(long, env = "ORCHEO_AUTH_JWKS_REFETCH_SECONDS", default_value = "30")]
    pub auth_jwks_refetch_seconds: String,

    /// JSON file of static tokens, stored as SHA-256 hashes:
    /// `[{"name": "canvas", "sha256": "<hex>", "tenant": "acme", "scopes": ["traces:read"]}]`.
    #[arg(long, env = "ORCHEO_AUTH_TOKENS_FILE")]
    pub auth_tokens_file: Option<PathBuf>,

    /// Require a token with `traces:admin` for `/metrics` and `/readyz` too (`/healthz` stays
    /// open for liveness probes).
    #[arg(long, env = "ORCHEO_AUTH_PROTECT_OPS", default_value = "false")]
    pub auth_protect_ops: String,

    /// Serve without authentication on a non-loopback address. Anyone who can reach the
    /// address reads every trace: only behind a proxy that authenticates.
    #[arg(
        long,
        env = "ORCHEO_AUTH_ALLOW_UNAUTHENTICATED",
        default_value = "false"
    )]
    pub auth_allow_unauthenticated: String,

    /// JWT claims that may name the caller's tenant, in order (the first present decides);
    /// dotted names read inside objects. A list's first string is the tenant.
    #[arg(
        long,
        env = "ORCHEO_AUTH_TENANT_CLAIMS",
        default_value = crate::auth::DEFAULT_TENANT_CLAIMS
    )]
    pub auth_tenant_claims: String,

    /// Scope names of other issuers (Orcheo's backend) that grant `traces:read`.
    #[arg(
        long,
        env = "ORCHEO_AUTH_READ_SCOPES",
        default_value = crate::auth::DEFAULT_READ_SCOPES
    )]
    pub auth_read_scopes: String,

    /// Scope names of other issuers that grant `traces:read_content` (prompts and responses).
    #[arg(
        long,
        env = "ORCHEO_AUTH_READ_CONTENT_SCOPES",
        default_value = crate::auth::DEFAULT_READ_CONTENT_SCOPES
    )]
    pub auth_read_content_scopes: String,

    /// Scope names of other issuers that grant `traces:admin` (every tenant).
    #[arg(long, env = "ORCHEO_AUTH_ADMIN_SCOPES", default_value = "")]
    pub auth_admin_scopes: String,

    /// Origins allowed to call the API from a browser (CORS), comma-separated
    /// (`https://canvas.example.com`); none: no CORS headers at all.
    #[arg(long, env = "ORCHEO_CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: String,

    /// Key signing artifact download links (at least 32 bytes, hex or base64); unset: a random
    /// key drawn at start, so links die with a restart and differ across replicas.
    #[arg(long, env = "ORCHEO_ARTIFACT_LINK_KEY", hide_env_values = true)]
    pub artifact_link_key: Option<Secret<String>>,

    /// How long a signed artifact download link works, in seconds.
    #[arg(long, env = "ORCHEO_ARTIFACT_LINK_TTL_SECONDS", default_value = "900")]
    pub artifact_link_ttl_seconds: String,

    /// Redact e-mail addresses, SSN- and card-like numbers and `api_key=…`-style secrets in every
    /// text served from spans, on every route and the live feed (spans from instrumentation that
    /// did not redact them), before any caller sees them.
    #[arg(long, env = "ORCHEO_REDACT", default_value = "true")]
    pub redact: String,

    /// Extra redaction patterns (regular expressions), `;`-separated.
    #[arg(long, env = "ORCHEO_REDACT_PATTERNS")]
    pub redact_patterns: Option<String>,

    /// A TOML price table (US dollars per million input, output and cached-input tokens, per
    /// model) whose entries replace or add to the built-in prices; its `[tenants.<tenant>]`
    /// sections apply to one tenant's runs.
    #[arg(long, env = "ORCHEO_PRICES_FILE")]
    pub prices_file: Option<PathBuf>,

    /// Days to keep executions, summaries and received spans (0: keep everything).
    #[arg(long, env = "ORCHEO_RETENTION_DAYS", default_value = "30")]
    pub retention_days: String,

    /// Directory that `file:` artifact locations are relative to.
    #[arg(long, env = "ORCHEO_ARTIFACT_DIR", default_value = "artifacts")]
    pub artifact_dir: PathBuf,

    /// Bytes of finished traces (and answers rendered from them) kept in memory (0: no cache).
    #[arg(long, env = "ORCHEO_TRACE_CACHE_BYTES", default_value = "268435456")]
    pub trace_cache_bytes: String,

    /// Replaced by `ORCHEO_TRACE_CACHE_BYTES`; set, it stops the server so that the operator
    /// notices the cache is no longer bounded by a count.
    #[arg(long, env = "ORCHEO_TRACE_CACHE_ENTRIES", hide = true)]
    pub trace_cache_entries: Option<String>,

    /// Most spans in one trace answer, whatever `limit` asks; the flat view's answer without
    /// `limit` (Canvas's) holds this many, a larger trace is cut and marked `truncated`.
    #[arg(long, env = "ORCHEO_TRACE_PAGE_MAX_SPANS", default_value = "10000")]
    pub trace_page_max_spans: String,

    /// Time limit of one HTTP request, in milliseconds.
    #[arg(long, env = "ORCHEO_HTTP_REQUEST_TIMEOUT_MS", default_value = "30000")]
    pub http_request_timeout_ms: String,

    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "ORCHEO_HTTP_WORKERS", default_value = "0")]
    pub http_workers: String,

    /// Log format: `json` (one object per line, for log pipelines), `text`, or `auto` (text on
    /// a terminal, JSON otherwise). The level comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "ORCHEO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// Where traces are read from.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceBackend {
    /// The local span store of this server's own database.
    Embedded,
    /// A trace store's query API.
    Remote(Box<ClientConfig>),
}

impl TraceBackend {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Remote(c) => c.backend.name(),
        }
    }
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub http_addr: SocketAddr,
    /// `None`: no OTLP/gRPC receiver (off, or a backend other than embedded).
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// `None`: no OTLP/HTTP receiver.
    pub otlp_http_addr: Option<SocketAddr>,
    /// Accepted from OTLP exporters, as the default tenant's, when set.
    pub otlp_ingest_token: Option<Secret<String>>,
    /// The receivers' bounds and quotas.
    pub ingest_limits: orcheo_ingest::IngestLimits,
    /// The OTLP receivers' connection limits.
    pub otlp_connections: orcheo_ingest::connections::ReceiverLimits,
    /// May hold a password (`postgres://user:password@…`).
    pub database_url: Secret<String>,
    pub backend: TraceBackend,
    /// How far back unknown executions are searched for in the trace store; `None`: never.
    pub search_lookback: Option<Duration>,
    /// `(name, template)`, in the configured order.
    pub dashboards: Vec<(String, String)>,
    pub auth: AuthConfig,
    /// Serve without authentication on a non-loopback address.
    pub allow_unauthenticated: bool,
    /// Redaction applied to served traces: `None` is off; otherwise the extra patterns.
    pub redaction: Option<Vec<String>>,
    /// What tokens cost: the built-in prices with the operator's file applied.
    pub prices: orcheo_pricing::PriceTable,
    /// `None`: keep everything.
    pub retention: Option<Duration>,
    pub artifact_dir: PathBuf,
    /// Origins allowed to call from a browser.
    pub cors: crate::cors::CorsConfig,
    /// The key of signed artifact links (`None`: drawn at start).
    pub artifact_link_key: Option<Secret<Vec<u8>>>,
    /// How long a signed artifact link works.
    pub artifact_link_ttl: Duration,
    /// Bound of the trace cache (0: off).
    pub cache_bytes: u64,
    pub page_max_spans: usize,
    pub request_timeout: Duration,
    /// 0: one per core.
    pub workers: usize,
    pub log_format: LogFormat,
    /// Limits and timings of live updates (their defaults; set in code).
    pub live: crate::live::LiveLimits,
}

/// A setting that cannot work; names the variable (and its flag).
#[derive(Debug, thiserror::Error)]
#[error("{variable} (--{flag}): {message}", flag = flag_of(variable))]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

/// `ORCHEO_HTTP_ADDR` → `http-addr`.
fn flag_of(variable: &str) -> String {
    variable
        .trim_start_matches("ORCHEO_")
        .to_ascii_lowercase()
        .replace('_', "-")
}

fn bad(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// The key of signed artifact links (`None`: drawn at start) and how long a link works.
type ArtifactLinks = (Option<Secret<Vec<u8>>>, Duration);

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        Self {
            variable: e.variable,
            message: e.problem(),
        }
    }
}

impl ServerConfig {
    /// The trace cache's settings.
    pub fn trace_cache(&self) -> orcheo_trace_service::CacheConfig {
        orcheo_trace_service::CacheConfig {
            bytes: self.cache_bytes,
            // Only the embedded store is written by this server, which then tells the cache
            // which traces changed.
            late_spans: if self.backend == TraceBackend::Embedded {
                orcheo_trace_service::LateSpans::Invalidated
            } else {
                orcheo_trace_service::LateSpans::Expire
            },
        }
    }

    fn cache_bytes(args: &ServeArgs) -> Result<u64, ConfigError> {
        if args.trace_cache_entries.is_some() {
            return Err(bad(
                "ORCHEO_TRACE_CACHE_ENTRIES",
                "was replaced by ORCHEO_TRACE_CACHE_BYTES (--trace-cache-bytes), the bytes of \
                 traces kept in memory (default 268435456, 256 MiB; 0: no cache); unset it",
            ));
        }
        Ok(integer_of(
            "ORCHEO_TRACE_CACHE_BYTES",
            &args.trace_cache_bytes,
            0..=1 << 40,
            "bytes",
        )?)
    }

    /// Validates the options; reads the key and token files they name.
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let http_addr: SocketAddr = args.http_addr.trim().parse().map_err(|_| {
            bad(
                "ORCHEO_HTTP_ADDR",
                format!("{:?} is not an address like 127.0.0.1:8080", args.http_addr),
            )
        })?;
        let backend = Self::backend(args)?;
        let receiver =
            |variable: &'static str, text: &str| -> Result<Option<SocketAddr>, ConfigError> {
                let text = text.trim();
                if text.eq_ignore_ascii_case("off") || text.is_empty() {
                    return Ok(None);
                }
                let addr: SocketAddr = text.parse().map_err(|_| {
                    bad(
                        variable,
                        format!("{text:?} is not an address like 127.0.0.1:4317, or off"),
                    )
                })?;
                // Spans go to the trace store operators run; the server only receives in embedded mode.
                Ok((backend == TraceBackend::Embedded).then_some(addr))
            };
        let otlp_grpc_addr = receiver("ORCHEO_OTLP_GRPC_ADDR", &args.otlp_grpc_addr)?;
        let otlp_http_addr = receiver("ORCHEO_OTLP_HTTP_ADDR", &args.otlp_http_addr)?;
        let dashboards = parse_dashboards(args.dashboard_urls.as_deref().unwrap_or(""))?;
        let auth = Self::auth(args)?;
        let allow_unauthenticated = boolean_or(
            "ORCHEO_AUTH_ALLOW_UNAUTHENTICATED",
            &args.auth_allow_unauthenticated,
            false,
        )?;
        if !auth.is_enabled() && !http_addr.ip().is_loopback() && !allow_unauthenticated {
            return Err(bad(
                "ORCHEO_HTTP_ADDR",
                format!(
                    "{http_addr} is not a loopback address and no authentication is configured; \
                     set ORCHEO_AUTH_JWT_SECRET, ORCHEO_AUTH_JWT_PUBLIC_KEY_FILE, \
                     ORCHEO_AUTH_JWKS_URL, ORCHEO_AUTH_JWKS_FILE or ORCHEO_AUTH_TOKENS_FILE, or ORCHEO_AUTH_ALLOW_UNAUTHENTICATED=true if a proxy \
                     in front authenticates"
                ),
            ));
        }
        let otlp_ingest_token = Self::ingest_token(
            args,
            [
                ("ORCHEO_OTLP_GRPC_ADDR", otlp_grpc_addr),
                ("ORCHEO_OTLP_HTTP_ADDR", otlp_http_addr),
            ],
            auth.is_enabled() || allow_unauthenticated,
        )?;
        let ingest_limits = Self::ingest_limits(args)?;
        let redaction = Self::redaction(args)?;
        let prices = Self::prices(args)?;
        let retention_days = integer("ORCHEO_RETENTION_DAYS", &args.retention_days, 0..=36_500)?;
        let search_hours = integer_of(
            "ORCHEO_TRACE_SEARCH_LOOKBACK_HOURS",
            &args.trace_search_lookback_hours,
            0..=8_760,
            "hours",
        )?;
        let (artifact_link_key, artifact_link_ttl) = Self::artifact_links(args)?;
        Ok(Self {
            http_addr,
            otlp_grpc_addr,
            otlp_http_addr,
            otlp_ingest_token,
            ingest_limits,
            otlp_connections: Self::otlp_connections(args)?,
            database_url: Secret::new(args.database_url.expose_secret().trim().to_owned()),
            backend,
            search_lookback: (search_hours > 0).then(|| Duration::from_secs(search_hours * 3_600)),
            dashboards,
            auth,
            allow_unauthenticated,
            redaction,
            prices,
            retention: (retention_days > 0).then(|| Duration::from_secs(retention_days * 86_400)),
            artifact_dir: args.artifact_dir.clone(),
            cors: crate::cors::CorsConfig::parse(&args.cors_allowed_origins)
                .map_err(|e| bad("ORCHEO_CORS_ALLOWED_ORIGINS", e))?,
            artifact_link_key,
            artifact_link_ttl,
            cache_bytes: Self::cache_bytes(args)?,
            page_max_spans: integer(
                "ORCHEO_TRACE_PAGE_MAX_SPANS",
                &args.trace_page_max_spans,
                1..=100_000,
            )? as usize,
            request_timeout: millis(
                "ORCHEO_HTTP_REQUEST_TIMEOUT_MS",
                &args.http_request_timeout_ms,
                100..=600_000,
            )?,
            workers: integer("ORCHEO_HTTP_WORKERS", &args.http_workers, 0..=256)? as usize,
            log_format: args.log_format,
            live: crate::live::LiveLimits::default(),
        })
    }

    /// The key (none: a random one at start) and lifetime of signed artifact links.
    fn artifact_links(args: &ServeArgs) -> Result<ArtifactLinks, ConfigError> {
        let key = args
            .artifact_link_key
            .as_ref()
            .map(Secret::expose_secret)
            .filter(|k| !k.trim().is_empty())
            .map(|k| crate::artifact_links::parse_key(k).map(Secret::new))
            .transpose()
            .map_err(|e| bad("ORCHEO_ARTIFACT_LINK_KEY", e))?;
        let ttl = seconds(
            "ORCHEO_ARTIFACT_LINK_TTL_SECONDS",
            &args.artifact_link_ttl_seconds,
            10..=86_400,
        )?;
        Ok((key, ttl))
    }

    /// The receivers' bounds and quotas.
    fn ingest_limits(args: &ServeArgs) -> Result<orcheo_ingest::IngestLimits, ConfigError> {
        let defaults = orcheo_ingest::IngestLimits::new();
        let total = integer(
            "ORCHEO_OTLP_MAX_SPANS",
            &args.otlp_max_spans,
            1..=1_000_000_000,
        )?;
        let per_tenant = integer(
            "ORCHEO_OTLP_MAX_SPANS_PER_TENANT",
            &args.otlp_max_spans_per_tenant,
            1..=1_000_000_000,
        )?;
        let per_trace = integer(
            "ORCHEO_OTLP_MAX_SPANS_PER_TRACE",
            &args.otlp_max_spans_per_trace,
            1..=100_000,
        )?;
        let per_second = integer(
            "ORCHEO_OTLP_TENANT_SPANS_PER_SECOND",
            &args.otlp_tenant_spans_per_second,
            0..=10_000_000,
        )?;
        Ok(orcheo_ingest::IngestLimits {
            local_spans: orcheo_trace_store::LocalSpanLimits {
                total,
                per_tenant,
                per_trace,
                ..defaults.local_spans
            },
            tenant_spans_per_second: u32::try_from(per_second).unwrap_or(u32::MAX),
            ..defaults
        })
    }

    /// The OTLP ingest token, checked; a receiver beyond loopback needs it, or the API's
    /// authentication (whose `traces:write` tokens then write), or the explicit permission to
    /// run without (`authenticated`: either of the last two).
    fn ingest_token(
        args: &ServeArgs,
        receivers: [(&'static str, Option<SocketAddr>); 2],
        authenticated: bool,
    ) -> Result<Option<Secret<String>>, ConfigError> {
        let token = args
            .otlp_ingest_token
            .clone()
            .filter(|t| !t.expose_secret().is_empty());
        if let Some(token) = token.as_ref().map(Secret::expose_secret)
            && (token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(bad(
                "ORCHEO_OTLP_INGEST_TOKEN",
                "must be at least 16 printable characters without spaces",
            ));
        }
        for (variable, addr) in receivers {
            if let Some(addr) = addr
                && !addr.ip().is_loopback()
                && token.is_none()
                && !authenticated
            {
                return Err(bad(
                    variable,
                    format!(
                        "{addr} is not a loopback address and neither ORCHEO_OTLP_INGEST_TOKEN \
                         nor the API's authentication is set: anyone could write spans; set a \
                         token, or ORCHEO_AUTH_ALLOW_UNAUTHENTICATED=true on a trusted network"
                    ),
                ));
            }
        }
        Ok(token)
    }

    fn otlp_connections(
        args: &ServeArgs,
    ) -> Result<orcheo_ingest::connections::ReceiverLimits, ConfigError> {
        let millis = |variable, text: &str| millis(variable, text, 100..=3_600_000);
        Ok(orcheo_ingest::connections::ReceiverLimits {
            max_connections: integer(
                "ORCHEO_OTLP_MAX_CONNECTIONS",
                &args.otlp_max_connections,
                1..=1_000_000,
            )? as usize,
            header_timeout: millis(
                "ORCHEO_OTLP_HEADER_TIMEOUT_MS",
                &args.otlp_header_timeout_ms,
            )?,
            read_timeout: millis("ORCHEO_OTLP_READ_TIMEOUT_MS", &args.otlp_read_timeout_ms)?,
        })
    }

    /// The built-in price table, with the entries of `ORCHEO_PRICES_FILE` when it is set.
    fn prices(args: &ServeArgs) -> Result<orcheo_pricing::PriceTable, ConfigError> {
        let builtin = orcheo_pricing::PriceTable::builtin()
            .map_err(|e| bad("ORCHEO_PRICES_FILE", format!("the built-in prices: {e}")))?;
        let Some(path) = args
            .prices_file
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        else {
            return Ok(builtin);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(
                "ORCHEO_PRICES_FILE",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        builtin
            .with_file(&path.display().to_string(), &text)
            .map_err(|e| bad("ORCHEO_PRICES_FILE", e.to_string()))
    }

    /// `None`: redaction off; otherwise the extra patterns (checked to compile).
    fn redaction(args: &ServeArgs) -> Result<Option<Vec<String>>, ConfigError> {
        // Blank is the default, on: an empty variable must not turn redaction off.
        if !boolean_or("ORCHEO_REDACT", &args.redact, true)? {
            return Ok(None);
        }
        // `;`: a regular expression may hold commas.
        let patterns = list_split(args.redact_patterns.as_deref().unwrap_or(""), &[';']);
        orcheo_span_tree::redact::Redactor::new(&patterns)
            .map_err(|e| bad("ORCHEO_REDACT_PATTERNS", e.to_string()))?;
        Ok(Some(patterns))
    }

    fn backend(args: &ServeArgs) -> Result<TraceBackend, ConfigError> {
        let name = args.trace_backend.trim();
        // Checked whatever the backend, so a bad value never waits for a backend change.
        let timeout = integer_of(
            "ORCHEO_TRACE_BACKEND_TIMEOUT_MS",
            &args.trace_backend_timeout_ms,
            1..=600_000,
            "milliseconds",
        )?;
        if name == "embedded" {
            return Ok(TraceBackend::Embedded);
        }
        let kind: BackendKind = name.parse().map_err(|_| {
            bad(
                "ORCHEO_TRACE_BACKEND",
                format!("{name:?} is not one of embedded, tempo, jaeger, jaeger-v1, jaeger-grpc"),
            )
        })?;
        let url = args
            .trace_backend_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                bad(
                    "ORCHEO_TRACE_BACKEND_URL",
                    format!("required by the {name} backend"),
                )
            })?;
        let mut client = ClientConfig::new(kind, url);
        if let Some(headers) = &args.trace_backend_headers {
            client.headers =
                orcheo_settings::headers("ORCHEO_TRACE_BACKEND_HEADERS", headers.expose_secret())?;
        }
        client.search_services = list(args.trace_search_services.as_deref().unwrap_or(""));
        client.attempt_timeout = Duration::from_millis(timeout);
        client.overall_timeout = Duration::from_millis(timeout * 2);
        client.validate().map_err(|e| {
            let variable = match e {
                orcheo_collector_client::ConfigError::BadUrl(_) => "ORCHEO_TRACE_BACKEND_URL",
                orcheo_collector_client::ConfigError::BadHeader(_) => {
                    "ORCHEO_TRACE_BACKEND_HEADERS"
                }
                _ => "ORCHEO_TRACE_BACKEND",
            };
            bad(variable, e.to_string())
        })?;
        Ok(TraceBackend::Remote(Box::new(client)))
    }

    fn auth(args: &ServeArgs) -> Result<AuthConfig, ConfigError> {
        let jwt_secret = args
            .auth_jwt_secret
            .as_ref()
            .map(Secret::expose_secret)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.len() < 32 {
                    Err(bad(
                        "ORCHEO_AUTH_JWT_SECRET",
                        "shorter than 32 bytes: too easy to guess",
                    ))
                } else {
                    Ok(Secret::new(s.as_bytes().to_vec()))
                }
            })
            .transpose()?;
        let jwt_public_key_pem = args
            .auth_jwt_public_key_file
            .as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|e| {
                    bad(
                        "ORCHEO_AUTH_JWT_PUBLIC_KEY_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })
            })
            .transpose()?;
        if let Some(pem) = &jwt_public_key_pem {
            jsonwebtoken::DecodingKey::from_rsa_pem(pem).map_err(|e| {
                bad(
                    "ORCHEO_AUTH_JWT_PUBLIC_KEY_FILE",
                    format!("not an RSA public key in PEM: {e}"),
                )
            })?;
        }
        let static_tokens = match &args.auth_tokens_file {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read(path).map_err(|e| {
                    bad(
                        "ORCHEO_AUTH_TOKENS_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                StaticToken::parse_file(&text).map_err(|e| {
                    bad(
                        "ORCHEO_AUTH_TOKENS_FILE",
                        format!("{}: {e}", path.display()),
                    )
                })?
            }
        };
        Ok(AuthConfig {
            jwt_secret,
            jwt_public_key_pem,
            jwks: Self::jwks(args)?,
            issuer: args.auth_jwt_issuer.clone().filter(|s| !s.is_empty()),
            audience: args.auth_jwt_audience.clone().filter(|s| !s.is_empty()),
            static_tokens,
            protect_ops: boolean_or("ORCHEO_AUTH_PROTECT_OPS", &args.auth_protect_ops, false)?,
            claims: Self::claims(args)?,
        })
    }

    /// Where an identity provider's keys come from.
    fn jwks(args: &ServeArgs) -> Result<crate::jwks::JwksConfig, ConfigError> {
        let url = args
            .auth_jwks_url
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|text| {
                crate::jwks::check_url(text.trim()).map_err(|e| bad("ORCHEO_AUTH_JWKS_URL", e))
            })
            .transpose()?;
        let static_keys = args
            .auth_jwks_file
            .as_ref()
            .map(|path| {
                let document = std::fs::read(path).map_err(|e| {
                    bad(
                        "ORCHEO_AUTH_JWKS_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let keys = crate::jwks::KeySet::parse(&document, &path.display().to_string())
                    .map_err(|e| {
                        bad("ORCHEO_AUTH_JWKS_FILE", format!("{}: {e}", path.display()))
                    })?;
                if keys.is_empty() {
                    return Err(bad(
                        "ORCHEO_AUTH_JWKS_FILE",
                        format!("{}: no usable key", path.display()),
                    ));
                }
                Ok(document)
            })
            .transpose()?;
        let cache = seconds(
            "ORCHEO_AUTH_JWKS_CACHE_SECONDS",
            &args.auth_jwks_cache_seconds,
            1..=86_400,
        )?;
        let min_refetch = seconds(
            "ORCHEO_AUTH_JWKS_REFETCH_SECONDS",
            &args.auth_jwks_refetch_seconds,
            0..=3_600,
        )?;
        Ok(crate::jwks::JwksConfig {
            url,
            static_keys,
            cache,
            min_refetch,
        })
    }

    /// How JWT claims name tenants and scopes.
    fn claims(args: &ServeArgs) -> Result<crate::auth::ClaimMapping, ConfigError> {
        let names = |variable: &'static str, text: &str| {
            let list = crate::auth::parse_name_list(text);
            match list
                .iter()
                .find(|n| !n.bytes().all(|b| b.is_ascii_graphic()))
            {
                Some(n) => Err(bad(variable, format!("{n:?} is not a claim or scope name"))),
                None => Ok(list),
            }
        };
        let tenant_claims = names("ORCHEO_AUTH_TENANT_CLAIMS", &args.auth_tenant_claims)?;
        if let Some(n) = tenant_claims
            .iter()
            .find(|n| n.starts_with('.') || n.ends_with('.') || n.contains(".."))
        {
            return Err(bad(
                "ORCHEO_AUTH_TENANT_CLAIMS",
                format!("{n:?} is not a claim name (dots separate the parts of a nested name)"),
            ));
        }
        Ok(crate::auth::ClaimMapping {
            tenant_claims,
            read_scopes: names("ORCHEO_AUTH_READ_SCOPES", &args.auth_read_scopes)?,
            read_content_scopes: names(
                "ORCHEO_AUTH_READ_CONTENT_SCOPES",
                &args.auth_read_content_scopes,
            )?,
            admin_scopes: names("ORCHEO_AUTH_ADMIN_SCOPES", &args.auth_admin_scopes)?,
        })
    }
}

/// `name=template,…`; each template must hold `{trace_id}`.
pub fn parse_dashboards(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let variable = "ORCHEO_DASHBOARD_URLS";
    list(text)
        .iter()
        .map(|pair| {
            let (name, template) = pair
                .split_once('=')
                .ok_or_else(|| bad(variable, format!("{pair:?} is not name=URL-template")))?;
            let (name, template) = (name.trim(), template.trim());
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(bad(
                    variable,
                    format!("{name:?} is not a name of letters, digits, - and _"),
                ));
            }
            if !(template.starts_with("http://") || template.starts_with("https://")) {
                return Err(bad(
                    variable,
                    format!("{name}: {template:?} is not an http(s) URL"),
                ));
            }
            if !template.contains("{trace_id}") {
                return Err(bad(
                    variable,
                    format!("{name}: the template has no {{trace_id}}"),
                ));
            }
            Ok((name.to_owned(), template.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn args(flags: &[&str]) -> ServeArgs {
        let mut all = vec!["serve"];
        all.extend_from_slice(flags);
        Cli::try_parse_from(all).unwrap().args
    }

    #[test]
    fn a_prices_file_adds_to_the_built_in_table_and_a_bad_one_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("prices.toml");
        std::fs::write(
            &good,
            "[[prices]]\nmodel = \"acme-llm\"\ninput = 1\noutput = 2\n",
        )
        .unwrap();
        let good = good.display().to_string();
        let config = ServerConfig::from_args(&args(&["--prices-file", &good])).unwrap();
        assert!(config.prices.prices().find("acme-llm-v2", None).is_some());
        assert!(config.prices.prices().find("gpt-4o", None).is_some());
        let builtin = ServerConfig::from_args(&args(&[])).unwrap();
        assert!(builtin.prices.prices().find("acme-llm", None).is_none());

        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            "[[prices]]\nmodel = \"acme-llm\"\ninput = -1\noutput = 2\n",
        )
        .unwrap();
        let bad = bad.display().to_string();
        let e = ServerConfig::from_args(&args(&["--prices-file", &bad])).unwrap_err();
        assert_eq!(e.variable, "ORCHEO_PRICES_FILE");
        assert!(
            e.to_string().starts_with(&format!(
                "ORCHEO_PRICES_FILE (--prices-file): {bad}, line 1: "
            )),
            "{e}"
        );
        let missing = dir.path().join("missing.toml").display().to_string();
        let e = ServerConfig::from_args(&args(&["--prices-file", &missing])).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn defaults_are_embedded_on_loopback() {
        let config = ServerConfig::from_args(&args(&[])).unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.backend, TraceBackend::Embedded);
        assert!(!config.auth.is_enabled());
        assert_eq!(config.retention, Some(Duration::from_hours(30 * 24)));
        assert_eq!(
            config.otlp_grpc_addr.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:4317")
        );
        assert_eq!(
            config.otlp_http_addr.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:4318")
        );
        let tempo = ServerConfig::from_args(&args(&[
            "--trace-backend",
            "tempo",
            "--trace-backend-url",
            "http://t:3200",
        ]))
        .unwrap();
        assert_eq!(
            (tempo.otlp_grpc_addr, tempo.otlp_http_addr),
            (None, None),
            "no receivers beside a trace store"
        );
        assert_eq!(
            config.otlp_connections,
            orcheo_ingest::connections::ReceiverLimits::default()
        );
        let limits = ServerConfig::from_args(&args(&[
            "--otlp-max-connections",
            "64",
            "--otlp-header-timeout-ms",
            "2000",
            "--otlp-read-timeout-ms",
            "5000",
        ]))
        .unwrap()
        .otlp_connections;
        assert_eq!(
            (
                limits.max_connections,
                limits.header_timeout,
                limits.read_timeout
            ),
            (64, Duration::from_secs(2), Duration::from_secs(5))
        );
        assert!(!config.cors.is_enabled());
        assert_eq!(config.artifact_link_key, None);
        assert_eq!(config.artifact_link_ttl, Duration::from_mins(15));
        assert_eq!(config.auth.claims, crate::auth::ClaimMapping::default());
        assert_eq!(config.auth.claims.read_scopes, ["workflows:read"]);
        let canvas = ServerConfig::from_args(&args(&[
            "--cors-allowed-origins",
            "https://canvas.example.com, http://localhost:5173",
            "--artifact-link-key",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            "--auth-admin-scopes",
            "admin:traces",
        ]))
        .unwrap();
        assert_eq!(canvas.cors.allowed_origins.len(), 2);
        assert_eq!(
            canvas.artifact_link_key.map(|k| k.expose_secret().len()),
            Some(32)
        );
        assert_eq!(canvas.auth.claims.admin_scopes, ["admin:traces"]);
        let off = ServerConfig::from_args(&args(&["--otlp-grpc-addr", "off"])).unwrap();
        assert!(off.otlp_grpc_addr.is_none() && off.otlp_http_addr.is_some());
    }

    #[test]
    fn public_address_without_auth_is_refused_unless_allowed() {
        let e = ServerConfig::from_args(&args(&["--http-addr", "0.0.0.0:8080"])).unwrap_err();
        assert_eq!(e.variable, "ORCHEO_HTTP_ADDR");
        assert!(e.to_string().contains("not a loopback address"), "{e}");
        let ok = ServerConfig::from_args(&args(&[
            "--http-addr",
            "0.0.0.0:8080",
            "--auth-allow-unauthenticated",
            "true",
        ]));
        assert!(ok.is_ok());
        let with_auth = ServerConfig::from_args(&args(&[
            "--http-addr",
            "[::]:8080",
            "--auth-jwt-secret",
            "0123456789abcdef0123456789abcdef",
        ]));
        assert!(with_auth.is_ok());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[&str], &str)] = &[
            (&["--http-addr", "localhost"], "ORCHEO_HTTP_ADDR"),
            (&["--otlp-grpc-addr", "4317"], "ORCHEO_OTLP_GRPC_ADDR"),
            (
                &["--otlp-http-addr", "0.0.0.0:4318"],
                "ORCHEO_OTLP_HTTP_ADDR",
            ),
            (
                &["--otlp-ingest-token", "short"],
                "ORCHEO_OTLP_INGEST_TOKEN",
            ),
            (&["--trace-backend", "zipkin"], "ORCHEO_TRACE_BACKEND"),
            (&["--trace-backend", "tempo"], "ORCHEO_TRACE_BACKEND_URL"),
            (
                &[
                    "--trace-backend",
                    "tempo",
                    "--trace-backend-url",
                    "tempo:3200",
                ],
                "ORCHEO_TRACE_BACKEND_URL",
            ),
            (
                &[
                    "--trace-backend",
                    "tempo",
                    "--trace-backend-url",
                    "http://t",
                    "--trace-backend-headers",
                    "x",
                ],
                "ORCHEO_TRACE_BACKEND_HEADERS",
            ),
            (
                &["--trace-backend-timeout-ms", "0"],
                "ORCHEO_TRACE_BACKEND_TIMEOUT_MS",
            ),
            (
                &["--dashboard-urls", "tempo=https://t/x"],
                "ORCHEO_DASHBOARD_URLS",
            ),
            (&["--auth-jwt-secret", "short"], "ORCHEO_AUTH_JWT_SECRET"),
            (
                &["--auth-tokens-file", "/nonexistent/tokens.json"],
                "ORCHEO_AUTH_TOKENS_FILE",
            ),
            (&["--retention-days=-1"], "ORCHEO_RETENTION_DAYS"),
            (
                &["--otlp-max-connections", "0"],
                "ORCHEO_OTLP_MAX_CONNECTIONS",
            ),
            (
                &["--otlp-header-timeout-ms", "soon"],
                "ORCHEO_OTLP_HEADER_TIMEOUT_MS",
            ),
            (
                &["--otlp-read-timeout-ms", "0"],
                "ORCHEO_OTLP_READ_TIMEOUT_MS",
            ),
            (&["--auth-protect-ops", "maybe"], "ORCHEO_AUTH_PROTECT_OPS"),
            (
                &["--cors-allowed-origins", "https://canvas.example.com/app"],
                "ORCHEO_CORS_ALLOWED_ORIGINS",
            ),
            (
                &["--cors-allowed-origins", "*"],
                "ORCHEO_CORS_ALLOWED_ORIGINS",
            ),
            (&["--artifact-link-key", "abcd"], "ORCHEO_ARTIFACT_LINK_KEY"),
            (
                &["--artifact-link-ttl-seconds", "0"],
                "ORCHEO_ARTIFACT_LINK_TTL_SECONDS",
            ),
            (
                &["--auth-tenant-claims", "orcheo..workspace_ids"],
                "ORCHEO_AUTH_TENANT_CLAIMS",
            ),
            (
                &["--trace-page-max-spans", "0"],
                "ORCHEO_TRACE_PAGE_MAX_SPANS",
            ),
        ];
        for (flags, variable) in cases {
            let e = ServerConfig::from_args(&args(flags)).unwrap_err();
            assert_eq!(e.variable, *variable, "{flags:?}: {e}");
        }
    }

    #[test]
    fn bad_jwks_settings_name_their_variable() {
        let dir = tempfile::tempdir().unwrap();
        let symmetric = dir.path().join("symmetric.json");
        std::fs::write(&symmetric, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
        let not_jwks = dir.path().join("list.json");
        std::fs::write(&not_jwks, "[]").unwrap();
        let symmetric = symmetric.display().to_string();
        let not_jwks = not_jwks.display().to_string();
        let cases: &[(&[&str], &str)] = &[
            (
                &["--auth-jwks-url", "http://idp.example/jwks"],
                "ORCHEO_AUTH_JWKS_URL",
            ),
            (&["--auth-jwks-url", "idp.example"], "ORCHEO_AUTH_JWKS_URL"),
            (
                &["--auth-jwks-file", "/nonexistent/jwks.json"],
                "ORCHEO_AUTH_JWKS_FILE",
            ),
            (&["--auth-jwks-file", &symmetric], "ORCHEO_AUTH_JWKS_FILE"),
            (&["--auth-jwks-file", &not_jwks], "ORCHEO_AUTH_JWKS_FILE"),
            (
                &["--auth-jwks-cache-seconds", "0"],
                "ORCHEO_AUTH_JWKS_CACHE_SECONDS",
            ),
            (
                &["--auth-jwks-refetch-seconds", "soon"],
                "ORCHEO_AUTH_JWKS_REFETCH_SECONDS",
            ),
        ];
        for (flags, variable) in cases {
            let e = ServerConfig::from_args(&args(flags)).unwrap_err();
            assert_eq!(e.variable, *variable, "{flags:?}: {e}");
        }
        let config = ServerConfig::from_args(&args(&[
            "--auth-jwks-url",
            "https://idp.example/.well-known/jwks.json",
            "--auth-jwks-refetch-seconds",
            "0",
        ]))
        .unwrap();
        assert!(config.auth.is_enabled());
        assert_eq!(config.auth.jwks.min_refetch, Duration::ZERO);
        assert_eq!(config.auth.jwks.cache, Duration::from_mins(5));
    }

    /// Logging the options or the configuration (`{:?}`) must not leak a credential.
    #[test]
    fn debug_output_never_shows_secrets() {
        const JWT: &str = "jwt-secret-5f3c9a0e7b1d4c2a8e6f0b9d";
        const INGEST: &str = "ingest-token-8d2e4f6a1c3b";
        const API_KEY: &str = "backend-api-key-7e1a";
        const DB_PASSWORD: &str = "db-passw0rd-4c1e";
        const LINK_KEY: &str = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc";
        let flags = [
            "--trace-backend",
            "tempo",
            "--trace-backend-url",
            "http://tempo:3200",
            "--trace-backend-headers",
            &format!("X-Scope-OrgID=acme,Authorization=Bearer%20{API_KEY}"),
            "--auth-jwt-secret",
            JWT,
            "--otlp-ingest-token",
            INGEST,
            "--artifact-link-key",
            LINK_KEY,
            "--database-url",
            &format!("postgres://trace:{DB_PASSWORD}@db:5432/trace"),
        ];
        let args = args(&flags);
        let config = ServerConfig::from_args(&args).unwrap();
        let TraceBackend::Remote(client) = &config.backend else {
            panic!("a Tempo backend");
        };
        assert_eq!(
            client.headers[1].1.expose_secret(),
            &format!("Bearer {API_KEY}"),
            "the configured values are still there, %20 decoded"
        );
        let key = config.artifact_link_key.as_ref().unwrap().expose_secret();
        let key_as_debug = format!("{key:?}");
        let key_bytes = &key_as_debug[1..key_as_debug.len() - 1];
        let config_printed = format!("{config:?}");
        assert!(
            config_printed.contains("X-Scope-OrgID"),
            "header names still show: {config_printed}"
        );
        for printed in [
            format!("{args:?}"),
            format!("{args:#?}"),
            config_printed,
            format!("{config:#?}"),
        ] {
            for secret in [JWT, INGEST, API_KEY, DB_PASSWORD, LINK_KEY, key_bytes] {
                assert!(!printed.contains(secret), "{secret} in {printed}");
            }
        }
    }

    #[test]
    fn settings_follow_the_workspace_rules() {
        let on = ServerConfig::from_args(&args(&[
            "--auth-protect-ops",
            "YES",
            "--redact",
            "off",
            "--auth-allow-unauthenticated",
            " On ",
        ]))
        .unwrap();
        assert!(on.auth.protect_ops && on.allow_unauthenticated && on.redaction.is_none());
        let blank = ServerConfig::from_args(&args(&["--redact", " "])).unwrap();
        assert!(blank.redaction.is_some(), "blank is the default, on");
        let e = ServerConfig::from_args(&args(&["--redact", "enabled"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ORCHEO_REDACT (--redact): \"enabled\": expected true or false (also 1/0, yes/no, \
             on/off)"
        );
        let e = ServerConfig::from_args(&args(&["--trace-page-max-spans", "0"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ORCHEO_TRACE_PAGE_MAX_SPANS (--trace-page-max-spans): \"0\": expected a whole \
             number from 1 to 100000"
        );
        let e = ServerConfig::from_args(&args(&["--http-request-timeout-ms", "50"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ORCHEO_HTTP_REQUEST_TIMEOUT_MS (--http-request-timeout-ms): \"50\": expected a \
             whole number of milliseconds from 100 to 600000"
        );
        let e = ServerConfig::from_args(&args(&[
            "--trace-backend",
            "tempo",
            "--trace-backend-url",
            "http://t",
            "--trace-backend-headers",
            "Authorization=s3cr3t%zz",
        ]))
        .unwrap_err();
        assert_eq!(e.variable, "ORCHEO_TRACE_BACKEND_HEADERS");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }

    #[test]
    fn the_trace_cache_is_bounded_in_bytes() {
        let config = ServerConfig::from_args(&args(&[])).unwrap();
        assert_eq!(config.cache_bytes, 256 * 1024 * 1024);
        let off = ServerConfig::from_args(&args(&["--trace-cache-bytes", "0"])).unwrap();
        assert_eq!(off.cache_bytes, 0);
        let error = ServerConfig::from_args(&args(&["--trace-cache-bytes", "lots"])).unwrap_err();
        assert_eq!(error.variable, "ORCHEO_TRACE_CACHE_BYTES");
        assert_eq!(
            config.trace_cache().late_spans,
            orcheo_trace_service::LateSpans::Invalidated
        );
        let tempo = ServerConfig::from_args(&args(&[
            "--trace-backend",
            "tempo",
            "--trace-backend-url",
            "http://t:3200",
        ]))
        .unwrap();
        assert_eq!(
            tempo.trace_cache().late_spans,
            orcheo_trace_service::LateSpans::Expire,
            "nothing tells the cache of late spans in Tempo"
        );
    }

    #[test]
    fn the_removed_entry_count_stops_the_server_naming_its_replacement() {
        let error = ServerConfig::from_args(&args(&["--trace-cache-entries", "256"])).unwrap_err();
        assert_eq!(error.variable, "ORCHEO_TRACE_CACHE_ENTRIES");
        assert!(
            error.to_string().contains("ORCHEO_TRACE_CACHE_BYTES"),
            "{error}"
        );
    }

    /// Every variable `serve` reads is documented in `docs/configuration.md`.
    #[test]
    fn every_variable_is_documented() {
        use clap::CommandFactory as _;
        let docs = include_str!("../../../docs/configuration.md");
        let command = Cli::command();
        let mut seen = 0;
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                let name = env.to_string_lossy();
                assert!(
                    docs.contains(&format!("| `{name}` |")),
                    "{name} is read but not in docs/configuration.md"
                );
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} variables found");
    }

    #[test]
    fn dashboards_parse_in_order() {
        let d = parse_dashboards(
            "tempo=https://grafana/explore?traceId={trace_id}, jaeger=http://jaeger:16686/trace/{trace_id}",
        )
        .unwrap();
        assert_eq!(d[0].0, "tempo");
        assert_eq!(d[1].1, "http://jaeger:16686/trace/{trace_id}");
    }
}
