//! Mail on one machine, as small sites have it, against real servers started here: Dovecot
//! (IMAP over TLS, mail delivered by its own LDA as the site's MTA would) and an SMTP
//! submission server that demands TLS and a login (aiosmtpd, from `.venv`). Certificates come
//! from a test CA made with openssl; mesa trusts it through `MESA_MAIL_CA_FILE`.
//!
//! Dovecot comes from Debian (`dovecot-imapd`); `tests/run` installs it and sets
//! `MESA_REQUIRE_MAIL_SERVERS`, without which a machine lacking it skips these tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mesa_local::{ImapConfig, ImapInbox, InboundSink};
use mesa_tests::{Pki, Server, free_port, rules_dir, run_ok, workspace};
use serde_json::Value;

const DOVECOT: &str = "/usr/sbin/dovecot";
const LDA: &str = "/usr/lib/dovecot/dovecot-lda";
const MAILBOX_USER: &str = "soporte";
const MAILBOX_PASSWORD: &str = "buzón-de-soporte-2026";
const SUBMISSION_USER: &str = "mesa@ingressio.com";
const SUBMISSION_PASSWORD: &str = "envío-autenticado";

/// Whether the servers are here; panics when they are required but missing.
fn servers_available() -> bool {
    let python = workspace().join(".venv/bin/python");
    let here = Path::new(DOVECOT).exists() && Path::new(LDA).exists() && python.exists();
    if !here && std::env::var_os("MESA_REQUIRE_MAIL_SERVERS").is_some() {
        panic!("dovecot-imapd and .venv (aiosmtpd) are required here but missing");
    }
    if !here {
        eprintln!("skipped: dovecot-imapd or .venv missing (tests/run installs them)");
    }
    here
}

/// Dovecot serving one mailbox over IMAPS on a free port; stopped when dropped.
struct Dovecot {
    config: PathBuf,
    home: PathBuf,
    port: u16,
}

impl Dovecot {
    fn start(dir: &Path, pki: &Pki) -> Dovecot {
        Self::start_with(dir, pki, "")
    }

    /// With extra configuration lines (e.g. the capabilities it announces).
    fn start_with(dir: &Path, pki: &Pki, extra: &str) -> Dovecot {
        let root = dir.join("dovecot");
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        for sub in ["run", "state"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(
            root.join("users"),
            format!("{MAILBOX_USER}:{{PLAIN}}{MAILBOX_PASSWORD}\n"),
        )
        .unwrap();
        // Dovecot will not give mail access to root; as root the mailbox belongs to nobody.
        let root_user = unsafe { libc::geteuid() } == 0;
        let (owner, privileges) = if root_user {
            run_ok(Command::new("chown").args(["-R", "nobody:nogroup", home.to_str().unwrap()]));
            ("uid=nobody gid=nogroup".to_string(), String::new())
        } else {
            let user = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            (
                format!("uid={} gid={}", unsafe { libc::geteuid() }, unsafe {
                    libc::getegid()
                }),
                format!("default_login_user = {user}\ndefault_internal_user = {user}\n"),
            )
        };
        let port = free_port();
        let r = root.display();
        let config = root.join("dovecot.conf");
        std::fs::write(
            &config,
            format!(
                "base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n\
                 {privileges}protocols = imap\nlisten = 127.0.0.1\n\
                 ssl = required\nssl_cert = <{cert}\nssl_key = <{key}\n\
                 disable_plaintext_auth = yes\nauth_mechanisms = plain login\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {r}/users\n}}\n\
                 userdb {{\n  driver = static\n  args = {owner} home={r}/home/%u\n}}\n\
                 mail_location = maildir:~/Maildir\n{extra}\n\
                 service imap-login {{\n  inet_listener imap {{\n    port = 0\n  }}\n  \
                 inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n}}\n",
                cert = pki.cert.display(),
                key = pki.key.display(),
            ),
        )
        .unwrap();
        // Dovecot daemonizes and keeps the descriptors it was given: no pipes to wait on.
        let status = Command::new(DOVECOT)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("dovecot runs");
        assert!(
            status.success(),
            "dovecot started: see {}/dovecot.log",
            root.display()
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "dovecot did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dovecot {
            config,
            home: home.join(MAILBOX_USER).join("Maildir"),
            port,
        }
    }

    /// Delivers `raw` to the mailbox's INBOX with Dovecot's LDA, as the site's MTA does.
    fn deliver(&self, raw: &str, sender: &str) {
        let mut lda = Command::new(LDA)
            .arg("-c")
            .arg(&self.config)
            .args(["-d", MAILBOX_USER, "-f", sender])
            .stdin(Stdio::piped())
            .spawn()
            .expect("dovecot-lda runs");
        use std::io::Write;
        lda.stdin.take().unwrap().write_all(raw.as_bytes()).unwrap();
        assert!(lda.wait().unwrap().success(), "dovecot-lda delivered");
    }

    /// Messages in a folder, read from the maildir on disk (INBOX or `.NAME`).
    fn count(&self, folder: &str) -> usize {
        let dir = if folder == "INBOX" {
            self.home.clone()
        } else {
            self.home.join(format!(".{folder}"))
        };
        ["new", "cur"]
            .iter()
            .map(|sub| {
                std::fs::read_dir(dir.join(sub))
                    .map(|d| d.count())
                    .unwrap_or(0)
            })
            .sum()
    }

    fn imap_url(&self) -> String {
        format!("imaps://{MAILBOX_USER}@localhost:{}/INBOX", self.port)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new(DOVECOT)
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The SMTP submission server, requiring TLS and a login; what it accepts lands in `outdir`.
struct Submission {
    child: Child,
    port: u16,
    outdir: PathBuf,
}

impl Submission {
    fn start(dir: &Path, pki: &Pki, mode: &str) -> Submission {
        let outdir = dir.join(format!("submitted{mode}"));
        let mut child = Command::new(workspace().join(".venv/bin/python"))
            .arg(workspace().join("tests/tools/submission_server.py"))
            .args([
                "--cert",
                pki.cert.to_str().unwrap(),
                "--key",
                pki.key.to_str().unwrap(),
            ])
            .args(["--user", SUBMISSION_USER, "--password", SUBMISSION_PASSWORD])
            .args(["--outdir", outdir.to_str().unwrap(), mode])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the submission server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("submission server said {line:?}"));
        Submission {
            child,
            port,
            outdir,
        }
    }

    /// The messages accepted so far: (raw message, what the server recorded of the session).
    fn accepted(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for n in 1.. {
            let eml = self.outdir.join(format!("{n}.eml"));
            let Ok(raw) = std::fs::read_to_string(&eml) else {
                break;
            };
            let info = std::fs::read_to_string(self.outdir.join(format!("{n}.json"))).unwrap();
            out.push((raw, serde_json::from_str(&info).unwrap()));
        }
        out
    }

    fn wait_for(&self, count: usize, within: Duration) -> Vec<(String, Value)> {
        let started = Instant::now();
        loop {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            assert!(
                started.elapsed() < within,
                "{count} message(s) not submitted within {within:?}: {accepted:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn customer_mail(from: &str, message_id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: soporte@ingressio.com\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Fri, 27 Nov 2026 10:02:00 -0600\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}

fn decoded_subject(raw: &str) -> String {
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_takes_mail_from_the_mailbox_and_acknowledges_through_authenticated_starttls() {
    if !servers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    let dovecot = Dovecot::start(dir.path(), &pki);
    let submission = Submission::start(dir.path(), &pki, "--starttls");

    // A customer's report, delivered to the support mailbox before mesa starts.
    dovecot.deliver(
        &customer_mail(
            "Ana Ramírez <ana.ramirez@bajio.com.mx>",
            "reloj-centro-1@bajio.com.mx",
            "El reloj de la sucursal Centro no registra entradas",
            "Buenos días, desde las 8 de la mañana el reloj checador de la sucursal Centro \
             no registra las entradas del personal, marca error al poner la huella. \
             Saludos, Ana Ramírez",
        ),
        "ana.ramirez@bajio.com.mx",
    );
    assert_eq!(dovecot.count("INBOX"), 1);

    let data = dir.path().join("data");
    let smtp = format!(
        "smtp://{}@localhost:{}?tls=starttls",
        SUBMISSION_USER.replace('@', "%40"),
        submission.port
    );
    let imap = dovecot.imap_url();
    let ca = pki.ca.to_str().unwrap();
    // A poll of an hour: the second message below can only come in that fast through IDLE.
    let server = Server::start_with_env(
        &data,
        &[
            ("MESA_IMAP_URL", imap.as_str()),
            ("MESA_IMAP_PASSWORD", MAILBOX_PASSWORD),
            ("MESA_IMAP_POLL_SECONDS", "3600"),
            ("MESA_SMTP_URL", smtp.as_str()),
            ("MESA_SMTP_PASSWORD", SUBMISSION_PASSWORD),
            ("MESA_MAIL_CA_FILE", ca),
        ],
    );

    let accepted = submission.wait_for(1, Duration::from_secs(30));
    let (raw, session) = &accepted[0];
    assert_eq!(session["login"], SUBMISSION_USER, "{session}");
    assert_eq!(session["tls"], true, "{session}");
    assert_eq!(
        session["rcpt_tos"],
        serde_json::json!(["ana.ramirez@bajio.com.mx"])
    );
    let subject = decoded_subject(raw);
    assert!(
        subject.starts_with("[ING-"),
        "the acknowledgement names the folio: {subject}"
    );
    assert!(
        raw.contains("In-Reply-To: <reloj-centro-1@bajio.com.mx>"),
        "{raw}"
    );

    let (status, list) = server.staff("GET", "/tickets", None);
    assert_eq!(status, 200, "{list}");
    let items = list["tickets"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert!(
        subject.contains(items[0]["folio"].as_str().unwrap()),
        "{subject} / {list}"
    );
    // Stored, so moved out of the INBOX to the processed folder.
    wait_until(
        Duration::from_secs(10),
        "the message moved to mesa-processed",
        || dovecot.count("INBOX") == 0 && dovecot.count("mesa-processed") == 1,
    );

    // A second customer writes while mesa is running: taken at once (IDLE), acknowledged.
    dovecot.deliver(
        &customer_mail(
            "jorge.luna@tornillosdelnorte.mx",
            "nomina-1@tornillosdelnorte.mx",
            "No puedo exportar la nómina",
            "Hola, al exportar el reporte de asistencia para nómina la página se queda cargando. \
             ¿Me pueden apoyar? Gracias.",
        ),
        "jorge.luna@tornillosdelnorte.mx",
    );
    let accepted = submission.wait_for(2, Duration::from_secs(30));
    assert_eq!(
        accepted[1].1["rcpt_tos"],
        serde_json::json!(["jorge.luna@tornillosdelnorte.mx"])
    );
    wait_until(Duration::from_secs(10), "both messages processed", || {
        dovecot.count("INBOX") == 0 && dovecot.count("mesa-processed") == 2
    });
    let (_, list) = server.staff("GET", "/tickets", None);
    assert_eq!(list["tickets"].as_array().unwrap().len(), 2, "{list}");
    drop(server);
}

#[test]
fn acknowledgements_go_out_over_implicit_tls_and_a_wrong_password_loses_nothing() {
    if !servers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    let submission = Submission::start(dir.path(), &pki, "--implicit-tls");
    let data = dir.path().join("data");
    let mail = dir.path().join("report.eml");
    std::fs::write(
        &mail,
        customer_mail(
            "rh@maquiladorasur.com.mx",
            "checador-1@maquiladorasur.com.mx",
            "checador sin conexion",
            "Buenas tardes, el checador de planta 2 dice sin conexión desde ayer.",
        ),
    )
    .unwrap();
    let rules = rules_dir();
    let base = |url: &str, password: &str| -> Vec<(String, String)> {
        vec![
            ("MESA_RULES".into(), rules.display().to_string()),
            ("MESA_SMTP_URL".into(), url.into()),
            ("MESA_SMTP_PASSWORD".into(), password.into()),
            ("MESA_MAIL_CA_FILE".into(), pki.ca.display().to_string()),
        ]
    };
    let url = format!(
        "smtps://{}@localhost:{}",
        SUBMISSION_USER.replace('@', "%40"),
        submission.port
    );
    let with_env = |env: Vec<(String, String)>, args: &[&str]| {
        let out = Command::new(mesa_tests::mesa_bin())
            .args(args)
            .envs(env)
            .output()
            .expect("mesa runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let d = data.to_str().unwrap();
    let taken = with_env(
        base(&url, SUBMISSION_PASSWORD),
        &["intake-email", "--data", d, mail.to_str().unwrap()],
    );
    assert_eq!(taken["outcome"], "created", "{taken}");

    // The wrong password: the server refuses the login, the acknowledgement stays queued.
    let report = with_env(
        base(&url, "no-es-la-clave"),
        &["outbox", "deliver", "--data", d],
    );
    assert_eq!(report["sent"], 0, "{report}");
    assert!(submission.accepted().is_empty());

    assert_eq!(report["failed"], 1, "{report}");

    // Fixed, at the retry a minute later: sent.
    let later = (Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    let report = with_env(
        base(&url, SUBMISSION_PASSWORD),
        &["outbox", "deliver", "--data", d, "--now", &later],
    );
    assert_eq!(report["sent"], 1, "{report}");
    let accepted = submission.wait_for(1, Duration::from_secs(5));
    assert_eq!(accepted[0].1["login"], SUBMISSION_USER);
    assert_eq!(accepted[0].1["tls"], true);
    assert!(decoded_subject(&accepted[0].0).contains(taken["folio"].as_str().unwrap()));
}

/// Stands in for a desk whose store is down, then back.
struct FlakySink {
    fail: std::sync::atomic::AtomicBool,
    taken: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl InboundSink for FlakySink {
    async fn take(
        &self,
        raw: &[u8],
        _at: DateTime<Utc>,
        receiver_id: &str,
    ) -> Result<String, String> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("database is locked".into());
        }
        assert!(String::from_utf8_lossy(raw).contains("Subject: sigue sin registrar"));
        self.taken.lock().unwrap().push(receiver_id.to_string());
        Ok("stored".into())
    }
}

#[tokio::test]
async fn a_message_leaves_the_mailbox_only_once_it_is_stored() {
    if !servers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    // A server without MOVE (RFC 6851): the message is copied, flagged and expunged.
    let dovecot = Dovecot::start_with(
        dir.path(),
        &pki,
        "protocol imap {\n  imap_capability = IMAP4rev1 LITERAL+ UIDPLUS IDLE\n}",
    );
    dovecot.deliver(
        &customer_mail(
            "ana.ramirez@bajio.com.mx",
            "sigue-1@bajio.com.mx",
            "sigue sin registrar",
            "El reloj sigue igual.",
        ),
        "ana.ramirez@bajio.com.mx",
    );
    let mut config = ImapConfig::from_url(&dovecot.imap_url(), MAILBOX_PASSWORD).unwrap();
    config.extra_roots_pem = Some(std::fs::read(&pki.ca).unwrap());
    let inbox = ImapInbox::new(config.clone()).unwrap();
    let sink = FlakySink {
        fail: true.into(),
        taken: Default::default(),
    };

    let report = inbox.take_waiting(&sink).await.unwrap();
    assert_eq!((report.taken, report.left), (0, 1));
    assert_eq!(
        dovecot.count("INBOX"),
        1,
        "not stored, so still in the INBOX"
    );

    sink.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let report = inbox.take_waiting(&sink).await.unwrap();
    assert_eq!((report.taken, report.left), (1, 0));
    assert_eq!(
        (dovecot.count("INBOX"), dovecot.count("mesa-processed")),
        (0, 1)
    );
    let report = inbox.take_waiting(&sink).await.unwrap();
    assert_eq!((report.taken, report.left), (0, 0), "taken once");
    assert_eq!(sink.taken.lock().unwrap().len(), 1);

    // A wrong password or a certificate mesa does not trust is a clear error, not a hang.
    let wrong = ImapConfig::from_url(&dovecot.imap_url(), "otra").map(|mut c| {
        c.extra_roots_pem = config.extra_roots_pem.clone();
        c
    });
    let err = ImapInbox::new(wrong.unwrap())
        .unwrap()
        .take_waiting(&sink)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("login"), "{err}");
    let untrusted = ImapConfig::from_url(&dovecot.imap_url(), MAILBOX_PASSWORD).unwrap();
    let err = ImapInbox::new(untrusted)
        .unwrap()
        .take_waiting(&sink)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}

/// Stands in for a desk, and cuts the server off (through `stall`) once it has the message.
struct StallingSink {
    stall: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait]
impl InboundSink for StallingSink {
    async fn take(&self, _raw: &[u8], _at: DateTime<Utc>, _id: &str) -> Result<String, String> {
        self.stall.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok("stored".into())
    }
}

/// Forwards TCP to `upstream`, withholding everything the server says once `stall` is set
/// (the connection stays open): a server, or a NAT on the way, that stops answering.
async fn stalling_proxy(
    upstream: u16,
    stall: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                .await
                .unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            let stall = stall.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if stall.load(std::sync::atomic::Ordering::SeqCst) {
                        // Silence, with the connection held open.
                        std::future::pending::<()>().await;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_server_that_stops_answering_after_login_is_a_clear_error_not_a_hang() {
    if !servers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    let dovecot = Dovecot::start(dir.path(), &pki);
    dovecot.deliver(
        &customer_mail(
            "ana.ramirez@bajio.com.mx",
            "calla-1@bajio.com.mx",
            "sigue sin registrar",
            "El reloj sigue igual.",
        ),
        "ana.ramirez@bajio.com.mx",
    );
    let stall = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = stalling_proxy(dovecot.port, stall.clone()).await;
    let url = format!("imaps://{MAILBOX_USER}@localhost:{port}/INBOX");
    let mut config = ImapConfig::from_url(&url, MAILBOX_PASSWORD).unwrap();
    config.extra_roots_pem = Some(std::fs::read(&pki.ca).unwrap());
    config.command_timeout = Duration::from_secs(1);
    let sink = StallingSink { stall };
    // The message is handed over, then the server goes silent before it is moved.
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        ImapInbox::new(config).unwrap().take_waiting(&sink),
    )
    .await
    .expect("a stalled server must not hang intake");
    let err = outcome.unwrap_err();
    assert!(err.to_string().contains("no answer within"), "{err}");
    // Left in the folder: the next session takes it again (as a duplicate of what was stored).
    assert_eq!(dovecot.count("INBOX"), 1);
}
