//! Wire formats → [`RawSpan`]s.
//!
//! JSON payloads are read in one pass into an envelope that knows every format's top-level keys;
//! which key is present tells the format. Anything that is not JSON is read as OTLP protobuf.

mod jaeger_v1;
pub mod otlp_json;
pub mod otlp_proto;
mod wire;

use std::fmt;
use std::str::FromStr;

use orcheo_trace_model::{Anomaly, AnomalyKind, RawSpan};
use serde::Deserialize;
use serde_json::Value;

use crate::normalize::MAX_ANOMALIES_PER_KIND;

/// A payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Detect from the payload.
    #[default]
    Auto,
    /// OTLP/JSON (`TracesData` / `ExportTraceServiceRequest`).
    OtlpJson,
    /// OTLP protobuf (`TracesData`, `ExportTraceServiceRequest`, or Tempo's `tempopb.Trace`).
    OtlpProto,
    /// Tempo JSON: `/api/traces/{id}` (`{"batches"}`) or `/api/v2/traces/{id}` (`{"trace"}`).
    Tempo,
    /// Jaeger v1 query JSON: `{"data": [trace]}` or one trace object.
    JaegerV1,
    /// Jaeger v3 query JSON: `{"result": {"resourceSpans"}}`.
    JaegerV3,
    /// Tempo's protobuf answer to `/api/v2/traces/{id}` (`TraceByIDResponse`). Never detected:
    /// it is only read when asked for.
    TempoProto,
}

impl Format {
    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::OtlpJson => "otlp-json",
            Self::OtlpProto => "otlp-proto",
            Self::Tempo => "tempo",
            Self::JaegerV1 => "jaeger-v1",
            Self::JaegerV3 => "jaeger-v3",
            Self::TempoProto => "tempo-proto",
        }
    }

    /// Every format, `Auto` first.
    pub const ALL: [Self; 7] = [
        Self::Auto,
        Self::OtlpJson,
        Self::OtlpProto,
        Self::Tempo,
        Self::JaegerV1,
        Self::JaegerV3,
        Self::TempoProto,
    ];
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format {s:?}; expected one of {}", names.join(", "))
            })
    }
}

/// Why a payload could not be decoded at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DecodeError {
    /// The payload is empty (or only white space).
    #[error("{format}: empty payload")]
    Empty { format: Format },
    /// The JSON is malformed or has the wrong shape.
    #[error("{format}: {message} at line {line}, column {column}")]
    Json {
        format: Format,
        message: String,
        line: usize,
        column: usize,
    },
    /// The protobuf is malformed.
    #[error("{format}: invalid protobuf: {message}")]
    Protobuf { format: Format, message: String },
    /// Valid JSON, but no key of the expected format.
    #[error("{format}: {message}")]
    Unrecognized { format: Format, message: String },
}

/// Spans decoded from one payload, with what the source said about them.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// The format the payload was read as (never `Auto`).
    pub format: Format,
    pub spans: Vec<RawSpan>,
    /// The source says the trace is incomplete (Tempo v2 `status: PARTIAL`).
    pub partial: bool,
    /// The source's own message, if any (Tempo v2 `message`, Jaeger `errors`).
    pub message: Option<String>,
    /// Spans that could not be read, and source warnings.
    pub anomalies: Vec<Anomaly>,
}

/// Collects converted spans; a span that cannot be read is reported with its position in the
/// payload instead.
///
/// Unreadable spans are described up to the normalizer's cap of one kind; the rest are counted on
/// the last one described ([`Anomaly::undescribed`]), so a payload of many broken spans costs a
/// counter increment for each past the cap, not a message.
pub(crate) struct SpanSink<'a> {
    spans: &'a mut Vec<RawSpan>,
    anomalies: &'a mut Vec<Anomaly>,
    seen: usize,
    /// Unreadable spans described so far, and where the last of them is in `anomalies`.
    described: usize,
    last_described: Option<usize>,
}

impl<'a> SpanSink<'a> {
    pub(crate) fn new(spans: &'a mut Vec<RawSpan>, anomalies: &'a mut Vec<Anomaly>) -> Self {
        Self::starting_at(spans, anomalies, 0)
    }

    /// A sink whose first span is the payload's span number `seen` (a run of a payload decoded
    /// apart from the spans before it).
    pub(crate) fn starting_at(
        spans: &'a mut Vec<RawSpan>,
        anomalies: &'a mut Vec<Anomaly>,
        seen: usize,
    ) -> Self {
        Self {
            spans,
            anomalies,
            seen,
            described: 0,
            last_described: None,
        }
    }

    /// Reports a problem that is not about one span's encoding (a source warning).
    pub(crate) fn report(&mut self, anomaly: Anomaly) {
        self.anomalies.push(anomaly);
    }

    pub(crate) fn push(&mut self, converted: Result<RawSpan, String>) {
        match converted {
            Ok(span) => self.accept(span),
            Err(detail) => self.reject(&detail),
        }
    }

    /// Takes a readable span (inlined, so the span is built straight into the list).
    #[inline]
    pub(crate) fn accept(&mut self, span: RawSpan) {
        self.seen += 1;
        self.spans.push(span);
    }

    /// Reports an unreadable span by its position in the payload.
    pub(crate) fn reject(&mut self, detail: &str) {
        let position = self.seen;
        self.seen += 1;
        if self.described >= MAX_ANOMALIES_PER_KIND
            && let Some(last) = self.last_described.and_then(|i| self.anomalies.get_mut(i))
        {
            last.undescribed += 1;
            return;
        }
        self.described += 1;
        self.last_described = Some(self.anomalies.len());
        self.anomalies.push(Anomaly::new(
            AnomalyKind::InvalidSpan,
            None,
            format!("span #{position}: {detail}"),
        ));
    }
}

/// Below this many spans a thread of its own costs more than it saves. Starting one takes tens
/// of microseconds and a span about one, but in a busy server the thread also waits for a core
/// and frees what another thread allocated: measured through the collector client (a 1,000-span
/// fetch beside its HTTP runtime), two threads made the fetch 0.06–0.09 ms slower, not faster.
const MIN_SPANS_PER_THREAD: usize = 1_024;
/// A trace is one request among others: it takes at most this many threads.
const MAX_THREADS: usize = 4;

/// How many threads decode `spans` spans: as many as the machine has cores (up to
/// [`MAX_THREADS`]), each with at least [`MIN_SPANS_PER_THREAD`].
fn threads_for(spans: usize) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    (spans / MIN_SPANS_PER_THREAD).clamp(1, cores.min(MAX_THREADS))
}

/// Decodes `count` listed spans into `out` on as many threads as [`threads_for`] gives, with
/// [`decode_on_threads`].
pub(crate) fn decode_in_runs<E: Send>(
    count: usize,
    out: &mut Vec<RawSpan>,
    anomalies: &mut Vec<Anomaly>,
    decode: impl Fn(std::ops::Range<usize>, &mut Vec<RawSpan>, &mut Vec<Anomaly>) -> Result<(), E>
    + Sync,
) -> Result<(), E> {
    // The list is allocated once instead of growing, and copying, a dozen times.
    out.reserve(count);
    decode_on_threads(count, threads_for(count), out, anomalies, decode)
}

/// Decodes `count` listed spans on `threads` threads (this one included), in contiguous runs so
/// that the spans keep their order: `decode` gets a run's indices and where to put its spans and
/// anomalies (a sink for them starts at the run's first index, so positions in messages are the
/// payload's). The first run is decoded here, straight into `out`; each other one on a scoped
/// thread (or here too, when no thread can be had), appended in order after. The first error in
/// payload order is returned; what comes after it is dropped, as a one-thread decode would stop.
pub(crate) fn decode_on_threads<E: Send>(
    count: usize,
    threads: usize,
    out: &mut Vec<RawSpan>,
    anomalies: &mut Vec<Anomaly>,
    decode: impl Fn(std::ops::Range<usize>, &mut Vec<RawSpan>, &mut Vec<Anomaly>) -> Result<(), E>
    + Sync,
) -> Result<(), E> {
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        return decode(0..count, out, anomalies);
    }
    let runs: Vec<std::ops::Range<usize>> = (0..threads)
        .map(|t| t * count / threads..(t + 1) * count / threads)
        .collect();
    let decode = &decode;
    let apart = move |run: std::ops::Range<usize>| {
        let (mut spans, mut anomalies) = (Vec::with_capacity(run.len()), Vec::new());
        let result = decode(run, &mut spans, &mut anomalies);
        (spans, anomalies, result)
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = runs[1..]
            .iter()
            .map(|run| {
                let run = run.clone();
                std::thread::Builder::new()
                    .name("orcheo-span-decode".to_owned())
                    .spawn_scoped(scope, {
                        let run = run.clone();
                        move || apart(run)
                    })
                    .map_err(|_| run)
            })
            .collect();
        let mut result = decode(runs[0].clone(), out, anomalies);
        for other in others {
            let (mut spans, mut more, decoded) = match other {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(run) => apart(run),
            };
            if result.is_ok() {
                out.append(&mut spans);
                anomalies.append(&mut more);
                result = decoded;
            }
        }
        result
    })
}

/// Every top-level key of every JSON format; deserializing into it decodes in one pass.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "resourceSpans", alias = "resource_spans", borrow)]
    resource_spans: Option<Vec<otlp_json::ResourceSpans<'a>>>,
    /// Tempo v1.
    #[serde(borrow)]
    batches: Option<Vec<otlp_json::ResourceSpans<'a>>>,
    /// Tempo v2.
    #[serde(borrow)]
    trace: Option<Body<'a>>,
    /// Jaeger v3.
    #[serde(borrow)]
    result: Option<Body<'a>>,
    /// Jaeger v1 envelope.
    data: Option<Vec<jaeger_v1::Trace>>,
    /// Jaeger v1 bare trace object (`{"traceID", "spans", "processes"}`).
    spans: Option<Vec<jaeger_v1::Span>>,
    processes: Option<std::collections::HashMap<String, jaeger_v1::Process>>,
    warnings: Option<Vec<String>>,
    /// Tempo v2: `"COMPLETE"` or `"PARTIAL"` (or the enum's number).
    status: Option<Value>,
    message: Option<String>,
    /// Jaeger v1 `errors`, Jaeger v3 `error`.
    errors: Option<Value>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "resourceSpans", alias = "resource_spans", borrow)]
    resource_spans: Option<Vec<otlp_json::ResourceSpans<'a>>>,
    /// Tempo v2 may nest a v1-style trace.
    #[serde(borrow)]
    batches: Option<Vec<otlp_json::ResourceSpans<'a>>>,
}

/// Decodes a payload. Structurally broken payloads are an error; spans that cannot be read
/// inside a well-formed payload are dropped and reported in [`Decoded::anomalies`].
pub fn decode(bytes: &[u8], format: Format) -> Result<Decoded, DecodeError> {
    let body = trim_start(bytes);
    if body.is_empty() {
        return Err(DecodeError::Empty { format });
    }
    match format {
        Format::OtlpProto => decode_proto(bytes),
        Format::TempoProto => decode_tempo_proto(bytes),
        Format::Auto if !matches!(body[0], b'{' | b'[') => decode_proto(bytes),
        _ => decode_json(body, format),
    }
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn decode_tempo_proto(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut decoded = Decoded {
        format: Format::TempoProto,
        ..Decoded::default()
    };
    otlp_proto::decode_tempo_response_into(bytes, &mut decoded).map_err(|e| {
        DecodeError::Protobuf {
            format: Format::TempoProto,
            message: e.to_string(),
        }
    })?;
    Ok(with_partial_noted(decoded))
}

fn decode_proto(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut decoded = Decoded {
        format: Format::OtlpProto,
        ..Decoded::default()
    };
    otlp_proto::decode_into(bytes, &mut decoded.spans, &mut decoded.anomalies).map_err(|e| {
        DecodeError::Protobuf {
            format: Format::OtlpProto,
            message: e.to_string(),
        }
    })?;
    Ok(decoded)
}

fn decode_json(bytes: &[u8], requested: Format) -> Result<Decoded, DecodeError> {
    // JSON is UTF-8 throughout: checking the whole payload at once runs over it a word at a time,
    // where checking each string as it is parsed costs a call and a slow start per string.
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_and_column(bytes, e.valid_up_to());
        DecodeError::Json {
            format: requested,
            message: "invalid UTF-8".to_owned(),
            line,
            column,
        }
    })?;
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| DecodeError::Json {
        format: requested,
        message: strip_position(&e.to_string()),
        line: e.line(),
        column: e.column(),
    })?;
    let detected = detect(&envelope);
    let format = match (requested, detected) {
        (Format::Auto, Some(found)) => found,
        (Format::Auto, None) if is_empty_object(bytes) => Format::OtlpJson,
        (Format::Auto, None) => {
            return Err(DecodeError::Unrecognized {
                format: requested,
                message: "no known top-level key (resourceSpans, batches, trace, result, data, \
                          traceID/spans)"
                    .to_owned(),
            });
        }
        // Tempo v2 answers a missing trace with `{}` or `{"trace": {}}`: an empty trace.
        (wanted, None) if is_empty_object(bytes) || envelope.trace.is_some() => wanted,
        (wanted, Some(found)) if compatible(wanted, found) => wanted,
        (wanted, found) => {
            return Err(DecodeError::Unrecognized {
                format: wanted,
                message: match found {
                    Some(found) => format!("payload looks like {found}"),
                    None => format!("no top-level key of {wanted}"),
                },
            });
        }
    };
    let mut decoded = Decoded {
        format,
        ..Decoded::default()
    };
    decoded.partial = envelope.status.as_ref().is_some_and(|s| match s {
        Value::String(s) => s.eq_ignore_ascii_case("PARTIAL"),
        Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    });
    decoded.message = envelope.message.clone().or_else(|| source_error(&envelope));
    let Envelope {
        resource_spans,
        batches,
        trace,
        result,
        data,
        spans,
        processes,
        warnings,
        ..
    } = envelope;
    let mut blocks = resource_spans.unwrap_or_default();
    blocks.extend(batches.into_iter().flatten());
    for body in [trace, result].into_iter().flatten() {
        blocks.extend(body.resource_spans.into_iter().flatten());
        blocks.extend(body.batches.into_iter().flatten());
    }
    otlp_json::convert(blocks, &mut decoded.spans, &mut decoded.anomalies).map_err(|e| {
        // The error's position is within the span's text: the payload's is the span's plus it.
        let start = (e.span.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let (line, column) = line_and_column(bytes, start);
        let (line, column) = if e.error.line() <= 1 {
            (line, column + e.error.column().saturating_sub(1))
        } else {
            (line + e.error.line() - 1, e.error.column())
        };
        DecodeError::Json {
            format: requested,
            message: strip_position(&e.error.to_string()),
            line,
            column,
        }
    })?;
    let mut traces = data.unwrap_or_default();
    if spans.is_some() {
        traces.push(jaeger_v1::Trace {
            spans,
            processes,
            warnings,
        });
    }
    jaeger_v1::convert(traces, &mut decoded.spans, &mut decoded.anomalies);
    Ok(with_partial_noted(decoded))
}

/// A trace the source called partial carries that as an anomaly, with the source's message.
fn with_partial_noted(mut decoded: Decoded) -> Decoded {
    if decoded.partial {
        let detail = decoded
            .message
            .clone()
            .unwrap_or_else(|| "the source returned a partial trace".to_owned());
        decoded
            .anomalies
            .push(Anomaly::new(AnomalyKind::Partial, None, detail));
    }
    decoded
}

fn detect(envelope: &Envelope) -> Option<Format> {
    if envelope.batches.is_some() || envelope.trace.is_some() {
        Some(Format::Tempo)
    } else if envelope.result.is_some() {
        Some(Format::JaegerV3)
    } else if envelope.data.is_some() || envelope.spans.is_some() {
        Some(Format::JaegerV1)
    } else if envelope.resource_spans.is_some() {
        Some(Format::OtlpJson)
    } else if envelope.errors.is_some() {
        // Jaeger v1's not-found body: `{"data": null, "errors": [...]}`.
        Some(Format::JaegerV1)
    } else if envelope.error.is_some() {
        Some(Format::JaegerV3)
    } else {
        None
    }
}

/// Tempo serves bare `{"resourceSpans"}` too, so OTLP/JSON is acceptable where Tempo was asked.
fn compatible(wanted: Format, found: Format) -> bool {
    wanted == found || (wanted == Format::Tempo && found == Format::OtlpJson)
}

fn is_empty_object(bytes: &[u8]) -> bool {
    let inner = bytes
        .strip_prefix(b"{")
        .and_then(|b| trim_start(b).strip_prefix(b"}"));
    inner.is_some_and(|rest| trim_start(rest).is_empty())
}

fn source_error(envelope: &Envelope) -> Option<String> {
    let value = envelope.errors.as_ref().or(envelope.error.as_ref())?;
    match value {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        other => Some(other.to_string()),
    }
}

/// The 1-based line and column of a byte offset, as `serde_json` reports positions.
fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.split(|b| *b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset - line_start + 1)
}

/// `serde_json` appends " at line L column C"; we report those as fields.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_describes_unreadable_spans_up_to_the_cap_and_counts_the_rest_on_the_last() {
        let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
        let mut sink = SpanSink::starting_at(&mut spans, &mut anomalies, 10);
        sink.report(Anomaly::new(AnomalyKind::SourceWarning, None, "note"));
        for _ in 0..MAX_ANOMALIES_PER_KIND + 150 {
            sink.reject("bad id");
        }
        sink.report(Anomaly::new(AnomalyKind::SourceWarning, None, "later note"));
        assert_eq!(anomalies.len(), MAX_ANOMALIES_PER_KIND + 2);
        assert_eq!(anomalies[1].detail, "span #10: bad id");
        let last = &anomalies[MAX_ANOMALIES_PER_KIND];
        assert_eq!(
            last.detail,
            format!("span #{}: bad id", 9 + MAX_ANOMALIES_PER_KIND)
        );
        assert_eq!(last.undescribed, 150);
        assert_eq!(anomalies[MAX_ANOMALIES_PER_KIND + 1].detail, "later note");
    }
}
