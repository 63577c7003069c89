//! mesa on one machine: the SQLite ticket store, maildir and SMTP mailers, the IMAP mailbox,
//! directory blobs.

pub mod blobs;
pub mod imap;
pub mod mail;
pub mod sqlite;

pub use blobs::DirBlobs;
pub use imap::{ImapConfig, ImapInbox, InboundSink};
pub use mail::{MaildirMailer, SmtpMailer, SmtpOptions};
pub use sqlite::SqliteStore;
