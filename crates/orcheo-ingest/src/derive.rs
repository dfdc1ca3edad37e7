//! What received spans say about executions. The first span carrying `orcheo.execution.id`
//! registers its execution (status `running`, the trace id); the run's root span
//! (`workflow.execution`, no parent) fills in the workflow, tenant and trigger and, once ended,
//! the outcome; every ended span becomes a span summary (for live updates and degraded answers).
//!
//! A span belongs to its execution by its trace: Orcheo's Python tracing names the execution on
//! the root span only, and its exporter sends the children first. An ended span that names no
//! execution is kept [`Unplaced`] until the writer learns its trace's execution — from the
//! trace's owner when the trace is already registered ([`Facts::place`]), or, when the run registers
//! after its children were stored, from the stored spans themselves ([`apply`] reads the trace's
//! spans that joined no run yet, once, when it registers the run).
//!
//! A span's kind, tokens, status and error are what the span tree reads off it
//! ([`orcheo_span_tree::classify`]): the executions list, the live feed and the degraded tree,
//! all built from the summaries, show a span as the Trace tab does.

use std::collections::HashMap;

use super::credentials::Writer;
use crate::otlp::span::Event;
use crate::otlp::{AnyValue, KeyValue, any_value};
use crate::otlp::{Span, TracesData};
use orcheo_span_tree::classify::{self, SpanFacts};
use orcheo_trace_model::{
    AttributeValue, ExecutionId, ExecutionStatus, RawSpan, RawStatus, SmolStr, SpanEvent, SpanId,
    SpanSummary, StatusCode, Timestamp, TraceId, semconv,
};
use orcheo_trace_store::{
    DEFAULT_TENANT, ExecutionDetails, NewExecution, StoreError, TraceLink, Transaction,
    UNASSIGNED_TENANT,
};

/// A run's end, as its root span tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootEnd {
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub finished_at: Timestamp,
}

/// Everything one export says about executions.
#[derive(Debug, Default)]
pub struct Facts {
    /// One per execution seen, from its earliest span in the export.
    pub registrations: Vec<NewExecution>,
    pub roots: Vec<(ExecutionId, ExecutionDetails, Option<RootEnd>)>,
    pub summaries: Vec<SpanSummary>,
    /// Ended spans that name no execution, until their trace's is known.
    pub unplaced: Vec<Unplaced>,
}

/// An ended span that names no execution: its summary once its trace's execution is known.
#[derive(Debug, Clone)]
pub struct Unplaced {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    summary: SpanSummary,
}

impl Unplaced {
    /// Its summary as a span of `execution`.
    pub fn placed(mut self, execution: ExecutionId) -> SpanSummary {
        self.summary.execution_id = execution;
        self.summary
    }
}

fn text(value: Option<&AnyValue>) -> Option<&str> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    }
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| text(kv.value.as_ref()))
        .filter(|s| !s.is_empty())
}

/// How far ahead of this server's clock a run may say it started.
const MAX_CLOCK_AHEAD: std::time::Duration = std::time::Duration::from_hours(1);

/// The largest number the store holds (a signed 64-bit column): times in nanoseconds, tokens.
const MAX_STORED: u64 = i64::MAX.unsigned_abs();

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn event_attr<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    attr(&event.attributes, key)
}

/// The run's outcome from its root span: the workflow events first, then the span's status;
/// the error as the span tree names the root's.
fn root_end(span: &Span, facts: &SpanFacts) -> Option<RootEnd> {
    if span.end_time_unix_nano == 0 {
        return None;
    }
    let finished_at = Timestamp::from_unix_nanos(span.end_time_unix_nano);
    let event = |name: &str| span.events.iter().find(|e| e.name == name);
    let failed = event(semconv::EVENT_WORKFLOW_FAILED).is_some();
    let cancelled = event(semconv::EVENT_WORKFLOW_CANCELLED);
    let (status, error) = match cancelled {
        Some(cancelled) if !failed => (
            ExecutionStatus::Cancelled,
            owned(event_attr(cancelled, semconv::EVENT_ATTR_REASON)),
        ),
        _ if failed || facts.status == StatusCode::Error => (
            ExecutionStatus::Error,
            facts
                .error
                .as_ref()
                .and_then(|e| e.message.clone().or_else(|| e.error_type.clone())),
        ),
        _ => (ExecutionStatus::Completed, None),
    };
    // Stored error texts are bounded.
    let error = error.map(|mut e| {
        orcheo_span_tree::filter::truncate_str(&mut e, 4000);
        e
    });
    Some(RootEnd {
        status,
        error,
        finished_at,
    })
}

fn value(value: Option<&AnyValue>) -> AttributeValue {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttributeValue::String(SmolStr::new(s)),
        Some(any_value::Value::IntValue(n)) => AttributeValue::Int(*n),
        Some(any_value::Value::DoubleValue(d)) => AttributeValue::Double(*d),
        Some(any_value::Value::BoolValue(b)) => AttributeValue::Bool(*b),
        // Nothing the classification reads is a list, a map or bytes.
        _ => AttributeValue::Empty,
    }
}

fn key_values<'a>(
    into: &mut Vec<orcheo_trace_model::KeyValue>,
    list: impl Iterator<Item = (SmolStr, Option<&'a AnyValue>)>,
) {
    into.extend(list.map(|(key, v)| orcheo_trace_model::KeyValue {
        key,
        value: value(v),
    }));
}

/// Reads spans as the span tree does. Only what the classification reads is converted: content
/// (prompts, messages) can be most of an export, and the writer does not look at it. One span's
/// room serves an export's spans in turn.
#[derive(Default)]
struct Classifier {
    scratch: Option<RawSpan>,
}

impl Classifier {
    fn read(&mut self, span: &Span, trace_id: TraceId, span_id: SpanId) -> SpanFacts {
        let raw = self
            .scratch
            .get_or_insert_with(|| RawSpan::new(trace_id, span_id, ""));
        raw.trace_id = trace_id;
        raw.span_id = span_id;
        raw.name = SmolStr::new(&span.name);
        raw.status = span
            .status
            .as_ref()
            .map_or_else(RawStatus::default, |s| RawStatus {
                code: StatusCode::from_otlp(i64::from(s.code)),
                message: Some(s.message.clone()).filter(|m| !m.is_empty()),
            });
        raw.attributes.clear();
        key_values(
            &mut raw.attributes,
            span.attributes.iter().filter_map(|kv| {
                let key = classify::attribute_key(&kv.key)?;
                Some((SmolStr::new_static(key), kv.value.as_ref()))
            }),
        );
        raw.events.clear();
        for event in &span.events {
            let Some(name) = classify::event_name(&event.name) else {
                continue;
            };
            let mut attributes = Vec::with_capacity(event.attributes.len());
            key_values(
                &mut attributes,
                event
                    .attributes
                    .iter()
                    .map(|kv| (semconv::key(&kv.key), kv.value.as_ref())),
            );
            raw.events.push(SpanEvent {
                name: SmolStr::new_static(name),
                time: None,
                attributes,
            });
        }
        classify::classify(raw)
    }
}

impl Facts {
    /// Adds another export's facts (a writer round handles several at once).
    pub fn extend(&mut self, other: Self) {
        for new in other.registrations {
            match self.registrations.iter_mut().find(|r| r.id == new.id) {
                Some(known) if new.started_at < known.started_at => {
                    known.started_at = new.started_at;
                }
                Some(_) => {}
                None => self.registrations.push(new),
            }
        }
        self.roots.extend(other.roots);
        self.summaries.extend(other.summaries);
        self.unplaced.extend(other.unplaced);
    }

    /// Gives the unplaced spans whose trace and span ids `placement` knows an execution for
    /// their summaries; the others stay unplaced (their run registers later, or never).
    pub fn place(&mut self, placement: &HashMap<(TraceId, SpanId), ExecutionId>) {
        if placement.is_empty() {
            return;
        }
        let unplaced = std::mem::take(&mut self.unplaced);
        for span in unplaced {
            match placement.get(&(span.trace_id, span.span_id)) {
                Some(execution) => self.summaries.push(span.placed(execution.clone())),
                None => self.unplaced.push(span),
            }
        }
    }
}

/// What the store keeps of an ended span.
fn summary(
    span: &Span,
    facts: &SpanFacts,
    execution: ExecutionId,
    span_id: SpanId,
    parent: Option<SpanId>,
) -> SpanSummary {
    let mut name = span.name.clone();
    orcheo_span_tree::filter::truncate_str(&mut name, 1000);
    // The error the tree shows, so a tree rebuilt from summaries shows it too.
    let mut message = facts.error.as_ref().and_then(|e| e.message.clone());
    if let Some(m) = message.as_mut() {
        orcheo_span_tree::filter::truncate_str(m, 4000);
    }
    let tokens = facts.tokens;
    SpanSummary {
        execution_id: execution,
        span_id,
        parent_span_id: parent,
        name,
        kind: facts.kind.as_str().to_owned(),
        start_time: Timestamp::from_unix_nanos(span.start_time_unix_nano),
        end_time: Some(Timestamp::from_unix_nanos(span.end_time_unix_nano)),
        status_code: facts.status,
        status_message: message,
        input_tokens: tokens.map(|t| t.input),
        output_tokens: tokens.map(|t| t.output),
        cached_input_tokens: tokens.and_then(|t| t.cached_input),
        model: facts.model.as_deref().map(str::to_owned),
        provider: facts.provider.as_deref().map(str::to_owned),
    }
}

/// An ended span that names no execution, summarized for the execution its trace turns out to
/// belong to.
fn unplaced(
    classifier: &mut Classifier,
    span: &Span,
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
) -> Option<Unplaced> {
    if span.end_time_unix_nano == 0 {
        return None;
    }
    // A stand-in, replaced when the span is placed; never stored as such.
    let pending = ExecutionId::new("unplaced").ok()?;
    let facts = classifier.read(span, trace_id, span_id);
    Some(Unplaced {
        trace_id,
        span_id,
        summary: summary(span, &facts, pending, span_id, parent),
    })
}

/// The unplaced spans among stored payloads (each an encoded `TracesData`, laid end to end),
/// as spans of `execution`.
pub fn placed_from_payloads(bytes: &[u8], execution: &ExecutionId) -> Vec<SpanSummary> {
    let data = match <TracesData as prost::Message>::decode(bytes) {
        Ok(data) => data,
        Err(e) => {
            tracing::warn!(execution.id = %execution, error = %e, "stored spans did not decode; they are not counted for their run");
            return Vec::new();
        }
    };
    let mut summaries = Vec::new();
    let mut classifier = Classifier::default();
    for span in data
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        let (Ok(trace_id), Ok(span_id)) = (
            TraceId::from_slice(&span.trace_id),
            SpanId::from_slice(&span.span_id),
        ) else {
            continue;
        };
        if span.start_time_unix_nano > MAX_STORED || span.end_time_unix_nano > MAX_STORED {
            continue;
        }
        let parent = SpanId::from_slice(&span.parent_span_id).ok();
        if let Some(one) = unplaced(&mut classifier, span, trace_id, span_id, parent) {
            summaries.push(one.placed(execution.clone()));
        }
    }
    summaries
}

/// Reads the facts of one export, whose spans are `writer`'s.
pub fn facts(data: &TracesData, writer: &Writer) -> Facts {
    let mut facts = Facts::default();
    let latest = Timestamp::now()
        .unix_nanos()
        .saturating_add(MAX_CLOCK_AHEAD.as_nanos().try_into().unwrap_or(u64::MAX));
    let mut registered: HashMap<ExecutionId, usize> = HashMap::new();
    let mut classifier = Classifier::default();
    for resource_spans in &data.resource_spans {
        for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
            let (Ok(trace_id), Ok(span_id)) = (
                TraceId::from_slice(&span.trace_id),
                SpanId::from_slice(&span.span_id),
            ) else {
                continue;
            };
            // Times past what the store holds (year 2262) make the span unusable for the
            // execution's record; the span itself is still stored (or refused) by the writer.
            if span.start_time_unix_nano > MAX_STORED || span.end_time_unix_nano > MAX_STORED {
                continue;
            }
            let parent = SpanId::from_slice(&span.parent_span_id).ok();
            let is_root = parent.is_none() && span.name == semconv::WORKFLOW_SPAN_NAME;
            let Some(execution) = attr(&span.attributes, semconv::EXECUTION_ID)
                .and_then(|id| ExecutionId::new(id).ok())
            else {
                if let Some(unplaced) = unplaced(&mut classifier, span, trace_id, span_id, parent) {
                    facts.unplaced.push(unplaced);
                }
                continue;
            };
            // A start far in the future would keep the run from retention for ever.
            let start = Timestamp::from_unix_nanos(span.start_time_unix_nano.min(latest));
            let claim = writer.claim(attr(&span.attributes, semconv::EXECUTION_TENANT));
            // The run's traceparent names its root: the span itself when it is the root, else
            // the parent of the first span seen (a node's parent is the root in Orcheo runs).
            let traceparent_of = |id: SpanId| format!("00-{trace_id}-{id}-01");
            if let Some(&i) = registered.get(&execution) {
                let known = &mut facts.registrations[i];
                if start < known.started_at {
                    known.started_at = start;
                }
            } else {
                registered.insert(execution.clone(), facts.registrations.len());
                facts.registrations.push(NewExecution {
                    id: execution.clone(),
                    workflow_id: owned(attr(&span.attributes, semconv::WORKFLOW_ID)),
                    workflow_version: owned(attr(&span.attributes, semconv::WORKFLOW_VERSION)),
                    // Whose run this is: the writer's credential or the span says, or the root
                    // (which decides when nothing else does) is this span; otherwise nobody but
                    // administrators sees it until the root comes.
                    tenant: Some(
                        claim
                            .unwrap_or(if is_root {
                                DEFAULT_TENANT
                            } else {
                                UNASSIGNED_TENANT
                            })
                            .to_owned(),
                    ),
                    triggered_by: owned(attr(&span.attributes, semconv::EXECUTION_TRIGGER)),
                    started_at: start,
                    trace: Some(TraceLink {
                        trace_id,
                        traceparent: traceparent_of(parent.unwrap_or(span_id)),
                    }),
                });
            }
            let ended = span.end_time_unix_nano != 0;
            let what = (is_root || ended).then(|| classifier.read(span, trace_id, span_id));
            if let Some(what) = what.as_ref().filter(|_| is_root) {
                facts.roots.push((
                    execution.clone(),
                    ExecutionDetails {
                        workflow_id: owned(attr(&span.attributes, semconv::WORKFLOW_ID)),
                        workflow_version: owned(attr(&span.attributes, semconv::WORKFLOW_VERSION)),
                        tenant: Some(claim.unwrap_or(DEFAULT_TENANT).to_owned()),
                        triggered_by: owned(attr(&span.attributes, semconv::EXECUTION_TRIGGER)),
                        started_at: Some(start),
                        traceparent: Some(traceparent_of(span_id)),
                    },
                    root_end(span, what),
                ));
            }
            if let Some(what) = what.as_ref().filter(|_| ended) {
                facts
                    .summaries
                    .push(summary(span, what, execution, span_id, parent));
            }
        }
    }
    facts
}

/// Writes the facts in `store`'s transaction: registrations (executions in `known`, or already
/// stored, are left alone), root details and outcomes, summaries. Returns the executions
/// registered, or found registered, for the caller to add to `known` once the transaction
/// commits.
pub fn apply<S: std::hash::BuildHasher>(
    store: &mut Transaction<'_>,
    facts: &Facts,
    known: &std::collections::HashSet<ExecutionId, S>,
    redactor: Option<&orcheo_span_tree::redact::Redactor>,
) -> Result<Applied, StoreError> {
    let mut unregistered = std::collections::HashSet::new();
    let mut registered = Vec::new();
    let mut missing = Vec::new();
    for new in &facts.registrations {
        if known.contains(&new.id) {
            continue;
        }
        match store.start_execution(new) {
            Ok(()) | Err(StoreError::Duplicate(_)) => {
                registered.push(new.id.clone());
            }
            Err(StoreError::Invalid { field, reason }) => {
                tracing::warn!(execution.id = %new.id, field, reason, "execution not registered from its spans");
                unregistered.insert(&new.id);
            }
            Err(e) => return Err(e),
        }
    }
    let Adoption {
        summaries: adopted_summaries,
        texts: adopted_texts,
        executions: adopted,
    } = adopt(store, &registered, redactor)?;
    for (id, details, end) in facts
        .roots
        .iter()
        .filter(|(id, ..)| !unregistered.contains(id))
    {
        match store.describe_execution(id, details) {
            Ok(()) => {}
            Err(StoreError::Invalid { field, reason }) => {
                tracing::warn!(execution.id = %id, field, reason, "root span details not recorded");
            }
            // Registered once, then deleted by retention while the writer still took it for
            // known: one run's loss, not the round's.
            Err(StoreError::UnknownExecution(_)) => {
                tracing::warn!(execution.id = %id, "root span of an execution no longer stored");
                missing.push(id.clone());
                continue;
            }
            Err(e) => return Err(e),
        }
        if let Some(end) = end {
            match store.finish_execution(id, end.status, end.error.as_deref(), end.finished_at) {
                Ok(()) => {}
                // One run's bad value must not cost the others in this round their outcome.
                Err(StoreError::Invalid { field, reason }) => {
                    tracing::warn!(execution.id = %id, field, reason, "run outcome not recorded");
                }
                Err(StoreError::UnknownExecution(_)) => missing.push(id.clone()),
                Err(e) => return Err(e),
            }
        }
    }
    let summaries: Vec<SpanSummary> = facts
        .summaries
        .iter()
        .filter(|s| !unregistered.contains(&s.execution_id))
        .cloned()
        .chain(adopted_summaries)
        .collect();
    if !summaries.is_empty()
        && let Err(e) = store.record_summaries(&summaries)
    {
        // A batch refused for one bad value, or one execution no longer stored, is written
        // span by span, so only those are lost; a store that refuses them all fails the round.
        if !matches!(e, StoreError::Invalid { .. } | StoreError::Database(_)) {
            return Err(e);
        }
        let mut lost = 0usize;
        let mut first = None;
        for one in &summaries {
            if let Err(e) = store.record_summaries(std::slice::from_ref(one)) {
                lost += 1;
                first.get_or_insert((one.execution_id.clone(), e));
            }
        }
        if let Some((execution, error)) = first {
            tracing::warn!(execution.id = %execution, error = %error, lost, "span summaries not recorded");
        }
    }
    crate::search::write(store, adopted_texts)?;
    Ok(Applied {
        registered,
        missing,
        adopted,
    })
}

/// What runs registered in a round adopted: the summaries and search texts of their trace's
/// spans stored before them, and which runs adopted any.
#[derive(Default)]
struct Adoption {
    summaries: Vec<SpanSummary>,
    texts: Vec<(ExecutionId, Vec<orcheo_trace_store::SpanText>)>,
    executions: Vec<ExecutionId>,
}

/// A run registered now may have children stored before it (its root came last): they join
/// it, and count for it, now. Once each run's life in this writer (`known` keeps the lookup
/// from repeating); a repeat finds nothing left to adopt.
fn adopt(
    store: &mut Transaction<'_>,
    registered: &[ExecutionId],
    redactor: Option<&orcheo_span_tree::redact::Redactor>,
) -> Result<Adoption, StoreError> {
    let mut adoption = Adoption::default();
    for id in registered {
        let Some(execution) = store.execution(id)? else {
            continue;
        };
        let Some(trace) = execution.trace_id else {
            continue;
        };
        let mut these = Vec::new();
        let mut texts = crate::search::Texts::new();
        let mut each = |bytes: &[u8]| {
            these.extend(placed_from_payloads(bytes, id));
            crate::search::texts_of_payload(bytes, redactor, &mut texts);
        };
        match store.adopt_local_spans(trace, id, &execution.tenant, &mut each) {
            // Undone with its savepoint: the spans stay as they were, and only this run's
            // counts miss them.
            Err(e) => {
                tracing::warn!(execution.id = %id, error = %e, "earlier spans of the run's trace not joined to it");
            }
            Ok(_) if !these.is_empty() => {
                adoption.summaries.append(&mut these);
                adoption
                    .texts
                    .push((id.clone(), texts.into_values().flatten().collect()));
                adoption.executions.push(id.clone());
            }
            Ok(_) => {}
        }
    }
    Ok(adoption)
}

/// What [`apply`] found.
#[derive(Debug, Default)]
pub struct Applied {
    /// Executions registered, or found registered.
    pub registered: Vec<ExecutionId>,
    /// Executions the writer took for registered that are not stored (any more).
    pub missing: Vec<ExecutionId>,
    /// Executions that earlier spans of their trace joined.
    pub adopted: Vec<ExecutionId>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use crate::otlp::{ResourceSpans, ScopeSpans};

    use super::*;

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.to_owned())),
            }),
            ..KeyValue::default()
        }
    }

    /// A node as Orcheo's Python tracing writes it: no execution id, no span status.
    fn python_node(n: u8, attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![7; 16],
            span_id: vec![n; 8],
            parent_span_id: vec![1; 8],
            name: format!("node {n}"),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            attributes,
            ..Span::default()
        }
    }

    fn data(spans: Vec<Span>) -> TracesData {
        TracesData {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    #[test]
    fn a_span_naming_no_execution_waits_unplaced_until_its_trace_run_is_known() {
        let mut running = python_node(3, vec![]);
        running.end_time_unix_nano = 0;
        let spans = vec![
            python_node(
                2,
                vec![
                    text(semconv::NODE_ID, "draft"),
                    text(semconv::NODE_STATUS, "error"),
                ],
            ),
            running,
        ];
        let mut facts = facts(&data(spans), &Writer::Local);
        assert!(facts.registrations.is_empty() && facts.summaries.is_empty());
        // Only ended spans wait.
        assert_eq!(facts.unplaced.len(), 1);
        let trace = TraceId::from_slice(&[7; 16]).unwrap();
        let node = SpanId::from_slice(&[2; 8]).unwrap();
        facts.place(&HashMap::new());
        assert_eq!(facts.unplaced.len(), 1);
        let run = ExecutionId::new("exec_py").unwrap();
        facts.place(&HashMap::from([((trace, node), run.clone())]));
        assert!(facts.unplaced.is_empty());
        let summary = &facts.summaries[0];
        assert_eq!(summary.execution_id, run);
        // A node without a kind is a `node`; its unset status is its `orcheo.node.status`.
        assert_eq!(summary.kind, "node");
        assert_eq!(summary.status_code, StatusCode::Error);
    }

    fn any(value: any_value::Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    fn int(key: &str, n: i64) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(any(any_value::Value::IntValue(n))),
            ..KeyValue::default()
        }
    }

    fn double(key: &str, d: f64) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(any(any_value::Value::DoubleValue(d))),
            ..KeyValue::default()
        }
    }

    fn event(name: &str, attributes: Vec<KeyValue>) -> Event {
        Event {
            name: name.to_owned(),
            time_unix_nano: 1_500,
            attributes,
            ..Event::default()
        }
    }

    /// Spans whose kind, tokens, status or error the writer and the span tree once read
    /// differently.
    fn disputed_spans() -> Vec<Span> {
        let run = || text(semconv::EXECUTION_ID, "exec_cross");
        let with = |n: u8, attributes: Vec<KeyValue>| {
            let mut span = python_node(n, attributes);
            span.attributes.push(run());
            span
        };
        let mut root = with(1, vec![]);
        root.parent_span_id = Vec::new();
        root.name = semconv::WORKFLOW_SPAN_NAME.to_owned();
        let mut nested_workflow = with(2, vec![text(semconv::NODE_ID, "sub")]);
        nested_workflow.name = semconv::WORKFLOW_SPAN_NAME.to_owned();
        let mut failed = with(13, vec![text(semconv::NODE_ID, "send")]);
        failed.status = Some(crate::otlp::Status {
            message: "relay refused".to_owned(),
            code: crate::otlp::status::StatusCode::Error as i32,
        });
        failed.events.push(event(
            semconv::EVENT_EXCEPTION,
            vec![
                text(semconv::EXCEPTION_TYPE, "DeliveryError"),
                text(semconv::EXCEPTION_MESSAGE, "SMTP relay refused the message"),
            ],
        ));
        let mut chunked = with(14, vec![text(semconv::NODE_ID, "stream")]);
        chunked.events.push(event(
            semconv::EVENT_TOKEN_CHUNK,
            vec![
                int(semconv::TOKEN_CHUNK_ATTR_INPUT, 40),
                int(semconv::TOKEN_CHUNK_ATTR_OUTPUT, 2),
            ],
        ));
        vec![
            root,
            nested_workflow,
            with(3, vec![text(semconv::NODE_ID, "")]),
            with(
                4,
                vec![
                    text(semconv::NODE_ID, "embed"),
                    text(semconv::AI_KIND, "embedding"),
                ],
            ),
            with(5, vec![text(semconv::GEN_AI_OPERATION_NAME, "chat")]),
            with(
                6,
                vec![
                    int(semconv::TOKEN_INPUT, -5),
                    int(semconv::GEN_AI_USAGE_INPUT_TOKENS, 7),
                    int(semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 3),
                    text(semconv::GEN_AI_REQUEST_MODEL, "gpt-4o"),
                    text(semconv::GEN_AI_RESPONSE_MODEL, "gpt-4o-2024-08-06"),
                    text(semconv::GEN_AI_SYSTEM, "openai"),
                ],
            ),
            with(
                15,
                vec![
                    int(semconv::LLM_TOKEN_COUNT_PROMPT, 9),
                    int(semconv::LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ, 4),
                    text(semconv::LLM_MODEL_NAME, "claude-3-5-haiku"),
                ],
            ),
            with(7, vec![double(semconv::TOKEN_OUTPUT, 2.5)]),
            with(8, vec![text(semconv::TOKEN_INPUT, "99999999999999999999")]),
            with(9, vec![double(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, 1e17)]),
            with(10, vec![text(semconv::TOKEN_INPUT, " 12 ")]),
            with(
                11,
                vec![
                    text(semconv::NODE_ID, "draft"),
                    text(semconv::NODE_STATUS, "failed"),
                ],
            ),
            with(12, vec![int(semconv::NODE_ID, 12)]),
            failed,
            chunked,
        ]
    }

    #[test]
    fn the_writer_summarizes_spans_as_the_span_tree_shows_them() {
        use prost::Message as _;
        let spans = data(disputed_spans());
        let tree = orcheo_span_tree::decode_and_normalize(
            &spans.encode_to_vec(),
            orcheo_span_tree::Format::OtlpProto,
        );
        let facts = facts(&spans, &Writer::Local);
        assert_eq!(facts.summaries.len(), tree.nodes.len());
        let mut disagreements = Vec::new();
        for summary in &facts.summaries {
            let node = tree.find(summary.span_id).unwrap();
            let tokens = node
                .self_token_usage
                .map(|t| (Some(t.input), Some(t.output), t.cached_input));
            let model = node.model.as_deref();
            let shown = (
                node.kind.as_str(),
                tokens.unwrap_or((None, None, None)),
                node.status.code,
                node.error.as_ref().and_then(|e| e.message.as_deref()),
                (
                    model.and_then(|m| m.name.as_deref()),
                    model.and_then(|m| m.provider.as_deref()),
                ),
            );
            let summarized = (
                summary.kind.as_str(),
                (
                    summary.input_tokens,
                    summary.output_tokens,
                    summary.cached_input_tokens,
                ),
                summary.status_code,
                summary.status_message.as_deref(),
                (summary.model.as_deref(), summary.provider.as_deref()),
            );
            if shown != summarized {
                disagreements.push(format!(
                    "{}: tree {shown:?}, summary {summarized:?}",
                    summary.name
                ));
            }
        }
        assert!(disagreements.is_empty(), "{disagreements:#?}");
        let cached: Vec<_> = facts
            .summaries
            .iter()
            .filter_map(|s| Some((s.model.as_deref()?, s.cached_input_tokens?)))
            .collect();
        assert_eq!(
            cached,
            [("gpt-4o-2024-08-06", 3), ("claude-3-5-haiku", 4)],
            "the case above reads cached tokens and models"
        );
    }

    #[test]
    fn stored_payloads_give_their_spans_summaries_for_the_run() {
        use prost::Message as _;
        let mut bytes = data(vec![python_node(
            2,
            vec![
                text(semconv::NODE_KIND, "LLM"),
                text(semconv::TOKEN_INPUT, "12"),
            ],
        )])
        .encode_to_vec();
        bytes.extend(data(vec![python_node(3, vec![])]).encode_to_vec());
        let run = ExecutionId::new("exec_py").unwrap();
        let summaries = placed_from_payloads(&bytes, &run);
        assert_eq!(summaries.len(), 2);
        assert!(summaries.iter().all(|s| s.execution_id == run));
        assert_eq!(summaries[0].kind, "llm");
        assert_eq!(summaries[0].input_tokens, Some(12));
        assert_eq!(summaries[1].kind, "span");
        assert!(placed_from_payloads(&[0xff; 9], &run).is_empty());
    }
}
