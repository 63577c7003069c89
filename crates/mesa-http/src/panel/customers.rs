//! The registry in the workspace: every company with whether its contract is in force today,
//! and a company's page with its periods, its own terms, its contacts and its latest tickets.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mesa::model::{CompanyRecord, Subscription};
use serde_json::{Value, json};

use super::session::Staff;
use crate::Shared;

/// Tickets shown on a company's page.
const LATEST_TICKETS: usize = 50;

/// The company's page address (its name, percent-encoded).
fn href(company: &str) -> String {
    let name: String = form_urlencoded::byte_serialize(company.as_bytes()).collect();
    format!("/panel/clientes/{}", name.replace('+', "%20"))
}

fn date(d: chrono::NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// The company's standing today, as staff read it.
fn standing(company: &CompanyRecord, today: chrono::NaiveDate) -> (String, bool) {
    let s = company.subscription_on(today);
    (s.label(), s.in_contract())
}

pub(crate) async fn customers_page(State(state): State<Shared>, Staff(session): Staff) -> Response {
    let companies = match state.desk.store().list_companies().await {
        Ok(c) => c,
        Err(e) => return unavailable(&state, &e),
    };
    let today = state
        .desk
        .policy()
        .calendar()
        .local(state.desk.now())
        .date_naive();
    let rows: Vec<Value> = companies
        .iter()
        .map(|c| {
            let (label, in_force) = standing(c, today);
            json!({
                "name": c.company,
                "href": href(&c.company),
                "standing": label,
                "in_force": in_force,
                "own_terms": !c.terms.is_empty(),
            })
        })
        .collect();
    state.panel_page(&session, "panel/clientes.html", json!({"rows": rows}))
}

pub(crate) async fn customer_page(
    State(state): State<Shared>,
    Staff(session): Staff,
    Path(name): Path<String>,
) -> Response {
    let page = match state.desk.company_page(&name, LATEST_TICKETS).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return state.panel_message(
                StatusCode::NOT_FOUND,
                "Cliente no encontrado",
                "No hay ningún cliente registrado con ese nombre.",
            );
        }
        Err(e) => return unavailable(&state, &e),
    };
    let calendar = state.desk.policy().calendar().clone();
    let today = calendar.local(state.desk.now()).date_naive();
    let (label, in_force) = standing(&page.company, today);
    let mut periods = page.company.periods.clone();
    periods.sort_by_key(|p| p.start);
    let periods: Vec<Value> = periods
        .iter()
        .map(|p| {
            json!({
                "start": date(p.start), "end": date(p.end), "plan": p.plan,
                "current": p.covers(today),
            })
        })
        .collect();
    let contacts: Vec<Value> = page
        .contacts
        .iter()
        .map(|c| {
            json!({
                "address": if c.email.is_empty() { format!("todo @{}", c.domain) } else { c.email.clone() },
                "name": c.contact_name,
                "phone": c.phone,
            })
        })
        .collect();
    let equipment: Vec<Value> = page
        .equipment
        .iter()
        .map(|e| {
            json!({
                "serial": e.serial,
                "model": e.model,
                "site": e.site,
                "installed_on": e.installed_on.format("%d-%m-%Y").to_string(),
                "warranty_until": e.warranty_until.format("%d-%m-%Y").to_string(),
                "in_warranty": e.status == mesa::model::EquipmentStatus::InService
                    && today <= e.warranty_until,
                "status": match e.status {
                    mesa::model::EquipmentStatus::InService => "en servicio",
                    mesa::model::EquipmentStatus::Replaced => "reemplazado",
                    mesa::model::EquipmentStatus::Retired => "dado de baja",
                },
            })
        })
        .collect();
    let tickets: Vec<Value> = page
        .tickets
        .iter()
        .map(|t| {
            json!({
                "folio": t.folio.as_str(),
                "subject": t.subject,
                "severity": t.severity.level(),
                "stage": t.stage.label(),
                "received": calendar.local(t.received_at).format("%d-%m-%Y %H:%M").to_string(),
                "outside": matches!(t.subscription, Some(Subscription::OutsidePeriod { .. })),
            })
        })
        .collect();
    let terms = if page.company.terms.is_empty() {
        String::new()
    } else {
        serde_json::to_string_pretty(&page.company.terms).unwrap_or_default()
    };
    state.panel_page(
        &session,
        "panel/cliente.html",
        json!({
            "name": page.company.company,
            "standing": label,
            "in_force": in_force,
            "periods": periods,
            "terms": terms,
            "contacts": contacts,
            "equipment": equipment,
            "tickets": tickets,
        }),
    )
}

fn unavailable(state: &Shared, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "customer registry page failed");
    state.panel_message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Servicio no disponible",
        "No se pudo leer el registro de clientes; intente de nuevo en un momento.",
    )
}

/// The link to a company's page from a ticket, and its standing when the ticket came in.
pub(crate) fn ticket_subscription(t: &mesa::model::Ticket) -> Value {
    match &t.subscription {
        None => Value::Null,
        Some(s) => {
            let company = match s {
                Subscription::Active { company, .. }
                | Subscription::OutsidePeriod { company, .. }
                | Subscription::NoPeriodsOnRecord { company } => Some(company.as_str()),
                Subscription::Unregistered => None,
            };
            json!({
                "label": s.label(),
                "in_contract": s.in_contract(),
                "href": company.map(href),
            })
        }
    }
}
