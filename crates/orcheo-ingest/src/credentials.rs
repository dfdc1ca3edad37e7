//! Who may write what: an export's bearer token names the tenant its spans belong to.
//!
//! Ingest authentication is on when the API's authentication is configured (JWT or static
//! tokens) or an ingest token is set. Then every export needs a bearer token, and its spans'
//! tenant comes from that token, never from their `orcheo.execution.tenant` attribute:
//!
//! - an API token with `traces:write` writes as its own tenant;
//! - one with `traces:write` and `traces:admin` is a relay (an OpenTelemetry Collector in front
//!   of many tenants' executors): the attribute says whose each span is;
//! - `ORCHEO_OTLP_INGEST_TOKEN` writes as the default tenant.
//!
//! With neither configured (the server then only listens on loopback), any local sender is
//! trusted like a relay. In every case the writer refuses a span that would join another
//! tenant's run or trace (`crate::ownership`).

use std::sync::Arc;

use orcheo_trace_model::tenant::{self, DEFAULT_TENANT};

/// What an API token grants a writer, as the API's authentication reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's tenant.
    pub tenant: String,
    /// `traces:write`.
    pub write: bool,
    /// `traces:admin`.
    pub admin: bool,
}

/// The API's tokens, as the receivers check them; the server's authentication implements it.
pub trait ApiTokens: Send + Sync {
    /// Whether API authentication is configured at all.
    fn is_enabled(&self) -> bool;

    /// What `token` grants, or why it is not valid.
    fn grant(&self, token: &str) -> Result<Grant, String>;
}

/// The token of an `Authorization: Bearer <token>` value (the scheme in any case).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whose spans an export carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// No ingest authentication: the spans' attributes say whose they are.
    Local,
    /// A trusted relay (`traces:write` with `traces:admin`): the attributes say.
    Relay,
    /// Every span is this tenant's, whatever its attributes say.
    Tenant(String),
}

impl Writer {
    /// The tenant a span claims: the writer's own, or the one its attribute names (an
    /// attribute naming the reserved unassigned tenant, or longer than a tenant can be, claims
    /// nothing).
    pub fn claim<'a>(&'a self, attribute: Option<&'a str>) -> Option<&'a str> {
        match self {
            Self::Tenant(tenant) => Some(tenant),
            Self::Local | Self::Relay => tenant::claimed(attribute),
        }
    }

    /// The tenant refusals are counted under.
    pub fn label(&self) -> &str {
        match self {
            Self::Tenant(tenant) => tenant,
            Self::Relay => "relay",
            Self::Local => "local",
        }
    }
}

/// Why an export's credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "this receiver needs `Authorization: Bearer <token>`: the ingest token, or an API token with the traces:write scope"
    )]
    Missing,
    #[error("the bearer token is not valid here: {0}")]
    Invalid(String),
    #[error("the token lacks the scope traces:write")]
    MissingScope,
}

/// The receivers' credentials.
#[derive(Clone, Default)]
pub struct IngestAuth {
    /// SHA-256 of `ORCHEO_OTLP_INGEST_TOKEN`.
    token_sha256: Option<[u8; 32]>,
    /// The API's tokens, when the API's authentication is configured.
    api: Option<Arc<dyn ApiTokens>>,
}

impl std::fmt::Debug for IngestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestAuth")
            .field("ingest_token", &self.token_sha256.is_some())
            .field("api_tokens", &self.api.is_some())
            .finish()
    }
}

impl IngestAuth {
    /// `token`: the ingest token; `api`: the API's authenticator (used only when it is enabled).
    pub fn new(token: Option<&str>, api: Option<Arc<dyn ApiTokens>>) -> Self {
        Self {
            token_sha256: token.map(sha256),
            api: api.filter(|a| a.is_enabled()),
        }
    }

    /// Whether exports need a bearer token.
    pub fn is_enabled(&self) -> bool {
        self.token_sha256.is_some() || self.api.is_some()
    }

    /// The writer an `Authorization` value names. Hashes are compared, so the comparison's time
    /// says nothing about the ingest token.
    pub fn writer(&self, authorization: Option<&str>) -> Result<Writer, CredentialError> {
        if !self.is_enabled() {
            return Ok(Writer::Local);
        }
        let token = authorization
            .and_then(bearer_token)
            .ok_or(CredentialError::Missing)?;
        if self.token_sha256 == Some(sha256(token)) {
            return Ok(Writer::Tenant(DEFAULT_TENANT.to_owned()));
        }
        let Some(api) = &self.api else {
            return Err(CredentialError::Invalid("not the ingest token".to_owned()));
        };
        let grant = api.grant(token).map_err(CredentialError::Invalid)?;
        match (grant.write, grant.admin) {
            (false, _) => Err(CredentialError::MissingScope),
            (true, true) => Ok(Writer::Relay),
            (true, false) => Ok(Writer::Tenant(grant.tenant)),
        }
    }
}

pub(super) fn sha256(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use orcheo_trace_model::tenant::UNASSIGNED_TENANT;

    /// Static tokens: secret → grant.
    struct Tokens(Vec<(&'static str, Grant)>);

    impl ApiTokens for Tokens {
        fn is_enabled(&self) -> bool {
            !self.0.is_empty()
        }

        fn grant(&self, token: &str) -> Result<Grant, String> {
            self.0
                .iter()
                .find(|(secret, _)| *secret == token)
                .map(|(_, grant)| grant.clone())
                .ok_or_else(|| "unknown token".to_owned())
        }
    }

    fn grant(tenant: &str, write: bool, admin: bool) -> Grant {
        Grant {
            tenant: tenant.to_owned(),
            write,
            admin,
        }
    }

    fn auth(ingest_token: Option<&str>) -> IngestAuth {
        let tokens = Tokens(vec![
            ("acme-write-secret", grant("acme", true, false)),
            ("acme-read-secret", grant("acme", false, false)),
            ("relay-secret", grant("ops", true, true)),
        ]);
        IngestAuth::new(ingest_token, Some(Arc::new(tokens)))
    }

    #[test]
    fn a_write_token_names_its_own_tenant_and_nothing_else_writes() {
        let auth = auth(Some("ingest-token-0123456789"));
        assert_eq!(
            auth.writer(Some("Bearer acme-write-secret")),
            Ok(Writer::Tenant("acme".into()))
        );
        assert_eq!(
            auth.writer(Some("bearer ingest-token-0123456789")),
            Ok(Writer::Tenant(DEFAULT_TENANT.into()))
        );
        assert_eq!(auth.writer(Some("Bearer relay-secret")), Ok(Writer::Relay));
        assert_eq!(
            auth.writer(Some("Bearer acme-read-secret")),
            Err(CredentialError::MissingScope)
        );
        assert!(matches!(
            auth.writer(Some("Bearer nope")),
            Err(CredentialError::Invalid(_))
        ));
        assert_eq!(auth.writer(None), Err(CredentialError::Missing));
        assert_eq!(
            auth.writer(Some("Basic acme-write-secret")),
            Err(CredentialError::Missing)
        );
    }

    #[test]
    fn a_credential_decides_the_tenant_over_the_attribute() {
        let tenant = Writer::Tenant("acme".into());
        assert_eq!(tenant.claim(Some("globex")), Some("acme"));
        assert_eq!(tenant.claim(None), Some("acme"));
        assert_eq!(Writer::Relay.claim(Some("globex")), Some("globex"));
        assert_eq!(Writer::Local.claim(None), None);
        assert_eq!(Writer::Local.claim(Some(UNASSIGNED_TENANT)), None);
        assert_eq!(Writer::Relay.claim(Some(&"t".repeat(129))), None);
    }

    #[test]
    fn without_any_authentication_every_local_sender_writes() {
        let auth = IngestAuth::new(None, None);
        assert!(!auth.is_enabled());
        assert_eq!(auth.writer(None), Ok(Writer::Local));
        assert!(!IngestAuth::new(None, Some(Arc::new(Tokens(Vec::new())))).is_enabled());
    }

    #[test]
    fn a_bearer_token_is_read_in_any_case_and_never_empty() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bEaReR abc "), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
