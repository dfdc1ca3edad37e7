//! Redaction of sensitive text with the default patterns of
//! [`orcheo_trace_model::content::DEFAULT_REDACTION_PATTERNS`] plus configured ones.

use std::borrow::Cow;

use orcheo_trace_model::content::{
    CARD_PATTERN_NAME, DEFAULT_REDACTION_PATTERNS, REDACTED, luhn_valid,
};
use regex::{Captures, Regex, RegexSet};

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
    /// Every pattern at once: most texts match none, and one pass over them says so.
    any: RegexSet,
    /// Only the default patterns, whose matches all need one of the bytes
    /// [`may_match_a_default`] looks for.
    defaults_only: bool,
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
        // Each pattern compiled alone above, so together they compile too; a failure here is a
        // size limit, reported against the last pattern.
        let any = RegexSet::new(patterns.iter().map(|p| p.regex.as_str())).map_err(|source| {
            PatternError {
                index: extra.len().saturating_sub(1),
                pattern: patterns
                    .last()
                    .map(|p| p.regex.as_str().to_owned())
                    .unwrap_or_default(),
                source,
            }
        })?;
        Ok(Self {
            patterns,
            any,
            defaults_only: extra.is_empty(),
        })
    }

    /// The default patterns only.
    pub fn with_defaults() -> Self {
        Self::new::<&str>(&[]).unwrap_or(Self {
            patterns: Vec::new(),
            any: RegexSet::empty(),
            defaults_only: true,
        })
    }

    /// `text` with every match replaced by `[REDACTED]`; borrowed when nothing matched.
    ///
    /// Most texts match nothing: a scan for the bytes the default patterns need, then one pass
    /// of all patterns together, say so before any pattern runs alone.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if (self.defaults_only && !may_match_a_default(text)) || !self.any.is_match(text) {
            return Cow::Borrowed(text);
        }
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

/// Whether `text` has something every match of a default pattern needs: `@` (e-mail), a digit
/// (card, SSN), `:` or `=` (secret) or the word `bearer`. Any non-ASCII byte counts too, since
/// `\d` and case-insensitive matching take in more than ASCII. A test keeps this in step with
/// [`DEFAULT_REDACTION_PATTERNS`].
fn may_match_a_default(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'@' | b':' | b'=' | b'0'..=b'9' | 0x80.. => true,
        b'b' | b'B' => bytes
            .get(i..i + 6)
            .is_some_and(|word| word.eq_ignore_ascii_case(b"bearer")),
        _ => false,
    })
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
    fn the_pre_check_passes_every_default_match() {
        // A pattern added to the defaults needs its own case in `may_match_a_default`.
        let names: Vec<_> = DEFAULT_REDACTION_PATTERNS.iter().map(|p| p.name).collect();
        assert_eq!(names, ["email", "card", "ssn", "bearer", "secret"]);
        let r = Redactor::with_defaults();
        for text in [
            "a@b.io",
            "4111111111111111",
            "123 45 6789",
            "BeArEr abcdefgh",
            "password: hunter22",
            "token=abcdef",
            "card ٤١١١ ١١١١ ١١١١ ١١١١",
            "ssn ١٢٣-٤٥-٦٧٨٩",
        ] {
            assert!(may_match_a_default(text), "{text}");
            let pattern_matches = r.patterns.iter().any(|p| p.regex.is_match(text));
            assert_eq!(r.any.is_match(text), pattern_matches, "{text}");
        }
        for text in ["Draft Email", "gen_ai.request.model", "a bear er", ""] {
            assert!(!may_match_a_default(text), "{text}");
            assert!(!r.any.is_match(text), "{text}");
        }
        assert_eq!(r.redact("ssn ١٢٣-٤٥-٦٧٨٩"), "ssn [REDACTED]");
    }

    #[test]
    fn extra_patterns_apply_and_bad_ones_are_named() {
        let r = Redactor::new(&[r"EMP-\d+", r"pin=(?P<value>\d+)", "(?i)hunter"]).unwrap();
        assert_eq!(r.redact("EMP-42 pin=1234"), "[REDACTED] pin=[REDACTED]");
        // Extra patterns are not bound by the default patterns' pre-check.
        assert_eq!(r.redact("Hunter two"), "[REDACTED] two");
        let err = Redactor::new(&["ok", "(unclosed"]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().contains("(unclosed"));
    }
}
