//! A raw e-mail as checked ticket data: sender, threading ids, subject, the text the
//! customer wrote and acceptable attachments, with caps on size, parts and nesting.

use chrono::{DateTime, Utc};

use super::robots::robot_evidence;
use super::*;

/// A parsed inbound e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    pub message_id: Option<String>,
    /// The Date header: when the sender says they sent it.
    pub sent_at: Option<DateTime<Utc>>,
    /// In-Reply-To and References, cleaned, in order.
    pub thread_ids: Vec<String>,
    pub from_address: String,
    pub from_name: String,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<CheckedUpload>,
    /// Why this message must not create a ticket or get an ack (auto-reply, bounce, list).
    pub automatic: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailParseError {
    #[error("the message is larger than {MAX_EMAIL_BYTES} bytes")]
    TooLarge,
    #[error("the message is not a parseable RFC 5322 message")]
    Malformed,
    #[error("the message has more than {MAX_EMAIL_PARTS} MIME parts")]
    TooManyParts,
    #[error("the message nests more than {MAX_EMAIL_DEPTH} messages deep")]
    TooDeep,
    #[error("the message has no usable sender address")]
    NoSender,
    #[error("the parser failed on this message: {0}")]
    ParserPanic(String),
}

/// Parses a raw message with caps on size, parts and nesting. A panic inside the parser is
/// caught and reported as an error (the caller quarantines the raw message).
pub fn parse_email(raw: &[u8], own_addresses: &[String]) -> Result<InboundMail, MailParseError> {
    if raw.len() > MAX_EMAIL_BYTES {
        return Err(MailParseError::TooLarge);
    }
    let parsed = std::panic::catch_unwind(|| parse_email_inner(raw, own_addresses));
    match parsed {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(MailParseError::ParserPanic(what))
        }
    }
}

fn depth(message: &mail_parser::Message<'_>, level: usize) -> usize {
    message
        .attachments()
        .filter_map(|part| part.message())
        .map(|m| depth(m, level + 1))
        .max()
        .unwrap_or(level)
}

/// Bytes of blank or whitespace-only lines at the start of a message.
fn leading_blank_lines(raw: &[u8]) -> usize {
    let mut start = 0;
    while let Some(end) = raw[start..].iter().position(|b| *b == b'\n') {
        let line = &raw[start..start + end];
        if !line.iter().all(|b| b.is_ascii_whitespace()) {
            break;
        }
        start += end + 1;
    }
    start
}

/// The address in a `From:` the parser could not read (`Big Bug bb@bug.com`, without angle
/// brackets): the one word that is a usable address.
fn bare_address(raw: &str) -> Option<String> {
    raw.split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_matches(|c| "<>()\"'".contains(c)))
        .find_map(|w| crate::types::EmailAddress::parse(w).ok())
        .map(|a| a.as_str().to_string())
}

/// The name the whole text of a mail too long for a ticket is attached under.
pub const WHOLE_TEXT_FILENAME: &str = "correo-completo.txt";

/// A mail's text as a ticket holds it, and, when it is longer than a ticket's text may be (a
/// pasted log), the whole text as an attachment: the ticket's text then ends by saying so,
/// rather than stopping mid-line with nothing to tell staff the end is elsewhere.
fn text_and_overflow(body: &str) -> (String, Option<CheckedUpload>) {
    let whole = clean_text(body, usize::MAX);
    let chars = whole.chars().count();
    if chars <= MAX_DESCRIPTION_CHARS {
        return (whole, None);
    }
    // Over an attachment's size the text stays only in the raw message the desk keeps.
    let attachable = whole.len() <= MAX_ATTACHMENT_BYTES;
    let notice = if attachable {
        format!(
            "\n\n[El correo continúa: su texto completo, de {chars} caracteres, está anexo como «{WHOLE_TEXT_FILENAME}».]"
        )
    } else {
        format!(
            "\n\n[El correo continúa: su texto completo, de {chars} caracteres, se conserva con el correo original.]"
        )
    };
    let kept: String = whole
        .chars()
        .take(MAX_DESCRIPTION_CHARS - notice.chars().count())
        .collect();
    // Text we cleaned ourselves: not sniffed like a customer's file (a log starting "BM" or
    // "<?xml" would be taken for another type and dropped).
    let upload = attachable.then(|| CheckedUpload {
        filename: WHOLE_TEXT_FILENAME.to_string(),
        content_type: "text/plain".to_string(),
        bytes: whole.into_bytes(),
    });
    (format!("{}{notice}", kept.trim_end()), upload)
}

/// The text the customer wrote: the message's text body; failing that, a text part the
/// parser did not take as the body (`Content-Type: text` with no subtype), an HTML part
/// as text (mail-parser's converter), or the body of a forwarded message (a
/// `message/rfc822` part, even the whole message).
fn body_of(message: &mail_parser::Message<'_>, level: usize) -> String {
    use mail_parser::{MimeHeaders, PartType};

    if let Some(t) = message.body_text(0) {
        if !t.trim().is_empty() {
            return t.into_owned();
        }
    }
    for part in &message.parts {
        let named = part.attachment_name().is_some();
        match &part.body {
            PartType::Text(t) if !named && !t.trim().is_empty() => return t.to_string(),
            PartType::Html(h) if !named => {
                let t = mail_parser::decoders::html::html_to_text(h);
                if !t.trim().is_empty() {
                    return t;
                }
            }
            PartType::Message(inner) if level < MAX_EMAIL_DEPTH => {
                let t = body_of(inner, level + 1);
                if !t.trim().is_empty() {
                    return t;
                }
            }
            _ => {}
        }
    }
    String::new()
}

fn parse_email_inner(raw: &[u8], own_addresses: &[String]) -> Result<InboundMail, MailParseError> {
    use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

    // Some senders put blank or whitespace-only lines before the headers; skip them.
    let start = leading_blank_lines(raw);
    let message = MessageParser::default()
        .parse(&raw[start..])
        .ok_or(MailParseError::Malformed)?;
    if message.parts.len() > MAX_EMAIL_PARTS {
        return Err(MailParseError::TooManyParts);
    }
    if depth(&message, 0) > MAX_EMAIL_DEPTH {
        return Err(MailParseError::TooDeep);
    }
    if message.headers().is_empty() {
        return Err(MailParseError::Malformed);
    }
    let from = message.from().and_then(|a| a.first());
    let from_address = from
        .and_then(|a| a.address())
        .map(address_key)
        .filter(|a| valid_address(a))
        .or_else(|| bare_address(message.header_raw("From").unwrap_or_default()))
        .unwrap_or_default();
    let from_name = from
        .and_then(|a| a.name())
        .map(|n| clean_line(n, 200))
        .unwrap_or_default();

    let mut automatic = robot_evidence(&message, &from_address, &from_name);
    if automatic.is_none()
        && own_addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&from_address))
    {
        automatic = Some("sent from our own address".into());
    }

    if from_address.is_empty() || (automatic.is_none() && !valid_address(&from_address)) {
        return Err(MailParseError::NoSender);
    }

    let ids = |v: &HeaderValue<'_>| -> Vec<String> {
        match v {
            HeaderValue::Text(t) => vec![t.to_string()],
            HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let mut thread_ids = Vec::new();
    for id in ids(message.in_reply_to())
        .into_iter()
        .chain(ids(message.references()))
    {
        if let Some(clean) = clean_message_id(&id) {
            if !thread_ids.contains(&clean) {
                thread_ids.push(clean);
            }
        }
    }
    let subject = clean_line(message.subject().unwrap_or_default(), 300);
    let (text, whole_text) = text_and_overflow(&body_of(&message, 0));
    let uploads: Vec<Upload> = message
        .attachments()
        .filter(|p| p.message().is_none())
        .take(MAX_ATTACHMENTS)
        .map(|p| Upload {
            filename: p.attachment_name().unwrap_or("anexo").to_string(),
            bytes: p.contents().to_vec(),
        })
        .collect();
    // An e-mail is not refused for an odd attachment: unacceptable files are left out (the
    // raw message is kept whole in the blob store).
    let attachments = whole_text
        .into_iter()
        .chain(
            uploads
                .iter()
                .filter_map(|u| check_uploads(std::slice::from_ref(u)).ok())
                .flatten(),
        )
        .collect();

    Ok(InboundMail {
        message_id: message.message_id().and_then(clean_message_id),
        sent_at: message
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        thread_ids,
        from_address,
        from_name,
        subject,
        text,
        attachments,
        automatic,
    })
}
