//! The protobuf wire format, read by hand: varints, fixed-width numbers and length-delimited
//! fields over a byte slice, with no schema and no copies.
//!
//! Every read is bounds-checked and returns a [`WireError`], never panics. The rules are
//! `prost`'s, so that what this reader accepts a generated decoder accepts too: a field key
//! above 32 bits, field number 0, the group wire types and a varint past 64 bits are refused,
//! and a field whose wire type is not the one its schema gives it is refused by
//! [`Reader::expect`] (callers check every field they know).
//!
//! ```
//! use orcheo_span_tree::protobuf::{Reader, WireType};
//!
//! // Field 1, length-delimited, holding "hi"; then field 2, a varint.
//! let mut r = Reader::new(&[0x0a, 0x02, b'h', b'i', 0x10, 0x96, 0x01]);
//! assert_eq!(r.field()?, Some((1, WireType::Len)));
//! assert_eq!(r.str()?, "hi");
//! if let Some((2, wire)) = r.field()? {
//!     r.expect("count", wire, WireType::Varint)?;
//!     assert_eq!(r.varint()?, 150);
//! }
//! assert_eq!(r.field()?, None);
//! # Ok::<(), orcheo_span_tree::protobuf::WireError>(())
//! ```

use std::fmt;

use orcheo_trace_model::{SmolStr, semconv};

/// How deeply messages may nest: `prost`'s recursion limit. The outermost message is level 0; a
/// message at this level may hold scalars only (a message or an unknown field in it is refused).
pub const MAX_MESSAGE_DEPTH: u32 = 100;

/// Where and why protobuf bytes could not be read. One pointer wide: every read returns a
/// `Result`, and a small error keeps those as small as the values they carry (measured, 15 %
/// faster decoding than an error of three words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} at byte {}", .0.kind, .0.offset)]
pub struct WireError(Box<Located>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Located {
    kind: WireErrorKind,
    offset: usize,
}

impl WireError {
    /// An error of `kind` at byte `offset` of the payload.
    pub fn new(kind: WireErrorKind, offset: usize) -> Self {
        Self(Box::new(Located { kind, offset }))
    }

    /// What was wrong.
    pub fn kind(&self) -> &WireErrorKind {
        &self.0.kind
    }

    /// Where, in bytes from the start of the payload the first [`Reader`] was made over.
    pub fn offset(&self) -> usize {
        self.0.offset
    }
}

/// What was wrong with protobuf bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireErrorKind {
    /// The bytes end inside a varint.
    #[error("truncated varint")]
    TruncatedVarint,
    /// A varint longer than 10 bytes, or of more than 64 bits.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// The bytes end inside a fixed-width number.
    #[error("truncated fixed{0}")]
    TruncatedFixed(u8),
    /// A length-delimited field longer than what is left of its message.
    #[error("length runs past the end of the message")]
    LengthPastEnd,
    /// A field key larger than 32 bits.
    #[error("field key {0} is larger than 32 bits")]
    KeyTooLarge(u64),
    /// Field number 0, which protobuf reserves.
    #[error("field number 0")]
    FieldNumberZero,
    /// Wire types 3 and 4 (groups, which proto3 does not have), 6 and 7 (none).
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// A known field sent with another wire type than its schema gives it.
    #[error("field {field} has wire type {got}, expected {want}")]
    WrongWireType {
        field: &'static str,
        got: WireType,
        want: WireType,
    },
    /// A string field that is not UTF-8.
    #[error("invalid UTF-8 in a string")]
    InvalidUtf8,
    /// Messages nested deeper than [`MAX_MESSAGE_DEPTH`].
    #[error("messages nest deeper than {MAX_MESSAGE_DEPTH} levels")]
    TooDeep,
}

/// A protobuf wire type (groups, 3 and 4, are not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// 0: `int32`, `int64`, `uint32`, `uint64`, `bool`, enums.
    Varint,
    /// 1: `fixed64`, `sfixed64`, `double`.
    Fixed64,
    /// 2: strings, bytes, messages, packed repeated fields.
    Len,
    /// 5: `fixed32`, `sfixed32`, `float`.
    Fixed32,
}

impl fmt::Display for WireType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Varint => "varint",
            Self::Fixed64 => "fixed64",
            Self::Len => "length-delimited",
            Self::Fixed32 => "fixed32",
        })
    }
}

/// The wire types the reader knows, by their 3-bit code.
const WIRE_TYPES: [Option<WireType>; 8] = [
    Some(WireType::Varint),
    Some(WireType::Fixed64),
    Some(WireType::Len),
    None,
    None,
    Some(WireType::Fixed32),
    None,
    None,
];

/// A cursor over one message's bytes. Copying it is cheap and gives a second cursor at the same
/// place; a length-delimited field read with [`Reader::len`] is a reader of its own.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    /// Address of the payload's first byte: where `bytes` starts in the payload, for error
    /// messages, is computed from it when needed instead of being counted at every read.
    start: usize,
}

#[allow(
    clippy::inline_always,
    reason = "field, varint and len run for every field of every span; measured, an out-of-line call each costs about a tenth of decoding"
)]
impl<'a> Reader<'a> {
    /// A reader over a whole payload: offsets in errors count from its first byte.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            start: bytes.as_ptr().addr(),
        }
    }

    fn advance(&mut self, n: usize) {
        self.bytes = &self.bytes[n..];
    }

    /// Where the unread bytes start, in bytes from the payload's start.
    pub fn offset(&self) -> usize {
        self.bytes.as_ptr().addr() - self.start
    }

    #[cold]
    fn fail<T>(&self, kind: WireErrorKind) -> Result<T, WireError> {
        Err(WireError::new(kind, self.offset()))
    }

    /// A varint.
    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, WireError> {
        // Field keys, enums, lengths of short strings: nearly every varint is one byte.
        if let Some(&b) = self.bytes.first()
            && b < 0x80
        {
            self.advance(1);
            return Ok(u64::from(b));
        }
        self.long_varint()
    }

    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64, WireError> {
        // Two bytes: lengths of text and of spans, token counts.
        if let [b0, b1, ..] = *self.bytes
            && b0 >= 0x80
            && b1 < 0x80
        {
            self.advance(2);
            return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
        }
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(i) else {
                return self.fail(WireErrorKind::TruncatedVarint);
            };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return self.fail(WireErrorKind::VarintOverflow);
                }
                self.advance(i + 1);
                return Ok(value);
            }
        }
        self.fail(WireErrorKind::VarintOverflow)
    }

    /// The next field's number and wire type; `None` at the end of the message.
    #[inline(always)]
    pub fn field(&mut self) -> Result<Option<(u32, WireType)>, WireError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let Ok(key) = u32::try_from(key) else {
            return self.fail(WireErrorKind::KeyTooLarge(key));
        };
        let Some(wire_type) = WIRE_TYPES[(key & 7) as usize] else {
            return self.fail(WireErrorKind::UnsupportedWireType((key & 7) as u8));
        };
        let number = key >> 3;
        if number == 0 {
            return self.fail(WireErrorKind::FieldNumberZero);
        }
        Ok(Some((number, wire_type)))
    }

    /// A `fixed64` (or `double`, from its bits).
    #[inline]
    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        match self.bytes.first_chunk::<8>() {
            Some(b) => {
                let v = u64::from_le_bytes(*b);
                self.advance(8);
                Ok(v)
            }
            None => self.fail(WireErrorKind::TruncatedFixed(64)),
        }
    }

    /// A `fixed32` (or `float`, from its bits).
    pub fn fixed32(&mut self) -> Result<u32, WireError> {
        match self.bytes.first_chunk::<4>() {
            Some(b) => {
                let v = u32::from_le_bytes(*b);
                self.advance(4);
                Ok(v)
            }
            None => self.fail(WireErrorKind::TruncatedFixed(32)),
        }
    }

    /// A length-delimited field's bytes, as a reader of their own.
    #[inline(always)]
    pub fn len(&mut self) -> Result<Reader<'a>, WireError> {
        let len = self.varint()?;
        let Some(len) = usize::try_from(len).ok().filter(|&l| l <= self.bytes.len()) else {
            return self.fail(WireErrorKind::LengthPastEnd);
        };
        let inner = Reader {
            bytes: &self.bytes[..len],
            start: self.start,
        };
        self.advance(len);
        Ok(inner)
    }

    /// A length-delimited field's bytes.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        Ok(self.len()?.bytes)
    }

    /// A string field, checked to be UTF-8.
    #[inline]
    pub fn str(&mut self) -> Result<&'a str, WireError> {
        self.len()?.utf8_here()
    }

    /// A string field, copied.
    pub fn string(&mut self) -> Result<String, WireError> {
        self.str().map(str::to_owned)
    }

    /// A string field as text a span holds (inline when short).
    #[inline]
    pub(crate) fn text(&mut self) -> Result<SmolStr, WireError> {
        self.str().map(text)
    }

    /// A string field as an attribute key or event name (known long keys are not copied).
    #[inline]
    pub(crate) fn key(&mut self) -> Result<SmolStr, WireError> {
        self.str().map(semconv::key)
    }

    /// A string field read into `out` (made by `make`: [`text`] for text,
    /// [`semconv::key`] for keys and names), shared with the previous span's text at `slot` when
    /// the bytes are the same. Written in place: a short text built in a temporary and then
    /// moved costs a store-forwarding stall on every read.
    #[inline]
    pub(crate) fn recent_into(
        &mut self,
        recent: &mut Recent,
        slot: usize,
        make: fn(&str) -> SmolStr,
        out: &mut SmolStr,
    ) -> Result<(), WireError> {
        self.len()?.recent_into_here(recent, slot, make, out)
    }

    /// [`Self::recent_into`] for a reader holding just the string's bytes.
    #[inline]
    pub(crate) fn recent_into_here(
        mut self,
        recent: &mut Recent,
        slot: usize,
        make: fn(&str) -> SmolStr,
        out: &mut SmolStr,
    ) -> Result<(), WireError> {
        if let Some(last) = recent.slots.get(slot)
            && last.as_bytes() == self.bytes
        {
            out.clone_from(last);
            return Ok(());
        }
        *out = make(self.utf8_here()?);
        recent.remember(slot, out);
        Ok(())
    }

    /// The bytes left to read.
    pub fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether nothing is left to read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The rest of this reader's bytes as UTF-8 text.
    fn utf8_here(&mut self) -> Result<&'a str, WireError> {
        let (at, bytes) = (self.offset(), self.bytes);
        self.advance(bytes.len());
        std::str::from_utf8(bytes).map_err(|_| WireError::new(WireErrorKind::InvalidUtf8, at))
    }

    /// Skips a field of the given type (unknown fields are ignored, as protobuf requires).
    pub fn skip(&mut self, wire_type: WireType) -> Result<(), WireError> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
            WireType::Len => self.len().map(drop),
        }
    }

    /// Checks that a known field came with the wire type its schema gives it (`got`, as
    /// [`Reader::field`] read it): read as another type, its bytes would be misread.
    #[inline(always)]
    pub fn expect(
        &self,
        field: &'static str,
        got: WireType,
        want: WireType,
    ) -> Result<(), WireError> {
        if got == want {
            Ok(())
        } else {
            self.wrong_wire_type(field, got, want)
        }
    }

    #[cold]
    #[inline(never)]
    fn wrong_wire_type(
        &self,
        field: &'static str,
        got: WireType,
        want: WireType,
    ) -> Result<(), WireError> {
        self.fail(WireErrorKind::WrongWireType { field, got, want })
    }
}

/// Text as a span holds it (inline when short): the maker [`Reader::recent_into`] takes for
/// values and span names, as [`semconv::key`] is for keys.
pub(crate) fn text(s: &str) -> SmolStr {
    SmolStr::new(s)
}

/// Text seen at the same place in the previous span. The spans of a trace repeat their keys in
/// the same order, and many values (execution id, node kind, model, provider): text whose bytes
/// equal the last span's at its place is shared with it, with no UTF-8 check and no copy.
#[derive(Default)]
pub(crate) struct Recent {
    slots: Vec<SmolStr>,
}

impl Recent {
    /// Places beyond this are not remembered.
    const SLOTS: usize = 64;

    fn remember(&mut self, slot: usize, text: &SmolStr) {
        if slot >= Self::SLOTS {
            return;
        }
        if slot >= self.slots.len() {
            self.slots.resize(slot + 1, SmolStr::default());
        }
        self.slots[slot] = text.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varints_and_refuses_bad_ones() {
        let mut r = Reader::new(&[
            0x96, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        assert_eq!(r.varint().unwrap(), 150);
        assert_eq!(r.varint().unwrap(), u64::MAX);
        let kind = |bytes: &[u8]| Reader::new(bytes).varint().unwrap_err().kind().clone();
        assert_eq!(kind(&[0x80]), WireErrorKind::TruncatedVarint);
        assert_eq!(kind(&[0xff; 11]), WireErrorKind::VarintOverflow);
        assert_eq!(
            kind(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            WireErrorKind::VarintOverflow
        );
    }

    #[test]
    fn lengths_past_the_end_are_errors_at_their_place() {
        let mut r = Reader::new(&[0x0a, 0x05, b'a']);
        assert_eq!(r.field().unwrap(), Some((1, WireType::Len)));
        let err = r.len().unwrap_err();
        assert_eq!(
            (err.kind(), err.offset()),
            (&WireErrorKind::LengthPastEnd, 2)
        );
        assert_eq!(
            err.to_string(),
            "length runs past the end of the message at byte 2"
        );
    }

    #[test]
    fn keys_prost_refuses_are_refused() {
        let kind = |bytes: &[u8]| Reader::new(bytes).field().unwrap_err().kind().clone();
        assert_eq!(kind(&[0x0b]), WireErrorKind::UnsupportedWireType(3));
        assert_eq!(kind(&[0x0c]), WireErrorKind::UnsupportedWireType(4));
        assert_eq!(kind(&[0x0e]), WireErrorKind::UnsupportedWireType(6));
        assert_eq!(kind(&[0x02]), WireErrorKind::FieldNumberZero);
        // Field 2^29 - 1 is the largest; a key of 33 bits is refused, not cut to 32.
        let mut largest = Reader::new(&[0xf8, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            largest.field().unwrap(),
            Some(((1 << 29) - 1, WireType::Varint))
        );
        assert_eq!(
            kind(&[0x80, 0x80, 0x80, 0x80, 0x10]),
            WireErrorKind::KeyTooLarge(1 << 32)
        );
    }

    #[test]
    fn a_field_of_the_wrong_wire_type_is_named() {
        let mut r = Reader::new(&[0x08, 0x01]);
        let (_, wire) = r.field().unwrap().unwrap();
        let err = r.expect("span.name", wire, WireType::Len).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field span.name has wire type varint, expected length-delimited at byte 1"
        );
        assert!(r.expect("span.kind", wire, WireType::Varint).is_ok());
    }

    #[test]
    fn strings_must_be_utf8() {
        let err = Reader::new(&[0x02, 0xc3, 0x28]).str().unwrap_err();
        assert_eq!((err.kind(), err.offset()), (&WireErrorKind::InvalidUtf8, 1));
    }
}
