//! Intake parsing: a form submission or a raw e-mail becomes validated ticket data.
//! Checks happen here, at the boundary; the services only ever see parsed values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Customer;
use crate::outbox::{clean_message_id, valid_address};
use crate::policy::Policy;

/// Largest raw e-mail taken in; larger ones are quarantined.
pub const MAX_EMAIL_BYTES: usize = 25 * 1024 * 1024;
pub const MAX_EMAIL_PARTS: usize = 100;
pub const MAX_EMAIL_DEPTH: usize = 5;
pub const MAX_ATTACHMENTS: usize = 5;
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_TOTAL_ATTACHMENT_BYTES: usize = 20 * 1024 * 1024;
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;

/// Field → message, in Spanish, for the customer.
pub type FieldErrors = BTreeMap<String, String>;

/// What the customer typed (page or JSON API), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FormInput {
    pub company: String,
    pub contact_name: String,
    pub email: String,
    pub phone: String,
    pub support_type: String,
    pub description: String,
    /// JSON API clients: makes a retried request the same ticket.
    pub idempotency_key: Option<String>,
    /// Files uploaded ahead of the form (`POST /uploads`), by their upload tokens.
    pub upload_tokens: Vec<String>,
}

/// A file uploaded with the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// A validated form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidForm {
    pub customer: Customer,
    pub support_type: String,
    pub description: String,
    pub uploads: Vec<CheckedUpload>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUpload {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

fn clean_line(s: &str, max: usize) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

fn clean_text(s: &str, max: usize) -> String {
    let kept: String = s
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(max)
        .collect();
    kept.replace("\r\n", "\n").trim().to_string()
}

/// Validates every field (all errors at once, in Spanish).
pub fn validate_form(
    input: &FormInput,
    uploads: &[Upload],
    policy: &Policy,
) -> Result<ValidForm, FieldErrors> {
    let mut errors = FieldErrors::new();
    let company = clean_line(&input.company, 200);
    let contact_name = clean_line(&input.contact_name, 200);
    let email = input.email.trim().to_ascii_lowercase();
    let phone = clean_line(&input.phone, 40);
    let support_type = input.support_type.trim().to_string();
    let description = clean_text(&input.description, MAX_DESCRIPTION_CHARS + 1);

    if company.is_empty() {
        errors.insert("company".into(), "Escriba el nombre de la empresa.".into());
    }
    if contact_name.split_whitespace().count() < 2 {
        errors.insert(
            "contact_name".into(),
            "Escriba el nombre completo del contacto (nombre y apellido).".into(),
        );
    }
    if !valid_address(&email) {
        errors.insert(
            "email".into(),
            "Escriba un correo electrónico válido, por ejemplo ana@empresa.com.".into(),
        );
    }
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let phone_chars_ok = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().ext".contains(c));
    if !(8..=15).contains(&digits) || !phone_chars_ok {
        errors.insert(
            "phone".into(),
            "Escriba un teléfono de 8 a 15 dígitos (puede incluir +, espacios y guiones).".into(),
        );
    }
    if policy.support_type_label(&support_type).is_none() {
        errors.insert(
            "support_type".into(),
            "Elija un tipo de soporte de la lista.".into(),
        );
    }
    if description.chars().count() < 10 {
        errors.insert(
            "description".into(),
            "Describa el problema (al menos 10 caracteres).".into(),
        );
    } else if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.insert(
            "description".into(),
            format!(
                "La descripción es demasiado larga (máximo {MAX_DESCRIPTION_CHARS} caracteres)."
            ),
        );
    }
    if let Some(key) = &input.idempotency_key {
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            errors.insert(
                "idempotency_key".into(),
                "Debe tener de 1 a 128 caracteres visibles.".into(),
            );
        }
    }
    let checked = match check_uploads(uploads) {
        Ok(c) => c,
        Err(message) => {
            errors.insert("attachments".into(), message);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidForm {
        customer: Customer {
            company,
            contact_name,
            email,
            phone,
        },
        support_type,
        description,
        uploads: checked,
    })
}

/// Types accepted as attachments, told by their content (magic bytes), never by the name
/// or the browser's word alone.
fn sniff(upload: &Upload) -> Option<&'static str> {
    if let Some(kind) = infer::get(&upload.bytes) {
        return match kind.mime_type() {
            m @ ("image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "application/pdf"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/zip") => Some(m),
            _ => None,
        };
    }
    // Plain text (logs, CSV) has no magic: accept valid UTF-8 without NULs.
    let text_name = [".txt", ".log", ".csv"]
        .iter()
        .any(|ext| upload.filename.to_ascii_lowercase().ends_with(ext));
    (text_name && std::str::from_utf8(&upload.bytes).is_ok() && !upload.bytes.contains(&0))
        .then_some("text/plain")
}

/// A file name to show: the last path component, safe characters only.
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "._- ()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        "anexo".to_string()
    } else {
        cleaned
    }
}

fn check_uploads(uploads: &[Upload]) -> Result<Vec<CheckedUpload>, String> {
    let uploads: Vec<&Upload> = uploads.iter().filter(|u| !u.bytes.is_empty()).collect();
    if uploads.len() > MAX_ATTACHMENTS {
        return Err(format!("Puede anexar hasta {MAX_ATTACHMENTS} archivos."));
    }
    let total: usize = uploads.iter().map(|u| u.bytes.len()).sum();
    if total > MAX_TOTAL_ATTACHMENT_BYTES {
        return Err(format!(
            "Los anexos suman más de {} MB.",
            MAX_TOTAL_ATTACHMENT_BYTES / 1024 / 1024
        ));
    }
    let mut out = Vec::with_capacity(uploads.len());
    for u in uploads {
        let name = clean_filename(&u.filename);
        if u.bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(format!(
                "«{name}» pesa más de {} MB.",
                MAX_ATTACHMENT_BYTES / 1024 / 1024
            ));
        }
        let content_type = sniff(u).ok_or_else(|| {
            format!("«{name}» no es de un tipo aceptado (imágenes PNG, JPEG, GIF o WebP, PDF, Word, Excel, ZIP o texto).")
        })?;
        out.push(CheckedUpload {
            filename: name,
            content_type: content_type.to_string(),
            bytes: u.bytes.clone(),
        });
    }
    Ok(out)
}

/// A parsed inbound e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    pub message_id: Option<String>,
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

fn parse_email_inner(raw: &[u8], own_addresses: &[String]) -> Result<InboundMail, MailParseError> {
    use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

    let message = MessageParser::default()
        .parse(raw)
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
        .map(|a| a.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let from_name = from
        .and_then(|a| a.name())
        .map(|n| clean_line(n, 200))
        .unwrap_or_default();

    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    let mut automatic = None;
    if let Some(v) = header("Auto-Submitted") {
        if v != "no" {
            automatic = Some(format!("Auto-Submitted: {v}"));
        }
    }
    if automatic.is_none() {
        if let Some(v) = header("Precedence") {
            if ["bulk", "list", "junk", "auto_reply"].contains(&v.as_str()) {
                automatic = Some(format!("Precedence: {v}"));
            }
        }
    }
    for name in [
        "X-Autoreply",
        "X-Autorespond",
        "X-Auto-Response-Suppress",
        "List-Id",
        "List-Unsubscribe",
    ] {
        if automatic.is_none() && message.header_raw(name).is_some() {
            automatic = Some(format!("{name} header"));
        }
    }
    let content_type = message.content_type().map(|ct| {
        format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase()
    });
    if automatic.is_none() && content_type.as_deref() == Some("multipart/report") {
        automatic = Some("delivery or read report (multipart/report)".into());
    }
    let local = from_address.split('@').next().unwrap_or_default();
    if automatic.is_none()
        && [
            "mailer-daemon",
            "postmaster",
            "noreply",
            "no-reply",
            "donotreply",
        ]
        .contains(&local)
    {
        automatic = Some(format!("sent by {local}"));
    }
    if automatic.is_none()
        && message
            .return_path()
            .as_text()
            .is_some_and(|r| r.trim().is_empty() || r.trim() == "<>")
    {
        automatic = Some("empty Return-Path (a bounce)".into());
    }
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
    let text = message
        .body_text(0)
        .map(|t| clean_text(&t, MAX_DESCRIPTION_CHARS))
        .unwrap_or_default();
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
    let attachments = uploads
        .iter()
        .filter_map(|u| check_uploads(std::slice::from_ref(u)).ok())
        .flatten()
        .collect();

    Ok(InboundMail {
        message_id: message.message_id().and_then(clean_message_id),
        thread_ids,
        from_address,
        from_name,
        subject,
        text,
        attachments,
        automatic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}\r\n").into_bytes()
    }

    const BASIC: &str = "From: Ana Pérez <ana@bajio.com.mx>\r\nTo: zendesk@ingressio.com\r\nSubject: No checan los lectores\r\nMessage-ID: <abc123@bajio.com.mx>\r\nDate: Tue, 10 Nov 2026 10:00:00 -0600";

    #[test]
    fn parses_a_plain_message() {
        let m = parse_email(&mail(BASIC, "Algunos lectores no registran."), &[]).unwrap();
        assert_eq!(m.from_address, "ana@bajio.com.mx");
        assert_eq!(m.from_name, "Ana Pérez");
        assert_eq!(m.subject, "No checan los lectores");
        assert_eq!(m.message_id.as_deref(), Some("<abc123@bajio.com.mx>"));
        assert_eq!(m.text, "Algunos lectores no registran.");
        assert_eq!(m.automatic, None);
    }

    #[test]
    fn recognises_automatic_mail() {
        for extra in [
            "Auto-Submitted: auto-replied",
            "Precedence: bulk",
            "Precedence: auto_reply",
            "X-Autoreply: yes",
            "X-Auto-Response-Suppress: All",
            "List-Id: <clientes.lists.example>",
            "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
        ] {
            let m = parse_email(
                &mail(&format!("{BASIC}\r\n{extra}"), "Fuera de la oficina"),
                &[],
            )
            .unwrap();
            assert!(m.automatic.is_some(), "{extra}");
        }
        let m = parse_email(
            &mail(&format!("{BASIC}\r\nAuto-Submitted: no"), "hola"),
            &[],
        )
        .unwrap();
        assert_eq!(m.automatic, None);
        let daemon = BASIC.replace(
            "Ana Pérez <ana@bajio.com.mx>",
            "MAILER-DAEMON@mx.bajio.com.mx",
        );
        assert!(
            parse_email(&mail(&daemon, "Delivery failed"), &[])
                .unwrap()
                .automatic
                .is_some()
        );
        let own = parse_email(&mail(BASIC, "eco"), &["ANA@bajio.com.mx".to_string()]).unwrap();
        assert!(own.automatic.is_some());
    }

    #[test]
    fn threading_ids_are_cleaned() {
        let h = format!(
            "{BASIC}\r\nIn-Reply-To: <ack.01@mesa.local>\r\nReferences: <x@y> <ack.01@mesa.local>"
        );
        let m = parse_email(&mail(&h, "gracias"), &[]).unwrap();
        assert_eq!(m.thread_ids, ["<ack.01@mesa.local>", "<x@y>"]);
    }

    #[test]
    fn rejects_what_cannot_be_a_ticket() {
        assert_eq!(parse_email(b"", &[]), Err(MailParseError::Malformed));
        let no_from = "To: zendesk@ingressio.com\r\nSubject: x";
        assert_eq!(
            parse_email(&mail(no_from, "x"), &[]),
            Err(MailParseError::NoSender)
        );
        let big = vec![b'a'; MAX_EMAIL_BYTES + 1];
        assert_eq!(parse_email(&big, &[]), Err(MailParseError::TooLarge));
    }

    #[test]
    fn filenames_are_never_paths() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\fotos\\lector 1.jpg"), "lector 1.jpg");
        assert_eq!(clean_filename(".htaccess"), "htaccess");
        assert_eq!(clean_filename("a<b>.png"), "a_b_.png");
        assert_eq!(clean_filename(""), "anexo");
    }

    #[test]
    fn uploads_are_typed_by_content() {
        let png = Upload {
            filename: "pantalla.png".into(),
            bytes: vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0],
        };
        assert_eq!(
            check_uploads(std::slice::from_ref(&png)).unwrap()[0].content_type,
            "image/png"
        );
        let exe = Upload {
            filename: "foto.png".into(),
            bytes: b"MZ\x90\x00\x03\x00\x00\x00".to_vec(),
        };
        assert!(
            check_uploads(&[exe])
                .unwrap_err()
                .contains("no es de un tipo aceptado")
        );
        let log = Upload {
            filename: "lector.log".into(),
            bytes: b"12:00 error".to_vec(),
        };
        assert_eq!(check_uploads(&[log]).unwrap()[0].content_type, "text/plain");
        let big = Upload {
            filename: "grande.txt".into(),
            bytes: vec![b'a'; MAX_ATTACHMENT_BYTES + 1],
        };
        assert!(check_uploads(&[big]).unwrap_err().contains("pesa más"));
    }
}
