//! What the HTTP backends share: one `reqwest` client with the configured headers and TLS, GET
//! with a capped body, and the mapping of transport failures and status codes to [`FetchError`].

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use crate::config::{ClientConfig, ConfigError};
use crate::error::{FetchError, UnavailableReason};

/// An answer with a success or not-found status, its body read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

/// A configured HTTP client for one store.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    max_body_bytes: usize,
}

impl Http {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        super::install_crypto_provider();
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::BadHeader(name.clone()))?;
            let mut value = HeaderValue::from_str(value.expose_secret())
                .map_err(|_| ConfigError::BadHeader(name.to_string()))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.attempt_timeout.min(Duration::from_secs(5)))
            // Retries are ours, counted and bounded; reqwest's own would hide attempts.
            .retry(reqwest::retry::never())
            .tls_danger_accept_invalid_certs(config.tls.insecure_skip_verify);
        if let Some(path) = &config.tls.ca_file {
            let pem = std::fs::read(path).map_err(|e| ConfigError::CaFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ConfigError::CaFile {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self {
            client,
            base: config.base_url.trim_end_matches('/').to_owned(),
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// GETs `path` (with its query). 2xx and 404 come back as an [`Answer`]; everything else is
    /// the matching [`FetchError`].
    pub(crate) async fn get(&self, path: &str, accept: &str) -> Result<Answer, FetchError> {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .client
            .get(&url)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let stated = response.content_length().unwrap_or(0);
        if stated > self.max_body_bytes as u64 {
            return Err(too_large(self.max_body_bytes));
        }
        // Sized from the stated length (within the cap, checked above), so a large trace is not
        // copied as the buffer doubles.
        let mut body = Vec::with_capacity(usize::try_from(stated).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        match status {
            200..=299 | 404 => Ok(Answer {
                status,
                content_type,
                body,
            }),
            401 | 403 => Err(FetchError::Unauthorized { status }),
            429 => Err(FetchError::Unavailable {
                reason: UnavailableReason::RateLimited,
                retry_after,
                detail: format!("{url} answered 429: {}", snippet(&body)),
            }),
            500..=599 => Err(FetchError::Unavailable {
                reason: UnavailableReason::ServerError,
                retry_after,
                detail: format!("{url} answered {status}: {}", snippet(&body)),
            }),
            _ => Err(FetchError::bad(format!(
                "{url} answered {status}: {}",
                snippet(&body)
            ))),
        }
    }
}

fn too_large(limit: usize) -> FetchError {
    FetchError::bad(format!("the answer is larger than the {limit}-byte limit"))
}

fn transport_error(error: &reqwest::Error) -> FetchError {
    let reason = if error.is_timeout() {
        UnavailableReason::Timeout
    } else {
        UnavailableReason::Connect
    };
    // The whole chain: reqwest's own message rarely says what happened underneath.
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    FetchError::unavailable(reason, detail)
}

/// The start of a body, for error messages: at most 200 characters, one line.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(800)]);
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        line = line.chars().take(199).collect::<String>() + "…";
    }
    if line.is_empty() {
        "(empty body)".to_owned()
    } else {
        line
    }
}

/// Bodies up to this size are decoded where they arrive: handing them to the blocking pool would
/// cost more than decoding them.
const DECODE_INLINE_BYTES: usize = 64 * 1024;

/// Decodes a payload with the span-tree decoders; an undecodable one is a bad response. A body
/// over [`DECODE_INLINE_BYTES`] (up to `max_body_bytes`, 64 MiB by default) is decoded on the
/// blocking pool, so a large trace never holds an async worker.
pub(crate) async fn decode(
    body: Vec<u8>,
    format: orcheo_span_tree::Format,
) -> Result<orcheo_span_tree::Decoded, FetchError> {
    let inline = body.len() <= DECODE_INLINE_BYTES;
    let decode =
        move || orcheo_span_tree::decode(&body, format).map_err(|e| FetchError::bad(e.to_string()));
    if inline {
        return decode();
    }
    tokio::task::spawn_blocking(decode)
        .await
        .map_err(|e| FetchError::bad(format!("the decoder failed: {e}")))?
}
