//! The help desk on one machine: `mesa serve` and the commands that work on its data
//! directory (SQLite store, blobs, outbox maildir).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use mesa::desk::{Desk, DeskConfig};
use mesa::model::EmailAddress;
use mesa::policy::{LiveRules, Policy};
use mesa::ports::{Clock, FixedClock, MailPager, Mailer, SystemClock};
use mesa_local::{
    DirBlobs, ImapConfig, ImapInbox, InboundSink, MaildirMailer, SmtpMailer, SmtpOptions,
    SqliteStore,
};

use crate::rules_source::RulesSource;

#[derive(Args, Clone)]
pub struct DataArg {
    /// Data directory: SQLite database, blobs, outbox maildir, secret key
    #[arg(
        long,
        env = "MESA_DATA",
        default_value = "mesa-data",
        value_name = "DIR"
    )]
    pub data: PathBuf,
}

pub struct Local {
    pub desk: Arc<Desk>,
    pub store: Arc<SqliteStore>,
    pub data: PathBuf,
}

/// Reads or creates the key that signs survey links and form tokens, so that links keep
/// working across restarts.
fn secret(data: &Path) -> Result<Vec<u8>> {
    let path = data.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => bail!(
            "{} is too short (expected at least 32 characters)",
            path.display()
        ),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()));
        }
        Err(_) => {}
    }
    let key: String = (0..48)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(key.as_bytes())?;
    Ok(key.into_bytes())
}

/// The certificate authority named by `MESA_MAIL_CA_FILE` (PEM), trusted besides the system's
/// for the site's IMAP and SMTP servers.
fn mail_ca() -> Result<Option<Vec<u8>>> {
    match std::env::var("MESA_MAIL_CA_FILE") {
        Ok(path) if !path.is_empty() => std::fs::read(&path)
            .map(Some)
            .with_context(|| format!("MESA_MAIL_CA_FILE: cannot read {path}")),
        _ => Ok(None),
    }
}

/// Opens the data directory (creating it) with the rules from `source`.
pub fn open(
    data: &Path,
    source: &RulesSource,
    public_url: &str,
    now: Option<DateTime<Utc>>,
) -> Result<Local> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    let policy = Policy::activate(source.bundle()?)?;
    let store =
        Arc::new(SqliteStore::open(&data.join("mesa.sqlite")).context("opening the SQLite store")?);
    let blobs =
        Arc::new(DirBlobs::create(&data.join("blobs")).context("creating the blob directory")?);
    let mailer: Arc<dyn Mailer> = match std::env::var("MESA_SMTP_URL") {
        Ok(url) if !url.is_empty() => {
            let options = SmtpOptions {
                password: std::env::var("MESA_SMTP_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty()),
                extra_roots_pem: mail_ca()?,
            };
            Arc::new(SmtpMailer::from_url(&url, &options)?)
        }
        _ => Arc::new(
            MaildirMailer::create(&data.join("outbox")).context("creating the outbox maildir")?,
        ),
    };
    let clock: Arc<dyn Clock> = match now {
        Some(t) => Arc::new(FixedClock(t)),
        None => Arc::new(SystemClock),
    };
    let mut config = DeskConfig::new(public_url, &secret(data)?);
    if let Ok(team) = std::env::var("MESA_TEAM") {
        if !team.trim().is_empty() {
            let to = EmailAddress::parse(&team)
                .with_context(|| format!("MESA_TEAM={team:?} is not an e-mail address"))?;
            config.team_address = Some(to.as_str().to_string());
        }
    }
    if let Ok(domain) = std::env::var("MESA_MAIL_DOMAIN") {
        if !domain.is_empty() {
            config.mail_domain = domain;
        }
    }
    let mut desk = Desk::new(
        store.clone(),
        mailer.clone(),
        blobs,
        Arc::new(LiveRules::new(policy)),
        clock,
        config,
    );
    // Critical reports page the on-call address through the same mailer, at any hour.
    if let Ok(on_call) = std::env::var("MESA_ONCALL") {
        if !on_call.trim().is_empty() {
            let to = EmailAddress::parse(&on_call)
                .with_context(|| format!("MESA_ONCALL={on_call:?} is not an e-mail address"))?;
            desk = desk.with_pager(Arc::new(MailPager::new(mailer, to)));
        }
    }
    let desk = Arc::new(desk);
    Ok(Local {
        desk,
        store,
        data: data.to_path_buf(),
    })
}

/// Like [`open`], but a data directory that does not exist is an error (a typo must not
/// silently create an empty help desk).
pub(crate) fn open_existing(data: &Path, source: &RulesSource) -> Result<Local> {
    if !data.join("mesa.sqlite").exists() {
        bail!(
            "{} holds no mesa data (start `mesa serve --data {}` first)",
            data.display(),
            data.display()
        );
    }
    open(data, source, "http://127.0.0.1:8080", None)
}

pub(crate) fn print(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

// ------------------------------------------------------------------ serve

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataArg,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Public base URL of the pages, for links in e-mails [default: http://ADDR]
    #[arg(long, env = "MESA_PUBLIC_URL")]
    public_url: Option<String>,
    /// How often the workspace's queue page refreshes itself, in seconds
    #[arg(long, env = "MESA_PANEL_REFRESH_SECONDS", default_value_t = 30)]
    panel_refresh_seconds: u32,
    /// The support mailbox to take customers' mail from, over TLS:
    /// imaps://USER@HOST[:993][/FOLDER] (password in MESA_IMAP_PASSWORD)
    #[arg(long, env = "MESA_IMAP_URL", value_name = "URL")]
    imap: Option<String>,
    /// The mailbox folder a message is moved to once its ticket is stored (created if missing)
    #[arg(long, env = "MESA_IMAP_PROCESSED", default_value = "mesa-processed")]
    imap_processed: String,
    /// The longest wait between two looks at the mailbox, in seconds (with IDLE, new mail
    /// is taken at once)
    #[arg(long, env = "MESA_IMAP_POLL_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    imap_poll_seconds: u32,
    /// Customer submissions (form, API, uploads, surveys) a minute from one client address
    /// before it is answered 429 with Retry-After; 0 turns the limit off (behind a proxy
    /// every client has the proxy's address: limit there instead)
    #[arg(long, env = "MESA_SUBMISSIONS_PER_MINUTE", default_value_t = 60)]
    submissions_per_minute: u32,
}

/// The mailbox reader `serve` runs beside the HTTP server, if one is configured.
fn mailbox(args: &ServeArgs) -> Result<Option<ImapInbox>> {
    let Some(url) = args.imap.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let password = std::env::var("MESA_IMAP_PASSWORD").unwrap_or_default();
    let mut config = ImapConfig::from_url(url, &password)?;
    config.processed_folder = args.imap_processed.clone();
    if config.processed_folder == config.folder {
        bail!(
            "--imap-processed {:?} is the folder mail is taken from",
            config.processed_folder
        );
    }
    config.poll = StdDuration::from_secs(u64::from(args.imap_poll_seconds));
    config.extra_roots_pem = mail_ca()?;
    Ok(Some(ImapInbox::new(config)?))
}

pub async fn serve(args: ServeArgs, source: RulesSource) -> Result<()> {
    let inbox = mailbox(&args)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    // The address bound, not the one asked for: with port 0 the system chose it, and the
    // links in mail must name it.
    let bound = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{bound}"));
    let local = open(&args.data.data, &source, &public_url, None)?;
    let staff_token = match std::env::var("MESA_STAFF_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let t: String = (0..24)
                .map(|_| format!("{:02x}", rand::random::<u8>()))
                .collect();
            eprintln!("staff API token (set MESA_STAFF_TOKEN to choose one): {t}");
            t
        }
    };
    let outbox_dir = local.data.join("outbox").join("new");
    eprintln!(
        "mesa listening on http://{bound}  (workspace http://{bound}/panel/; rules {}, version {}; data {}; outbox {})",
        source.describe(),
        local.desk.policy().version(),
        local.data.display(),
        outbox_dir.display()
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(outbox_loop(local.desk.clone(), stop_rx.clone()));
    let sweep = tokio::spawn(sweep_loop(local.desk.clone(), source, stop_rx.clone()));
    let mail_in = inbox.map(|inbox| {
        let sink: Arc<dyn InboundSink> = local.desk.clone();
        tokio::spawn(inbox.run(sink, stop_rx.clone()))
    });
    let mut state = mesa_http::AppState::new(local.desk.clone(), staff_token)
        .with_panel_refresh_seconds(args.panel_refresh_seconds);
    if let Some(per_minute) = std::num::NonZeroU32::new(args.submissions_per_minute) {
        state = state.with_submission_limit(per_minute);
    }
    let app = mesa_http::router(Arc::new(state));
    // The peer's address for the submission limit.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("HTTP server")?;
    // Requests are finished; let the workers end their current pass, then stop.
    let _ = stop_tx.send(true);
    let _ = outbox.await;
    let _ = sweep.await;
    if let Some(mail_in) = mail_in {
        let _ = mail_in.await;
    }
    eprintln!("mesa stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Sends pending mail every second (acks go out within seconds of the ticket), and at once
/// again while a pass leaves items due: after a burst, a pause between passes of a thousand
/// would cap delivery far below intake.
async fn outbox_loop(desk: Arc<Desk>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match desk.deliver_outbox().await {
            Ok(report) if report.more_due => {
                if *stop.borrow() {
                    return;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "outbox pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(StdDuration::from_secs(1)) => {},
            _ = stop.changed() => return,
        }
    }
}

/// Runs the SLA sweep every minute, and picks up edited rules (if they load and pass their
/// vectors; otherwise the running rules stay).
async fn sweep_loop(
    desk: Arc<Desk>,
    source: RulesSource,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let RulesSource::Directory(_) = source {
            match source.bundle() {
                Ok(bundle) => match desk.rules().try_replace(bundle) {
                    Ok(v) if v != *desk.policy().version() => {}
                    Ok(_) => {}
                    Err(e) => desk.rules_rejected(&e),
                },
                Err(e) => tracing::error!(error = %e, "cannot read the rules directory"),
            }
        }
        match desk.sweep(desk.now()).await {
            Ok(r) if r.warnings + r.breaches + r.redriven > 0 => tracing::warn!(?r, "sweep"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(StdDuration::from_secs(60)) => {},
            _ = stop.changed() => return,
        }
    }
}

// ------------------------------------------------------------------ intake, sweep

pub async fn intake_email(
    data: &Path,
    source: &RulesSource,
    file: &Path,
    received_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let local = open(data, source, "http://127.0.0.1:8080", received_at)?;
    let at = received_at.unwrap_or_else(|| local.desk.now());
    let outcome = local.desk.intake_email(&raw, at).await?;
    print(&outcome)
}

pub async fn sweep(data: &Path, source: &RulesSource, now: Option<DateTime<Utc>>) -> Result<()> {
    let local = open(data, source, "http://127.0.0.1:8080", now)?;
    let report = local.desk.sweep(local.desk.now()).await?;
    print(&report)
}

pub async fn deliver(data: &Path, source: &RulesSource, now: Option<DateTime<Utc>>) -> Result<()> {
    let local = open(data, source, "http://127.0.0.1:8080", now)?;
    print(&local.desk.deliver_outbox().await?)
}

/// Prints the mail set aside (JSON), newest first.
pub async fn set_aside(data: &Path, source: &RulesSource) -> Result<()> {
    let local = open_existing(data, source)?;
    print(&local.desk.set_aside_mail().await?)
}
