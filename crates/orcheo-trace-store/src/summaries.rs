//! `workflow_trace_summary`: one row per ended span, each write stamped with a sequence number
//! taken from `trace_seq` in the same transaction, so that a reader resuming after sequence N sees
//! every later write exactly once (sequence order is commit order).

use diesel::prelude::*;
use orcheo_trace_model::{ExecutionId, SpanId, SpanSummary, StatusCode, TokenUsage};

use crate::connection::AnyConnection;
use crate::error::StoreError;
use crate::executions::{nanos, time};
use crate::schema::{trace_seq, workflow_executions as we, workflow_trace_summary as ts};

/// A stored summary with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSummary {
    pub summary: SpanSummary,
    pub seq: u64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ts)]
struct Row {
    execution_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    name: String,
    kind: String,
    start_time: i64,
    end_time: Option<i64>,
    status_code: String,
    status_message: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    updated_seq: i64,
    model: Option<String>,
    provider: Option<String>,
    cached_input_tokens: Option<i64>,
}

const MAX_NAME: usize = 1024;
const MAX_MESSAGE: usize = 4096;
/// Model and provider names are kept to this many characters.
const MAX_MODEL: usize = 256;

fn model_text(text: Option<&str>) -> Option<String> {
    text.map(|t| t.chars().take(MAX_MODEL).collect::<String>())
        .filter(|t| !t.is_empty())
}

fn tokens(n: Option<u64>) -> Result<Option<i64>, StoreError> {
    n.map(|n| {
        i64::try_from(n).map_err(|_| StoreError::Invalid {
            field: "tokens",
            reason: "too large".into(),
        })
    })
    .transpose()
}

/// Records summaries (an upsert by execution and span id, so a repeated report changes nothing but
/// the sequence); returns the last sequence number given. All in one transaction.
pub(crate) fn record(
    conn: &mut AnyConnection,
    summaries: &[SpanSummary],
) -> Result<u64, StoreError> {
    if summaries.is_empty() {
        return Ok(0);
    }
    for s in summaries {
        if s.name.chars().count() > MAX_NAME {
            return Err(StoreError::Invalid {
                field: "name",
                reason: format!("longer than {MAX_NAME} characters"),
            });
        }
        if s.kind.is_empty() || s.kind.len() > 64 {
            return Err(StoreError::Invalid {
                field: "kind",
                reason: "empty or longer than 64 bytes".into(),
            });
        }
    }
    let count = i64::try_from(summaries.len()).map_err(|_| StoreError::Invalid {
        field: "summaries",
        reason: "too many".into(),
    })?;
    conn.transaction(|conn| {
        // Taking the block first locks the counter row until commit: writers queue here, and
        // numbers are handed out in commit order.
        let last: i64 = diesel::update(trace_seq::table.find(1))
            .set(trace_seq::value.eq(trace_seq::value + count))
            .returning(trace_seq::value)
            .get_result(conn)?;
        let first = last - count + 1;
        // A batch usually belongs to one execution; a handful of statements per execution, not
        // several per span (each is a round trip to PostgreSQL).
        let mut executions: Vec<&ExecutionId> = summaries.iter().map(|s| &s.execution_id).collect();
        executions.sort();
        executions.dedup();
        for execution in executions {
            let batch: Vec<(i64, &SpanSummary)> = summaries
                .iter()
                .enumerate()
                .filter(|(_, s)| &s.execution_id == execution)
                .map(|(offset, s)| (first + i64::try_from(offset).unwrap_or(0), s))
                .collect();
            write_batch(conn, execution, &batch)?;
        }
        Ok(u64::try_from(last).unwrap_or(0))
    })
}

fn write_batch(
    conn: &mut AnyConnection,
    execution: &ExecutionId,
    batch: &[(i64, &SpanSummary)],
) -> Result<(), StoreError> {
    let ids: Vec<String> = batch.iter().map(|(_, s)| s.span_id.to_string()).collect();
    let existing: Vec<String> = ts::table
        .filter(ts::execution_id.eq(execution.as_str()))
        .filter(ts::span_id.eq_any(&ids))
        .select(ts::span_id)
        .load(conn)?;
    let mut new_rows = Vec::with_capacity(batch.len());
    let mut latest_end: Option<i64> = None;
    for ((seq, s), span_id) in batch.iter().zip(&ids) {
        let message = s
            .status_message
            .as_deref()
            .map(|m| m.chars().take(MAX_MESSAGE).collect::<String>());
        let end_time = s.end_time.map(nanos).transpose()?;
        latest_end = latest_end.max(end_time);
        let fields = (
            ts::parent_span_id.eq(s.parent_span_id.map(|p| p.to_string())),
            ts::name.eq(s.name.clone()),
            ts::kind.eq(s.kind.clone()),
            ts::start_time.eq(nanos(s.start_time)?),
            ts::end_time.eq(end_time),
            ts::status_code.eq(s.status_code.to_string()),
            ts::status_message.eq(message),
            ts::input_tokens.eq(tokens(s.input_tokens)?),
            ts::output_tokens.eq(tokens(s.output_tokens)?),
            ts::updated_seq.eq(*seq),
            ts::model.eq(model_text(s.model.as_deref())),
            ts::provider.eq(model_text(s.provider.as_deref())),
            ts::cached_input_tokens.eq(tokens(s.cached_input_tokens)?),
        );
        // Reported again (say, with its final status): updated in place with its new sequence.
        if existing.contains(span_id) {
            diesel::update(ts::table.find((execution.as_str(), span_id)))
                .set(fields)
                .execute(conn)?;
        } else if !new_rows.iter().any(|(_, id): &(_, String)| id == span_id) {
            new_rows.push((
                (
                    ts::execution_id.eq(execution.as_str().to_owned()),
                    ts::span_id.eq(span_id.clone()),
                    fields,
                ),
                span_id.clone(),
            ));
        } else {
            // The same span twice in one batch: the later report wins, as it would across batches.
            let at = new_rows
                .iter()
                .position(|(_, id)| id == span_id)
                .unwrap_or(0);
            new_rows[at] = (
                (
                    ts::execution_id.eq(execution.as_str().to_owned()),
                    ts::span_id.eq(span_id.clone()),
                    fields,
                ),
                span_id.clone(),
            );
        }
    }
    if !new_rows.is_empty() {
        let mut values: Vec<_> = new_rows.into_iter().map(|(row, _)| row).collect();
        // One statement per 1,000 rows (15 parameters a row stays under both backends' limits).
        // The two-backend connection cannot express a multi-row insert, each backend can: the
        // same query runs on whichever is connected.
        while !values.is_empty() {
            let rest = values.split_off(values.len().min(1_000));
            let insert =
                diesel::insert_into(ts::table).values(std::mem::replace(&mut values, rest));
            let inserted = match conn {
                AnyConnection::Postgresql(pg) => insert.execute(pg),
                AnyConnection::Sqlite(sqlite) => insert.execute(sqlite),
            };
            inserted.map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => StoreError::UnknownExecution(execution.to_string()),
                other => other.into(),
            })?;
        }
    }
    if let Some(end) = latest_end {
        diesel::update(we::table.find(execution.as_str()))
            .filter(
                we::trace_last_span_at
                    .is_null()
                    .or(we::trace_last_span_at.lt(end)),
            )
            .set(we::trace_last_span_at.eq(end))
            .execute(conn)?;
    }
    Ok(())
}

/// The summaries of an execution written after sequence `after`, in sequence order.
pub(crate) fn after(
    conn: &mut AnyConnection,
    execution: &ExecutionId,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredSummary>, StoreError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000);
    let rows: Vec<Row> = ts::table
        .filter(ts::execution_id.eq(execution.as_str()))
        .filter(ts::updated_seq.gt(after))
        .order(ts::updated_seq.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?;
    rows.into_iter().map(StoredSummary::try_from).collect()
}

/// An execution's newest summary sequence (0: none yet) and whether it has ended: what a live
/// feed watches, in two indexed look-ups.
pub(crate) fn live_state(
    conn: &mut AnyConnection,
    execution: &ExecutionId,
) -> Result<(u64, bool), StoreError> {
    let newest: Option<i64> = ts::table
        .filter(ts::execution_id.eq(execution.as_str()))
        .select(diesel::dsl::max(ts::updated_seq))
        .first(conn)?;
    let status: Option<String> = we::table
        .find(execution.as_str())
        .select(we::status)
        .first(conn)
        .optional()?;
    let ended = status.is_some_and(|s| s != orcheo_trace_model::ExecutionStatus::Running.as_str());
    Ok((
        newest.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        ended,
    ))
}

impl TryFrom<Row> for StoredSummary {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "workflow_trace_summary",
            reason,
        };
        let span = |text: &str| SpanId::from_hex(text).map_err(|e| corrupt(e.to_string()));
        Ok(Self {
            seq: u64::try_from(row.updated_seq).unwrap_or(0),
            summary: SpanSummary {
                execution_id: ExecutionId::new(row.execution_id)
                    .map_err(|e| corrupt(e.to_string()))?,
                span_id: span(&row.span_id)?,
                parent_span_id: row.parent_span_id.as_deref().map(span).transpose()?,
                name: row.name,
                kind: row.kind,
                start_time: time(row.start_time),
                end_time: row.end_time.map(time),
                status_code: StatusCode::from_name(&row.status_code),
                status_message: row.status_message,
                input_tokens: row.input_tokens.and_then(|n| u64::try_from(n).ok()),
                output_tokens: row.output_tokens.and_then(|n| u64::try_from(n).ok()),
                cached_input_tokens: row.cached_input_tokens.and_then(|n| u64::try_from(n).ok()),
                model: row.model,
                provider: row.provider,
            },
        })
    }
}

/// What an execution's recorded spans add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SummaryTotals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub span_count: u64,
    /// Spans with status `ERROR`. The root (a span without a parent) counts only when no other
    /// span failed: Orcheo marks the root of a failed run with the failure of the node that
    /// caused it, which is one failure, not two.
    pub error_count: u64,
}

/// The totals of each of `executions` that has summaries, in one grouped query: the figures an
/// executions list shows without reading any trace.
pub(crate) fn totals(
    conn: &mut AnyConnection,
    executions: &[ExecutionId],
) -> Result<Vec<(ExecutionId, SummaryTotals)>, StoreError> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    if executions.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = executions.iter().map(ExecutionId::as_str).collect();
    let error = StatusCode::Error.to_string();
    // Failed spans under the root, and the root itself (no parent), apart: see `SummaryTotals`.
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = ts::table
        .filter(ts::execution_id.eq_any(&ids))
        .group_by(ts::execution_id)
        .select((
            ts::execution_id,
            sql::<BigInt>("CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
            sql::<BigInt>("CAST(SUM(CASE WHEN parent_span_id IS NOT NULL AND status_code = ")
                .bind::<diesel::sql_types::Text, _>(error.clone())
                .sql(" THEN 1 ELSE 0 END) AS BIGINT)"),
            sql::<BigInt>("CAST(SUM(CASE WHEN parent_span_id IS NULL AND status_code = ")
                .bind::<diesel::sql_types::Text, _>(error)
                .sql(" THEN 1 ELSE 0 END) AS BIGINT)"),
        ))
        .load(conn)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    rows.into_iter()
        .map(|(id, input, output, spans, node_errors, root_errors)| {
            let id = ExecutionId::new(id).map_err(|e| StoreError::Corrupt {
                table: "workflow_trace_summary",
                reason: e.to_string(),
            })?;
            let error_count = match count(node_errors) {
                0 => count(root_errors),
                n => n,
            };
            Ok((
                id,
                SummaryTotals {
                    input_tokens: count(input),
                    output_tokens: count(output),
                    span_count: count(spans),
                    error_count,
                },
            ))
        })
        .collect()
}

/// The tokens an execution's spans spent on one model (as the summaries name it), for costing
/// the run at read time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTokens {
    /// `None`: spans that name no model.
    pub model: Option<String>,
    pub provider: Option<String>,
    /// Summed; `cached_input` is the sum of the cached counts reported.
    pub tokens: TokenUsage,
    /// Spans with tokens.
    pub spans: u64,
}

/// A row of [`model_totals`]'s query: execution, model, provider, input, output, cached, spans.
type ModelGroup = (
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    i64,
);

/// The tokens of each of `executions`, by model and provider, in one grouped query.
pub(crate) fn model_totals(
    conn: &mut AnyConnection,
    executions: &[ExecutionId],
) -> Result<Vec<(ExecutionId, ModelTokens)>, StoreError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Nullable};
    if executions.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = executions.iter().map(ExecutionId::as_str).collect();
    let rows: Vec<ModelGroup> = ts::table
        .filter(ts::execution_id.eq_any(&ids))
        .filter(
            ts::input_tokens
                .is_not_null()
                .or(ts::output_tokens.is_not_null()),
        )
        .group_by((ts::execution_id, ts::model, ts::provider))
        .select((
            ts::execution_id,
            ts::model,
            ts::provider,
            sql::<BigInt>("CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT)"),
            sql::<Nullable<BigInt>>("CAST(SUM(cached_input_tokens) AS BIGINT)"),
            sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
        ))
        .load(conn)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    rows.into_iter()
        .map(|(id, model, provider, input, output, cached, spans)| {
            let id = ExecutionId::new(id).map_err(|e| StoreError::Corrupt {
                table: "workflow_trace_summary",
                reason: e.to_string(),
            })?;
            Ok((
                id,
                ModelTokens {
                    model,
                    provider,
                    tokens: TokenUsage::new(count(input), count(output))
                        .with_cached_input(cached.map(count)),
                    spans: count(spans),
                },
            ))
        })
        .collect()
}
