//! Outgoing mail: outbox items written atomically with the ticket change that asks for
//! them, and the composition of the message an adapter sends. Every header value is built
//! here from validated text only: no CR, LF, NUL or encoded-word opener ever reaches one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::TicketId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// Automatic acknowledgement of a new ticket.
    Ack,
    /// A staff message to the customer.
    Reply,
    /// The solution sent to the customer.
    Answer,
    /// The satisfaction request sent on closing.
    Csat,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Ack => "ack",
            MailKind::Reply => "reply",
            MailKind::Answer => "answer",
            MailKind::Csat => "csat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            MailKind::Ack,
            MailKind::Reply,
            MailKind::Answer,
            MailKind::Csat,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn template(self) -> &'static str {
        match self {
            MailKind::Ack => "ack.txt",
            MailKind::Reply => "reply.txt",
            MailKind::Answer => "answer.txt",
            MailKind::Csat => "csat.txt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sent,
    /// Given up on (e.g. the per-address ack cap); kept with its reason.
    Skipped,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OutboxStatus::Pending,
            OutboxStatus::Sent,
            OutboxStatus::Skipped,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One message to send, stored with the ticket change that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub ticket_id: TicketId,
    pub kind: MailKind,
    pub to: String,
    /// Our Message-ID for it, fixed when the item is written (so replies thread back and a
    /// re-send is recognisably the same message).
    pub message_id: String,
    /// The customer message this one answers, for In-Reply-To / References.
    pub in_reply_to: Option<String>,
    /// Staff text for replies and answers.
    pub body: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// Not to be tried before this instant (lease or back-off).
    pub not_before: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl OutboxItem {
    pub fn new(
        ticket_id: TicketId,
        kind: MailKind,
        to: &str,
        mail_domain: &str,
        in_reply_to: Option<String>,
        body: String,
        now: DateTime<Utc>,
    ) -> Self {
        let id = ulid::Ulid::new().to_string();
        Self {
            message_id: format!(
                "<{}.{}@{}>",
                kind.as_str(),
                id.to_ascii_lowercase(),
                mail_domain
            ),
            id,
            ticket_id,
            kind,
            to: to.to_string(),
            in_reply_to,
            body,
            status: OutboxStatus::Pending,
            attempts: 0,
            created_at: now,
            not_before: now,
            sent_at: None,
            last_error: None,
        }
    }
}

/// A composed message, ready for an adapter (SMTP, maildir, SES) to encode and send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub outbox_id: String,
    pub message_id: String,
    pub from_name: String,
    pub from_address: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// `Auto-Submitted: auto-replied` (RFC 3834) on automatic acknowledgements.
    pub auto_replied: bool,
}

impl OutgoingMail {
    /// Encodes the message as RFC 5322 bytes (lettre's builder: UTF-8 subjects as encoded
    /// words, bodies quoted-printable), with our threading and Auto-Submitted headers.
    pub fn to_mime(&self) -> Result<Vec<u8>, crate::ports::MailError> {
        use crate::ports::MailError;
        use lettre::message::header::{ContentType, HeaderName, HeaderValue};
        use lettre::message::{Mailbox, Message};

        let from_addr = self.from_address.parse().map_err(|e| {
            MailError::Permanent(format!("from address {:?}: {e}", self.from_address))
        })?;
        let to_addr = self
            .to
            .parse()
            .map_err(|e| MailError::Permanent(format!("recipient {:?}: {e}", self.to)))?;
        let mut builder = Message::builder()
            .message_id(Some(self.message_id.clone()))
            .from(Mailbox::new(Some(self.from_name.clone()), from_addr))
            .to(Mailbox::new(None, to_addr))
            .subject(self.subject.clone())
            .date_now();
        if let Some(irt) = &self.in_reply_to {
            builder = builder.in_reply_to(irt.clone());
        }
        if !self.references.is_empty() {
            builder = builder.references(self.references.join(" "));
        }
        let mut message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(self.text.clone())
            .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))?;
        if self.auto_replied {
            // RFC 3834: an automatic reply, so other robots do not answer it.
            message.headers_mut().insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-replied".to_string(),
            ));
        }
        Ok(message.formatted())
    }
}

/// A header value made safe: control characters (CR, LF, NUL, …) become spaces, runs of
/// whitespace one space, `=?` is broken so no encoded word can be smuggled in, and the
/// length is capped.
pub fn header_text(value: &str, max_chars: usize) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let single = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let safe = single.replace("=?", "= ?");
    safe.chars().take(max_chars).collect()
}

/// A Message-ID as `<left@right>` with only the characters RFC 5322 allows, or `None`.
pub fn clean_message_id(raw: &str) -> Option<String> {
    let inner = raw.trim().trim_start_matches('<').trim_end_matches('>');
    let (left, right) = inner.split_once('@')?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let ok = !left.is_empty()
        && !right.is_empty()
        && inner.len() <= 250
        && left.chars().all(atext)
        && right.chars().all(|c| atext(c) || c == '[' || c == ']');
    ok.then(|| format!("<{left}@{right}>"))
}

/// An address we are willing to send to: one `@`, no spaces, no control characters.
pub fn valid_address(address: &str) -> bool {
    let a = address.trim();
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && a.len() <= 254
        && a.matches('@').count() == 1
        && a.chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[],;:\"\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_removes_injection() {
        assert_eq!(header_text("Hola\r\nBcc: x@y.z", 200), "Hola Bcc: x@y.z");
        assert_eq!(header_text("a\0b", 200), "a b");
        assert_eq!(header_text("=?utf-8?b?DQo=?=", 200), "= ?utf-8?b?DQo= ?=");
        assert_eq!(header_text("ñandú", 3), "ñan");
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            clean_message_id("<abc.1@mail.example>").as_deref(),
            Some("<abc.1@mail.example>")
        );
        assert_eq!(clean_message_id("abc@x").as_deref(), Some("<abc@x>"));
        assert_eq!(clean_message_id("<a b@x>"), None);
        assert_eq!(clean_message_id("<a@x>\r\nBcc: y"), None);
        assert_eq!(clean_message_id("no-at-sign"), None);
    }

    #[test]
    fn addresses() {
        assert!(valid_address("ana@bajio.com.mx"));
        assert!(!valid_address("ana@localhost"));
        assert!(!valid_address("ana @bajio.mx"));
        assert!(!valid_address("ana@bajio.mx\r\nBcc: x@y.z"));
        assert!(!valid_address("a@b@c.mx"));
        assert!(!valid_address("<ana@bajio.mx>"));
    }
}
