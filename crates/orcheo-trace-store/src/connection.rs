//! One connection type over both backends, a pool, and the embedded migrations.

use std::time::Duration;

use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;
use diesel::pg::PgConnection;
use diesel::r2d2::{CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

use crate::error::{MigrateError, OpenError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A connection to either backend; every query is written once against it.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgresql(_) => "AnyConnection::Postgresql",
            Self::Sqlite(_) => "AnyConnection::Sqlite",
        })
    }
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Reads `sqlite://PATH` (or `sqlite::memory:`) and `postgres://…` / `postgresql://…` URLs.
pub fn parse_url(url: &str) -> Result<(Backend, String), OpenError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    if url == "sqlite::memory:" {
        return Ok((Backend::Sqlite, IN_MEMORY.to_owned()));
    }
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Ok((Backend::Sqlite, path.to_owned())),
        _ => Err(OpenError::BadUrl(redact_password(url))),
    }
}

/// A URL fit for a message: `postgres://user:secret@host` loses the secret (an unencoded `@` in
/// the password included).
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// Opens connections of the named backend only (the derive would try each backend in turn).
/// A PostgreSQL connection, outside any pool (for administration: creating and dropping
/// databases). Every PostgreSQL connection of the process should be made here or through a
/// [`crate::Store`]: libpq talks TLS through OpenSSL, which by default frees its global state in
/// an `atexit` handler, and a process exiting while another thread still held a connection then
/// crashed in `OPENSSL_cleanup` (double free, or SIGSEGV) after its work was done. OpenSSL is
/// initialized here first, without that handler; whatever initializes it before (a direct
/// `PgConnection::establish`) brings the handler back.
pub fn postgres_connection(url: &str) -> diesel::ConnectionResult<PgConnection> {
    openssl_sys::init();
    PgConnection::establish(url)
}

#[derive(Debug, Clone)]
pub(crate) struct Manager {
    backend: Backend,
    target: String,
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match self.backend {
            Backend::Postgres => postgres_connection(&self.target).map(AnyConnection::Postgresql),
            Backend::Sqlite => SqliteConnection::establish(&self.target).map(AnyConnection::Sqlite),
        }
        .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// SQLite needs its settings on every connection: write-ahead log (readers never wait for the
/// writer), a busy timeout (writers wait for each other instead of failing), foreign keys on,
/// and the log's automatic checkpoint moved far out (a thread of the store checkpoints,
/// [`crate::checkpoint`]); and the search's own SQL function.
#[derive(Debug, Clone, Copy)]
struct SqliteSettings {
    busy_timeout: Duration,
}

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SqliteSettings {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(sqlite) = conn {
            sqlite
                .batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = {};",
                    self.busy_timeout.as_millis(),
                    crate::checkpoint::BACKSTOP_PAGES
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
            // The search's phrase test (see `crate::search::holds_phrase`).
            crate::search::register_phrase_function(sqlite)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    pub max_size: u32,
    pub connection_timeout: Duration,
    /// SQLite only: how long a writer waits for another.
    pub busy_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 8,
            connection_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) type ConnectionPool = Pool<Manager>;

/// What [`parse_url`] gives for `sqlite::memory:`.
pub(crate) const IN_MEMORY: &str = ":memory:";

/// A pool to `target` (as [`parse_url`] gives it) on `backend`.
pub(crate) fn pool(
    backend: Backend,
    target: &str,
    config: PoolConfig,
) -> Result<ConnectionPool, OpenError> {
    let memory = target == IN_MEMORY;
    // An in-memory SQLite database exists once per connection: one connection, or nothing is shared.
    let max_size = if memory { 1 } else { config.max_size };
    Pool::builder()
        .max_size(max_size)
        // An in-memory database lives and dies with its one connection: never recycle it.
        .idle_timeout(if memory {
            None
        } else {
            Some(Duration::from_mins(10))
        })
        .max_lifetime(if memory {
            None
        } else {
            Some(Duration::from_mins(30))
        })
        // Broken connections are caught by `has_broken`; a ping per checkout would cost a round trip.
        .test_on_check_out(false)
        .connection_timeout(config.connection_timeout)
        .connection_customizer(Box::new(SqliteSettings {
            busy_timeout: config.busy_timeout,
        }))
        .build(Manager {
            backend,
            target: target.to_owned(),
        })
        .map_err(|e| OpenError::Connect(e.to_string()))
}

/// Applies the pending migrations of the backend; returns the versions applied (none when the
/// schema is up to date).
pub(crate) fn migrate(conn: &mut AnyConnection) -> Result<Vec<String>, MigrateError> {
    let applied = match conn {
        AnyConnection::Postgresql(pg) => pg.run_pending_migrations(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| MigrateError(e.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}
