//! Outbound mail on one machine: a maildir (`new/`, `cur/`, `tmp/`) that a person or a mail
//! client can read, or an SMTP relay. Messages are encoded by lettre from the domain's
//! already-validated [`OutgoingMail`].

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::address::Envelope;
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

/// Sends through a plain SMTP relay on the local network (`smtp://host:port`), the usual
/// set-up of a small site's mail server. (TLS relays are the cloud's job: SES.)
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    pub fn from_url(url: &str) -> Result<Self, MailError> {
        let bad = || MailError::permanent(format!("SMTP relay {url:?}: expected smtp://host:port"));
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(bad)?
            .trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(bad());
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build();
        Ok(Self { transport })
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
        match self.transport.send_raw(&envelope, &bytes).await {
            Ok(_) => Ok(None),
            Err(e) if e.is_permanent() => {
                Err(MailError::permanent_from("SMTP relay refused it", e))
            }
            Err(e) => Err(MailError::temporary_from("SMTP relay", e)),
        }
    }
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
    fn bad_recipient_is_permanent() {
        let mut m = sample();
        m.to = "not an address".into();
        assert!(matches!(m.to_mime(), Err(MailError::Permanent { .. })));
    }
}
