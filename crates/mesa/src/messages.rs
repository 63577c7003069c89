//! Customer-facing text that the services write (Spanish, as the contract). The e-mails
//! themselves are the rules' templates (`rules/templates/`); what is here are the short
//! messages of validation errors and the notes the services put in a ticket's timeline.
//! A leaf: it imports nothing from the crate.

pub const LEAVE_EMPTY: &str = "Deje este campo vacío.";
pub const FORM_TOO_FAST: &str =
    "El formulario se envió demasiado rápido; revise sus datos y envíelo de nuevo.";
pub const FORM_EXPIRED: &str = "El formulario expiró; recargue la página.";
pub const FORM_INVALID: &str = "El formulario no es válido; recargue la página.";
pub const FORM_ALREADY_SENT: &str =
    "Este formulario ya se envió con otro reporte; recargue la página para enviar uno nuevo.";
pub const UPLOAD_NAME: &str = "Indique el nombre del archivo (hasta 200 caracteres).";
pub const UPLOAD_TOKEN_INVALID: &str =
    "Un archivo subido no es válido o expiró; vuelva a anexarlo.";

/// "Cada anexo debe pesar entre 1 byte y 10 MB."
pub fn upload_size(max_bytes: usize) -> String {
    format!(
        "Cada anexo debe pesar entre 1 byte y {} MB.",
        max_bytes / (1024 * 1024)
    )
}

/// An upload that was granted but whose bytes never arrived.
pub fn upload_missing(filename: &str) -> String {
    format!("«{filename}» no terminó de subirse; vuelva a anexarlo.")
}

/// Subject of an e-mail ticket that came without one.
pub const NO_SUBJECT: &str = "(sin asunto)";

/// Required data the contract asks for, named as the acknowledgement asks for them.
pub const MISSING_COMPANY: &str = "Nombre de la empresa";
pub const MISSING_CONTACT_NAME: &str = "Nombre completo del contacto";
pub const MISSING_PHONE: &str = "Teléfono del contacto";
pub const MISSING_SUPPORT_TYPE: &str = "Tipo de soporte";
pub const MISSING_DESCRIPTION: &str = "Descripción del problema";

/// How a staff member's mail about a ticket starts in its timeline, as their note.
pub const NOTE_BY_MAIL: &str = "(por correo) ";

/// Timeline notes of what the customer's mail did.
pub const CUSTOMER_REPLIED: &str = "El cliente respondió.";
pub const REOPENED_BY_REPLY: &str = "El cliente respondió a un ticket cerrado.";
pub const REOPENED_BY_REPLY_TO_ANSWER: &str =
    "El cliente respondió a la solución: se reabre el seguimiento.";

/// Timeline note of a root cause delivered.
pub const RELEASED_FROM_SET_ASIDE: &str =
    "Correo liberado de la lista de correo apartado; se había apartado por";
pub const ROOT_CAUSE_DELIVERED: &str = "Se envió al cliente la solución de raíz.";

/// Integer cents as money: `17980` → `179.80` (never through floating point).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// A milestone of the shipped rules as staff read it; a milestone the rules add under
/// another name is shown by that name.
pub fn milestone_label(name: &str) -> &str {
    match name {
        "acknowledgement" => "Acuse de recibo",
        "response" => "Respuesta",
        "recovery" => "Restablecimiento",
        "resolution" => "Resolución",
        "root_cause" => "Solución de raíz",
        other => other,
    }
}

/// A span of clock time as staff read it: "3 h 20 min", "2 d 4 h", "45 min", "menos de
/// 1 min". A clock whose target is in business days (`in_days`) is told in days of the
/// calendar's ordinary business day (`business_day_seconds`, 9 h under the contract), so
/// "1 d" is one working day; one in business hours is told in hours, as the contract gives
/// them ("26 h"); a wall-clock one in days of 24 h.
pub fn span(seconds: i64, business: bool, in_days: bool, business_day_seconds: i64) -> String {
    let seconds = seconds.abs();
    let day = match (business, in_days) {
        (true, true) => business_day_seconds.max(3600),
        (true, false) => i64::MAX,
        (false, _) => 86_400,
    };
    let (days, rest) = (seconds / day, seconds % day);
    let (hours, minutes) = (rest / 3600, (rest % 3600) / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => "menos de 1 min".into(),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// What is left of a running clock, or how long ago it was due, in its own time base:
/// "quedan 3 h 20 min hábiles", "vencido hace 45 min".
pub fn time_left(
    remaining_seconds: i64,
    business: bool,
    in_days: bool,
    business_day_seconds: i64,
) -> String {
    let what = span(remaining_seconds, business, in_days, business_day_seconds);
    let base = if business { " hábiles" } else { "" };
    if remaining_seconds >= 0 {
        format!("quedan {what}{base}")
    } else {
        format!("vencido hace {what}{base}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_is_exact_to_the_cent() {
        assert_eq!(super::money(17980), "179.80");
        assert_eq!(super::money(6500), "65.00");
        assert_eq!(super::money(5), "0.05");
        assert_eq!(super::money(-250), "-2.50");
    }

    use super::*;

    const DAY: i64 = 9 * 3600;

    #[test]
    fn time_left_is_said_in_the_clocks_own_base() {
        assert_eq!(
            time_left(3 * 3600 + 20 * 60, true, false, DAY),
            "quedan 3 h 20 min hábiles"
        );
        assert_eq!(time_left(12 * 60 + 30, false, false, DAY), "quedan 12 min");
        assert_eq!(
            time_left(-45 * 60, false, false, DAY),
            "vencido hace 45 min"
        );
        // A response due in 24 business hours is told in hours, as the contract says it.
        assert_eq!(
            time_left(23 * 3600, true, false, DAY),
            "quedan 23 h hábiles"
        );
        assert_eq!(
            time_left(-(DAY + 3600), true, true, DAY),
            "vencido hace 1 d 1 h hábiles"
        );
        // Five business days are five working days, not 45 hours.
        assert_eq!(time_left(5 * DAY, true, true, DAY), "quedan 5 d hábiles");
        assert_eq!(time_left(20, false, false, DAY), "quedan menos de 1 min");
        // A wall-clock day is 24 hours.
        assert_eq!(time_left(26 * 3600, false, false, DAY), "quedan 1 d 2 h");
    }
}
