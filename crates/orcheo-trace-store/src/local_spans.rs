//! `local_spans`: the embedded mode's own trace store. Spans arrive over OTLP and are kept as
//! encoded payloads, bounded per trace and in total; what does not fit is refused and reported,
//! never silently lost.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use orcheo_trace_model::{ExecutionId, SpanId, Timestamp, TraceId};

use crate::connection::AnyConnection;
use crate::error::StoreError;
use crate::executions::{DEFAULT_TENANT, nanos, time};
use crate::schema::{
    local_span_tenant_total as tenant_total, local_span_total as total, local_spans as ls,
};

/// One received span, encoded (the receiver chooses the encoding; OTLP protobuf in practice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub execution_id: Option<ExecutionId>,
    /// Whose span this is, counted against that tenant's bound (`None`: the default tenant).
    pub tenant: Option<String>,
    pub start_time: Timestamp,
    pub payload: Vec<u8>,
}

/// How many spans the local store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSpanLimits {
    pub per_trace: u64,
    /// Spans of one tenant, so that one sender cannot fill the store for the others.
    pub per_tenant: u64,
    pub total: u64,
    /// Larger payloads are refused.
    pub max_payload_bytes: usize,
}

impl Default for LocalSpanLimits {
    fn default() -> Self {
        Self {
            per_trace: 10_000,
            per_tenant: 1_000_000,
            total: 2_000_000,
            max_payload_bytes: 1024 * 1024,
        }
    }
}

/// What became of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreReport {
    /// New spans written.
    pub stored: usize,
    /// Spans received again, their payload replaced.
    pub replaced: usize,
    /// Refused: their trace already holds `per_trace` spans.
    pub refused_trace_full: usize,
    /// Refused: the span's tenant already has `per_tenant` spans stored.
    pub refused_tenant_full: usize,
    /// Refused: the store holds `total` spans.
    pub refused_store_full: usize,
    /// Refused: payload over `max_payload_bytes`.
    pub refused_too_large: usize,
    /// The positions, in the batch, of the refused spans.
    pub refused_at: Vec<usize>,
}

impl StoreReport {
    pub fn refused(&self) -> usize {
        self.refused_trace_full
            + self.refused_tenant_full
            + self.refused_store_full
            + self.refused_too_large
    }
}

/// A span to insert: trace id, span id, execution id, tenant, start time, payload.
type NewRow = (String, String, Option<String>, String, i64, Vec<u8>);

pub(crate) fn store(
    conn: &mut AnyConnection,
    spans: &[LocalSpan],
    received_at: Timestamp,
    limits: LocalSpanLimits,
    known: &mut TenantCounts,
) -> Result<StoreReport, StoreError> {
    let received_at = nanos(received_at)?;
    let (report, counted) = conn.transaction(|conn| {
        // The counter row first: it serializes writers, so the caps hold under concurrency.
        let mut count: i64 = diesel::update(total::table.find(1))
            .set(total::value.eq(total::value))
            .returning(total::value)
            .get_result(conn)?;
        let mut report = StoreReport::default();
        // Each trace's stored span ids, read once per batch: replacements and the per-trace
        // count come from them.
        let mut stored: HashMap<TraceId, HashSet<String>> = HashMap::new();
        // Each tenant's count, read once per batch (or known from an earlier batch of the same
        // transaction) and written back at its end.
        let mut tenants: HashMap<&str, i64> = HashMap::new();
        let mut new_rows: Vec<NewRow> = Vec::new();
        for (at, span) in spans.iter().enumerate() {
            if span.payload.len() > limits.max_payload_bytes {
                report.refused_too_large += 1;
                report.refused_at.push(at);
                continue;
            }
            let (trace, id) = (span.trace_id.to_string(), span.span_id.to_string());
            let ids = match stored.entry(span.trace_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    ls::table
                        .filter(ls::trace_id.eq(&trace))
                        .select(ls::span_id)
                        .load::<String>(conn)?
                        .into_iter()
                        .collect(),
                ),
            };
            if ids.contains(&id) {
                // Received again (an exporter's retry): the later payload wins.
                if let Some(at) = new_rows
                    .iter()
                    .position(|(t, s, ..)| *t == trace && *s == id)
                {
                    new_rows[at].5.clone_from(&span.payload);
                } else {
                    diesel::update(ls::table.find((&trace, &id)))
                        .set((
                            ls::payload.eq(&span.payload),
                            ls::received_at.eq(received_at),
                        ))
                        .execute(conn)?;
                }
                report.replaced += 1;
                continue;
            }
            if u64::try_from(ids.len()).unwrap_or(u64::MAX) >= limits.per_trace {
                report.refused_trace_full += 1;
                report.refused_at.push(at);
                continue;
            }
            let tenant = span.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
            let of_tenant = match tenants.entry(tenant) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(tenant_count(conn, known, tenant)?)
                }
            };
            if u64::try_from(*of_tenant).unwrap_or(u64::MAX) >= limits.per_tenant {
                report.refused_tenant_full += 1;
                report.refused_at.push(at);
                continue;
            }
            if u64::try_from(count).unwrap_or(u64::MAX) >= limits.total {
                report.refused_store_full += 1;
                report.refused_at.push(at);
                continue;
            }
            ids.insert(id.clone());
            new_rows.push((
                trace,
                id,
                span.execution_id.as_ref().map(|e| e.as_str().to_owned()),
                tenant.to_owned(),
                nanos(span.start_time)?,
                span.payload.clone(),
            ));
            *of_tenant += 1;
            count += 1;
            report.stored += 1;
        }
        insert(conn, new_rows, received_at)?;
        for (&tenant, &value) in &tenants {
            set_tenant_total(conn, tenant, value)?;
        }
        diesel::update(total::table.find(1))
            .set(total::value.eq(count))
            .execute(conn)?;
        let counted: Vec<(String, i64)> = tenants
            .into_iter()
            .map(|(tenant, value)| (tenant.to_owned(), value))
            .collect();
        Ok::<_, StoreError>((report, counted))
    })?;
    // Only once the batch's writes stand: an undone batch leaves the known counts alone.
    known.extend(counted);
    Ok(report)
}

/// A tenant's count of stored spans, from `known` or from the store.
fn tenant_count(
    conn: &mut AnyConnection,
    known: &TenantCounts,
    tenant: &str,
) -> Result<i64, StoreError> {
    if let Some(&count) = known.get(tenant) {
        return Ok(count);
    }
    Ok(tenant_total::table
        .find(tenant)
        .select(tenant_total::value)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Tenants' span counts a transaction has read or written, so that its later batches need not
/// read them again.
pub(crate) type TenantCounts = HashMap<String, i64>;

/// Inserts new rows, one statement per 1,000 rows (7 parameters a row stays under both
/// backends' limits); the two-backend connection cannot express a multi-row insert, each
/// backend can.
fn insert(
    conn: &mut AnyConnection,
    new_rows: Vec<NewRow>,
    received_at: i64,
) -> Result<(), StoreError> {
    let mut values: Vec<_> = new_rows
        .into_iter()
        .map(|(trace, id, execution, tenant, start, payload)| {
            (
                ls::trace_id.eq(trace),
                ls::span_id.eq(id),
                ls::execution_id.eq(execution),
                ls::tenant_id.eq(tenant),
                ls::received_at.eq(received_at),
                ls::start_time.eq(start),
                ls::payload.eq(payload),
            )
        })
        .collect();
    while !values.is_empty() {
        let rest = values.split_off(values.len().min(1_000));
        let insert = diesel::insert_into(ls::table).values(std::mem::replace(&mut values, rest));
        match conn {
            AnyConnection::Postgresql(pg) => insert.execute(pg),
            AnyConnection::Sqlite(sqlite) => insert.execute(sqlite),
        }?;
    }
    Ok(())
}

/// Up to two distinct tenants of a trace's stored spans.
pub(crate) fn tenants_of_trace(
    conn: &mut AnyConnection,
    trace_id: TraceId,
) -> Result<Vec<String>, StoreError> {
    Ok(ls::table
        .filter(ls::trace_id.eq(trace_id.to_string()))
        .select(ls::tenant_id)
        .distinct()
        .limit(2)
        .load(conn)?)
}

/// Rows read at a time by [`adopt`].
const ADOPT_PAGE: i64 = 256;

/// Gives `execution` the stored spans of `trace_id` that are `tenant`'s and joined no execution
/// yet (a run's children stored before the span naming the run arrived), and hands their
/// payloads to `each`, a page of rows laid end to end at a time. Returns how many were adopted.
/// Indexed by the trace id; what the spans say is read in pages, so memory stays bounded.
pub(crate) fn adopt(
    conn: &mut AnyConnection,
    trace_id: TraceId,
    execution: &ExecutionId,
    tenant: &str,
    each: &mut dyn FnMut(&[u8]),
) -> Result<usize, StoreError> {
    let trace = trace_id.to_string();
    let mut after = String::new();
    let mut adopted = 0usize;
    loop {
        let page: Vec<(String, Vec<u8>)> = ls::table
            .filter(ls::trace_id.eq(&trace))
            .filter(ls::execution_id.is_null())
            .filter(ls::tenant_id.eq(tenant))
            .filter(ls::span_id.gt(&after))
            .order(ls::span_id.asc())
            .limit(ADOPT_PAGE)
            .select((ls::span_id, ls::payload))
            .load(conn)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after.clone_from(last);
        let mut bytes = Vec::with_capacity(page.iter().map(|(_, p)| p.len()).sum());
        for (_, payload) in &page {
            bytes.extend_from_slice(payload);
        }
        each(&bytes);
        adopted += page.len();
        if i64::try_from(page.len()).unwrap_or(i64::MAX) < ADOPT_PAGE {
            break;
        }
    }
    if adopted > 0 {
        diesel::update(
            ls::table
                .filter(ls::trace_id.eq(&trace))
                .filter(ls::execution_id.is_null())
                .filter(ls::tenant_id.eq(tenant)),
        )
        .set(ls::execution_id.eq(execution.as_str()))
        .execute(conn)?;
    }
    Ok(adopted)
}

/// Takes the row every writer of local spans takes first, so that writers queue on it.
pub(crate) fn lock_writers(conn: &mut AnyConnection) -> Result<(), StoreError> {
    diesel::update(total::table.find(1))
        .set(total::value.eq(total::value))
        .execute(conn)?;
    Ok(())
}

/// Writes a tenant's count (callers hold the total's row, which serializes writers).
fn set_tenant_total(conn: &mut AnyConnection, tenant: &str, value: i64) -> Result<(), StoreError> {
    let updated = diesel::update(tenant_total::table.find(tenant))
        .set(tenant_total::value.eq(value))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(tenant_total::table)
            .values((
                tenant_total::tenant_id.eq(tenant),
                tenant_total::value.eq(value),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ls)]
struct Row {
    trace_id: String,
    span_id: String,
    execution_id: Option<String>,
    tenant_id: String,
    start_time: i64,
    payload: Vec<u8>,
}

/// The stored spans of a trace, by start time (at most `limit`).
/// A trace's payloads laid end to end in start order, at most `limit` of them and at most
/// `max_bytes` in all (sizes are read first, so nothing past the budget is loaded).
pub(crate) fn payloads_of_trace(
    conn: &mut AnyConnection,
    trace_id: TraceId,
    limit: u64,
    max_bytes: usize,
) -> Result<Payloads, StoreError> {
    let trace = trace_id.to_string();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sizes: Vec<i64> = ls::table
        .filter(ls::trace_id.eq(&trace))
        .order((ls::start_time.asc(), ls::span_id.asc()))
        .limit(limit)
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(length(payload) AS BIGINT)",
        ))
        .load(conn)?;
    let mut total = 0usize;
    let fit = sizes
        .iter()
        .take_while(|&&size| {
            total = total.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
            total <= max_bytes
        })
        .count();
    let payloads: Vec<Vec<u8>> = if fit == 0 {
        Vec::new()
    } else {
        ls::table
            .filter(ls::trace_id.eq(&trace))
            .order((ls::start_time.asc(), ls::span_id.asc()))
            .limit(i64::try_from(fit).unwrap_or(i64::MAX))
            .select(ls::payload)
            .load(conn)?
    };
    let mut bytes = Vec::with_capacity(payloads.iter().map(Vec::len).sum());
    for payload in &payloads {
        bytes.extend_from_slice(payload);
    }
    Ok(Payloads {
        count: payloads.len(),
        cut: fit < sizes.len(),
        bytes,
    })
}

/// What [`Store::local_span_payloads`](crate::Store::local_span_payloads) read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payloads {
    /// Spans read.
    pub count: usize,
    /// Spans were left out to stay within the byte budget.
    pub cut: bool,
    /// Their payloads, end to end.
    pub bytes: Vec<u8>,
}

pub(crate) fn of_trace(
    conn: &mut AnyConnection,
    trace_id: TraceId,
    limit: u64,
) -> Result<Vec<LocalSpan>, StoreError> {
    let rows: Vec<Row> = ls::table
        .filter(ls::trace_id.eq(trace_id.to_string()))
        .order((ls::start_time.asc(), ls::span_id.asc()))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select(Row::as_select())
        .load(conn)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        table: "local_spans",
        reason,
    };
    rows.into_iter()
        .map(|row| {
            Ok(LocalSpan {
                trace_id: TraceId::from_hex(&row.trace_id).map_err(|e| corrupt(e.to_string()))?,
                span_id: SpanId::from_hex(&row.span_id).map_err(|e| corrupt(e.to_string()))?,
                execution_id: row
                    .execution_id
                    .map(ExecutionId::new)
                    .transpose()
                    .map_err(|e| corrupt(e.to_string()))?,
                tenant: Some(row.tenant_id),
                start_time: time(row.start_time),
                payload: row.payload,
            })
        })
        .collect()
}

/// Deletes spans received before `cutoff`; returns how many.
pub(crate) fn prune(conn: &mut AnyConnection, cutoff: Timestamp) -> Result<usize, StoreError> {
    let cutoff = nanos(cutoff)?;
    conn.transaction(|conn| {
        // The counter row first, as writers take it, so the two cannot deadlock.
        diesel::update(total::table.find(1))
            .set(total::value.eq(total::value))
            .execute(conn)?;
        let expired: Vec<(String, i64)> = ls::table
            .filter(ls::received_at.lt(cutoff))
            .group_by(ls::tenant_id)
            .select((ls::tenant_id, diesel::dsl::count_star()))
            .load(conn)?;
        let deleted = diesel::delete(ls::table.filter(ls::received_at.lt(cutoff))).execute(conn)?;
        give_back(conn, expired, deleted)
    })
}

/// Deletes the stored spans of one run: those of its trace and its tenant that name it or no
/// execution (a node of Orcheo's Python executors names none). Spans of the same trace id sent
/// by another tenant, or naming another execution, stay. The caller holds the writers' lock.
pub(crate) fn delete_run(
    conn: &mut AnyConnection,
    trace_id: TraceId,
    tenant: &str,
    execution: &ExecutionId,
) -> Result<usize, StoreError> {
    let deleted = diesel::delete(
        ls::table
            .filter(ls::trace_id.eq(trace_id.to_string()))
            .filter(ls::tenant_id.eq(tenant))
            .filter(
                ls::execution_id
                    .eq(execution.as_str())
                    .or(ls::execution_id.is_null()),
            ),
    )
    .execute(conn)?;
    let gone = i64::try_from(deleted).unwrap_or(i64::MAX);
    give_back(conn, vec![(tenant.to_owned(), gone)], deleted)
}

/// Takes `deleted` spans off the counters: each tenant's share and the total.
fn give_back(
    conn: &mut AnyConnection,
    per_tenant: Vec<(String, i64)>,
    deleted: usize,
) -> Result<usize, StoreError> {
    for (tenant, gone) in per_tenant {
        diesel::update(tenant_total::table.find(&tenant))
            .set(tenant_total::value.eq(tenant_total::value - gone))
            .execute(conn)?;
    }
    let removed = i64::try_from(deleted).unwrap_or(i64::MAX);
    diesel::update(total::table.find(1))
        .set(total::value.eq(total::value - removed))
        .execute(conn)?;
    Ok(deleted)
}
