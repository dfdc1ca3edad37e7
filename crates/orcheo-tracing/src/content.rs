//! Prompt, response and message text before it leaves the process: redacted (default patterns and
//! configured ones), then cut to the preview length, or withheld entirely when capture is off —
//! its length is still reported.

use orcheo_content::{PatternError, Redactor, truncate_str};
use orcheo_trace_model::KeyValue;
use orcheo_trace_model::semconv::{
    CONTENT_ATTR_LENGTH, CONTENT_ATTR_PREVIEW, CONTENT_ATTR_REDACTED, CONTENT_ATTR_TRUNCATED,
};

use crate::TracingConfig;

/// What may be exported of a text, decided once per process from the configuration.
#[derive(Debug, Clone)]
pub struct ContentPolicy {
    redactor: Redactor,
    preview_max_length: usize,
    capture: bool,
}

/// A text made ready for export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// `None` when capture is off.
    pub preview: Option<String>,
    /// Characters of the original text.
    pub length: usize,
    pub truncated: bool,
    pub redacted: bool,
}

impl ContentPolicy {
    /// The policy of a configuration; a configured pattern that does not compile is an error.
    pub fn from_config(config: &TracingConfig) -> Result<Self, PatternError> {
        Ok(Self {
            redactor: Redactor::new(&config.redact_patterns)?,
            preview_max_length: config.preview_max_length,
            capture: config.capture_content,
        })
    }

    /// Redacts first, then truncates, so that a secret cut in half is never half exported.
    pub fn prepare(&self, text: &str) -> Prepared {
        let length = text.chars().count();
        if !self.capture {
            return Prepared {
                preview: None,
                length,
                truncated: false,
                redacted: false,
            };
        }
        let redacted = self.redactor.redact(text);
        let was_redacted = matches!(redacted, std::borrow::Cow::Owned(_));
        let mut preview = redacted.into_owned();
        let truncated = truncate_str(&mut preview, self.preview_max_length);
        Prepared {
            preview: Some(preview),
            length,
            truncated,
            redacted: was_redacted,
        }
    }
}

impl Prepared {
    /// The attributes of a `prompt` / `response` / `message` event (keys of the model's semconv).
    pub fn event_attributes(&self) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(4);
        if let Some(preview) = &self.preview {
            attributes.push(KeyValue::new(CONTENT_ATTR_PREVIEW, preview.as_str()));
        }
        attributes.push(KeyValue::new(
            CONTENT_ATTR_LENGTH,
            i64::try_from(self.length).unwrap_or(i64::MAX),
        ));
        attributes.push(KeyValue::new(CONTENT_ATTR_TRUNCATED, self.truncated));
        attributes.push(KeyValue::new(CONTENT_ATTR_REDACTED, self.redacted));
        attributes
    }
}

#[cfg(test)]
mod tests {
    use orcheo_trace_model::AttributeValue;

    use super::*;

    fn policy(max: usize, capture: bool, extra: &[&str]) -> ContentPolicy {
        ContentPolicy::from_config(&TracingConfig {
            preview_max_length: max,
            capture_content: capture,
            redact_patterns: extra.iter().map(|s| (*s).to_owned()).collect(),
            ..TracingConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn each_default_pattern_and_configured_ones_are_redacted() {
        let p = policy(512, true, &[r"EMP-\d+"]);
        for (text, expected) in [
            ("mail bob@example.com", "mail [REDACTED]"),
            ("ssn 123-45-6789", "ssn [REDACTED]"),
            ("card 4111 1111 1111 1111", "card [REDACTED]"),
            ("api_key=sk-abcdef123456", "api_key=[REDACTED]"),
            (
                "Authorization: Bearer abc.def.ghi123",
                "Authorization: Bearer [REDACTED]",
            ),
            ("employee EMP-4242", "employee [REDACTED]"),
        ] {
            let prepared = p.prepare(text);
            assert_eq!(prepared.preview.as_deref(), Some(expected), "{text}");
            assert!(prepared.redacted && !prepared.truncated);
        }
        assert!(!p.prepare("nothing secret").redacted);
    }

    #[test]
    fn truncation_is_exact_at_the_preview_length() {
        let p = policy(16, true, &[]);
        let exact = "x".repeat(16);
        assert_eq!(
            p.prepare(&exact),
            Prepared {
                preview: Some(exact.clone()),
                length: 16,
                truncated: false,
                redacted: false
            }
        );
        let over = p.prepare(&"é".repeat(17));
        assert_eq!(over.preview.as_deref().map(|s| s.chars().count()), Some(16));
        assert!(over.truncated);
        assert_eq!(over.length, 17);
    }

    #[test]
    fn a_secret_at_the_cut_is_redacted_whole_before_truncation() {
        let p = policy(20, true, &[]);
        let prepared = p.prepare("write to jane.doe@example.com please");
        let preview = prepared.preview.unwrap();
        assert!(!preview.contains("jane"), "{preview}");
        assert!(prepared.redacted && prepared.truncated);
    }

    #[test]
    fn capture_off_sends_no_text_but_its_length() {
        let prepared = policy(512, false, &[]).prepare("the whole prompt");
        assert_eq!(
            prepared,
            Prepared {
                preview: None,
                length: 16,
                truncated: false,
                redacted: false
            }
        );
        let attributes = prepared.event_attributes();
        assert!(attributes.iter().all(|kv| &*kv.key != CONTENT_ATTR_PREVIEW));
        assert_eq!(attributes[0].value, AttributeValue::Int(16));
    }

    #[test]
    fn a_bad_configured_pattern_is_refused() {
        let config = TracingConfig {
            redact_patterns: vec!["(open".into()],
            ..TracingConfig::default()
        };
        assert!(ContentPolicy::from_config(&config).is_err());
    }
}
