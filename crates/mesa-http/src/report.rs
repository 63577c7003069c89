//! The monthly SLA report as one self-contained HTML page (styles inline, charts as inline
//! SVG drawn by charts-rs), printable to PDF from the browser: written to a file by
//! `mesa report` and shown in the workspace (`/panel/informe`) under a CSP that allows
//! exactly its own style element and nothing else.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use mesa::BusinessCalendar;
use mesa::messages::{milestone_label, money};
use mesa::report::MonthlyReport;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TEMPLATE: &str = include_str!("../templates/report.html");
const CSS: &str = include_str!("../static/report.css");

/// The Content-Security-Policy of the report page: no script at all, its one style element
/// by hash, the charts inline.
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

const MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

fn month_label(month: &str) -> String {
    match month.split_once('-') {
        Some((y, m)) => match m.parse::<usize>().ok().and_then(|m| MONTHS.get(m - 1)) {
            Some(name) => format!("{name} de {y}"),
            None => month.to_string(),
        },
        None => month.to_string(),
    }
}

fn percent(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "sin casos".into())
}

fn result(state: &str, stopped: Option<String>) -> String {
    match (state, stopped) {
        ("met", Some(at)) => format!("cumplido ({at})"),
        ("breached", Some(at)) => format!("incumplido ({at})"),
        ("breached", None) => "vencido, en curso".into(),
        ("running", _) => "en curso".into(),
        ("paused", _) => "en pausa (esperando al cliente)".into(),
        _ => "sin iniciar".into(),
    }
}

/// A bar chart as SVG: one series, one bar per label.
fn bar_chart(labels: Vec<String>, values: Vec<f32>, series: &str) -> Result<String, String> {
    let mut chart = charts_rs::BarChart::new(
        vec![charts_rs::Series::new(series.to_string(), values)],
        labels,
    );
    chart.width = 520.0;
    chart.height = 280.0;
    chart.legend_show = Some(false);
    chart.series_list[0].label_show = true;
    chart.svg().map_err(|e| e.to_string())
}

/// Renders `report` for the customer; `company_name` is the provider's.
pub fn render(
    report: &MonthlyReport,
    calendar: &BusinessCalendar,
    company_name: &str,
) -> Result<String, String> {
    let when = |t: DateTime<Utc>| calendar.local(t).format("%d-%m-%Y %H:%M").to_string();
    let s = &report.statistics;
    let milestone_names: Vec<String> = s
        .overall
        .milestones
        .iter()
        .map(|m| milestone_label(&m.milestone).to_string())
        .collect();
    let by_severity: Vec<Value> = s
        .by_severity
        .iter()
        .map(|(severity, f)| {
            json!({
                "severity": severity,
                "received": f.received,
                "cells": s.overall.milestones.iter().map(|name| {
                    let m = f.milestones.iter().find(|m| m.milestone == name.milestone);
                    match m {
                        Some(m) if m.met + m.breached > 0 => json!({
                            "text": format!("{} de {} ({})", m.met, m.met + m.breached, percent(m.compliance)),
                            "low": m.compliance.is_some_and(|c| c < 0.9),
                        }),
                        _ => json!({"text": "—", "low": false}),
                    }
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let compliance = |name: &str| {
        percent(
            s.overall
                .milestones
                .iter()
                .find(|m| m.milestone == name)
                .and_then(|m| m.compliance),
        )
    };
    let tickets: Vec<Value> = report
        .tickets
        .iter()
        .map(|t| {
            json!({
                "folio": t.folio,
                "received": when(t.received_at),
                "subject": t.subject,
                "severity": t.severity.to_string(),
                "stage": t.stage,
                "milestones": t.milestones.iter().map(|m| json!({
                    "name": milestone_label(&m.milestone),
                    "due": m.due.map(when).unwrap_or_else(|| "—".into()),
                    "state": m.state,
                    "result": result(m.state, m.stopped_at.map(when)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let currency = report
        .billable
        .first()
        .map(|b| b.quote.currency.clone())
        .unwrap_or_default();
    let billable: Vec<Value> = report
        .billable
        .iter()
        .map(|b| {
            json!({
                "folio": b.folio,
                "minutes": b.minutes,
                "lines": b.quote.lines.iter().map(|l| json!({
                    "description": l.description,
                    "quantity": l.quantity,
                    "unit": money(l.unit_cents),
                    "amount": money(l.amount_cents),
                })).collect::<Vec<_>>(),
                "iva": money(b.quote.iva_cents),
                "total": money(b.quote.total_cents),
            })
        })
        .collect();
    let billable_total: i64 = report.billable.iter().map(|b| b.quote.total_cents).sum();
    let weeks_chart = bar_chart(
        report
            .weeks
            .iter()
            .map(|w| w.starts.format("%d-%m").to_string())
            .collect(),
        report.weeks.iter().map(|w| w.received as f32).collect(),
        "Reportes",
    )?;
    let response_chart = bar_chart(
        report
            .response_hours
            .iter()
            .map(|b| b.label.clone())
            .collect(),
        report
            .response_hours
            .iter()
            .map(|b| b.count as f32)
            .collect(),
        "Respuestas",
    )?;
    let channels: Vec<String> = s
        .overall
        .received_by_channel
        .iter()
        .map(|(c, n)| {
            format!(
                "{n} por {}",
                if c == "email" { "correo" } else { "formulario" }
            )
        })
        .collect();

    let mut env = minijinja::Environment::new();
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| e.to_string())?;
    let data = json!({
        "company_name": company_name,
        "customer": report.customer,
        "month_label": month_label(&report.month),
        "generated": when(report.generated_at),
        "received": s.overall.received,
        "channels": channels.join(", "),
        "ack_compliance": compliance("acknowledgement"),
        "response_compliance": compliance("response"),
        "satisfaction": match s.overall.satisfaction.share {
            Some(_) => format!("{} de {} encuestas respondidas ({})",
                s.overall.satisfaction.satisfied, s.overall.satisfaction.answered,
                percent(s.overall.satisfaction.share)),
            None => "sin encuestas respondidas".into(),
        },
        "milestone_names": milestone_names,
        "by_severity": by_severity,
        "tickets": tickets,
        "billable": billable,
        "billable_total": money(billable_total),
        "visits": report.visits.iter().map(|v| json!({
            "folio": v.folio.as_str(),
            "day": v.visited_on.format("%d/%m/%Y").to_string(),
            "technician": v.technician,
            "site": v.site,
            "result": v.result,
            "minutes": v.minutes,
            "billable": v.billable,
        })).collect::<Vec<_>>(),
        "currency": currency,
        "definitions": s.definitions,
    });
    env.get_template("report.html")
        .and_then(|t| {
            // Ours, not the customer's, go in as markup: our style sheet and the charts' SVG
            // (whose labels are dates and hour ranges). Everything else is escaped.
            t.render(minijinja::context! {
                css => minijinja::Value::from_safe_string(CSS.to_string()),
                weeks_chart => minijinja::Value::from_safe_string(weeks_chart),
                response_chart => minijinja::Value::from_safe_string(response_chart),
                ..minijinja::Value::from_serialize(&data)
            })
        })
        .map_err(|e| e.to_string())
}
