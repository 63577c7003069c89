//! Intake parsing: a form submission or a raw e-mail becomes validated ticket data.
//! Checks happen here, at the boundary; the services only ever see parsed values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Customer;
use crate::outbox::{clean_message_id, valid_address};
use crate::policy::Policy;
use crate::ticket::{Impact, ImpactScope};
use crate::types::address_key;

mod mail;
mod reply;
mod robots;

pub use mail::{InboundMail, MailParseError, parse_email};
pub use reply::{contact_update, reply_part};

/// Largest raw e-mail taken in; larger ones are quarantined.
pub const MAX_EMAIL_BYTES: usize = 25 * 1024 * 1024;
pub const MAX_EMAIL_PARTS: usize = 100;
pub const MAX_EMAIL_DEPTH: usize = 5;
pub const MAX_ATTACHMENTS: usize = 5;
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_TOTAL_ATTACHMENT_BYTES: usize = 20 * 1024 * 1024;
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
/// The longest company or contact name the form takes.
pub const MAX_NAME_CHARS: usize = 200;

/// Field → message, in Spanish, for the customer.
pub type FieldErrors = BTreeMap<String, String>;

/// What the customer typed (page or JSON API), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct FormInput {
    pub company: String,
    pub contact_name: String,
    pub email: String,
    pub phone: String,
    pub support_type: String,
    pub description: String,
    /// The serial number of the biometric device, for a hardware fault (optional: a
    /// serial named in the description is read too).
    pub serial: String,
    /// JSON API clients: makes a retried request the same ticket.
    pub idempotency_key: Option<String>,
    /// Files uploaded ahead of the form (`POST /uploads`), by their upload tokens.
    pub upload_tokens: Vec<String>,
    /// The impact questions: `all`, `several`, `one` or `none`.
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "Option<crate::ticket::ImpactScope>")
    )]
    pub impact_scope: Option<String>,
    /// Does the operation continue? (`si`/`no`, or a JSON boolean as `true`/`false`).
    pub operation_continues: Option<YesNo>,
    /// Is there a workaround meanwhile?
    pub workaround: Option<YesNo>,
}

/// A yes/no answer as the page sends it (`si`/`no`) or a JSON client does (`true`/`false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum YesNo {
    Bool(bool),
    Text(String),
}

impl YesNo {
    pub fn value(&self) -> Option<bool> {
        match self {
            YesNo::Bool(b) => Some(*b),
            YesNo::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "si" | "sí" | "true" | "yes" => Some(true),
                "no" | "false" => Some(false),
                _ => None,
            },
        }
    }
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
    pub impact: Option<Impact>,
    pub support_type: String,
    pub description: String,
    /// The device serial given in its field or named in the description.
    pub device_serial: Option<String>,
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
    require_impact: bool,
) -> Result<ValidForm, FieldErrors> {
    let mut errors = FieldErrors::new();
    // One over the limit is kept, so that a value too long is told, not cut in silence.
    let company = clean_line(&input.company, MAX_NAME_CHARS + 1);
    let contact_name = clean_line(&input.contact_name, MAX_NAME_CHARS + 1);
    let email = address_key(&input.email);
    let phone = clean_line(&input.phone, 40);
    let support_type = input.support_type.trim().to_string();
    let description = clean_text(&input.description, MAX_DESCRIPTION_CHARS + 1);

    if company.is_empty() {
        errors.insert("company".into(), "Escriba el nombre de la empresa.".into());
    } else if company.chars().count() > MAX_NAME_CHARS {
        errors.insert(
            "company".into(),
            format!(
                "El nombre de la empresa es demasiado largo (máximo {MAX_NAME_CHARS} caracteres)."
            ),
        );
    }
    if contact_name.chars().count() > MAX_NAME_CHARS {
        errors.insert(
            "contact_name".into(),
            format!(
                "El nombre del contacto es demasiado largo (máximo {MAX_NAME_CHARS} caracteres)."
            ),
        );
    } else if contact_name.split_whitespace().count() < 2 {
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
        // The valid ids too: a JSON client has no drop-down to read them from.
        let ids: Vec<&str> = policy
            .support_types()
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        errors.insert(
            "support_type".into(),
            format!(
                "Elija un tipo de soporte de la lista (en la API, uno de: {}).",
                ids.join(", ")
            ),
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
    let serial = crate::model::Equipment::key_of(&input.serial);
    if serial.chars().count() > 64 || !serial.chars().all(|c| c.is_ascii_graphic()) {
        errors.insert(
            "serial".into(),
            "El número de serie lleva solo letras, dígitos y guiones (hasta 64).".into(),
        );
    }
    let device_serial = Some(serial)
        .filter(|s| !s.is_empty())
        .or_else(|| crate::model::serial_in_text(&description));
    let impact = validate_impact(input, require_impact, &mut errors);
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
        impact,
        support_type,
        description,
        device_serial,
        uploads: checked,
    })
}

/// The three impact answers: all required on the page, all or none from a JSON client.
fn validate_impact(input: &FormInput, required: bool, errors: &mut FieldErrors) -> Option<Impact> {
    let given = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
    let any = given(&input.impact_scope)
        || input.operation_continues.is_some()
        || input.workaround.is_some();
    if !required && !any {
        return None;
    }
    let scope = input.impact_scope.as_deref().and_then(ImpactScope::parse);
    if scope.is_none() {
        errors.insert(
            "impact_scope".into(),
            "Indique qué tanto del servicio está afectado (en la API: all, several, one o none)."
                .into(),
        );
    }
    let continues = input.operation_continues.as_ref().and_then(YesNo::value);
    if continues.is_none() {
        errors.insert(
            "operation_continues".into(),
            "Indique si su operación continúa (sí o no).".into(),
        );
    }
    let workaround = input.workaround.as_ref().and_then(YesNo::value);
    if workaround.is_none() {
        errors.insert(
            "workaround".into(),
            "Indique si tiene una forma de seguir trabajando mientras tanto (sí o no).".into(),
        );
    }
    Some(Impact {
        scope: scope?,
        operation_continues: continues?,
        workaround: workaround?,
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
