//! The statistics page: a period's response times and SLA compliance, overall, by severity
//! and by customer, with each figure's definition; the current month by default.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use mesa::stats::{Figures, Period, Statistics};
use serde::Deserialize;
use serde_json::{Value, json};

use super::labels;
use super::session::Staff;
use crate::Shared;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatsForm {
    #[serde(default)]
    desde: String,
    #[serde(default)]
    hasta: String,
    #[serde(default)]
    cliente: String,
}

fn percent(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn number(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into())
}

fn unit_label(unit: &str) -> &'static str {
    match unit {
        "business_hours" => "horas hábiles",
        "business_days" => "días hábiles",
        _ => "minutos",
    }
}

fn group(title: &str, f: &Figures) -> Value {
    json!({
        "title": title,
        "received": f.received,
        "channels": f.received_by_channel.iter().map(|(c, n)| format!("{} {n}", match c.as_str() {
            "email" => "correo",
            "form" => "formulario",
            other => other,
        })).collect::<Vec<_>>().join(", "),
        "satisfaction": format!("{} de {} ({})", f.satisfaction.satisfied, f.satisfaction.answered, percent(f.satisfaction.share)),
        "milestones": f.milestones.iter().map(|m| json!({
            "name": mesa::messages::milestone_label(&m.milestone),
            "unit": unit_label(m.unit),
            "count": m.time.count,
            "p50": number(m.time.p50),
            "p90": number(m.time.p90),
            "max": number(m.time.max),
            "met": m.met,
            "breached": m.breached,
            "compliance": percent(m.compliance),
            "low": m.compliance.is_some_and(|c| c < 0.9),
        })).collect::<Vec<_>>(),
    })
}

fn money(cents: i64, currency: &str) -> String {
    format!("{} {currency}", mesa::messages::money(cents))
}

fn context(s: &Statistics, first: NaiveDate, last: NaiveDate, customer: &str) -> Value {
    let kinds = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, n)| format!("{} {n}", labels::coverage_name(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The report is a month's: the month the period starts in.
    let month = first.format("%Y-%m").to_string();
    let report_link = (!customer.is_empty()).then(|| {
        format!(
            "/panel/informe?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("mes", &month)
                .append_pair("cliente", customer)
                .finish()
        )
    });
    json!({
        "desde": first.to_string(),
        "hasta": last.to_string(),
        "cliente": customer,
        "report_link": report_link,
        "report_month": month,
        "overall": group("Todos los tickets", &s.overall),
        "severities": s.by_severity.iter().map(|(k, f)| group(&format!("Severidad {k}"), f)).collect::<Vec<_>>(),
        "customers": s.by_customer.iter().map(|c| group(&c.customer, &c.figures)).collect::<Vec<_>>(),
        "billing": {
            "tickets": s.billing.tickets,
            "billable_minutes": s.billing.billable_minutes,
            "logged_minutes": s.billing.logged_minutes,
            "total": money(s.billing.total_cents, &s.billing.currency),
        },
        "coverage": kinds(&s.exclusions.by_coverage),
        "causes": kinds(&s.exclusions.causes_not_covered),
        "backlog": s.backlog,
        "definitions": s.definitions,
    })
}

pub(crate) async fn stats_page(
    State(state): State<Shared>,
    Staff(session): Staff,
    Query(form): Query<StatsForm>,
) -> Response {
    let policy = state.desk.policy();
    let tz = policy.calendar().time_zone();
    let today = policy.calendar().local(state.desk.now()).date_naive();
    let month_start = today.with_day(1).unwrap_or(today);
    let parse = |s: &str, default: NaiveDate| {
        if s.trim().is_empty() {
            Ok(default)
        } else {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        }
    };
    let (Ok(first), Ok(last)) = (parse(&form.desde, month_start), parse(&form.hasta, today)) else {
        return state.panel_message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Periodo no válido",
            "Escriba las fechas como AAAA-MM-DD.",
        );
    };
    let period = match Period::days(first, last, &tz) {
        Ok(p) => p,
        Err(_) => {
            return state.panel_message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Periodo no válido",
                "La fecha final es anterior a la inicial.",
            );
        }
    };
    let customer = form.cliente.trim();
    let stats = match state
        .desk
        .statistics(period, (!customer.is_empty()).then_some(customer))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "statistics failed");
            return state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudieron calcular las estadísticas; intente de nuevo en un momento.",
            );
        }
    };
    state.panel_page(
        &session,
        "panel/estadisticas.html",
        context(&stats, first, last, customer),
    )
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReportForm {
    #[serde(default)]
    mes: String,
    #[serde(default)]
    cliente: String,
}

/// `/panel/informe?mes=AAAA-MM&cliente=…`: the customer's monthly SLA report, the page
/// `mesa report` writes, to print or save as PDF from the browser.
pub(crate) async fn report_page(
    State(state): State<Shared>,
    Staff(_session): Staff,
    Query(form): Query<ReportForm>,
) -> Response {
    let customer = form.cliente.trim();
    if customer.is_empty() {
        return state.panel_message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Elija un cliente",
            "El informe mensual es de un cliente: escriba su empresa, un correo o su dominio en las estadísticas.",
        );
    }
    let policy = state.desk.policy();
    let month = match form.mes.trim() {
        "" => policy
            .calendar()
            .local(state.desk.now())
            .format("%Y-%m")
            .to_string(),
        m => m.to_string(),
    };
    let report = match state.desk.monthly_report(&month, customer).await {
        Ok(r) => r,
        Err(mesa::desk::DeskError::Invalid(_)) => {
            return state.panel_message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Mes no válido",
                "Escriba el mes como AAAA-MM.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "monthly report failed");
            return state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo preparar el informe; intente de nuevo en un momento.",
            );
        }
    };
    match crate::report::render(&report, policy.calendar(), &policy.settings().company_name) {
        Ok(html) => {
            let mut r = axum::response::Html(html).into_response();
            if let Ok(csp) = HeaderValue::from_str(&crate::report::content_security_policy()) {
                r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "monthly report did not render");
            state.panel_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error interno",
                "El informe no se pudo mostrar.",
            )
        }
    }
}
