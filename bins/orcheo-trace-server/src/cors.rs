//! Cross-origin requests (CORS) from the origins the operator lists, such as Canvas's.
//!
//! With no origin configured nothing here adds a header: the browser's same-origin rule stands.
//! With some, a request whose `Origin` is listed gets `Access-Control-Allow-Origin` echoing it
//! (never `*`, never credentials: callers send bearer tokens, not cookies) and the headers a
//! client reads exposed; a preflight (`OPTIONS` with `Access-Control-Request-Method`) from a
//! listed origin is answered 204 here, before authentication, since a browser never sends a
//! token with a preflight. Any other origin gets no CORS header at all, so the browser keeps
//! the answer from the page. Every answer carries `Vary: Origin`, so a cache never serves one
//! origin's answer to another.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

/// Methods the API answers.
const ALLOW_METHODS: &str = "GET, HEAD, OPTIONS";
/// Request headers a page may send.
const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Accept, Cache-Control, Pragma, If-None-Match, X-Request-Id";
/// Answer headers a page may read (besides the always-readable ones).
const EXPOSE_HEADERS: &str =
    "ETag, Last-Modified, Retry-After, Content-Disposition, Content-Length, X-Request-Id";
/// How long a browser may reuse a preflight's answer, in seconds.
pub const MAX_AGE_SECONDS: u32 = 600;

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfig {
    /// Serialized as browsers send them: `scheme://host[:port]`, lowercase, default port left out.
    pub allowed_origins: Vec<String>,
}

impl CorsConfig {
    /// Reads a comma-separated list of origins (`https://canvas.example.com,http://localhost:5173`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let allowed_origins = orcheo_settings::list(text)
            .iter()
            .map(|origin| normalize_origin(origin))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed_origins })
    }

    pub fn is_enabled(&self) -> bool {
        !self.allowed_origins.is_empty()
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.allowed_origins.contains(&origin)
    }
}

/// `scheme://host[:port]` as a browser serializes it, or why the text is not an origin.
fn normalize_origin(text: &str) -> Result<String, String> {
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not an origin like https://canvas.example.com or http://localhost:5173: \
             {why}"
        ))
    };
    if text == "*" || text.eq_ignore_ascii_case("null") {
        return bad("list each origin; `*` and `null` are not accepted");
    }
    let lower = text.to_ascii_lowercase();
    let Some((scheme @ ("http" | "https"), rest)) = lower.split_once("://") else {
        return bad("the scheme must be http or https");
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return bad("no host");
    }
    if rest.contains(['/', '?', '#', '@', ' ', '\\']) {
        return bad("an origin has no path, query, fragment or user");
    }
    // `host`, `host:port`, `[v6]` or `[v6]:port`.
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !host_ok {
        return bad("the host is not a name or an address");
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return bad("the port is not a number from 1 to 65535"),
        },
    };
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok(match port {
        Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn set_allow_origin(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
}

fn add_vary_origin(headers: &mut HeaderMap) {
    let already = headers.get_all(header::VARY).any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("origin"))
        })
    });
    if !already {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The middleware: answers preflights from allowed origins, marks other answers.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let config = req.app_data::<web::Data<CorsConfig>>().cloned();
    let Some(config) = config.filter(|c| c.is_enabled()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| config.allows(o)))
        .cloned();
    let is_preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if let (Some(origin), true) = (&origin, is_preflight) {
        let mut answer = HttpResponse::NoContent().finish();
        let headers = answer.headers_mut();
        set_allow_origin(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(MAX_AGE_SECONDS),
        );
        add_vary_origin(headers);
        return Ok(req.into_response(answer));
    }
    // Handlers' errors arrive here as answers (the envelope), so they get the headers too and a
    // page can read why it was refused. (The request is not cloned to keep one for an `Err`:
    // routing needs it unshared.)
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    if let Some(origin) = &origin {
        set_allow_origin(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    add_vary_origin(headers);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_as_browsers_send_them() {
        let c = CorsConfig::parse(
            " https://Canvas.Example.com/ , http://localhost:5173,https://a.example:443,http://[::1]:8080",
        )
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            [
                "https://canvas.example.com",
                "http://localhost:5173",
                "https://a.example",
                "http://[::1]:8080"
            ]
        );
        assert!(c.allows("https://canvas.example.com") && c.allows("HTTP://LOCALHOST:5173"));
        assert!(!c.allows("https://canvas.example.com:8443") && !c.allows("null"));
        assert!(!CorsConfig::parse("").unwrap().is_enabled());
    }

    #[test]
    fn malformed_origins_are_refused_with_the_reason() {
        for bad in [
            "*",
            "null",
            "canvas.example.com",
            "ftp://x",
            "https://x/path",
            "https://user@x",
            "https://x:0",
            "https://x:99999",
            "https://",
            "https://bad_host",
        ] {
            let e = CorsConfig::parse(bad).unwrap_err();
            assert!(e.contains("is not an origin"), "{bad}: {e}");
        }
    }
}
