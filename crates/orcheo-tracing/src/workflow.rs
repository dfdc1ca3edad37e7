//! [`WorkflowTracer`]: a run is a root span `workflow.execution`, each node a child span with real
//! start and end around its work; prompts, responses, messages, tokens, model, artifacts and errors
//! are recorded on the node with the keys of `orcheo_trace_model::semconv`. Runs and nodes are
//! `Send`: a node may start, be recorded and end on other threads or tasks than its run.
//!
//! The keys are those Orcheo's Python tracing writes, so that Canvas and the server read a run
//! traced by either the same; the key-by-key parity table is in `docs/normalization.md`
//! ("Orcheo's Python keys and the Rust instrumentation").

use std::sync::Arc;

use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SdkTracer, Span};
use orcheo_content::PatternError;
use orcheo_trace_model::semconv as k;
use orcheo_trace_model::{
    ExecutionId, ExecutionStatus, RunFinished, RunStarted, SpanId, SpanSummary, StatusCode,
    Timestamp, TraceId,
};

use crate::TracingConfig;
use crate::content::ContentPolicy;
use crate::metrics::TracingMetrics;
use crate::sink_worker::{SinkEvent, SinkStats, SinkWorker};
use crate::telemetry::Telemetry;

/// Starts runs.
#[derive(Debug, Clone)]
pub struct WorkflowTracer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tracer: SdkTracer,
    content: ContentPolicy,
    high_token_threshold: u64,
    sink: Option<SinkWorker>,
    metrics: Option<TracingMetrics>,
}

fn span_id(span: &impl opentelemetry::trace::Span) -> Option<SpanId> {
    SpanId::from_bytes(span.span_context().span_id().to_bytes()).ok()
}

/// What is known of a run when it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    pub execution_id: Option<ExecutionId>,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<String>,
    pub trigger: Option<String>,
    pub user: Option<String>,
    pub tenant: Option<String>,
    pub input_keys: Vec<String>,
    pub tags: Vec<String>,
    pub run_name: Option<String>,
    /// The conversation thread the run continues (`orcheo.execution.thread_id`).
    pub thread_id: Option<String>,
}

/// What is known of a node when it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: String,
    pub display_name: String,
    /// `llm`, `tool`, `agent`…
    pub kind: Option<String>,
}

/// A node's failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeError {
    pub error_type: String,
    pub message: String,
    pub stack_trace: Option<String>,
    /// `orcheo.error.code`
    pub code: Option<String>,
    /// `orcheo.error.hint`: what to do about it.
    pub hint: Option<String>,
}

/// The AI model a node called, as Orcheo's `orcheo.ai.*` keys say it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AiModel {
    /// `chat`, `embedding`…
    pub kind: Option<String>,
    /// The model asked for, as configured (`openai:gpt-4o-mini`).
    pub requested: String,
    /// The model that answered (`gpt-4o-mini-2024-07-18`).
    pub actual: Option<String>,
    /// The provider; when `None`, the part of `requested` before its `:`, if any.
    pub provider: Option<String>,
}

impl AiModel {
    /// The provider: as given, or the `provider:` prefix of the requested model.
    fn provider(&self) -> Option<&str> {
        self.provider.as_deref().or_else(|| {
            self.requested
                .split_once(':')
                .map(|(provider, _)| provider.trim())
                .filter(|p| !p.is_empty())
        })
    }

    /// The requested model without its `provider:` prefix.
    fn model(&self) -> &str {
        self.requested
            .split_once(':')
            .map_or(self.requested.as_str(), |(_, model)| model.trim())
    }
}

/// An artifact a node produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactInfo {
    pub id: String,
    pub name: Option<String>,
    pub url: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<u64>,
}

fn strings(values: &[String]) -> Value {
    Value::Array(Array::String(
        values
            .iter()
            .map(|v| StringValue::from(v.clone()))
            .collect(),
    ))
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl WorkflowTracer {
    fn count_started(&self, kind: &str) {
        if let Some(metrics) = &self.inner.metrics {
            // Kinds come from the executor's code; bounded to keep the label set small.
            let kind = if kind.len() <= 32
                && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                kind
            } else {
                "other"
            };
            metrics.spans_started.with_label_values(&[kind]).inc();
        }
    }

    /// The tracer of a provider, with the content policy of the configuration.
    pub fn new(telemetry: &Telemetry, config: &TracingConfig) -> Result<Self, PatternError> {
        Ok(Self {
            inner: Arc::new(Inner {
                tracer: telemetry.provider().tracer("orcheo.tracing"),
                content: ContentPolicy::from_config(config)?,
                high_token_threshold: config.high_token_threshold,
                sink: None,
                metrics: telemetry.metrics().cloned(),
            }),
        })
    }

    /// Reports every run's start, ended spans and outcome to `sink` (a metadata store), from a
    /// thread of its own through a queue of `capacity` events: the workflow never waits for it.
    pub fn with_sink(
        self,
        sink: Arc<dyn crate::TraceMetadataSink>,
        capacity: usize,
    ) -> std::io::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                tracer: self.inner.tracer.clone(),
                content: self.inner.content.clone(),
                high_token_threshold: self.inner.high_token_threshold,
                sink: Some(SinkWorker::start(sink, capacity)?),
                metrics: self.inner.metrics.clone(),
            }),
        })
    }

    /// Waits until the sink has received everything reported so far (at most `timeout`); `false`
    /// on time-out or without a sink.
    pub fn flush_sink(&self, timeout: std::time::Duration) -> bool {
        self.inner.sink.as_ref().is_some_and(|s| s.flush(timeout))
    }

    /// What did not reach the sink (dropped when its queue was full, or refused by it).
    pub fn sink_stats(&self) -> Option<&SinkStats> {
        self.inner.sink.as_ref().map(SinkWorker::stats)
    }

    /// Starts a run: its root span, trace id and `traceparent`.
    pub fn start_run(&self, info: &RunInfo) -> Run {
        self.count_started("workflow");
        let mut attributes = Vec::new();
        let mut text = |key: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                attributes.push(KeyValue::new(key, v.clone()));
            }
        };
        text(
            k::EXECUTION_ID,
            &info.execution_id.as_ref().map(ToString::to_string),
        );
        text(k::WORKFLOW_ID, &info.workflow_id);
        text(k::WORKFLOW_VERSION, &info.workflow_version);
        text(k::EXECUTION_TRIGGER, &info.trigger);
        text(k::EXECUTION_USER, &info.user);
        text(k::EXECUTION_TENANT, &info.tenant);
        text(k::EXECUTION_RUN_NAME, &info.run_name);
        text(k::EXECUTION_THREAD_ID, &info.thread_id);
        if !info.input_keys.is_empty() {
            attributes.push(KeyValue::new(
                k::EXECUTION_INPUT_KEYS,
                strings(&info.input_keys),
            ));
            attributes.push(KeyValue::new(
                k::EXECUTION_INPUT_COUNT,
                count(info.input_keys.len()),
            ));
        }
        if !info.tags.is_empty() {
            attributes.push(KeyValue::new(k::EXECUTION_TAGS, strings(&info.tags)));
            attributes.push(KeyValue::new(
                k::EXECUTION_TAG_COUNT,
                count(info.tags.len()),
            ));
        }
        let tracer = &self.inner.tracer;
        let span = tracer
            .span_builder(k::WORKFLOW_SPAN_NAME)
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes)
            .start(tracer);
        let context = span.span_context().clone();
        let traceparent = format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        );
        let trace_id = TraceId::from_bytes(context.trace_id().to_bytes()).ok();
        let started_at = Timestamp::now();
        if let (Some(sink), Some(execution_id), Some(trace_id)) =
            (&self.inner.sink, &info.execution_id, trace_id)
        {
            sink.send(SinkEvent::RunStarted(RunStarted {
                execution_id: execution_id.clone(),
                workflow_id: info.workflow_id.clone(),
                workflow_version: info.workflow_version.clone(),
                tenant: info.tenant.clone(),
                triggered_by: info.trigger.clone(),
                started_at,
                trace_id,
                traceparent: traceparent.clone(),
            }));
        }
        Run {
            tracer: self.clone(),
            root_span_id: span_id(&span),
            context: Context::current_with_span(span),
            execution_id: info.execution_id.clone(),
            tenant: info.tenant.clone(),
            workflow_id: info.workflow_id.clone(),
            trace_id,
            traceparent,
            started_at,
        }
    }
}

/// A running workflow: the root span, shared by its nodes.
#[derive(Debug)]
pub struct Run {
    tracer: WorkflowTracer,
    context: Context,
    root_span_id: Option<SpanId>,
    execution_id: Option<ExecutionId>,
    /// Repeated on every node, so a receiver that sees a node before the root knows whose run
    /// it is.
    tenant: Option<String>,
    /// Also repeated on every node, so a run still running is shown under its workflow.
    workflow_id: Option<String>,
    trace_id: Option<TraceId>,
    traceparent: String,
    started_at: Timestamp,
}

impl Run {
    /// The run's trace id, to store with the execution (always real, even when not exported;
    /// `None` only for the invalid all-zero id of a disabled SDK).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The W3C `traceparent` of the run's root span.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// Starts a node as a child of the run, now.
    pub fn start_node(&self, info: &NodeInfo) -> Node {
        self.tracer
            .count_started(info.kind.as_deref().unwrap_or("node"));
        let mut attributes = vec![
            KeyValue::new(k::NODE_ID, info.id.clone()),
            KeyValue::new(k::NODE_DISPLAY_NAME, info.display_name.clone()),
        ];
        if let Some(kind) = &info.kind {
            attributes.push(KeyValue::new(k::NODE_KIND, kind.clone()));
        }
        if let Some(id) = &self.execution_id {
            // On every span, so a receiver can place a node before the run's root has ended.
            attributes.push(KeyValue::new(k::EXECUTION_ID, id.to_string()));
        }
        if let Some(tenant) = &self.tenant {
            attributes.push(KeyValue::new(k::EXECUTION_TENANT, tenant.clone()));
        }
        if let Some(workflow) = &self.workflow_id {
            attributes.push(KeyValue::new(k::WORKFLOW_ID, workflow.clone()));
        }
        let tracer = &self.tracer.inner.tracer;
        let span = tracer.build_with_context(
            tracer
                .span_builder(info.display_name.clone())
                .with_kind(SpanKind::Internal)
                .with_attributes(attributes),
            &self.context,
        );
        Node {
            summary: self.execution_id.clone().and_then(|execution_id| {
                Some(SpanSummary {
                    execution_id,
                    span_id: span_id(&span)?,
                    parent_span_id: self.root_span_id,
                    name: info.display_name.clone(),
                    kind: info.kind.clone().unwrap_or_else(|| "node".to_owned()),
                    start_time: Timestamp::now(),
                    end_time: None,
                    status_code: StatusCode::Unset,
                    status_message: None,
                    input_tokens: None,
                    output_tokens: None,
                    cached_input_tokens: None,
                    model: None,
                    provider: None,
                })
            }),
            span,
            inner: Arc::clone(&self.tracer.inner),
            started: std::time::Instant::now(),
            artifact_ids: Vec::new(),
        }
    }

    fn end(
        self,
        status: Status,
        event: &'static str,
        attributes: Vec<KeyValue>,
        outcome: (ExecutionStatus, Option<String>),
    ) {
        let span = self.context.span();
        span.add_event(event, attributes);
        let (code, message) = match &status {
            Status::Ok => (StatusCode::Ok, None),
            Status::Error { description } => (StatusCode::Error, Some(description.to_string())),
            Status::Unset => (StatusCode::Unset, None),
        };
        span.set_status(status);
        span.end();
        let (Some(sink), Some(execution_id)) = (&self.tracer.inner.sink, self.execution_id) else {
            return;
        };
        let finished_at = Timestamp::now();
        if let Some(root) = self.root_span_id {
            sink.send(SinkEvent::SpansEnded(vec![SpanSummary {
                execution_id: execution_id.clone(),
                span_id: root,
                parent_span_id: None,
                name: k::WORKFLOW_SPAN_NAME.to_owned(),
                kind: "workflow".to_owned(),
                start_time: self.started_at,
                end_time: Some(finished_at),
                status_code: code,
                status_message: message,
                input_tokens: None,
                output_tokens: None,
                cached_input_tokens: None,
                model: None,
                provider: None,
            }]));
        }
        sink.send(SinkEvent::RunFinished(RunFinished {
            execution_id,
            status: outcome.0,
            error: outcome.1,
            finished_at,
        }));
    }

    /// The run completed.
    pub fn complete(self) {
        self.end(
            Status::Ok,
            k::EVENT_WORKFLOW_COMPLETED,
            vec![KeyValue::new(k::EVENT_ATTR_STATUS, "completed")],
            (ExecutionStatus::Completed, None),
        );
    }

    /// The run failed.
    pub fn fail(self, error_type: &str, message: &str) {
        let message = self
            .tracer
            .inner
            .content
            .prepare(message)
            .preview
            .unwrap_or_default();
        self.end(
            Status::error(message.clone()),
            k::EVENT_WORKFLOW_FAILED,
            vec![
                KeyValue::new(k::EXCEPTION_TYPE, error_type.to_owned()),
                KeyValue::new(k::EXCEPTION_MESSAGE, message.clone()),
            ],
            (ExecutionStatus::Error, Some(message)),
        );
    }

    /// The run was cancelled.
    pub fn cancel(self, reason: &str) {
        self.end(
            Status::error(reason.to_owned()),
            k::EVENT_WORKFLOW_CANCELLED,
            vec![KeyValue::new(k::EVENT_ATTR_REASON, reason.to_owned())],
            (ExecutionStatus::Cancelled, Some(reason.to_owned())),
        );
    }
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    span: Span,
    inner: Arc<Inner>,
    /// What the sink will be told when the node ends (`None` without an execution id).
    summary: Option<SpanSummary>,
    /// For `orcheo.node.latency_ms`.
    started: std::time::Instant,
    /// `orcheo.artifact.ids` so far.
    artifact_ids: Vec<String>,
}

impl Node {
    /// Makes this node the current OpenTelemetry context until the guard is dropped: spans
    /// started meanwhile on this thread — with the OpenTelemetry API, or with the `tracing` crate
    /// through `tracing-opentelemetry` and this provider's tracer — become the node's children.
    #[must_use = "the node is current only while the guard lives"]
    pub fn enter(&self) -> opentelemetry::ContextGuard {
        Context::new()
            .with_remote_span_context(self.span.span_context().clone())
            .attach()
    }

    fn content_event(&mut self, name: &'static str, role: Option<&str>, text: &str) {
        // A span that is not recorded (sampled out, SDK disabled) keeps nothing: skip the
        // redaction and truncation work.
        if !self.span.is_recording() {
            return;
        }
        let mut attributes: Vec<KeyValue> = Vec::with_capacity(5);
        if let Some(role) = role {
            attributes.push(KeyValue::new(k::CONTENT_ATTR_ROLE, role.to_owned()));
        }
        for kv in self.inner.content.prepare(text).event_attributes() {
            attributes.push(to_otel(kv));
        }
        self.span.add_event(name, attributes);
    }

    /// A prompt sent to a model (redacted and cut to the preview length, or withheld).
    pub fn prompt(&mut self, text: &str) {
        self.content_event(k::EVENT_PROMPT, Some("user"), text);
    }

    /// A model's response.
    pub fn response(&mut self, text: &str) {
        self.content_event(k::EVENT_RESPONSE, None, text);
    }

    /// A chat message.
    pub fn message(&mut self, role: &str, text: &str) {
        self.content_event(k::EVENT_MESSAGE, Some(role), text);
    }

    /// Token usage, under Orcheo's and the GenAI keys; a `token.chunk` event above the threshold.
    pub fn tokens(&mut self, input: u64, output: u64) {
        for (key, value) in [
            (k::TOKEN_INPUT, input),
            (k::TOKEN_OUTPUT, output),
            (k::GEN_AI_USAGE_INPUT_TOKENS, input),
            (k::GEN_AI_USAGE_OUTPUT_TOKENS, output),
        ] {
            self.span.set_attribute(KeyValue::new(key, tokens(value)));
        }
        if let Some(summary) = &mut self.summary {
            summary.input_tokens = Some(input);
            summary.output_tokens = Some(output);
        }
        if input > self.inner.high_token_threshold || output > self.inner.high_token_threshold {
            self.span.add_event(
                k::EVENT_TOKEN_CHUNK,
                vec![
                    KeyValue::new(k::TOKEN_CHUNK_ATTR_INPUT, tokens(input)),
                    KeyValue::new(k::TOKEN_CHUNK_ATTR_OUTPUT, tokens(output)),
                    KeyValue::new(k::TOKEN_CHUNK_ATTR_REASON, "high_usage"),
                ],
            );
        }
    }

    /// Input tokens the provider read from its prompt cache (a part of the input tokens given
    /// to [`Node::tokens`]), under the GenAI key.
    pub fn cached_input_tokens(&mut self, cached: u64) {
        self.span.set_attribute(KeyValue::new(
            k::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            tokens(cached),
        ));
        if let Some(summary) = &mut self.summary {
            summary.cached_input_tokens = Some(cached);
        }
    }

    /// The model called.
    pub fn model(&mut self, request: &str, response: Option<&str>, provider: &str) {
        if let Some(summary) = &mut self.summary {
            summary.model = Some(response.unwrap_or(request).to_owned());
            summary.provider = Some(provider.to_owned());
        }
        self.span
            .set_attribute(KeyValue::new(k::GEN_AI_REQUEST_MODEL, request.to_owned()));
        if let Some(response) = response {
            self.span
                .set_attribute(KeyValue::new(k::GEN_AI_RESPONSE_MODEL, response.to_owned()));
        }
        self.span
            .set_attribute(KeyValue::new(k::GEN_AI_PROVIDER_NAME, provider.to_owned()));
    }

    /// Orcheo's AI model metadata (`orcheo.ai.*`), and the same model under the GenAI keys, so
    /// that readers of either find it.
    pub fn ai_model(&mut self, model: &AiModel) {
        if let Some(summary) = &mut self.summary {
            summary.model = Some(model.actual.as_deref().unwrap_or(model.model()).to_owned());
            summary.provider = model.provider().map(str::to_owned);
        }
        if let Some(kind) = &model.kind {
            self.span
                .set_attribute(KeyValue::new(k::AI_KIND, kind.clone()));
        }
        self.span.set_attribute(KeyValue::new(
            k::AI_MODEL_REQUESTED,
            model.requested.clone(),
        ));
        self.span.set_attribute(KeyValue::new(
            k::GEN_AI_REQUEST_MODEL,
            model.model().to_owned(),
        ));
        if let Some(actual) = &model.actual {
            self.span
                .set_attribute(KeyValue::new(k::AI_MODEL_ACTUAL, actual.clone()));
            self.span
                .set_attribute(KeyValue::new(k::GEN_AI_RESPONSE_MODEL, actual.clone()));
        }
        if let Some(provider) = model.provider() {
            self.span
                .set_attribute(KeyValue::new(k::AI_PROVIDER, provider.to_owned()));
            self.span
                .set_attribute(KeyValue::new(k::GEN_AI_PROVIDER_NAME, provider.to_owned()));
        }
    }

    /// An artifact the node produced: an `artifact` event, and its id in the node's
    /// `orcheo.artifact.ids` (the string array Orcheo's Python tracing writes), set once when
    /// the node ends (the SDK keeps every value set, so setting it at each artifact would
    /// repeat the key).
    pub fn artifact(&mut self, artifact: &ArtifactInfo) {
        self.artifact_ids.push(artifact.id.clone());
        let mut attributes = vec![KeyValue::new(k::ARTIFACT_ID, artifact.id.clone())];
        for (key, value) in [
            (k::ARTIFACT_NAME, &artifact.name),
            (k::ARTIFACT_URL, &artifact.url),
            (k::ARTIFACT_CONTENT_TYPE, &artifact.content_type),
        ] {
            if let Some(v) = value {
                attributes.push(KeyValue::new(key, v.clone()));
            }
        }
        if let Some(size) = artifact.size {
            attributes.push(KeyValue::new(k::ARTIFACT_SIZE, tokens(size)));
        }
        self.span.add_event(k::EVENT_ARTIFACT, attributes);
    }

    /// What is set as the node ends: `orcheo.node.latency_ms` (its time from its start until
    /// now) and `orcheo.artifact.ids`.
    fn set_end_attributes(&mut self) {
        let ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.span
            .set_attribute(KeyValue::new(k::NODE_LATENCY_MS, ms));
        if !self.artifact_ids.is_empty() {
            self.span
                .set_attribute(KeyValue::new(k::ARTIFACT_IDS, strings(&self.artifact_ids)));
        }
    }

    /// The node succeeded: status OK, `orcheo.node.status = success`, its latency, and the span
    /// ends now.
    pub fn succeed(mut self) {
        self.set_end_attributes();
        self.span
            .set_attribute(KeyValue::new(k::NODE_STATUS, "success"));
        self.span.set_status(Status::Ok);
        self.span.end();
        self.report(StatusCode::Ok, None);
    }

    fn report(self, code: StatusCode, message: Option<String>) {
        if let (Some(sink), Some(mut summary)) = (&self.inner.sink, self.summary) {
            summary.end_time = Some(Timestamp::now());
            summary.status_code = code;
            summary.status_message = message;
            sink.send(SinkEvent::SpansEnded(vec![summary]));
        }
    }

    /// The node failed: the standard `exception` event (with stack trace), an `error.detail`
    /// event, the error code and hint, status ERROR; the span ends now.
    pub fn fail(mut self, error: &NodeError) {
        let content = &self.inner.content;
        let message = content.prepare(&error.message).preview.unwrap_or_default();
        let mut exception = vec![
            KeyValue::new(k::EXCEPTION_TYPE, error.error_type.clone()),
            KeyValue::new(k::EXCEPTION_MESSAGE, message.clone()),
        ];
        if let Some(stack) = &error.stack_trace {
            exception.push(KeyValue::new(k::EXCEPTION_STACKTRACE, stack.clone()));
        }
        self.span.add_event(k::EVENT_EXCEPTION, exception);
        self.span.add_event(
            k::EVENT_ERROR_DETAIL,
            vec![KeyValue::new(k::ERROR_DETAIL_ATTR_MESSAGE, message.clone())],
        );
        if let Some(code) = &error.code {
            self.span
                .set_attribute(KeyValue::new(k::ERROR_CODE, code.clone()));
        }
        if let Some(hint) = &error.hint {
            self.span
                .set_attribute(KeyValue::new(k::ERROR_HINT, hint.clone()));
        }
        self.set_end_attributes();
        self.span
            .set_attribute(KeyValue::new(k::NODE_STATUS, "error"));
        self.span.set_status(Status::error(message.clone()));
        self.span.end();
        self.report(StatusCode::Error, Some(message));
    }
}

/// A model key-value as an OpenTelemetry one (content events carry only text, integers, booleans).
fn to_otel(kv: orcheo_trace_model::KeyValue) -> KeyValue {
    use orcheo_trace_model::AttributeValue as A;
    let value = match kv.value {
        A::String(s) => Value::from(s.to_string()),
        A::Int(i) => Value::I64(i),
        A::Bool(b) => Value::Bool(b),
        A::Double(d) => Value::F64(d),
        other => Value::from(format!("{other:?}")),
    };
    KeyValue::new(kv.key.to_string(), value)
}
