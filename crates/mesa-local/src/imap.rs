//! Inbound mail on one machine: the desk's mailbox on the site's IMAP server, read over TLS.
//!
//! Each message waiting in the folder is handed to the desk and moved to the processed folder
//! only after the desk has stored it, so a crash or an outage between the two leaves it in
//! the folder and the next pass takes it again; the desk knows it by the server's UID (the
//! receiver id), so it is not taken twice. Between passes the session waits with IDLE when
//! the server offers it (a new message is taken within a second or two), else it polls.

use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mesa::desk::{Desk, EmailOutcome, InboundMeta};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

type ImapSession = Session<TlsStream<TcpStream>>;

/// How long connecting, the TLS handshake and the login may take before the pass gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A server that has not answered one command in this long is taken for gone: the session is
/// dropped and a new one made later. Without it a connection that stalls after login (a
/// dropped NAT mapping, a hung server) would stop intake without a word. Two minutes leaves
/// room for fetching a large message over a slow link.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest wait before reconnecting after a failure (doubling from one second).
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP configuration: {0}")]
    Config(String),
    #[error("IMAP server {server}: {message}")]
    Server { server: String, message: String },
}

/// Where the desk's mail waits and how to log in.
#[derive(Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The folder customers' mail arrives in (usually INBOX).
    pub folder: String,
    /// Where a message goes once the desk has stored it; created if missing.
    pub processed_folder: String,
    /// How long to wait between passes when the server has no IDLE (and at most with it).
    pub poll: Duration,
    /// A certificate authority to trust besides the system's (PEM), for a site's own CA.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// How long one command may go unanswered before the session is given up.
    pub command_timeout: Duration,
}

impl std::fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("folder", &self.folder)
            .field("processed_folder", &self.processed_folder)
            .finish_non_exhaustive()
    }
}

impl ImapConfig {
    /// Reads `imaps://USER@HOST[:PORT][/FOLDER]` (port 993 and INBOX by default). Only
    /// implicit TLS is offered: RFC 8314 prefers it to STARTTLS for mail access, and every
    /// server small sites use has it.
    pub fn from_url(url: &str, password: &str) -> Result<Self, ImapError> {
        // Errors name the address without any password in it (they reach the logs).
        let shown = redacted(url);
        let bad = |why: &str| {
            ImapError::Config(format!(
                "{shown:?}: {why} (expected imaps://USER@HOST[:PORT][/FOLDER])"
            ))
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "imaps" {
            return Err(bad("only imaps:// (IMAP over TLS) is supported"));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let user = percent_decode(parsed.username());
        if user.is_empty() {
            return Err(bad("no user"));
        }
        if parsed.password().is_some() {
            return Err(bad(
                "put the password in MESA_IMAP_PASSWORD, not in the address",
            ));
        }
        if password.is_empty() {
            return Err(ImapError::Config(
                "MESA_IMAP_PASSWORD is empty: the mailbox's password is needed".into(),
            ));
        }
        let folder = percent_decode(parsed.path().trim_matches('/'));
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(993),
            user,
            password: password.to_string(),
            folder: if folder.is_empty() {
                "INBOX".into()
            } else {
                folder
            },
            processed_folder: "mesa-processed".into(),
            poll: Duration::from_secs(60),
            extra_roots_pem: None,
            command_timeout: COMMAND_TIMEOUT,
        })
    }

    fn server(&self) -> String {
        format!("{}:{} ({})", self.host, self.port, self.user)
    }
}

/// `url` with any password replaced by `***`, for error messages.
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // Unparsable: it may still hold "user:secret@"; keep only what follows the '@'.
        Err(_) => url
            .rsplit_once('@')
            .map_or_else(|| url.to_string(), |(_, host)| format!("…@{host}")),
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// What takes a message from the mailbox: the desk, or in tests a stand-in that fails.
#[async_trait]
pub trait InboundSink: Send + Sync {
    /// Stores the message; `Ok` only once it is safe to remove it from the mailbox.
    async fn take(
        &self,
        raw: &[u8],
        received_at: DateTime<Utc>,
        receiver_id: &str,
    ) -> Result<String, String>;
}

#[async_trait]
impl InboundSink for Desk {
    async fn take(
        &self,
        raw: &[u8],
        received_at: DateTime<Utc>,
        receiver_id: &str,
    ) -> Result<String, String> {
        let meta = InboundMeta {
            receiver_id: Some(receiver_id.to_string()),
            quarantine: None,
        };
        let outcome: EmailOutcome = self
            .intake_email_with(raw, received_at, &meta)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "{:?} {}",
            outcome.outcome,
            outcome.folio.map(|f| f.to_string()).unwrap_or_default()
        ))
    }
}

/// The desk's mailbox.
pub struct ImapInbox {
    config: ImapConfig,
    tls: TlsConnector,
}

/// What one pass over the folder did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Messages stored by the sink and moved to the processed folder.
    pub taken: usize,
    /// Messages the sink could not store this time; they stay in the folder.
    pub left: usize,
}

impl ImapInbox {
    pub fn new(config: ImapConfig) -> Result<Self, ImapError> {
        let mut roots = RootCertStore::empty();
        // The system's authorities, as for any mail client; unreadable ones are skipped.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(pem) = &config.extra_roots_pem {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| ImapError::Config(format!("the CA file is not PEM: {e}")))?;
            if certs.is_empty() {
                return Err(ImapError::Config("the CA file holds no certificate".into()));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| ImapError::Config(format!("the CA file: {e}")))?;
            }
        }
        if roots.is_empty() {
            return Err(ImapError::Config(
                "no trusted certificate authority: the system has none and no CA file was given"
                    .into(),
            ));
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ImapError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config,
            tls: TlsConnector::from(Arc::new(tls)),
        })
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> ImapError {
        ImapError::Server {
            server: self.config.server(),
            message: format!("{what}: {e}"),
        }
    }

    /// One command (or a command and the responses it streams), given up after the
    /// configured command timeout.
    async fn within<T, E: std::fmt::Display>(
        &self,
        what: &str,
        command: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, ImapError> {
        let limit = self.config.command_timeout;
        match tokio::time::timeout(limit, command).await {
            Ok(answer) => answer.map_err(|e| self.fail(what, e)),
            Err(_) => Err(self.fail(what, format!("no answer within {} s", limit.as_secs_f32()))),
        }
    }

    /// Connects, logs in, makes sure the processed folder exists and selects the folder.
    /// Returns the session and the folder's UIDVALIDITY.
    async fn connect(&self) -> Result<(ImapSession, u32), ImapError> {
        let c = &self.config;
        let connect = async {
            let tcp = TcpStream::connect((c.host.as_str(), c.port))
                .await
                .map_err(|e| self.fail("connecting", e))?;
            let name = ServerName::try_from(c.host.clone())
                .map_err(|e| ImapError::Config(format!("host {:?}: {e}", c.host)))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| self.fail("TLS", e))?;
            let mut client = async_imap::Client::new(tls);
            client
                .read_response()
                .await
                .map_err(|e| self.fail("greeting", e))?
                .ok_or_else(|| self.fail("greeting", "the server closed the connection"))?;
            client
                .login(&c.user, &c.password)
                .await
                .map_err(|(e, _)| self.fail("login", e))
        };
        let mut session = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| self.fail("connecting", "no answer within 30 s"))??;
        let existing: Vec<_> = self
            .within("LIST", async {
                session
                    .list(None, Some(&c.processed_folder))
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        if existing.is_empty() {
            self.within(
                &format!("creating {:?}", c.processed_folder),
                session.create(&c.processed_folder),
            )
            .await?;
        }
        let mailbox = self
            .within(
                &format!("selecting {:?}", c.folder),
                session.select(&c.folder),
            )
            .await?;
        Ok((session, mailbox.uid_validity.unwrap_or(0)))
    }

    /// Takes every message waiting in the folder, oldest first, one at a time.
    async fn pass(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        sink: &dyn InboundSink,
    ) -> Result<PassReport, ImapError> {
        let c = &self.config;
        let mut uids: Vec<u32> = self
            .within("SEARCH", session.uid_search("ALL"))
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        let mut report = PassReport::default();
        for uid in uids {
            let fetched: Vec<_> = self
                .within("FETCH", async {
                    session
                        .uid_fetch(uid.to_string(), "(UID INTERNALDATE BODY.PEEK[])")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                })
                .await?;
            let Some(message) = fetched.iter().find(|m| m.uid == Some(uid)) else {
                continue; // expunged by someone else meanwhile
            };
            let Some(raw) = message.body() else {
                tracing::error!(
                    uid,
                    "the server sent no body for the message; left in the folder"
                );
                report.left += 1;
                continue;
            };
            let received_at = message
                .internal_date()
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_else(Utc::now);
            let receiver_id = format!(
                "imap:{}@{}/{}:{uid_validity}:{uid}",
                c.user, c.host, c.folder
            );
            match sink.take(raw, received_at, &receiver_id).await {
                Ok(what) => {
                    tracing::info!(uid, outcome = %what, "mailbox message taken");
                    self.move_to_processed(session, uid).await?;
                    report.taken += 1;
                }
                Err(e) => {
                    // Left in the folder: the next pass tries again.
                    tracing::error!(uid, error = %e, "mailbox message not stored; left in the folder");
                    report.left += 1;
                }
            }
        }
        Ok(report)
    }

    /// Moves a stored message out of the folder: MOVE (RFC 6851) where the server has it,
    /// else copy, flag deleted and expunge.
    async fn move_to_processed(
        &self,
        session: &mut ImapSession,
        uid: u32,
    ) -> Result<(), ImapError> {
        let c = &self.config;
        let what = || format!("moving UID {uid} to {:?}", c.processed_folder);
        let has_move = self
            .within("CAPABILITY", session.capabilities())
            .await?
            .has_str("MOVE");
        if has_move {
            return self
                .within(
                    &what(),
                    session.uid_mv(uid.to_string(), &c.processed_folder),
                )
                .await;
        }
        self.within(
            &what(),
            session.uid_copy(uid.to_string(), &c.processed_folder),
        )
        .await?;
        self.within(&what(), async {
            session
                .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        self.within(&what(), async {
            session.expunge().await?.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(())
    }

    /// One connection, one pass, logout: what a cron job or a test does.
    pub async fn take_waiting(&self, sink: &dyn InboundSink) -> Result<PassReport, ImapError> {
        let (mut session, validity) = self.connect().await?;
        let report = self.pass(&mut session, validity, sink).await;
        let _ = self.within("LOGOUT", session.logout()).await;
        report
    }

    /// Takes mail until `stop` turns true: a pass, then IDLE (or a poll interval) until the
    /// folder changes, again and again; a lost connection is reopened with backoff.
    pub async fn run(self, sink: Arc<dyn InboundSink>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        while !*stop.borrow() {
            let started = std::time::Instant::now();
            match self.session_loop(sink.as_ref(), &mut stop).await {
                Ok(()) => return,
                Err(e) => {
                    // A session that worked for a while starts the backoff afresh.
                    if started.elapsed() > MAX_BACKOFF {
                        backoff = Duration::from_secs(1);
                    }
                    tracing::error!(error = %e, retry_in_s = backoff.as_secs(), "mailbox");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn session_loop(
        &self,
        sink: &dyn InboundSink,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ImapError> {
        let (mut session, validity) = self.connect().await?;
        let idle = self
            .within("CAPABILITY", session.capabilities())
            .await?
            .has_str("IDLE");
        tracing::info!(server = %self.config.server(), folder = %self.config.folder, idle, "mailbox connected");
        loop {
            let report = self.pass(&mut session, validity, sink).await?;
            if report.left > 0 {
                // The store is failing: wait before trying those messages again.
                return Err(self.fail("storing", format!("{} message(s) left", report.left)));
            }
            if *stop.borrow() {
                let _ = self.within("LOGOUT", session.logout()).await;
                return Ok(());
            }
            if idle {
                let mut handle = session.idle();
                self.within("IDLE", handle.init()).await?;
                let woke = {
                    // async-imap restarts its timeout on each keepalive ("* OK Still
                    // here"); the poll interval caps the wait all the same.
                    let (wait, _interrupt) = handle.wait_with_timeout(self.config.poll);
                    tokio::select! {
                        r = tokio::time::timeout(self.config.poll, wait) => Some(r.unwrap_or(Ok(IdleResponse::Timeout))),
                        _ = stop.changed() => None,
                    }
                };
                let stopped = match woke {
                    None => true,
                    Some(Ok(_)) => false, // new data, a keepalive or the poll interval
                    Some(Err(e)) => return Err(self.fail("IDLE", e)),
                };
                session = self.within("DONE", handle.done()).await?;
                if stopped {
                    let _ = self.within("LOGOUT", session.logout()).await;
                    return Ok(());
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll) => {}
                    _ = stop.changed() => {
                        let _ = self.within("LOGOUT", session.logout()).await;
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mailbox_address() {
        let c = ImapConfig::from_url("imaps://soporte%40ingressio.com@mail.ingressio.com", "x")
            .unwrap();
        assert_eq!(c.user, "soporte@ingressio.com");
        assert_eq!(c.host, "mail.ingressio.com");
        assert_eq!((c.port, c.folder.as_str()), (993, "INBOX"));
        let c = ImapConfig::from_url("imaps://soporte@127.0.0.1:10993/Soporte", "x").unwrap();
        assert_eq!((c.port, c.folder.as_str()), (10993, "Soporte"));
    }

    #[test]
    fn refuses_what_would_leak_or_cannot_work() {
        for (url, password, says) in [
            ("imap://soporte@mail.example", "x", "only imaps://"),
            ("imaps://mail.example", "x", "no user"),
            (
                "imaps://soporte:secreto@mail.example",
                "x",
                "MESA_IMAP_PASSWORD",
            ),
            ("imaps://soporte@mail.example", "", "password"),
            ("mail.example", "x", "expected imaps://"),
        ] {
            let err = ImapConfig::from_url(url, password).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(
                !err.contains("secreto"),
                "the password stays out of errors: {err}"
            );
        }
    }
}
