//! Lenient scalar readers shared by the JSON decoders.
//!
//! Real payloads disagree on scalars: 64-bit integers arrive as numbers or decimal strings,
//! doubles as numbers or `"NaN"`/`"Infinity"`, enums as integers (OTLP) or names (Tempo), and
//! ids as hex or base64 (told apart by length, never by trying one decoder first).

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use orcheo_trace_model::{SpanId, TraceId};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Standard alphabet, padding optional.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An unsigned 64-bit integer from a number or a decimal string. Negative values read as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct U64(pub(crate) u64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an unsigned integer or a decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U64, E> {
                Ok(U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U64, E> {
                Ok(U64(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U64, E> {
                if (0.0..1.8e19).contains(&v) {
                    #[allow(clippy::cast_sign_loss, reason = "checked non-negative and in range")]
                    Ok(U64(v as u64))
                } else {
                    Ok(U64(0))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<U64, E> {
                let v = v.trim();
                if v.is_empty() {
                    return Ok(U64(0));
                }
                match v.parse::<u64>() {
                    Ok(n) => Ok(U64(n)),
                    Err(_) if v.parse::<i64>().is_ok() => Ok(U64(0)),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A signed 64-bit integer from a number or a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct I64(pub(crate) i64);

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = I64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<I64, E> {
                i64::try_from(v)
                    .map(I64)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<I64, E> {
                Ok(I64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<I64, E> {
                if v.fract() == 0.0 && v.abs() < 9.2e18 {
                    Ok(I64(v as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<I64, E> {
                v.trim()
                    .parse()
                    .map(I64)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A double from a number or `"NaN"`, `"Infinity"`, `"-Infinity"` (or a decimal string).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct F64(pub(crate) f64);

impl<'de> Deserialize<'de> for F64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = F64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<F64, E> {
                Ok(F64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<F64, E> {
                match v {
                    "NaN" => Ok(F64(f64::NAN)),
                    "Infinity" => Ok(F64(f64::INFINITY)),
                    "-Infinity" => Ok(F64(f64::NEG_INFINITY)),
                    other => other
                        .trim()
                        .parse()
                        .map(F64)
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// An enum as OTLP/JSON (integer) or Tempo (name) writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnumRepr {
    Number(i64),
    Name(String),
}

impl<'de> Deserialize<'de> for EnumRepr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnumRepr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an enum number or name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnumRepr, E> {
                Ok(EnumRepr::Number(i64::try_from(v).unwrap_or(-1)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnumRepr, E> {
                Ok(EnumRepr::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnumRepr, E> {
                Ok(EnumRepr::Name(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<EnumRepr, E> {
                Ok(EnumRepr::Name(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Reads a trace id: 32 hex digits, or 24 (22 unpadded) base64 characters; other lengths up to
/// 32 are unpadded hex.
pub(crate) fn trace_id(text: &str) -> Result<TraceId, String> {
    match text.len() {
        22 | 24 => {
            let bytes = BASE64
                .decode(text)
                .map_err(|e| format!("bad base64 trace id {text:?}: {e}"))?;
            TraceId::from_slice(&bytes).map_err(|e| format!("{e} ({text:?})"))
        }
        _ => TraceId::from_hex(text).map_err(|e| format!("{e} ({text:?})")),
    }
}

/// Reads a span id: 16 hex digits, or 12 (11 unpadded) base64 characters; other lengths up to 16
/// are unpadded hex.
pub(crate) fn span_id(text: &str) -> Result<SpanId, String> {
    match text.len() {
        11 | 12 => {
            let bytes = BASE64
                .decode(text)
                .map_err(|e| format!("bad base64 span id {text:?}: {e}"))?;
            SpanId::from_slice(&bytes).map_err(|e| format!("{e} ({text:?})"))
        }
        _ => SpanId::from_hex(text).map_err(|e| format!("{e} ({text:?})")),
    }
}

/// Reads an optional parent span id: absent, empty and all-zero all mean "no parent".
pub(crate) fn parent_span_id(text: Option<&str>) -> Result<Option<SpanId>, String> {
    match text {
        None | Some("") => Ok(None),
        // All-zero as hex ("0000…").
        Some(t) if t.bytes().all(|b| b == b'0') => Ok(None),
        // All-zero as base64 ("AAAAAAAAAAA="), decided by length like any span id.
        Some(t)
            if matches!(t.len(), 11 | 12)
                && BASE64.decode(t).is_ok_and(|b| b.iter().all(|x| *x == 0)) =>
        {
            Ok(None)
        }
        Some(t) => span_id(t).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_apart_by_length() {
        // Tempo writes base64; the same id in hex.
        let b64 = trace_id("6Lbf+fjUSyjxsivDvS9naA==").unwrap();
        assert_eq!(b64.to_string(), "e8b6dff9f8d44b28f1b22bc3bd2f6768");
        assert_eq!(trace_id("E8B6DFF9F8D44B28F1B22BC3BD2F6768").unwrap(), b64);
        assert_eq!(
            span_id("kAf+pIRVStc=").unwrap().to_string(),
            "9007fea484554ad7"
        );
        // 16 hex digits are hex even though they are also valid base64.
        assert_eq!(
            span_id("0123456789abcdef").unwrap().to_string(),
            "0123456789abcdef"
        );
        assert!(parent_span_id(Some("AAAAAAAAAAA=")).unwrap().is_none());
        assert!(parent_span_id(Some("0000000000000000")).unwrap().is_none());
        // Uppercase hex made of A and 0 is a real id, not "no parent".
        let parent = parent_span_id(Some("A0A0A0A0A0A0A0A0")).unwrap().unwrap();
        assert_eq!(parent.to_string(), "a0a0a0a0a0a0a0a0");
        assert!(trace_id("not an id").is_err());
    }

    #[test]
    fn scalars_accept_numbers_and_strings() {
        let v: Vec<U64> = serde_json::from_str(r#"[1, "2", -3, ""]"#).unwrap();
        assert_eq!(v, vec![U64(1), U64(2), U64(0), U64(0)]);
        let f: Vec<F64> = serde_json::from_str(r#"[1.5, "NaN", "-Infinity"]"#).unwrap();
        assert!(f[1].0.is_nan() && f[2].0 == f64::NEG_INFINITY);
        assert!(serde_json::from_str::<U64>(r#""x""#).is_err());
    }
}

/// A JSON object key, borrowed from the payload when it has no escapes. serde's own `Cow<str>`
/// always copies, which would allocate once per field of every attribute.
#[derive(Debug)]
pub(crate) struct FieldName<'de>(pub(crate) std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<FieldName<'de>, E> {
                Ok(FieldName(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldName<'de>, E> {
                Ok(FieldName(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(V)
    }
}
