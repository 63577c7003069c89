//! The ticket page: the conversation, the customer's files, every clock, the timeline with
//! who did what, the classification's reason, coverage and quote, and a form for each
//! action the ticket's stage allows. Every post comes back to the page (post, redirect,
//! get); a refused one shows the page again with the reason and the typed text kept.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mesa::desk::{DeskError, TicketDetail, attachments_of};
use mesa::lifecycle::{Action, ActionError, offered};
use mesa::messages;
use mesa::model::{EventKind, Stage, Warranty};
use mesa::sla::ClockState;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::labels;
use super::session::{Staff, forbidden, post_ok};
use crate::Shared;

/// The page after a post: what was done, or what went wrong and the text to keep.
#[derive(Default)]
struct Outcome {
    done: Option<String>,
    error: Option<String>,
    draft: Map<String, Value>,
    /// A canned reply to start the reply box from.
    canned: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Done {
    #[serde(default)]
    hecho: String,
    /// `?plantilla=<id>`: fill the reply box with that canned reply.
    #[serde(default)]
    plantilla: String,
}

pub(crate) async fn ticket_page(
    State(state): State<Shared>,
    Staff(session): Staff,
    Path(folio): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let outcome = Outcome {
        done: Some(done.hecho)
            .filter(|h| !h.is_empty())
            .map(|h| labels::action(&h).to_string()),
        canned: Some(done.plantilla).filter(|p| !p.is_empty()),
        ..Outcome::default()
    };
    render(&state, &session, &folio, StatusCode::OK, outcome).await
}

async fn render(
    state: &Shared,
    session: &mesa::desk::Session,
    folio: &str,
    status: StatusCode,
    mut outcome: Outcome,
) -> Response {
    let detail = match state.desk.detail(folio).await {
        Ok(d) => d,
        Err(DeskError::UnknownFolio(_)) => {
            return state.panel_message(
                StatusCode::NOT_FOUND,
                "Ticket no encontrado",
                "No hay ningún ticket con ese folio.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "ticket page failed");
            return state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo leer el ticket; intente de nuevo en un momento.",
            );
        }
    };
    if let Some(id) = outcome.canned.take() {
        let t = &detail.view.ticket;
        let policy = state.desk.policy();
        let context = mesa::policy::ReplyContext {
            contact_name: t.customer.contact_name.clone(),
            company: t.customer.company.clone(),
            folio: t.folio.as_str().to_string(),
            subject: t.subject.clone(),
            company_name: policy.settings().company_name.clone(),
        };
        match policy.canned_reply(&id, &context) {
            Some(text) => {
                outcome.draft.insert("accion".into(), json!("reply"));
                outcome.draft.insert("message".into(), json!(text));
            }
            None => outcome.error = Some("No existe esa plantilla de respuesta.".into()),
        }
    }
    let staff = state.desk.staff_members().await.unwrap_or_default();
    let mut context = context(state, &detail);
    if let Value::Object(map) = &mut context {
        map.insert(
            "staff".into(),
            json!(
                staff
                    .iter()
                    .filter(|m| m.active)
                    .map(|m| json!({"email": m.email, "name": m.name}))
                    .collect::<Vec<_>>()
            ),
        );
        map.insert("done".into(), json!(outcome.done));
        map.insert("error".into(), json!(outcome.error));
        map.insert("draft".into(), Value::Object(outcome.draft));
        map.insert("is_lead".into(), json!(session.member.is_lead()));
        let owner = detail.view.ticket.owner.as_ref().map(|email| {
            staff
                .iter()
                .find(|m| &m.email == email)
                .map_or_else(|| email.clone(), |m| m.name.clone())
        });
        map.insert("owner_name".into(), json!(owner));
        map.insert(
            "causes".into(),
            json!(
                labels::SHIPPED_CAUSES
                    .iter()
                    .map(|id| json!({"id": id, "label": labels::coverage_name(id)}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    let mut r = state.panel_page(session, "panel/ticket.html", context);
    *r.status_mut() = status;
    r
}

fn context(state: &Shared, d: &TicketDetail) -> Value {
    let policy = state.desk.policy();
    let calendar = policy.calendar();
    let local =
        |t: chrono::DateTime<chrono::Utc>| calendar.local(t).format("%d-%m-%Y %H:%M").to_string();
    let day = calendar.ordinary_day().num_seconds();
    let warning = policy.settings().sla_warning_percent;
    let t = &d.view.ticket;

    let clocks: Vec<Value> = d
        .view
        .clocks
        .iter()
        .map(|c| {
            let (state_label, class) = match c.state {
                ClockState::Pending => ("Sin iniciar", ""),
                ClockState::Running if c.elapsed_share * 100.0 >= f64::from(warning) => ("En riesgo", "riesgo"),
                ClockState::Running => ("En curso", ""),
                ClockState::Paused => ("En pausa", "pausa"),
                ClockState::Met => ("Cumplido", "cumplido"),
                ClockState::Breached => ("Vencido", "vencido"),
            };
            json!({
                "name": messages::milestone_label(&c.name),
                "state": state_label,
                "class": class,
                "due": c.due.map(local),
                "stopped": c.stopped_at.map(local),
                "left": (c.running).then(|| messages::time_left(c.target_seconds - c.elapsed_seconds, c.business, c.in_days, day)),
                "target": messages::span(c.target_seconds, c.business, c.in_days, day) + if c.business { " hábiles" } else { "" },
                "share": (c.elapsed_share * 100.0).round() as i64,
            })
        })
        .collect();

    let mut conversation = vec![json!({
        "who": format!("{} ({})", t.customer.contact_name, t.customer.email),
        "customer": true,
        "at": local(t.received_at),
        "title": t.subject,
        "text": t.description,
    })];
    let mut timeline = Vec::new();
    for e in &d.events {
        let who = labels::actor(&e.actor);
        let (what, detail) = labels::event(&e.kind);
        timeline.push(json!({"at": local(e.at), "who": who, "what": what, "detail": detail}));
        let said = match &e.kind {
            EventKind::CustomerReplied { text, .. } => {
                Some((true, false, "Respuesta del cliente".to_string(), text))
            }
            EventKind::Responded {
                message, channel, ..
            } => Some((
                false,
                false,
                format!("Respuesta (por {})", labels::channel(*channel)),
                message,
            )),
            EventKind::Answered { message, .. } => Some((false, false, "Solución".into(), message)),
            EventKind::WaitingOnCustomer { note } => {
                Some((false, false, "Se pidió al cliente".into(), note))
            }
            EventKind::RootCauseDelivered { report, .. } => {
                Some((false, false, "Solución de raíz".into(), report))
            }
            EventKind::NoteAdded { text } => Some((
                false,
                true,
                "Nota interna (no se envía al cliente)".into(),
                text,
            )),
            _ => None,
        };
        if let Some((customer, internal, title, text)) = said {
            conversation.push(json!({
                "who": if customer { format!("{} ({})", t.customer.contact_name, t.customer.email) } else { who },
                "customer": customer,
                "internal": internal,
                "at": local(e.at),
                "title": title,
                "text": text,
            }));
        }
    }
    timeline.reverse();

    let files: Vec<Value> = attachments_of(t, &d.events)
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "index": i,
                "name": a.filename,
                "size_kb": a.size.div_ceil(1024),
                "image": matches!(a.content_type.as_str(), "image/png" | "image/jpeg" | "image/gif" | "image/webp"),
            })
        })
        .collect();

    let support_types: Vec<Value> = policy
        .support_types()
        .iter()
        .map(|s| json!({"id": s.id, "label": s.label}))
        .collect();

    json!({
        "t": {
            "folio": t.folio.as_str(),
            "company": t.customer.company,
            "subscription": super::customers::ticket_subscription(t),
            "contact": t.customer.contact_name,
            "email": t.customer.email,
            "phone": t.customer.phone,
            "subject": t.subject,
            "support_type": policy.support_type_label(&t.support_type).unwrap_or(&t.support_type),
            "severity": t.severity.level(),
            "provisional": d.view.severity_provisional,
            "needs_confirmation": d.view.needs_confirmation,
            "severity_reason": t.severity_reason,
            "stage": t.stage.label(),
            "closed": t.stage == Stage::Closed,
            "owner": t.owner,
            "version": t.version,
            "work_minutes": t.work_minutes,
            "missing": t.missing_fields,
            "received": local(t.received_at),
            "device_serial": t.device_serial,
            "device": t.device.as_ref().map(|d| json!({
                "serial": d.serial,
                "model": d.model,
                "site": d.site,
                "warranty": match d.warranty {
                    Warranty::InWarranty => "en garantía",
                    Warranty::OutOfWarranty => "fuera de garantía",
                    Warranty::NotRegistered => "no está en el registro de equipos",
                    Warranty::Retired => "reemplazado o dado de baja",
                },
                "warranty_until": d.warranty_until.map(|w| w.format("%d-%m-%Y").to_string()),
            })),
            "replacement": t.replacement.iter().map(|r| json!({
                "step": labels::replacement_step(r.step),
                "at": local(r.at),
                "carrier": r.carrier,
                "tracking": r.tracking,
                "serial": r.serial,
            })).collect::<Vec<_>>(),
        },
        "assessment": t.assessment.as_ref().map(|a| json!({
            "coverage": labels::coverage(a.coverage),
            "billable": a.billable,
            "reason": a.reason,
            "refer_to": a.refer_to,
        })),
        "quote": d.view.quote.as_ref().map(|q| json!({
            "lines": q.lines.iter().map(|l| json!({
                "description": l.description,
                "quantity": l.quantity,
                "amount": mesa::messages::money(l.amount_cents),
            })).collect::<Vec<_>>(),
            "subtotal": mesa::messages::money(q.subtotal_cents),
            "iva": mesa::messages::money(q.iva_cents),
            "total": mesa::messages::money(q.total_cents),
            "currency": q.currency,
        })),
        "clocks": clocks,
        "conversation": conversation,
        "timeline": timeline,
        "files": files,
        "offered": offered(t, &policy),
        "replies": policy.canned_replies(),
        "support_types": support_types,
    })
}

/// An action as the page's forms send it: `accion`, the version the person saw, the CSRF
/// token, and the action's own fields under the JSON API's names.
fn action_from_form(fields: &BTreeMap<String, String>) -> Result<Action, String> {
    let mut obj = Map::new();
    for (k, v) in fields {
        match k.as_str() {
            "_csrf" | "visto" => {}
            "accion" => {
                obj.insert("action".into(), json!(v));
            }
            "severity" | "minutes" => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{k}: escriba un número"))?;
                obj.insert(k.clone(), json!(n));
            }
            "under_warranty" | "replicated" => match v.as_str() {
                "si" => {
                    obj.insert(k.clone(), json!(true));
                }
                "no" => {
                    obj.insert(k.clone(), json!(false));
                }
                _ => {}
            },
            // Optional fields left empty mean "not given".
            "vendor" | "to" | "company" | "contact_name" | "phone" | "support_type" | "serial"
                if v.trim().is_empty() => {}
            _ => {
                obj.insert(k.clone(), json!(v));
            }
        }
    }
    serde_json::from_value(Value::Object(obj)).map_err(|e| format!("formulario incompleto: {e}"))
}

pub(crate) async fn ticket_action(
    State(state): State<Shared>,
    Staff(session): Staff,
    Path(folio): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<BTreeMap<String, String>>,
) -> Response {
    let csrf = fields.get("_csrf").map(String::as_str).unwrap_or_default();
    if !post_ok(&state, &session, &headers, csrf) {
        return forbidden(&state);
    }
    let draft: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let refused = |status: StatusCode, error: String| {
        Outcome {
            done: None,
            error: Some(error),
            draft: draft.clone(),
            canned: None,
        }
        .with_status(status)
    };
    let action = match action_from_form(&fields) {
        Ok(a) => a,
        Err(e) => {
            let (status, outcome) = refused(StatusCode::UNPROCESSABLE_ENTITY, e);
            return render(&state, &session, &folio, status, outcome).await;
        }
    };
    let seen: u64 = fields
        .get("visto")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match state
        .desk
        .act_seen(&folio, &session.member, &action, seen)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/panel/tickets/{folio}?hecho={}", action.name())).into_response()
        }
        Err(e) => {
            let (status, message) = match &e {
                DeskError::ChangedSince(_) => (
                    StatusCode::CONFLICT,
                    "Otra persona cambió este ticket mientras usted lo veía. Revise lo nuevo abajo; su texto sigue en el formulario.".to_string(),
                ),
                DeskError::Action(ActionError::Illegal { hint, .. }) => (
                    StatusCode::CONFLICT,
                    format!(
                        "Esa acción no se puede hacer en esta etapa ({}).",
                        labels::stage_hint(hint)
                    ),
                ),
                DeskError::Action(ActionError::Invalid { field, message }) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{}: {}", labels::field(field), labels::refusal(message)),
                ),
                // A rule's own refusal is written for staff; any other failure of the rules is
                // told whole, for whoever maintains them.
                DeskError::Action(ActionError::Policy(p)) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    match p.thrown() {
                        Some(thrown) => format!("Las reglas no lo aceptan: {thrown}."),
                        None => format!("Las reglas fallaron: {p}"),
                    },
                ),
                DeskError::UnknownFolio(_) => (StatusCode::NOT_FOUND, "No hay ningún ticket con ese folio.".into()),
                other => {
                    tracing::error!(error = %other, "workspace action failed");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "No se pudo guardar; intente de nuevo en un momento.".into(),
                    )
                }
            };
            let (status, outcome) = refused(status, message);
            render(&state, &session, &folio, status, outcome).await
        }
    }
}

impl Outcome {
    fn with_status(self, status: StatusCode) -> (StatusCode, Outcome) {
        (status, self)
    }
}

/// A customer's file. Images we recognise by their bytes are shown inline; anything else
/// (HTML, SVG, PDF, …) is downloaded, never rendered in our origin.
pub(crate) async fn attachment(
    State(state): State<Shared>,
    Staff(_session): Staff,
    Path((folio, index)): Path<(String, usize)>,
) -> Response {
    let found = match state.desk.attachment(&folio, index).await {
        Ok(f) => f,
        Err(DeskError::UnknownFolio(_)) => None,
        Err(e) => {
            tracing::error!(error = %e, "attachment failed");
            return state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo leer el archivo; intente de nuevo en un momento.",
            );
        }
    };
    let Some((file, bytes)) = found else {
        return state.panel_message(
            StatusCode::NOT_FOUND,
            "Archivo no encontrado",
            "Ese ticket no tiene ese archivo.",
        );
    };
    let sniffed = infer::get(&bytes).map(|k| k.mime_type());
    let image =
        sniffed.filter(|m| matches!(*m, "image/png" | "image/jpeg" | "image/gif" | "image/webp"));
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    match image {
        Some(mime) => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            h.insert(
                header::CONTENT_DISPOSITION,
                disposition("inline", &file.filename),
            );
        }
        None => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                disposition("attachment", &file.filename),
            );
        }
    }
    // Even if a browser rendered it, it would run in an opaque origin with no script.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    r
}

/// `Content-Disposition` with the customer's file name (RFC 6266): an ASCII fallback with
/// anything odd replaced, and the exact name percent-encoded in `filename*`.
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_file_name_cannot_break_out_of_the_header() {
        let v = disposition(
            "attachment",
            "informe\"; filename=x.html\r\n\u{202e}fdp.exe",
        );
        let s = v.to_str().unwrap();
        assert!(s.starts_with("attachment; filename=\"informe__ filename_x.html___fdp.exe\"; filename*=UTF-8''informe%22%3B%20filename%3Dx.html%0D%0A%E2%80%AEfdp.exe"), "{s}");
    }

    #[test]
    fn form_fields_become_the_json_apis_actions() {
        let f = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            action_from_form(&f(&[
                ("accion", "diagnose"),
                ("summary", "Lector dañado"),
                ("replicated", "si"),
                ("vendor", ""),
                ("_csrf", "x"),
                ("visto", "3")
            ])),
            Ok(Action::Diagnose {
                summary: "Lector dañado".into(),
                cause: String::new(),
                vendor: None,
                under_warranty: None,
                replicated: Some(true),
                serial: None,
            })
        );
        assert_eq!(
            action_from_form(&f(&[
                ("accion", "set_severity"),
                ("severity", "2"),
                ("reason", "Una sucursal")
            ])),
            Ok(Action::SetSeverity {
                severity: mesa::Severity::new(2).unwrap(),
                reason: "Una sucursal".into()
            })
        );
        assert_eq!(
            action_from_form(&f(&[("accion", "assign"), ("to", "")])),
            Ok(Action::Assign { to: None })
        );
        assert!(action_from_form(&f(&[("accion", "log_work"), ("minutes", "muchos")])).is_err());
        assert!(action_from_form(&f(&[("accion", "delete_everything")])).is_err());
    }
}
