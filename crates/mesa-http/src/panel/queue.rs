//! The queue page: open tickets in the contract's order, each with its nearest clock as a
//! countdown (amber past the rules' warning share, red when breached), with filters and a
//! search; `filas` is the same rows alone, which the page polls to stay current.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mesa::Severity;
use mesa::desk::{ClockFilter, OwnerFilter, QueueFilter, Session, TicketView};
use mesa::messages;
use mesa::model::Stage;
use mesa::sla::ClockState;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::session::Staff;
use crate::Shared;

/// The filters as the page's form sends them (Spanish names; empty means any).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueQuery {
    #[serde(default)]
    severidad: String,
    #[serde(default)]
    etapa: String,
    #[serde(default)]
    empresa: String,
    #[serde(default)]
    reloj: String,
    #[serde(default)]
    q: String,
    /// `mios` (assigned to me), `sin_asignar`, or empty for everyone's.
    #[serde(default)]
    ver: String,
}

impl QueueQuery {
    /// The filter, or which field is not understood.
    fn filter(&self, me: &str) -> Result<QueueFilter, &'static str> {
        let severity = match self.severidad.trim() {
            "" => None,
            s => Some(
                s.parse::<i64>()
                    .ok()
                    .and_then(|n| Severity::new(n).ok())
                    .ok_or("severidad")?,
            ),
        };
        let stage = match self.etapa.trim() {
            "" => None,
            s => Some(Stage::parse(s).ok_or("etapa")?),
        };
        let clocks = match self.reloj.trim() {
            "" => None,
            "vencidos" => Some(ClockFilter::Breached),
            "en_riesgo" => Some(ClockFilter::AtRisk),
            _ => return Err("reloj"),
        };
        let owner = match self.ver.trim() {
            "" => None,
            "mios" => Some(OwnerFilter::Is(me.to_string())),
            "sin_asignar" => Some(OwnerFilter::Nobody),
            _ => return Err("ver"),
        };
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(QueueFilter {
            severity,
            stage,
            company: text(&self.empresa),
            clocks,
            text: text(&self.q),
            owner,
        })
    }
}

/// One row of the queue as the template shows it.
#[derive(Serialize)]
struct Row {
    folio: String,
    company: String,
    contact: String,
    subject: String,
    severity: u8,
    provisional: bool,
    needs_confirmation: bool,
    stage: &'static str,
    owner: Option<String>,
    clock: Option<ClockCell>,
}

#[derive(Serialize)]
struct ClockCell {
    name: String,
    /// Due instant in the calendar's time zone ("10/11 12:30").
    due: String,
    /// Due instant, RFC 3339 with offset, for the `<time>` element.
    due_iso: String,
    left: String,
    /// `vencido`, `riesgo`, `pausa` or empty.
    state: &'static str,
}

fn row(
    state: &Shared,
    v: &TicketView,
    warning_percent: u32,
    names: &std::collections::HashMap<String, String>,
) -> Row {
    let policy = state.desk.policy();
    let day = policy.calendar().ordinary_day().num_seconds();
    let clock = v
        .next_clock()
        .or_else(|| v.clocks.iter().find(|c| c.running))
        .map(|c| {
            let due = c.due.map(|d| policy.calendar().local(d));
            let cell_state = if c.state == ClockState::Breached {
                "vencido"
            } else if c.state == ClockState::Paused {
                "pausa"
            } else if c.elapsed_share * 100.0 >= f64::from(warning_percent) {
                "riesgo"
            } else {
                ""
            };
            let left = messages::time_left(
                c.target_seconds - c.elapsed_seconds,
                c.business,
                c.in_days,
                day,
            );
            ClockCell {
                name: messages::milestone_label(&c.name).to_string(),
                due: due
                    .map(|d| d.format("%d/%m %H:%M").to_string())
                    .unwrap_or_default(),
                due_iso: due.map(|d| d.to_rfc3339()).unwrap_or_default(),
                left: if c.state == ClockState::Paused {
                    format!("en pausa · {left}")
                } else {
                    left
                },
                state: cell_state,
            }
        });
    let t = &v.ticket;
    Row {
        folio: t.folio.as_str().to_string(),
        company: t.customer.company.clone(),
        contact: t.customer.contact_name.clone(),
        subject: t.subject.clone(),
        severity: t.severity.level(),
        provisional: v.severity_provisional,
        needs_confirmation: v.needs_confirmation,
        stage: t.stage.label(),
        owner: t
            .owner
            .as_ref()
            .map(|email| names.get(email).cloned().unwrap_or_else(|| email.clone())),
        clock,
    }
}

async fn rows(
    state: &Shared,
    session: &Session,
    query: &QueueQuery,
) -> Result<(Vec<Row>, Option<&'static str>), Response> {
    let (filter, bad) = match query.filter(&session.member.email) {
        Ok(f) => (f, None),
        Err(field) => (QueueFilter::default(), Some(field)),
    };
    let warning = state.desk.policy().settings().sla_warning_percent;
    // Owners by the name staff know each other by (an account gone keeps its address).
    let names = super::staff_names(state).await;
    match state.desk.queue_filtered(&filter).await {
        Ok(views) => Ok((
            views
                .iter()
                .map(|v| row(state, v, warning, &names))
                .collect(),
            bad,
        )),
        Err(e) => {
            tracing::error!(error = %e, "queue failed");
            Err(state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo leer la cola; intente de nuevo en un momento.",
            ))
        }
    }
}

pub(crate) async fn queue_page(
    State(state): State<Shared>,
    Staff(session): Staff,
    Query(query): Query<QueueQuery>,
) -> Response {
    let (rows, bad) = match rows(&state, &session, &query).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let stages: Vec<_> = Stage::ALL
        .iter()
        .map(|s| json!({"id": s.as_str(), "label": s.label()}))
        .collect();
    state.panel_page(
        &session,
        "panel/cola.html",
        json!({
            "rows": rows,
            "bad_filter": bad,
            "stages": stages,
            "q": {
                "severidad": query.severidad,
                "etapa": query.etapa,
                "empresa": query.empresa,
                "reloj": query.reloj,
                "q": query.q,
                "ver": query.ver,
            },
            "refresh_seconds": state.refresh_seconds(),
        }),
    )
}

/// The rows alone (the page's `<tbody>`), for the page's own polling.
pub(crate) async fn queue_rows(
    State(state): State<Shared>,
    Staff(session): Staff,
    Query(query): Query<QueueQuery>,
) -> Response {
    match rows(&state, &session, &query).await {
        Ok((rows, _)) => state.page("panel/filas.html", json!({"rows": rows})),
        Err(r) => r.into_response(),
    }
}
