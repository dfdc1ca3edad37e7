//! SQLite's write-ahead log is copied back into the database file (a checkpoint) by a thread of
//! its own. By default SQLite has the connection whose commit crossed 1,000 log pages do it, in
//! that commit: the writer stops to copy pages and to wait for two `fsync`s. Under a steady
//! stream of spans that was about a third of the writer's time.
//!
//! Here a background thread, with a connection of its own, runs a `PASSIVE` checkpoint (it never
//! waits for readers or the writer) every [`BUSY_INTERVAL`] while the log is growing, and less
//! often when it is not. The writers keep SQLite's own checkpoint as a backstop, at
//! [`BACKSTOP_PAGES`]: should the thread fall behind or fail, the log still stays bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use diesel::Connection as _;
use diesel::RunQueryDsl as _;
use diesel::sqlite::SqliteConnection;

/// The writers' own automatic checkpoint, past this many log pages (about 40 MiB at SQLite's
/// 4 KiB pages): reached only when the background thread falls behind.
pub(crate) const BACKSTOP_PAGES: u32 = 10_000;
/// How often the thread checkpoints while the log grows.
const BUSY_INTERVAL: Duration = Duration::from_millis(100);
/// The longest wait between checkpoints when nothing is written.
const IDLE_INTERVAL: Duration = Duration::from_secs(2);

/// What the background checkpointer has done, for tests and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Checkpoints run.
    pub runs: u64,
    /// Log frames copied into the database file.
    pub frames: u64,
    /// The last failure (opening its connection or checkpointing), if the last run failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    runs: AtomicU64,
    frames: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// The running thread. Dropped with the last clone of the store, which stops the thread.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    /// Never sent on: dropping it wakes and ends the thread.
    _stop: mpsc::Sender<()>,
    counters: Arc<Counters>,
}

impl Checkpointer {
    /// Starts the thread for the database file at `path`.
    pub(crate) fn start(path: String) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("orcheo-sqlite-checkpoint".to_owned())
            .spawn(move || run(&path, &stopped, &thread_counters))?;
        Ok(Self {
            _stop: stop,
            counters,
        })
    }

    pub(crate) fn stats(&self) -> CheckpointStats {
        CheckpointStats {
            runs: self.counters.runs.load(Ordering::Relaxed),
            frames: self.counters.frames.load(Ordering::Relaxed),
            last_error: self
                .counters
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// One row of `PRAGMA wal_checkpoint`: whether it was blocked, the frames in the log, and how
/// many of them are in the database file now.
#[derive(diesel::QueryableByName)]
struct Progress {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

fn run(path: &str, stop: &mpsc::Receiver<()>, counters: &Counters) {
    let mut conn: Option<SqliteConnection> = None;
    let mut interval = BUSY_INTERVAL;
    // The log's state at the last run: (frames in it, frames copied).
    let mut last = (0, 0);
    loop {
        match stop.recv_timeout(interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let result = match conn.as_mut() {
            Some(c) => checkpoint(c),
            None => SqliteConnection::establish(path)
                .map_err(|e| e.to_string())
                .and_then(|mut c| {
                    let progress = checkpoint(&mut c);
                    conn = Some(c);
                    progress
                }),
        };
        counters.runs.fetch_add(1, Ordering::Relaxed);
        let mut last_error = counters
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(p) => {
                *last_error = None;
                // A log that restarted holds only new frames: all it copied is new.
                let before = if p.log < last.0 { 0 } else { last.1 };
                let copied = u64::try_from(p.checkpointed - before).unwrap_or(0);
                counters.frames.fetch_add(copied, Ordering::Relaxed);
                let moved = (p.log, p.checkpointed) != last || p.busy != 0;
                last = (p.log, p.checkpointed);
                interval = if moved {
                    BUSY_INTERVAL
                } else {
                    (interval * 2).min(IDLE_INTERVAL)
                };
            }
            Err(e) => {
                *last_error = Some(e);
                // A fresh connection next time: this one may be what broke.
                conn = None;
                interval = IDLE_INTERVAL;
            }
        }
    }
}

fn checkpoint(conn: &mut SqliteConnection) -> Result<Progress, String> {
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
        .get_result::<Progress>(conn)
        .map_err(|e| e.to_string())
}
