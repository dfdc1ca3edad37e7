//! Errors per operation: opening, migrating, and the repository's reads and writes.

/// The database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database URL {0:?} is neither sqlite://PATH nor postgres://…")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
}

/// The migrations could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("cannot apply the migrations: {0}")]
pub struct MigrateError(pub String);

/// A read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value from outside does not fit (too long, wrong shape): nothing was written.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The row to update does not exist.
    #[error("no execution {0}")]
    UnknownExecution(String),
    /// An execution with this id exists already.
    #[error("execution {0} exists already")]
    Duplicate(String),
    /// No connection could be had from the pool in time.
    #[error("no database connection available: {0}")]
    Pool(String),
    /// The database refused or failed the statement.
    #[error("database error: {0}")]
    Database(String),
    /// A stored value could not be read back (a row written by something else).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error.to_string())
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Pool(error.to_string())
    }
}

/// Checks a text value against a column's limit before it reaches the database.
pub(crate) fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.chars().count() > max {
        return Err(StoreError::Invalid {
            field,
            reason: format!("longer than {max} characters"),
        });
    }
    if value.is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: "empty".to_owned(),
        });
    }
    Ok(())
}
