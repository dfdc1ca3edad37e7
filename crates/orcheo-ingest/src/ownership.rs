//! The tenant rule at ingest: a span joins a trace, and a run, only of its own tenant.
//!
//! Run by the writer inside its transaction, one export after another, so two exports cannot
//! both pass the check and then both write. A trace belongs to the execution registered with its
//! trace id; a run belongs to its execution's tenant. A span is refused when
//!
//! - it names a run that is recorded with another trace ([`Refusal::OtherTrace`]);
//! - it claims a tenant (its writer's, or its attribute's) other than the one that owns its
//!   trace or its run ([`Refusal::OtherTenant`]).
//!
//! A span that claims no tenant (a node from a local sender or a relay, without the attribute)
//! is counted as the owner's. A run or trace still unassigned (known only from such nodes) is
//! settled by a relay or a local sender only: a tenant's token cannot claim it. And a tenant's
//! token cannot start a run on a trace that holds another tenant's spans and has no run yet (a
//! run whose spans name no execution until its root comes last, as Orcheo's Python tracing
//! exports it).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use orcheo_trace_model::{ExecutionId, TraceId};
use orcheo_trace_store::{Execution, LocalSpan, StoreError, Transaction, UNASSIGNED_TENANT};

use super::credentials::Writer;
use super::derive::Facts;

/// Why a span was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Its trace or its run belongs to another tenant.
    OtherTenant,
    /// It names a run recorded with another trace.
    OtherTrace,
}

impl Refusal {
    /// The `reason` label of the refusal counters.
    pub fn reason(self) -> &'static str {
        match self {
            Self::OtherTenant => "tenant_mismatch",
            Self::OtherTrace => "execution_trace_mismatch",
        }
    }

    /// Said in the export's partial-success message.
    pub fn describe(self) -> &'static str {
        match self {
            Self::OtherTenant => "joining a trace or run of another tenant",
            Self::OtherTrace => "naming an execution recorded with another trace",
        }
    }
}

/// Who owns a trace or a run, once settled (an unassigned run is not kept).
#[derive(Debug, Clone)]
struct Owner {
    execution: ExecutionId,
    trace: Option<TraceId>,
    tenant: String,
}

impl From<Execution> for Owner {
    fn from(e: Execution) -> Self {
        Self {
            execution: e.id,
            trace: e.trace_id,
            tenant: e.tenant,
        }
    }
}

/// Settled owners the writer has looked up or registered. Owners never change, but retention
/// deletes executions and an id may be used again, so the memory is dropped now and then.
#[derive(Debug)]
pub struct Owners {
    traces: HashMap<TraceId, Owner>,
    executions: HashMap<ExecutionId, Owner>,
    since: Instant,
}

/// Owners remembered at most; past it the memory starts again.
const MAX_REMEMBERED: usize = 20_000;
/// How long owners are remembered.
const REMEMBERED_FOR: Duration = Duration::from_mins(1);

/// The owners one export's check looked up, found or not.
#[derive(Debug, Default)]
struct Memo {
    traces: HashMap<TraceId, Option<Owner>>,
    runs: HashMap<ExecutionId, Option<Owner>>,
}

/// What the check of one export found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Refused spans by the writer's label and reason.
    pub refused: HashMap<(String, Refusal), usize>,
    /// Executions whose traces the kept spans join.
    pub touched: Vec<ExecutionId>,
}

impl Checked {
    pub fn refused_count(&self) -> usize {
        self.refused.values().sum()
    }
}

impl Default for Owners {
    fn default() -> Self {
        Self {
            traces: HashMap::new(),
            executions: HashMap::new(),
            since: Instant::now(),
        }
    }
}

impl Owners {
    /// Forgets everything (the transaction that taught some of it was undone, or it is old).
    pub fn forget(&mut self) {
        *self = Self::default();
    }

    fn refresh(&mut self) {
        if self.since.elapsed() > REMEMBERED_FOR
            || self.traces.len() + self.executions.len() > MAX_REMEMBERED
        {
            self.forget();
        }
    }

    /// Remembers a settled owner of a trace or a run (an unassigned one may still change).
    fn remember(&mut self, trace: Option<TraceId>, run: Option<&ExecutionId>, owner: &Owner) {
        if owner.tenant == UNASSIGNED_TENANT {
            return;
        }
        if let Some(trace) = trace {
            self.traces.insert(trace, owner.clone());
        }
        if let Some(run) = run {
            self.executions.insert(run.clone(), owner.clone());
        }
    }

    /// The owners of a span's trace and of its run: from memory, from what this export already
    /// looked up (`memo`), or from the store in one statement.
    fn owners(
        &mut self,
        tx: &mut Transaction<'_>,
        trace: TraceId,
        run: Option<&ExecutionId>,
        memo: &mut Memo,
    ) -> Result<(Option<Owner>, Option<Owner>), StoreError> {
        let cached_trace = self
            .traces
            .get(&trace)
            .map(|o| Some(o.clone()))
            .or_else(|| memo.traces.get(&trace).cloned());
        let (of_trace, of_run) = match (cached_trace, run) {
            (Some(t), None) => return Ok((t, None)),
            (None, None) => (tx.execution_by_trace_id(trace)?.map(Owner::from), None),
            (cached_trace, Some(id)) => {
                let cached_run = self
                    .executions
                    .get(id)
                    .map(|o| Some(o.clone()))
                    .or_else(|| memo.runs.get(id).cloned());
                match (cached_trace, cached_run) {
                    (Some(t), Some(r)) => return Ok((t, r)),
                    (Some(t), None) => (t, tx.execution(id)?.map(Owner::from)),
                    (None, Some(r)) => (tx.execution_by_trace_id(trace)?.map(Owner::from), r),
                    (None, None) => {
                        let (t, r) = tx.executions_by_trace_and_id(trace, id)?;
                        (t.map(Owner::from), r.map(Owner::from))
                    }
                }
            }
        };
        memo.traces.insert(trace, of_trace.clone());
        if let Some(owner) = &of_trace {
            self.remember(Some(trace), None, owner);
        }
        if let Some(id) = run {
            memo.runs.insert(id.clone(), of_run.clone());
            if let Some(owner) = &of_run {
                self.remember(None, Some(id), owner);
            }
        }
        Ok((of_trace, of_run))
    }

    /// Whether a trace with no run yet holds spans of a tenant other than `tenant`.
    fn holds_others(
        tx: &mut Transaction<'_>,
        trace: TraceId,
        tenant: &str,
        seen: &mut HashMap<TraceId, Vec<String>>,
    ) -> Result<bool, StoreError> {
        let tenants = match seen.entry(trace) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(tx.local_span_tenants(trace)?),
        };
        Ok(tenants.iter().any(|t| t != tenant))
    }

    /// Checks `writer`'s spans, drops the refused ones from `spans`, and gives each kept span
    /// that claims no tenant its owner's.
    pub fn check(
        &mut self,
        tx: &mut Transaction<'_>,
        spans: &mut Vec<LocalSpan>,
        writer: &Writer,
    ) -> Result<Checked, StoreError> {
        self.refresh();
        let mut checked = Checked::default();
        let mut kept = Vec::with_capacity(spans.len());
        let mut unowned: HashMap<TraceId, Vec<String>> = HashMap::new();
        // Each trace and run looked up once an export, found or not (an export's spans share a
        // few): what is not found cannot be remembered beyond it, another process may register
        // it.
        let mut memo = Memo::default();
        for mut span in spans.drain(..) {
            let (trace, run) =
                self.owners(tx, span.trace_id, span.execution_id.as_ref(), &mut memo)?;
            let refusal = if run
                .as_ref()
                .and_then(|r| r.trace)
                .is_some_and(|t| t != span.trace_id)
            {
                Some(Refusal::OtherTrace)
            } else if let Writer::Tenant(tenant) = writer {
                // A tenant's token joins only what is its own: not another tenant's, not an
                // unassigned one (which only the relay or local sender that sent it may settle),
                // and not a trace without a run that holds another tenant's spans.
                let foreign = [&trace, &run]
                    .into_iter()
                    .flatten()
                    .any(|owner| owner.tenant != *tenant);
                if foreign
                    || (trace.is_none()
                        && Self::holds_others(tx, span.trace_id, tenant, &mut unowned)?)
                {
                    Some(Refusal::OtherTenant)
                } else {
                    None
                }
            } else {
                let settled = |o: &Option<Owner>| {
                    o.as_ref()
                        .filter(|o| o.tenant != UNASSIGNED_TENANT)
                        .map(|o| o.tenant.clone())
                };
                let owners = [settled(&trace), settled(&run)];
                match span.tenant.as_deref() {
                    Some(claim) if owners.iter().flatten().any(|owner| owner != claim) => {
                        Some(Refusal::OtherTenant)
                    }
                    Some(_) => None,
                    None => {
                        span.tenant = owners.into_iter().flatten().next();
                        None
                    }
                }
            };
            if let Some(refusal) = refusal {
                // Labelled by the writer, whose number of values the configuration bounds (a
                // relay's or local sender's claimed tenants are theirs to invent).
                *checked
                    .refused
                    .entry((writer.label().to_owned(), refusal))
                    .or_default() += 1;
                continue;
            }
            // A span that names no run joins its trace's: it counts for that execution.
            if span.execution_id.is_none()
                && let Some(owner) = &trace
            {
                span.execution_id = Some(owner.execution.clone());
            }
            if let Some(owner) = trace.or(run) {
                checked.touched.push(owner.execution);
            }
            kept.push(span);
        }
        *spans = kept;
        checked
            .touched
            .sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        checked.touched.dedup();
        Ok(checked)
    }

    /// Remembers the owners an export registers, so that a later export of the same round
    /// (written before the registrations are) is checked against them.
    pub fn learn(&mut self, facts: &Facts) {
        for new in &facts.registrations {
            let (Some(tenant), Some(link)) = (&new.tenant, &new.trace) else {
                continue;
            };
            if tenant == UNASSIGNED_TENANT {
                continue;
            }
            let owner = Owner {
                execution: new.id.clone(),
                trace: Some(link.trace_id),
                tenant: tenant.clone(),
            };
            self.traces
                .entry(link.trace_id)
                .or_insert_with(|| owner.clone());
            self.executions.entry(new.id.clone()).or_insert(owner);
        }
    }
}
