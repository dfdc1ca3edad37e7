//! What a span is, read once for everyone who shows it: the span tree, and the span writer's
//! summaries behind the executions list, the live feed and the degraded tree. Both read a span
//! through [`classify`], so they cannot disagree on its kind, tokens, status or error.
//!
//! The rules:
//! - kind: a span named `workflow.execution` is the workflow; else the first kind key present
//!   (`orcheo.node.kind`, `gen_ai.operation.name`, `openinference.span.kind`, `orcheo.ai.kind`);
//!   else a span with a node id (a non-empty text or an integer `orcheo.node.id`) is a `node`;
//!   else a `span`;
//! - tokens: for each side, the first key of [`INPUT_TOKEN_KEYS`] / [`OUTPUT_TOKEN_KEYS`] whose
//!   value is a count — a non-negative whole number, as an integer, a double or decimal text, up
//!   to `i64::MAX` (larger ones are held at it). A negative, fractional or non-numeric value is
//!   not a count, and the next key is read. With no count in the attributes, the last
//!   `token.chunk` event's. A side without a count is 0 when the other has one. The cached
//!   part of the input, when a key of [`CACHED_INPUT_TOKEN_KEYS`] holds a count, goes with
//!   them (it never makes tokens of a span that has none);
//! - model (for [`classify`]'s callers; the tree reads it into its `ModelInfo`): the model that
//!   answered, else the one asked for, and the provider;
//! - status: the span's OpenTelemetry status; when that is unset, `orcheo.node.status`
//!   (`error`/`failed`, `success`/`completed`, in any case);
//! - error: the first `exception` event with a stack trace (else the first one), its gaps filled
//!   from `workflow.failed`, `error.type`, `error.detail` and the status message.
//!
//! [`INPUT_TOKEN_KEYS`]: orcheo_trace_model::semconv::INPUT_TOKEN_KEYS
//! [`OUTPUT_TOKEN_KEYS`]: orcheo_trace_model::semconv::OUTPUT_TOKEN_KEYS
//! [`CACHED_INPUT_TOKEN_KEYS`]: orcheo_trace_model::semconv::CACHED_INPUT_TOKEN_KEYS

use orcheo_trace_model::raw::find;
use orcheo_trace_model::semconv as k;
use orcheo_trace_model::{
    AttributeValue, KeyValue, NodeKind, RawSpan, SmolStr, SpanError, SpanEvent, StatusCode,
    TokenUsage,
};

/// What a span is: the fields every view of it must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanFacts {
    /// `orcheo.node.id`, an integer one as its decimal text.
    pub node_id: Option<SmolStr>,
    pub kind: NodeKind,
    /// The span's own tokens (its children's are not counted).
    pub tokens: Option<TokenUsage>,
    pub status: StatusCode,
    pub error: Option<Box<SpanError>>,
    /// The model that answered, else the one asked for. Filled by [`classify`] only: the tree
    /// keeps it in the node's `ModelInfo`.
    pub model: Option<SmolStr>,
    /// The model's provider. Filled by [`classify`] only, as `model`.
    pub provider: Option<SmolStr>,
}

/// Reads a span's facts.
pub fn classify(span: &RawSpan) -> SpanFacts {
    let known = Known::index(&span.attributes);
    let mut facts = read(span, &known).0;
    facts.model = known
        .response_model
        .or(known.request_model)
        .map(|(_, s)| s.clone());
    facts.provider = known.provider.map(|(_, s)| s.clone());
    facts
}

/// The attributes [`classify`] reads.
const ATTRIBUTES: &[&str] = &[
    k::TOKEN_INPUT,
    k::GEN_AI_USAGE_INPUT_TOKENS,
    k::GEN_AI_USAGE_PROMPT_TOKENS,
    k::LLM_TOKEN_COUNT_PROMPT,
    k::TOKEN_OUTPUT,
    k::GEN_AI_USAGE_OUTPUT_TOKENS,
    k::GEN_AI_USAGE_COMPLETION_TOKENS,
    k::LLM_TOKEN_COUNT_COMPLETION,
    k::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    k::GEN_AI_USAGE_INPUT_TOKENS_DETAILS_CACHED,
    k::LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ,
    k::GEN_AI_REQUEST_MODEL,
    k::LLM_MODEL_NAME,
    k::AI_MODEL_REQUESTED,
    k::GEN_AI_RESPONSE_MODEL,
    k::AI_MODEL_ACTUAL,
    k::GEN_AI_PROVIDER_NAME,
    k::GEN_AI_SYSTEM,
    k::LLM_PROVIDER,
    k::AI_PROVIDER,
    k::NODE_KIND,
    k::GEN_AI_OPERATION_NAME,
    k::OPENINFERENCE_SPAN_KIND,
    k::AI_KIND,
    k::NODE_ID,
    k::NODE_STATUS,
    k::ERROR_CODE,
    k::ERROR_HINT,
    k::ERROR_TYPE,
];

/// The events [`classify`] reads (all their attributes).
const EVENTS: &[&str] = &[
    k::EVENT_EXCEPTION,
    k::EVENT_WORKFLOW_FAILED,
    k::EVENT_ERROR_DETAIL,
    k::EVENT_TOKEN_CHUNK,
];

/// The span attribute `key` as a static text when [`classify`] reads it: a caller holding spans
/// in another form may convert only these, and name them without allocating.
pub fn attribute_key(key: &str) -> Option<&'static str> {
    ATTRIBUTES.iter().copied().find(|k| *k == key)
}

/// The event name `name` as a static text when [`classify`] reads such events.
pub fn event_name(name: &str) -> Option<&'static str> {
    EVENTS.iter().copied().find(|k| *k == name)
}

/// The span's facts from its indexed attributes, and every exception it recorded (the tree
/// lists them all; the facts keep the one that explains the failure best).
pub(crate) fn read(span: &RawSpan, known: &Known<'_>) -> (SpanFacts, Vec<SpanError>) {
    let status = status(span, known);
    let (error, errors) = error(span, known, status);
    let facts = SpanFacts {
        node_id: known.node_id.clone(),
        kind: kind(span, known),
        tokens: tokens(known)
            .or_else(|| token_chunk(&span.events))
            .map(|t| t.with_cached_input(known.cached_input_tokens.map(|(_, n)| n))),
        status,
        error,
        model: None,
        provider: None,
    };
    (facts, errors)
}

/// The attributes the span tree looks at, found in one pass (a `match` on the key) instead of a
/// scan per key. For each ranked slot the first, most specific key wins (see the `*_KEYS`
/// lists); a token slot only takes a count.
#[derive(Default)]
pub(crate) struct Known<'a> {
    /// (rank, value): lower rank = more specific key.
    pub(crate) input_tokens: Option<(u8, u64)>,
    pub(crate) output_tokens: Option<(u8, u64)>,
    pub(crate) cached_input_tokens: Option<(u8, u64)>,
    pub(crate) node_kind: Option<(u8, &'a str)>,
    pub(crate) node_id: Option<SmolStr>,
    pub(crate) node_status: Option<&'a str>,
    pub(crate) request_model: Option<(u8, &'a SmolStr)>,
    pub(crate) response_model: Option<(u8, &'a SmolStr)>,
    pub(crate) provider: Option<(u8, &'a SmolStr)>,
    pub(crate) ai_kind: Option<&'a SmolStr>,
    pub(crate) embedding_operation: Option<&'a SmolStr>,
    pub(crate) vector_size: Option<u64>,
    pub(crate) latency: Option<&'a AttributeValue>,
    pub(crate) artifact_ids: Option<&'a AttributeValue>,
    pub(crate) error_code: Option<&'a str>,
    pub(crate) error_hint: Option<&'a str>,
    pub(crate) error_type: Option<&'a str>,
    pub(crate) has_content: bool,
}

fn keep<T>(slot: &mut Option<(u8, T)>, rank: u8, value: Option<T>) {
    if let Some(value) = value
        && slot.as_ref().is_none_or(|(r, _)| rank < *r)
    {
        *slot = Some((rank, value));
    }
}

/// The most a count is taken for: what a signed 64-bit column (the store's) holds.
const MAX_COUNT: u64 = i64::MAX.unsigned_abs();

/// A token count: a non-negative whole number, held at [`MAX_COUNT`].
pub(crate) fn count(value: &AttributeValue) -> Option<u64> {
    let n = match value {
        AttributeValue::Int(i) => u64::try_from(*i).ok()?,
        // Whole and non-negative; `as` saturates past `u64::MAX`, and the minimum holds it.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked whole and non-negative; the cast saturates"
        )]
        AttributeValue::Double(d) if d.is_finite() && *d >= 0.0 && d.fract() == 0.0 => *d as u64,
        AttributeValue::String(s) => {
            let digits = s.trim();
            // A number past `u64::MAX` is still a count, held at the maximum.
            match digits.parse::<u64>() {
                Ok(n) => n,
                Err(_) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    MAX_COUNT
                }
                Err(_) => return None,
            }
        }
        _ => return None,
    };
    Some(n.min(MAX_COUNT))
}

impl<'a> Known<'a> {
    pub(crate) fn index(attributes: &'a [KeyValue]) -> Self {
        let mut k = Self::default();
        for kv in attributes {
            let v = &kv.value;
            let shared = v.as_text().filter(|s| !s.is_empty());
            let text = shared.map(SmolStr::as_str);
            // Token keys ranked by their place in `INPUT_TOKEN_KEYS` / `OUTPUT_TOKEN_KEYS`
            // (a test holds the two in step): arms of the one `match`, not a scan of both lists
            // for every attribute.
            match kv.key.as_str() {
                k::TOKEN_INPUT => keep(&mut k.input_tokens, 0, count(v)),
                k::GEN_AI_USAGE_INPUT_TOKENS => keep(&mut k.input_tokens, 1, count(v)),
                k::GEN_AI_USAGE_PROMPT_TOKENS => keep(&mut k.input_tokens, 2, count(v)),
                k::LLM_TOKEN_COUNT_PROMPT => keep(&mut k.input_tokens, 3, count(v)),
                k::TOKEN_OUTPUT => keep(&mut k.output_tokens, 0, count(v)),
                k::GEN_AI_USAGE_OUTPUT_TOKENS => keep(&mut k.output_tokens, 1, count(v)),
                k::GEN_AI_USAGE_COMPLETION_TOKENS => keep(&mut k.output_tokens, 2, count(v)),
                k::LLM_TOKEN_COUNT_COMPLETION => keep(&mut k.output_tokens, 3, count(v)),
                k::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS => {
                    keep(&mut k.cached_input_tokens, 0, count(v));
                }
                k::GEN_AI_USAGE_INPUT_TOKENS_DETAILS_CACHED => {
                    keep(&mut k.cached_input_tokens, 1, count(v));
                }
                k::LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ => {
                    keep(&mut k.cached_input_tokens, 2, count(v));
                }
                k::NODE_KIND => keep(&mut k.node_kind, 0, text),
                k::GEN_AI_OPERATION_NAME => keep(&mut k.node_kind, 1, text),
                k::OPENINFERENCE_SPAN_KIND => keep(&mut k.node_kind, 2, text),
                k::AI_KIND => {
                    keep(&mut k.node_kind, 3, text);
                    k.ai_kind = k.ai_kind.or(shared);
                }
                k::NODE_ID if k.node_id.is_none() => {
                    k.node_id = match v {
                        AttributeValue::Int(n) => Some(SmolStr::new(n.to_string())),
                        _ => shared.cloned(),
                    };
                }
                k::NODE_STATUS => k.node_status = k.node_status.or(text),
                k::GEN_AI_REQUEST_MODEL => keep(&mut k.request_model, 0, shared),
                k::LLM_MODEL_NAME => keep(&mut k.request_model, 1, shared),
                k::AI_MODEL_REQUESTED => keep(&mut k.request_model, 2, shared),
                k::GEN_AI_RESPONSE_MODEL => keep(&mut k.response_model, 0, shared),
                k::AI_MODEL_ACTUAL => keep(&mut k.response_model, 1, shared),
                k::GEN_AI_PROVIDER_NAME => keep(&mut k.provider, 0, shared),
                k::GEN_AI_SYSTEM => keep(&mut k.provider, 1, shared),
                k::LLM_PROVIDER => keep(&mut k.provider, 2, shared),
                k::AI_PROVIDER => keep(&mut k.provider, 3, shared),
                k::AI_EMBEDDING_OPERATION => {
                    k.embedding_operation = k.embedding_operation.or(shared);
                }
                k::AI_EMBEDDING_VECTOR_SIZE => {
                    k.vector_size = k
                        .vector_size
                        .or_else(|| v.as_i64().and_then(|n| u64::try_from(n).ok()));
                }
                k::NODE_LATENCY_MS => k.latency = k.latency.or(Some(v)),
                k::ARTIFACT_IDS => k.artifact_ids = k.artifact_ids.or(Some(v)),
                k::ERROR_CODE => k.error_code = k.error_code.or(text),
                k::ERROR_HINT => k.error_hint = k.error_hint.or(text),
                k::ERROR_TYPE => k.error_type = k.error_type.or(text),
                k::GEN_AI_SYSTEM_INSTRUCTIONS
                | k::GEN_AI_INPUT_MESSAGES
                | k::GEN_AI_PROMPT
                | k::GEN_AI_OUTPUT_MESSAGES
                | k::GEN_AI_COMPLETION
                | k::INPUT_VALUE
                | k::OUTPUT_VALUE => k.has_content = true,
                key if key.starts_with(k::LLM_INPUT_MESSAGES_PREFIX)
                    || key.starts_with(k::LLM_OUTPUT_MESSAGES_PREFIX) =>
                {
                    k.has_content = true;
                }
                _ => {}
            }
        }
        k
    }
}

fn kind(span: &RawSpan, known: &Known<'_>) -> NodeKind {
    if span.name == k::WORKFLOW_SPAN_NAME {
        NodeKind::Workflow
    } else if let Some((_, name)) = known.node_kind {
        NodeKind::from_name(name)
    } else if known.node_id.is_some() {
        NodeKind::Node
    } else {
        NodeKind::Span
    }
}

fn usage(input: Option<u64>, output: Option<u64>) -> Option<TokenUsage> {
    match (input, output) {
        (None, None) => None,
        (input, output) => Some(TokenUsage::new(input.unwrap_or(0), output.unwrap_or(0))),
    }
}

fn tokens(known: &Known<'_>) -> Option<TokenUsage> {
    let count = |slot: Option<(u8, u64)>| slot.map(|(_, n)| n);
    usage(count(known.input_tokens), count(known.output_tokens))
}

/// Tokens from the last `token.chunk` event, for a span whose attributes name none (Orcheo
/// writes both; the attributes win).
fn token_chunk(events: &[SpanEvent]) -> Option<TokenUsage> {
    let event = events
        .iter()
        .rev()
        .find(|e| e.name == k::EVENT_TOKEN_CHUNK)?;
    let side = |key| find(&event.attributes, key).and_then(count);
    usage(
        side(k::TOKEN_CHUNK_ATTR_INPUT),
        side(k::TOKEN_CHUNK_ATTR_OUTPUT),
    )
}

/// The OpenTelemetry status; an unset one says it with `orcheo.node.status` (what Orcheo's node
/// payloads report).
fn status(span: &RawSpan, known: &Known<'_>) -> StatusCode {
    if span.status.code != StatusCode::Unset {
        return span.status.code;
    }
    match known.node_status {
        Some(s) if s.eq_ignore_ascii_case("error") || s.eq_ignore_ascii_case("failed") => {
            StatusCode::Error
        }
        Some(s) if s.eq_ignore_ascii_case("success") || s.eq_ignore_ascii_case("completed") => {
            StatusCode::Ok
        }
        _ => StatusCode::Unset,
    }
}

fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    find(attributes, key)
        .and_then(AttributeValue::as_str)
        .filter(|s| !s.is_empty())
}

/// The span's error and every exception it recorded.
///
/// An `exception` event is the best evidence: the first one with a stack trace is the span's
/// error (else the first one). Summary events never replace it: `workflow.failed` (Orcheo
/// records it right after the exception, with type and message only) and `error.detail` only
/// fill in what the exception left out, and stand in for it when there is none.
fn error(
    span: &RawSpan,
    known: &Known<'_>,
    status: StatusCode,
) -> (Option<Box<SpanError>>, Vec<SpanError>) {
    let owned = |s: Option<&str>| s.map(str::to_owned);
    let errors: Vec<SpanError> = span
        .events
        .iter()
        .filter(|e| e.name == k::EVENT_EXCEPTION)
        .map(|e| SpanError {
            error_type: owned(str_attr(&e.attributes, k::EXCEPTION_TYPE)),
            message: owned(str_attr(&e.attributes, k::EXCEPTION_MESSAGE)),
            stack_trace: owned(str_attr(&e.attributes, k::EXCEPTION_STACKTRACE)),
            code: None,
            hint: None,
        })
        .collect();
    let summary = span
        .events
        .iter()
        .rev()
        .find(|e| e.name == k::EVENT_WORKFLOW_FAILED);
    let detail = span
        .events
        .iter()
        .rev()
        .find(|e| e.name == k::EVENT_ERROR_DETAIL);
    let code = known.error_code;
    if status != StatusCode::Error && errors.is_empty() && summary.is_none() && code.is_none() {
        return (None, errors);
    }
    let mut best = errors
        .iter()
        .find(|e| e.stack_trace.is_some())
        .or_else(|| errors.first())
        .cloned()
        .unwrap_or_default();
    let from_summary = |key| summary.and_then(|e| str_attr(&e.attributes, key));
    if best.error_type.is_none() {
        best.error_type = owned(from_summary(k::EXCEPTION_TYPE).or(known.error_type));
    }
    if best.message.is_none() {
        best.message = owned(
            from_summary(k::EXCEPTION_MESSAGE)
                .or_else(|| {
                    detail.and_then(|d| str_attr(&d.attributes, k::ERROR_DETAIL_ATTR_MESSAGE))
                })
                .or(span.status.message.as_deref()),
        );
    }
    best.code = owned(code);
    best.hint = owned(known.error_hint);
    (Some(Box::new(best)), errors)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use orcheo_trace_model::{RawStatus, SpanId, TraceId};

    use super::*;

    #[test]
    fn token_keys_rank_as_their_semconv_lists_order_them() {
        for (keys, side) in [
            (k::INPUT_TOKEN_KEYS, 0),
            (k::OUTPUT_TOKEN_KEYS, 1),
            (k::CACHED_INPUT_TOKEN_KEYS, 2),
        ] {
            for first in 0..keys.len() {
                // Every key from `first` on, least specific first, each with its place as value:
                // the one at `first` must win.
                let attributes: Vec<KeyValue> = (first..keys.len())
                    .rev()
                    .map(|i| KeyValue::new(keys[i], i64::try_from(i).unwrap()))
                    .collect();
                let known = Known::index(&attributes);
                let slot = match side {
                    0 => known.input_tokens,
                    1 => known.output_tokens,
                    _ => known.cached_input_tokens,
                };
                let (rank, value) = slot.unwrap();
                assert_eq!(
                    (usize::from(rank), value),
                    (first, u64::try_from(first).unwrap())
                );
            }
        }
    }

    fn span_with(attributes: Vec<KeyValue>) -> RawSpan {
        let mut span = RawSpan::new(
            TraceId::from_bytes([1; 16]).unwrap(),
            SpanId::from_bytes([2; 8]).unwrap(),
            "chat",
        );
        span.attributes = attributes;
        span
    }

    #[test]
    fn cached_input_tokens_go_with_the_tokens_under_any_instrumentation_key() {
        for key in k::CACHED_INPUT_TOKEN_KEYS {
            let facts = classify(&span_with(vec![
                KeyValue::new(k::GEN_AI_USAGE_INPUT_TOKENS, 100),
                KeyValue::new(k::GEN_AI_USAGE_OUTPUT_TOKENS, 5),
                KeyValue::new(*key, 60),
            ]));
            let tokens = facts.tokens.unwrap();
            assert_eq!(
                (tokens.input, tokens.output, tokens.cached_input),
                (100, 5, Some(60)),
                "{key}"
            );
        }
        // A cached count alone makes no tokens; tokens without one say nothing of a cache.
        let alone = classify(&span_with(vec![KeyValue::new(
            k::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            60,
        )]));
        assert_eq!(alone.tokens, None);
        let uncached = classify(&span_with(vec![KeyValue::new(k::TOKEN_INPUT, 7)]));
        assert_eq!(uncached.tokens.unwrap().cached_input, None);
    }

    #[test]
    fn the_model_is_the_one_that_answered_else_the_one_asked_for() {
        let facts = classify(&span_with(vec![
            KeyValue::new(k::GEN_AI_REQUEST_MODEL, "gpt-4o"),
            KeyValue::new(k::GEN_AI_RESPONSE_MODEL, "gpt-4o-2024-08-06"),
            KeyValue::new(k::GEN_AI_SYSTEM, "openai"),
        ]));
        assert_eq!(facts.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(facts.provider.as_deref(), Some("openai"));
        let asked = classify(&span_with(vec![KeyValue::new(
            k::LLM_MODEL_NAME,
            "claude-sonnet-4-20250514",
        )]));
        assert_eq!(asked.model.as_deref(), Some("claude-sonnet-4-20250514"));
        assert_eq!(asked.provider, None);
    }

    #[test]
    fn kind_names_are_read_in_any_case_and_unknown_ones_kept_lowercased() {
        assert_eq!(NodeKind::from_name("LLM"), NodeKind::Llm);
        assert_eq!(NodeKind::from_name("Generate_Content"), NodeKind::Llm);
        assert_eq!(NodeKind::from_name("Embeddings"), NodeKind::Embedding);
        assert_eq!(
            NodeKind::from_name("Generate_Content_Stream"),
            NodeKind::Other("generate_content_stream".into())
        );
        assert_eq!(
            NodeKind::from_name("Guard"),
            NodeKind::Other("guard".into())
        );
        assert_eq!(
            NodeKind::from_name("ÉTAPE"),
            NodeKind::Other("Étape".into())
        );
        assert_eq!(NodeKind::from_name(""), NodeKind::Other(String::new()));
    }

    fn event(name: &str, attributes: Vec<KeyValue>) -> SpanEvent {
        SpanEvent {
            name: name.into(),
            time: None,
            attributes,
        }
    }

    /// A span's attributes, events and status, and the facts it must give.
    struct Case {
        name: &'static str,
        span_name: &'static str,
        attributes: Vec<KeyValue>,
        events: Vec<SpanEvent>,
        status: RawStatus,
        kind: NodeKind,
        tokens: Option<(u64, u64)>,
        status_code: StatusCode,
        error: Option<(Option<&'static str>, Option<&'static str>)>,
    }

    impl Case {
        fn new(name: &'static str, attributes: Vec<KeyValue>) -> Self {
            Self {
                name,
                span_name: "step",
                attributes,
                events: Vec::new(),
                status: RawStatus::default(),
                kind: NodeKind::Span,
                tokens: None,
                status_code: StatusCode::Unset,
                error: None,
            }
        }
        fn kind(mut self, kind: NodeKind) -> Self {
            self.kind = kind;
            self
        }
        fn tokens(mut self, input: u64, output: u64) -> Self {
            self.tokens = Some((input, output));
            self
        }
        fn status(mut self, status: StatusCode) -> Self {
            self.status_code = status;
            self
        }
        fn error(
            mut self,
            error_type: Option<&'static str>,
            message: Option<&'static str>,
        ) -> Self {
            self.error = Some((error_type, message));
            self
        }
    }

    const MAX: u64 = i64::MAX.unsigned_abs();

    #[allow(clippy::too_many_lines, reason = "one table")]
    fn cases() -> Vec<Case> {
        let failed = RawStatus {
            code: StatusCode::Error,
            message: Some("relay refused".into()),
        };
        vec![
            Case::new("nothing known", vec![]),
            Case::new(
                "node id without kind",
                vec![KeyValue::new(k::NODE_ID, "draft")],
            )
            .kind(NodeKind::Node),
            Case::new("empty node id", vec![KeyValue::new(k::NODE_ID, "")]),
            Case::new("integer node id", vec![KeyValue::new(k::NODE_ID, 7)]).kind(NodeKind::Node),
            Case::new("boolean node id", vec![KeyValue::new(k::NODE_ID, true)]),
            Case::new(
                "kind without node id",
                vec![KeyValue::new(k::NODE_KIND, "Tool")],
            )
            .kind(NodeKind::Tool),
            Case::new(
                "Orcheo kind before GenAI operation",
                vec![
                    KeyValue::new(k::GEN_AI_OPERATION_NAME, "chat"),
                    KeyValue::new(k::NODE_KIND, "agent"),
                ],
            )
            .kind(NodeKind::Agent),
            Case::new(
                "GenAI operation with a node id",
                vec![
                    KeyValue::new(k::NODE_ID, "x"),
                    KeyValue::new(k::GEN_AI_OPERATION_NAME, "embeddings"),
                ],
            )
            .kind(NodeKind::Embedding),
            Case::new(
                "OpenInference kind",
                vec![KeyValue::new(k::OPENINFERENCE_SPAN_KIND, "RETRIEVER")],
            )
            .kind(NodeKind::Retriever),
            Case::new(
                "Orcheo AI kind with a node id",
                vec![
                    KeyValue::new(k::NODE_ID, "embed"),
                    KeyValue::new(k::AI_KIND, "embedding"),
                ],
            )
            .kind(NodeKind::Embedding),
            Case::new(
                "empty kind",
                vec![
                    KeyValue::new(k::NODE_KIND, ""),
                    KeyValue::new(k::NODE_ID, "n"),
                ],
            )
            .kind(NodeKind::Node),
            Case::new("unknown kind", vec![KeyValue::new(k::NODE_KIND, "Guard")])
                .kind(NodeKind::Other("guard".into())),
            Case {
                span_name: k::WORKFLOW_SPAN_NAME,
                ..Case::new(
                    "workflow span with a node kind",
                    vec![KeyValue::new(k::NODE_KIND, "llm")],
                )
            }
            .kind(NodeKind::Workflow),
            Case::new(
                "Orcheo token keys",
                vec![
                    KeyValue::new(k::TOKEN_INPUT, 12),
                    KeyValue::new(k::TOKEN_OUTPUT, 3),
                ],
            )
            .tokens(12, 3),
            Case::new(
                "GenAI token keys",
                vec![
                    KeyValue::new(k::GEN_AI_USAGE_INPUT_TOKENS, 30),
                    KeyValue::new(k::GEN_AI_USAGE_OUTPUT_TOKENS, 4),
                ],
            )
            .tokens(30, 4),
            Case::new(
                "older GenAI and OpenInference token keys",
                vec![
                    KeyValue::new(k::LLM_TOKEN_COUNT_PROMPT, 9),
                    KeyValue::new(k::GEN_AI_USAGE_PROMPT_TOKENS, 8),
                    KeyValue::new(k::LLM_TOKEN_COUNT_COMPLETION, 1),
                ],
            )
            .tokens(8, 1),
            Case::new(
                "Orcheo keys before GenAI ones",
                vec![
                    KeyValue::new(k::GEN_AI_USAGE_INPUT_TOKENS, 30),
                    KeyValue::new(k::TOKEN_INPUT, 12),
                ],
            )
            .tokens(12, 0),
            Case::new(
                "a negative count gives way to the next key",
                vec![
                    KeyValue::new(k::TOKEN_INPUT, -5),
                    KeyValue::new(k::GEN_AI_USAGE_INPUT_TOKENS, 7),
                ],
            )
            .tokens(7, 0),
            Case::new(
                "a negative count alone",
                vec![KeyValue::new(k::TOKEN_OUTPUT, -1)],
            ),
            Case::new(
                "a fractional count",
                vec![KeyValue::new(k::TOKEN_OUTPUT, 2.5)],
            ),
            Case::new(
                "a whole double",
                vec![
                    KeyValue::new(k::TOKEN_INPUT, 40.0),
                    KeyValue::new(k::TOKEN_OUTPUT, -0.0),
                ],
            )
            .tokens(40, 0),
            Case::new("a huge double", vec![KeyValue::new(k::TOKEN_OUTPUT, 1e30)]).tokens(0, MAX),
            Case::new(
                "not a number",
                vec![KeyValue::new(k::TOKEN_INPUT, f64::NAN)],
            ),
            Case::new(
                "counts as text",
                vec![
                    KeyValue::new(k::TOKEN_INPUT, " 12 "),
                    KeyValue::new(k::TOKEN_OUTPUT, "+3"),
                ],
            )
            .tokens(12, 3),
            Case::new(
                "text that is no count",
                vec![
                    KeyValue::new(k::TOKEN_INPUT, "12.5"),
                    KeyValue::new(k::TOKEN_OUTPUT, "-4"),
                    KeyValue::new(k::GEN_AI_USAGE_OUTPUT_TOKENS, "many"),
                ],
            ),
            Case::new(
                "a count past u64 as text",
                vec![KeyValue::new(k::TOKEN_INPUT, "99999999999999999999")],
            )
            .tokens(MAX, 0),
            Case::new(
                "the largest integer, twice",
                vec![
                    KeyValue::new(k::TOKEN_INPUT, i64::MAX),
                    KeyValue::new(k::TOKEN_OUTPUT, i64::MAX),
                ],
            )
            .tokens(MAX, MAX),
            Case::new("a boolean count", vec![KeyValue::new(k::TOKEN_INPUT, true)]),
            Case {
                events: vec![
                    event(
                        k::EVENT_TOKEN_CHUNK,
                        vec![
                            KeyValue::new(k::TOKEN_CHUNK_ATTR_INPUT, 1),
                            KeyValue::new(k::TOKEN_CHUNK_ATTR_OUTPUT, 1),
                        ],
                    ),
                    event(
                        k::EVENT_TOKEN_CHUNK,
                        vec![
                            KeyValue::new(k::TOKEN_CHUNK_ATTR_INPUT, 40),
                            KeyValue::new(k::TOKEN_CHUNK_ATTR_OUTPUT, -2),
                        ],
                    ),
                ],
                ..Case::new(
                    "the last token chunk, for a span without token keys",
                    vec![],
                )
            }
            .tokens(40, 0),
            Case {
                events: vec![event(
                    k::EVENT_TOKEN_CHUNK,
                    vec![KeyValue::new(k::TOKEN_CHUNK_ATTR_INPUT, 40)],
                )],
                ..Case::new(
                    "token keys before a chunk",
                    vec![KeyValue::new(k::TOKEN_OUTPUT, 5)],
                )
            }
            .tokens(0, 5),
            Case::new(
                "node status error",
                vec![KeyValue::new(k::NODE_STATUS, "error")],
            )
            .status(StatusCode::Error)
            .error(None, None),
            Case::new(
                "node status failed",
                vec![KeyValue::new(k::NODE_STATUS, "FAILED")],
            )
            .status(StatusCode::Error)
            .error(None, None),
            Case::new(
                "node status success",
                vec![KeyValue::new(k::NODE_STATUS, "success")],
            )
            .status(StatusCode::Ok),
            Case::new(
                "node status completed",
                vec![KeyValue::new(k::NODE_STATUS, "Completed")],
            )
            .status(StatusCode::Ok),
            Case::new(
                "node status unknown",
                vec![KeyValue::new(k::NODE_STATUS, "skipped")],
            ),
            Case {
                status: RawStatus {
                    code: StatusCode::Ok,
                    message: None,
                },
                ..Case::new(
                    "span status before node status",
                    vec![KeyValue::new(k::NODE_STATUS, "error")],
                )
            }
            .status(StatusCode::Ok),
            Case {
                status: failed.clone(),
                ..Case::new(
                    "error via status",
                    vec![KeyValue::new(k::NODE_STATUS, "success")],
                )
            }
            .status(StatusCode::Error)
            .error(None, Some("relay refused")),
            Case {
                status: failed.clone(),
                ..Case::new(
                    "error type attribute",
                    vec![KeyValue::new(k::ERROR_TYPE, "Timeout")],
                )
            }
            .status(StatusCode::Error)
            .error(Some("Timeout"), Some("relay refused")),
            Case {
                status: failed.clone(),
                events: vec![
                    event(
                        k::EVENT_EXCEPTION,
                        vec![
                            KeyValue::new(k::EXCEPTION_TYPE, "ValueError"),
                            KeyValue::new(k::EXCEPTION_MESSAGE, "first"),
                        ],
                    ),
                    event(
                        k::EVENT_EXCEPTION,
                        vec![
                            KeyValue::new(k::EXCEPTION_TYPE, "DeliveryError"),
                            KeyValue::new(k::EXCEPTION_MESSAGE, "SMTP refused"),
                            KeyValue::new(k::EXCEPTION_STACKTRACE, "Traceback"),
                        ],
                    ),
                ],
                ..Case::new("error via the exception with a stack trace", vec![])
            }
            .status(StatusCode::Error)
            .error(Some("DeliveryError"), Some("SMTP refused")),
            Case {
                events: vec![event(
                    k::EVENT_EXCEPTION,
                    vec![KeyValue::new(k::EXCEPTION_MESSAGE, "retried")],
                )],
                ..Case::new("an exception event on a span that did not fail", vec![])
            }
            .error(None, Some("retried")),
            Case {
                status: RawStatus {
                    code: StatusCode::Error,
                    message: None,
                },
                events: vec![
                    event(
                        k::EVENT_ERROR_DETAIL,
                        vec![KeyValue::new(k::ERROR_DETAIL_ATTR_MESSAGE, "detail")],
                    ),
                    event(
                        k::EVENT_WORKFLOW_FAILED,
                        vec![
                            KeyValue::new(k::EXCEPTION_TYPE, "RunError"),
                            KeyValue::new(k::EXCEPTION_MESSAGE, "run"),
                        ],
                    ),
                ],
                ..Case::new("workflow.failed before error.detail", vec![])
            }
            .status(StatusCode::Error)
            .error(Some("RunError"), Some("run")),
            Case {
                events: vec![event(
                    k::EVENT_ERROR_DETAIL,
                    vec![KeyValue::new(k::ERROR_DETAIL_ATTR_MESSAGE, "detail")],
                )],
                ..Case::new(
                    "error.detail with a failed node status",
                    vec![KeyValue::new(k::NODE_STATUS, "error")],
                )
            }
            .status(StatusCode::Error)
            .error(None, Some("detail")),
        ]
    }

    fn span_of(case: &Case) -> RawSpan {
        let mut span = RawSpan::new(
            TraceId::from_bytes([1; 16]).unwrap(),
            SpanId::from_bytes([2; 8]).unwrap(),
            case.span_name,
        );
        span.attributes.clone_from(&case.attributes);
        span.events.clone_from(&case.events);
        span.status = case.status.clone();
        span
    }

    #[test]
    fn every_case_is_classified_as_its_row_says() {
        let mut wrong = Vec::new();
        for case in cases() {
            let facts = classify(&span_of(&case));
            let got = (
                facts.kind.clone(),
                facts.tokens.map(|t| (t.input, t.output)),
                facts.status,
                facts
                    .error
                    .as_ref()
                    .map(|e| (e.error_type.as_deref(), e.message.as_deref())),
            );
            let want = (case.kind.clone(), case.tokens, case.status_code, case.error);
            if got != want {
                wrong.push(format!("{}: got {got:?}, want {want:?}", case.name));
            }
            if let Some(t) = facts.tokens {
                assert_eq!(t.total, t.input.saturating_add(t.output), "{}", case.name);
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// A caller converting only what [`attribute_key`] and [`event_name`] name gets the same
    /// facts as from the whole span.
    #[test]
    fn the_attributes_and_events_said_to_be_read_are_all_that_counts() {
        for case in cases() {
            let whole = span_of(&case);
            let mut part = whole.clone();
            part.attributes
                .retain(|kv| attribute_key(&kv.key).is_some());
            part.events.retain(|e| event_name(&e.name).is_some());
            part.attributes.extend([
                KeyValue::new(k::GEN_AI_INPUT_MESSAGES, "[]"),
                KeyValue::new("x", 1),
            ]);
            assert_eq!(classify(&part), classify(&whole), "{}", case.name);
        }
        assert_eq!(attribute_key(k::NODE_ID), Some(k::NODE_ID));
        assert_eq!(attribute_key(k::GEN_AI_INPUT_MESSAGES), None);
        assert_eq!(event_name(k::EVENT_PROMPT), None);
    }

    #[test]
    fn the_node_id_is_kept_as_text() {
        let id = |value: AttributeValue| {
            let mut span = RawSpan::new(
                TraceId::from_bytes([1; 16]).unwrap(),
                SpanId::from_bytes([2; 8]).unwrap(),
                "n",
            );
            span.attributes = vec![KeyValue {
                key: k::NODE_ID.into(),
                value,
            }];
            classify(&span).node_id
        };
        assert_eq!(
            id(AttributeValue::String("draft".into())).as_deref(),
            Some("draft")
        );
        assert_eq!(id(AttributeValue::Int(-3)).as_deref(), Some("-3"));
        assert_eq!(id(AttributeValue::Double(1.0)), None);
    }
}
