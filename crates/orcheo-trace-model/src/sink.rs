//! The contracts between crates that must not depend on each other, kept in the vocabulary they
//! share:
//!
//! - [`TraceMetadataSink`]: the instrumentation reports runs as they happen; whatever persists
//!   run metadata (the metadata store) implements it;
//! - [`SpanWatcher`]: the span writer tells of executions whose spans it has committed; the trace
//!   cache and the live feed implement it.

use crate::ids::ExecutionId;
use crate::run::{RunFinished, RunStarted, SpanSummary};

/// Told of the executions whose spans were just committed (a cache drops them, live
/// subscribers are woken). Called on the writer's thread: it must not block.
pub trait SpanWatcher: Send + Sync {
    /// `executions` had spans committed; sorted, without repeats.
    fn spans_committed(&self, executions: &[ExecutionId]);
}

/// Why a sink could not record something.
///
/// A plain message rather than something to match on: a sink failure never reaches the workflow,
/// the instrumentation logs and counts it and carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError(pub String);

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "trace metadata sink: {}", self.0)
    }
}

impl std::error::Error for SinkError {}

/// Receives run metadata as runs happen, to persist it.
///
/// Calls may block (a database write); the instrumentation calls them off the workflow's path.
pub trait TraceMetadataSink: Send + Sync {
    /// A run started: its execution id, trace id and `traceparent`.
    fn run_started(&self, run: &RunStarted) -> Result<(), SinkError>;

    /// Spans ended (a batch, so a store can write them in one transaction).
    fn spans_ended(&self, summaries: &[SpanSummary]) -> Result<(), SinkError>;

    /// A run ended.
    fn run_finished(&self, run: &RunFinished) -> Result<(), SinkError>;
}

#[cfg(test)]
mod tests {
    use super::SinkError;

    #[test]
    fn a_sink_error_says_where_it_came_from() {
        assert_eq!(
            SinkError("disk full".into()).to_string(),
            "trace metadata sink: disk full"
        );
    }
}
