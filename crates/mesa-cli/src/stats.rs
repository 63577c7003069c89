//! `mesa stats`: the statistics of a period on this machine's store, as a table for a
//! person, JSON for a program, or CSV for a spreadsheet.

use std::io::Write;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use mesa::stats::{Figures, MilestoneFigures, Period, Statistics};

use crate::local::{DataArg, open_existing};
use crate::rules_source::RulesSource;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub struct StatsArgs {
    /// First day of the period (YYYY-MM-DD, in the calendar's time zone)
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day of the period, included
    #[arg(long)]
    pub to: NaiveDate,
    /// Only one customer: its company name, an address or a mail domain
    #[arg(long)]
    pub customer: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[command(flatten)]
    pub data: DataArg,
}

pub async fn run(args: StatsArgs, source: &RulesSource) -> Result<()> {
    let local = open_existing(&args.data.data, source)?;
    let tz = local.desk.policy().calendar().time_zone();
    let period = Period::days(args.from, args.to, &tz).context("--from/--to")?;
    let stats = local
        .desk
        .statistics(period, args.customer.as_deref())
        .await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &stats)?;
            writeln!(out)?;
        }
        Format::Csv => write_csv(&mut out, &stats)?,
        Format::Table => write!(out, "{}", table(&stats, args.from, args.to, tz.name()))?,
    }
    Ok(())
}

fn number(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into())
}

fn percent(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn unit_label(unit: &str) -> &'static str {
    match unit {
        "business_hours" => "h hábiles",
        "business_days" => "días háb.",
        _ => "minutos",
    }
}

/// The milestone table of one group, aligned for a terminal.
fn milestone_rows(milestones: &[MilestoneFigures]) -> String {
    let mut s = format!(
        "  {:<16} {:<10} {:>4} {:>8} {:>8} {:>8} {:>9} {:>11} {:>12}\n",
        "hito", "unidad", "n", "p50", "p90", "máx", "cumplidos", "incumplidos", "cumplimiento"
    );
    for m in milestones {
        s += &format!(
            "  {:<16} {:<10} {:>4} {:>8} {:>8} {:>8} {:>9} {:>11} {:>12}\n",
            m.milestone,
            unit_label(m.unit),
            m.time.count,
            number(m.time.p50),
            number(m.time.p90),
            number(m.time.max),
            m.met,
            m.breached,
            percent(m.compliance)
        );
    }
    s
}

fn group(title: &str, f: &Figures) -> String {
    let channels: Vec<String> = f
        .received_by_channel
        .iter()
        .map(|(c, n)| {
            let channel = match c.as_str() {
                "email" => "correo",
                "form" => "formulario",
                other => other,
            };
            format!("{channel} {n}")
        })
        .collect();
    format!(
        "{title}: {} recibidos ({}); satisfacción {} de {} ({})\n{}",
        f.received,
        if channels.is_empty() {
            "—".into()
        } else {
            channels.join(", ")
        },
        f.satisfaction.satisfied,
        f.satisfaction.answered,
        percent(f.satisfaction.share),
        milestone_rows(&f.milestones)
    )
}

fn money(cents: i64, currency: &str) -> String {
    format!("{} {currency}", mesa::messages::money(cents))
}

fn table(s: &Statistics, from: NaiveDate, to: NaiveDate, tz: &str) -> String {
    let mut t = format!(
        "Estadísticas del {from} al {to} ({tz}){}; relojes leídos el {}\n\n",
        s.customer
            .as_deref()
            .map(|c| format!(", cliente «{c}»"))
            .unwrap_or_default(),
        s.as_of.format("%Y-%m-%d %H:%M UTC")
    );
    t += &group("Todos", &s.overall);
    for (severity, f) in &s.by_severity {
        t += "\n";
        t += &group(&format!("Severidad {severity}"), f);
    }
    for c in &s.by_customer {
        t += "\n";
        t += &group(&c.customer, &c.figures);
    }
    let b = &s.billing;
    t += &format!(
        "\nFacturable: {} tickets, {} de {} minutos registrados; total {} (subtotal {}, IVA {})\n",
        b.tickets,
        b.billable_minutes,
        b.logged_minutes,
        money(b.total_cents, &b.currency),
        money(b.subtotal_cents, &b.currency),
        money(b.iva_cents, &b.currency)
    );
    let kinds = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "—".to_string()
        } else {
            m.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    t += &format!(
        "Cobertura de los diagnosticados: {}; causas no cubiertas: {}\n",
        kinds(&s.exclusions.by_coverage),
        kinds(&s.exclusions.causes_not_covered)
    );
    t += &format!(
        "Pendientes ahora: {} abiertos ({}), {} en riesgo, {} vencidos\n\nDefiniciones:\n",
        s.backlog.open,
        kinds(&s.backlog.open_by_severity),
        s.backlog.at_risk,
        s.backlog.breached
    );
    for (i, d) in s.definitions.iter().enumerate() {
        t += &format!("{}. {d}\n", i + 1);
    }
    t
}

/// One row per group and milestone, with the group's received count on each.
fn write_csv(out: &mut impl Write, s: &Statistics) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "group",
        "value",
        "received",
        "milestone",
        "unit",
        "count",
        "p50",
        "p90",
        "max",
        "met",
        "breached",
        "compliance",
    ])?;
    let groups = std::iter::once(("all", "", &s.overall))
        .chain(
            s.by_severity
                .iter()
                .map(|(k, f)| ("severity", k.as_str(), f)),
        )
        .chain(
            s.by_customer
                .iter()
                .map(|c| ("customer", c.customer.as_str(), &c.figures)),
        );
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for (kind, value, f) in groups {
        for m in &f.milestones {
            w.write_record([
                kind.to_string(),
                value.to_string(),
                f.received.to_string(),
                m.milestone.clone(),
                m.unit.to_string(),
                m.time.count.to_string(),
                opt(m.time.p50),
                opt(m.time.p90),
                opt(m.time.max),
                m.met.to_string(),
                m.breached.to_string(),
                opt(m.compliance),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

#[derive(Args)]
pub struct ReportArgs {
    /// The month, YYYY-MM
    #[arg(long)]
    pub month: String,
    /// The customer: its company name, an address or a mail domain
    #[arg(long)]
    pub customer: String,
    /// Where to write the HTML page
    #[arg(long, value_name = "FILE.html")]
    pub out: std::path::PathBuf,
    #[command(flatten)]
    pub data: DataArg,
}

/// Writes the customer's monthly SLA report; prints where, and what it holds.
pub async fn report(args: ReportArgs, source: &RulesSource) -> Result<()> {
    let local = open_existing(&args.data.data, source)?;
    let policy = local.desk.policy();
    let report = local
        .desk
        .monthly_report(&args.month, &args.customer)
        .await?;
    let html =
        mesa_http::report::render(&report, policy.calendar(), &policy.settings().company_name)
            .map_err(|e| anyhow::anyhow!("the report did not render: {e}"))?;
    std::fs::write(&args.out, html)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(
        &mut out,
        &serde_json::json!({
            "out": args.out,
            "month": report.month,
            "customer": report.customer,
            "tickets": report.tickets.len(),
            "received": report.statistics.overall.received,
        }),
    )?;
    writeln!(out)?;
    Ok(())
}
