//! Every attribute and event key Orcheo Trace writes or reads.
//!
//! Orcheo's own keys match the existing Python instrumentation, so spans from either read the
//! same; GenAI and OpenInference keys let traces from generic LLM tooling be understood too.

use smol_str::SmolStr;

// --- Span names ------------------------------------------------------------------------------

/// The root span of a workflow run.
pub const WORKFLOW_SPAN_NAME: &str = "workflow.execution";

// --- Resource --------------------------------------------------------------------------------

pub const SERVICE_NAME: &str = "service.name";

// --- Execution (root span; `orcheo.execution.id` is on every span) -----------------------------

pub const EXECUTION_ID: &str = "orcheo.execution.id";
pub const WORKFLOW_ID: &str = "orcheo.workflow.id";
pub const WORKFLOW_VERSION: &str = "orcheo.workflow.version";
pub const EXECUTION_TRIGGER: &str = "orcheo.execution.trigger";
pub const EXECUTION_USER: &str = "orcheo.execution.user";
pub const EXECUTION_TENANT: &str = "orcheo.execution.tenant";
pub const EXECUTION_INPUT_KEYS: &str = "orcheo.execution.input_keys";
pub const EXECUTION_INPUT_COUNT: &str = "orcheo.execution.input_count";
pub const EXECUTION_TAGS: &str = "orcheo.execution.tags";
pub const EXECUTION_TAG_COUNT: &str = "orcheo.execution.tag_count";
pub const EXECUTION_RUN_NAME: &str = "orcheo.execution.run_name";
/// Written by Orcheo's Python tracing on the root span (kept as attributes).
pub const EXECUTION_METADATA_KEYS: &str = "orcheo.execution.metadata_keys";
pub const EXECUTION_CALLBACKS_COUNT: &str = "orcheo.execution.callbacks.count";
pub const EXECUTION_RECURSION_LIMIT: &str = "orcheo.execution.recursion_limit";
pub const EXECUTION_MAX_CONCURRENCY: &str = "orcheo.execution.max_concurrency";
pub const EXECUTION_PROMPTS_COUNT: &str = "orcheo.execution.prompts.count";
pub const EXECUTION_THREAD_ID: &str = "orcheo.execution.thread_id";
/// The workflow's human name, when a span carries it.
pub const WORKFLOW_NAME: &str = "orcheo.workflow.name";

/// Root span events.
pub const EVENT_WORKFLOW_COMPLETED: &str = "workflow.completed";
pub const EVENT_WORKFLOW_FAILED: &str = "workflow.failed";
pub const EVENT_WORKFLOW_CANCELLED: &str = "workflow.cancelled";
/// Attribute of `workflow.completed`.
pub const EVENT_ATTR_STATUS: &str = "status";
/// Attribute of `workflow.cancelled`.
pub const EVENT_ATTR_REASON: &str = "reason";

// --- Nodes ------------------------------------------------------------------------------------

pub const NODE_ID: &str = "orcheo.node.id";
pub const NODE_DISPLAY_NAME: &str = "orcheo.node.display_name";
pub const NODE_KIND: &str = "orcheo.node.kind";
pub const NODE_STATUS: &str = "orcheo.node.status";
/// The node's own time, reported by the executor (Orcheo's Python tracing opens node spans
/// after the node ran, so the span itself lasts a fraction of a millisecond).
pub const NODE_LATENCY_MS: &str = "orcheo.node.latency_ms";
/// The subgraph path of a node (a string, or a list of names).
pub const NODE_NAMESPACE: &str = "orcheo.node.namespace";

// --- Tokens ----------------------------------------------------------------------------------

pub const TOKEN_INPUT: &str = "orcheo.token.input";
pub const TOKEN_OUTPUT: &str = "orcheo.token.output";
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Legacy GenAI names (before semantic conventions 1.27).
pub const GEN_AI_USAGE_PROMPT_TOKENS: &str = "gen_ai.usage.prompt_tokens";
pub const GEN_AI_USAGE_COMPLETION_TOKENS: &str = "gen_ai.usage.completion_tokens";
pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";

/// Input tokens read from the provider's prompt cache (a part of the input tokens): the GenAI
/// conventions' key (Anthropic's instrumentations), the `OpenAI` usage detail as instrumentations
/// flatten it, and OpenInference's.
pub const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read_input_tokens";
pub const GEN_AI_USAGE_INPUT_TOKENS_DETAILS_CACHED: &str =
    "gen_ai.usage.input_tokens_details.cached_tokens";
pub const LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ: &str =
    "llm.token_count.prompt_details.cache_read";

/// Cached-input-token keys, most specific first.
pub const CACHED_INPUT_TOKEN_KEYS: &[&str] = &[
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS_DETAILS_CACHED,
    LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ,
];

/// Input-token keys, most specific first.
pub const INPUT_TOKEN_KEYS: &[&str] = &[
    TOKEN_INPUT,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_PROMPT_TOKENS,
    LLM_TOKEN_COUNT_PROMPT,
];
/// Output-token keys, most specific first.
pub const OUTPUT_TOKEN_KEYS: &[&str] = &[
    TOKEN_OUTPUT,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_COMPLETION_TOKENS,
    LLM_TOKEN_COUNT_COMPLETION,
];

// --- Model -----------------------------------------------------------------------------------

pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// Legacy name of the provider.
pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
pub const LLM_MODEL_NAME: &str = "llm.model_name";
pub const LLM_PROVIDER: &str = "llm.provider";
/// Orcheo's own model metadata (`orcheo.tracing.model_metadata`): what kind of AI call a node
/// made, the model asked for (`provider:model`), the model the provider answered with, and the
/// provider.
pub const AI_KIND: &str = "orcheo.ai.kind";
pub const AI_MODEL_REQUESTED: &str = "orcheo.ai.model.requested";
pub const AI_MODEL_ACTUAL: &str = "orcheo.ai.model.actual";
pub const AI_PROVIDER: &str = "orcheo.ai.provider";
pub const AI_EMBEDDING_OPERATION: &str = "orcheo.ai.embedding.operation";
pub const AI_EMBEDDING_VECTOR_SIZE: &str = "orcheo.ai.embedding.vector_size";

// --- Content ---------------------------------------------------------------------------------

/// Orcheo content events.
pub const EVENT_PROMPT: &str = "prompt";
pub const EVENT_RESPONSE: &str = "response";
pub const EVENT_MESSAGE: &str = "message";
pub const EVENT_TOKEN_CHUNK: &str = "token.chunk";
/// Attributes of the content events.
pub const CONTENT_ATTR_PREVIEW: &str = "preview";
pub const CONTENT_ATTR_ROLE: &str = "role";
/// Set by the Rust instrumentation when it cut the text to the preview length.
pub const CONTENT_ATTR_TRUNCATED: &str = "truncated";
/// Set by the Rust instrumentation when a redaction pattern matched.
pub const CONTENT_ATTR_REDACTED: &str = "redacted";
/// Characters of the text before truncation (also sent when capture is off).
pub const CONTENT_ATTR_LENGTH: &str = "length";
/// Attributes of `token.chunk`.
pub const TOKEN_CHUNK_ATTR_INPUT: &str = "input";
pub const TOKEN_CHUNK_ATTR_OUTPUT: &str = "output";
pub const TOKEN_CHUNK_ATTR_REASON: &str = "reason";

/// GenAI content as attributes (JSON strings of `[{"role", "parts": [{"type", "content"}]}]`).
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
pub const GEN_AI_SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// Legacy GenAI content attributes.
pub const GEN_AI_PROMPT: &str = "gen_ai.prompt";
pub const GEN_AI_COMPLETION: &str = "gen_ai.completion";
/// Legacy GenAI content events; their text is in `content` (or the event body).
pub const EVENT_GEN_AI_SYSTEM_MESSAGE: &str = "gen_ai.system.message";
pub const EVENT_GEN_AI_USER_MESSAGE: &str = "gen_ai.user.message";
pub const EVENT_GEN_AI_ASSISTANT_MESSAGE: &str = "gen_ai.assistant.message";
pub const EVENT_GEN_AI_TOOL_MESSAGE: &str = "gen_ai.tool.message";
pub const EVENT_GEN_AI_CHOICE: &str = "gen_ai.choice";
pub const GEN_AI_EVENT_ATTR_CONTENT: &str = "content";
pub const GEN_AI_EVENT_ATTR_MESSAGE: &str = "message";
/// OpenInference content.
pub const INPUT_VALUE: &str = "input.value";
pub const OUTPUT_VALUE: &str = "output.value";
pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
/// OpenInference chat messages, flattened: `llm.input_messages.{i}.message.role` and
/// `llm.input_messages.{i}.message.content` (likewise `llm.output_messages`).
pub const LLM_INPUT_MESSAGES_PREFIX: &str = "llm.input_messages.";
pub const LLM_OUTPUT_MESSAGES_PREFIX: &str = "llm.output_messages.";

/// Attributes whose value is prompt or response text: withheld without the content scope.
pub const CONTENT_ATTRIBUTE_KEYS: &[&str] = &[
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_PROMPT,
    GEN_AI_COMPLETION,
    INPUT_VALUE,
    OUTPUT_VALUE,
];

/// Events whose attributes carry prompt or response text.
pub const CONTENT_EVENT_NAMES: &[&str] = &[
    EVENT_PROMPT,
    EVENT_RESPONSE,
    EVENT_MESSAGE,
    EVENT_GEN_AI_SYSTEM_MESSAGE,
    EVENT_GEN_AI_USER_MESSAGE,
    EVENT_GEN_AI_ASSISTANT_MESSAGE,
    EVENT_GEN_AI_TOOL_MESSAGE,
    EVENT_GEN_AI_CHOICE,
];

/// Whether an attribute key holds content text. OpenInference message lists count whole
/// (content, content parts, tool-call arguments), all but each message's `role`.
pub fn is_content_attribute(key: &str) -> bool {
    CONTENT_ATTRIBUTE_KEYS.contains(&key)
        || ((key.starts_with(LLM_INPUT_MESSAGES_PREFIX)
            || key.starts_with(LLM_OUTPUT_MESSAGES_PREFIX))
            && key.rsplit_once('.').is_none_or(|(_, last)| last != "role"))
}

// --- Artifacts -------------------------------------------------------------------------------

pub const EVENT_ARTIFACT: &str = "artifact";
pub const ARTIFACT_ID: &str = "artifact.id";
pub const ARTIFACT_NAME: &str = "artifact.name";
pub const ARTIFACT_URL: &str = "artifact.url";
pub const ARTIFACT_CONTENT_TYPE: &str = "artifact.content_type";
pub const ARTIFACT_SIZE: &str = "artifact.size";
/// All artifact ids of a node, as a string array.
pub const ARTIFACT_IDS: &str = "orcheo.artifact.ids";

// --- Errors ----------------------------------------------------------------------------------

pub const EVENT_EXCEPTION: &str = "exception";
pub const EXCEPTION_TYPE: &str = "exception.type";
pub const EXCEPTION_MESSAGE: &str = "exception.message";
pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";
pub const EXCEPTION_ESCAPED: &str = "exception.escaped";
pub const EVENT_ERROR_DETAIL: &str = "error.detail";
/// Attribute of `error.detail`.
pub const ERROR_DETAIL_ATTR_MESSAGE: &str = "message";
pub const ERROR_CODE: &str = "orcheo.error.code";
pub const ERROR_HINT: &str = "orcheo.error.hint";
/// The standard `error.type` attribute.
pub const ERROR_TYPE: &str = "error.type";

// --- Jaeger tags that carry span fields --------------------------------------------------------

pub const JAEGER_SPAN_KIND: &str = "span.kind";
pub const JAEGER_ERROR: &str = "error";
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
pub const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";
/// The Jaeger log field that names the event.
pub const JAEGER_LOG_EVENT: &str = "event";

// --- Keys as spans hold them -----------------------------------------------------------------

/// Keys of this vocabulary (and common OpenTelemetry ones) too long to be held inline.
const LONG_KEYS: &[&str] = &[
    EXECUTION_TRIGGER,
    EXECUTION_INPUT_KEYS,
    EXECUTION_INPUT_COUNT,
    EXECUTION_TAG_COUNT,
    EXECUTION_RUN_NAME,
    EXECUTION_METADATA_KEYS,
    EXECUTION_CALLBACKS_COUNT,
    EXECUTION_RECURSION_LIMIT,
    EXECUTION_MAX_CONCURRENCY,
    EXECUTION_PROMPTS_COUNT,
    EXECUTION_THREAD_ID,
    NODE_DISPLAY_NAME,
    AI_MODEL_REQUESTED,
    AI_EMBEDDING_OPERATION,
    AI_EMBEDDING_VECTOR_SIZE,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_PROMPT_TOKENS,
    GEN_AI_USAGE_COMPLETION_TOKENS,
    LLM_TOKEN_COUNT_COMPLETION,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    EVENT_GEN_AI_ASSISTANT_MESSAGE,
    "gen_ai.request.max_tokens",
    "gen_ai.request.temperature",
    "gen_ai.response.finish_reasons",
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS_DETAILS_CACHED,
    LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ,
    "gen_ai.usage.cache_creation_input_tokens",
    "telemetry.distro.version",
    "process.runtime.description",
];

/// An attribute key or event name as spans hold it. Text up to 23 bytes is stored inline; the
/// longer keys of the vocabulary are shared statics: a known key never allocates.
pub fn key(text: &str) -> SmolStr {
    if text.len() > INLINE_CAP
        && let Some(known) = LONG_KEYS.iter().find(|k| **k == text)
    {
        return SmolStr::new_static(known);
    }
    SmolStr::new(text)
}

/// The most text `SmolStr` holds without allocating.
const INLINE_CAP: usize = SmolStr::INLINE_CAP;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_same_text_however_they_are_held() {
        for text in [
            "",
            "service.name",
            NODE_DISPLAY_NAME,
            "an.unknown.and.rather.long.key",
        ] {
            assert_eq!(key(text), text);
        }
        assert!(!key(NODE_DISPLAY_NAME).is_heap_allocated());
        assert!(!key(EXECUTION_ID).is_heap_allocated());
        assert!(key("an.unknown.and.rather.long.key").is_heap_allocated());
        assert!(LONG_KEYS.iter().all(|k| k.len() > INLINE_CAP));
    }
}
