//! Trace-store payloads → the span tree users see.
//!
//! - [`formats`]: decoders from every wire format we read (OTLP JSON and protobuf, Tempo v1/v2,
//!   Jaeger v1, Jaeger v3) into [`RawSpan`]s, with format detection;
//! - [`classify`]: what one span is (kind, tokens, status, error), the one reading the tree and
//!   the span writer's summaries share;
//! - [`normalize`](mod@normalize): [`RawSpan`]s → [`TraceTree`] plus anomalies (duplicates, orphans, cycles,
//!   clock skew), with tokens, prompts, responses, artifacts and errors extracted;
//! - [`filter`] and [`redact`]: what a caller may see (content withheld, redacted, truncated);
//! - [`render`]: the nested and flat JSON views;
//! - [`protobuf`]: the protobuf wire reader the OTLP decoder is built on, for other readers of
//!   OTLP bytes.
//!
//! Invariants: no I/O; nothing here panics or fails on outside input — decoding reports a
//! [`DecodeError`] for a payload it cannot read at all, and normalization always returns the best
//! tree it can, with anomalies saying what was wrong.
#![forbid(unsafe_code)]

pub mod classify;
pub mod filter;
pub mod formats;
pub mod normalize;
pub mod protobuf;
/// Redaction, from the shared content crate (the instrumentation uses the same engine).
pub use orcheo_content::redact;
pub mod render;

pub use formats::{DecodeError, Decoded, Format, decode};
pub use normalize::{normalize, normalize_decoded, normalize_with_anomalies};
pub use orcheo_trace_model::{RawSpan, TraceTree};

use orcheo_trace_model::{Anomaly, AnomalyKind};

/// Decodes and normalizes in one step; an undecodable payload gives an empty tree whose only
/// anomaly says why.
pub fn decode_and_normalize(bytes: &[u8], format: Format) -> TraceTree {
    match decode(bytes, format) {
        Ok(decoded) => normalize_decoded(decoded),
        Err(e) => TraceTree {
            anomalies: vec![Anomaly::new(AnomalyKind::DecodeError, None, e.to_string())],
            ..TraceTree::default()
        },
    }
}
