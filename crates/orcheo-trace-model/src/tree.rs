//! The normalized trace: a tree of [`SpanNode`]s with what users look for already extracted
//! (tokens, prompts, responses, artifacts, errors), plus the [`Anomaly`]s found on the way.
//!
//! The tree is stored as an arena (`nodes` with child indices) rather than nested boxes, so a
//! 10,000-deep chain costs no recursion to build, walk, or drop.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use smol_str::SmolStr;

use crate::ids::{SpanId, TraceId};
use crate::raw::{
    AttributeValue, KeyValue, RawStatus, Resource, Scope, SpanEvent, SpanKind, SpanLink,
    serialize_attributes,
};
use crate::time::Timestamp;

/// Token counts, as in the API: `{"input", "output", "total"}`, and `cached_input` when the
/// source reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub total: u64,
    /// The part of `input` the provider read from its prompt cache (billed at the cached
    /// price); absent when the source did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<u64>,
}

impl TokenUsage {
    pub fn new(input: u64, output: u64) -> Self {
        Self {
            input,
            output,
            total: input.saturating_add(output),
            cached_input: None,
        }
    }

    /// The same usage, `cached` of its input tokens read from a prompt cache.
    #[must_use]
    pub fn with_cached_input(mut self, cached: Option<u64>) -> Self {
        self.cached_input = cached;
        self
    }

    /// Adds another usage, saturating. The cached count is the sum of those reported.
    pub fn add(&mut self, other: Self) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.total = self.total.saturating_add(other.total);
        self.cached_input = match (self.cached_input, other.cached_input) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What a span is, for people: the Orcheo node kind, or the closest GenAI / OpenInference kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// The workflow run's root span.
    Workflow,
    Llm,
    Tool,
    Agent,
    Chain,
    Retriever,
    Embedding,
    /// An Orcheo node with no more specific kind.
    Node,
    /// Any other span.
    Span,
    /// A kind named by the source that is none of the above (`orcheo.node.kind`, lowercased).
    Other(String),
}

impl NodeKind {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Workflow => "workflow",
            Self::Llm => "llm",
            Self::Tool => "tool",
            Self::Agent => "agent",
            Self::Chain => "chain",
            Self::Retriever => "retriever",
            Self::Embedding => "embedding",
            Self::Node => "node",
            Self::Span => "span",
            Self::Other(s) => s,
        }
    }

    /// Reads a kind name from any of the vocabularies; unknown names become `Other`.
    pub fn from_name(name: &str) -> Self {
        // Lowercased on the stack, no allocation per span; every known name fits with room to
        // spare (the longest, `generate_content`, has 16 bytes), and a longer one is unknown.
        let mut buf = [0u8; 32];
        let lower = match buf.get_mut(..name.len()) {
            Some(head) => {
                head.copy_from_slice(name.as_bytes());
                head.make_ascii_lowercase();
                std::str::from_utf8(head).unwrap_or_default()
            }
            None => "",
        };
        match lower {
            "workflow" => Self::Workflow,
            "llm" | "chat" | "text_completion" | "generate_content" | "ai" | "model" => Self::Llm,
            "tool" | "execute_tool" | "function" => Self::Tool,
            "agent" | "invoke_agent" | "create_agent" => Self::Agent,
            "chain" => Self::Chain,
            "retriever" | "reranker" => Self::Retriever,
            "embedding" | "embeddings" => Self::Embedding,
            "node" => Self::Node,
            "span" => Self::Span,
            _ => Self::Other(name.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for NodeKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A prompt, response or chat message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContentItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub role: Option<SmolStr>,
    /// `null` when withheld.
    // Shared with the attribute it was read from, not copied.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub content: Option<SmolStr>,
    /// Cut to the preview length (by the instrumentation or the server).
    pub truncated: bool,
    /// A redaction pattern matched somewhere in the text.
    pub redacted: bool,
    /// The text is not shown: capture was off, or the caller may not see content.
    pub withheld: bool,
    /// Characters in the original text, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

/// An artifact a node produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Artifact {
    pub id: String,
    pub name: Option<String>,
    /// Where the API serves it (same authorization as the execution).
    pub url: String,
    /// Where the producer said it is stored, if it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: Option<u64>,
    /// A short-lived signed link that downloads it without a token; only a server that may
    /// hand one to this caller sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    /// Whether this server holds the file: its store records the artifact for the execution's
    /// tenant, at a location it serves. When `false` (never received, or stored where this
    /// server cannot read), `url` and `download_url` serve nothing. Normalization alone cannot
    /// know, and says `false`.
    pub available: bool,
}

/// Why a span failed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpanError {
    #[serde(rename = "type")]
    pub error_type: Option<String>,
    pub message: Option<String>,
    pub stack_trace: Option<String>,
    /// `orcheo.error.code`.
    pub code: Option<String>,
    /// `orcheo.error.hint`: what to do about it.
    pub hint: Option<String>,
}

/// The model a span called, as the span's attributes name it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Model))]
pub struct ModelInfo {
    /// The model to show: the one that answered (`response`), else the one asked for.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<SmolStr>,
    /// The model asked for, as the source wrote it (Orcheo writes `provider:model`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub request: Option<SmolStr>,
    /// The model the provider says answered.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub response: Option<SmolStr>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub provider: Option<SmolStr>,
    /// What kind of AI call it was, as the source says (`orcheo.ai.kind`: `chat`, `embedding`…).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub kind: Option<SmolStr>,
    /// For embeddings: the operation (`embed_documents`, `embed_query`…).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub operation: Option<SmolStr>,
    /// For embeddings: the size of each vector.
    pub vector_size: Option<u64>,
}

/// Where a node's duration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DurationSource {
    /// The span's own start and end.
    #[default]
    Measured,
    /// The latency the executor reported (`orcheo.node.latency_ms`), longer than the span: the
    /// node is shown ending at its span's end and starting that much earlier (never before its
    /// parent).
    Reported,
}

/// What kind of problem the normalizer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// The input could not be decoded at all.
    DecodeError,
    /// A span was dropped because it could not be read (bad id, wrong trace).
    InvalidSpan,
    /// The source said the trace is incomplete (Tempo `PARTIAL`).
    Partial,
    /// A span appeared twice, identical; one copy was kept.
    DuplicateSpan,
    /// A server span shared its id with a client span; it was given a fresh id.
    SharedSpanId,
    /// Two different spans had the same id; the later one was given a fresh id.
    DuplicateSpanId,
    /// A span's parent is not in the trace; it is shown under the root.
    Orphan,
    /// More than one span had no parent; the extra ones are shown under the root.
    MultipleRoots,
    /// No span without a parent: a placeholder root stands for the missing one.
    MissingRoot,
    /// Parent references formed a cycle; it was cut.
    Cycle,
    /// A child starts before its parent (clocks disagree); times are not rewritten.
    ClockSkew,
    /// A child ends after its parent ended.
    EndsAfterParent,
    /// The source attached a warning to a span (Jaeger `warnings`).
    SourceWarning,
    /// A span ends before it starts.
    NegativeDuration,
}

impl AnomalyKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 14] = [
        Self::DecodeError,
        Self::InvalidSpan,
        Self::Partial,
        Self::DuplicateSpan,
        Self::SharedSpanId,
        Self::DuplicateSpanId,
        Self::Orphan,
        Self::MultipleRoots,
        Self::MissingRoot,
        Self::Cycle,
        Self::ClockSkew,
        Self::EndsAfterParent,
        Self::SourceWarning,
        Self::NegativeDuration,
    ];

    /// The kind's flag: its place in declaration order (and in [`Self::ALL`]).
    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The anomaly kinds that concern one span: a set, two bytes, never an allocation. Serializes as
/// a list of kind names in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AnomalyFlags(u16);

impl AnomalyFlags {
    /// Marks the span with `kind` (once, however often it is added).
    pub fn push(&mut self, kind: AnomalyKind) {
        self.0 |= kind.bit();
    }

    pub fn contains(&self, kind: &AnomalyKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The kinds in the set, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = AnomalyKind> + '_ {
        AnomalyKind::ALL.into_iter().filter(|k| self.contains(k))
    }
}

impl Extend<AnomalyKind> for AnomalyFlags {
    fn extend<I: IntoIterator<Item = AnomalyKind>>(&mut self, kinds: I) {
        for kind in kinds {
            self.push(kind);
        }
    }
}

impl FromIterator<AnomalyKind> for AnomalyFlags {
    fn from_iter<I: IntoIterator<Item = AnomalyKind>>(kinds: I) -> Self {
        let mut flags = Self::default();
        flags.extend(kinds);
        flags
    }
}

impl Serialize for AnomalyFlags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// A problem found while decoding or normalizing; never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub span_id: Option<SpanId>,
    pub detail: String,
    /// How many more problems of this kind were found after this one and only counted, not
    /// described (a decoder past its cap). Normalization adds them to the kind's count, so the
    /// tree's summary entry says how many there were in all; not part of the API.
    #[serde(skip)]
    pub undescribed: usize,
}

impl Anomaly {
    pub fn new(kind: AnomalyKind, span_id: Option<SpanId>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            span_id,
            detail: detail.into(),
            undescribed: 0,
        }
    }
}

/// One normalized span. Serializes without its children; renderers nest them.
///
/// A trace of 100,000 spans holds 100,000 nodes at once, so the node is kept small: what can be
/// derived (the service, the duration, whether it runs) is computed when asked for, and what few
/// spans carry is behind one pointer ([`SpanNode::content`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanNode {
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub trace_id: TraceId,
    pub name: SmolStr,
    pub kind: NodeKind,
    pub span_kind: SpanKind,
    pub status: RawStatus,
    pub start_time: Timestamp,
    /// `None` while the span runs ([`SpanNode::in_progress`]).
    pub end_time: Option<Timestamp>,
    /// This span's tokens plus all of its descendants'.
    pub token_usage: Option<TokenUsage>,
    /// This span's own tokens.
    pub self_token_usage: Option<TokenUsage>,
    /// Shared: the spans of a trace mostly name a few models, so one that names the same model
    /// as the span before it shares that span's.
    pub model: Option<Arc<ModelInfo>>,
    /// Prompts, responses, chat messages, artifacts, events and links; `None` when the span has
    /// none of them. Behind one pointer: most spans have none, and six lists inline would make
    /// the node 136 bytes larger. Read through [`SpanNode::prompts`] and its siblings.
    pub content: Option<Box<NodeContent>>,
    /// Boxed: most spans have none, and nodes are moved as a whole.
    pub error: Option<Box<SpanError>>,
    pub attributes: Vec<KeyValue>,
    pub resource: Arc<Resource>,
    pub scope: Option<Arc<Scope>>,
    /// Anomalies that concern this span, for marking it in a UI.
    pub flags: AnomalyFlags,
    /// A placeholder for a span the trace references but does not contain.
    pub synthetic: bool,
    /// Index of the parent in [`TraceTree::nodes`].
    pub parent: Option<u32>,
    /// Indices of the children in [`TraceTree::nodes`], sorted by start time.
    pub children: Vec<u32>,
    /// Distance from the root (the root is 0).
    pub depth: u32,
}

/// What few spans carry (see [`SpanNode::content`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeContent {
    pub prompts: Vec<ContentItem>,
    pub responses: Vec<ContentItem>,
    pub messages: Vec<ContentItem>,
    pub artifacts: Vec<Artifact>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    /// Every exception the span recorded, in order (the node's `error` is the best of them).
    pub errors: Vec<SpanError>,
    /// The span's own start, when the node is placed by its reported latency
    /// ([`DurationSource::Reported`]).
    pub measured_start: Option<Timestamp>,
}

impl NodeContent {
    /// No prompt, response, message, artifact, event, link, exception or measured start.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
            && self.responses.is_empty()
            && self.messages.is_empty()
            && self.artifacts.is_empty()
            && self.events.is_empty()
            && self.links.is_empty()
            && self.errors.is_empty()
            && self.measured_start.is_none()
    }
}

static NO_CONTENT: NodeContent = NodeContent {
    prompts: Vec::new(),
    responses: Vec::new(),
    messages: Vec::new(),
    artifacts: Vec::new(),
    events: Vec::new(),
    links: Vec::new(),
    errors: Vec::new(),
    measured_start: None,
};

impl SpanNode {
    /// `service.name` of the span's resource.
    pub fn service(&self) -> Option<&str> {
        self.resource.service_name()
    }

    /// The span has not ended yet (or its source did not say when it ended).
    pub fn in_progress(&self) -> bool {
        self.end_time.is_none()
    }

    /// Whether `start_time` is the span's own or placed by the latency the node reported (it is
    /// placed exactly when the span's own start is kept aside, [`NodeContent::measured_start`]).
    pub fn duration_source(&self) -> DurationSource {
        if self.content().measured_start.is_some() {
            DurationSource::Reported
        } else {
            DurationSource::Measured
        }
    }

    /// The start the span itself states (differs from `start_time` when the node is placed by
    /// its reported latency).
    pub fn span_start_time(&self) -> Timestamp {
        self.content().measured_start.unwrap_or(self.start_time)
    }

    /// The subgraph a node ran in, outermost first (`orcheo.node.namespace`): `LangGraph`'s path of
    /// `node:task` segments, written joined by `:`, read back as the node names; a list
    /// attribute is taken as the names. Empty for a top-level node.
    pub fn namespace(&self) -> Vec<&str> {
        match crate::raw::find(&self.attributes, crate::semconv::NODE_NAMESPACE) {
            Some(AttributeValue::String(path)) => path
                .split(':')
                .step_by(2)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
            Some(AttributeValue::Array(names)) => names
                .iter()
                .filter_map(AttributeValue::as_str)
                .filter(|s| !s.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every exception the span recorded, in order.
    pub fn errors(&self) -> &[SpanError] {
        &self.content().errors
    }

    /// From start to end, in milliseconds (negative when the source's end precedes its start);
    /// `None` while the span runs.
    pub fn duration_ms(&self) -> Option<f64> {
        self.end_time.map(|end| self.start_time.millis_until(end))
    }

    /// The node's content, empty when it has none.
    pub fn content(&self) -> &NodeContent {
        self.content.as_deref().unwrap_or(&NO_CONTENT)
    }

    pub fn prompts(&self) -> &[ContentItem] {
        &self.content().prompts
    }

    pub fn responses(&self) -> &[ContentItem] {
        &self.content().responses
    }

    pub fn messages(&self) -> &[ContentItem] {
        &self.content().messages
    }

    pub fn artifacts(&self) -> &[Artifact] {
        &self.content().artifacts
    }

    pub fn events(&self) -> &[SpanEvent] {
        &self.content().events
    }

    pub fn links(&self) -> &[SpanLink] {
        &self.content().links
    }
}

/// The node as the API shows it: its fields in their order, the derived ones computed, the six
/// content lists always present, and the tree links (`parent`, `children`, `depth`) left out.
impl Serialize for SpanNode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let content = self.content();
        View {
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            trace_id: self.trace_id,
            name: &self.name,
            kind: &self.kind,
            span_kind: self.span_kind,
            service: self.service(),
            status: &self.status,
            start_time: self.start_time,
            end_time: self.end_time,
            duration_ms: self.duration_ms(),
            duration_source: self.duration_source(),
            measured_duration_ms: content
                .measured_start
                .zip(self.end_time)
                .map(|(start, end)| start.millis_until(end)),
            in_progress: self.in_progress(),
            namespace: self.namespace(),
            token_usage: self.token_usage,
            self_token_usage: self.self_token_usage,
            model: self.model.as_deref(),
            prompts: &content.prompts,
            responses: &content.responses,
            messages: &content.messages,
            artifacts: &content.artifacts,
            error: self.error.as_deref(),
            errors: &content.errors,
            attributes: &self.attributes,
            events: &content.events,
            links: &content.links,
            resource: &self.resource.attributes,
            scope: self.scope.as_deref().map(|scope| ScopeView {
                name: &scope.name,
                version: scope.version.as_deref(),
            }),
            flags: self.flags,
            synthetic: self.synthetic,
        }
        .serialize(s)
    }
}

/// What a [`SpanNode`] serializes as; its schema is the node's, less the children the renderers
/// nest.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct View<'a> {
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    trace_id: TraceId,
    name: &'a str,
    /// `workflow`, `llm`, `tool`, `agent`, `chain`, `retriever`, `embedding`, `node`, `span`, or
    /// another kind the source names (lowercased).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    kind: &'a NodeKind,
    span_kind: SpanKind,
    /// `service.name` of the span's resource.
    service: Option<&'a str>,
    status: &'a RawStatus,
    start_time: Timestamp,
    /// `null` while the span runs.
    end_time: Option<Timestamp>,
    /// From `start_time` to `end_time` (negative when the source's end precedes its start).
    duration_ms: Option<f64>,
    /// `measured`: the span's own times. `reported`: the node reported a longer latency
    /// (`orcheo.node.latency_ms`) than its span lasted, and `start_time` is placed that much
    /// before its end (never before its parent's start).
    duration_source: DurationSource,
    /// For a `reported` duration: how long the span itself lasted; otherwise null.
    measured_duration_ms: Option<f64>,
    in_progress: bool,
    /// The subgraph the node ran in, outermost first (`orcheo.node.namespace`); empty at the top.
    namespace: Vec<&'a str>,
    /// This span's tokens and all of its descendants'.
    token_usage: Option<TokenUsage>,
    /// This span's own tokens.
    self_token_usage: Option<TokenUsage>,
    model: Option<&'a ModelInfo>,
    prompts: &'a [ContentItem],
    responses: &'a [ContentItem],
    messages: &'a [ContentItem],
    artifacts: &'a [Artifact],
    /// The best evidence of why the span failed: its first exception with a stack trace, else
    /// its first exception, completed by the summary events and the status.
    error: Option<&'a SpanError>,
    /// Every exception the span recorded, in order.
    errors: &'a [SpanError],
    #[serde(serialize_with = "serialize_attributes")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::attributes))]
    attributes: &'a [KeyValue],
    events: &'a [SpanEvent],
    links: &'a [SpanLink],
    /// The attributes of the entity that produced the span (`service.name`…).
    #[serde(serialize_with = "serialize_attributes")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::attributes))]
    resource: &'a [KeyValue],
    scope: Option<ScopeView<'a>>,
    /// The anomaly kinds that concern this span.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<AnomalyKind>))]
    flags: AnomalyFlags,
    /// A placeholder for a span the trace references but does not contain.
    synthetic: bool,
}

/// A node of the span tree as the renderers (`orcheo-span-tree`) write it: what the node
/// serializes as, with `child_count` and the nested `children` after it.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SpanNode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{
            ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type,
        };
        use utoipa::openapi::{Ref, RefOr, Schema};
        let mut schema = <View<'_> as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some("A span of the tree, with its children nested.".to_owned());
            object.properties.insert(
                "child_count".to_owned(),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(0))
                    .description(Some(
                        "Children in the trace (also those left out by `depth` or paging).",
                    ))
                    .into(),
            );
            object.properties.insert(
                "children".to_owned(),
                ArrayBuilder::new()
                    .items(Ref::from_schema_name("SpanNode"))
                    .into(),
            );
            object
                .required
                .extend(["child_count".to_owned(), "children".to_owned()]);
        }
        schema
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SpanNode {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("SpanNode")
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <View<'_> as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The instrumentation scope, as the API shows it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ScopeInfo))]
struct ScopeView<'a> {
    name: &'a str,
    version: Option<&'a str>,
}

/// Totals over the whole trace.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TraceStats {
    pub span_count: u64,
    pub error_count: u64,
    pub in_progress_count: u64,
    pub token_usage: TokenUsage,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub duration_ms: Option<f64>,
}

/// A normalized trace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceTree {
    pub trace_id: Option<TraceId>,
    /// Every span, the root's descendants in depth-first order (children by start time).
    pub nodes: Vec<SpanNode>,
    /// Index of the root in `nodes`; `None` only for an empty trace.
    pub root: Option<u32>,
    pub anomalies: Vec<Anomaly>,
    pub stats: TraceStats,
}

impl TraceTree {
    /// The root node.
    pub fn root_node(&self) -> Option<&SpanNode> {
        self.root.and_then(|i| self.nodes.get(i as usize))
    }

    /// A node by span id (a linear scan; build an index for repeated look-ups).
    pub fn find(&self, span_id: SpanId) -> Option<&SpanNode> {
        self.nodes.iter().find(|n| n.span_id == span_id)
    }

    /// The children of a node.
    pub fn children(&self, node: &SpanNode) -> impl Iterator<Item = &SpanNode> {
        node.children
            .iter()
            .filter_map(|&i| self.nodes.get(i as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_anomaly_kind_is_in_all_at_its_place() {
        // A kind added to the enum but not to `ALL` would vanish from flags and from the caps:
        // this match stops compiling until the new kind is placed here, and in `ALL`.
        let place = |kind: AnomalyKind| match kind {
            AnomalyKind::DecodeError => 0,
            AnomalyKind::InvalidSpan => 1,
            AnomalyKind::Partial => 2,
            AnomalyKind::DuplicateSpan => 3,
            AnomalyKind::SharedSpanId => 4,
            AnomalyKind::DuplicateSpanId => 5,
            AnomalyKind::Orphan => 6,
            AnomalyKind::MultipleRoots => 7,
            AnomalyKind::MissingRoot => 8,
            AnomalyKind::Cycle => 9,
            AnomalyKind::ClockSkew => 10,
            AnomalyKind::EndsAfterParent => 11,
            AnomalyKind::SourceWarning => 12,
            AnomalyKind::NegativeDuration => 13,
        };
        for (i, kind) in AnomalyKind::ALL.into_iter().enumerate() {
            assert_eq!(place(kind), i, "{kind:?}");
            assert_eq!(kind as usize, i, "{kind:?}");
        }
    }

    #[test]
    fn every_kind_has_its_own_flag_and_flags_list_in_declaration_order() {
        let mut seen = 0u16;
        for kind in AnomalyKind::ALL {
            assert_eq!(seen & kind.bit(), 0, "{kind:?} shares a bit");
            seen |= kind.bit();
        }
        let mut flags = AnomalyFlags::default();
        assert!(flags.is_empty());
        flags.extend([
            AnomalyKind::Orphan,
            AnomalyKind::DecodeError,
            AnomalyKind::Orphan,
        ]);
        assert_eq!(flags.len(), 2);
        assert!(flags.contains(&AnomalyKind::Orphan));
        assert!(!flags.contains(&AnomalyKind::Cycle));
        assert_eq!(
            serde_json::to_string(&flags).unwrap(),
            r#"["decode_error","orphan"]"#
        );
        let all: AnomalyFlags = AnomalyKind::ALL.into_iter().collect();
        assert_eq!(all.iter().collect::<Vec<_>>(), AnomalyKind::ALL);
    }
}

#[cfg(test)]
mod size_tests {
    /// A trace of 100,000 spans holds 100,000 nodes at once: the node's size is its memory. At
    /// 320 bytes at most (320 now: the cached input tokens of the two token usages took 16)
    /// such a trace's nodes (32.0 MB, 30.5 MiB) also stay under the 32 MiB above which glibc's
    /// allocator maps every block afresh, zeroed page by page, on each request.
    #[test]
    fn a_node_keeps_its_rarely_used_parts_behind_pointers() {
        let size = std::mem::size_of::<super::SpanNode>();
        assert!(size <= 320, "SpanNode is {size} bytes");
        eprintln!("SpanNode: {size} bytes");
    }

    #[test]
    fn a_missing_span_id_costs_no_room() {
        use crate::ids::SpanId;
        assert_eq!(std::mem::size_of::<Option<SpanId>>(), 8);
    }
}
