//! The store's connections: the writer's changes (group-committed, see `writer`), lookups
//! by key on the caller's thread, and queries over many rows in the blocking pool, each on
//! read-only connections of their own beside the writer (WAL).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use mesa::ports::StoreError;
use rusqlite::Connection;

use super::{SqliteStore, backend, writer};

/// Read connections for lookups by key, used on the caller's thread: enough that the few
/// lookups of concurrent intakes (idempotency key, sender, acknowledgement count) rarely
/// meet on one.
pub(super) const LOOKUP_CONNECTIONS: usize = 4;
/// Read connections for queries over many rows (listings, the due index), used in the
/// blocking pool. Kept apart from the lookups', so a lookup never waits behind a scan.
pub(super) const SCAN_CONNECTIONS: usize = 2;

pub(super) struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

/// `execute` and `query_row` with the statement kept prepared: on the hot paths, preparing
/// each statement anew cost more than running it.
pub(super) trait Cached {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

impl SqliteStore {
    /// Runs the change `f` in the writer's next batch; answers once that batch is
    /// committed (on disk), or with the error that kept it out.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::backend(std::io::Error::other("the store's writer stopped"));
        self.writer
            .send(writer::job(f, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs the lookup `f` (by key, on an index: microseconds; at most one ticket's rows)
    /// on a lookup connection, on the caller's thread. Handing each of an intake's few
    /// lookups to the blocking pool cost more in thread wake-ups than the lookups themselves
    /// (see docs/performance.md). A WAL reader does not wait for the writer, and lookup
    /// connections are never held by a scan, so this holds the runtime for microseconds.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        self.lookups.with(f)
    }

    /// Runs the query `f`, which may read many rows, on a read connection in the
    /// blocking pool.
    pub(super) async fn scan<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let scans = self.scans.clone();
        tokio::task::spawn_blocking(move || scans.with(f))
            .await
            .map_err(backend)?
    }
}

impl Readers {
    pub(super) fn open(path: &Path, count: usize) -> Result<Self, StoreError> {
        let conns = (0..count)
            .map(|_| {
                let reader = connect(path)?;
                reader
                    .pragma_update(None, "query_only", "ON")
                    .map_err(backend)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a free connection if there is one, else waits for the next in turn.
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let free = (0..n).find_map(|k| self.conns[(start + k) % n].try_lock().ok());
        let guard = match free {
            Some(g) => g,
            None => match self.conns[start % n].lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            },
        };
        f(&guard)
    }
}

/// One connection with the store's settings.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    // FULL: a ticket acknowledged to the customer survives a power cut too.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(backend)?;
    // Room for every statement the store runs (about 40), so none is prepared twice.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}
