//! mesa on one machine: the SQLite ticket store, maildir and SMTP mailers, directory blobs.

pub mod blobs;
pub mod mail;
pub mod sqlite;

pub use blobs::DirBlobs;
pub use mail::{MaildirMailer, SmtpMailer};
pub use sqlite::SqliteStore;
