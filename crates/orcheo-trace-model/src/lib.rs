//! The vocabulary every Orcheo Trace crate shares.
//!
//! - [`ids`]: validated [`TraceId`], [`SpanId`] and [`ExecutionId`] newtypes;
//! - [`time`]: [`Timestamp`], nanoseconds since the Unix epoch, the one time type end to end;
//! - [`raw`]: [`RawSpan`], a span as any trace store or wire format describes it;
//! - [`tree`]: the normalized [`TraceTree`] that the API serves;
//! - [`execution`]: [`ExecutionStatus`], an execution's lifecycle;
//! - [`run`]: what an executor reports of a run for the metadata store;
//! - [`tenant`]: the reserved tenant names and how a span's attribute claims one;
//! - [`sink`]: the traits two crates share: [`TraceMetadataSink`] (instrumentation → store) and
//!   [`SpanWatcher`] (span writer → trace cache, live feed);
//! - [`semconv`]: every attribute and event key, the single source of truth for the writer
//!   (instrumentation) and the reader (normalization);
//! - [`content`]: the default redaction patterns and the markers shared by writer and reader.
//!
//! Text that spans carry in bulk (attribute keys and string values, span and event names) is a
//! [`SmolStr`]: inline up to 23 bytes, so most of it costs no allocation, and shared on clone.
//!
//! Invariant: this crate does no I/O and depends on `serde` and `smol_str` only, but for the
//! optional `openapi` feature, which adds `utoipa` for the OpenAPI schemas of the served types
//! (the server's document is derived from the types it serializes, not from copies of them).
//! Values that come from outside are validated where they are constructed, never by panicking.
#![forbid(unsafe_code)]

pub mod content;
pub mod execution;
pub mod ids;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod raw;
pub mod run;
pub mod semconv;
pub mod sink;
pub mod tenant;
pub mod time;
pub mod tree;

pub use execution::ExecutionStatus;
pub use ids::{ExecutionId, IdError, SpanId, TraceId};
pub use raw::{
    AttributeValue, KeyValue, LinkKind, RawSpan, RawStatus, Resource, Scope, SpanEvent, SpanKind,
    SpanLink, StatusCode,
};
pub use run::{RunFinished, RunStarted, SpanSummary};
pub use sink::{SinkError, SpanWatcher, TraceMetadataSink};
pub use smol_str::SmolStr;
pub use time::Timestamp;
pub use tree::{
    Anomaly, AnomalyFlags, AnomalyKind, Artifact, ContentItem, DurationSource, ModelInfo,
    NodeContent, NodeKind, SpanError, SpanNode, TokenUsage, TraceStats, TraceTree,
};
