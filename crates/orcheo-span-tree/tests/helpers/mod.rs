//! Shared test helpers: fixture loading and a compact outline of a tree for snapshots.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of the helpers"
)]

pub mod proto;

use std::fmt::Write as _;
use std::path::PathBuf;

use orcheo_span_tree::{Decoded, Format, TraceTree};
use orcheo_trace_model::{RawSpan, SpanId, SpanNode, Timestamp, TraceId};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub fn decode(path: &str) -> Decoded {
    orcheo_span_tree::decode(&fixture(path), Format::Auto).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn tree(path: &str) -> TraceTree {
    orcheo_span_tree::normalize_decoded(decode(path))
}

/// One line per node, indented by depth: name, kind, status, own tokens, flags.
pub fn outline(tree: &TraceTree) -> String {
    let mut out = String::new();
    for n in &tree.nodes {
        let _ = write!(
            out,
            "{}{} [{}] {}",
            "  ".repeat(n.depth as usize),
            label(n),
            n.kind,
            n.status.code
        );
        if let Some(t) = n.self_token_usage {
            let _ = write!(out, " tokens={}/{}", t.input, t.output);
        }
        if n.in_progress() {
            out.push_str(" in_progress");
        }
        if !n.flags.is_empty() {
            let flags: Vec<String> = n.flags.iter().map(|f| format!("{f:?}")).collect();
            let _ = write!(out, " flags={}", flags.join(","));
        }
        out.push('\n');
    }
    for a in &tree.anomalies {
        let _ = writeln!(out, "! {:?} {}", a.kind, a.detail);
    }
    out
}

fn label(n: &SpanNode) -> String {
    if n.synthetic {
        format!("<placeholder {}>", n.span_id)
    } else {
        n.name.to_string()
    }
}

pub fn trace_id(n: u128) -> TraceId {
    TraceId::from_bytes(n.to_be_bytes()).expect("non-zero")
}

pub fn span_id(n: u64) -> SpanId {
    SpanId::from_bytes(n.to_be_bytes()).expect("non-zero")
}

/// A span of trace 1 with id `id`, parent `parent`, running from `start` to `start + 10` ms.
pub fn span(id: u64, parent: Option<u64>, start_ms: u64) -> RawSpan {
    let mut s = RawSpan::new(trace_id(1), span_id(id), format!("span-{id}"));
    s.parent_span_id = parent.map(span_id);
    s.start_time = Timestamp::from_unix_nanos(1_000_000_000_000 + start_ms * 1_000_000);
    s.end_time = Some(Timestamp::from_unix_nanos(
        1_000_000_000_000 + (start_ms + 10) * 1_000_000,
    ));
    s
}
