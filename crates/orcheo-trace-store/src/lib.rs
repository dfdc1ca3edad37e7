//! The metadata store: executions with their trace ids (and, as the schema grows into it, span
//! summaries, the embedded mode's local spans, artifacts and retention), on SQLite (embedded,
//! bundled) or PostgreSQL (production), through one API.
//!
//! Invariants: one code path for both backends (diesel's `MultiConnection`); every value from
//! outside is checked before it reaches SQL and refused with a clear error; migrations are
//! embedded and applied by [`Store::migrate`]. Every method **blocks** on the database: an async
//! caller runs them on a blocking thread (`spawn_blocking`, actix's `web::block`).
#![forbid(unsafe_code)]

mod artifacts;
mod checkpoint;
mod connection;
mod error;
mod executions;
mod local_spans;
mod schema;
mod search;
mod sink;
mod summaries;

use orcheo_trace_model::{ExecutionId, ExecutionStatus, Timestamp, TraceId};

pub use artifacts::ArtifactRecord;
pub use checkpoint::CheckpointStats;
pub use connection::{
    AnyConnection, Backend, PoolConfig, parse_url, postgres_connection, redact_password,
};
pub use error::{MigrateError, OpenError, StoreError};
pub use executions::{
    CostBound, Cursor, DEFAULT_TENANT, Execution, ExecutionDetails, ListFilter,
    MAX_COST_CANDIDATES, NewExecution, RunPricer, TraceLink, UNASSIGNED_TENANT, WorkflowSummary,
};
pub use local_spans::{LocalSpan, LocalSpanLimits, Payloads, StoreReport};
pub use orcheo_trace_model::SpanSummary;
pub use search::{
    MAX_FIELD_BYTES, MAX_MATCHES_PER_EXECUTION, MAX_QUERY_CHARS, MAX_SNIPPET_CHARS, SearchField,
    SearchMatch, SpanText, query_words, span_texts,
};
pub use summaries::{ModelTokens, StoredSummary, SummaryTotals};

/// The store: a pool of connections to one database.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    pool: connection::ConnectionPool,
    /// SQLite in a file: the thread that checkpoints its write-ahead log; it stops when the last
    /// clone of the store is dropped.
    checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool to `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`). Does not
    /// migrate: call [`Store::migrate`].
    pub fn open(url: &str, config: PoolConfig) -> Result<Self, OpenError> {
        let (backend, target) = connection::parse_url(url)?;
        let pool = connection::pool(backend, &target, config)?;
        let checkpointer = match backend {
            Backend::Sqlite if target != connection::IN_MEMORY => Some(std::sync::Arc::new(
                checkpoint::Checkpointer::start(target)
                    .map_err(|e| OpenError::Connect(format!("cannot start a thread: {e}")))?,
            )),
            _ => None,
        };
        Ok(Self {
            backend,
            pool,
            checkpointer,
        })
    }

    /// What the background checkpointer of an SQLite database file has done (`None` for
    /// PostgreSQL and in-memory SQLite, which have no such thread).
    pub fn checkpoint_stats(&self) -> Option<CheckpointStats> {
        self.checkpointer.as_ref().map(|c| c.stats())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn conn(&self) -> Result<diesel::r2d2::PooledConnection<connection::Manager>, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Runs a trivial statement: whether the database answers (for readiness checks).
    pub fn ping(&self) -> Result<(), StoreError> {
        use diesel::connection::SimpleConnection as _;
        Ok(self.conn()?.batch_execute("SELECT 1")?)
    }

    /// Applies pending migrations; returns the versions applied (empty when up to date).
    pub fn migrate(&self) -> Result<Vec<String>, MigrateError> {
        let mut conn = self.pool.get().map_err(|e| MigrateError(e.to_string()))?;
        connection::migrate(&mut conn)
    }

    /// Records a started execution, with its trace link when given, in one transaction.
    pub fn start_execution(&self, new: &NewExecution) -> Result<(), StoreError> {
        executions::start(&mut *self.conn()?, new)
    }

    /// Fills in an execution's details from its run's root span (each given value replaces the
    /// stored one, except the tenant: an execution that belongs to a tenant never moves to
    /// another; only an unassigned one takes the tenant given).
    pub fn describe_execution(
        &self,
        id: &ExecutionId,
        details: &ExecutionDetails,
    ) -> Result<(), StoreError> {
        executions::describe(&mut *self.conn()?, id, details)
    }

    /// Ends a running execution; a finished one keeps its first outcome.
    pub fn finish_execution(
        &self,
        id: &ExecutionId,
        status: ExecutionStatus,
        error: Option<&str>,
        finished_at: Timestamp,
    ) -> Result<(), StoreError> {
        executions::finish(&mut *self.conn()?, id, status, error, finished_at)
    }

    pub fn execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        executions::get(&mut *self.conn()?, id)
    }

    pub fn execution_by_trace_id(
        &self,
        trace_id: TraceId,
    ) -> Result<Option<Execution>, StoreError> {
        executions::by_trace_id(&mut *self.conn()?, trace_id)
    }

    /// The newest executions matching `filter`, a page at a time; the cursor continues the list.
    pub fn list_executions(
        &self,
        filter: &ListFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<Execution>, Option<Cursor>), StoreError> {
        executions::list(&mut *self.conn()?, filter, after, limit)
    }

    /// Where `filter.q` matched each of `executions` (a page [`Store::list_executions`] gave
    /// for the same filter): at most [`MAX_MATCHES_PER_EXECUTION`] spans each, with a snippet,
    /// within the filter's tenant and content scope. Empty when the filter has no `q`.
    pub fn search_matches(
        &self,
        filter: &ListFilter,
        executions: &[ExecutionId],
    ) -> Result<Vec<(ExecutionId, Vec<SearchMatch>)>, StoreError> {
        let Some(q) = filter.q.as_deref() else {
            return Ok(Vec::new());
        };
        let words = search::query_words(q)?;
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let query = search::TextQuery {
            words,
            tenant: filter.tenant.clone(),
            content: filter.search_content,
        };
        search::matches(&mut *self.conn()?, &query, executions)
    }

    /// Indexes texts of spans of `execution` for search (each span's rows replace its earlier
    /// ones); returns the rows written. The texts must be redacted as the API shows them.
    pub fn index_span_texts(
        &self,
        execution: &ExecutionId,
        texts: &[SpanText],
    ) -> Result<usize, StoreError> {
        search::write(&mut *self.conn()?, execution, texts)
    }

    /// Replaces every search row of `execution` with `texts` and marks it indexed (a run whose
    /// trace lives in Tempo or Jaeger, indexed once from its fetched tree).
    pub fn index_execution_texts(
        &self,
        execution: &ExecutionId,
        texts: &[SpanText],
    ) -> Result<usize, StoreError> {
        search::replace(&mut *self.conn()?, execution, texts, Timestamp::now())
    }

    /// Executions to index for search, in id order after `after`, at most `limit` (1..=1000):
    /// those without a single search row (say, received before the search was indexed) or,
    /// with `all`, every one.
    pub fn executions_to_index(
        &self,
        all: bool,
        after: Option<&ExecutionId>,
        limit: usize,
    ) -> Result<Vec<ExecutionId>, StoreError> {
        search::to_index(&mut *self.conn()?, all, after, limit)
    }

    /// The workflows of `tenant` (`None`: every tenant's) whose id starts with `prefix` (`""`:
    /// all), the most recently run first, with their run counts.
    pub fn workflows(
        &self,
        tenant: Option<&str>,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<WorkflowSummary>, StoreError> {
        executions::workflows(&mut *self.conn()?, tenant, prefix, limit)
    }

    /// The tenant an execution belongs to (`None`: no such execution), for authorization.
    pub fn execution_tenant(&self, id: &ExecutionId) -> Result<Option<String>, StoreError> {
        executions::tenant(&mut *self.conn()?, id)
    }

    /// Records span summaries in one transaction (idempotent by execution and span id); returns
    /// the last sequence number given.
    pub fn record_summaries(&self, summaries: &[SpanSummary]) -> Result<u64, StoreError> {
        summaries::record(&mut *self.conn()?, summaries)
    }

    /// An execution's summaries written after sequence `after` (0: from the start), oldest first.
    pub fn summaries_after(
        &self,
        execution: &ExecutionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredSummary>, StoreError> {
        summaries::after(&mut *self.conn()?, execution, after, limit)
    }

    /// An execution's newest summary sequence (0: none) and whether it has ended: cheap enough
    /// to poll for live updates.
    pub fn live_state(&self, execution: &ExecutionId) -> Result<(u64, bool), StoreError> {
        summaries::live_state(&mut *self.conn()?, execution)
    }

    /// Token, span and error totals of each listed execution that has span summaries.
    pub fn summary_totals(
        &self,
        executions: &[ExecutionId],
    ) -> Result<Vec<(ExecutionId, SummaryTotals)>, StoreError> {
        summaries::totals(&mut *self.conn()?, executions)
    }

    /// The tokens each of `executions` spent, by model and provider (one grouped query): what
    /// an executions list costs a run by, without reading its trace.
    pub fn summary_model_tokens(
        &self,
        executions: &[ExecutionId],
    ) -> Result<Vec<(ExecutionId, ModelTokens)>, StoreError> {
        summaries::model_totals(&mut *self.conn()?, executions)
    }

    /// Runs several writes in one transaction, committed when `writes` returns `Ok` (and rolled
    /// back when it returns `Err`). Each write of the [`Transaction`] is a savepoint of its own:
    /// one that fails leaves the others in place. One commit instead of one a write: for
    /// SQLite, one pass of the write-ahead log over the pages the writes share.
    pub fn transaction<T>(
        &self,
        writes: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        use diesel::Connection as _;
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            // The writers' lock first, before anything is read: a SQLite transaction that has
            // read cannot wait for another writer to finish (it fails at once as locked), and
            // the span writers serialize on this row anyway.
            local_spans::lock_writers(conn)?;
            writes(&mut Transaction {
                conn,
                tenant_counts: local_spans::TenantCounts::new(),
            })
        })
    }

    /// Keeps received spans, within `limits`; what does not fit is refused and counted.
    pub fn store_local_spans(
        &self,
        spans: &[LocalSpan],
        received_at: Timestamp,
        limits: LocalSpanLimits,
    ) -> Result<StoreReport, StoreError> {
        local_spans::store(
            &mut *self.conn()?,
            spans,
            received_at,
            limits,
            &mut local_spans::TenantCounts::new(),
        )
    }

    /// The stored spans of a trace, by start time, at most `limit`.
    pub fn local_spans(&self, trace_id: TraceId, limit: u64) -> Result<Vec<LocalSpan>, StoreError> {
        local_spans::of_trace(&mut *self.conn()?, trace_id, limit)
    }

    /// A trace's stored payloads laid end to end, by start time, at most `limit` of them and
    /// `max_bytes` in all (a reader that decodes them as one message needs nothing else).
    pub fn local_span_payloads(
        &self,
        trace_id: TraceId,
        limit: u64,
        max_bytes: usize,
    ) -> Result<Payloads, StoreError> {
        local_spans::payloads_of_trace(&mut *self.conn()?, trace_id, limit, max_bytes)
    }

    /// Records an artifact of an execution (again: replaces the record).
    pub fn register_artifact(&self, artifact: &ArtifactRecord) -> Result<(), StoreError> {
        artifacts::register(&mut *self.conn()?, artifact)
    }

    pub fn artifact(&self, artifact_id: &str) -> Result<Option<ArtifactRecord>, StoreError> {
        artifacts::get(&mut *self.conn()?, artifact_id)
    }

    /// Deletes one execution for good, all at once or not at all: its record, its span
    /// summaries, its search rows, its artifact records and the spans of its trace in the local span store (its
    /// tenant's, naming it or no execution). `None` when there is no such execution.
    pub fn delete_execution(&self, id: &ExecutionId) -> Result<Option<Deletion>, StoreError> {
        use diesel::Connection as _;
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            // The writers' lock first, as the span writer takes it, then the summaries' counter
            // (in `executions::delete`), as the writer takes it next: the two cannot deadlock.
            local_spans::lock_writers(conn)?;
            let Some(rows) = executions::delete(conn, id)? else {
                return Ok(None);
            };
            let local_spans = match rows.trace_id {
                Some(trace_id) => local_spans::delete_run(conn, trace_id, &rows.tenant, id)?,
                None => 0,
            };
            Ok(Some(Deletion {
                tenant: rows.tenant,
                trace_id: rows.trace_id,
                summaries: rows.summaries,
                local_spans,
                artifact_records: rows.artifact_records,
                artifacts: rows.artifacts,
            }))
        })
    }

    /// Which of `artifact_ids` are recorded for an execution of `tenant`, each with its
    /// `storage_uri`: what a trace answer needs to say which artifacts can be downloaded, in
    /// one statement rather than one per artifact. Unknown ids, and another tenant's, are left
    /// out.
    pub fn held_artifacts(
        &self,
        tenant: &str,
        artifact_ids: &[&str],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if artifact_ids.is_empty() {
            return Ok(Vec::new());
        }
        artifacts::held(&mut *self.conn()?, tenant, artifact_ids)
    }

    /// Deletes everything older than `cutoff`: executions started before it (with their
    /// summaries, search rows and artifacts) and local spans received before it.
    pub fn prune(&self, cutoff: Timestamp) -> Result<PruneReport, StoreError> {
        let mut conn = self.conn()?;
        Ok(PruneReport {
            executions: executions::prune(&mut conn, cutoff)?,
            local_spans: local_spans::prune(&mut conn, cutoff)?,
        })
    }
}

/// What deleting one execution removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The execution's tenant (for the record of who deleted what).
    pub tenant: String,
    pub trace_id: Option<TraceId>,
    /// Span summaries deleted.
    pub summaries: usize,
    /// Spans of its trace deleted from the local span store (embedded mode).
    pub local_spans: usize,
    /// Artifact records deleted.
    pub artifact_records: usize,
    /// The storage URIs of its deleted artifact records that no other record names: the caller
    /// removes the files it keeps.
    pub artifacts: Vec<String>,
}

/// What a prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub executions: usize,
    pub local_spans: usize,
}

/// The writes of [`Store::transaction`], each in a savepoint of its own; they do what the
/// store's methods of the same names do.
pub struct Transaction<'c> {
    conn: &'c mut AnyConnection,
    tenant_counts: local_spans::TenantCounts,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

impl Transaction<'_> {
    /// Runs one write in a savepoint: on error it is undone alone (PostgreSQL would refuse every
    /// later statement of the transaction otherwise).
    fn savepoint<T>(
        &mut self,
        write: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        use diesel::Connection as _;
        self.conn.transaction(write)
    }

    /// See [`Store::start_execution`].
    pub fn start_execution(&mut self, new: &NewExecution) -> Result<(), StoreError> {
        self.savepoint(|c| executions::start(c, new))
    }

    /// See [`Store::describe_execution`].
    pub fn describe_execution(
        &mut self,
        id: &ExecutionId,
        details: &ExecutionDetails,
    ) -> Result<(), StoreError> {
        self.savepoint(|c| executions::describe(c, id, details))
    }

    /// See [`Store::execution`]: read inside the transaction, so it sees its earlier writes.
    pub fn execution(&mut self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        executions::get(self.conn, id)
    }

    /// See [`Store::execution_by_trace_id`], inside the transaction.
    pub fn execution_by_trace_id(
        &mut self,
        trace_id: TraceId,
    ) -> Result<Option<Execution>, StoreError> {
        executions::by_trace_id(self.conn, trace_id)
    }

    /// [`Transaction::execution_by_trace_id`] and [`Transaction::execution`] in one statement.
    pub fn executions_by_trace_and_id(
        &mut self,
        trace_id: TraceId,
        id: &ExecutionId,
    ) -> Result<(Option<Execution>, Option<Execution>), StoreError> {
        executions::by_trace_and_id(self.conn, trace_id, id)
    }

    /// The tenants of a trace's stored spans (at most two: enough to tell whether any is not
    /// a given one).
    pub fn local_span_tenants(&mut self, trace_id: TraceId) -> Result<Vec<String>, StoreError> {
        local_spans::tenants_of_trace(self.conn, trace_id)
    }

    /// Gives `execution` the stored spans of `trace_id` that are `tenant`'s and name no
    /// execution (children stored before their run's root), handing their payloads, a page of
    /// encoded spans laid end to end at a time, to `each`. Returns how many were adopted.
    pub fn adopt_local_spans(
        &mut self,
        trace_id: TraceId,
        execution: &ExecutionId,
        tenant: &str,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, StoreError> {
        self.savepoint(|c| local_spans::adopt(c, trace_id, execution, tenant, each))
    }

    /// See [`Store::finish_execution`].
    pub fn finish_execution(
        &mut self,
        id: &ExecutionId,
        status: ExecutionStatus,
        error: Option<&str>,
        finished_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.savepoint(|c| executions::finish(c, id, status, error, finished_at))
    }

    /// See [`Store::index_span_texts`].
    pub fn index_span_texts(
        &mut self,
        execution: &ExecutionId,
        texts: &[SpanText],
    ) -> Result<usize, StoreError> {
        self.savepoint(|c| search::write(c, execution, texts))
    }

    /// See [`Store::record_summaries`].
    pub fn record_summaries(&mut self, summaries: &[SpanSummary]) -> Result<u64, StoreError> {
        // A transaction of its own, so a savepoint here.
        summaries::record(self.conn, summaries)
    }

    /// See [`Store::store_local_spans`].
    pub fn store_local_spans(
        &mut self,
        spans: &[LocalSpan],
        received_at: Timestamp,
        limits: LocalSpanLimits,
    ) -> Result<StoreReport, StoreError> {
        // A transaction of its own, so a savepoint here.
        local_spans::store(
            self.conn,
            spans,
            received_at,
            limits,
            &mut self.tenant_counts,
        )
    }
}
