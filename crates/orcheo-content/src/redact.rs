//! Redaction of sensitive text with the default patterns of
//! [`orcheo_trace_model::content::DEFAULT_REDACTION_PATTERNS`] plus configured ones.

use std::borrow::Cow;

use orcheo_trace_model::content::{
    CARD_PATTERN_NAME, DEFAULT_REDACTION_PATTERNS, REDACTED, luhn_valid,
};
use regex::{Captures, Regex};

/// A configured redaction pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("redaction pattern {index} ({pattern:?}) is not a valid regular expression: {source}")]
pub struct PatternError {
    pub index: usize,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

#[derive(Debug, Clone)]
struct Pattern {
    regex: Regex,
    keeps_label: bool,
    luhn: bool,
}

/// Compiled redaction patterns.
#[derive(Debug, Clone)]
pub struct Redactor {
    patterns: Vec<Pattern>,
}

impl Redactor {
    /// The default patterns plus `extra` ones (each a regular expression; a capture group named
    /// `value` limits the replacement to that group).
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, PatternError> {
        let mut patterns = Vec::with_capacity(DEFAULT_REDACTION_PATTERNS.len() + extra.len());
        for p in DEFAULT_REDACTION_PATTERNS {
            let regex = Regex::new(p.pattern).map_err(|source| PatternError {
                index: patterns.len(),
                pattern: p.pattern.to_owned(),
                source,
            })?;
            patterns.push(Pattern {
                regex,
                keeps_label: p.keeps_label,
                luhn: p.name == CARD_PATTERN_NAME,
            });
        }
        for (index, p) in extra.iter().enumerate() {
            let p = p.as_ref();
            let regex = Regex::new(p).map_err(|source| PatternError {
                index,
                pattern: p.to_owned(),
                source,
            })?;
            let keeps_label = regex.capture_names().any(|n| n == Some("value"));
            patterns.push(Pattern {
                regex,
                keeps_label,
                luhn: false,
            });
        }
        Ok(Self { patterns })
    }

    /// The default patterns only.
    pub fn with_defaults() -> Self {
        Self::new::<&str>(&[]).unwrap_or(Self {
            patterns: Vec::new(),
        })
    }

    /// `text` with every match replaced by `[REDACTED]`; borrowed when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for p in &self.patterns {
            if !p.regex.is_match(&out) {
                continue;
            }
            let replaced = p.regex.replace_all(&out, |caps: &Captures<'_>| {
                let whole = caps.get(0).map_or("", |m| m.as_str());
                if p.luhn && !luhn_valid(whole) {
                    return whole.to_owned();
                }
                match (p.keeps_label, caps.name("value"), caps.get(0)) {
                    // `Authorization: Bearer …`: the scheme is a label too; the token itself is
                    // the bearer pattern's to redact.
                    (true, Some(value), _)
                        if value.as_str().eq_ignore_ascii_case("bearer")
                            || value.as_str().eq_ignore_ascii_case("basic")
                            || value.as_str().contains(REDACTED) =>
                    {
                        whole.to_owned()
                    }
                    (true, Some(value), Some(m)) => {
                        let start = value.start() - m.start();
                        let end = value.end() - m.start();
                        format!("{}{REDACTED}{}", &whole[..start], &whole[end..])
                    }
                    _ => REDACTED.to_owned(),
                }
            });
            if let Cow::Owned(s) = replaced {
                out = Cow::Owned(s);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_default_pattern_redacts() {
        let r = Redactor::with_defaults();
        assert_eq!(r.redact("mail bob@example.com now"), "mail [REDACTED] now");
        assert_eq!(r.redact("ssn 123-45-6789."), "ssn [REDACTED].");
        assert_eq!(
            r.redact("card 4111 1111 1111 1111 ok"),
            "card [REDACTED] ok"
        );
        assert_eq!(
            r.redact("api_key=sk-abcdef123456 rest"),
            "api_key=[REDACTED] rest"
        );
        assert_eq!(
            r.redact("Authorization: Bearer abc.def.ghi123"),
            "Authorization: Bearer [REDACTED]"
        );
    }

    #[test]
    fn ordinary_numbers_survive() {
        let r = Redactor::with_defaults();
        for text in [
            "order 123456789",
            "ts 1544712660000000000",
            "4111 1111 1111 1112",
        ] {
            assert_eq!(r.redact(text), text);
        }
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn extra_patterns_apply_and_bad_ones_are_named() {
        let r = Redactor::new(&[r"EMP-\d+", r"pin=(?P<value>\d+)"]).unwrap();
        assert_eq!(r.redact("EMP-42 pin=1234"), "[REDACTED] pin=[REDACTED]");
        let err = Redactor::new(&["ok", "(unclosed"]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().contains("(unclosed"));
    }
}
