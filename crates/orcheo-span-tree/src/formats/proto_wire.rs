//! The protobuf wire format, read by hand: varints, fixed-width numbers and length-delimited
//! fields over a byte slice. Every read is bounds-checked and returns an error, never panics.

use std::fmt;

use orcheo_trace_model::{SmolStr, semconv};

/// Where and why a protobuf payload could not be read. Boxed: every read returns a `Result`, and
/// a one-pointer error keeps those as small as the values they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    #[allow(
        clippy::box_collection,
        reason = "one pointer wide, so `Result<SmolStr, WireError>` is no larger than the text; measured 15 % faster decoding than a plain String"
    )]
    pub(crate) message: Box<String>,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) fn error<T>(message: impl Into<String>) -> Result<T, WireError> {
    Err(WireError {
        message: Box::new(message.into()),
    })
}

/// A protobuf wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// The wire types the reader knows, by their 3-bit code (groups, 3 and 4, are refused).
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

/// A cursor over one message's bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
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
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            start: bytes.as_ptr().addr(),
        }
    }

    fn advance(&mut self, n: usize) {
        self.bytes = &self.bytes[n..];
    }

    /// Where the unread bytes start in the payload.
    fn offset(&self) -> usize {
        self.bytes.as_ptr().addr() - self.start
    }

    #[cold]
    fn fail_wire_type<T>(&self, code: u64) -> Result<T, WireError> {
        self.fail(&format!("unsupported wire type {code}"))
    }

    #[cold]
    fn fail<T>(&self, what: &str) -> Result<T, WireError> {
        error(format!("{what} at byte {}", self.offset()))
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
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
                return self.fail("truncated varint");
            };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return self.fail("varint overflows 64 bits");
                }
                self.advance(i + 1);
                return Ok(value);
            }
        }
        self.fail("varint longer than 10 bytes")
    }

    /// The next field's number and wire type; `None` at the end of the message.
    #[inline(always)]
    pub(crate) fn field(&mut self) -> Result<Option<(u32, WireType)>, WireError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let Some(wire_type) = WIRE_TYPES[(key & 7) as usize] else {
            return self.fail_wire_type(key & 7);
        };
        let number = u32::try_from(key >> 3).unwrap_or(0);
        if number == 0 {
            return self.fail("field number 0");
        }
        Ok(Some((number, wire_type)))
    }

    #[inline]
    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        match self.bytes.first_chunk::<8>() {
            Some(b) => {
                let v = u64::from_le_bytes(*b);
                self.advance(8);
                Ok(v)
            }
            None => self.fail("truncated fixed64"),
        }
    }

    pub(crate) fn fixed32(&mut self) -> Result<u32, WireError> {
        match self.bytes.first_chunk::<4>() {
            Some(b) => {
                let v = u32::from_le_bytes(*b);
                self.advance(4);
                Ok(v)
            }
            None => self.fail("truncated fixed32"),
        }
    }

    /// A length-delimited field's bytes, as a reader of their own.
    #[inline(always)]
    pub(crate) fn len(&mut self) -> Result<Reader<'a>, WireError> {
        let len = self.varint()?;
        let Some(len) = usize::try_from(len).ok().filter(|&l| l <= self.bytes.len()) else {
            return self.fail("length runs past the end of the message");
        };
        let inner = Reader {
            bytes: &self.bytes[..len],
            start: self.start,
        };
        self.advance(len);
        Ok(inner)
    }

    #[inline]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        Ok(self.len()?.bytes)
    }

    pub(crate) fn string(&mut self) -> Result<String, WireError> {
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
    #[cfg(test)]
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether nothing is left to read.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The rest of this reader's bytes as UTF-8 text.
    fn utf8_here(&mut self) -> Result<&'a str, WireError> {
        let (at, bytes) = (self.offset(), self.bytes);
        self.advance(bytes.len());
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s),
            Err(_) => error(format!("invalid UTF-8 in a string at byte {at}")),
        }
    }

    #[inline]
    fn str(&mut self) -> Result<&'a str, WireError> {
        self.len()?.utf8_here()
    }

    /// Skips a field of the given type (unknown fields are ignored, as protobuf requires).
    pub(crate) fn skip(&mut self, wire_type: WireType) -> Result<(), WireError> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
            WireType::Len => self.len().map(drop),
        }
    }

    /// Checks the wire type a field must have, naming the field when it does not.
    #[inline]
    pub(crate) fn expect(
        &self,
        field: &str,
        got: WireType,
        want: WireType,
    ) -> Result<(), WireError> {
        if got == want {
            Ok(())
        } else {
            self.fail(&format!(
                "field {field} has wire type {got:?}, expected {want:?}"
            ))
        }
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
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
    }

    #[test]
    fn lengths_past_the_end_are_errors() {
        let mut r = Reader::new(&[0x0a, 0x05, b'a']);
        assert_eq!(r.field().unwrap(), Some((1, WireType::Len)));
        let err = r.len().unwrap_err();
        assert!(err.message.contains("past the end"), "{err}");
        assert!(Reader::new(&[0x0b]).field().is_err());
        assert!(Reader::new(&[0x02]).field().is_err());
    }
}
