//! `workflow_executions`: an execution and its trace id, from start to finish.

use diesel::prelude::*;
use orcheo_trace_model::{ExecutionId, ExecutionStatus, Timestamp, TraceId};

use crate::connection::AnyConnection;
use crate::error::{StoreError, check_len};
use crate::schema::{workflow_executions as we, workflow_trace_summary as ts};

pub use orcheo_trace_model::tenant::{DEFAULT_TENANT, UNASSIGNED_TENANT};

/// A new execution, as the executor starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExecution {
    pub id: ExecutionId,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<String>,
    /// `None`: the default tenant.
    pub tenant: Option<String>,
    pub triggered_by: Option<String>,
    pub started_at: Timestamp,
    /// The run's trace, stored in the same transaction as the execution.
    pub trace: Option<TraceLink>,
}

/// An execution's trace id and W3C `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLink {
    pub trace_id: TraceId,
    pub traceparent: String,
}

/// A stored execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub id: ExecutionId,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<String>,
    pub tenant: String,
    pub triggered_by: Option<String>,
    pub status: ExecutionStatus,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub error: Option<String>,
    pub trace_id: Option<TraceId>,
    pub traceparent: Option<String>,
    pub trace_started_at: Option<Timestamp>,
    pub trace_completed_at: Option<Timestamp>,
    pub trace_last_span_at: Option<Timestamp>,
    /// When its trace (kept in Tempo or Jaeger) was indexed for search from the fetched tree;
    /// `None` for runs indexed as their spans arrive, and for runs not indexed yet.
    pub search_indexed_at: Option<Timestamp>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = we)]
struct Row {
    execution_id: String,
    workflow_id: Option<String>,
    workflow_version: Option<String>,
    tenant_id: String,
    triggered_by: Option<String>,
    status: String,
    started_at: i64,
    finished_at: Option<i64>,
    error: Option<String>,
    trace_id: Option<String>,
    traceparent: Option<String>,
    trace_started_at: Option<i64>,
    trace_completed_at: Option<i64>,
    trace_last_span_at: Option<i64>,
    search_indexed_at: Option<i64>,
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        table: "workflow_executions",
        reason,
    }
}

pub(crate) fn nanos(t: Timestamp) -> Result<i64, StoreError> {
    i64::try_from(t.unix_nanos()).map_err(|_| StoreError::Invalid {
        field: "timestamp",
        reason: "after year 2262".into(),
    })
}

pub(crate) fn time(n: i64) -> Timestamp {
    Timestamp::from_unix_nanos(u64::try_from(n).unwrap_or(0))
}

impl TryFrom<Row> for Execution {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: ExecutionId::new(row.execution_id).map_err(|e| corrupt(e.to_string()))?,
            status: row.status.parse().map_err(
                |e: orcheo_trace_model::execution::UnknownStatus| corrupt(e.to_string()),
            )?,
            trace_id: row
                .trace_id
                .as_deref()
                .map(TraceId::from_hex)
                .transpose()
                .map_err(|e| corrupt(e.to_string()))?,
            workflow_id: row.workflow_id,
            workflow_version: row.workflow_version,
            tenant: row.tenant_id,
            triggered_by: row.triggered_by,
            started_at: time(row.started_at),
            finished_at: row.finished_at.map(time),
            error: row.error,
            traceparent: row.traceparent,
            trace_started_at: row.trace_started_at.map(time),
            trace_completed_at: row.trace_completed_at.map(time),
            trace_last_span_at: row.trace_last_span_at.map(time),
            search_indexed_at: row.search_indexed_at.map(time),
        })
    }
}

/// Checks a W3C `traceparent` (`00-{32 hex}-{16 hex}-{2 hex}`) and that it names `trace_id`.
fn check_traceparent(link: &TraceLink) -> Result<(), StoreError> {
    let invalid = |reason: &str| StoreError::Invalid {
        field: "traceparent",
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = link.traceparent.split('-').collect();
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if parts.len() != 4
        || !hex(parts[0], 2)
        || !hex(parts[1], 32)
        || !hex(parts[2], 16)
        || !hex(parts[3], 2)
    {
        return Err(invalid("not version-traceid-spanid-flags"));
    }
    if !parts[1].eq_ignore_ascii_case(&link.trace_id.to_string()) {
        return Err(invalid("names another trace id"));
    }
    Ok(())
}

/// The limits of an execution's descriptive columns.
fn check_descriptions(
    workflow_id: Option<&str>,
    workflow_version: Option<&str>,
    tenant: Option<&str>,
    triggered_by: Option<&str>,
) -> Result<(), StoreError> {
    for (field, value, max) in [
        ("workflow_id", workflow_id, 256),
        ("workflow_version", workflow_version, 64),
        ("tenant", tenant, 128),
        ("triggered_by", triggered_by, 256),
    ] {
        if let Some(v) = value {
            check_len(field, v, max)?;
        }
    }
    Ok(())
}

pub(crate) fn start(conn: &mut AnyConnection, new: &NewExecution) -> Result<(), StoreError> {
    check_descriptions(
        new.workflow_id.as_deref(),
        new.workflow_version.as_deref(),
        new.tenant.as_deref(),
        new.triggered_by.as_deref(),
    )?;
    if let Some(link) = &new.trace {
        check_traceparent(link)?;
    }
    let started_at = nanos(new.started_at)?;
    let result = diesel::insert_into(we::table)
        .values((
            we::execution_id.eq(new.id.as_str()),
            we::workflow_id.eq(new.workflow_id.as_deref()),
            we::workflow_version.eq(new.workflow_version.as_deref()),
            we::tenant_id.eq(new.tenant.as_deref().unwrap_or(DEFAULT_TENANT)),
            we::triggered_by.eq(new.triggered_by.as_deref()),
            we::status.eq(ExecutionStatus::Running.as_str()),
            we::started_at.eq(started_at),
            we::trace_id.eq(new.trace.as_ref().map(|t| t.trace_id.to_string())),
            we::traceparent.eq(new
                .trace
                .as_ref()
                .map(|t| t.traceparent.to_ascii_lowercase())),
            we::trace_started_at.eq(new.trace.as_ref().map(|_| started_at)),
        ))
        .execute(conn);
    match result {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(StoreError::Duplicate(new.id.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// What a run's root span says about its execution; each given value replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionDetails {
    pub workflow_id: Option<String>,
    pub workflow_version: Option<String>,
    pub tenant: Option<String>,
    pub triggered_by: Option<String>,
    /// The run's start (the root span's), earlier than a child's that registered it.
    pub started_at: Option<Timestamp>,
    /// W3C `traceparent` of the root span.
    pub traceparent: Option<String>,
}

pub(crate) fn describe(
    conn: &mut AnyConnection,
    id: &ExecutionId,
    details: &ExecutionDetails,
) -> Result<(), StoreError> {
    check_descriptions(
        details.workflow_id.as_deref(),
        details.workflow_version.as_deref(),
        details.tenant.as_deref(),
        details.triggered_by.as_deref(),
    )?;
    let started_at = details.started_at.map(nanos).transpose()?;
    let current = get(conn, id)?.ok_or_else(|| StoreError::UnknownExecution(id.to_string()))?;
    if let (Some(traceparent), Some(trace_id)) = (&details.traceparent, current.trace_id) {
        check_traceparent(&TraceLink {
            trace_id,
            traceparent: traceparent.clone(),
        })?;
    }
    diesel::update(we::table.find(id.as_str()))
        .set((
            we::workflow_id.eq(details
                .workflow_id
                .as_deref()
                .or(current.workflow_id.as_deref())),
            we::workflow_version.eq(details
                .workflow_version
                .as_deref()
                .or(current.workflow_version.as_deref())),
            we::tenant_id.eq(settled_tenant(&current.tenant, details.tenant.as_deref())),
            we::triggered_by.eq(details
                .triggered_by
                .as_deref()
                .or(current.triggered_by.as_deref())),
            we::started_at.eq(started_at.unwrap_or(nanos(current.started_at)?)),
            we::traceparent.eq(details
                .traceparent
                .as_deref()
                .map(str::to_ascii_lowercase)
                .or(current.traceparent)),
        ))
        .execute(conn)?;
    let tenant = settled_tenant(&current.tenant, details.tenant.as_deref());
    if tenant != current.tenant {
        crate::search::set_tenant(conn, id, tenant)?;
    }
    Ok(())
}

/// An execution's tenant after a description names `claimed`: once an execution belongs to a
/// tenant it never moves; only one still unassigned (known from a node seen before its root)
/// takes the tenant it is given.
fn settled_tenant<'a>(current: &'a str, claimed: Option<&'a str>) -> &'a str {
    match claimed {
        Some(claimed) if current == UNASSIGNED_TENANT => claimed,
        _ => current,
    }
}

pub(crate) fn finish(
    conn: &mut AnyConnection,
    id: &ExecutionId,
    status: ExecutionStatus,
    error: Option<&str>,
    finished_at: Timestamp,
) -> Result<(), StoreError> {
    if let Some(error) = error {
        check_len("error", error, 4096)?;
    }
    if !status.is_final() {
        return Err(StoreError::Invalid {
            field: "status",
            reason: "a finished execution cannot be running".into(),
        });
    }
    let finished_at = nanos(finished_at)?;
    // Only a running execution finishes: a late or repeated report does not overwrite the outcome.
    let updated = diesel::update(
        we::table
            .find(id.as_str())
            .filter(we::status.eq(ExecutionStatus::Running.as_str())),
    )
    .set((
        we::status.eq(status.as_str()),
        we::error.eq(error),
        we::finished_at.eq(finished_at),
        we::trace_completed_at.eq(diesel::dsl::case_when(
            we::trace_id.is_not_null(),
            Some(finished_at),
        )
        .otherwise(None::<i64>)),
    ))
    .execute(conn)?;
    if updated == 0 && get(conn, id)?.is_none() {
        return Err(StoreError::UnknownExecution(id.to_string()));
    }
    Ok(())
}

pub(crate) fn get(
    conn: &mut AnyConnection,
    id: &ExecutionId,
) -> Result<Option<Execution>, StoreError> {
    we::table
        .find(id.as_str())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Execution::try_from)
        .transpose()
}

pub(crate) fn by_trace_id(
    conn: &mut AnyConnection,
    trace_id: TraceId,
) -> Result<Option<Execution>, StoreError> {
    we::table
        .filter(we::trace_id.eq(trace_id.to_string()))
        // A trace should name one execution; if two claim it, the newest answers, every time.
        .order((we::started_at.desc(), we::execution_id.desc()))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Execution::try_from)
        .transpose()
}

/// The execution a trace belongs to (as [`by_trace_id`] finds it) and the execution `id`, in
/// one statement.
pub(crate) fn by_trace_and_id(
    conn: &mut AnyConnection,
    trace_id: TraceId,
    id: &ExecutionId,
) -> Result<(Option<Execution>, Option<Execution>), StoreError> {
    let trace = trace_id.to_string();
    let rows: Vec<Execution> = we::table
        .filter(we::trace_id.eq(&trace).or(we::execution_id.eq(id.as_str())))
        .order((we::started_at.desc(), we::execution_id.desc()))
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Execution::try_from)
        .collect::<Result<_, _>>()?;
    let of_trace = rows.iter().find(|e| e.trace_id == Some(trace_id)).cloned();
    let of_id = rows.into_iter().find(|e| e.id == *id);
    Ok((of_trace, of_id))
}

/// What to list: every given filter must hold (absent ones do not filter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    pub tenant: Option<String>,
    pub workflow_id: Option<String>,
    /// Workflow ids that start with this text (compared as stored, case and all).
    pub workflow_prefix: Option<String>,
    pub status: Option<ExecutionStatus>,
    /// Started at or after.
    pub started_after: Option<Timestamp>,
    /// Started before.
    pub started_before: Option<Timestamp>,
    /// Only executions that themselves ended in error (`true`) or did not (`false`).
    pub has_error: Option<bool>,
    /// Only executions any of whose recorded spans has status `ERROR` (`true`), or none of whose
    /// has (`false`): a run can finish although one of its nodes failed.
    pub has_failing_span: Option<bool>,
    /// Ran at least this long (milliseconds, from start to finish). A run still running has
    /// no duration yet: any duration bound leaves it out.
    pub min_duration_ms: Option<u64>,
    /// Ran at most this long (milliseconds); a run still running is left out.
    pub max_duration_ms: Option<u64>,
    /// Spent at least this many tokens (input and output, over its span summaries).
    pub min_tokens: Option<u64>,
    /// Spent at most this many tokens (a run without token counts spent 0).
    pub max_tokens: Option<u64>,
    /// Any of its spans called this model, as the span summaries record it (exactly).
    pub model: Option<String>,
    /// Any of its spans failed with this error type or error code (exactly, as indexed for
    /// search).
    pub error_type: Option<String>,
    /// Costs within these bounds; see [`CostBound`].
    pub cost: Option<CostBound>,
    /// Free text (at most [`MAX_QUERY_CHARS`](crate::search::MAX_QUERY_CHARS) characters):
    /// its words, as a phrase, in any indexed field of any of the run's spans (names, node
    /// ids, error messages, types and codes, attribute values; content only with
    /// `search_content`).
    pub q: Option<String>,
    /// Whether `q` also searches prompt, response and message text (callers allowed to read
    /// content).
    pub search_content: bool,
    /// With `q`: the traces the trace store (Tempo) found for it. Their runs match as well,
    /// while not indexed from a fetched tree (`search_indexed_at` unset).
    pub q_trace_ids: Vec<TraceId>,
}

/// Prices a run's tokens, for a cost bound: the store knows tokens by model, not prices.
pub trait RunPricer: Send + Sync {
    /// The run's cost in US dollars from its tokens by model, or `None` when some of its
    /// tokens cannot be priced (such a run never matches a cost bound). A run without tokens
    /// costs 0.
    fn run_usd(&self, tenant: &str, tokens: &[crate::ModelTokens]) -> Option<f64>;
}

/// A bound on what runs cost, priced at read time. The store reads candidates (the runs that
/// pass the other filters, newest first) a batch at a time and prices each: at most
/// [`MAX_COST_CANDIDATES`] a page, so a page with a cost bound may hold fewer runs than asked
/// for (even none) and still have a next cursor.
#[derive(Clone)]
pub struct CostBound {
    /// US dollars, at least.
    pub min_usd: Option<f64>,
    /// US dollars, at most.
    pub max_usd: Option<f64>,
    pub pricer: std::sync::Arc<dyn RunPricer>,
}

/// Most candidates one page with a cost bound prices.
pub const MAX_COST_CANDIDATES: usize = 5_000;

impl std::fmt::Debug for CostBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostBound")
            .field("min_usd", &self.min_usd)
            .field("max_usd", &self.max_usd)
            .finish_non_exhaustive()
    }
}

impl PartialEq for CostBound {
    fn eq(&self, other: &Self) -> bool {
        self.min_usd == other.min_usd
            && self.max_usd == other.max_usd
            && std::sync::Arc::ptr_eq(&self.pricer, &other.pricer)
    }
}

impl CostBound {
    fn holds(&self, usd: f64) -> bool {
        self.min_usd.is_none_or(|min| usd >= min) && self.max_usd.is_none_or(|max| usd <= max)
    }
}

/// The upper end of the range of texts that start with `prefix`: no stored text (valid UTF-8)
/// that starts with `prefix` sorts after `prefix` followed by the last code point, so the range
/// `[prefix, bound)` is a prefix match an index on the column answers, on both backends.
fn prefix_bound(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}

diesel::define_sql_function! {
    /// `substr(text, start, length)`, in characters, on both backends.
    fn substr(text: diesel::sql_types::Nullable<diesel::sql_types::Text>, start: diesel::sql_types::Integer, length: diesel::sql_types::Integer) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// The workflow ids that start with `prefix`, case and all: the index range, and the exact test
/// (a PostgreSQL database with a linguistic collation orders texts other than by code point, so
/// its range alone could hold, say, another case).
macro_rules! workflow_prefix {
    ($query:expr, $prefix:expr) => {{
        let prefix: &str = $prefix;
        let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        $query
            .filter(we::workflow_id.ge(prefix.to_owned()))
            .filter(we::workflow_id.lt(prefix_bound(prefix)))
            .filter(substr(we::workflow_id, 1, length).eq(prefix.to_owned()))
    }};
}

/// A text condition of the list, boxed: its shape depends on the backend and the query.
type TextCondition = Box<
    dyn BoxableExpression<
            we::table,
            <AnyConnection as diesel::Connection>::Backend,
            SqlType = diesel::sql_types::Bool,
        >,
>;

/// SQLite answers `IN (subquery)` by building the subquery's whole result first: for a value
/// this many rows share, the list probes each run it scans instead (and stops at a full page).
const PROBE_AFTER: i64 = 10_000;
/// PostgreSQL: a phrase in fewer rows than this is looked up as the list of its runs; one in
/// more is left to the planner as a subquery (it answers a common phrase well, and reading many
/// rows to count them would cost more than the list).
const PG_PROBE_AFTER: i64 = 1_000;

/// Which filters SQLite answers run by run (see [`PROBE_AFTER`]); PostgreSQL's planner chooses
/// for itself.
#[derive(Debug, Clone, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one plan choice a filter, each made on its own"
)]
struct Probes {
    /// The phrase is in [`PROBE_AFTER`] rows or more: each run scanned is asked about its own.
    text: bool,
    /// The phrase is in fewer rows: the runs that hold it, all of them (on both backends a list
    /// the primary key answers, where a subquery would leave the plan to row estimates a
    /// phrase query cannot give well).
    text_runs: Option<Vec<String>>,
    model: bool,
    error_type: bool,
    /// A common phrase and a workflow prefix many runs share: scan by start time.
    by_time: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Looks, up to [`PROBE_AFTER`] rows, at what a list would read for its phrase (both backends)
/// and then for its workflow prefix.
fn text_probes(
    conn: &mut AnyConnection,
    filter: &ListFilter,
    text: &crate::search::TextQuery,
    probes: &mut Probes,
) -> Result<(), StoreError> {
    probes.text_runs = phrase_runs(conn, text)?;
    probes.text = probes.text_runs.is_none();
    if let Some(prefix) = filter.workflow_prefix.as_deref().filter(|p| !p.is_empty())
        && probes.text
    {
        // Many runs of the workflows too: the scan goes by start time (see `page`).
        let limit = match conn {
            AnyConnection::Sqlite(_) => PROBE_AFTER,
            AnyConnection::Postgresql(_) => PG_PROBE_AFTER,
        };
        probes.by_time = prefix_runs(conn, prefix, limit)? >= limit;
    }
    Ok(())
}

/// How many runs (of every tenant) the workflows of `prefix` have, counted up to `limit`.
fn prefix_runs(conn: &mut AnyConnection, prefix: &str, limit: i64) -> Result<i64, StoreError> {
    use diesel::sql_types::Text;
    let sql = match conn {
        AnyConnection::Sqlite(_) => format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM workflow_executions \
             WHERE workflow_id >= ? AND workflow_id < ? LIMIT {limit})"
        ),
        AnyConnection::Postgresql(_) => format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM workflow_executions \
             WHERE workflow_id >= $1 AND workflow_id < $2 LIMIT {limit}) r"
        ),
    };
    let query = diesel::sql_query(sql)
        .bind::<Text, _>(prefix.to_owned())
        .bind::<Text, _>(prefix_bound(prefix));
    let counted: Count = match &mut *conn {
        AnyConnection::Sqlite(c) => query.get_result(c)?,
        AnyConnection::Postgresql(c) => query.get_result(c)?,
    };
    Ok(counted.n)
}

/// Looks, up to [`PROBE_AFTER`] rows, at what a list would read for its error type (both
/// backends) and, on SQLite, for its model.
fn value_probes(conn: &mut AnyConnection, filter: &ListFilter) -> Result<Probes, StoreError> {
    use diesel::sql_types::Text;
    let mut probes = Probes::default();
    if let (Some(error_type), AnyConnection::Postgresql(pg)) = (&filter.error_type, &mut *conn) {
        let counted: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM execution_search \
             WHERE field IN ('error_type', 'error_code') AND text = $1 LIMIT {PG_PROBE_AFTER}) r"
        ))
        .bind::<Text, _>(error_type.clone())
        .get_result(pg)?;
        probes.error_type = counted.n >= PG_PROBE_AFTER;
    }
    let AnyConnection::Sqlite(sqlite) = conn else {
        return Ok(probes);
    };
    if let Some(model) = &filter.model {
        let counted: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM workflow_trace_summary \
             WHERE model = ? LIMIT {PROBE_AFTER})"
        ))
        .bind::<Text, _>(model.clone())
        .get_result(sqlite)?;
        probes.model = counted.n >= PROBE_AFTER;
    }
    if let Some(error_type) = &filter.error_type {
        let counted: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM execution_search \
             WHERE field IN ('error_type', 'error_code') AND text = ? LIMIT {PROBE_AFTER})"
        ))
        .bind::<Text, _>(error_type.clone())
        .get_result(sqlite)?;
        probes.error_type = counted.n >= PROBE_AFTER;
    }
    Ok(probes)
}

/// The runs whose rows hold the phrase, when fewer than [`PROBE_AFTER`] rows do
/// ([`PG_PROBE_AFTER`] on PostgreSQL); `None` when more do.
fn phrase_runs(
    conn: &mut AnyConnection,
    text: &crate::search::TextQuery,
) -> Result<Option<Vec<String>>, StoreError> {
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Run {
        #[diesel(sql_type = Text)]
        execution_id: String,
    }
    let (rows, limit) = match &mut *conn {
        AnyConnection::Sqlite(sqlite) => {
            // The index's hits alone first (every tenant's): a phrase that many rows hold is
            // known without reading the rows. Without the content scope, the index of the
            // other rows: a phrase only prompts hold is found in none of them at once.
            let fts = crate::search::fts_table(text.content);
            let counted: Count = diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM (SELECT rowid FROM {fts} \
                 WHERE {fts} MATCH ? LIMIT {PROBE_AFTER})"
            ))
            .bind::<Text, _>(crate::search::fts_phrase(&text.words))
            .get_result(sqlite)?;
            if counted.n >= PROBE_AFTER && text.tenant.is_none() {
                return Ok(None);
            }
            let tenant = if text.tenant.is_some() {
                " AND s.tenant_id = ?"
            } else {
                ""
            };
            // Each hit decided by the store's own word splitting, as the run-by-run probe
            // decides it (see `crate::search::holds_phrase`).
            (
                format!(
                    "SELECT s.execution_id FROM {fts} f \
                     JOIN execution_search s ON s.id = f.rowid \
                     WHERE {fts} MATCH ? AND orcheo_phrase(s.text, ?){tenant} LIMIT {PROBE_AFTER}"
                ),
                PROBE_AFTER,
            )
        }
        // `OFFSET 0` keeps the planner from scanning the table for the first rows it guesses
        // a common phrase has: the index's rows are read instead, up to the limit.
        AnyConnection::Postgresql(_) => {
            let content = if text.content {
                ""
            } else {
                " AND s.content = 0"
            };
            let tenant = if text.tenant.is_some() {
                " AND s.tenant_id = $2"
            } else {
                ""
            };
            (
                format!(
                    "SELECT execution_id FROM (SELECT s.execution_id FROM execution_search s \
                     WHERE s.words @@ phraseto_tsquery('simple', $1){content}{tenant} OFFSET 0) r \
                     LIMIT {PG_PROBE_AFTER}"
                ),
                PG_PROBE_AFTER,
            )
        }
    };
    let found: Vec<Run> = match &mut *conn {
        AnyConnection::Sqlite(c) => {
            let query = diesel::sql_query(rows)
                .bind::<Text, _>(crate::search::fts_phrase(&text.words))
                .bind::<Text, _>(crate::search::phrase(&text.words));
            match &text.tenant {
                Some(t) => query.bind::<Text, _>(t.clone()).load(c)?,
                None => query.load(c)?,
            }
        }
        AnyConnection::Postgresql(c) => {
            let query = diesel::sql_query(rows).bind::<Text, _>(crate::search::phrase(&text.words));
            match &text.tenant {
                Some(t) => query.bind::<Text, _>(t.clone()).load(c)?,
                None => query.load(c)?,
            }
        }
    };
    if i64::try_from(found.len()).unwrap_or(i64::MAX) >= limit {
        return Ok(None);
    }
    let mut runs: Vec<String> = found.into_iter().map(|r| r.execution_id).collect();
    runs.sort_unstable();
    runs.dedup();
    Ok(Some(runs))
}

/// The search's filters on a boxed list query: duration, tokens, model, error type and free
/// text (each a fragment of SQL naming `workflow_executions`; see `docs/metadata-store.md`).
macro_rules! search_filters {
    ($query:expr, $conn:expr, $filter:expr, $text:expr, $probes:expr) => {{
        use diesel::dsl::sql;
        use diesel::sql_types::{BigInt, Bool, Text};
        let (mut query, conn, filter, text, probes): (_, _, _, _, &Probes) =
            ($query, $conn, $filter, $text, $probes);
        // A run still running has no duration: every duration bound leaves it out.
        for (bound, op) in [(filter.min_duration_ms, ">="), (filter.max_duration_ms, "<=")] {
            if let Some(ms) = bound {
                query = query.filter(
                    sql::<Bool>(&format!(
                        "(workflow_executions.finished_at IS NOT NULL AND \
                         workflow_executions.finished_at - workflow_executions.started_at {op} "
                    ))
                    .bind::<BigInt, _>(millis(ms))
                    .sql(")"),
                );
            }
        }
        // The run's tokens, summed over its summaries (the primary key's execution prefix).
        for (bound, op) in [(filter.min_tokens, ">="), (filter.max_tokens, "<=")] {
            if let Some(n) = bound {
                query = query.filter(
                    sql::<Bool>(&format!(
                        "(SELECT COALESCE(SUM(COALESCE(t.input_tokens, 0) + COALESCE(t.output_tokens, 0)), 0) \
                         FROM workflow_trace_summary t \
                         WHERE t.execution_id = workflow_executions.execution_id) {op} "
                    ))
                    .bind::<BigInt, _>(count(n)),
                );
            }
        }
        if let Some(model) = &filter.model {
            // Answered by the `(model, execution_id)` index of the summaries: the runs of the
            // model at once, or (SQLite, a model many runs share) a probe per run scanned.
            query = if probes.model {
                query.filter(
                    sql::<Bool>(
                        "EXISTS (SELECT 1 FROM workflow_trace_summary t WHERE t.model = ",
                    )
                    .bind::<Text, _>(model.clone())
                    .sql(" AND t.execution_id = workflow_executions.execution_id)"),
                )
            } else {
                query.filter(
                    sql::<Bool>(
                        "workflow_executions.execution_id IN \
                         (SELECT t.execution_id FROM workflow_trace_summary t WHERE t.model = ",
                    )
                    .bind::<Text, _>(model.clone())
                    .sql(")"),
                )
            };
        }
        if let Some(error_type) = &filter.error_type {
            // Answered by the partial index of error types and codes (the same predicate),
            // within the tenant when the filter names one; a type many runs share, run by run.
            let postgres = matches!(conn, AnyConnection::Postgresql(_));
            let (head, close) = if probes.error_type && postgres {
                // A type many runs share, PostgreSQL: a subquery with a `LIMIT` for each run
                // the scan meets, which its planner keeps per run (an `EXISTS` it would turn
                // into a join of every matching row, all sorted before the first page).
                (
                    "(SELECT 1 FROM execution_search s \
                     WHERE s.execution_id = workflow_executions.execution_id \
                     AND s.field IN ('error_type', 'error_code') AND s.text = ",
                    " LIMIT 1) IS NOT NULL",
                )
            } else if probes.error_type {
                // SQLite: a probe of each run scanned, on the `(execution_id, span_id, field)`
                // index.
                (
                    "EXISTS (SELECT 1 FROM execution_search s \
                     WHERE s.execution_id = workflow_executions.execution_id \
                     AND s.field IN ('error_type', 'error_code') AND s.text = ",
                    ")",
                )
            } else {
                (
                    "workflow_executions.execution_id IN \
                     (SELECT s.execution_id FROM execution_search s \
                     WHERE s.field IN ('error_type', 'error_code') AND s.text = ",
                    ")",
                )
            };
            let rows = sql::<Bool>(head).bind::<Text, _>(error_type.clone());
            query = match &filter.tenant {
                Some(tenant) => query.filter(
                    rows.sql(" AND s.tenant_id = ")
                        .bind::<Text, _>(tenant.clone())
                        .sql(close),
                ),
                None => query.filter(rows.sql(close)),
            };
        }
        if let Some(text) = text {
            let content = if text.content {
                ""
            } else {
                " AND s.content = 0"
            };
            let phrase = crate::search::phrase(&text.words);
            let tenant_sql = " AND s.tenant_id = ";
            let matched: TextCondition = if let Some(runs) = &probes.text_runs {
                // A phrase few rows hold: its runs, looked up by their key.
                Box::new(we::execution_id.eq_any(runs.clone()))
            } else if matches!(conn, AnyConnection::Postgresql(_)) {
                // PostgreSQL, a common phrase: each run the scan meets is asked about its own
                // rows, in a subquery with a `LIMIT` that the planner keeps per run (an `EXISTS`
                // or `IN` it would turn into a join of every matching row, sorted before the
                // first page); a cheap `ILIKE` first, then the stored words.
                let head = format!(
                    "(SELECT 1 FROM execution_search s \
                     WHERE s.execution_id = workflow_executions.execution_id{content}{} \
                     AND s.words @@ phraseto_tsquery('simple', ",
                    crate::search::like_prefilter(conn, &text.words, "s.text")
                );
                match &text.tenant {
                    Some(tenant) => Box::new(
                        sql::<Bool>(&head)
                            .bind::<Text, _>(phrase)
                            .sql(&format!("){tenant_sql}"))
                            .bind::<Text, _>(tenant.clone())
                            .sql(" LIMIT 1) IS NOT NULL"),
                    ),
                    None => Box::new(
                        sql::<Bool>(&head)
                            .bind::<Text, _>(phrase)
                            .sql(") LIMIT 1) IS NOT NULL"),
                    ),
                }
            } else {
                // SQLite, a phrase many rows share: each run of the scan is asked about its own
                // rows (a cheap `LIKE` of each word first, then `orcheo_phrase`), and the scan
                // stops at a full page.
                let head = format!(
                    "EXISTS (SELECT 1 FROM execution_search s \
                     WHERE s.execution_id = workflow_executions.execution_id{content}{}",
                    crate::search::like_prefilter(conn, &text.words, "s.text")
                );
                match &text.tenant {
                    Some(tenant) => Box::new(
                        sql::<Bool>(&format!("{head}{tenant_sql}"))
                            .bind::<Text, _>(tenant.clone())
                            .sql(" AND orcheo_phrase(s.text, ")
                            .bind::<Text, _>(phrase)
                            .sql("))"),
                    ),
                    None => Box::new(
                        sql::<Bool>(&format!("{head} AND orcheo_phrase(s.text, "))
                            .bind::<Text, _>(phrase)
                            .sql("))"),
                    ),
                }
            };
            // Runs the trace store found, not indexed yet: an `OR` only when there are some,
            // so that a plain search stays a semi-join the planner can drive from the index.
            query = if filter.q_trace_ids.is_empty() {
                query.filter(matched)
            } else {
                let traces: Vec<String> =
                    filter.q_trace_ids.iter().map(ToString::to_string).collect();
                query.filter(
                    matched.or(we::trace_id
                        .eq_any(traces)
                        .and(we::search_indexed_at.is_null())),
                )
            };
        }
        query
    }};
}

/// Where a page ends: the last execution's start time and id. Opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    started_at: i64,
    id: String,
}

impl Cursor {
    /// The cursor as text: `{started_at}.{execution_id}`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.started_at, self.id)
    }

    /// Reads a cursor given back by a caller.
    pub fn decode(text: &str) -> Result<Self, StoreError> {
        let invalid = || StoreError::Invalid {
            field: "cursor",
            reason: "not a cursor this server gave".into(),
        };
        let (time, id) = text.split_once('.').ok_or_else(invalid)?;
        let started_at = time.parse().map_err(|_| invalid())?;
        ExecutionId::new(id).map_err(|_| invalid())?;
        Ok(Self {
            started_at,
            id: id.to_owned(),
        })
    }
}

/// Milliseconds as nanoseconds, refused past what the store holds.
/// Milliseconds as the nanoseconds the times are kept in; a bound past what they can hold is
/// the largest they can (no finished run is that long: a `max` bound then holds every run, a
/// `min` bound none).
fn millis(ms: u64) -> i64 {
    ms.checked_mul(1_000_000)
        .and_then(|n| i64::try_from(n).ok())
        .unwrap_or(i64::MAX)
}

/// A count bound as the database's integers; past them, the largest (no run has that many).
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks a filter's values before any SQL is built.
fn check_filter(filter: &ListFilter) -> Result<Option<crate::search::TextQuery>, StoreError> {
    for (field, value) in [("model", &filter.model), ("error_type", &filter.error_type)] {
        if let Some(v) = value {
            check_len(field, v, 256)?;
        }
    }
    if let Some(cost) = &filter.cost {
        for (field, bound) in [("min_cost", cost.min_usd), ("max_cost", cost.max_usd)] {
            if bound.is_some_and(|usd| !usd.is_finite() || usd < 0.0) {
                return Err(StoreError::Invalid {
                    field,
                    reason: "not a number of US dollars, 0 or more".into(),
                });
            }
        }
    }
    filter
        .q
        .as_deref()
        .map(|q| {
            Ok(crate::search::TextQuery {
                words: crate::search::query_words(q)?,
                tenant: filter.tenant.clone(),
                content: filter.search_content,
            })
        })
        .transpose()
}

/// The newest executions first, `limit` at a time (1..=500).
pub(crate) fn list(
    conn: &mut AnyConnection,
    filter: &ListFilter,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<(Vec<Execution>, Option<Cursor>), StoreError> {
    let limit = limit.clamp(1, 500);
    let text = check_filter(filter)?;
    // Text without a letter or digit holds no word: no run holds it.
    if text.as_ref().is_some_and(|t| t.words.is_empty()) {
        return Ok((Vec::new(), None));
    }
    let mut probes = value_probes(conn, filter)?;
    if let Some(text) = text.as_ref() {
        // (Runs a trace store found for the words and not indexed yet match too: not in the
        // window's test.)
        if filter.cost.is_none()
            && filter.q_trace_ids.is_empty()
            && limit <= WINDOW_MAX_LIMIT
            && let Some(found) = window_page(conn, filter, text, &probes, after, limit)?
        {
            return Ok(found);
        }
        text_probes(conn, filter, text, &mut probes)?;
    }
    let Some(cost) = &filter.cost else {
        return page(conn, filter, text.as_ref(), &probes, after, limit);
    };
    // Priced in Rust, a batch of candidates at a time, until the page is full (and one more
    // shows there is a next page) or the candidates of a page are used up.
    let mut found: Vec<Execution> = Vec::new();
    let mut scanned = 0usize;
    let mut cursor = after.cloned();
    loop {
        let batch = 500.min(MAX_COST_CANDIDATES - scanned);
        let (candidates, next) =
            page(conn, filter, text.as_ref(), &probes, cursor.as_ref(), batch)?;
        scanned += candidates.len();
        let ids: Vec<ExecutionId> = candidates.iter().map(|e| e.id.clone()).collect();
        let mut tokens: std::collections::HashMap<ExecutionId, Vec<crate::ModelTokens>> =
            std::collections::HashMap::new();
        for (id, group) in crate::summaries::model_totals(conn, &ids)? {
            tokens.entry(id).or_default().push(group);
        }
        for candidate in candidates {
            let groups = tokens.get(&candidate.id).map_or(&[][..], Vec::as_slice);
            let usd = cost.pricer.run_usd(&candidate.tenant, groups);
            if usd.is_some_and(|usd| cost.holds(usd)) {
                found.push(candidate);
                if found.len() > limit {
                    found.truncate(limit);
                    let next = found.last().map(cursor_of);
                    return Ok((found, next));
                }
            }
        }
        match next {
            Some(next) if scanned < MAX_COST_CANDIDATES => cursor = Some(next),
            // Candidates left, but this page has priced its share: the next page goes on
            // from the last one priced.
            Some(next) => return Ok((found, Some(next))),
            None => return Ok((found, None)),
        }
    }
}

fn cursor_of(e: &Execution) -> Cursor {
    Cursor {
        started_at: nanos(e.started_at).unwrap_or(i64::MAX),
        id: e.id.to_string(),
    }
}

/// The executions list as a boxed query of [`Row`]s.
type ListQuery<'a> = we::BoxedQuery<
    'a,
    <AnyConnection as diesel::Connection>::Backend,
    diesel::dsl::SqlTypeOf<
        diesel::dsl::AsSelect<Row, <AnyConnection as diesel::Connection>::Backend>,
    >,
>;
/// A page and the cursor of the next one.
type Page = (Vec<Execution>, Option<Cursor>);

/// A page of a text search at most this long first tries the newest runs alone (see
/// [`window_page`]).
const WINDOW_MAX_LIMIT: usize = 100;
/// How many runs the window holds for each run of the page: a phrase that one run in twenty of
/// the window holds fills the page there.
const WINDOW_PER_RUN: usize = 20;
/// The window's runs are asked about the phrase this many for each run of the page at a time,
/// newest first, until the page is full.
const WINDOW_CHUNK_PER_RUN: usize = 4;
/// A workflow prefix with fewer runs than this has the window's runs sorted from the
/// workflows' index; one with more, read by start time.
const WINDOW_PREFIX_SORT: i64 = 25_000;

/// A text search's page from a window of the newest runs that pass the other filters
/// ([`WINDOW_PER_RUN`] for each run asked for), asked about their own rows a chunk at a time,
/// newest first: a phrase many runs hold fills the page there without the full-text index being
/// read for all its hits (which for a common phrase costs more than the whole page). `None` when
/// the window does not fill the page and older runs exist: the phrase is rarer, and
/// [`text_probes`] plans for it.
fn window_page(
    conn: &mut AnyConnection,
    filter: &ListFilter,
    text: &crate::search::TextQuery,
    probes: &Probes,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Option<Page>, StoreError> {
    let limit = limit.clamp(1, 500);
    let window = WINDOW_PER_RUN * (limit + 1);
    // The workflows of a prefix that few runs share: their runs through the workflows' index,
    // sorted (ordering by an expression keeps the planners from scanning every run by start time
    // for the few of these workflows).
    let few_of_prefix = match filter.workflow_prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(prefix) => prefix_runs(conn, prefix, WINDOW_PREFIX_SORT)? < WINDOW_PREFIX_SORT,
        None => false,
    };
    let candidates = filtered(conn, filter, None, probes, after)?;
    let candidates = if few_of_prefix {
        candidates.order(((we::started_at + 0_i64).desc(), we::execution_id.desc()))
    } else {
        candidates.order((we::started_at.desc(), we::execution_id.desc()))
    };
    let rows: Vec<Row> = candidates
        .limit(i64::try_from(window).unwrap_or(i64::MAX))
        .load(conn)?;
    let whole = rows.len() < window;
    let candidates: Vec<Execution> = rows
        .into_iter()
        .map(Execution::try_from)
        .collect::<Result<_, _>>()?;
    let mut found: Vec<Execution> = Vec::with_capacity(limit + 1);
    for chunk in candidates.chunks(WINDOW_CHUNK_PER_RUN * (limit + 1)) {
        let ids: Vec<ExecutionId> = chunk.iter().map(|e| e.id.clone()).collect();
        let holding: std::collections::HashSet<ExecutionId> =
            crate::search::matches(conn, text, &ids)?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
        found.extend(chunk.iter().filter(|e| holding.contains(&e.id)).cloned());
        if found.len() > limit {
            found.truncate(limit);
            let next = found.last().map(cursor_of);
            return Ok(Some((found, next)));
        }
    }
    // Every run there is was in the window: its matches are the whole answer.
    Ok(whole.then_some((found, None)))
}

/// One page of the executions that pass the filters SQL answers (all but the cost bound).
fn page(
    conn: &mut AnyConnection,
    filter: &ListFilter,
    text: Option<&crate::search::TextQuery>,
    probes: &Probes,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page, StoreError> {
    let limit = limit.clamp(1, 500);
    let rows: Vec<Row> = filtered(conn, filter, text, probes, after)?
        .order((we::started_at.desc(), we::execution_id.desc()))
        .limit(i64::try_from(limit + 1).unwrap_or(501))
        .load(conn)?;
    let more = rows.len() > limit;
    let executions: Vec<Execution> = rows
        .into_iter()
        .take(limit)
        .map(Execution::try_from)
        .collect::<Result<_, _>>()?;
    let next = more.then(|| executions.last().map(cursor_of)).flatten();
    Ok((executions, next))
}

/// The list query with every filter SQL answers, after `after`; unordered.
fn filtered<'a>(
    conn: &AnyConnection,
    filter: &'a ListFilter,
    text: Option<&'a crate::search::TextQuery>,
    probes: &'a Probes,
    after: Option<&Cursor>,
) -> Result<ListQuery<'a>, StoreError> {
    let mut query = we::table.select(Row::as_select()).into_boxed();
    if let Some(tenant) = &filter.tenant {
        query = query.filter(we::tenant_id.eq(tenant.clone()));
    }
    if let Some(workflow) = &filter.workflow_id {
        query = query.filter(we::workflow_id.eq(workflow.clone()));
    }
    if let Some(prefix) = filter.workflow_prefix.as_deref().filter(|p| !p.is_empty()) {
        query = if probes.by_time {
            // Many runs of these workflows, and a phrase many runs hold (SQLite): the runs are
            // scanned newest first and the scan stops at a full page, instead of probing every
            // run of the workflows for the phrase before sorting them. The exact test alone
            // keeps the workflows' index out of the plan.
            let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
            query.filter(substr(we::workflow_id, 1, length).eq(prefix.to_owned()))
        } else {
            workflow_prefix!(query, prefix)
        };
    }
    if let Some(status) = filter.status {
        query = query.filter(we::status.eq(status.as_str()));
    }
    if let Some(t) = filter.started_after {
        query = query.filter(we::started_at.ge(nanos(t)?));
    }
    if let Some(t) = filter.started_before {
        query = query.filter(we::started_at.lt(nanos(t)?));
    }
    match filter.has_error {
        Some(true) => query = query.filter(we::status.eq(ExecutionStatus::Error.as_str())),
        Some(false) => query = query.filter(we::status.ne(ExecutionStatus::Error.as_str())),
        None => {}
    }
    if let Some(failing) = filter.has_failing_span {
        // Answered by the `(execution_id, status_code)` index of the summaries.
        let failed_span = diesel::dsl::exists(
            ts::table
                .filter(ts::execution_id.eq(we::execution_id))
                .filter(ts::status_code.eq(orcheo_trace_model::StatusCode::Error.to_string())),
        );
        query = if failing {
            query.filter(failed_span)
        } else {
            query.filter(diesel::dsl::not(failed_span))
        };
    }
    query = search_filters!(query, conn, filter, text, probes);
    if let Some(c) = after {
        // The first filter is implied by the second but lets both backends seek the index.
        query = query.filter(we::started_at.le(c.started_at)).filter(
            we::started_at.lt(c.started_at).or(we::started_at
                .eq(c.started_at)
                .and(we::execution_id.lt(c.id.clone()))),
        );
    }
    Ok(query)
}

/// A workflow as its runs record it: how many there are and when the latest started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowSummary {
    pub workflow_id: String,
    pub execution_count: u64,
    pub last_started_at: Timestamp,
}

/// The workflows of `tenant` (every tenant's: `None`) whose id starts with `prefix`, the most
/// recently run first, `limit` of them (1..=500). One grouped query over the
/// `(tenant_id, workflow_id, started_at)` index.
pub(crate) fn workflows(
    conn: &mut AnyConnection,
    tenant: Option<&str>,
    prefix: &str,
    limit: usize,
) -> Result<Vec<WorkflowSummary>, StoreError> {
    use diesel::dsl::{count_star, max};
    if !prefix.is_empty() {
        check_len("workflow_prefix", prefix, 256)?;
    }
    let limit = i64::try_from(limit.clamp(1, 500)).unwrap_or(500);
    let mut query = we::table
        .filter(we::workflow_id.is_not_null())
        .group_by(we::workflow_id)
        .select((we::workflow_id, count_star(), max(we::started_at)))
        .into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(we::tenant_id.eq(tenant.to_owned()));
    }
    if !prefix.is_empty() {
        query = workflow_prefix!(query, prefix);
    }
    let rows: Vec<(Option<String>, i64, Option<i64>)> = query
        .order((max(we::started_at).desc(), we::workflow_id.asc()))
        .limit(limit)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, count, last)| {
            Some(WorkflowSummary {
                workflow_id: id?,
                execution_count: u64::try_from(count).unwrap_or(0),
                last_started_at: time(last?),
            })
        })
        .collect())
}

/// The tenant an execution belongs to, for authorization.
pub(crate) fn tenant(
    conn: &mut AnyConnection,
    id: &ExecutionId,
) -> Result<Option<String>, StoreError> {
    Ok(we::table
        .find(id.as_str())
        .select(we::tenant_id)
        .first(conn)
        .optional()?)
}

/// What deleting one execution removed from its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletedRows {
    pub trace_id: Option<TraceId>,
    pub tenant: String,
    pub summaries: usize,
    pub artifact_records: usize,
    /// The storage URIs of the deleted artifact records that no other record names: the files
    /// that went with the run.
    pub artifacts: Vec<String>,
}

/// Deletes one execution with its summaries and artifact records; `None` when there is none.
pub(crate) fn delete(
    conn: &mut AnyConnection,
    id: &ExecutionId,
) -> Result<Option<DeletedRows>, StoreError> {
    use crate::schema::artifacts as ar;
    use crate::schema::workflow_trace_summary as ts;
    conn.transaction(|conn| {
        // The counter row first, as summary writers take it, so the two cannot deadlock.
        diesel::update(crate::schema::trace_seq::table.find(1))
            .set(crate::schema::trace_seq::value.eq(crate::schema::trace_seq::value))
            .execute(conn)?;
        let Some(row) = we::table
            .find(id.as_str())
            .select(Row::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(None);
        };
        let execution = Execution::try_from(row)?;
        let summaries =
            diesel::delete(ts::table.filter(ts::execution_id.eq(id.as_str()))).execute(conn)?;
        crate::search::delete(conn, id)?;
        let mut artifacts: Vec<String> = ar::table
            .filter(ar::execution_id.eq(id.as_str()))
            .select(ar::storage_uri)
            .load(conn)?;
        diesel::delete(ar::table.filter(ar::execution_id.eq(id.as_str()))).execute(conn)?;
        // A file another record still names (another run's artifact) is not this run's alone.
        let shared: Vec<String> = ar::table
            .filter(ar::storage_uri.eq_any(&artifacts))
            .select(ar::storage_uri)
            .load(conn)?;
        let artifact_records = artifacts.len();
        artifacts.retain(|uri| !shared.contains(uri));
        diesel::delete(we::table.find(id.as_str())).execute(conn)?;
        Ok(Some(DeletedRows {
            trace_id: execution.trace_id,
            tenant: execution.tenant,
            summaries,
            artifact_records,
            artifacts,
        }))
    })
}

/// Deletes executions started before `cutoff` (their summaries and artifacts go with them).
pub(crate) fn prune(conn: &mut AnyConnection, cutoff: Timestamp) -> Result<usize, StoreError> {
    let cutoff = nanos(cutoff)?;
    conn.transaction(|conn| {
        // Summary writers lock the counter row first; so does this, or the two could deadlock.
        diesel::update(crate::schema::trace_seq::table.find(1))
            .set(crate::schema::trace_seq::value.eq(crate::schema::trace_seq::value))
            .execute(conn)?;
        // Children first: SQLite only cascades with foreign keys on, and this does not rely on it.
        let old = we::table
            .filter(we::started_at.lt(cutoff))
            .select(we::execution_id);
        diesel::delete(
            crate::schema::workflow_trace_summary::table
                .filter(crate::schema::workflow_trace_summary::execution_id.eq_any(old)),
        )
        .execute(conn)?;
        diesel::delete(
            crate::schema::artifacts::table
                .filter(crate::schema::artifacts::execution_id.eq_any(old)),
        )
        .execute(conn)?;
        diesel::delete(
            crate::schema::execution_search::table
                .filter(crate::schema::execution_search::execution_id.eq_any(old)),
        )
        .execute(conn)?;
        Ok(diesel::delete(we::table.filter(we::started_at.lt(cutoff))).execute(conn)?)
    })
}
