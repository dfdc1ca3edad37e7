//! An execution's trace for an audit: the normalized tree as one JSON document, or a CSV row
//! per span. Both are written as they are read, a chunk at a time through a bounded channel, so
//! a 100,000-span trace is never held a second time as text, and a client that reads slowly
//! holds up the writer instead of filling memory.
//!
//! The tree is the one the trace route serves, already filtered for the caller: an export shows
//! what its caller may see (tenant, content scope, redaction), no more.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use orcheo_pricing::{Cost, TraceCosts};
use orcheo_span_tree::render::{self, RenderOptions};
use orcheo_trace_model::{SpanNode, Timestamp, TraceTree};
use serde::Serialize;
use tokio::sync::mpsc;

/// The size of a chunk sent to the client.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks written ahead of the client at most: the writer waits beyond that.
pub const CHUNKS_AHEAD: usize = 4;
/// Exports written at once by one server: each holds a thread of the blocking pool while it
/// waits for its reader.
pub const MAX_EXPORTS: usize = 4;
/// How long the writer waits for a reader that takes nothing: then the export is abandoned, and
/// its thread and its place are given back.
pub const STALLED_READER: std::time::Duration = std::time::Duration::from_secs(30);

/// A place among the [`MAX_EXPORTS`] running exports, held until the export is written.
#[derive(Debug)]
pub struct ExportSlot {
    /// Given back when the slot is dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// The places of one server's running exports.
#[derive(Debug, Clone)]
pub struct ExportSlots(Arc<tokio::sync::Semaphore>);

impl Default for ExportSlots {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(MAX_EXPORTS)))
    }
}

impl ExportSlots {
    /// A place, or `None` when [`MAX_EXPORTS`] exports are running.
    pub fn take(&self) -> Option<ExportSlot> {
        Arc::clone(&self.0)
            .try_acquire_owned()
            .ok()
            .map(|permit| ExportSlot { _permit: permit })
    }
}

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One document: the execution, where the trace came from, and the nested span tree.
    #[default]
    Json,
    /// A header row, then a row per span in the tree's depth-first order ([`CSV_COLUMNS`]).
    Csv,
}

impl ExportFormat {
    /// The `Content-Type` of an export.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }
}

/// Not `json` or `csv`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("format {0:?} is not json or csv")]
pub struct UnknownFormat(pub String);

impl FromStr for ExportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

/// The CSV export's columns, in order. Times are RFC 3339 in UTC with nanoseconds; token
/// counts include the span's descendants, `own_…` counts are the span's own; `cost_usd` is the
/// cost of the span's own tokens, and `cost_note` says why a span with tokens has none
/// (`no_model`, `model_not_in_price_table`).
pub const CSV_COLUMNS: &[&str] = &[
    "execution_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "depth",
    "name",
    "kind",
    "span_kind",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "status_message",
    "error_type",
    "error_code",
    "error_message",
    "model",
    "model_requested",
    "provider",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "own_input_tokens",
    "own_output_tokens",
    "own_cached_input_tokens",
    "cost_usd",
    "cost_note",
    "placeholder",
    "anomalies",
];

/// Writes the CSV export of `tree` (RFC 4180: comma-separated, CRLF line ends, a field quoted
/// when it holds a comma, a quote or a line break). A text field that a spreadsheet would read
/// as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed
/// with `'`, so opening an export never runs what a span's name or error message says.
pub fn write_csv<W: Write>(
    out: &mut W,
    execution_id: &str,
    tree: &TraceTree,
    costs: &TraceCosts,
) -> io::Result<()> {
    write_csv_header(out)?;
    write_csv_rows(out, execution_id, tree, costs)
}

/// The CSV export's header row ([`CSV_COLUMNS`]), for an export of many traces that writes it
/// once.
pub fn write_csv_header<W: Write>(out: &mut W) -> io::Result<()> {
    let mut row = CSV_COLUMNS.join(",");
    row.push_str("\r\n");
    out.write_all(row.as_bytes())
}

/// The CSV export's rows of `tree`, a row per span and no header, as [`write_csv`] writes them.
pub fn write_csv_rows<W: Write>(
    out: &mut W,
    execution_id: &str,
    tree: &TraceTree,
    costs: &TraceCosts,
) -> io::Result<()> {
    let mut row = String::with_capacity(512);
    for (index, node) in tree.nodes.iter().enumerate() {
        row.clear();
        let cost = u32::try_from(index).ok().and_then(|i| costs.span(i));
        csv_row(&mut row, execution_id, node, cost);
        out.write_all(row.as_bytes())?;
    }
    Ok(())
}

/// One span's row, in [`CSV_COLUMNS`] order.
fn csv_row(row: &mut String, execution_id: &str, node: &SpanNode, cost: Option<&Cost>) {
    let error = node.error.as_deref();
    let model = node.model.as_deref();
    let usage = node.token_usage;
    let own = node.self_token_usage;
    let number = |row: &mut String, n: Option<u64>| {
        if let Some(n) = n {
            let _ = write!(row, "{n}");
        }
        row.push(',');
    };
    text(row, execution_id);
    text(row, &node.trace_id.to_string());
    text(row, &node.span_id.to_string());
    text(
        row,
        &node
            .parent_span_id
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    number(row, Some(u64::from(node.depth)));
    text(row, &node.name);
    text(row, node.kind.as_str());
    text(row, &name_of(&node.span_kind));
    text(row, &node.start_time.to_string());
    text(
        row,
        &node.end_time.map(|t| t.to_string()).unwrap_or_default(),
    );
    if let Some(ms) = node.duration_ms() {
        let _ = write!(row, "{ms}");
    }
    row.push(',');
    text(row, &node.status.code.to_string());
    text(row, node.status.message.as_deref().unwrap_or_default());
    text(
        row,
        error
            .and_then(|e| e.error_type.as_deref())
            .unwrap_or_default(),
    );
    text(
        row,
        error.and_then(|e| e.code.as_deref()).unwrap_or_default(),
    );
    text(
        row,
        error.and_then(|e| e.message.as_deref()).unwrap_or_default(),
    );
    text(
        row,
        model.and_then(|m| m.name.as_deref()).unwrap_or_default(),
    );
    text(
        row,
        model.and_then(|m| m.request.as_deref()).unwrap_or_default(),
    );
    text(
        row,
        model
            .and_then(|m| m.provider.as_deref())
            .unwrap_or_default(),
    );
    number(row, usage.map(|u| u.input));
    number(row, usage.map(|u| u.output));
    number(row, usage.map(|u| u.total));
    number(row, own.map(|u| u.input));
    number(row, own.map(|u| u.output));
    number(row, own.and_then(|u| u.cached_input));
    if let Some(usd) = cost.and_then(|c| c.usd) {
        let _ = write!(row, "{usd}");
    }
    row.push(',');
    text(
        row,
        &cost
            .and_then(|c| c.unpriced.as_ref())
            .map(name_of)
            .unwrap_or_default(),
    );
    text(row, if node.synthetic { "true" } else { "false" });
    let flags: Vec<String> = node.flags.iter().map(|k| name_of(&k)).collect();
    text(row, &flags.join(" "));
    // The last field ends the row, not a comma.
    row.pop();
    row.push_str("\r\n");
}

/// A text field and its comma.
fn text(row: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula
        || value.contains([',', '"', '\n', '\r'])
        || value.starts_with(' ')
        || value.ends_with(' ');
    if quote {
        row.push('"');
        if formula {
            row.push('\'');
        }
        for c in value.chars() {
            if c == '"' {
                row.push('"');
            }
            row.push(c);
        }
        row.push('"');
    } else {
        row.push_str(value);
    }
    row.push(',');
}

/// The name a value serializes as (`internal`, `clock_skew`).
fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Writes the JSON export of `tree`: `{"format": "orcheo-trace-export", "version": 1,
/// "exported_at": …, "execution": …, "source": …, "trace_id", "stats", "root", "anomalies"}`,
/// the tree nested as the trace route's tree view gives it (each node with its `cost`), whole.
pub fn write_json<W: Write, E: Serialize, S: Serialize>(
    out: &mut W,
    execution: &E,
    source: &S,
    tree: &TraceTree,
    costs: &TraceCosts,
) -> io::Result<()> {
    let json = |e: serde_json::Error| io::Error::other(e);
    write!(
        out,
        "{{\"format\":\"orcheo-trace-export\",\"version\":1,\"exported_at\":\"{}\",\"execution\":",
        Timestamp::now()
    )?;
    serde_json::to_writer(&mut *out, execution).map_err(json)?;
    out.write_all(b",\"source\":")?;
    serde_json::to_writer(&mut *out, source).map_err(json)?;
    out.write_all(b",")?;
    let mut cost = |node: &mut Vec<u8>, index: u32| {
        node.extend_from_slice(b",\"cost\":");
        serde_json::to_writer(node, &costs.span(index))
    };
    render::write_tree_members(out, tree, &RenderOptions::default(), &mut cost).map_err(|e| {
        // Keep the kind: a client that went away (`BrokenPipe`) is not a failure.
        match e.io_error_kind() {
            Some(kind) => io::Error::new(kind, e.to_string()),
            None => json(e),
        }
    })?;
    out.write_all(b"}")
}

/// A writer that sends what is written as chunks of about [`CHUNK_BYTES`] through a bounded
/// channel, waiting while the receiver is [`CHUNKS_AHEAD`] chunks behind. Fails with
/// `BrokenPipe` once the receiver is gone (the client went away) or has taken nothing for
/// [`STALLED_READER`], which stops the export.
#[derive(Debug)]
pub struct ChunkWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<io::Result<Bytes>>,
    runtime: tokio::runtime::Handle,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        // On the blocking pool, so waiting here holds no async worker.
        self.runtime
            .block_on(self.sender.send_timeout(Ok(chunk), STALLED_READER))
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the reader went away or stopped reading",
                )
            })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Writes an export on the blocking pool with `write`, and returns the chunks as they are
/// made. A failure after the first chunk ends the stream with the error (the answer is then
/// cut short; a client sees an incomplete body).
pub fn stream<F>(slot: ExportSlot, write: F) -> mpsc::Receiver<io::Result<Bytes>>
where
    F: FnOnce(&mut ChunkWriter) -> io::Result<()> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
    let mut writer = ChunkWriter {
        buffer: Vec::with_capacity(CHUNK_BYTES),
        sender: sender.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    tokio::task::spawn_blocking(move || {
        // Given back when the export is written, abandoned or failed.
        let _slot = slot;
        let result = write(&mut writer).and_then(|()| writer.flush());
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                tracing::warn!(error = %e, "export.failed");
                let _ = sender.blocking_send(Err(e));
            }
        }
    });
    receiver
}

/// The CSV export of a loaded tree as a stream of chunks.
pub fn csv_stream(
    slot: ExportSlot,
    execution_id: String,
    tree: Arc<TraceTree>,
    costs: Arc<TraceCosts>,
) -> mpsc::Receiver<io::Result<Bytes>> {
    stream(slot, move |out| {
        write_csv(out, &execution_id, &tree, &costs)
    })
}

/// The JSON export of a loaded tree as a stream of chunks.
pub fn json_stream<E, S>(
    slot: ExportSlot,
    execution: E,
    source: S,
    tree: Arc<TraceTree>,
    costs: Arc<TraceCosts>,
) -> mpsc::Receiver<io::Result<Bytes>>
where
    E: Serialize + Send + 'static,
    S: Serialize + Send + 'static,
{
    stream(slot, move |out| {
        write_json(out, &execution, &source, &tree, &costs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(value: &str) -> String {
        let mut row = String::new();
        text(&mut row, value);
        row.pop();
        row
    }

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(" padded"), "\" padded\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn a_field_a_spreadsheet_would_run_is_defused() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "\"'+1\"");
        assert_eq!(field("-2"), "\"'-2\"");
        assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(field("a=b"), "a=b");
    }

    #[test]
    fn formats_are_read_in_any_case_and_nothing_else() {
        assert_eq!("CSV".parse::<ExportFormat>(), Ok(ExportFormat::Csv));
        assert_eq!("json".parse::<ExportFormat>(), Ok(ExportFormat::Json));
        assert!("xml".parse::<ExportFormat>().is_err());
    }
}
