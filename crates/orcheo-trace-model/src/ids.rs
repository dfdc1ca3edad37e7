//! Validated identifiers.
//!
//! Trace and span ids arrive as hex of any case, sometimes without their leading zeros (Jaeger),
//! or as raw bytes (protobuf). They are always shown as lowercase, zero-padded hex.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// The text was empty.
    Empty { what: &'static str },
    /// The hex text was longer than the id can hold.
    TooLong {
        what: &'static str,
        max: usize,
        len: usize,
    },
    /// A character was not a hex digit.
    NotHex { what: &'static str, position: usize },
    /// The raw byte form had the wrong length.
    WrongByteLength {
        what: &'static str,
        expected: usize,
        len: usize,
    },
    /// An all-zero id, which OpenTelemetry defines as invalid.
    AllZero { what: &'static str },
    /// An execution id with a character outside `[A-Za-z0-9._:-]`.
    BadCharacter { what: &'static str, position: usize },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { what } => write!(f, "{what} is empty"),
            Self::TooLong { what, max, len } => {
                write!(f, "{what} has {len} characters, at most {max} allowed")
            }
            Self::NotHex { what, position } => {
                write!(f, "{what} has a non-hex character at position {position}")
            }
            Self::WrongByteLength {
                what,
                expected,
                len,
            } => {
                write!(f, "{what} has {len} bytes, expected {expected}")
            }
            Self::AllZero { what } => write!(f, "{what} is all zeros"),
            Self::BadCharacter { what, position } => write!(
                f,
                "{what} has a character outside [A-Za-z0-9._:-] at position {position}"
            ),
        }
    }
}

impl std::error::Error for IdError {}

/// Each byte's value as a hex digit, or 0xff.
const HEX: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation, reason = "i < 256")]
        let b = i as u8;
        table[i] = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => 0xff,
        };
        i += 1;
    }
    table
};

fn hex_value(b: u8) -> Option<u8> {
    Some(HEX[usize::from(b)]).filter(|v| *v < 16)
}

/// Parses up to `2 * N` hex digits into `N` bytes, left-padding with zeros.
fn parse_hex<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], IdError> {
    let digits = text.as_bytes();
    if digits.is_empty() {
        return Err(IdError::Empty { what });
    }
    if digits.len() > 2 * N {
        return Err(IdError::TooLong {
            what,
            max: 2 * N,
            len: digits.len(),
        });
    }
    let mut out = [0u8; N];
    if digits.len() == 2 * N {
        // The usual case, every digit present: two digits a byte, read through a table.
        let mut bad = 0u8;
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
            bad |= hi | lo;
            *byte = (hi << 4) | (lo & 0x0f);
        }
        if bad & 0xf0 == 0 {
            return Ok(out);
        }
        out = [0u8; N];
    }
    // Walk from the least significant digit so that a short id is left-padded.
    for (i, &d) in digits.iter().rev().enumerate() {
        let v = hex_value(d).ok_or(IdError::NotHex {
            what,
            position: digits.len() - 1 - i,
        })?;
        let byte = N - 1 - i / 2;
        if i % 2 == 0 {
            out[byte] |= v;
        } else {
            out[byte] |= v << 4;
        }
    }
    Ok(out)
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        buf[2 * i] = DIGITS[usize::from(b >> 4)];
        buf[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    let text = std::str::from_utf8(&buf[..bytes.len() * 2]).map_err(|_| fmt::Error)?;
    f.write_str(text)
}

macro_rules! byte_id {
    (
        $(#[$doc:meta])* $name:ident, $len:literal, $what:literal,
        repr: $repr:ty, store: $store:expr, load: $load:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($repr);

        impl $name {
            /// Length of the id in bytes.
            pub const LEN: usize = $len;

            /// Parses hex of any case; fewer than the full number of digits is left-padded.
            /// The all-zero id is refused.
            pub fn from_hex(text: &str) -> Result<Self, IdError> {
                Self::from_bytes(parse_hex::<$len>($what, text)?)
            }

            /// Takes the raw bytes (as in protobuf); the all-zero id is refused.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                let array: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongByteLength {
                    what: $what,
                    expected: $len,
                    len: bytes.len(),
                })?;
                Self::from_bytes(array)
            }

            /// Takes the raw bytes; the all-zero id is refused.
            pub fn from_bytes(bytes: [u8; $len]) -> Result<Self, IdError> {
                let store: fn([u8; $len]) -> Option<$repr> = $store;
                store(bytes).map(Self).ok_or(IdError::AllZero { what: $what })
            }

            /// The raw bytes.
            pub fn to_bytes(self) -> [u8; $len] {
                let load: fn($repr) -> [u8; $len] = $load;
                load(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.to_bytes())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                write_hex(f, &self.to_bytes())?;
                f.write_str(")")
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

byte_id!(
    /// A 16-byte OpenTelemetry trace id.
    TraceId, 16, "trace id",
    // Bytes, not a `u128`: that would make every struct holding an id 16-byte aligned.
    repr: [u8; 16],
    store: |bytes| (bytes != [0; 16]).then_some(bytes),
    load: |bytes| bytes
);
byte_id!(
    /// An 8-byte OpenTelemetry span id.
    SpanId, 8, "span id",
    // A big-endian `NonZeroU64`: ids order as their bytes do, and `Option<SpanId>` (a parent,
    // a link) takes no more room than the id itself.
    repr: NonZeroU64,
    store: |bytes| NonZeroU64::new(u64::from_be_bytes(bytes)),
    load: |id| id.get().to_be_bytes()
);

/// An Orcheo execution id: 1 to 128 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutionId(String);

impl ExecutionId {
    /// The longest execution id accepted.
    pub const MAX_LEN: usize = 128;

    /// Validates and wraps an execution id.
    pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
        const WHAT: &str = "execution id";
        let text = text.into();
        if text.is_empty() {
            return Err(IdError::Empty { what: WHAT });
        }
        if text.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                what: WHAT,
                max: Self::MAX_LEN,
                len: text.len(),
            });
        }
        if let Some(position) = text
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')))
        {
            return Err(IdError::BadCharacter {
                what: WHAT,
                position,
            });
        }
        Ok(Self(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ExecutionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for ExecutionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_any_case_round_trips_as_lowercase() {
        let id = TraceId::from_hex("5B8EFFF798038103D269B633813FC60C").unwrap();
        assert_eq!(id.to_string(), "5b8efff798038103d269b633813fc60c");
    }

    #[test]
    fn unpadded_ids_are_left_padded() {
        let trace = TraceId::from_hex("6ee4a8ab0c6f5a2b6b2a6c0e9c8a2ec").unwrap();
        assert_eq!(trace.to_string(), "06ee4a8ab0c6f5a2b6b2a6c0e9c8a2ec");
        let span = SpanId::from_hex("1").unwrap();
        assert_eq!(span.to_string(), "0000000000000001");
    }

    #[test]
    fn span_ids_keep_their_bytes_and_order_as_their_bytes_do() {
        let bytes = [0x80, 0, 0, 0, 0, 0, 0, 0x01];
        let high = SpanId::from_bytes(bytes).unwrap();
        assert_eq!(high.to_bytes(), bytes);
        assert_eq!(high.to_string(), "8000000000000001");
        assert_eq!(SpanId::from_slice(&bytes), Ok(high));
        let low = SpanId::from_bytes([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert!(low < high);
        assert!(SpanId::from_hex("ff").unwrap() < SpanId::from_hex("100").unwrap());
        assert_eq!(
            SpanId::from_bytes([0; 8]),
            Err(IdError::AllZero { what: "span id" })
        );
    }

    #[test]
    fn bad_ids_are_refused_with_the_reason() {
        assert_eq!(
            SpanId::from_hex(""),
            Err(IdError::Empty { what: "span id" })
        );
        assert_eq!(
            SpanId::from_hex("00000000000000001"),
            Err(IdError::TooLong {
                what: "span id",
                max: 16,
                len: 17
            })
        );
        assert_eq!(
            SpanId::from_hex("12x4"),
            Err(IdError::NotHex {
                what: "span id",
                position: 2
            })
        );
        assert_eq!(
            SpanId::from_hex("0000"),
            Err(IdError::AllZero { what: "span id" })
        );
        assert!(matches!(
            TraceId::from_slice(&[1, 2, 3]),
            Err(IdError::WrongByteLength { .. })
        ));
        assert!(TraceId::from_hex("é").is_err());
    }

    #[test]
    fn execution_ids_are_validated() {
        assert!(ExecutionId::new("exec_123:retry-1.a").is_ok());
        assert!(ExecutionId::new("").is_err());
        assert!(ExecutionId::new("a/b").is_err());
        assert!(ExecutionId::new("x".repeat(129)).is_err());
    }
}
