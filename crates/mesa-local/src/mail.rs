//! Outbound mail on one machine: a maildir (`new/`, `cur/`, `tmp/`) that a person or a mail
//! client can read, or the site's SMTP server (a relay, or submission over TLS with login). Messages are encoded by lettre from the domain's
//! already-validated [`OutgoingMail`].

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mesa::outbox::OutgoingMail;
use mesa::ports::{MailError, Mailer};

/// Writes each message as one file of a maildir. The file is named after the outbox item,
/// so sending the same item twice leaves one message.
pub struct MaildirMailer {
    root: PathBuf,
}

impl MaildirMailer {
    pub fn create(root: &Path) -> std::io::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn already_delivered(&self, name: &str) -> bool {
        if self.root.join("new").join(name).exists() {
            return true;
        }
        // A mail client moves read messages to cur/ with an ":2,FLAGS" suffix.
        std::fs::read_dir(self.root.join("cur"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().starts_with(name))
            })
            .unwrap_or(false)
    }
}

#[async_trait]
impl Mailer for MaildirMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError> {
        let bytes = mail.to_mime()?;
        let name = format!("{}.mesa", mail.outbox_id);
        if self.already_delivered(&name) {
            return Ok(None);
        }
        let tmp = self.root.join("tmp").join(&name);
        let new = self.root.join("new").join(&name);
        let io =
            |e: std::io::Error| MailError::temporary_from(format!("maildir {}", tmp.display()), e);
        tokio::task::spawn_blocking({
            let (tmp, new) = (tmp.clone(), new.clone());
            move || -> std::io::Result<()> {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &new)
            }
        })
        .await
        .map_err(|e| MailError::temporary_from("the maildir writer task failed", e))?
        .map_err(io)?;
        Ok(None)
    }
}

/// How the desk reaches its SMTP server.
#[derive(Default, Clone)]
pub struct SmtpOptions {
    /// The submission password (`MESA_SMTP_PASSWORD`); the user is in the URL.
    pub password: Option<String>,
    /// A certificate authority to trust besides the system's (PEM), for a site's own CA.
    pub extra_roots_pem: Option<Vec<u8>>,
}

/// Sends through the site's SMTP server:
/// - `smtp://host[:25]`: a plain relay on the local network, without login;
/// - `smtp://user@host[:587]?tls=starttls`: submission upgraded with STARTTLS, then login;
/// - `smtps://user@host[:465]`: submission over TLS from the first byte (RFC 8314), then login.
///
/// A password is only ever sent over TLS: `smtp://` without `tls=starttls` refuses a user.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    pub fn from_url(url: &str, options: &SmtpOptions) -> Result<Self, MailError> {
        // Errors name the address without any password in it (they reach the logs).
        let shown = crate::imap::redacted(url);
        let bad = |why: &str| {
            MailError::permanent(format!(
                "SMTP server {shown:?}: {why} (expected smtp://HOST[:PORT], \
                 smtp://USER@HOST[:PORT]?tls=starttls or smtps://USER@HOST[:PORT])"
            ))
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let mut starttls = false;
        for (key, value) in parsed.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "starttls" | "required") => starttls = true,
                _ => return Err(bad(&format!("unknown option {key}={value}"))),
            }
        }
        let (tls_mode, default_port) = match parsed.scheme() {
            "smtps" if starttls => return Err(bad("smtps:// is TLS already; drop ?tls=")),
            "smtps" => ("implicit", 465),
            "smtp" if starttls => ("starttls", 587),
            "smtp" => ("none", 25),
            other => return Err(bad(&format!("unknown scheme {other}://"))),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(parsed.path(), "" | "/") {
            return Err(bad("no path expected"));
        }
        let user = percent_encoding::percent_decode_str(parsed.username())
            .decode_utf8_lossy()
            .into_owned();
        if parsed.password().is_some() {
            return Err(bad(
                "put the password in MESA_SMTP_PASSWORD, not in the address",
            ));
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
            .port(parsed.port().unwrap_or(default_port));
        if tls_mode != "none" {
            let mut params = TlsParameters::builder(host.clone());
            if let Some(pem) = &options.extra_roots_pem {
                let cert = Certificate::from_pem(pem)
                    .map_err(|e| MailError::permanent_from("the CA file", e))?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build_rustls()
                .map_err(|e| MailError::permanent_from("TLS settings", e))?;
            builder = builder.tls(if tls_mode == "implicit" {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            });
        }
        match (user.is_empty(), &options.password) {
            (true, None) => {}
            (true, Some(_)) => {
                return Err(bad(
                    "MESA_SMTP_PASSWORD is set but the address names no user",
                ));
            }
            (false, _) if tls_mode == "none" => {
                return Err(bad(
                    "a login needs TLS: use smtps:// or ?tls=starttls so the password is not sent in clear",
                ));
            }
            (false, None) => return Err(bad("the login needs MESA_SMTP_PASSWORD")),
            (false, Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user, password.clone()))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
        }
        Ok(Self {
            transport: builder.build(),
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError> {
        let bytes = mail.to_mime()?;
        let parse = |a: &str| {
            a.parse::<Address>()
                .map_err(|e| MailError::permanent_from(format!("address {a:?}"), e))
        };
        let envelope = Envelope::new(Some(parse(&mail.from_address)?), vec![parse(&mail.to)?])
            .map_err(|e| MailError::permanent_from("envelope", e))?;
        let sent = tokio::time::timeout(
            SMTP_SEND_TIMEOUT,
            self.transport.send_raw(&envelope, &bytes),
        );
        match sent.await {
            Err(_) => Err(MailError::temporary(format!(
                "SMTP server: no answer within {} s",
                SMTP_SEND_TIMEOUT.as_secs()
            ))),
            Ok(Ok(_)) => Ok(None),
            // A refused login or a missing TLS upgrade is the site's configuration, not this
            // message's fault: the message waits until the setting is fixed.
            Ok(Err(e)) if login_refused(&e) => Err(MailError::temporary_from(
                "the SMTP server refused mesa's login (check MESA_SMTP_URL's user and MESA_SMTP_PASSWORD)",
                e,
            )),
            Ok(Err(e)) if e.is_permanent() => {
                Err(MailError::permanent_from("the SMTP server refused it", e))
            }
            Ok(Err(e)) => Err(MailError::temporary_from("SMTP server", e)),
        }
    }
}

/// The whole exchange for one message (connect, TLS, login, send) takes at most this long:
/// well under the outbox's 60-second lease, so a hung send is given up before another
/// worker may claim the same item. lettre's own timeout does not cover every read of the
/// async transport.
const SMTP_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(25);

/// Replies about the login or TLS (RFC 4954: 530, 534, 535, 538; 454 is temporary anyway).
fn login_refused(e: &lettre::transport::smtp::Error) -> bool {
    e.status()
        .is_some_and(|code| matches!(code.to_string().as_str(), "530" | "534" | "535" | "538"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OutgoingMail {
        OutgoingMail {
            outbox_id: "01JTEST".into(),
            message_id: "<ack.01jtest@mesa.local>".into(),
            from_name: "Soporte Ingressio".into(),
            from_address: "zendesk@ingressio.com".into(),
            to: "ana@bajio.com.mx".into(),
            subject: "[ING-2026-000001] Recibimos su solicitud: lectores sin conexión".into(),
            text: "Folio ING-2026-000001\nSeveridad 2.".into(),
            in_reply_to: Some("<abc@bajio.com.mx>".into()),
            references: vec!["<abc@bajio.com.mx>".into()],
            auto_replied: true,
        }
    }

    #[test]
    fn encodes_threading_and_auto_submitted_headers() {
        let text = String::from_utf8(sample().to_mime().unwrap()).unwrap();
        assert!(
            text.contains("Message-ID: <ack.01jtest@mesa.local>"),
            "{text}"
        );
        assert!(text.contains("In-Reply-To: <abc@bajio.com.mx>"), "{text}");
        assert!(text.contains("References: <abc@bajio.com.mx>"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
        assert!(text.contains("To: ana@bajio.com.mx"), "{text}");
    }

    #[tokio::test]
    async fn maildir_writes_once_per_outbox_item() {
        let dir = tempfile::tempdir().unwrap();
        let m = MaildirMailer::create(dir.path()).unwrap();
        m.send(&sample()).await.unwrap();
        m.send(&sample()).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("new")).unwrap().collect();
        assert_eq!(files.len(), 1);
        // Read by a client (moved to cur/ with flags): still not sent again.
        let f = files.into_iter().next().unwrap().unwrap();
        let read = dir
            .path()
            .join("cur")
            .join(format!("{}:2,S", f.file_name().to_string_lossy()));
        std::fs::rename(f.path(), &read).unwrap();
        m.send(&sample()).await.unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("new")).unwrap().count(),
            0
        );
    }

    #[test]
    fn smtp_addresses_say_what_is_wrong() {
        let ok = |url: &str, password: Option<&str>| {
            let options = SmtpOptions {
                password: password.map(str::to_string),
                extra_roots_pem: None,
            };
            SmtpMailer::from_url(url, &options).map(|_| ())
        };
        ok("smtp://127.0.0.1:2525", None).unwrap();
        ok("smtps://soporte@mail.example", Some("x")).unwrap();
        ok(
            "smtp://soporte%40ingressio.com@mail.example:587?tls=starttls",
            Some("x"),
        )
        .unwrap();
        for (url, password, says) in [
            ("smtp://soporte@mail.example", Some("x"), "needs TLS"),
            ("smtps://soporte@mail.example", None, "MESA_SMTP_PASSWORD"),
            (
                "smtps://soporte:x@mail.example",
                Some("x"),
                "not in the address",
            ),
            ("smtp://mail.example", Some("x"), "names no user"),
            ("smtp://mail.example?tls=maybe", None, "unknown option"),
            ("imap://mail.example", None, "unknown scheme"),
            ("mail.example:25", None, "expected smtp://"),
        ] {
            let err = ok(url, password).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(
                !err.contains(":x@"),
                "the password stays out of errors: {err}"
            );
        }
    }

    #[test]
    fn bad_recipient_is_permanent() {
        let mut m = sample();
        m.to = "not an address".into();
        assert!(matches!(m.to_mime(), Err(MailError::Permanent { .. })));
    }
}
