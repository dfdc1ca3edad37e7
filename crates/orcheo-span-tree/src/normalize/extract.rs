//! One [`RawSpan`] → one [`SpanNode`]: what people look for, pulled out of attributes and events
//! in every vocabulary we know (Orcheo, GenAI semantic conventions, OpenInference).

use std::fmt::Write as _;
use std::sync::Arc;

use orcheo_trace_model::content::{ELLIPSIS, REDACTED, WITHHELD};
use orcheo_trace_model::raw::find;
use orcheo_trace_model::semconv as k;
use orcheo_trace_model::{
    AnomalyFlags, Artifact, AttributeValue, ContentItem, KeyValue, ModelInfo, NodeContent, RawSpan,
    RawStatus, SmolStr, SpanEvent, SpanLink, SpanNode, Timestamp,
};
use serde_json::Value;

use crate::classify::{self, Known};

/// Builds the node for a span (tree links are filled in later).
pub(crate) fn node(span: RawSpan, models: &mut Models) -> SpanNode {
    let known = Known::index(&span.attributes);
    // Kind, tokens, status and error as every other view of the span reads them.
    let (facts, errors) = classify::read(&span, &known);
    let model = models.of(&known);
    let mut content = Content::default();
    if known.has_content {
        content.add_attributes(&span.attributes);
    }
    if !span.events.is_empty() {
        content.add_events(&span.events);
    }
    let artifacts = artifacts(&known, &span.events);
    content.0.errors = errors;
    let start_time = match reported_start(&span, &known) {
        Some(start) => {
            content.0.measured_start = Some(span.start_time);
            start
        }
        None => span.start_time,
    };
    SpanNode {
        span_id: span.span_id,
        parent_span_id: span.parent_span_id,
        trace_id: span.trace_id,
        kind: facts.kind,
        span_kind: span.kind,
        start_time,
        end_time: span.end_time,
        token_usage: facts.tokens,
        self_token_usage: facts.tokens,
        model,
        content: content.into_node_content(artifacts, span.events, span.links),
        error: facts.error,
        status: RawStatus {
            code: facts.status,
            message: span.status.message,
        },
        name: span.name,
        attributes: span.attributes,
        resource: span.resource,
        scope: span.scope,
        flags: AnomalyFlags::default(),
        synthetic: false,
        parent: None,
        children: Vec::new(),
        depth: 0,
    }
}

/// The start a span's reported latency places it at, when that latency is longer than the span
/// itself: its end minus the latency. `None` for a running span, a latency no longer than the
/// span, and a value that is no duration (negative, not a number, or reaching before 1970).
/// The parent's start bounds it later ([`super::clamp_reported_start`]).
fn reported_start(span: &RawSpan, known: &Known<'_>) -> Option<Timestamp> {
    let end = span.end_time?;
    let millis = match known.latency? {
        AttributeValue::Int(i) => *i as f64,
        AttributeValue::Double(d) => *d,
        AttributeValue::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !millis.is_finite() || millis <= 0.0 {
        return None;
    }
    let nanos = millis * 1_000_000.0;
    if nanos >= end.unix_nanos() as f64 {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "finite, positive and below the end's nanoseconds, a u64"
    )]
    let nanos = nanos.round() as u64;
    let measured = end
        .unix_nanos()
        .saturating_sub(span.start_time.unix_nanos());
    (nanos > measured).then(|| Timestamp::from_unix_nanos(end.unix_nanos() - nanos))
}

fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    find(attributes, key)
        .and_then(AttributeValue::as_str)
        .filter(|s| !s.is_empty())
}

/// The model the last span named: spans of one trace mostly name a few models, and neighbours
/// often the same one, so a span naming it again shares it instead of holding a copy.
#[derive(Default)]
pub(crate) struct Models {
    last: Option<Arc<ModelInfo>>,
}

impl Models {
    fn of(&mut self, known: &Known<'_>) -> Option<Arc<ModelInfo>> {
        if known.request_model.is_none()
            && known.response_model.is_none()
            && known.provider.is_none()
            && known.ai_kind.is_none()
            && known.embedding_operation.is_none()
            && known.vector_size.is_none()
        {
            return None;
        }
        let request = known.request_model.map(|(_, s)| s.clone());
        let response = known.response_model.map(|(_, s)| s.clone());
        let provider = known.provider.map(|(_, s)| s.clone());
        let model = ModelInfo {
            name: response.clone().or_else(|| request.clone()),
            request,
            response,
            provider,
            kind: known.ai_kind.cloned(),
            operation: known.embedding_operation.cloned(),
            vector_size: known.vector_size,
        };
        if let Some(last) = &self.last
            && **last == model
        {
            return Some(Arc::clone(last));
        }
        let model = Arc::new(model);
        self.last = Some(Arc::clone(&model));
        Some(model)
    }
}

/// The node's content as it is read off the span (artifacts come apart, [`artifacts`]).
#[derive(Default)]
struct Content(NodeContent);

impl Content {
    /// The node's content, with its artifacts, events and links; `None` when there is none at
    /// all.
    fn into_node_content(
        self,
        artifacts: Vec<Artifact>,
        events: Vec<SpanEvent>,
        links: Vec<SpanLink>,
    ) -> Option<Box<NodeContent>> {
        let content = NodeContent {
            artifacts,
            events,
            links,
            ..self.0
        };
        (!content.is_empty()).then(|| Box::new(content))
    }

    /// Content attributes. Chat message lists (GenAI `gen_ai.input.messages` /
    /// `gen_ai.output.messages` and system instructions, OpenInference `llm.input_messages.*` /
    /// `llm.output_messages.*`) become chat messages with their roles, in conversation order:
    /// instructions, input, output. Single texts (`gen_ai.prompt`, `input.value`…) stay prompts
    /// and responses.
    fn add_attributes(&mut self, attributes: &[KeyValue]) {
        let mut system = Vec::new();
        let mut input = Vec::new();
        let mut output = Vec::new();
        let mut oi_input = OpenInferenceMessages::default();
        let mut oi_output = OpenInferenceMessages::default();
        for kv in attributes {
            if let Some(rest) = kv.key.strip_prefix(k::LLM_INPUT_MESSAGES_PREFIX) {
                oi_input.add(rest, &kv.value);
                continue;
            }
            if let Some(rest) = kv.key.strip_prefix(k::LLM_OUTPUT_MESSAGES_PREFIX) {
                oi_output.add(rest, &kv.value);
                continue;
            }
            let Some(text) = kv.value.as_str() else {
                continue;
            };
            match kv.key.as_str() {
                k::GEN_AI_SYSTEM_INSTRUCTIONS => {
                    system.extend(genai_messages(text, Some("system")));
                }
                k::GEN_AI_INPUT_MESSAGES => input.extend(genai_messages(text, Some("user"))),
                k::GEN_AI_OUTPUT_MESSAGES => {
                    output.extend(genai_messages(text, Some("assistant")));
                }
                k::GEN_AI_PROMPT => self.0.prompts.extend(genai_messages(text, None)),
                k::GEN_AI_COMPLETION => self.0.responses.extend(genai_messages(text, None)),
                // Shared with the attribute; an empty value is kept as empty text.
                k::INPUT_VALUE => push(
                    &mut self.0.prompts,
                    item(None, kv.value.as_text().cloned(), &[]),
                ),
                k::OUTPUT_VALUE => push(
                    &mut self.0.responses,
                    item(None, kv.value.as_text().cloned(), &[]),
                ),
                _ => {}
            }
        }
        let messages = &mut self.0.messages;
        messages.extend(system);
        messages.extend(input);
        messages.extend(oi_input.into_items());
        messages.extend(output);
        messages.extend(oi_output.into_items());
    }

    fn add_events(&mut self, events: &[SpanEvent]) {
        for event in events {
            let a = &event.attributes;
            match event.name.as_str() {
                k::EVENT_PROMPT => push(&mut self.0.prompts, orcheo_item(a)),
                k::EVENT_RESPONSE => push(&mut self.0.responses, orcheo_item(a)),
                k::EVENT_MESSAGE => push(&mut self.0.messages, orcheo_item(a)),
                k::EVENT_GEN_AI_SYSTEM_MESSAGE
                | k::EVENT_GEN_AI_USER_MESSAGE
                | k::EVENT_GEN_AI_ASSISTANT_MESSAGE
                | k::EVENT_GEN_AI_TOOL_MESSAGE => {
                    let role = event
                        .name
                        .trim_start_matches("gen_ai.")
                        .trim_end_matches(".message");
                    let role = str_attr(a, k::CONTENT_ATTR_ROLE).unwrap_or(role);
                    let text = shared_attr(a, k::GEN_AI_EVENT_ATTR_CONTENT);
                    push(
                        &mut self.0.messages,
                        item(Some(SmolStr::new(role)), text, a),
                    );
                }
                k::EVENT_GEN_AI_CHOICE => {
                    let text = shared_attr(a, k::GEN_AI_EVENT_ATTR_MESSAGE)
                        .or_else(|| shared_attr(a, k::GEN_AI_EVENT_ATTR_CONTENT));
                    match text {
                        Some(t) if t.starts_with('{') || t.starts_with('[') => {
                            self.0
                                .responses
                                .extend(genai_messages(&t, Some("assistant")));
                        }
                        other => push(
                            &mut self.0.responses,
                            item(Some(SmolStr::new_static("assistant")), other, a),
                        ),
                    }
                }
                _ => {}
            }
        }
    }
}

/// OpenInference's flattened chat messages, `{i}.message.role` and `{i}.message.content` (or
/// text parts `{i}.message.contents.{j}.message_content.text`), and the tool calls
/// `{i}.message.tool_calls.{j}.tool_call.{id, function.name, function.arguments}`, gathered by
/// index.
#[derive(Default)]
struct OpenInferenceMessages {
    messages: Vec<OpenInferenceMessage>,
}

/// One message of the list, as its attributes are found.
struct OpenInferenceMessage {
    index: u32,
    role: Option<SmolStr>,
    /// (part index, text): `content` is part 0, `contents.{j}` part `j + 1`.
    parts: Vec<(u32, SmolStr)>,
    /// (call index, field, value): `id`, `name` or `arguments`.
    calls: Vec<(u32, ToolCallField, SmolStr)>,
}

/// A field of an OpenInference tool call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ToolCallField {
    Id,
    Name,
    Arguments,
}

/// Where a message attribute goes.
enum OpenInferenceField {
    Role,
    /// A text part, by its index.
    Part(u32),
    /// A tool call's field, by the call's index.
    Call(u32, ToolCallField),
}

/// A tool call's field from `{j}.tool_call.…`, the key after `tool_calls.`.
fn tool_call_field(rest: &str) -> Option<OpenInferenceField> {
    let (j, field) = rest.split_once('.')?;
    let j = j.parse::<u32>().ok()?;
    let field = match field.strip_prefix("tool_call.")? {
        "id" => ToolCallField::Id,
        "function.name" => ToolCallField::Name,
        "function.arguments" => ToolCallField::Arguments,
        _ => return None,
    };
    Some(OpenInferenceField::Call(j, field))
}

impl OpenInferenceMessages {
    /// One attribute, its key without the list's prefix.
    fn add(&mut self, rest: &str, value: &AttributeValue) {
        let Some((index, field)) = rest.split_once('.') else {
            return;
        };
        let Ok(index) = index.parse::<u32>() else {
            return;
        };
        let Some(field) = field.strip_prefix("message.") else {
            return;
        };
        let part = match field {
            "role" => OpenInferenceField::Role,
            "content" => OpenInferenceField::Part(0),
            other => match other
                .strip_prefix("contents.")
                .and_then(|p| p.strip_suffix(".message_content.text"))
                .and_then(|j| j.parse::<u32>().ok())
            {
                Some(j) => OpenInferenceField::Part(j.saturating_add(1)),
                None => match other.strip_prefix("tool_calls.").and_then(tool_call_field) {
                    Some(call) => call,
                    None => return,
                },
            },
        };
        let Some(text) = value.as_text() else {
            return;
        };
        let at = if let Some(at) = self.messages.iter().position(|m| m.index == index) {
            at
        } else {
            self.messages.push(OpenInferenceMessage {
                index,
                role: None,
                parts: Vec::new(),
                calls: Vec::new(),
            });
            self.messages.len() - 1
        };
        let message = &mut self.messages[at];
        match part {
            OpenInferenceField::Role => message.role = Some(text.clone()),
            OpenInferenceField::Part(j) => message.parts.push((j, text.clone())),
            OpenInferenceField::Call(j, field) => message.calls.push((j, field, text.clone())),
        }
    }

    /// The messages in index order, each with its role and its text parts joined by new lines,
    /// then its tool calls, one line of JSON each in the GenAI part shape (`{"arguments", "id",
    /// "name", "type": "tool_call"}`), as GenAI message lists keep them.
    fn into_items(mut self) -> impl Iterator<Item = ContentItem> {
        self.messages.sort_by_key(|m| m.index);
        self.messages.into_iter().map(|message| {
            let OpenInferenceMessage {
                role,
                mut parts,
                calls,
                ..
            } = message;
            parts.sort_by_key(|p| p.0);
            let mut lines: Vec<SmolStr> = parts.into_iter().map(|(_, t)| t).collect();
            lines.extend(tool_call_lines(calls));
            let text = match lines.len() {
                0 => None,
                1 => lines.pop(),
                _ => Some(SmolStr::from(
                    lines
                        .iter()
                        .map(SmolStr::as_str)
                        .collect::<Vec<_>>()
                        .join("\n"),
                )),
            };
            item(role, text, &[])
        })
    }
}

/// A message's OpenInference tool calls in call order, each as a GenAI `tool_call` part.
fn tool_call_lines(mut calls: Vec<(u32, ToolCallField, SmolStr)>) -> Vec<SmolStr> {
    calls.sort_by_key(|c| c.0);
    let mut out = Vec::new();
    let mut at = 0;
    while at < calls.len() {
        let index = calls[at].0;
        let field = |wanted: ToolCallField| {
            calls[at..]
                .iter()
                .take_while(|c| c.0 == index)
                .find(|c| c.1 == wanted)
                .map_or(Value::Null, |c| Value::String(c.2.to_string()))
        };
        let part = serde_json::json!({
            "type": "tool_call",
            "id": field(ToolCallField::Id),
            "name": field(ToolCallField::Name),
            "arguments": field(ToolCallField::Arguments),
        });
        out.push(SmolStr::from(part.to_string()));
        while at < calls.len() && calls[at].0 == index {
            at += 1;
        }
    }
    out
}

/// Adds an item to a node's list, the first one in a list of its own size: a node has one prompt
/// and one response as a rule, and `Vec` would make room for four (288 bytes instead of 72, out
/// of reach of glibc's small-block fast path).
fn push(list: &mut Vec<ContentItem>, item: ContentItem) {
    if list.capacity() == 0 {
        list.reserve_exact(1);
    }
    list.push(item);
}

/// An Orcheo `prompt` / `response` / `message` event: text in `preview` (or `content`, or the
/// first text attribute, as the Python instrumentation writes mapping payloads).
fn orcheo_item(a: &[KeyValue]) -> ContentItem {
    let text = shared_attr(a, k::CONTENT_ATTR_PREVIEW)
        .or_else(|| shared_attr(a, k::GEN_AI_EVENT_ATTR_CONTENT))
        .or_else(|| {
            a.iter()
                .filter(|kv| kv.key != k::CONTENT_ATTR_ROLE)
                .find_map(|kv| kv.value.as_text().cloned())
        });
    item(shared_attr(a, k::CONTENT_ATTR_ROLE), text, a)
}

/// A non-empty text attribute, shared with the attribute (long text is not copied).
fn shared_attr(attributes: &[KeyValue], key: &str) -> Option<SmolStr> {
    find(attributes, key).and_then(shared_text)
}

fn shared_text(value: &AttributeValue) -> Option<SmolStr> {
    value.as_text().filter(|s| !s.is_empty()).cloned()
}

fn item(role: Option<SmolStr>, content: Option<SmolStr>, a: &[KeyValue]) -> ContentItem {
    let flag = |key| find(a, key).and_then(AttributeValue::as_bool);
    let withheld = content.as_deref().is_none_or(|c| c == WITHHELD);
    let content = content.filter(|c| c != WITHHELD);
    let length = find(a, k::CONTENT_ATTR_LENGTH)
        .and_then(AttributeValue::as_i64)
        .and_then(|n| u64::try_from(n).ok())
        .or_else(|| content.as_ref().map(|c| c.chars().count() as u64));
    ContentItem {
        truncated: flag(k::CONTENT_ATTR_TRUNCATED)
            .unwrap_or_else(|| content.as_deref().is_some_and(|c| c.ends_with(ELLIPSIS))),
        redacted: flag(k::CONTENT_ATTR_REDACTED)
            .unwrap_or_else(|| content.as_deref().is_some_and(|c| c.contains(REDACTED))),
        withheld,
        length,
        role,
        content,
    }
}

/// GenAI message lists (`[{"role", "parts": [{"type": "text", "content"}]}]`), older
/// `[{"role", "content"}]` lists, bare part lists (system instructions), or plain text.
fn genai_messages(text: &str, default_role: Option<&str>) -> Vec<ContentItem> {
    let role_of = |v: &Value| {
        v.get("role")
            .and_then(Value::as_str)
            .or(default_role)
            .map(SmolStr::new)
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(entries)) => {
            let all_parts = entries
                .iter()
                .all(|e| e.get("type").is_some() && e.get("role").is_none());
            if all_parts {
                return vec![item(
                    default_role.map(SmolStr::new),
                    Some(parts_text(&entries).into()),
                    &[],
                )];
            }
            entries
                .iter()
                .map(|entry| item(role_of(entry), Some(message_text(entry).into()), &[]))
                .collect()
        }
        Ok(entry @ Value::Object(_)) => {
            vec![item(
                role_of(&entry),
                Some(message_text(&entry).into()),
                &[],
            )]
        }
        _ => vec![item(
            default_role.map(SmolStr::new),
            Some(SmolStr::new(text)),
            &[],
        )],
    }
}

fn message_text(message: &Value) -> String {
    if let Some(parts) = message.get("parts").and_then(Value::as_array) {
        return parts_text(parts);
    }
    // The older shape's tool calls (`"tool_calls": [{"id", "function": {"name",
    // "arguments"}}]`) become GenAI `tool_call` parts, after the text.
    let calls: Vec<String> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| calls.iter().map(older_tool_call).collect())
        .unwrap_or_default();
    let text = match message.get("content") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => Some(parts_text(parts)),
        Some(Value::Null) | None if !calls.is_empty() => None,
        Some(other) => Some(other.to_string()),
        None => return message.to_string(),
    };
    text.filter(|t| !t.is_empty() || calls.is_empty())
        .into_iter()
        .chain(calls)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One call of the older `tool_calls` list as a GenAI `tool_call` part.
fn older_tool_call(call: &Value) -> String {
    let function = call.get("function").unwrap_or(call);
    serde_json::json!({
        "type": "tool_call",
        "id": call.get("id").cloned().unwrap_or(Value::Null),
        "name": function.get("name").cloned().unwrap_or(Value::Null),
        "arguments": function.get("arguments").cloned().unwrap_or(Value::Null),
    })
    .to_string()
}

/// Text parts joined by new lines; other parts (tool calls, media) as their JSON.
fn parts_text(parts: &[Value]) -> String {
    let texts: Vec<String> = parts
        .iter()
        .map(|part| {
            match (
                part.get("type").and_then(Value::as_str),
                part.get("content"),
            ) {
                (Some("text") | None, Some(Value::String(s))) => s.clone(),
                _ => part.to_string(),
            }
        })
        .collect();
    texts.join("\n")
}

fn artifacts(known: &Known<'_>, events: &[SpanEvent]) -> Vec<Artifact> {
    let mut out: Vec<Artifact> = Vec::new();
    for event in events.iter().filter(|e| e.name == k::EVENT_ARTIFACT) {
        let a = &event.attributes;
        let Some(id) = str_attr(a, k::ARTIFACT_ID) else {
            continue;
        };
        if out.iter().any(|x| x.id == id) {
            continue;
        }
        out.push(Artifact {
            id: id.to_owned(),
            name: str_attr(a, k::ARTIFACT_NAME).map(str::to_owned),
            url: artifact_url(id),
            source_url: str_attr(a, k::ARTIFACT_URL).map(str::to_owned),
            content_type: str_attr(a, k::ARTIFACT_CONTENT_TYPE).map(str::to_owned),
            size_bytes: find(a, k::ARTIFACT_SIZE)
                .and_then(AttributeValue::as_i64)
                .and_then(|n| u64::try_from(n).ok()),
            download_url: None,
            available: false,
        });
    }
    let ids: Vec<&str> = match known.artifact_ids {
        Some(AttributeValue::Array(items)) => {
            items.iter().filter_map(AttributeValue::as_str).collect()
        }
        Some(AttributeValue::String(s)) => s.split(',').map(str::trim).collect(),
        _ => Vec::new(),
    };
    for id in ids {
        if !id.is_empty() && !out.iter().any(|x| x.id == id) {
            out.push(Artifact {
                id: id.to_owned(),
                name: None,
                url: artifact_url(id),
                source_url: None,
                content_type: None,
                size_bytes: None,
                download_url: None,
                available: false,
            });
        }
    }
    out
}

/// The API route that serves an artifact, with the id percent-encoded.
pub(crate) fn artifact_url(id: &str) -> String {
    let mut url = String::from("/api/artifacts/");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            url.push(char::from(b));
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genai_messages_read_parts_roles_and_plain_text() {
        let items = genai_messages(
            r#"[{"role":"user","parts":[{"type":"text","content":"hi"},{"type":"tool_call","name":"f"}]}]"#,
            None,
        );
        assert_eq!(items[0].role.as_deref(), Some("user"));
        assert_eq!(
            items[0].content.as_deref(),
            Some("hi\n{\"name\":\"f\",\"type\":\"tool_call\"}")
        );
        let system = genai_messages(r#"[{"type":"text","content":"be brief"}]"#, Some("system"));
        assert_eq!(system[0].content.as_deref(), Some("be brief"));
        assert_eq!(system[0].role.as_deref(), Some("system"));
        let plain = genai_messages("not json", None);
        assert_eq!(plain[0].content.as_deref(), Some("not json"));
    }

    #[test]
    fn tool_calls_are_kept_as_genai_parts_in_every_shape() {
        let call = r#"{"arguments":"{\"city\":\"Paris\"}","id":"call_1","name":"get_weather","type":"tool_call"}"#;
        // OpenInference's flattened calls, after the message's text.
        let mut content = Content::default();
        content.add_attributes(&[
            KeyValue::new("llm.output_messages.0.message.role", "assistant"),
            KeyValue::new(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
                r#"{"city":"Paris"}"#,
            ),
            KeyValue::new(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
                "get_weather",
            ),
            KeyValue::new(
                "llm.output_messages.0.message.tool_calls.0.tool_call.id",
                "call_1",
            ),
            KeyValue::new(
                "llm.output_messages.0.message.tool_calls.1.tool_call.function.name",
                "get_time",
            ),
            KeyValue::new("llm.output_messages.0.message.content", "Checking."),
        ]);
        let message = &content.0.messages[0];
        assert!(!message.withheld);
        assert_eq!(
            message.content.as_deref(),
            Some(
                format!(
                    "Checking.\n{call}\n{}",
                    r#"{"arguments":null,"id":null,"name":"get_time","type":"tool_call"}"#
                )
                .as_str()
            )
        );
        // The older `tool_calls` list, with no text.
        let older = genai_messages(
            r#"[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}]"#,
            None,
        );
        assert_eq!(older[0].content.as_deref(), Some(call));
    }

    #[test]
    fn an_empty_openinference_value_is_empty_text_not_withheld() {
        let mut content = Content::default();
        content.add_attributes(&[
            KeyValue::new(k::INPUT_VALUE, ""),
            KeyValue::new(k::OUTPUT_VALUE, "done"),
        ]);
        let prompt = &content.0.prompts[0];
        assert_eq!(
            (prompt.content.as_deref(), prompt.withheld),
            (Some(""), false)
        );
        assert_eq!(content.0.responses[0].content.as_deref(), Some("done"));
    }

    #[test]
    fn a_lone_prompt_or_response_takes_a_list_of_its_own_size() {
        let event = |name: &str, text: &str| SpanEvent {
            name: name.into(),
            time: None,
            attributes: vec![KeyValue::new(k::CONTENT_ATTR_PREVIEW, text)],
        };
        let mut content = Content::default();
        content.add_events(&[
            event(k::EVENT_PROMPT, "summarize"),
            event(k::EVENT_RESPONSE, "done"),
            event(k::EVENT_MESSAGE, "one"),
            event(k::EVENT_MESSAGE, "two"),
            event(k::EVENT_MESSAGE, "three"),
        ]);
        let c = &content.0;
        assert_eq!((c.prompts.len(), c.prompts.capacity()), (1, 1));
        assert_eq!((c.responses.len(), c.responses.capacity()), (1, 1));
        let messages: Vec<_> = c.messages.iter().map(|m| m.content.as_deref()).collect();
        assert_eq!(messages, [Some("one"), Some("two"), Some("three")]);
    }

    fn llm_span(id: u8, model: &str, provider: &str) -> RawSpan {
        let trace = orcheo_trace_model::TraceId::from_bytes([1; 16]).unwrap();
        let span_id = orcheo_trace_model::SpanId::from_bytes([id; 8]).unwrap();
        let mut span = RawSpan::new(trace, span_id, "call");
        span.attributes = vec![
            KeyValue::new(k::GEN_AI_REQUEST_MODEL, model),
            KeyValue::new(k::GEN_AI_PROVIDER_NAME, provider),
        ];
        span
    }

    #[test]
    fn spans_naming_the_model_of_the_span_before_share_it() {
        let mut models = Models::default();
        let first = node(llm_span(1, "gpt-4o-mini", "openai"), &mut models);
        let again = node(llm_span(2, "gpt-4o-mini", "openai"), &mut models);
        let other_provider = node(llm_span(3, "gpt-4o-mini", "azure"), &mut models);
        let other_model = node(llm_span(4, "gpt-4o", "azure"), &mut models);
        let (a, b) = (first.model.unwrap(), again.model.unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        let c = other_provider.model.unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(
            (c.request.as_deref(), c.provider.as_deref()),
            (Some("gpt-4o-mini"), Some("azure"))
        );
        let d = other_model.model.unwrap();
        assert_eq!(
            (d.request.as_deref(), d.provider.as_deref()),
            (Some("gpt-4o"), Some("azure"))
        );
        let none = node(
            RawSpan::new(
                orcheo_trace_model::TraceId::from_bytes([1; 16]).unwrap(),
                orcheo_trace_model::SpanId::from_bytes([5; 8]).unwrap(),
                "step",
            ),
            &mut models,
        );
        assert!(none.model.is_none());
    }

    #[test]
    fn artifact_urls_are_escaped() {
        assert_eq!(artifact_url("a b/c"), "/api/artifacts/a%20b%2Fc");
    }
}
