//! [`Secret`]: a value that is never formatted.

use std::fmt;

/// What `{:?}` and `{}` print in place of a secret.
const REDACTED: &str = "[redacted]";

/// A credential (a token, a key, a header value that may carry an API key): `Debug` and
/// `Display` print `[redacted]`, so logging a configuration never leaks it, and the value is
/// reached only through [`Secret::expose_secret`], which makes every use visible in review.
///
/// There is deliberately no `Serialize`. Equality exists so that configurations can be
/// compared; it is not constant-time, so it must never check a credential someone presented.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself, for the one place that must send or check it.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let secret = Secret::new("hunter2-api-key".to_owned());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret:#?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        let bytes: Secret<Vec<u8>> = vec![0x41, 0x42].into();
        assert_eq!(format!("{bytes:?}"), "[redacted]");
    }

    #[test]
    fn the_value_is_reached_explicitly() {
        let secret: Secret<String> = "hunter2-api-key".to_owned().into();
        assert_eq!(secret.expose_secret(), "hunter2-api-key");
        assert_eq!(secret.clone(), secret);
        assert_ne!(secret, Secret::new("other".to_owned()));
    }
}
