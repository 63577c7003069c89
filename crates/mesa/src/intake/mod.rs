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
mod robots;

pub use mail::{InboundMail, MailParseError, parse_email};

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
    let company = clean_line(&input.company, 200);
    let contact_name = clean_line(&input.contact_name, 200);
    let email = address_key(&input.email);
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
        // The valid ids too: a JSON client has no drop-down to read them from.
        let ids: Vec<&str> = policy
            .support_types()
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        errors.insert(
            "support_type".into(),
            format!(
                "Elija un tipo de soporte de la lista (valores válidos: {}).",
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
            "Indique qué tanto del servicio está afectado (all, several, one o none).".into(),
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

/// What the customer wrote in a reply, without the message they replied to when their mail
/// program quotes it unmarked: everything from the first line that starts it. Outlook
/// writes "-----Mensaje original-----" (or "-----Original Message-----"), or a rule of
/// underscores and a header block ("De: …", "Enviado: …"); Gmail and Apple Mail an
/// attribution line ("El … escribió:", "On … wrote:") before `>`-quoted lines. Written here
/// because the reply-parsing crates (ports of GitHub's email_reply_parser) know only
/// English mail programs; a forwarded message ("Mensaje reenviado") is left whole.
pub fn reply_part(text: &str) -> &str {
    let lines: Vec<(usize, &str)> = text
        .split_inclusive('\n')
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len();
            Some((start, line.trim()))
        })
        .collect();
    let header = |line: &str, keys: &[&str]| {
        let folded = crate::policy::engine::fold(line);
        keys.iter().any(|k| folded.starts_with(k))
    };
    let starts_header_block = |i: usize| {
        header(lines[i].1, &["de:", "from:"])
            && lines[i + 1..]
                .iter()
                .take(4)
                .any(|(_, l)| header(l, &["enviado:", "sent:", "fecha:", "date:"]))
    };
    for (i, &(start, line)) in lines.iter().enumerate() {
        let folded = crate::policy::engine::fold(line);
        let bare = folded.trim_matches(|c: char| c == '-' || c == '_' || c.is_whitespace());
        let separator =
            folded.starts_with("--") && matches!(bare, "mensaje original" | "original message");
        let rule = line.len() >= 10
            && line.chars().all(|c| c == '_')
            && lines
                .get(i + 1)
                .is_some_and(|(_, l)| header(l, &["de:", "from:"]));
        let attribution = (folded.ends_with("escribio:") || folded.ends_with("wrote:"))
            && lines
                .get(i + 1)
                .is_none_or(|(_, l)| l.starts_with('>') || l.is_empty());
        if separator || rule || attribution || starts_header_block(i) {
            return &text[..start];
        }
    }
    text
}

/// Contact data a customer gives in a reply ("Empresa: …", "Teléfono: …", "Tipo de soporte:
/// …", "Nombre completo: …"), as an update of the ticket. Only what they wrote is read: not
/// the message they replied to (quoted with `>` or unmarked, see [`reply_part`]), and not
/// the acknowledgement's "(no indicada)" for a field they left empty.
pub fn contact_update(text: &str, policy: &Policy) -> Option<crate::model::EventKind> {
    let (mut company, mut name, mut phone, mut support_type) = (None, None, None, None);
    for line in reply_part(text).lines().map(str::trim) {
        if line.starts_with('>') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = crate::policy::engine::fold(key);
        let value = clean_line(value, 200);
        if value.is_empty() || (value.starts_with('(') && value.ends_with(')')) {
            continue;
        }
        match key.as_str() {
            "empresa" | "nombre de la empresa" | "compania" | "razon social" => {
                company = Some(value)
            }
            "nombre" | "nombre completo" | "contacto" | "nombre del contacto"
                if value.split_whitespace().count() >= 2 =>
            {
                name = Some(value)
            }
            "telefono" | "tel" | "tel." | "celular" | "telefono del contacto" => {
                let digits = value.chars().filter(char::is_ascii_digit).count();
                if (8..=15).contains(&digits) {
                    phone = Some(value)
                }
            }
            "tipo de soporte" | "tipo" => {
                let wanted = crate::policy::engine::fold(&value);
                support_type = policy
                    .support_types()
                    .iter()
                    .find(|t| {
                        t.id == wanted
                            || crate::policy::engine::fold(&t.label).starts_with(&wanted)
                            || wanted.starts_with(&crate::policy::engine::fold(&t.label))
                    })
                    .map(|t| t.id.clone());
            }
            _ => {}
        }
    }
    (company.is_some() || name.is_some() || phone.is_some() || support_type.is_some()).then_some(
        crate::model::EventKind::ContactUpdated {
            company,
            contact_name: name,
            phone,
            support_type,
        },
    )
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

    /// Replies as the usual mail programs set them out; the customer's words are the first
    /// line only.
    #[test]
    fn a_reply_is_read_without_the_message_it_quotes() {
        let own = "Empresa: Hoteles del Mar\r\n\r\n";
        let quoted = [
            // Outlook (desktop, Spanish).
            "-----Mensaje original-----\r\nDe: Soporte <soporte@ingressio.com>\r\nEnviado el: viernes\r\nEmpresa: (no indicada)\r\n",
            // Outlook (English).
            "-----Original Message-----\r\nFrom: Soporte\r\nEmpresa: (no indicada)\r\n",
            // Outlook on the web: a rule, then the header block.
            "________________________________\r\nDe: Soporte Ingressio <soporte@ingressio.com>\r\nEnviado: viernes, 27 de noviembre de 2026 20:48\r\nPara: rh@hotelesdelmar.mx\r\nAsunto: [ING-2026-000010] Recibimos su solicitud\r\n",
            // A header block without a rule.
            "De: Soporte Ingressio\r\nPara: rh@hotelesdelmar.mx\r\nFecha: viernes\r\n",
            // Gmail, Apple Mail.
            "El vie, 27 nov 2026 a las 20:48, Soporte (<soporte@ingressio.com>) escribió:\r\n\r\n> Empresa: (no indicada)\r\n",
            "On Fri, Nov 27, 2026 at 8:48 PM Soporte wrote:\r\n> Empresa: (no indicada)\r\n",
        ];
        for q in quoted {
            assert_eq!(reply_part(&format!("{own}{q}")), own, "{q}");
        }
        // A forward is the customer's to pass on, and plain text is left whole.
        for whole in [
            "Les reenvío lo que reportó la planta:\r\n---------- Mensaje reenviado ---------\r\nDe: Planta 2\r\nNo checa el lector 3.",
            "Desde: las 8\r\nNo registra nadie. Les escribió: el gerente.",
        ] {
            assert_eq!(reply_part(whole), whole);
        }
    }

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
