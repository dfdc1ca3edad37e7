//! [`TracingConfig`]: the environment listed in docs/configuration.md ("Instrumentation"),
//! Orcheo's names first and the standard OpenTelemetry names as fallback; also constructible in code. A bad value is an error that
//! names the variable, the value and what was expected.

use std::time::Duration;

use orcheo_settings::{Headers, boolean, first_set, headers, integer_of, list_split};

/// Where spans go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    /// Nowhere; trace ids are still real, so executions always get one.
    None,
    /// Standard output, for development.
    Console,
    /// An OTLP collector.
    Otlp,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    /// The collector's default endpoint for this protocol.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Self::Grpc => "http://localhost:4317",
            Self::HttpProtobuf => "http://localhost:4318/v1/traces",
        }
    }
}

/// The instrumentation's settings.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent switches, one per documented variable"
)]
pub struct TracingConfig {
    /// `OTEL_SDK_DISABLED=true`: no tracing at all.
    pub disabled: bool,
    pub exporter: Exporter,
    pub protocol: Protocol,
    /// The full traces endpoint (for HTTP, including `/v1/traces`).
    pub endpoint: String,
    /// Sent with every export; the values may carry an API key.
    pub headers: Headers,
    pub service_name: String,
    /// 0..=1, parent-based trace-id ratio.
    pub sample_ratio: f64,
    /// Plaintext / no certificate checks, for local collectors.
    pub insecure: bool,
    /// Tokens above which a `token.chunk` event is emitted.
    pub high_token_threshold: u64,
    /// Characters kept of each prompt, response and error (at least 16).
    pub preview_max_length: usize,
    /// `false`: no prompt, response or message text leaves the process (sizes still do).
    pub capture_content: bool,
    /// Extra redaction patterns (regular expressions).
    pub redact_patterns: Vec<String>,
    /// A collector that cannot be reached at start-up is an error, not a warning.
    pub required: bool,
    /// Limit of one export.
    pub export_timeout: Duration,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            disabled: false,
            exporter: Exporter::None,
            protocol: Protocol::HttpProtobuf,
            endpoint: Protocol::HttpProtobuf.default_endpoint().to_owned(),
            headers: Vec::new(),
            service_name: "orcheo-backend".to_owned(),
            sample_ratio: 1.0,
            insecure: false,
            high_token_threshold: 1000,
            preview_max_length: 512,
            capture_content: true,
            redact_patterns: Vec::new(),
            required: false,
            export_timeout: Duration::from_secs(10),
        }
    }
}

/// A variable whose value cannot be used: the workspace's one error for settings.
pub use orcheo_settings::SettingError as ConfigError;

impl TracingConfig {
    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// From any variable lookup (tests pass a map).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        if let Some((name, v)) = first_set(lookup, &["OTEL_SDK_DISABLED"]) {
            c.disabled = boolean(name, &v)?;
        }
        if let Some((name, v)) = first_set(lookup, &["ORCHEO_TRACING_REQUIRED"]) {
            c.required = boolean(name, &v)?;
        }
        if let Some((_, v)) = first_set(
            lookup,
            &["ORCHEO_TRACING_SERVICE_NAME", "OTEL_SERVICE_NAME"],
        ) {
            c.service_name = v;
        }
        if let Some((name, v)) = first_set(lookup, &["ORCHEO_TRACING_SAMPLE_RATIO"]) {
            c.sample_ratio = v
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| ConfigError::new(name, &v, "a number from 0 to 1"))?;
        }
        c.export_settings(lookup)?;
        c.content_settings(lookup)?;
        Ok(c)
    }

    /// Where and how spans are exported.
    fn export_settings(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some((name, v)) = first_set(lookup, &["ORCHEO_TRACING_EXPORTER"]) {
            self.exporter = match v.to_ascii_lowercase().as_str() {
                "none" => Exporter::None,
                "console" => Exporter::Console,
                "otlp" => Exporter::Otlp,
                _ => {
                    return Err(ConfigError::new(name, &v, "none, console or otlp"));
                }
            };
        }
        if let Some((name, v)) = first_set(
            lookup,
            &["ORCHEO_TRACING_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"],
        ) {
            self.protocol = match v.as_str() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" => Protocol::HttpProtobuf,
                _ => {
                    return Err(ConfigError::new(name, &v, "grpc or http/protobuf"));
                }
            };
        }
        // Orcheo's endpoint and the signal-specific standard one are used as given; the generic
        // standard one is a base, to which HTTP appends the traces path (as the specification says).
        self.endpoint = match first_set(
            lookup,
            &[
                "ORCHEO_TRACING_ENDPOINT",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ],
        ) {
            Some((name, v)) => check_url(name, v)?,
            None => match first_set(lookup, &["OTEL_EXPORTER_OTLP_ENDPOINT"]) {
                Some((name, v)) => {
                    let base = check_url(name, v)?;
                    match self.protocol {
                        Protocol::Grpc => base,
                        Protocol::HttpProtobuf => {
                            format!("{}/v1/traces", base.trim_end_matches('/'))
                        }
                    }
                }
                None => self.protocol.default_endpoint().to_owned(),
            },
        };
        if let Some((name, v)) = first_set(
            lookup,
            &["ORCHEO_TRACING_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"],
        ) {
            self.headers = headers(name, &v)?;
        }
        if let Some((name, v)) = first_set(
            lookup,
            &["ORCHEO_TRACING_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"],
        ) {
            self.insecure = boolean(name, &v)?;
        }
        if let Some((name, v)) = first_set(
            lookup,
            &[
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ],
        ) {
            self.export_timeout = orcheo_settings::millis(name, &v, 1..=u64::MAX)?;
        }
        Ok(())
    }

    /// What is kept of prompts, responses and token counts.
    fn content_settings(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some((name, v)) = first_set(lookup, &["ORCHEO_TRACING_HIGH_TOKEN_THRESHOLD"]) {
            self.high_token_threshold = integer_of(name, &v, 0..=u64::MAX, "tokens")?;
        }
        if let Some((name, v)) = first_set(lookup, &["ORCHEO_TRACING_PREVIEW_MAX_LENGTH"]) {
            self.preview_max_length = integer_of(name, &v, 16..=u64::MAX, "characters")? as usize;
        }
        if let Some((name, v)) = first_set(lookup, &["ORCHEO_TRACING_CAPTURE_CONTENT"]) {
            self.capture_content = boolean(name, &v)?;
        }
        if let Some((_, v)) = first_set(lookup, &["ORCHEO_TRACING_REDACT_PATTERNS"]) {
            self.redact_patterns = list_split(&v, &[';']);
        }
        Ok(())
    }
}

fn check_url(variable: &'static str, value: String) -> Result<String, ConfigError> {
    let ok = ["http://", "https://"].iter().any(|scheme| {
        value
            .strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
    });
    if ok {
        Ok(value)
    } else {
        Err(ConfigError::new(
            variable,
            &value,
            "an http:// or https:// URL",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<TracingConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TracingConfig::from_lookup(&|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_without_any_variable() {
        assert_eq!(config(&[]).unwrap(), TracingConfig::default());
        assert_eq!(TracingConfig::default().exporter, Exporter::None);
    }

    #[test]
    fn orcheo_names_win_over_standard_ones() {
        let c = config(&[
            ("ORCHEO_TRACING_EXPORTER", "OTLP"),
            ("ORCHEO_TRACING_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("ORCHEO_TRACING_SERVICE_NAME", "executor"),
            ("OTEL_SERVICE_NAME", "other"),
            ("ORCHEO_TRACING_HEADERS", "x-api-key=a%3Db, tenant=acme"),
            ("ORCHEO_TRACING_SAMPLE_RATIO", "0.25"),
            ("ORCHEO_TRACING_PREVIEW_MAX_LENGTH", "16"),
            ("ORCHEO_TRACING_CAPTURE_CONTENT", "false"),
            ("ORCHEO_TRACING_REDACT_PATTERNS", r"EMP-\d+; ;acct=\w+"),
        ])
        .unwrap();
        assert_eq!((c.exporter, c.protocol), (Exporter::Otlp, Protocol::Grpc));
        assert_eq!(c.endpoint, "http://localhost:4317");
        assert_eq!(c.service_name, "executor");
        let headers: Vec<(&str, &str)> = c
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret().as_str()))
            .collect();
        assert_eq!(headers, [("x-api-key", "a=b"), ("tenant", "acme")]);
        assert!((c.sample_ratio - 0.25).abs() < f64::EPSILON);
        assert_eq!(c.preview_max_length, 16);
        assert!(!c.capture_content);
        assert_eq!(
            c.redact_patterns,
            vec![r"EMP-\d+".to_owned(), r"acct=\w+".to_owned()]
        );
    }

    #[test]
    fn standard_endpoints_follow_the_specification() {
        let base = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert_eq!(base.endpoint, "http://collector:4318/v1/traces");
        let grpc = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
        ])
        .unwrap();
        assert_eq!(grpc.endpoint, "http://c:4317");
        let exact = config(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored"),
        ])
        .unwrap();
        assert_eq!(exact.endpoint, "https://c/custom");
        assert!(config(&[("OTEL_SDK_DISABLED", "true")]).unwrap().disabled);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        const BOOLEAN: &str = "true or false (also 1/0, yes/no, on/off)";
        for (variable, value, expected) in [
            ("ORCHEO_TRACING_EXPORTER", "jaeger", "none, console or otlp"),
            (
                "ORCHEO_TRACING_PROTOCOL",
                "http/json",
                "grpc or http/protobuf",
            ),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "thrift",
                "grpc or http/protobuf",
            ),
            (
                "ORCHEO_TRACING_ENDPOINT",
                "collector:4318",
                "an http:// or https:// URL",
            ),
            ("ORCHEO_TRACING_SAMPLE_RATIO", "1.5", "a number from 0 to 1"),
            ("ORCHEO_TRACING_SAMPLE_RATIO", "NaN", "a number from 0 to 1"),
            ("ORCHEO_TRACING_INSECURE", "maybe", BOOLEAN),
            (
                "ORCHEO_TRACING_HIGH_TOKEN_THRESHOLD",
                "-1",
                "a whole number of tokens",
            ),
            (
                "ORCHEO_TRACING_PREVIEW_MAX_LENGTH",
                "15",
                "a whole number of characters, at least 16",
            ),
            ("ORCHEO_TRACING_CAPTURE_CONTENT", "nope", BOOLEAN),
            ("ORCHEO_TRACING_REQUIRED", "2", BOOLEAN),
            ("OTEL_SDK_DISABLED", "disabled", BOOLEAN),
            (
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "0",
                "a whole number of milliseconds, at least 1",
            ),
        ] {
            let err = config(&[(variable, value)]).unwrap_err();
            assert_eq!(
                err,
                ConfigError::new(variable, value, expected),
                "{variable}"
            );
            assert!(
                err.to_string().starts_with(&format!("{variable}=")),
                "{err}"
            );
        }
    }

    /// Header values may be API keys: a bad list names the variable, never the value.
    #[test]
    fn bad_headers_name_their_variable_but_not_the_value() {
        for (variable, value) in [
            ("ORCHEO_TRACING_HEADERS", "s3cr3t-key"),
            ("ORCHEO_TRACING_HEADERS", "k=s3cr3t%zz"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr3t%0A"),
        ] {
            let err = config(&[(variable, value)]).unwrap_err();
            assert_eq!((err.variable, err.value.as_deref()), (variable, None));
            assert!(
                err.to_string()
                    .starts_with(&format!("{variable}: expected")),
                "{err}"
            );
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
        }
    }

    #[test]
    fn debug_output_never_shows_header_values() {
        let c = config(&[
            ("ORCHEO_TRACING_EXPORTER", "otlp"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=sk-live-0123456789,authorization=Bearer%20tok-9876543210",
            ),
        ])
        .unwrap();
        for printed in [format!("{c:?}"), format!("{c:#?}")] {
            assert!(printed.contains("x-api-key"), "{printed}");
            for secret in ["sk-live-0123456789", "tok-9876543210"] {
                assert!(!printed.contains(secret), "{printed}");
            }
        }
        assert_eq!(
            c.headers[1].1.expose_secret(),
            "Bearer tok-9876543210",
            "%20 is decoded"
        );
    }
}

#[cfg(test)]
mod docs {
    /// Every variable this module reads is documented in `docs/configuration.md`.
    #[test]
    fn every_variable_is_documented() {
        let code = include_str!("config.rs");
        let docs = include_str!("../../../docs/configuration.md");
        let mut names: Vec<&str> = code
            .split('"')
            .filter(|s| {
                (s.starts_with("ORCHEO_TRACING_") || s.starts_with("OTEL_"))
                    && !s.ends_with('_')
                    && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 15, "{names:?}");
        for name in names {
            assert!(
                docs.contains(&format!("`{name}`")),
                "{name} is read but not in docs/configuration.md"
            );
        }
    }
}
