//! The store as the instrumentation's [`TraceMetadataSink`]: an executor with `orcheo-tracing`
//! records every run's trace id and span summaries with two lines of set-up.

use orcheo_trace_model::{RunFinished, RunStarted, SpanSummary};
use orcheo_trace_model::{SinkError, TraceMetadataSink};

use crate::{NewExecution, Store, TraceLink};

impl TraceMetadataSink for Store {
    fn run_started(&self, run: &RunStarted) -> Result<(), SinkError> {
        self.start_execution(&NewExecution {
            id: run.execution_id.clone(),
            workflow_id: run.workflow_id.clone(),
            workflow_version: run.workflow_version.clone(),
            tenant: run.tenant.clone(),
            triggered_by: run.triggered_by.clone(),
            started_at: run.started_at,
            trace: Some(TraceLink {
                trace_id: run.trace_id,
                traceparent: run.traceparent.clone(),
            }),
        })
        .map_err(|e| SinkError(e.to_string()))
    }

    fn spans_ended(&self, summaries: &[SpanSummary]) -> Result<(), SinkError> {
        self.record_summaries(summaries)
            .map(drop)
            .map_err(|e| SinkError(e.to_string()))
    }

    fn run_finished(&self, run: &RunFinished) -> Result<(), SinkError> {
        self.finish_execution(
            &run.execution_id,
            run.status,
            run.error.as_deref(),
            run.finished_at,
        )
        .map_err(|e| SinkError(e.to_string()))
    }
}
