//! Signed artifact references: a download that needs no `Authorization` header.
//!
//! Canvas opens an artifact in a new window at `/api/artifacts/{id}/download`, where no header
//! can be set, and builds that URL from the id alone. So the trace answer hands out, in place
//! of each id, a reference that carries its own proof: `<id>~<expiry>~<signature>`, where
//! `expiry` is a Unix time in seconds and `signature` is the unpadded base64url HMAC-SHA256,
//! under the server's link key, of the artifact id, the tenant of its execution and the
//! expiry. Only a caller who may read the execution gets one; it opens that artifact, of that
//! tenant, until it expires, and nothing else. Every character after the id is unreserved in a
//! URL, so `encodeURIComponent` leaves the suffix alone and the reference stays one path
//! segment.
//!
//! The tenant is not in the reference: the server takes it from the artifact's execution when
//! the link is used, so a reference minted for one tenant never verifies for another's
//! artifact. Signatures are compared in constant time.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orcheo_trace_model::semconv::ARTIFACT_IDS;
use orcheo_trace_model::{AttributeValue, KeyValue, TraceTree};
use ring::hmac;

/// Fewest bytes a configured key may have.
pub const MIN_KEY_BYTES: usize = 32;
/// A signature's length in the reference: 32 bytes in unpadded base64url.
const SIGNATURE_CHARS: usize = 43;
/// What separates the id, the expiry and the signature.
const SEPARATOR: char = '~';

/// Mints and checks signed references.
pub struct LinkSigner {
    key: hmac::Key,
    lifetime: Duration,
    /// The key was drawn at start-up: links die with the process and differ across replicas.
    generated: bool,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner")
            .field("key", &"***")
            .field("lifetime", &self.lifetime)
            .field("generated", &self.generated)
            .finish()
    }
}

/// A reference in its signed form, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReference<'a> {
    pub artifact_id: &'a str,
    pub expires_at: u64,
    signature: [u8; 32],
}

/// Why a signed reference does not open its artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Not signed by this key for this artifact and tenant (tampered, another artifact's,
    /// another tenant's, or another key's).
    BadSignature,
    /// Signed, but past its expiry.
    Expired,
}

impl LinkSigner {
    /// A signer with `key` (at least [`MIN_KEY_BYTES`]), or with a random key when `None`.
    pub fn new(key: Option<&[u8]>, lifetime: Duration) -> Result<Self, String> {
        let (key, generated) = match key {
            Some(key) if key.len() < MIN_KEY_BYTES => {
                return Err(format!(
                    "the link key has {} bytes; at least {MIN_KEY_BYTES} are needed",
                    key.len()
                ));
            }
            Some(key) => (hmac::Key::new(hmac::HMAC_SHA256, key), false),
            None => {
                let rng = ring::rand::SystemRandom::new();
                let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                    .map_err(|_| "no randomness for the link key".to_owned())?;
                (key, true)
            }
        };
        if lifetime.is_zero() {
            return Err("the link lifetime must be positive".to_owned());
        }
        Ok(Self {
            key,
            lifetime,
            generated,
        })
    }

    /// Whether the key was drawn at start-up rather than configured.
    pub fn key_is_generated(&self) -> bool {
        self.generated
    }

    /// The expiry of links minted at `now` (Unix seconds): at least the lifetime away, rounded
    /// up to a quarter of it, so answers rendered within one quarter carry the same links and
    /// can be cached together.
    pub fn expiry_at(&self, now: u64) -> u64 {
        let lifetime = self.lifetime.as_secs().max(1);
        let step = (lifetime / 4).max(1);
        now.saturating_add(lifetime)
            .div_ceil(step)
            .saturating_mul(step)
    }

    /// The expiry of links minted now.
    pub fn expiry(&self) -> u64 {
        self.expiry_at(unix_now())
    }

    fn message(artifact_id: &str, tenant: &str, expires_at: u64) -> Vec<u8> {
        // Lengths first, so no two (id, tenant) pairs give the same bytes.
        let mut message = Vec::with_capacity(32 + artifact_id.len() + tenant.len());
        message.extend_from_slice(b"orcheo-artifact-link/1\0");
        message.extend_from_slice(&(artifact_id.len() as u64).to_be_bytes());
        message.extend_from_slice(artifact_id.as_bytes());
        message.extend_from_slice(&(tenant.len() as u64).to_be_bytes());
        message.extend_from_slice(tenant.as_bytes());
        message.extend_from_slice(&expires_at.to_be_bytes());
        message
    }

    /// The signed reference to `artifact_id` of `tenant`, valid until `expires_at`.
    pub fn sign(&self, artifact_id: &str, tenant: &str, expires_at: u64) -> String {
        let tag = hmac::sign(&self.key, &Self::message(artifact_id, tenant, expires_at));
        format!(
            "{artifact_id}{SEPARATOR}{expires_at}{SEPARATOR}{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// Checks `reference` against the tenant of the artifact it names, at `now`.
    pub fn verify_at(
        &self,
        reference: &SignedReference<'_>,
        tenant: &str,
        now: u64,
    ) -> Result<(), LinkRefusal> {
        let message = Self::message(reference.artifact_id, tenant, reference.expires_at);
        // Constant time: ring compares the whole tag.
        hmac::verify(&self.key, &message, &reference.signature)
            .map_err(|_| LinkRefusal::BadSignature)?;
        if now >= reference.expires_at {
            return Err(LinkRefusal::Expired);
        }
        Ok(())
    }

    /// [`Self::verify_at`] now.
    pub fn verify(&self, reference: &SignedReference<'_>, tenant: &str) -> Result<(), LinkRefusal> {
        self.verify_at(reference, tenant, unix_now())
    }
}

impl<'a> SignedReference<'a> {
    /// `<id>~<expiry>~<signature>` taken apart; `None` when `text` does not have that form
    /// (a plain artifact id).
    pub fn parse(text: &'a str) -> Option<Self> {
        let (rest, signature) = text.rsplit_once(SEPARATOR)?;
        let (artifact_id, expiry) = rest.rsplit_once(SEPARATOR)?;
        if artifact_id.is_empty()
            || signature.len() != SIGNATURE_CHARS
            || expiry.is_empty()
            || expiry.len() > 20
            || !expiry.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(signature).ok()?;
        Some(Self {
            artifact_id,
            expires_at: expiry.parse().ok()?,
            signature: <[u8; 32]>::try_from(bytes.as_slice()).ok()?,
        })
    }
}

/// The links of one answer: one execution's tenant, one expiry.
#[derive(Debug, Clone, Copy)]
pub struct Minter<'a> {
    signer: &'a LinkSigner,
    tenant: &'a str,
    expires_at: u64,
}

impl<'a> Minter<'a> {
    /// Links to the artifacts of an execution of `tenant`, for a caller who may read it.
    pub fn new(signer: &'a LinkSigner, tenant: &'a str, expires_at: u64) -> Self {
        Self {
            signer,
            tenant,
            expires_at,
        }
    }

    fn reference(&self, artifact_id: &str) -> String {
        self.signer.sign(artifact_id, self.tenant, self.expires_at)
    }

    fn sign_value(&self, value: &AttributeValue) -> AttributeValue {
        match value {
            AttributeValue::Array(items) => AttributeValue::Array(
                items
                    .iter()
                    .map(|item| match item.as_str() {
                        Some(id) if !id.trim().is_empty() => {
                            AttributeValue::String(self.reference(id.trim()).into())
                        }
                        _ => item.clone(),
                    })
                    .collect(),
            ),
            AttributeValue::String(ids) => AttributeValue::String(
                ids.split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(|id| self.reference(id))
                    .collect::<Vec<_>>()
                    .join(",")
                    .into(),
            ),
            other => other.clone(),
        }
    }

    /// A span's attributes with each id of `orcheo.artifact.ids` replaced by its signed
    /// reference (the form Canvas passes to `/api/artifacts/{id}/download`); `None` when the
    /// span names no artifact.
    pub fn sign_attributes(&self, attributes: &[KeyValue]) -> Option<Vec<KeyValue>> {
        let at = attributes.iter().position(|kv| kv.key == ARTIFACT_IDS)?;
        let mut signed = attributes.to_vec();
        signed[at].value = self.sign_value(&attributes[at].value);
        Some(signed)
    }

    /// A copy of `tree` in which every artifact has its `download_url`, and is `available`
    /// when its id is in `held` (the ones this server holds the file of); `None` when the tree
    /// has no artifact (nothing to copy).
    pub fn with_download_urls(
        &self,
        tree: &TraceTree,
        held: &BTreeSet<String>,
    ) -> Option<TraceTree> {
        if !tree.nodes.iter().any(|n| !n.artifacts().is_empty()) {
            return None;
        }
        let mut copy = tree.clone();
        for content in copy.nodes.iter_mut().filter_map(|n| n.content.as_mut()) {
            for artifact in &mut content.artifacts {
                artifact.download_url = Some(download_path(&self.reference(&artifact.id)));
                artifact.available = held.contains(&artifact.id);
            }
        }
        Some(copy)
    }
}

/// Reads a configured key: hexadecimal (an even number of hex digits) or base64 (standard or
/// URL-safe, padded or not).
pub fn parse_key(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let bytes = if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| "not hexadecimal".to_owned())?
    } else {
        let unpadded = text.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
            .map_err(|_| "neither hexadecimal nor base64".to_owned())?
    };
    if bytes.len() < MIN_KEY_BYTES {
        return Err(format!(
            "{} bytes; at least {MIN_KEY_BYTES} are needed (for example 64 hex digits from \
             `openssl rand -hex 32`)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The path of an artifact's download, for a reference (plain or signed): the reference is
/// percent-encoded as one path segment, as `encodeURIComponent` does.
pub fn download_path(reference: &str) -> String {
    let mut path = String::with_capacity(reference.len() + 32);
    path.push_str("/api/artifacts/");
    for byte in reference.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            path.push(char::from(byte));
        } else {
            let _ = write!(path, "%{byte:02X}");
        }
    }
    path.push_str("/download");
    path
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(Some(&[7u8; 32]), Duration::from_mins(15)).unwrap()
    }

    #[test]
    fn a_signed_reference_opens_its_artifact_of_its_tenant_until_it_expires() {
        let s = signer();
        let link = s.sign("email.txt", "acme", 2_000);
        let reference = SignedReference::parse(&link).unwrap();
        assert_eq!(reference.artifact_id, "email.txt");
        assert_eq!(s.verify_at(&reference, "acme", 1_999), Ok(()));
        assert_eq!(
            s.verify_at(&reference, "acme", 2_000),
            Err(LinkRefusal::Expired)
        );
        assert_eq!(
            s.verify_at(&reference, "globex", 1_000),
            Err(LinkRefusal::BadSignature)
        );
        // Another key's links are not this one's.
        let other = LinkSigner::new(None, Duration::from_mins(15)).unwrap();
        assert!(other.key_is_generated());
        assert_eq!(
            other.verify_at(&reference, "acme", 1_000),
            Err(LinkRefusal::BadSignature)
        );
    }

    #[test]
    fn tampering_with_any_part_breaks_the_signature() {
        let s = signer();
        let link = s.sign("a1", "acme", 2_000);
        let later = link.replacen("~2000~", "~9000~", 1);
        let other_id = link.replacen("a1~", "a2~", 1);
        for forged in [later, other_id] {
            let reference = SignedReference::parse(&forged).unwrap();
            assert_eq!(
                s.verify_at(&reference, "acme", 1_000),
                Err(LinkRefusal::BadSignature),
                "{forged}"
            );
        }
        let mut bytes = link.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        if let Some(reference) = SignedReference::parse(&flipped) {
            assert_eq!(
                s.verify_at(&reference, "acme", 1_000),
                Err(LinkRefusal::BadSignature)
            );
        }
    }

    #[test]
    fn ids_with_the_separator_and_plain_ids_parse_as_they_should() {
        let s = signer();
        let link = s.sign("run~1/out.txt", "acme", 5);
        assert_eq!(
            SignedReference::parse(&link).unwrap().artifact_id,
            "run~1/out.txt"
        );
        for plain in [
            "a1",
            "a~b",
            "a~1~short",
            "~1~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(SignedReference::parse(plain).is_none(), "{plain}");
        }
    }

    #[test]
    fn expiries_are_at_least_the_lifetime_away_and_shared_within_a_quarter() {
        let s = signer();
        assert_eq!(s.expiry_at(1_000), 2_025);
        assert_eq!(s.expiry_at(1_100), 2_025);
        assert!(s.expiry_at(1_126) >= 2_026);
        assert!(LinkSigner::new(Some(&[1u8; 16]), Duration::from_mins(1)).is_err());
        assert!(LinkSigner::new(None, Duration::ZERO).is_err());
    }

    #[test]
    fn keys_read_as_hex_or_base64_and_short_ones_are_refused() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(parse_key(hex).unwrap().len(), 32);
        let b64 = base64::engine::general_purpose::STANDARD.encode([9u8; 48]);
        assert_eq!(parse_key(&b64).unwrap(), vec![9u8; 48]);
        assert!(parse_key("abcd").is_err());
        assert!(parse_key("not a key at all!").is_err());
    }

    #[test]
    fn download_paths_encode_the_reference_as_one_segment() {
        assert_eq!(
            download_path("run 1/a.txt~5~x-_"),
            "/api/artifacts/run%201%2Fa.txt~5~x-_/download"
        );
    }
}
