//! Public keys of an identity provider, as a JWKS: read once from a file, or fetched from a URL
//! and cached, so that tokens Orcheo's backend accepts from the same provider work here too.
//!
//! A token names its key by `kid`; the key decides which algorithms it verifies (its `alg`, or
//! the ones its type allows), so a public key never verifies an HMAC token and `none` is never
//! accepted. Keys the server cannot use (symmetric, encryption keys, unknown types) are skipped
//! and logged, never fatal. The URL is fetched at most once per refetch interval whatever the
//! tokens say, with a time limit and a size limit on the answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The default time fetched keys are used before they are fetched again.
pub const DEFAULT_CACHE_SECONDS: u64 = 300;
/// The default shortest time between two fetches of the URL.
pub const DEFAULT_REFETCH_SECONDS: u64 = 30;
/// The time limit of one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS answer read; identity providers publish a few keys, a few kilobytes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Where keys come from.
#[derive(Debug, Clone, Default)]
pub struct JwksConfig {
    /// The JWKS URL (https, or http on a loopback host).
    pub url: Option<reqwest::Url>,
    /// A JWKS document read at start: static keys.
    pub static_keys: Option<Vec<u8>>,
    /// How long fetched keys are used before they are fetched again.
    pub cache: Duration,
    /// The shortest time between two fetches, whatever unknown `kid`s arrive.
    pub min_refetch: Duration,
}

impl JwksConfig {
    pub fn is_enabled(&self) -> bool {
        self.url.is_some() || self.static_keys.is_some()
    }
}

/// Whether a JWKS URL is one keys may be fetched from: https, or http on a loopback host.
pub fn check_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let host = url.host_str().unwrap_or("");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(url)
            } else {
                Err("http is only allowed for a loopback host; use https".to_owned())
            }
        }
        other => Err(format!("the scheme {other:?} is neither https nor http")),
    }
}

/// One usable key and the algorithms it verifies.
pub(crate) struct VerifyingKey {
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

/// Usable keys by `kid` (keys without one are kept apart: they are tried by algorithm).
#[derive(Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<VerifyingKey>>,
    unnamed: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// The usable keys of a JWKS document; each unusable key is skipped with a warning.
    pub(crate) fn parse(document: &[u8], origin: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(document)
            .map_err(|e| format!("not a JWKS (an object with a list of keys): {e}"))?;
        let mut set = Self::default();
        for (index, value) in document.keys.into_iter().enumerate() {
            let kid = value
                .get("kid")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            match usable(value) {
                Ok(key) => {
                    let key = Arc::new(key);
                    match kid {
                        Some(kid) => {
                            set.by_kid.insert(kid, key);
                        }
                        None => set.unnamed.push(key),
                    }
                }
                Err(reason) => tracing::warn!(
                    jwks.origin = origin,
                    jwks.key_index = index,
                    jwks.kid = kid.as_deref().unwrap_or(""),
                    "JWKS key skipped: {reason}"
                ),
            }
        }
        Ok(set)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys that may verify a token with this `kid` and `alg`.
    fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<VerifyingKey>> {
        let keys: Vec<&Arc<VerifyingKey>> = match kid {
            Some(kid) => self.by_kid.get(kid).into_iter().collect(),
            None => self.unnamed.iter().collect(),
        };
        keys.into_iter()
            .filter(|k| k.algorithms.contains(&alg))
            .cloned()
            .collect()
    }

    fn knows(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(kid) => self.by_kid.contains_key(kid),
            None => !self.unnamed.is_empty(),
        }
    }
}

/// A JWK as a key for verifying signatures, or why it cannot be one.
fn usable(value: serde_json::Value) -> Result<VerifyingKey, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("not a JWK: {e}"))?;
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err("not a signature key (\"use\" is not \"sig\")".to_owned());
    }
    let allowed_by_type: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return Err("an elliptic curve that is not supported".to_owned()),
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
            _ => return Err("an octet key pair that is not Ed25519".to_owned()),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric key: a published key must be a public key".to_owned());
        }
    };
    let algorithms = match &jwk.common.key_algorithm {
        None => allowed_by_type.to_vec(),
        Some(named) => {
            let alg = signing_algorithm(*named)
                .filter(|a| allowed_by_type.contains(a))
                .ok_or_else(|| format!("the algorithm {named:?} does not fit the key's type"))?;
            vec![alg]
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("not a valid key: {e}"))?;
    Ok(VerifyingKey { key, algorithms })
}

fn signing_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// What a look-up found.
pub(crate) enum Lookup {
    /// Keys with the token's `kid` that allow its `alg` (may be empty: the `alg` is refused).
    Keys(Vec<Arc<VerifyingKey>>),
    /// No key has the token's `kid` (yet).
    Unknown,
}

/// The static keys and the fetched ones.
pub struct Jwks {
    static_keys: KeySet,
    remote: Option<Remote>,
}

struct Remote {
    url: reqwest::Url,
    client: reqwest::Client,
    cache: Duration,
    min_refetch: Duration,
    keys: RwLock<Arc<KeySet>>,
    state: Mutex<FetchState>,
    /// One fetch at a time; waiters find its result.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct FetchState {
    attempted_at: Option<Instant>,
    fetched_at: Option<Instant>,
    error: Option<String>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("static_keys", &self.static_keys.len())
            .field("url", &self.remote.as_ref().map(|r| r.url.as_str()))
            .finish()
    }
}

impl Jwks {
    /// The keys of `config`; a static document that is not a JWKS is refused.
    pub fn new(config: &JwksConfig) -> Result<Self, String> {
        let static_keys = match &config.static_keys {
            Some(document) => {
                let set = KeySet::parse(document, "file")?;
                if set.is_empty() {
                    return Err("the JWKS file holds no usable key".to_owned());
                }
                set
            }
            None => KeySet::default(),
        };
        let remote = match &config.url {
            None => None,
            Some(url) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .connect_timeout(FETCH_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
                Some(Remote {
                    url: url.clone(),
                    client,
                    cache: config.cache,
                    min_refetch: config.min_refetch,
                    keys: RwLock::new(Arc::new(KeySet::default())),
                    state: Mutex::new(FetchState::default()),
                    fetching: tokio::sync::Mutex::new(()),
                })
            }
        };
        Ok(Self {
            static_keys,
            remote,
        })
    }

    /// Whether keys come from a URL.
    pub fn has_url(&self) -> bool {
        self.remote.is_some()
    }

    /// The keys for a token's `kid` and `alg`, from what is held now.
    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        if self.static_keys.knows(kid) {
            return Lookup::Keys(self.static_keys.candidates(kid, alg));
        }
        if let Some(remote) = &self.remote {
            let keys = remote.current();
            if keys.knows(kid) {
                return Lookup::Keys(keys.candidates(kid, alg));
            }
        }
        Lookup::Unknown
    }

    /// Fetches the URL's keys if it may be fetched now: never fetched, or the cache is stale
    /// (`unknown_kid: false`), or a token named a key not held (`true`); in every case no
    /// sooner than the refetch interval after the last attempt.
    pub async fn refresh(&self, unknown_kid: bool) {
        let Some(remote) = &self.remote else {
            return;
        };
        if !remote.due(unknown_kid) {
            return;
        }
        let _one = remote.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if !remote.due(unknown_kid) {
            return;
        }
        remote.fetch().await;
    }

    /// Starts a refresh in the background when one is due (a synchronous caller cannot wait).
    pub fn refresh_in_background(self: &Arc<Self>, unknown_kid: bool) {
        let Some(remote) = &self.remote else {
            return;
        };
        if !remote.due(unknown_kid) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let jwks = Arc::clone(self);
            runtime.spawn(async move { jwks.refresh(unknown_kid).await });
        }
    }

    /// For `/readyz`: `None` without a URL; otherwise whether its keys were ever fetched,
    /// and the last error.
    pub fn url_status(&self) -> Option<(bool, Option<String>)> {
        let remote = self.remote.as_ref()?;
        let state = remote.state.lock().ok()?;
        Some((state.fetched_at.is_some(), state.error.clone()))
    }
}

impl Remote {
    fn current(&self) -> Arc<KeySet> {
        self.keys.read().map(|k| Arc::clone(&k)).unwrap_or_default()
    }

    fn due(&self, unknown_kid: bool) -> bool {
        let Ok(state) = self.state.lock() else {
            return false;
        };
        let now = Instant::now();
        let interval_passed = state
            .attempted_at
            .is_none_or(|t| now.duration_since(t) >= self.min_refetch);
        let keys_old = state
            .fetched_at
            .is_none_or(|t| now.duration_since(t) >= self.cache);
        interval_passed && (unknown_kid || keys_old)
    }

    async fn fetch(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.attempted_at = Some(Instant::now());
        }
        let result = self.download().await.and_then(|body| {
            KeySet::parse(&body, self.url.as_str()).and_then(|set| {
                if set.is_empty() {
                    Err("the JWKS holds no usable key".to_owned())
                } else {
                    Ok(set)
                }
            })
        });
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match result {
            Ok(set) => {
                tracing::info!(jwks.url = %self.url, jwks.keys = set.len(), "JWKS fetched");
                if let Ok(mut keys) = self.keys.write() {
                    *keys = Arc::new(set);
                }
                state.fetched_at = Some(Instant::now());
                state.error = None;
            }
            Err(e) => {
                // The keys held stay in use: a provider's hiccup does not sign everyone out.
                tracing::warn!(jwks.url = %self.url, error = %e, "JWKS fetch failed");
                state.error = Some(e);
            }
        }
    }

    async fn download(&self) -> Result<Vec<u8>, String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("cannot fetch the JWKS: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("the JWKS URL answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(format!("the JWKS is larger than {MAX_BODY_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("cannot read the JWKS: {e}"))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("the JWKS is larger than {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        assert!(check_url("https://idp.example/.well-known/jwks.json").is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("http://localhost/jwks").is_ok());
        assert!(check_url("http://[::1]:9/jwks").is_ok());
        assert!(check_url("http://idp.example/jwks").is_err());
        assert!(check_url("ftp://idp.example/jwks").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn unusable_keys_are_skipped_and_usable_ones_kept() {
        let document = br#"{"keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "XYZ", "kid": "odd"},
            {"kty": "EC", "kid": "es", "crv": "P-256", "alg": "ES256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "mismatch", "crv": "P-256", "alg": "RS256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}"#;
        let set = KeySet::parse(document, "test").unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.candidates(Some("es"), Algorithm::ES256).len(), 1);
        assert!(set.candidates(Some("es"), Algorithm::HS256).is_empty());
        assert!(!set.knows(Some("hmac")));
        assert!(KeySet::parse(b"[]", "test").is_err());
        assert!(
            Jwks::new(&JwksConfig {
                static_keys: Some(br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.to_vec()),
                ..JwksConfig::default()
            })
            .is_err()
        );
    }
}
