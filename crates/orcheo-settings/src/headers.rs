//! Header lists: `name=value,name2=value2`, values `%XX`-decoded.

use crate::{Secret, SettingError};

/// Header names and their values; the values may carry credentials.
pub type Headers = Vec<(String, Secret<String>)>;

/// Parses `name=value,name2=value2` as the OpenTelemetry specification reads
/// `OTEL_EXPORTER_OTLP_HEADERS` (the W3C Baggage form): entries split on commas and trimmed,
/// empty entries dropped; a value may hold `=`; `%XX` in a value is the byte `XX`, so `%2C` is
/// a comma and `%25` a percent sign. A `%` not followed by two hex digits is an error, as is a
/// value that decodes to invalid UTF-8 or a control character (which would end the header
/// early). Errors never repeat a value, only the name of the header it belongs to.
pub fn headers(variable: &'static str, text: &str) -> Result<Headers, SettingError> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .enumerate()
        .map(|(index, entry)| {
            let Some((name, value)) = entry.split_once('=') else {
                return Err(SettingError::hidden(
                    variable,
                    format!(
                        "comma-separated name=value pairs; entry {} has no `=`",
                        index + 1
                    ),
                ));
            };
            let name = name.trim();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(SettingError::hidden(
                    variable,
                    // The name is not repeated: a mistyped entry such as
                    // `Authorization: Bearer <token>=` carries the credential before its `=`.
                    format!(
                        "comma-separated name=value pairs; the name of entry {} is not a header \
                         name of letters, digits, - and _",
                        index + 1
                    ),
                ));
            }
            let value = percent_decode(value.trim()).ok_or_else(|| {
                SettingError::hidden(
                    variable,
                    format!(
                        "comma-separated name=value pairs; the value of {name} has a `%` that \
                         is not followed by two hex digits (write %25 for a percent sign), or \
                         decodes to a control character or invalid UTF-8"
                    ),
                )
            })?;
            Ok((name.to_owned(), Secret::new(value)))
        })
        .collect()
}

/// `%XX` → the byte `XX`; `None` for a broken escape, invalid UTF-8 or a control character
/// other than tab.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    (!decoded.chars().any(|c| c.is_control() && c != '\t')).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        headers("H", text)
            .unwrap()
            .into_iter()
            .map(|(name, value)| (name, value.expose_secret().clone()))
            .collect()
    }

    #[test]
    fn pairs_are_trimmed_and_empty_entries_dropped() {
        assert_eq!(
            pairs(" X-Scope-OrgID = acme ,, Authorization=Basic a2V5Og== ,"),
            [
                ("X-Scope-OrgID".to_owned(), "acme".to_owned()),
                ("Authorization".to_owned(), "Basic a2V5Og==".to_owned())
            ]
        );
        assert!(pairs("").is_empty());
        assert!(pairs(" , ").is_empty());
        assert_eq!(pairs("k="), [("k".to_owned(), String::new())]);
    }

    #[test]
    fn values_are_percent_decoded() {
        assert_eq!(
            pairs("api-key=a%3Db,list=x%2Cy,pct=100%25,sp=Bearer%20t,u=%C3%A9"),
            [
                ("api-key".to_owned(), "a=b".to_owned()),
                ("list".to_owned(), "x,y".to_owned()),
                ("pct".to_owned(), "100%".to_owned()),
                ("sp".to_owned(), "Bearer t".to_owned()),
                ("u".to_owned(), "é".to_owned()),
            ]
        );
        assert_eq!(pairs("k=a=b"), [("k".to_owned(), "a=b".to_owned())]);
        assert_eq!(pairs("k=%41%62"), [("k".to_owned(), "Ab".to_owned())]);
    }

    #[test]
    fn bad_entries_are_errors_that_hide_values() {
        for (text, expected) in [
            (
                "s3cr3t-token",
                "comma-separated name=value pairs; entry 1 has no `=`",
            ),
            (
                "a=1, =s3cr3t",
                "comma-separated name=value pairs; the name of entry 2 is not a header name of \
                 letters, digits, - and _",
            ),
            (
                "bad name=s3cr3t",
                "comma-separated name=value pairs; the name of entry 1 is not a header name of \
                 letters, digits, - and _",
            ),
            (
                "Authorization: Bearer s3cr3t=",
                "comma-separated name=value pairs; the name of entry 1 is not a header name of \
                 letters, digits, - and _",
            ),
        ] {
            let e = headers("ORCHEO_TRACE_BACKEND_HEADERS", text).unwrap_err();
            assert_eq!(e.variable, "ORCHEO_TRACE_BACKEND_HEADERS");
            assert_eq!(e.value, None);
            assert_eq!(e.expected, expected, "{text:?}");
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
        }
        for broken in [
            "k=s3cr3t%",
            "k=s3cr3t%4",
            "k=s3cr3t%zz",
            "k=s3cr3t%+1",
            "k=%FF",
        ] {
            let e = headers("OTEL_EXPORTER_OTLP_HEADERS", broken).unwrap_err();
            assert!(e.expected.contains("the value of k has a `%`"), "{e}");
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
        }
        for injected in ["k=a%0D%0AX-Evil: 1", "k=a%00", "k=a%7F"] {
            assert!(headers("H", injected).is_err(), "{injected:?}");
        }
        assert_eq!(pairs("k=a%09b"), [("k".to_owned(), "a\tb".to_owned())]);
    }

    #[test]
    fn parsed_headers_print_names_but_not_values() {
        let parsed = headers("H", "X-Api-Key=s3cr3t-value").unwrap();
        let printed = format!("{parsed:?}");
        assert!(printed.contains("X-Api-Key"), "{printed}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
    }
}
