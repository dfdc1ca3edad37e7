//! The export of a list's results, for an audit: every execution a list filter matches, newest
//! first, each with its whole trace, as the route `GET /api/executions/export` and the command
//! `export --all` write it.
//!
//! The executions are walked a page at a time with the store's cursor, and one trace is loaded
//! and written at a time, and not kept in the trace cache, so memory holds one trace however
//! many runs match. Each trace is the
//! one the single export writes: the caller's tenant, content scope and redaction apply.
//!
//! - JSON: `{"format": "orcheo-trace-export-set", "version": 1, "exported_at", "filters",
//!   "max_executions", "executions": [<one single-export document each>], "unavailable":
//!   [{"execution_id", "error", "message"}], "exported", "truncated"}`, written as it goes.
//! - CSV: one header row, then a row per span of each execution (the single export's columns,
//!   the first being `execution_id`). A CSV file cannot say which runs it lacks: a run whose
//!   trace cannot be had whole has no rows, and the JSON export of the same filters names it.
//!
//! At most `max_executions` runs are written; when more match, the export stops there and says
//! `"truncated": true` (the CSV's file name carries the bound).

use std::io::{self, Write};
use std::sync::Arc;

use orcheo_trace_model::Timestamp;
use orcheo_trace_service::{Audience, ExportFormat, TraceError, TraceService, export};
use orcheo_trace_store::{Cursor, Execution, ListFilter};
use serde::Serialize;

use crate::error::ApiError;
use crate::routes::ExecutionView;

/// Runs an export writes unless told otherwise.
pub const DEFAULT_MAX_EXECUTIONS: u32 = 1_000;
/// The most runs an export may be asked for.
pub const MAX_EXECUTIONS: u32 = 10_000;
/// Executions read from the store at a time.
const PAGE: usize = 100;

/// What to export.
#[derive(Debug, Clone)]
pub struct SetRequest {
    /// Which executions (the list's filter, its tenant already the caller's).
    pub filter: ListFilter,
    /// The filters as asked, written into the JSON export's `filters`.
    pub filters: serde_json::Value,
    /// Whose executions may be written: checked again for every run.
    pub audience: Audience,
    pub format: ExportFormat,
    /// Leave prompt, response and message text out (always for CSV).
    pub withhold_content: bool,
    /// Runs written at most, 1..=[`MAX_EXECUTIONS`].
    pub max_executions: u32,
}

/// A matching run whose trace could not be had whole, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unavailable {
    pub execution_id: String,
    /// The code the single export would have answered with (`trace_unavailable`,
    /// `trace_store_unavailable`, `trace_store_error`, `not_found`).
    pub error: &'static str,
    pub message: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct SetSummary {
    /// Runs written with their trace.
    pub exported: usize,
    /// Runs that matched but could not be written.
    pub unavailable: Vec<Unavailable>,
    /// More runs matched than `max_executions`.
    pub truncated: bool,
}

/// The parameters as given, without those not given: the JSON export's `filters`.
pub fn filters_json<T: Serialize>(filters: &T) -> serde_json::Value {
    match serde_json::to_value(filters) {
        Ok(serde_json::Value::Object(map)) => {
            serde_json::Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        _ => serde_json::Value::Object(serde_json::Map::new()),
    }
}

/// The export's file name, which carries the bound: `executions.first-1000.trace.csv`.
pub fn file_name(request: &SetRequest) -> String {
    format!(
        "executions.first-{}.trace.{}",
        request.max_executions,
        request.format.extension()
    )
}

/// Writes the export of `request` into `out`, loading each trace with `runtime` (call it off the
/// runtime's own threads: on the blocking pool, or from a plain thread). A run whose trace cannot
/// be had whole is listed as [`Unavailable`]; a failing database or a failing `out` stops the
/// export with the error.
pub fn write_set<W: Write>(
    out: &mut W,
    runtime: &tokio::runtime::Handle,
    traces: &TraceService,
    request: &SetRequest,
) -> io::Result<SetSummary> {
    let json = request.format == ExportFormat::Json;
    if json {
        write!(
            out,
            "{{\"format\":\"orcheo-trace-export-set\",\"version\":1,\"exported_at\":\"{}\",\"filters\":",
            Timestamp::now()
        )?;
        serde_json::to_writer(&mut *out, &request.filters).map_err(io::Error::other)?;
        write!(
            out,
            ",\"max_executions\":{},\"executions\":[",
            request.max_executions
        )?;
    } else {
        export::write_csv_header(out)?;
    }
    let max = usize::try_from(request.max_executions).unwrap_or(usize::MAX);
    let mut summary = SetSummary::default();
    let mut seen = 0_usize;
    let mut cursor: Option<Cursor> = None;
    'pages: loop {
        // One more than the bound asks for, to know whether the export stops short.
        let limit = PAGE.min(max.saturating_sub(seen).saturating_add(1));
        let (rows, next) = traces
            .store()
            .list_executions(&request.filter, cursor.as_ref(), limit)
            .map_err(|e| io::Error::other(format!("the executions could not be listed: {e}")))?;
        for row in &rows {
            if seen == max {
                summary.truncated = true;
                break 'pages;
            }
            // The list is the caller's tenant's already; a run that is not is never written.
            if !request.audience.can_see(&row.tenant) {
                continue;
            }
            seen += 1;
            match write_one(out, runtime, traces, request, row, summary.exported > 0)? {
                None => summary.exported += 1,
                Some(missing) => summary.unavailable.push(missing),
            }
        }
        match next {
            Some(next) if !rows.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    if json {
        out.write_all(b"],\"unavailable\":")?;
        serde_json::to_writer(&mut *out, &summary.unavailable).map_err(io::Error::other)?;
        write!(
            out,
            ",\"exported\":{},\"truncated\":{}}}",
            summary.exported, summary.truncated
        )?;
    }
    Ok(summary)
}

/// Writes one run (after a comma when `after_another`), or says why it cannot be.
fn write_one<W: Write>(
    out: &mut W,
    runtime: &tokio::runtime::Handle,
    traces: &TraceService,
    request: &SetRequest,
    execution: &Execution,
    after_another: bool,
) -> io::Result<Option<Unavailable>> {
    // Read once: a trace not cached is not kept, so the export leaves the cache as it was.
    let loaded =
        runtime.block_on(traces.trace_passing_through(execution, request.withhold_content));
    let loaded = match loaded.and_then(|l| l.whole(execution).map(Arc::clone).map(|t| (l, t))) {
        Ok(loaded) => loaded,
        // The database or the server failing is the export failing, not one run missing.
        Err(e @ (TraceError::Store(_) | TraceError::Internal(_))) => {
            return Err(io::Error::other(format!(
                "the trace of {} could not be read: {e}",
                execution.id
            )));
        }
        Err(e) => {
            let message = e.to_string();
            return Ok(Some(Unavailable {
                execution_id: execution.id.as_str().to_owned(),
                error: ApiError::from(e).code(),
                message,
            }));
        }
    };
    let (loaded, tree) = loaded;
    match request.format {
        ExportFormat::Json => {
            if after_another {
                out.write_all(b",")?;
            }
            let view = ExecutionView::of_trace(execution, &loaded, &traces.policy());
            export::write_json(out, &view, &loaded.source, &tree, &loaded.costs)?;
        }
        ExportFormat::Csv => {
            export::write_csv_rows(out, execution.id.as_str(), &tree, &loaded.costs)?;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_not_given_are_left_out() {
        #[derive(Serialize)]
        struct Query {
            status: Option<String>,
            workflow_id: Option<String>,
            has_error: Option<bool>,
        }
        let value = filters_json(&Query {
            status: Some("error".to_owned()),
            workflow_id: None,
            has_error: Some(false),
        });
        assert_eq!(
            value,
            serde_json::json!({"status": "error", "has_error": false})
        );
    }
}
