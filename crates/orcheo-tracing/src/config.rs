//! [`TracingConfig`]: the environment listed in docs/configuration.md ("Instrumentation"),
//! Orcheo's names first and the standard OpenTelemetry names as fallback; also constructible in code. A bad value is an error that
//! names the variable, the value and what was expected.

use std::time::Duration;

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
    pub headers: Vec<(String, String)>,
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

/// A variable whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?}: expected {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The first variable of `names` that is set (and not blank), with its name.
fn first(
    lookup: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<(&'static str, String)> {
    names.iter().find_map(|&name| {
        lookup(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v.trim().to_owned()))
    })
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            variable,
            value: value.to_owned(),
            expected: "true or false",
        }),
    }
}

/// `k=v,k2=v2`; values may contain `=`, and are percent-decoded as the OTLP specification says.
fn parse_headers(
    variable: &'static str,
    value: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let bad = || ConfigError {
        variable,
        value: value.to_owned(),
        expected: "comma-separated key=value pairs",
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(bad)?;
            let k = k.trim();
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(bad());
            }
            Ok((k.to_owned(), percent_decode(v.trim()).ok_or_else(bad)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl TracingConfig {
    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// From any variable lookup (tests pass a map).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        if let Some((name, v)) = first(lookup, &["OTEL_SDK_DISABLED"]) {
            c.disabled = parse_bool(name, &v)?;
        }
        if let Some((name, v)) = first(lookup, &["ORCHEO_TRACING_REQUIRED"]) {
            c.required = parse_bool(name, &v)?;
        }
        if let Some((_, v)) = first(
            lookup,
            &["ORCHEO_TRACING_SERVICE_NAME", "OTEL_SERVICE_NAME"],
        ) {
            c.service_name = v;
        }
        if let Some((name, v)) = first(lookup, &["ORCHEO_TRACING_SAMPLE_RATIO"]) {
            c.sample_ratio = v
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or(ConfigError {
                    variable: name,
                    value: v,
                    expected: "a number from 0 to 1",
                })?;
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
        if let Some((name, v)) = first(lookup, &["ORCHEO_TRACING_EXPORTER"]) {
            self.exporter = match v.to_ascii_lowercase().as_str() {
                "none" => Exporter::None,
                "console" => Exporter::Console,
                "otlp" => Exporter::Otlp,
                _ => {
                    return Err(ConfigError {
                        variable: name,
                        value: v,
                        expected: "none, console or otlp",
                    });
                }
            };
        }
        if let Some((name, v)) = first(
            lookup,
            &["ORCHEO_TRACING_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"],
        ) {
            self.protocol = match v.as_str() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" => Protocol::HttpProtobuf,
                _ => {
                    return Err(ConfigError {
                        variable: name,
                        value: v,
                        expected: "grpc or http/protobuf",
                    });
                }
            };
        }
        // Orcheo's endpoint and the signal-specific standard one are used as given; the generic
        // standard one is a base, to which HTTP appends the traces path (as the specification says).
        self.endpoint = match first(
            lookup,
            &[
                "ORCHEO_TRACING_ENDPOINT",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ],
        ) {
            Some((name, v)) => check_url(name, v)?,
            None => match first(lookup, &["OTEL_EXPORTER_OTLP_ENDPOINT"]) {
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
        if let Some((name, v)) = first(
            lookup,
            &["ORCHEO_TRACING_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"],
        ) {
            self.headers = parse_headers(name, &v)?;
        }
        if let Some((name, v)) = first(
            lookup,
            &["ORCHEO_TRACING_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"],
        ) {
            self.insecure = parse_bool(name, &v)?;
        }
        if let Some((name, v)) = first(
            lookup,
            &[
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ],
        ) {
            let ms: u64 = v.parse().ok().filter(|ms| *ms > 0).ok_or(ConfigError {
                variable: name,
                value: v,
                expected: "a positive number of milliseconds",
            })?;
            self.export_timeout = Duration::from_millis(ms);
        }
        Ok(())
    }

    /// What is kept of prompts, responses and token counts.
    fn content_settings(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some((name, v)) = first(lookup, &["ORCHEO_TRACING_HIGH_TOKEN_THRESHOLD"]) {
            self.high_token_threshold = v.parse().map_err(|_| ConfigError {
                variable: name,
                value: v,
                expected: "a whole number of tokens",
            })?;
        }
        if let Some((name, v)) = first(lookup, &["ORCHEO_TRACING_PREVIEW_MAX_LENGTH"]) {
            self.preview_max_length =
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 16)
                    .ok_or(ConfigError {
                        variable: name,
                        value: v,
                        expected: "a whole number of characters, at least 16",
                    })?;
        }
        if let Some((name, v)) = first(lookup, &["ORCHEO_TRACING_CAPTURE_CONTENT"]) {
            self.capture_content = parse_bool(name, &v)?;
        }
        if let Some((_, v)) = first(lookup, &["ORCHEO_TRACING_REDACT_PATTERNS"]) {
            self.redact_patterns = v
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
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
        Err(ConfigError {
            variable,
            value,
            expected: "an http:// or https:// URL",
        })
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
        assert_eq!(
            c.headers,
            vec![
                ("x-api-key".into(), "a=b".into()),
                ("tenant".into(), "acme".into())
            ]
        );
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
            (
                "ORCHEO_TRACING_HEADERS",
                "novalue",
                "comma-separated key=value pairs",
            ),
            (
                "ORCHEO_TRACING_HEADERS",
                "k=%zz",
                "comma-separated key=value pairs",
            ),
            ("ORCHEO_TRACING_SAMPLE_RATIO", "1.5", "a number from 0 to 1"),
            ("ORCHEO_TRACING_SAMPLE_RATIO", "NaN", "a number from 0 to 1"),
            ("ORCHEO_TRACING_INSECURE", "maybe", "true or false"),
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
            ("ORCHEO_TRACING_CAPTURE_CONTENT", "nope", "true or false"),
            ("ORCHEO_TRACING_REQUIRED", "2", "true or false"),
            ("OTEL_SDK_DISABLED", "disabled", "true or false"),
            (
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "0",
                "a positive number of milliseconds",
            ),
        ] {
            let err = config(&[(variable, value)]).unwrap_err();
            assert_eq!(
                err,
                ConfigError {
                    variable,
                    value: value.to_owned(),
                    expected
                },
                "{variable}"
            );
            assert!(
                err.to_string().starts_with(&format!("{variable}=")),
                "{err}"
            );
        }
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
