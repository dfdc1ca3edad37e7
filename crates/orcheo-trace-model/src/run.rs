//! What an executor reports about a run for the metadata store: the run's start with its trace
//! link, and a summary of each ended span. Shared by the instrumentation (writer) and the store.

use crate::execution::ExecutionStatus;
use crate::ids::{ExecutionId, SpanId, TraceId};
use crate::raw::StatusCode;
use crate::time::Timestamp;

/// A run that started, with the trace that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStarted {
    pub execution_id: ExecutionId,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<String>,
    /// `None`: the default tenant.
    pub tenant: Option<String>,
    pub triggered_by: Option<String>,
    pub started_at: Timestamp,
    pub trace_id: TraceId,
    /// W3C `traceparent` of the run's root span.
    pub traceparent: String,
}

/// A run that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFinished {
    pub execution_id: ExecutionId,
    /// Completed, error or cancelled.
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub finished_at: Timestamp,
}

/// What the store keeps of an ended span: enough for live updates, a degraded tree and the
/// executions list's costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanSummary {
    pub execution_id: ExecutionId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    /// The node kind (`llm`, `tool`, `workflow`…).
    pub kind: String,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
    pub status_code: StatusCode,
    pub status_message: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The part of `input_tokens` read from the provider's prompt cache, when reported.
    pub cached_input_tokens: Option<u64>,
    /// The model that answered, else the one asked for.
    pub model: Option<String>,
    pub provider: Option<String>,
}
