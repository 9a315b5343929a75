//! The SQLite store. One connection lives on a dedicated thread; async callers hand it closures
//! through a bounded channel, so blocking SQLite calls never stall the async runtime and the
//! queue of waiting requests cannot grow without bound.
//!
//! Durability: WAL with `synchronous=FULL`. Every commit is fsynced before the call returns,
//! so what the API acknowledged survives a crash of the process and of the machine (ships
//! lose power). NORMAL would survive only a process crash.
//!
//! The functions in the submodules take a `&Connection` and are also used synchronously by
//! `flotilla user add`.

pub mod accounts;
pub mod aliases;
mod cache;
pub mod client_data;
pub mod cross_signing;
pub mod e2ee;
pub mod key_backup;
pub mod media;
mod migrations;
pub mod presence;
pub mod rooms;
pub mod timeline;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use tokio::sync::{mpsc, oneshot};

pub use migrations::{SCHEMA_VERSION, migrate};

pub const DATABASE_FILE_NAME: &str = "flotilla.db";
/// Requests waiting for the database thread; callers beyond this wait for a free slot.
const QUEUE_CAPACITY: usize = 256;
/// How long a connection waits for another process (e.g. `flotilla user add`) to release a lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot open database {path}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("migration to schema version {version} failed")]
    Migration {
        version: usize,
        source: rusqlite::Error,
    },
    #[error(
        "database schema version {found} is newer than this program supports ({supported}); \
         upgrade flotilla"
    )]
    SchemaTooNew { found: i64, supported: usize },
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("the user already exists")]
    UserExists,
    #[error("cannot start the database thread")]
    Thread(#[source] std::io::Error),
    #[error("the database thread has stopped")]
    Closed,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A cheap, cloneable handle to the database thread.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

/// Joins the database thread once every [`Store`] handle is gone.
pub struct StoreThread(thread::JoinHandle<()>);

impl StoreThread {
    /// Waits until queued work has run and the connection is closed.
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the database thread panicked");
        }
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database, then starts its thread.
    pub fn open(path: &Path) -> Result<(Store, StoreThread), StoreError> {
        let connection = open_connection(path)?;
        let (jobs, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let thread = thread::Builder::new()
            .name("flotilla-db".into())
            .spawn(move || run_jobs(connection, receiver))
            .map_err(StoreError::Thread)?;
        Ok((Store { jobs }, StoreThread(thread)))
    }

    /// Runs `work` on the database thread and returns its result.
    pub async fn call<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            // The caller may have gone away (request cancelled); the work is done regardless.
            let _ = reply.send(work(connection));
        });
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        result.await.map_err(|_| StoreError::Closed)?
    }
}

fn run_jobs(mut connection: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.blocking_recv() {
        // A bug in one job must not take the database away from every later request. The
        // caller of the panicked job sees `Closed`; an open transaction rolls back on unwind.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| job(&mut connection)));
        if outcome.is_err() {
            tracing::error!("a database job panicked");
        }
    }
    // Fold the WAL into the main file so the next start opens a compact database.
    if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(%error, "checkpoint at shutdown failed");
    }
}

/// Opens a connection with the node's pragmas and brings the schema up to date.
const STATEMENT_CACHE_CAPACITY: usize = 128;

pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut connection = Connection::open(path).map_err(open_error)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    // The store caches a few dozen distinct statements; with rusqlite's default of 16 they
    // evicted each other and were parsed again and again.
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // Without the query planner stability guarantee, SQLite 3.54 marks a cached statement for
    // re-planning whenever a value bound in its WHERE clause changes (`x = ?1` estimates
    // differ for 0/1, partial-index checks), so `load_event` and the redaction lookup were
    // parsed and planned again for every event received: ~13% of ingesting a backlog.
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(open_error)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(open_error)?;
    migrate(&mut connection)?;
    Ok(connection)
}

/// Milliseconds since the Unix epoch, the unit of every timestamp in the store.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Advances the named stream and returns its new position.
pub fn next_stream_position(connection: &Connection, stream: &str) -> Result<i64, StoreError> {
    Ok(connection
        .prepare_cached(
            "INSERT INTO stream_positions (stream, position) VALUES (?1, 1)
         ON CONFLICT (stream) DO UPDATE SET position = position + 1
         RETURNING position",
        )?
        .query_row([stream], |row| row.get(0))?)
}

/// The latest position of the named stream, 0 if it never advanced.
pub fn current_stream_position(connection: &Connection, stream: &str) -> Result<i64, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(connection
        .query_row(
            "SELECT position FROM stream_positions WHERE stream = ?1",
            [stream],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A migrated database in a temporary directory that lives as long as the guard.
    pub fn temporary_connection() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let connection = open_connection(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
        (dir, connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragmas_are_set() {
        let (_dir, connection) = test_support::temporary_connection();
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous: i64 = connection
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
        let foreign_keys: i64 = connection
            .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
            .unwrap();
        assert_eq!(foreign_keys, 1);
    }

    #[test]
    fn stream_positions_advance_per_stream() {
        let (_dir, connection) = test_support::temporary_connection();
        assert_eq!(current_stream_position(&connection, "a").unwrap(), 0);
        assert_eq!(next_stream_position(&connection, "a").unwrap(), 1);
        assert_eq!(next_stream_position(&connection, "a").unwrap(), 2);
        assert_eq!(next_stream_position(&connection, "b").unwrap(), 1);
        assert_eq!(current_stream_position(&connection, "a").unwrap(), 2);
    }

    #[tokio::test]
    async fn calls_run_on_the_database_thread_and_the_thread_stops_with_the_last_handle() {
        let dir = tempfile::tempdir().unwrap();
        let (store, thread) = Store::open(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
        let position = store
            .call(|connection| next_stream_position(connection, "s"))
            .await
            .unwrap();
        assert_eq!(position, 1);
        drop(store);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .unwrap();
        let connection = open_connection(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
        assert_eq!(current_stream_position(&connection, "s").unwrap(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _thread) = Store::open(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
        let failed = store
            .call(|connection| -> Result<(), StoreError> {
                let transaction = connection.transaction()?;
                next_stream_position(&transaction, "s")?;
                panic!("a bug in a store function");
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Closed)));
        let position = store
            .call(|connection| next_stream_position(connection, "s"))
            .await
            .unwrap();
        assert_eq!(position, 1, "the panicked transaction rolled back");
    }
}
