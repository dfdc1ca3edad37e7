//! Content handling shared by the writer (the instrumentation, before export) and the reader
//! (the server, for spans from elsewhere): one redaction engine over the patterns of
//! [`orcheo_trace_model::content`], and truncation that never splits a character.
//!
//! Invariant: no I/O; depends on the model and `regex` only, so the instrumentation can use it
//! without the decoders.
#![forbid(unsafe_code)]

pub mod redact;
mod truncate;

pub use redact::{PatternError, Redactor};
pub use truncate::{cut_at, truncate_str};
