//! What a fetch can end in, shaped for the server's answer: not found (404), unavailable (503
//! with `Retry-After`, or degraded from the cache), a bad response from the store (502), or the
//! store refusing our credentials.

use std::time::Duration;

/// Why the trace store could not be reached or did not answer usefully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnavailableReason {
    /// No connection (refused, reset, DNS, TLS).
    Connect,
    /// An attempt or the whole fetch ran out of time.
    Timeout,
    /// The store answered 5xx.
    ServerError,
    /// The store answered 429.
    RateLimited,
    /// The circuit breaker is open: the store failed repeatedly and is not being asked.
    CircuitOpen,
}

impl UnavailableReason {
    /// The `reason` label of `orcheo_trace_fetch_failures_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::ServerError => "server_error",
            Self::RateLimited => "rate_limited",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

/// How a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The store has no trace with this id.
    #[error("trace not found in the trace store")]
    NotFound,
    /// The store could not be asked or did not answer; try again later.
    #[error("trace store unavailable ({}): {detail}", reason.label())]
    Unavailable {
        reason: UnavailableReason,
        /// When to try again, if the store or the breaker said.
        retry_after: Option<Duration>,
        detail: String,
    },
    /// The store answered something we cannot use (wrong status, garbage, too large).
    #[error("bad response from the trace store: {detail}")]
    BadResponse { detail: String },
    /// The store refused our credentials (401/403): a configuration problem, not an outage.
    #[error(
        "the trace store refused the request with status {status}; check the configured headers"
    )]
    Unauthorized { status: u16 },
}

impl FetchError {
    pub(crate) fn unavailable(reason: UnavailableReason, detail: impl Into<String>) -> Self {
        Self::Unavailable {
            reason,
            retry_after: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn bad(detail: impl Into<String>) -> Self {
        Self::BadResponse {
            detail: detail.into(),
        }
    }

    /// Whether another attempt may succeed: connection errors, timeouts, 5xx and 429 only.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable {
                reason: UnavailableReason::Connect
                    | UnavailableReason::Timeout
                    | UnavailableReason::ServerError
                    | UnavailableReason::RateLimited,
                ..
            }
        )
    }

    /// Whether this says the store is unhealthy (counts against the circuit breaker). A
    /// not-found, a refusal of credentials or a bad payload all come from a store that is up.
    pub fn is_store_failure(&self) -> bool {
        self.is_retryable()
    }

    /// The `reason` label of `orcheo_trace_fetch_failures_total`.
    pub fn reason_label(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unavailable { reason, .. } => reason.label(),
            Self::BadResponse { .. } => "bad_response",
            Self::Unauthorized { .. } => "unauthorized",
        }
    }
}
