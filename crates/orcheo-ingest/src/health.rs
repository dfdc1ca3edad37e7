//! Whether the span writer can store what it is sent: the last failure of its last round, for
//! `/readyz`. A full disk or a read-only database refuses every export (503) while the process
//! and its `SELECT 1` look healthy; without this an operator would only see it in the
//! exporters' retries.

use std::sync::Mutex;

use orcheo_trace_model::Timestamp;

use super::{IngestError, Outcome};

/// Why the store refused the writer, as far as the database's message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// SQLite `SQLITE_FULL`, PostgreSQL `disk_full` / ENOSPC.
    DiskFull,
    /// SQLite `SQLITE_READONLY`, PostgreSQL in a read-only transaction (a standby, or
    /// `default_transaction_read_only`).
    ReadOnly,
    Other,
}

impl FailureReason {
    /// Reads the reason off a store error's text: diesel passes SQLite's and PostgreSQL's
    /// messages through, not their codes.
    pub fn classify(message: &str) -> Self {
        let message = message.to_ascii_lowercase();
        if ["disk is full", "disk full", "no space left on device"]
            .iter()
            .any(|m| message.contains(m))
        {
            Self::DiskFull
        } else if [
            "readonly database",
            "read-only transaction",
            "read-only file system",
            "recovery is in progress",
        ]
        .iter()
        .any(|m| message.contains(m))
        {
            Self::ReadOnly
        } else {
            Self::Other
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::DiskFull => "disk_full",
            Self::ReadOnly => "read_only",
            Self::Other => "other",
        }
    }
}

/// The writer's last failure to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFailure {
    pub at: Timestamp,
    pub reason: FailureReason,
    /// The database's message.
    pub message: String,
}

/// Shared between the writer thread, which records each round, and readiness checks.
#[derive(Debug, Default)]
pub struct WriterHealth {
    last_failure: Mutex<Option<StoreFailure>>,
}

impl WriterHealth {
    /// Records a round's results: a store error in any of them is the last failure; a round
    /// without one clears it.
    pub fn record<'a>(&self, results: impl IntoIterator<Item = &'a Result<Outcome, IngestError>>) {
        let failure = results.into_iter().find_map(|r| match r {
            Err(IngestError::Store(message)) => Some(StoreFailure {
                at: Timestamp::now(),
                reason: FailureReason::classify(message),
                message: message.clone(),
            }),
            _ => None,
        });
        // A poisoned lock only means a reader panicked; the value is still whole.
        let mut last = self
            .last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Logged when it starts or changes, not once a round: exporters retry many times a second.
        match (&*last, &failure) {
            (_, Some(now)) if last.as_ref().is_none_or(|then| then.reason != now.reason) => {
                tracing::warn!(
                    reason = now.reason.label(),
                    error = now.message.as_str(),
                    "cannot store received spans; exports are refused until a write succeeds"
                );
            }
            (Some(_), None) => tracing::info!("received spans are stored again"),
            _ => {}
        }
        *last = failure;
    }

    /// The failure of the last round, if it failed.
    pub fn last_failure(&self) -> Option<StoreFailure> {
        self.last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reason_off_sqlite_and_postgresql_messages() {
        for (message, reason) in [
            (
                "database error: database or disk is full",
                FailureReason::DiskFull,
            ),
            (
                "database error: could not extend file \"base/16384/16385\": No space left on device",
                FailureReason::DiskFull,
            ),
            (
                "database error: attempt to write a readonly database",
                FailureReason::ReadOnly,
            ),
            (
                "database error: cannot execute INSERT in a read-only transaction",
                FailureReason::ReadOnly,
            ),
            (
                "no database connection available: timed out",
                FailureReason::Other,
            ),
        ] {
            assert_eq!(FailureReason::classify(message), reason, "{message}");
        }
    }

    #[test]
    fn a_round_without_a_store_error_clears_the_last_failure() {
        let health = WriterHealth::default();
        health.record(&[
            Ok(Outcome::default()),
            Err(IngestError::Store("database or disk is full".to_owned())),
        ]);
        let failure = health.last_failure().unwrap();
        assert_eq!(failure.reason, FailureReason::DiskFull);
        health.record(&[Err(IngestError::Busy)]);
        assert_eq!(health.last_failure(), None);
    }
}
