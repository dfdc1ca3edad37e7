//! How Orcheo Trace reads a setting's text, in one place, so an environment variable means the
//! same thing whichever crate reads it.
//!
//! The rules:
//! - **Booleans**: `true`, `false`, `1`, `0`, `yes`, `no`, `on`, `off`, in any case, with
//!   surrounding whitespace ignored ([`boolean`]). A blank value is "not set" where a default
//!   exists ([`boolean_or`]).
//! - **Lists**: split on commas (or the separators a setting names), each item trimmed, empty
//!   items dropped ([`list`], [`list_split`]).
//! - **Header lists**: `name=value,name2=value2` as the OpenTelemetry specification has it for
//!   `OTEL_EXPORTER_OTLP_HEADERS` (the W3C Baggage form): names of letters, digits, `-` and
//!   `_`; values trimmed, then `%XX` percent-decoded; the values are [`Secret`]s
//!   ([`headers`]).
//! - **Whole numbers** within bounds, and durations as whole numbers of a unit ([`integer`],
//!   [`millis`], [`seconds`]).
//!
//! Invariants: this crate reads no environment and does no I/O; it parses the text it is given
//! (callers pass a lookup, [`first_set`]). It depends on std and `thiserror` only, so every
//! crate of the workspace may use it. An error names the variable and what was expected; it
//! shows the value only when the value cannot be a secret.
#![forbid(unsafe_code)]

mod headers;
mod secret;

use std::ops::RangeInclusive;
use std::time::Duration;

pub use headers::{Headers, headers};
pub use secret::Secret;

/// A variable's value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}{}", self.problem_after_name())]
pub struct SettingError {
    /// The environment variable, as documented.
    pub variable: &'static str,
    /// The value as given; `None` when it may hold a secret and so is not repeated.
    pub value: Option<String>,
    /// What the variable accepts, or what is wrong with the value.
    pub expected: String,
}

impl SettingError {
    /// An error that repeats the value (for values that cannot be secrets).
    pub fn new(variable: &'static str, value: &str, expected: impl Into<String>) -> Self {
        Self {
            variable,
            value: Some(value.to_owned()),
            expected: expected.into(),
        }
    }

    /// An error that does not repeat the value.
    pub fn hidden(variable: &'static str, expected: impl Into<String>) -> Self {
        Self {
            variable,
            value: None,
            expected: expected.into(),
        }
    }

    /// The message without the variable's name, for callers that name it their own way.
    pub fn problem(&self) -> String {
        match &self.value {
            Some(value) => format!("{value:?}: expected {}", self.expected),
            None => format!("expected {}", self.expected),
        }
    }

    fn problem_after_name(&self) -> String {
        match &self.value {
            Some(value) => format!("={value:?}: expected {}", self.expected),
            None => format!(": expected {}", self.expected),
        }
    }
}

/// The first of `names` that is set to something other than blanks, with its name and its
/// trimmed value: an empty variable counts as unset, so it never hides a fallback.
pub fn first_set(
    lookup: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<(&'static str, String)> {
    names.iter().find_map(|&name| {
        lookup(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v.trim().to_owned()))
    })
}

const BOOLEAN_EXPECTED: &str = "true or false (also 1/0, yes/no, on/off)";

/// A boolean; blank is an error (use [`boolean_or`] where a default applies).
pub fn boolean(variable: &'static str, text: &str) -> Result<bool, SettingError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(SettingError::new(variable, text, BOOLEAN_EXPECTED)),
    }
}

/// A boolean, or `default` when the text is blank (a variable set to nothing).
pub fn boolean_or(variable: &'static str, text: &str, default: bool) -> Result<bool, SettingError> {
    if text.trim().is_empty() {
        Ok(default)
    } else {
        boolean(variable, text)
    }
}

/// Comma-separated items, trimmed, empty ones dropped.
pub fn list(text: &str) -> Vec<String> {
    list_split(text, &[','])
}

/// Items separated by any of `separators`, trimmed, empty ones dropped. For lists whose items
/// may hold commas (regular expressions use `;`).
pub fn list_split(text: &str, separators: &[char]) -> Vec<String> {
    text.split(separators)
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A whole number within `range`.
pub fn integer(
    variable: &'static str,
    text: &str,
    range: RangeInclusive<u64>,
) -> Result<u64, SettingError> {
    integer_of(variable, text, range, "")
}

/// A whole number of `unit` (a plural noun, for the error message) within `range`.
pub fn integer_of(
    variable: &'static str,
    text: &str,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, SettingError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| SettingError::new(variable, text, expected_number(&range, unit)))
}

/// A duration given in whole milliseconds within `range`.
pub fn millis(
    variable: &'static str,
    text: &str,
    range: RangeInclusive<u64>,
) -> Result<Duration, SettingError> {
    integer_of(variable, text, range, "milliseconds").map(Duration::from_millis)
}

/// A duration given in whole seconds within `range`.
pub fn seconds(
    variable: &'static str,
    text: &str,
    range: RangeInclusive<u64>,
) -> Result<Duration, SettingError> {
    integer_of(variable, text, range, "seconds").map(Duration::from_secs)
}

fn expected_number(range: &RangeInclusive<u64>, unit: &str) -> String {
    let what = if unit.is_empty() {
        "a whole number".to_owned()
    } else {
        format!("a whole number of {unit}")
    };
    match (*range.start(), *range.end()) {
        (0, u64::MAX) => what,
        (min, u64::MAX) => format!("{what}, at least {min}"),
        (min, max) => format!("{what} from {min} to {max}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn booleans_have_one_spelling_set() {
        for yes in ["true", "TRUE", " True ", "1", "yes", "YES", "on", "On"] {
            assert_eq!(boolean("V", yes), Ok(true), "{yes:?}");
        }
        for no in ["false", "False", "0", "no", "NO", "off", " off\n"] {
            assert_eq!(boolean("V", no), Ok(false), "{no:?}");
        }
        for bad in ["", " ", "maybe", "2", "t", "enabled", "y"] {
            assert!(boolean("V", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_boolean_names_the_variable_and_the_value() {
        let e = boolean("ORCHEO_REDACT", "maybe").unwrap_err();
        assert_eq!(e.variable, "ORCHEO_REDACT");
        assert_eq!(e.value.as_deref(), Some("maybe"));
        assert_eq!(
            e.to_string(),
            r#"ORCHEO_REDACT="maybe": expected true or false (also 1/0, yes/no, on/off)"#
        );
        assert_eq!(
            e.problem(),
            r#""maybe": expected true or false (also 1/0, yes/no, on/off)"#
        );
    }

    #[test]
    fn a_blank_boolean_takes_the_default() {
        assert_eq!(boolean_or("V", "", true), Ok(true));
        assert_eq!(boolean_or("V", "  ", false), Ok(false));
        assert_eq!(boolean_or("V", "off", true), Ok(false));
        assert!(boolean_or("V", "nah", true).is_err());
    }

    #[test]
    fn lists_are_trimmed_without_empty_items() {
        assert_eq!(list(" a, b ,,c ,"), ["a", "b", "c"]);
        assert!(list("").is_empty());
        assert!(list(" , ,").is_empty());
        assert_eq!(list_split(r"a\d+; ;b,c", &[';']), [r"a\d+", "b,c"]);
        assert_eq!(list_split("x y,z", &[',', ' ']), ["x", "y", "z"]);
    }

    #[test]
    fn numbers_are_whole_and_within_bounds() {
        assert_eq!(integer("V", " 42 ", 0..=100), Ok(42));
        assert_eq!(integer("V", "0", 0..=100), Ok(0));
        assert_eq!(integer("V", "100", 0..=100), Ok(100));
        for bad in ["101", "-1", "1.5", "", "ten", "0x10"] {
            assert!(integer("V", bad, 0..=100).is_err(), "{bad:?}");
        }
        assert_eq!(millis("V", "250", 1..=1000), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("V", "30", 0..=60), Ok(Duration::from_secs(30)));
    }

    #[test]
    fn number_errors_say_the_bounds_and_unit() {
        assert_eq!(
            integer("N", "0", 1..=10).unwrap_err().to_string(),
            r#"N="0": expected a whole number from 1 to 10"#
        );
        assert_eq!(
            millis("T", "soon", 100..=5_000).unwrap_err().to_string(),
            r#"T="soon": expected a whole number of milliseconds from 100 to 5000"#
        );
        assert_eq!(
            seconds("S", "0", 1..=u64::MAX).unwrap_err().to_string(),
            r#"S="0": expected a whole number of seconds, at least 1"#
        );
        assert_eq!(
            integer_of("C", "-3", 0..=u64::MAX, "tokens")
                .unwrap_err()
                .to_string(),
            r#"C="-3": expected a whole number of tokens"#
        );
    }

    #[test]
    fn first_set_skips_blank_variables() {
        let vars: HashMap<&str, &str> = [("A", "  "), ("B", " b "), ("C", "c")].into();
        let lookup = |name: &str| vars.get(name).map(|v| (*v).to_owned());
        assert_eq!(
            first_set(&lookup, &["A", "B", "C"]),
            Some(("B", "b".to_owned()))
        );
        assert_eq!(first_set(&lookup, &["A", "Z"]), None);
    }

    #[test]
    fn hidden_errors_do_not_repeat_the_value() {
        let e = SettingError::hidden("ORCHEO_AUTH_JWT_SECRET", "at least 32 bytes");
        assert_eq!(
            e.to_string(),
            "ORCHEO_AUTH_JWT_SECRET: expected at least 32 bytes"
        );
        assert_eq!(e.problem(), "expected at least 32 bytes");
    }
}
