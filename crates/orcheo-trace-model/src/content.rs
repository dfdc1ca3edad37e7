//! Redaction patterns and content markers shared by the instrumentation (which redacts before
//! export) and the normalizer (which redacts again before serving, for spans from elsewhere).
//!
//! The patterns are plain regular-expression text so this crate needs no regex engine; each
//! consumer compiles them once.

/// What replaces a redacted match.
pub const REDACTED: &str = "[REDACTED]";

/// What ends a preview cut to the preview length.
pub const ELLIPSIS: char = '…';

/// What stands where content was withheld (capture off, or the caller lacks the content scope).
pub const WITHHELD: &str = "[WITHHELD]";

/// A named default redaction pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedactionPattern {
    pub name: &'static str,
    /// A regular expression (Rust `regex` syntax).
    pub pattern: &'static str,
    /// Whether only the capture group `value` is replaced (the label stays readable).
    pub keeps_label: bool,
}

/// The default patterns: e-mail addresses, SSN-like numbers (with separators, so plain nine-digit
/// numbers survive), card-like numbers (consumers should also check the Luhn digit, see
/// [`luhn_valid`]), and `api_key=…` / `Bearer …` secrets.
pub const DEFAULT_REDACTION_PATTERNS: &[RedactionPattern] = &[
    RedactionPattern {
        name: "email",
        pattern: r"(?i)\b[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}\b",
        keeps_label: false,
    },
    RedactionPattern {
        name: "card",
        pattern: r"\b(?:\d[ -]?){12,18}\d\b",
        keeps_label: false,
    },
    RedactionPattern {
        name: "ssn",
        pattern: r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b",
        keeps_label: false,
    },
    RedactionPattern {
        name: "bearer",
        pattern: r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9._~+/-]{8,}=*)",
        keeps_label: true,
    },
    RedactionPattern {
        name: "secret",
        pattern: r"(?i)\b(?:api[_-]?key|secret|token|password|passwd|access[_-]?key|auth)[\w-]*\s*[:=]\s*(?P<value>[^\s,;&]{6,})",
        keeps_label: true,
    },
];

/// The name of the card pattern, whose matches are redacted only when [`luhn_valid`].
pub const CARD_PATTERN_NAME: &str = "card";

/// Whether the digits in `text` pass the Luhn check (as payment card numbers do).
pub fn luhn_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 12 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i.is_multiple_of(2) {
                d
            } else if d * 2 > 9 {
                d * 2 - 9
            } else {
                d * 2
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_card_numbers_only() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(!luhn_valid("1234"));
    }
}
