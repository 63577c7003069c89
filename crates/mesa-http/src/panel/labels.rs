//! How the workspace names things in Spanish: who acted, what each event and action is.

use mesa::model::{Actor, EventKind, ReplacementStep, ResponseChannel};
use mesa::policy::terms::Coverage;

pub(crate) fn actor(a: &Actor) -> String {
    match a {
        Actor::Customer => "Cliente".into(),
        Actor::Rules => "Reglas".into(),
        Actor::System => "mesa".into(),
        Actor::Sweep => "Vigilancia de plazos".into(),
        Actor::Staff(who) => who.clone(),
    }
}

pub(crate) fn channel(c: ResponseChannel) -> &'static str {
    match c {
        ResponseChannel::Email => "correo",
        ResponseChannel::Phone => "teléfono",
        ResponseChannel::Chat => "chat",
        ResponseChannel::InPerson => "en persona",
    }
}

pub(crate) fn coverage(c: Coverage) -> &'static str {
    match c {
        Coverage::Covered => "Cubierto por el contrato",
        Coverage::ThirdParty => "De un tercero",
        Coverage::CustomerAttributable => "Atribuible al cliente (facturable)",
        Coverage::OutsideContract => "Fuera del periodo contratado (facturable)",
        Coverage::OutOfWarranty => "Equipo fuera de garantía (se cotiza)",
    }
}

pub(crate) fn replacement_step(step: ReplacementStep) -> &'static str {
    match step {
        ReplacementStep::Approved => "aprobado",
        ReplacementStep::Shipped => "enviado",
        ReplacementStep::Installed => "instalado",
        ReplacementStep::FaultyReceived => "equipo dañado recibido",
    }
}

/// The cause categories of the shipped rules (`known_causes()` in `exclusions.rhai`),
/// offered as suggestions where staff diagnose: the rules, which may know others, decide.
pub(crate) const SHIPPED_CAUSES: [&str; 9] = [
    "software_defect",
    "functional_assistance",
    "hardware",
    "hardware_damage",
    "third_party",
    "infrastructure",
    "misuse",
    "modified_code",
    "virus_data_loss",
];

/// A coverage or a cause as the statistics name them (`covered`, `misuse`, …), in Spanish
/// where the shipped rules define it.
pub(crate) fn coverage_name(name: &str) -> &str {
    match name {
        "covered" => "cubiertos",
        "third_party" => "de terceros",
        "customer_attributable" => "atribuibles al cliente",
        "outside_contract" => "fuera del periodo contratado",
        "out_of_warranty" => "equipos fuera de garantía",
        "hardware_damage" => "daño al equipo causado por el cliente",
        "misuse" => "mal uso",
        "infrastructure" => "infraestructura del cliente",
        "modified_code" => "código modificado",
        "virus_data_loss" => "virus o pérdida de información",
        "software_defect" => "defecto de software",
        "functional_assistance" => "asistencia funcional",
        "hardware" => "hardware",
        "hardware_warranty" => "garantía de hardware",
        other => other,
    }
}

/// Why a message was set aside, in Spanish: the desk records its reasons in English (the
/// log's and the API's language); the known ones are told here as staff read them, and a
/// receiver's own verdict is shown as it came.
pub(crate) fn set_aside_reason(reason: &str) -> String {
    if let Some(rest) = reason.strip_prefix("automatic message (") {
        let why = rest
            .strip_suffix("): no ticket, no acknowledgement")
            .unwrap_or(rest);
        return format!("Mensaje automático ({why}): sin ticket ni acuse");
    }
    if let Some(sender) = reason.strip_suffix(" is not a registered customer") {
        return format!("{sender} no es un cliente registrado");
    }
    if let Some(error) = reason.strip_prefix("could not be taken in: ") {
        return format!("No se pudo registrar: {error}");
    }
    if let Some(error) = reason.strip_prefix("the parser failed on this message: ") {
        return format!("El lector de correo falló con este mensaje: {error}");
    }
    let fixed: &[(&str, &str)] = &[
        (
            "the message has no usable sender address",
            "El mensaje no trae una dirección de remitente utilizable",
        ),
        (
            "the message is not a parseable RFC 5322 message",
            "El mensaje no es un correo legible (RFC 5322)",
        ),
        ("the message is larger than ", "El mensaje pesa más de "),
        ("the message has more than ", "El mensaje tiene más de "),
        ("the message nests more than ", "El mensaje anida más de "),
    ];
    for (english, spanish) in fixed {
        if let Some(rest) = reason.strip_prefix(english) {
            let rest = rest
                .replace(" MIME parts", " partes MIME")
                .replace(" messages deep", " mensajes");
            return format!("{spanish}{rest}");
        }
    }
    reason.to_string()
}

/// Why an action cannot be done at the ticket's stage, in Spanish (the lifecycle states it
/// in English, for the log and the API).
pub(crate) fn stage_hint(hint: &str) -> &str {
    match hint {
        "reopen it first" => "reábralo primero",
        "a diagnosis is recorded before the answer" => {
            "el diagnóstico se registra antes de la solución"
        }
        "record the first diagnosis before escalating" => {
            "registre el primer diagnóstico antes de escalar"
        }
        "the answer follows a diagnosis" => "la solución sigue a un diagnóstico",
        "record the first diagnosis first" => "registre primero el primer diagnóstico",
        "only an open ticket that is not already waiting can wait" => {
            "solo un ticket abierto que no esté ya esperando puede esperar al cliente"
        }
        "the ticket is not waiting on the customer" => "el ticket no está esperando al cliente",
        "send the answer to the customer before closing" => {
            "envíe la solución al cliente antes de cerrar"
        }
        "only an answered or closed ticket can be reopened" => {
            "solo se reabre un ticket con solución enviada o cerrado"
        }
        "the root cause was already delivered" => "la solución de raíz ya se entregó",
        "only a device the diagnosis found under warranty is replaced" => {
            "solo se reemplaza un equipo que el diagnóstico encontró en garantía"
        }
        other => other,
    }
}

/// A staff action's refusal of a value, in Spanish (the lifecycle states it in English, for
/// the log and the API); one not known here is shown as it is.
pub(crate) fn refusal(message: &str) -> String {
    if message == "must not be empty" {
        return "no puede quedar vacío".into();
    }
    if let Some(n) = message
        .strip_prefix("is longer than ")
        .and_then(|m| m.strip_suffix(" bytes"))
    {
        return format!("es demasiado largo (máximo {n} bytes)");
    }
    if let Some(got) = message
        .strip_prefix("must be between 1 and 1440 (got ")
        .and_then(|m| m.strip_suffix(')'))
    {
        return format!("debe estar entre 1 y 1440 (se recibió {got})");
    }
    if let Some((day, received)) = message.split_once(" is before the ticket was received (") {
        let received = received.strip_suffix(')').unwrap_or(received);
        return format!("{day} es anterior a la recepción del ticket ({received})");
    }
    if let Some(who) = message.strip_prefix("the ticket is already assigned to ") {
        return format!("el ticket ya está asignado a {who}");
    }
    if let Some(step) = message
        .strip_prefix("the step ")
        .and_then(|m| m.strip_suffix(" is already recorded"))
    {
        return format!("el paso {step} ya está registrado");
    }
    if let Some(step) = message
        .strip_prefix("record the step ")
        .and_then(|m| m.strip_suffix(" first"))
    {
        return format!("registre primero el paso {step}");
    }
    if let Some(kind) = message.strip_prefix("unknown support type ") {
        return format!("tipo de soporte desconocido: {kind}");
    }
    match message {
        "the ticket is not assigned to anyone" => "el ticket no está asignado a nadie".into(),
        "a shipment needs its carrier and tracking number" => {
            "un envío necesita su paquetería y su número de guía".into()
        }
        "give at least one of company, contact_name, phone, support_type" => {
            "indique al menos uno: empresa, contacto, teléfono o tipo de soporte".into()
        }
        other => other.to_string(),
    }
}

/// A field of a staff action as its form labels it, for a refusal that names it.
pub(crate) fn field(name: &str) -> &str {
    match name {
        "to" => "Asignar a",
        "message" => "Mensaje",
        "note" | "text" => "Nota",
        "summary" => "Diagnóstico",
        "cause" => "Causa",
        "reason" => "Motivo",
        "severity" => "Severidad",
        "minutes" => "Minutos",
        "visited_on" => "Fecha de la visita",
        "support_type" => "Tipo de soporte",
        other => other,
    }
}

pub(crate) fn action(name: &str) -> &'static str {
    match name {
        "set_severity" => "Severidad",
        "diagnose" => "Diagnóstico",
        "escalate" => "Escalar a I+D",
        "reply" => "Responder",
        "answer" => "Enviar la solución",
        "wait" => "Esperar al cliente",
        "resume" => "Reanudar",
        "log_work" => "Registrar trabajo",
        "record_visit" => "Visita registrada",
        "record_replacement" => "Reemplazo en garantía",
        "close" => "Cerrar",
        "reopen" => "Reabrir",
        "deliver_root_cause" => "Entregar la solución de raíz",
        "assign" => "Asignar",
        "note" => "Nota interna",
        "update_contact" => "Datos del cliente",
        "release" => "Ticket creado con el correo apartado",
        _ => "Acción",
    }
}

/// An event of the timeline: what happened, and its detail when short.
pub(crate) fn event(kind: &EventKind) -> (String, String) {
    let (what, detail): (&str, String) = match kind {
        EventKind::Received { channel, .. } => (
            "Recibido",
            match channel {
                mesa::model::Channel::Form => "por el formulario".into(),
                _ => "por correo".into(),
            },
        ),
        EventKind::Acknowledged { .. } => ("Acuse de recibo enviado", String::new()),
        EventKind::SeverityChanged {
            from, to, reason, ..
        } => (
            "Severidad",
            match from {
                Some(f) if f != to => format!("{} → {}: {reason}", f.level(), to.level()),
                _ => format!("{}: {reason}", to.level()),
            },
        ),
        EventKind::Diagnosed {
            summary,
            replicated,
            ..
        } => (
            "Diagnóstico",
            match replicated {
                Some(true) => format!("{summary} (error replicado)"),
                Some(false) => format!("{summary} (error no replicado)"),
                None => summary.clone(),
            },
        ),
        EventKind::EscalatedToRnd { note } => ("Escalado a I+D", note.clone()),
        EventKind::Responded { channel: c, .. } => {
            ("Respuesta al cliente", format!("por {}", channel(*c)))
        }
        EventKind::Answered { .. } => ("Solución enviada", String::new()),
        EventKind::WaitingOnCustomer { note } => ("Esperando al cliente", note.clone()),
        EventKind::Resumed { note } => ("Reanudado", note.clone()),
        EventKind::CustomerReplied { .. } => ("El cliente escribió", String::new()),
        EventKind::WorkLogged { minutes, note } => {
            ("Trabajo registrado", format!("{minutes} min {note}"))
        }
        EventKind::IncidentLinked { incident } => (
            "Ligado a una falla general",
            format!("{}: {}", incident.service, incident.cause),
        ),
        EventKind::ReplacementRecorded {
            step,
            carrier,
            tracking,
            serial,
            note,
            ..
        } => (
            "Reemplazo en garantía",
            [
                replacement_step(*step).to_string(),
                [carrier.as_str(), tracking.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                if serial.is_empty() {
                    String::new()
                } else {
                    format!("equipo nuevo {serial}")
                },
                note.clone(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
        ),
        EventKind::VisitRecorded {
            visited_on,
            technician,
            site,
            result,
            minutes,
        } => (
            "Visita a las instalaciones del cliente",
            format!(
                "{} · {technician} · {site} · {minutes} min · {result}",
                visited_on.format("%d/%m/%Y")
            ),
        ),
        EventKind::Closed { note, .. } => ("Cerrado", note.clone()),
        EventKind::SatisfactionRecorded {
            satisfied, comment, ..
        } => (
            "Encuesta",
            format!(
                "{} {comment}",
                if *satisfied {
                    "Satisfecho."
                } else {
                    "No satisfecho."
                }
            ),
        ),
        EventKind::Reopened { reason } => ("Reabierto", reason.clone()),
        EventKind::RootCauseDelivered { .. } => ("Solución de raíz enviada", String::new()),
        EventKind::ContactUpdated { .. } => ("Datos del cliente actualizados", String::new()),
        EventKind::SlaWarning { milestone, .. } => (
            "Plazo en riesgo",
            mesa::messages::milestone_label(milestone).to_string(),
        ),
        EventKind::SlaBreached { milestone, .. } => (
            "Plazo vencido",
            mesa::messages::milestone_label(milestone).to_string(),
        ),
        EventKind::Assigned { to } => (
            "Asignado",
            to.clone().unwrap_or_else(|| "sin asignar".into()),
        ),
        EventKind::NoteAdded { .. } => ("Nota interna", String::new()),
        EventKind::MailFeedback { delivery } => {
            ("Informe del correo", format!("{:?}", delivery.status))
        }
    };
    (what.to_string(), detail.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::set_aside_reason;

    #[test]
    fn refusals_read_in_spanish() {
        use super::refusal;
        for (english, spanish) in [
            ("must not be empty", "no puede quedar vacío"),
            (
                "is longer than 20000 bytes",
                "es demasiado largo (máximo 20000 bytes)",
            ),
            (
                "must be between 1 and 1440 (got 0)",
                "debe estar entre 1 y 1440 (se recibió 0)",
            ),
            (
                "2026-11-01 is before the ticket was received (2026-11-10)",
                "2026-11-01 es anterior a la recepción del ticket (2026-11-10)",
            ),
            (
                "the ticket is already assigned to luisa@ingressio.com",
                "el ticket ya está asignado a luisa@ingressio.com",
            ),
            (
                "record the step shipped first",
                "registre primero el paso shipped",
            ),
            ("something new", "something new"),
        ] {
            assert_eq!(refusal(english), spanish);
        }
    }

    #[test]
    fn set_aside_reasons_read_in_spanish() {
        for (english, spanish) in [
            (
                "automatic message (Auto-Submitted: auto-replied): no ticket, no acknowledgement",
                "Mensaje automático (Auto-Submitted: auto-replied): sin ticket ni acuse",
            ),
            (
                "pedro@desconocido.mx is not a registered customer",
                "pedro@desconocido.mx no es un cliente registrado",
            ),
            (
                "the message has no usable sender address",
                "El mensaje no trae una dirección de remitente utilizable",
            ),
            (
                "the message has more than 200 MIME parts",
                "El mensaje tiene más de 200 partes MIME",
            ),
            ("VIRUS: FAIL", "VIRUS: FAIL"),
        ] {
            assert_eq!(set_aside_reason(english), spanish);
        }
    }
}
