//! What a customer's reply says: their own words without the message they replied to, and
//! the contact data they give in them.

use super::clean_line;
use crate::policy::Policy;

/// What the customer wrote in a reply, without the message they replied to when their mail
/// program quotes it unmarked: everything from the first line that starts it. Outlook
/// writes "-----Mensaje original-----" (or "-----Original Message-----"), or a rule of
/// underscores and a header block ("De: …", "Enviado el: …", "Para: …"); Gmail and Apple
/// Mail an attribution line ("El … escribió:", "On … wrote:") before `>`-quoted lines. A
/// forwarded message's header block counts as quoted too: what is read here is the sender's
/// own words. Written here because the reply-parsing crates (ports of GitHub's
/// email_reply_parser) know only English mail programs.
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
    // "De:" and two more header lines right after: a customer's own "De: Planta Norte" is
    // not taken for one.
    let starts_header_block = |i: usize| {
        header(lines[i].1, &["de:", "from:"])
            && lines[i + 1..]
                .iter()
                .take(5)
                .filter(|(_, l)| {
                    header(
                        l,
                        &[
                            "enviado:",
                            "enviado el:",
                            "sent:",
                            "fecha:",
                            "date:",
                            "para:",
                            "to:",
                            "cc:",
                            "asunto:",
                            "subject:",
                        ],
                    )
                })
                .count()
                >= 2
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

#[cfg(test)]
mod tests {
    use super::*;

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
            // A header block without a rule, as Outlook in Spanish writes it.
            "De: Soporte Ingressio\r\nEnviado el: viernes, 27 de noviembre de 2026 20:48\r\nPara: rh@hotelesdelmar.mx\r\nAsunto: Recibimos su solicitud\r\n",
            // Gmail, Apple Mail.
            "El vie, 27 nov 2026 a las 20:48, Soporte (<soporte@ingressio.com>) escribió:\r\n\r\n> Empresa: (no indicada)\r\n",
            "On Fri, Nov 27, 2026 at 8:48 PM Soporte wrote:\r\n> Empresa: (no indicada)\r\n",
        ];
        for q in quoted {
            assert_eq!(reply_part(&format!("{own}{q}")), own, "{q}");
        }
        // The customer's own lines that look like a header or an attribution are kept.
        for whole in [
            "De: Planta Norte\r\nFecha: 27/11\r\nNo checa el lector 3.",
            "Desde: las 8\r\nNo registra nadie. Les escribió: el gerente.",
        ] {
            assert_eq!(reply_part(whole), whole);
        }
    }
}
