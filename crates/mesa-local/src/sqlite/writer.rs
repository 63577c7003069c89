//! Group commit: one thread owns the connection that writes, and commits every change
//! waiting at that moment in one transaction, so one fsync serves many tickets.
//!
//! Each change runs in its own SAVEPOINT inside the batch's transaction: a change that
//! fails is rolled back alone and its caller gets its own error, while the others commit.
//! No caller is answered before the COMMIT has returned (with `synchronous=FULL`, before
//! the WAL is on disk), so an answer the customer saw survives a crash. SQLite has no
//! group commit of its own and the pooling crates (r2d2, deadpool) pool connections, not
//! transactions, hence this small loop.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use mesa::ports::StoreError;
use rusqlite::Connection;
use rusqlite::ffi::ErrorCode;

/// The most changes one transaction takes: enough that a burst commits in few fsyncs,
/// few enough that the first caller of a batch does not wait long for the last.
const MAX_BATCH: usize = 256;

/// What a change tells the writer once it has run: whether to keep it, and how to answer
/// its caller once the batch's fate is known.
pub(super) struct Ran {
    kept: bool,
    answer: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

/// A change waiting for the writer, with the channel its caller waits on.
pub(super) trait Change: Send {
    /// Runs the change inside the batch's transaction.
    fn run(self: Box<Self>, conn: &Connection) -> Ran;
    /// Answers the caller without running: the batch could not take it.
    fn refuse(self: Box<Self>, e: StoreError);
}

pub(super) type Job = Box<dyn Change>;

struct Pending<T, F> {
    change: F,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

/// Wraps a change and the channel its caller waits on into a job for the writer.
pub(super) fn job<T, F>(
    change: F,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    Box::new(Pending { change, reply })
}

impl<T, F> Change for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Ran {
        let Pending { change, reply } = *self;
        let result = match catch_unwind(AssertUnwindSafe(|| change(conn))) {
            Ok(r) => r,
            Err(_) => Err(failure("a store change panicked; it was rolled back")),
        };
        Ran {
            kept: result.is_ok(),
            answer: Box::new(move |commit_failed| {
                let answer = match (result, commit_failed) {
                    (Ok(_), Some(e)) => Err(e),
                    (r, _) => r,
                };
                // The caller may have gone (its request was cancelled): nothing to tell.
                let _ = reply.send(answer);
            }),
        }
    }

    fn refuse(self: Box<Self>, e: StoreError) {
        let _ = self.reply.send(Err(e));
    }
}

fn failure(why: &str) -> StoreError {
    StoreError::backend(std::io::Error::other(why.to_string()))
}

/// A database error as the store reports it: locked or busy is worth retrying.
pub(super) fn classify(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::busy(e),
        _ => StoreError::backend(e),
    }
}

/// Runs until every sender is dropped: takes the first waiting change, then every other
/// one already queued (up to [`MAX_BATCH`]), and commits them together.
pub(super) fn run(conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    if !conn.is_autocommit() {
        // A ROLLBACK after a failed batch failed too: end that transaction first, or every
        // later batch would fail to begin.
        let _ = conn.execute_batch("ROLLBACK");
    }
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        let e = classify(e);
        for job in batch {
            // Not run: each caller is told the store could not start its change.
            job.refuse(copy_of(&e));
        }
        return;
    }
    let mut answers = Vec::with_capacity(batch.len());
    let mut broken: Option<StoreError> = None;
    for job in batch {
        if let Some(e) = &broken {
            job.refuse(copy_of(e));
            continue;
        }
        if let Err(e) = run_cached(conn, "SAVEPOINT change") {
            let e = classify(e);
            job.refuse(copy_of(&e));
            broken = Some(e);
            continue;
        }
        let ran = job.run(conn);
        let undo = if ran.kept {
            run_cached(conn, "RELEASE change")
        } else {
            run_cached(conn, "ROLLBACK TO change").and_then(|_| run_cached(conn, "RELEASE change"))
        };
        if let Err(e) = undo {
            // The transaction is no longer sound (disk full, I/O error): nothing in it
            // may be kept.
            broken = Some(classify(e));
        }
        answers.push(ran.answer);
    }
    let outcome = match broken {
        Some(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Some(e)
        }
        None => match run_cached(conn, "COMMIT") {
            Ok(()) => None,
            Err(e) => {
                // A failed COMMIT may leave the transaction open; end it so the next
                // batch starts clean.
                let _ = conn.execute_batch("ROLLBACK");
                Some(classify(e))
            }
        },
    };
    for answer in answers {
        answer(outcome.as_ref().map(copy_of));
    }
}

/// One statement, kept prepared: these run around every change.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// StoreError is not Clone (it keeps its cause); each caller gets its own copy.
fn copy_of(e: &StoreError) -> StoreError {
    let copy = std::io::Error::other(e.to_string());
    if matches!(e, StoreError::Busy(_)) {
        StoreError::busy(copy)
    } else {
        StoreError::backend(copy)
    }
}
