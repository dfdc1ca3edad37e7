//! Typed configuration with its defaults and validation. The server composes it from its own
//! settings (env vars, flags); nothing here reads the environment.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use orcheo_settings::Headers;

use crate::breaker::BreakerConfig;

/// Which trace store, and which of its APIs, to read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Grafana Tempo: `/api/v2/traces/{id}`, falling back to `/api/traces/{id}`.
    Tempo,
    /// Jaeger's query JSON `/api/traces/{id}`.
    JaegerV1,
    /// Jaeger's API v3 over HTTP: `/api/v3/traces/{id}`.
    JaegerV3,
    /// Jaeger's API v3 over gRPC: `jaeger.api_v3.QueryService/GetTrace`.
    JaegerGrpc,
}

impl BackendKind {
    /// The configuration name, also the `backend` metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tempo => "tempo",
            Self::JaegerV1 => "jaeger-v1",
            Self::JaegerV3 => "jaeger",
            Self::JaegerGrpc => "jaeger-grpc",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tempo" => Ok(Self::Tempo),
            "jaeger" | "jaeger-v3" => Ok(Self::JaegerV3),
            "jaeger-v1" => Ok(Self::JaegerV1),
            "jaeger-grpc" => Ok(Self::JaegerGrpc),
            other => Err(ConfigError::UnknownBackend(other.to_owned())),
        }
    }
}

/// Retries of one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1: no retry).
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Randomize each delay (avoids retry storms from many replicas).
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            jitter: true,
        }
    }
}

/// TLS towards the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Accept any certificate (local stores with self-signed certificates only).
    pub insecure_skip_verify: bool,
    /// An extra root certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
}

/// Everything the client needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub backend: BackendKind,
    /// `http://host:port` or `https://…`, with an optional path prefix.
    pub base_url: String,
    /// Sent with every request: a tenant (`X-Scope-OrgID`), an API key…; the values never
    /// show in `Debug` output.
    pub headers: Headers,
    /// Limit of one attempt.
    pub attempt_timeout: Duration,
    /// Limit of the whole fetch, retries and waits included.
    pub overall_timeout: Duration,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub tls: TlsConfig,
    /// Larger answers are refused rather than read into memory.
    pub max_body_bytes: usize,
    /// Jaeger services searched by attribute; empty: those the store names (at most
    /// [`crate::backends::jaeger_http::MAX_SEARCHED_SERVICES`]).
    pub search_services: Vec<String>,
}

impl ClientConfig {
    /// The defaults for a backend at a URL.
    pub fn new(backend: BackendKind, base_url: impl Into<String>) -> Self {
        Self {
            backend,
            base_url: base_url.into(),
            headers: Vec::new(),
            attempt_timeout: Duration::from_secs(5),
            overall_timeout: Duration::from_secs(10),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            tls: TlsConfig::default(),
            max_body_bytes: 64 * 1024 * 1024,
            search_services: Vec::new(),
        }
    }

    /// Checks the values that can be checked without the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.base_url.trim_end_matches('/');
        let Some(rest) = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
        else {
            return Err(ConfigError::BadUrl(self.base_url.clone()));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(ConfigError::BadUrl(self.base_url.clone()));
        }
        for (name, value) in &self.headers {
            let bad_name = name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            let bad_value = value
                .expose_secret()
                .bytes()
                .any(|b| b < 0x20 && b != b'\t' || b == 0x7f);
            if bad_name || bad_value {
                return Err(ConfigError::BadHeader(name.clone()));
            }
        }
        if self.attempt_timeout.is_zero() || self.overall_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        if !(0.0..=1.0).contains(&self.breaker.failure_ratio) || self.breaker.window == 0 {
            return Err(ConfigError::BadBreaker);
        }
        Ok(())
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown trace backend {0:?}; expected tempo, jaeger, jaeger-v1 or jaeger-grpc")]
    UnknownBackend(String),
    #[error("trace backend URL {0:?} must be http://host[:port][/path] or https://…")]
    BadUrl(String),
    #[error("trace backend header {0:?} is not a valid name=value header")]
    BadHeader(String),
    #[error("trace backend timeouts must be greater than zero")]
    ZeroTimeout,
    #[error("trace backend retries need at least one attempt")]
    ZeroAttempts,
    #[error("circuit breaker failure ratio must be within 0..=1 and its window non-empty")]
    BadBreaker,
    #[error("cannot read the trace backend CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

#[cfg(test)]
mod tests {
    use orcheo_settings::Secret;

    use super::*;

    #[test]
    fn debug_output_never_shows_header_values() {
        let mut c = ClientConfig::new(BackendKind::Tempo, "http://tempo:3200");
        c.headers = vec![
            ("X-Scope-OrgID".into(), Secret::new("acme".into())),
            (
                "Authorization".into(),
                Secret::new("Basic c2stbGl2ZS0wMTIz".into()),
            ),
        ];
        assert_eq!(c.validate(), Ok(()));
        let printed = format!("{c:?}");
        assert!(printed.contains("Authorization"), "{printed}");
        assert!(!printed.contains("c2stbGl2ZS0wMTIz"), "{printed}");
    }

    #[test]
    fn validation_catches_what_cannot_work() {
        let ok = ClientConfig::new(BackendKind::Tempo, "http://tempo:3200");
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.base_url = "tempo:3200".into();
        assert!(matches!(c.validate(), Err(ConfigError::BadUrl(_))));
        let mut c = ok.clone();
        c.headers = vec![("Bad Name".into(), Secret::new("x".into()))];
        assert!(matches!(c.validate(), Err(ConfigError::BadHeader(_))));
        let mut c = ok.clone();
        c.headers = vec![("X-Ok".into(), Secret::new("a\r\nX-Evil: 1".into()))];
        assert!(matches!(c.validate(), Err(ConfigError::BadHeader(_))));
        let mut c = ok.clone();
        c.retry.max_attempts = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroAttempts));
        assert!("zipkin".parse::<BackendKind>().is_err());
        assert_eq!("jaeger".parse::<BackendKind>(), Ok(BackendKind::JaegerV3));
    }
}
