//! The trace service: from an execution id to the tree a caller may see.
//!
//! - [`TraceService`] ([`service`]): authorize against the execution's tenant ([`Audience`]),
//!   fetch its trace from the configured [`TraceSource`](orcheo_collector_client::TraceSource),
//!   normalize and redact it off the async workers, keep finished traces in a cache, and — when
//!   the trace store is down — fall back to a degraded tree built from the span summaries the
//!   metadata store holds;
//! - [`cache`]: finished traces in memory, bounded in bytes, and how late spans reach them;
//! - [`discovery`]: executions the metadata store does not know, found in Tempo or Jaeger by the
//!   `orcheo.execution.id` of their root span, and registered;
//! - [`compare`]: two runs side by side, their nodes matched, deltas and prompt diffs;
//! - [`embedded`]: the trace source of the embedded mode, the local span store;
//! - [`export`]: a trace as a JSON document or a CSV row per span, streamed for an audit;
//! - [`paging`]: pages of a trace's spans and their cursors.
//!
//! Invariants: no web framework here (the server maps [`TraceError`] to its answers); nothing
//! blocks an async worker (database reads, decoding and normalization run on the blocking pool);
//! a caller never learns that another tenant's execution exists — it gets the same
//! [`TraceError::NotFound`] as for one that does not.
#![forbid(unsafe_code)]

pub mod cache;
pub mod compare;
pub mod discovery;
pub mod embedded;
pub mod export;
pub mod paging;
pub mod service;
mod weight;

use std::time::Duration;

pub use cache::{CacheConfig, LateSpans, TraceInvalidator};
pub use export::ExportFormat;
pub use paging::{Page, PageError};
pub use service::{
    LoadedTrace, SourceInfo, TraceService, search_texts, summary_cost, summary_tree,
};

/// Whose executions a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// One tenant's.
    Tenant(String),
    /// Every tenant's (an administrator).
    Everyone,
}

impl Audience {
    /// Whether an execution of `tenant` may be shown.
    pub fn can_see(&self, tenant: &str) -> bool {
        match self {
            Self::Everyone => true,
            Self::Tenant(own) => own == tenant,
        }
    }
}

/// Why a trace could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The id is not an execution id.
    #[error("invalid execution id: {0}")]
    InvalidExecutionId(String),
    /// No such execution, or one the caller may not see: the same answer for both.
    #[error("{0}")]
    NotFound(String),
    /// The execution exists but its trace does not (not recorded, not exported, expired).
    #[error("{0}")]
    TraceUnavailable(String),
    /// The trace store could not answer and nothing is cached: try again later.
    #[error("{message}")]
    TraceStoreUnavailable {
        message: String,
        retry_after: Duration,
    },
    /// The trace store answered something unusable.
    #[error("{0}")]
    TraceStoreError(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] orcheo_trace_store::StoreError),
    /// The request asks for more work than the server does for one answer.
    #[error("{0}")]
    TooLarge(String),
    /// A task on the blocking pool failed.
    #[error("blocking task failed: {0}")]
    Internal(String),
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TraceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TraceError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::Audience;

    #[test]
    fn a_tenant_sees_its_own_executions_and_an_administrator_sees_all() {
        let acme = Audience::Tenant("acme".to_owned());
        assert!(acme.can_see("acme"));
        assert!(!acme.can_see("globex"));
        assert!(Audience::Everyone.can_see("globex"));
    }
}
