//! Who is calling: a bearer token (a JWT signed HS256, RS256 or by a key of an identity
//! provider's JWKS, or a static token kept as a SHA-256 hash) becomes a [`Caller`] with a
//! tenant and scopes. The tenant rule is that of execution history: a caller sees an execution
//! iff it belongs to the caller's tenant, or the caller holds `traces:admin`.
//!
//! With no authentication configured every caller is the local operator (all tenants, all
//! content); the configuration only allows that on a loopback address.

use futures_util::future::LocalBoxFuture;
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use orcheo_settings::Secret;
use serde::Deserialize;

use crate::error::ApiError;
use crate::jwks::{Jwks, JwksConfig, Lookup};

/// `traces:read`: see executions and their traces.
pub const SCOPE_READ: &str = "traces:read";
/// `traces:read_content`: see prompt, response and message text.
pub const SCOPE_READ_CONTENT: &str = "traces:read_content";
/// `traces:admin`: every tenant, and the operational endpoints when they are protected.
pub const SCOPE_ADMIN: &str = "traces:admin";
pub use orcheo_trace_model::tenant::MAX_TENANT_LEN;

/// `traces:write`: export spans to the OTLP receivers, as the token's tenant (with
/// `traces:admin` as well: for any tenant, as a collector relaying many tenants' spans does).
pub const SCOPE_WRITE: &str = "traces:write";

/// The tenant of executions that name none, and of tokens that name none.
pub use orcheo_trace_store::{DEFAULT_TENANT, UNASSIGNED_TENANT};

/// Authentication settings.
#[derive(Clone, Default)]
pub struct AuthConfig {
    pub jwt_secret: Option<Secret<Vec<u8>>>,
    pub jwt_public_key_pem: Option<Vec<u8>>,
    /// Keys of an identity provider: a JWKS URL, a JWKS file, or both.
    pub jwks: JwksConfig,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub static_tokens: Vec<StaticToken>,
    /// `/metrics` and `/readyz` require `traces:admin`.
    pub protect_ops: bool,
    /// How a JWT's claims name its tenant and scopes (Orcheo's backend tokens among them).
    pub claims: ClaimMapping,
}

/// Where a JWT's tenant and scopes come from, so tokens issued for Orcheo's backend (which
/// name workspaces and `workflows:*` scopes) work here as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// Claims that may name the tenant, in order; the first one present decides. A dotted
    /// name reads inside an object (`orcheo.workspace_ids`). A string is the tenant; a list's
    /// first non-empty string is (the others are not used); an empty list or string leaves the
    /// token in the `default` tenant.
    pub tenant_claims: Vec<String>,
    /// Scope names (besides `traces:read`) that grant `traces:read`.
    pub read_scopes: Vec<String>,
    /// Scope names (besides `traces:read_content`) that grant `traces:read_content`.
    pub read_content_scopes: Vec<String>,
    /// Scope names (besides `traces:admin`) that grant `traces:admin`.
    pub admin_scopes: Vec<String>,
}

/// Our `tenant`, then the claims Orcheo's backend reads workspaces from, in its order.
pub const DEFAULT_TENANT_CLAIMS: &str =
    "tenant,workspace_ids,workspaces,workspace,workspace_id,orcheo.workspace_ids";
/// Orcheo's backend lets any caller holding `workflows:read` see executions and traces.
pub const DEFAULT_READ_SCOPES: &str = "workflows:read";
/// Orcheo's Canvas shows prompts and responses to whoever may read the trace.
pub const DEFAULT_READ_CONTENT_SCOPES: &str = "workflows:read";
/// Claims scopes are read from: OAuth's `scope`, and the others Orcheo's backend reads.
const SCOPE_CLAIMS: [&str; 4] = ["scope", "scopes", "scp", "orcheo.scopes"];

impl Default for ClaimMapping {
    fn default() -> Self {
        let list = |text: &str| parse_name_list(text);
        Self {
            tenant_claims: list(DEFAULT_TENANT_CLAIMS),
            read_scopes: list(DEFAULT_READ_SCOPES),
            read_content_scopes: list(DEFAULT_READ_CONTENT_SCOPES),
            admin_scopes: Vec::new(),
        }
    }
}

/// A comma- or space-separated list of names: OAuth separates scopes with spaces, and the
/// other settings' lists use commas.
pub fn parse_name_list(text: &str) -> Vec<String> {
    orcheo_settings::list_split(text, &[',', ' '])
}

/// The value at a dotted claim name.
fn claim<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let (head, rest) = name.split_once('.')?;
    match claims.get(head)? {
        serde_json::Value::Object(inner) => claim(inner, rest),
        _ => None,
    }
}

/// Scope names in a claim: a string of names separated by spaces or commas, or a list of them.
fn scope_names(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.extend(parse_name_list(text)),
        serde_json::Value::Array(items) => {
            for item in items {
                if let serde_json::Value::String(text) = item {
                    out.extend(parse_name_list(text));
                }
            }
        }
        _ => {}
    }
}

impl ClaimMapping {
    /// The tenant the claims name (`None`: none, the default tenant).
    fn tenant(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<String>, AuthError> {
        for name in &self.tenant_claims {
            let Some(value) = claim(claims, name).filter(|v| !v.is_null()) else {
                continue;
            };
            let tenant = match value {
                serde_json::Value::String(text) => text.trim(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .find_map(|i| i.as_str().map(str::trim).filter(|t| !t.is_empty()))
                    .unwrap_or(""),
                _ => {
                    return Err(AuthError::Invalid(format!(
                        "the claim {name:?} is neither a string nor a list of strings"
                    )));
                }
            };
            return Ok((!tenant.is_empty()).then(|| tenant.to_owned()));
        }
        Ok(None)
    }

    /// The scopes the claims grant: ours by name, and the mapped ones.
    fn scopes(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Scopes {
        let mut names = Vec::new();
        for name in SCOPE_CLAIMS {
            if let Some(value) = claim(claims, name) {
                scope_names(value, &mut names);
            }
        }
        let mut scopes = Scopes::parse(names.iter().map(String::as_str));
        let has = |mapped: &[String]| names.iter().any(|n| mapped.contains(n));
        scopes.read |= has(&self.read_scopes);
        scopes.read_content |= has(&self.read_content_scopes);
        scopes.admin |= has(&self.admin_scopes);
        scopes.read |= scopes.admin || scopes.read_content;
        scopes
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &self.jwt_secret)
            .field("jwt_public_key", &self.jwt_public_key_pem.is_some())
            .field("jwks", &self.jwks)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("static_tokens", &self.static_tokens.len())
            .field("protect_ops", &self.protect_ops)
            .field("claims", &self.claims)
            .finish()
    }
}

impl AuthConfig {
    /// Whether any way of authenticating is configured.
    pub fn is_enabled(&self) -> bool {
        self.jwt_secret.is_some()
            || self.jwt_public_key_pem.is_some()
            || self.jwks.is_enabled()
            || !self.static_tokens.is_empty()
    }
}

/// A static token, as the tokens file lists it.
#[derive(Clone, Debug)]
pub struct StaticToken {
    pub name: String,
    pub sha256: [u8; 32],
    pub tenant: String,
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    sha256: String,
    #[serde(default)]
    tenant: Option<String>,
    scopes: Vec<String>,
}

impl StaticToken {
    /// Reads the tokens file: a JSON array of `{name, sha256, tenant?, scopes}`.
    pub fn parse_file(bytes: &[u8]) -> Result<Vec<Self>, String> {
        let entries: Vec<TokenEntry> =
            serde_json::from_slice(bytes).map_err(|e| format!("not a JSON list of tokens: {e}"))?;
        entries
            .into_iter()
            .map(|e| {
                let hex = e.sha256.trim();
                let mut sha256 = [0u8; 32];
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("token {:?}: sha256 must be 64 hex digits", e.name));
                }
                for (i, byte) in sha256.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                        .map_err(|_| format!("token {:?}: bad hex", e.name))?;
                }
                if let Some(unknown) = e.scopes.iter().find(|s| !is_known_scope(s)) {
                    return Err(format!("token {:?}: unknown scope {unknown:?}", e.name));
                }
                if e.tenant.as_ref().is_some_and(|t| t.len() > MAX_TENANT_LEN) {
                    return Err(format!(
                        "token {:?}: the tenant is longer than {MAX_TENANT_LEN} bytes",
                        e.name
                    ));
                }
                if e.tenant.as_deref() == Some(UNASSIGNED_TENANT) {
                    return Err(format!(
                        "token {:?}: tenant {UNASSIGNED_TENANT:?} is reserved",
                        e.name
                    ));
                }
                Ok(Self {
                    name: e.name,
                    sha256,
                    tenant: e.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_owned()),
                    scopes: e.scopes,
                })
            })
            .collect()
    }
}

fn is_known_scope(scope: &str) -> bool {
    [SCOPE_READ, SCOPE_READ_CONTENT, SCOPE_ADMIN, SCOPE_WRITE].contains(&scope)
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "four independent scopes, each held or not"
)]
pub struct Scopes {
    pub read: bool,
    pub read_content: bool,
    pub admin: bool,
    /// Export spans; never implied by another scope.
    pub write: bool,
}

impl Scopes {
    fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut s = Self::default();
        for name in names {
            match name {
                SCOPE_READ => s.read = true,
                SCOPE_READ_CONTENT => s.read_content = true,
                SCOPE_ADMIN => s.admin = true,
                SCOPE_WRITE => s.write = true,
                _ => {}
            }
        }
        // Admin implies reading; reading content implies reading.
        s.read |= s.admin || s.read_content;
        s
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub tenant: String,
    pub scopes: Scopes,
}

impl Caller {
    /// The caller when no authentication is configured: the local operator.
    fn local_operator() -> Self {
        Self {
            subject: "local".to_owned(),
            tenant: DEFAULT_TENANT.to_owned(),
            scopes: Scopes {
                read: true,
                read_content: true,
                admin: true,
                write: true,
            },
        }
    }

    /// Whether the caller may see an execution of `tenant`: the trace service's rule.
    pub fn can_see(&self, tenant: &str) -> bool {
        self.audience().can_see(tenant)
    }

    /// The tenant to list executions of: the caller's own, or any one an admin names.
    pub fn list_tenant(&self, requested: Option<&str>) -> Option<String> {
        if self.scopes.admin {
            requested.map(str::to_owned)
        } else {
            Some(self.tenant.clone())
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    #[error("the token lacks the scope {0}")]
    MissingScope(&'static str),
}

/// A token names a JWKS key not held (its `kid`, if it names one).
struct UnknownKey(Option<String>);

impl From<UnknownKey> for AuthError {
    fn from(unknown: UnknownKey) -> Self {
        Self::Invalid(match unknown.0 {
            Some(kid) => format!("no known key has the kid {kid:?}"),
            None => "the token names no key (kid) and no key without one is known".to_owned(),
        })
    }
}

/// Checks tokens.
pub struct Authenticator {
    enabled: bool,
    protect_ops: bool,
    hs256: Option<(DecodingKey, Validation)>,
    rs256: Option<(DecodingKey, Validation)>,
    jwks: Option<Arc<Jwks>>,
    /// The issuer and audience rules, for tokens verified by a JWKS key.
    jwks_validation: Validation,
    tokens: HashMap<[u8; 32], Arc<Caller>>,
    claims: ClaimMapping,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("enabled", &self.enabled)
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .field("jwks", &self.jwks)
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let validation = |alg| {
            let mut v = Validation::new(alg);
            // A configured issuer or audience is checked only when the token carries the claim,
            // so each is required as well: a token that leaves one out is refused.
            let mut required = vec!["exp", "sub"];
            if config.issuer.is_some() {
                required.push("iss");
            }
            if config.audience.is_some() {
                required.push("aud");
            }
            v.set_required_spec_claims(&required);
            v.validate_nbf = true;
            v.leeway = 30;
            match &config.issuer {
                Some(iss) => v.set_issuer(&[iss]),
                None => v.iss = None,
            }
            match &config.audience {
                Some(aud) => v.set_audience(&[aud]),
                None => v.validate_aud = false,
            }
            v
        };
        let hs256 = config.jwt_secret.as_ref().map(|secret| {
            (
                DecodingKey::from_secret(secret.expose_secret()),
                validation(Algorithm::HS256),
            )
        });
        let rs256 = config
            .jwt_public_key_pem
            .as_ref()
            .map(|pem| {
                DecodingKey::from_rsa_pem(pem)
                    .map(|key| (key, validation(Algorithm::RS256)))
                    .map_err(|e| format!("not an RSA public key in PEM: {e}"))
            })
            .transpose()?;
        let jwks = config
            .jwks
            .is_enabled()
            .then(|| Jwks::new(&config.jwks).map(Arc::new))
            .transpose()
            .map_err(|e| format!("JWKS: {e}"))?;
        let tokens = config
            .static_tokens
            .iter()
            .map(|t| {
                let caller = Caller {
                    subject: t.name.clone(),
                    tenant: t.tenant.clone(),
                    scopes: Scopes::parse(t.scopes.iter().map(String::as_str)),
                };
                (t.sha256, Arc::new(caller))
            })
            .collect();
        Ok(Self {
            enabled: config.is_enabled(),
            protect_ops: config.protect_ops,
            hs256,
            rs256,
            jwks,
            jwks_validation: validation(Algorithm::RS256),
            tokens,
            claims: config.claims.clone(),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The caller a request's `Authorization` value (or another carrier of the token) names,
    /// from the keys held now. A token naming a JWKS key not held is refused, and starts a
    /// refetch in the background (within the refetch interval).
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, AuthError> {
        self.check(token).unwrap_or_else(|unknown| {
            if let Some(jwks) = &self.jwks {
                jwks.refresh_in_background(true);
            }
            Err(unknown.into())
        })
    }

    /// As [`Self::authenticate`], but a token naming a JWKS key not held waits for a refetch
    /// of the URL (within the refetch interval) and is checked again.
    pub async fn authenticate_async(&self, token: Option<&str>) -> Result<Caller, AuthError> {
        match self.check(token) {
            Ok(result) => result,
            Err(unknown) => {
                if let Some(jwks) = &self.jwks {
                    jwks.refresh(true).await;
                }
                self.check(token).unwrap_or_else(|_| Err(unknown.into()))
            }
        }
    }

    /// The verdict on a token, or that it names a JWKS key not held.
    fn check(&self, token: Option<&str>) -> Result<Result<Caller, AuthError>, UnknownKey> {
        if !self.enabled {
            return Ok(Ok(Caller::local_operator()));
        }
        let Some(token) = token else {
            return Ok(Err(AuthError::Missing));
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        if let Some(caller) = <[u8; 32]>::try_from(digest.as_ref())
            .ok()
            .and_then(|hash| self.tokens.get(&hash))
        {
            return Ok(Ok((**caller).clone()));
        }
        self.jwt(token)
    }

    fn jwt(&self, token: &str) -> Result<Result<Caller, AuthError>, UnknownKey> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(Err(AuthError::Invalid(
                "neither a known token nor a JWT".to_owned(),
            )));
        };
        let configured = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        };
        // A token naming a key is the JWKS's; the single configured key verifies the others.
        let verified = match (&self.jwks, configured) {
            (Some(jwks), _) if header.kid.is_some() || configured.is_none() => {
                jwks.refresh_in_background(false);
                match jwks.lookup(header.kid.as_deref(), header.alg) {
                    Lookup::Unknown => return Err(UnknownKey(header.kid)),
                    Lookup::Keys(keys) if keys.is_empty() => Err(AuthError::Invalid(format!(
                        "algorithm {:?} is not accepted for this key",
                        header.alg
                    ))),
                    Lookup::Keys(keys) => {
                        let mut validation = self.jwks_validation.clone();
                        validation.algorithms = vec![header.alg];
                        verify_with_any(&keys, token, &validation)
                    }
                }
            }
            (_, Some((key, validation))) => jsonwebtoken::decode::<
                serde_json::Map<String, serde_json::Value>,
            >(token, key, validation)
            .map_err(|e| AuthError::Invalid(e.to_string())),
            (_, None) => Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            ))),
        };
        Ok(verified.and_then(|data| self.caller(&data.claims)))
    }

    /// The caller verified claims describe.
    fn caller(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Caller, AuthError> {
        let subject = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| AuthError::Invalid("the claim \"sub\" is not a string".to_owned()))?
            .to_owned();
        let tenant = self.claims.tenant(claims)?;
        if tenant.as_deref() == Some(UNASSIGNED_TENANT) {
            return Err(AuthError::Invalid(format!(
                "tenant {UNASSIGNED_TENANT:?} is reserved"
            )));
        }
        if tenant.as_ref().is_some_and(|t| t.len() > MAX_TENANT_LEN) {
            return Err(AuthError::Invalid(format!(
                "the tenant is longer than {MAX_TENANT_LEN} bytes"
            )));
        }
        Ok(Caller {
            subject,
            tenant: tenant.unwrap_or_else(|| DEFAULT_TENANT.to_owned()),
            scopes: self.claims.scopes(claims),
        })
    }

    /// The keys of an identity provider, when configured.
    pub fn jwks(&self) -> Option<&Jwks> {
        self.jwks.as_deref()
    }

    /// The caller of an operational endpoint (`/metrics`, `/readyz`): anyone unless protected.
    pub async fn authorize_ops(&self, req: &HttpRequest) -> Result<(), AuthError> {
        if !self.protect_ops {
            return Ok(());
        }
        let caller = self.authenticate_async(bearer(req)).await?;
        if caller.scopes.admin {
            Ok(())
        } else {
            Err(AuthError::MissingScope(SCOPE_ADMIN))
        }
    }
}

/// The claims of a token that one of `keys` verifies (a `kid` names one key; keys without a
/// `kid` are tried in turn).
fn verify_with_any(
    keys: &[Arc<crate::jwks::VerifyingKey>],
    token: &str,
    validation: &Validation,
) -> Result<jsonwebtoken::TokenData<serde_json::Map<String, serde_json::Value>>, AuthError> {
    let mut last = None;
    for key in keys {
        match jsonwebtoken::decode(token, &key.key, validation) {
            Ok(data) => return Ok(data),
            Err(e) => last = Some(e),
        }
    }
    Err(AuthError::Invalid(last.map_or_else(
        || "no key verifies it".to_owned(),
        |e| e.to_string(),
    )))
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    bearer_token(value.to_str().ok()?)
}

/// The token of an `Authorization` value (`Bearer …`, the scheme in any case): the receivers'
/// rule, so a token reads the same on every port.
pub use orcheo_ingest::credentials::bearer_token;

/// A caller with `traces:read`, taken from the request.
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Caller::reader_async(&req).await })
    }
}

impl Caller {
    /// The caller of `req`, who must hold `traces:read`.
    pub fn reader(req: &HttpRequest) -> Result<Self, ApiError> {
        let Some(auth) = req.app_data::<web::Data<Authenticator>>() else {
            return Err(ApiError::Internal("authenticator missing".to_owned()));
        };
        auth.authenticate(bearer(req))
            .and_then(|caller| {
                if caller.scopes.read {
                    Ok(caller)
                } else {
                    Err(AuthError::MissingScope(SCOPE_READ))
                }
            })
            .map_err(ApiError::from)
    }

    /// As [`Self::reader`], waiting for a refetch of the JWKS URL when the token names a key
    /// not held.
    pub async fn reader_async(req: &HttpRequest) -> Result<Self, ApiError> {
        let Some(auth) = req.app_data::<web::Data<Authenticator>>() else {
            return Err(ApiError::Internal("authenticator missing".to_owned()));
        };
        let caller = auth.authenticate_async(bearer(req)).await?;
        if caller.scopes.read {
            Ok(caller)
        } else {
            Err(AuthError::MissingScope(SCOPE_READ).into())
        }
    }
}

/// The receivers check API tokens with the API's own rules.
impl orcheo_ingest::credentials::ApiTokens for Authenticator {
    fn is_enabled(&self) -> bool {
        Authenticator::is_enabled(self)
    }

    fn grant(&self, token: &str) -> Result<orcheo_ingest::credentials::Grant, String> {
        let caller = self.authenticate(Some(token)).map_err(|e| e.to_string())?;
        Ok(orcheo_ingest::credentials::Grant {
            tenant: caller.tenant,
            write: caller.scopes.write,
            admin: caller.scopes.admin,
        })
    }
}

impl Caller {
    /// Whose executions this caller may see, for the trace service.
    pub fn audience(&self) -> orcheo_trace_service::Audience {
        if self.scopes.admin {
            orcheo_trace_service::Audience::Everyone
        } else {
            orcheo_trace_service::Audience::Tenant(self.tenant.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn hs(config: &AuthConfig, claims: &serde_json::Value) -> Result<Caller, AuthError> {
        let token = jsonwebtoken::encode(
            &Header::default(),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        Authenticator::new(config)
            .unwrap()
            .authenticate(Some(&token))
    }

    fn exp(offset: i64) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .cast_signed();
        now + offset
    }

    #[test]
    fn hs256_token_gives_tenant_and_scopes() {
        let config = AuthConfig {
            jwt_secret: Some(SECRET.to_vec().into()),
            ..AuthConfig::default()
        };
        let caller = hs(&config, &json!({"sub": "ada", "tenant": "acme", "scope": "traces:read traces:read_content", "exp": exp(600)})).unwrap();
        assert_eq!(caller.tenant, "acme");
        assert!(caller.scopes.read && caller.scopes.read_content && !caller.scopes.admin);
        assert!(caller.can_see("acme") && !caller.can_see("globex"));
        let no_tenant = hs(
            &config,
            &json!({"sub": "x", "scope": "traces:read", "exp": exp(600)}),
        )
        .unwrap();
        assert_eq!(no_tenant.tenant, DEFAULT_TENANT);
    }

    #[test]
    fn expired_unsigned_or_claimless_tokens_are_refused() {
        let config = AuthConfig {
            jwt_secret: Some(SECRET.to_vec().into()),
            issuer: Some("https://auth.orcheo".into()),
            ..AuthConfig::default()
        };
        let expired = hs(
            &config,
            &json!({"sub": "a", "iss": "https://auth.orcheo", "exp": exp(-3600)}),
        );
        assert!(matches!(expired, Err(AuthError::Invalid(m)) if m.contains("Expired")));
        let no_exp = hs(&config, &json!({"sub": "a", "iss": "https://auth.orcheo"}));
        assert!(matches!(no_exp, Err(AuthError::Invalid(_))));
        let wrong_iss = hs(
            &config,
            &json!({"sub": "a", "iss": "https://evil", "exp": exp(60)}),
        );
        assert!(matches!(wrong_iss, Err(AuthError::Invalid(_))));
        let no_iss = hs(&config, &json!({"sub": "a", "exp": exp(60)}));
        assert!(matches!(no_iss, Err(AuthError::Invalid(m)) if m.contains("iss")));
        let auth = Authenticator::new(&config).unwrap();
        assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
        assert!(matches!(
            auth.authenticate(Some("garbage")),
            Err(AuthError::Invalid(_))
        ));
        // `alg: none` and algorithms not configured are refused.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(matches!(
            auth.authenticate(Some(none)),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn rs256_tokens_verify_with_the_public_key_only() {
        let private = include_bytes!("../tests/data/jwt-test-rsa.key.pem");
        let public = include_bytes!("../tests/data/jwt-test-rsa.pub.pem");
        let config = AuthConfig {
            jwt_public_key_pem: Some(public.to_vec()),
            audience: Some("orcheo-trace".into()),
            ..AuthConfig::default()
        };
        let auth = Authenticator::new(&config).unwrap();
        let claims = json!({"sub": "canvas", "tenant": "acme", "scope": "traces:read", "aud": "orcheo-trace", "exp": exp(600)});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(private).unwrap(),
        )
        .unwrap();
        let caller = auth.authenticate(Some(&token)).unwrap();
        assert_eq!(
            (caller.subject.as_str(), caller.tenant.as_str()),
            ("canvas", "acme")
        );
        // No audience, a wrong audience; an HS256 token when only RS256 is configured.
        let no_aud = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &json!({"sub": "x", "exp": exp(600)}),
            &EncodingKey::from_rsa_pem(private).unwrap(),
        )
        .unwrap();
        assert!(
            matches!(auth.authenticate(Some(&no_aud)), Err(AuthError::Invalid(m)) if m.contains("aud"))
        );
        let wrong_aud = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &json!({"sub": "x", "aud": "other", "exp": exp(600)}),
            &EncodingKey::from_rsa_pem(private).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            auth.authenticate(Some(&wrong_aud)),
            Err(AuthError::Invalid(_))
        ));
        let hs = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(
            matches!(auth.authenticate(Some(&hs)), Err(AuthError::Invalid(m)) if m.contains("not accepted"))
        );
        // A bad key file is refused at start.
        assert!(
            Authenticator::new(&AuthConfig {
                jwt_public_key_pem: Some(b"not a key".to_vec()),
                ..AuthConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn jwks_keys_verify_by_kid_with_the_issuer_and_audience_rules() {
        let private = include_bytes!("../tests/data/jwt-test-rsa.key.pem");
        let config = AuthConfig {
            jwks: JwksConfig {
                static_keys: Some(include_bytes!("../tests/data/jwt-test-rsa.jwks.json").to_vec()),
                ..JwksConfig::default()
            },
            issuer: Some("https://idp.example".into()),
            audience: Some("orcheo".into()),
            ..AuthConfig::default()
        };
        assert!(config.is_enabled());
        let auth = Authenticator::new(&config).unwrap();
        let sign = |kid: Option<&str>, claims: &serde_json::Value| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = kid.map(str::to_owned);
            jsonwebtoken::encode(
                &header,
                claims,
                &EncodingKey::from_rsa_pem(private).unwrap(),
            )
            .unwrap()
        };
        let good = json!({"sub": "u", "workspace_ids": ["acme"], "scope": "workflows:read",
            "iss": "https://idp.example", "aud": "orcheo", "exp": exp(600)});
        let caller = auth
            .authenticate(Some(&sign(Some("test-rsa"), &good)))
            .unwrap();
        assert_eq!(caller.tenant, "acme");
        assert!(caller.scopes.read && caller.scopes.read_content);
        // Issuer and audience are required and checked as for the other JWTs.
        let mut wrong_iss = good.clone();
        wrong_iss["iss"] = json!("https://evil.example");
        assert!(
            auth.authenticate(Some(&sign(Some("test-rsa"), &wrong_iss)))
                .is_err()
        );
        let mut no_aud = good.clone();
        no_aud.as_object_mut().unwrap().remove("aud");
        assert!(
            matches!(auth.authenticate(Some(&sign(Some("test-rsa"), &no_aud))), Err(AuthError::Invalid(m)) if m.contains("aud"))
        );
        // Another kid, or none (the file's key has one): no key.
        assert!(
            matches!(auth.authenticate(Some(&sign(Some("other"), &good))), Err(AuthError::Invalid(m)) if m.contains("other"))
        );
        assert!(auth.authenticate(Some(&sign(None, &good))).is_err());
        // The key allows RS256 only: the same key under PS256 is refused.
        let mut ps = Header::new(Algorithm::PS256);
        ps.kid = Some("test-rsa".to_owned());
        let ps256 =
            jsonwebtoken::encode(&ps, &good, &EncodingKey::from_rsa_pem(private).unwrap()).unwrap();
        assert!(
            matches!(auth.authenticate(Some(&ps256)), Err(AuthError::Invalid(m)) if m.contains("not accepted"))
        );
    }

    #[test]
    fn static_tokens_match_by_hash() {
        let hash = ring::digest::digest(&ring::digest::SHA256, b"s3cret-token");
        let hex: String = hash
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .concat();
        let file = format!(
            r#"[{{"name": "canvas", "sha256": "{hex}", "tenant": "acme", "scopes": ["traces:read"]}}]"#
        );
        let config = AuthConfig {
            static_tokens: StaticToken::parse_file(file.as_bytes()).unwrap(),
            ..AuthConfig::default()
        };
        let auth = Authenticator::new(&config).unwrap();
        let caller = auth.authenticate(Some("s3cret-token")).unwrap();
        assert_eq!(
            (caller.subject.as_str(), caller.tenant.as_str()),
            ("canvas", "acme")
        );
        assert!(!caller.scopes.read_content);
        assert!(auth.authenticate(Some("other")).is_err());
        assert!(
            StaticToken::parse_file(b"[{\"name\":\"x\",\"sha256\":\"zz\",\"scopes\":[]}]").is_err()
        );
        assert!(
            StaticToken::parse_file(
                format!(r#"[{{"name":"x","sha256":"{hex}","scopes":["traces:delete"]}}]"#)
                    .as_bytes()
            )
            .is_err()
        );
    }

    #[test]
    fn orcheo_claims_map_to_tenant_and_scopes() {
        let config = AuthConfig {
            jwt_secret: Some(SECRET.to_vec().into()),
            ..AuthConfig::default()
        };
        let orcheo = hs(
            &config,
            &json!({"sub": "u1", "scope": "workflows:read,workflows:execute", "workspace_ids": [" ", "acme", "globex"], "exp": exp(600)}),
        )
        .unwrap();
        assert_eq!(orcheo.tenant, "acme");
        assert!(orcheo.scopes.read && orcheo.scopes.read_content && !orcheo.scopes.admin);
        // Our `tenant` comes first; nested workspaces and scope lists are read.
        let both = hs(
            &config,
            &json!({"sub": "u", "tenant": "ours", "workspace_ids": ["theirs"], "exp": exp(600)}),
        )
        .unwrap();
        assert_eq!(both.tenant, "ours");
        let nested = hs(
            &config,
            &json!({"sub": "u", "orcheo": {"workspace_ids": ["w1"], "scopes": ["workflows:read"]}, "exp": exp(600)}),
        )
        .unwrap();
        assert_eq!(nested.tenant, "w1");
        assert!(nested.scopes.read);
        let none = hs(
            &config,
            &json!({"sub": "u", "workspace_ids": [], "scp": "vault:read", "exp": exp(600)}),
        )
        .unwrap();
        assert_eq!(none.tenant, DEFAULT_TENANT);
        assert_eq!(none.scopes, Scopes::default());
        assert!(matches!(
            hs(&config, &json!({"sub": "u", "workspace": {"id": 1}, "exp": exp(600)})),
            Err(AuthError::Invalid(m)) if m.contains("workspace")
        ));
        // Our names are never mapped away, and `traces:write` is never granted by a mapping.
        let custom = AuthConfig {
            claims: ClaimMapping {
                tenant_claims: vec!["org".into()],
                read_scopes: vec![],
                read_content_scopes: vec![],
                admin_scopes: vec!["root".into()],
            },
            ..config
        };
        let admin = hs(
            &custom,
            &json!({"sub": "u", "org": "ops", "scope": "root", "exp": exp(600)}),
        )
        .unwrap();
        assert!(admin.scopes.admin && admin.scopes.read && !admin.scopes.write);
        assert_eq!(admin.tenant, "ops");
        let ours = hs(
            &custom,
            &json!({"sub": "u", "scope": "traces:read", "exp": exp(600)}),
        )
        .unwrap();
        assert!(ours.scopes.read);
        let unmapped = hs(
            &custom,
            &json!({"sub": "u", "scope": "workflows:read", "exp": exp(600)}),
        )
        .unwrap();
        assert!(!unmapped.scopes.read);
    }

    #[test]
    fn without_configuration_everyone_is_the_local_operator() {
        let auth = Authenticator::new(&AuthConfig::default()).unwrap();
        let caller = auth.authenticate(None).unwrap();
        assert!(caller.scopes.admin && caller.can_see("anyone"));
    }
}
