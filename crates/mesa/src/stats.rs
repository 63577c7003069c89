//! Response-time statistics and SLA compliance over a period: the contract's "Generación de
//! estadísticas (tiempo de respuestas)". Pure: it is given the tickets (with their events) the
//! period can concern and the clocks' instant, and counts; `Desk::statistics`
//! reads them from the store.
//!
//! The definitions are stated in the output ([`DEFINITIONS`]) because a figure without its
//! denominator cannot be checked by the customer it is sent to.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::model::{Event, EventKind, Ticket};
use crate::policy::Coverage;
use crate::policy::{Policy, PolicyError, Work};
use crate::sla::{ClockState, MilestoneStatus};

/// What every figure means, in the order of the output.
pub const DEFINITIONS: [&str; 9] = [
    "Periodo: desde su inicio (incluido) hasta su fin (excluido); las fechas se leen en la zona horaria del calendario.",
    "Recibidos: tickets cuyo reporte se recibió dentro del periodo, por canal; la severidad es la vigente del ticket.",
    "Tiempos por hito: de los hitos que se detuvieron dentro del periodo, el tiempo contado por su reloj (sin pausas): los de horas hábiles en horas hábiles, los de días hábiles en días hábiles de la jornada ordinaria, los de reloj en minutos; p50 y p90 por rango más cercano, y el máximo.",
    "Cumplimiento por hito: cumplidos ÷ (cumplidos + incumplidos). Un hito cumplido cuenta en el periodo en que se cumplió; uno incumplido, en el periodo en que venció, se haya detenido después o siga corriendo: así cada hito se juzga una sola vez, en un solo periodo. Los que corren sin haber vencido no cuentan.",
    "Acuse: de la recepción al acuse enviado; su cumplimiento es la parte acusada dentro de su meta (15 minutos por contrato).",
    "Satisfacción: satisfechos ÷ encuestas respondidas dentro del periodo, contando la última respuesta de cada cierre de cada ticket.",
    "Facturable: minutos de trabajo registrados dentro del periodo en tickets cuyo diagnóstico los hace facturables, cotizados por billing.rhai ticket por ticket.",
    "Exclusiones: tickets diagnosticados dentro del periodo, por cobertura; las causas se cuentan en los no cubiertos.",
    "Pendientes ahora: tickets abiertos al momento del cálculo, en riesgo (algún reloj corriendo pasó el umbral de aviso) o vencidos (algún reloj corriendo ya venció), sin importar el periodo.",
];

/// A span of time, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    #[error("the period ends ({to}) before it starts ({from})")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("{0} does not exist in the calendar's time zone")]
    NoSuchDay(NaiveDate),
    #[error("no month {0}")]
    NoSuchMonth(String),
    #[error("{0} is outside the years the desk keeps (1970 to 9000)")]
    OutOfRange(NaiveDate),
}

impl Period {
    /// The days `first` to `last`, both included, in `tz` (midnight to midnight).
    pub fn days<Tz: TimeZone>(
        first: NaiveDate,
        last: NaiveDate,
        tz: &Tz,
    ) -> Result<Self, PeriodError> {
        // Stores compare instants as four-digit-year text, and reads reach back before the
        // period: far years would overflow or compare wrongly.
        for d in [first, last] {
            if !(1970..=9000).contains(&d.year()) {
                return Err(PeriodError::OutOfRange(d));
            }
        }
        if last < first {
            return Err(PeriodError::Reversed {
                from: first,
                to: last,
            });
        }
        let midnight = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| tz.from_local_datetime(&t).earliest())
                .map(|t| t.with_timezone(&Utc))
                .ok_or(PeriodError::NoSuchDay(d))
        };
        let after_last = last.succ_opt().ok_or(PeriodError::NoSuchDay(last))?;
        Ok(Self {
            from: midnight(first)?,
            to: midnight(after_last)?,
        })
    }

    /// A calendar month, `YYYY-MM`, in `tz`.
    pub fn month<Tz: TimeZone>(month: &str, tz: &Tz) -> Result<Self, PeriodError> {
        let bad = || PeriodError::NoSuchMonth(month.to_string());
        let (y, m) = month.split_once('-').ok_or_else(bad)?;
        let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        }
        .ok_or_else(bad)?;
        Self::days(first, next.pred_opt().ok_or_else(bad)?, tz)
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// Which tickets a figure is about: one customer, matched by company name, address or mail
/// domain, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFilter(String);

impl CustomerFilter {
    pub fn new(text: &str) -> Self {
        Self(text.trim().to_lowercase())
    }

    pub fn matches(&self, ticket: &Ticket) -> bool {
        let email = ticket.customer.email.to_lowercase();
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        customer_key(ticket) == self.0 || email == self.0 || domain == self.0
    }
}

/// The customer a ticket counts for: its company as typed (trimmed, any case), or its
/// mail domain when the company is blank.
fn customer_key(ticket: &Ticket) -> String {
    let company = ticket.customer.company.trim().to_lowercase();
    if !company.is_empty() {
        return company;
    }
    ticket
        .customer
        .email
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .unwrap_or_default()
}

/// p50, p90 and maximum of a set of durations, in one unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Spread {
    /// How many values (the denominator of the percentiles).
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        // Nearest rank: the smallest value with at least p % of the values at or below it.
        let rank = |p: f64| {
            let n = values.len();
            (n > 0).then(|| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
        };
        Self {
            count: values.len() as u64,
            p50: rank(0.5).map(round2),
            p90: rank(0.9).map(round2),
            max: values.last().copied().map(round2),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One milestone's times and compliance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MilestoneFigures {
    pub milestone: String,
    /// `business_hours`, `business_days` or `minutes`.
    pub unit: &'static str,
    /// Time counted by the clocks stopped in the period.
    pub time: Spread,
    pub met: u64,
    pub breached: u64,
    /// met ÷ (met + breached); none when nothing counted.
    pub compliance: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SatisfactionFigures {
    pub answered: u64,
    pub satisfied: u64,
    /// satisfied ÷ answered; none when no survey was answered.
    pub share: Option<f64>,
}

/// The figures of one group of tickets (all of them, one severity, one customer).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Figures {
    pub received: u64,
    /// Received, by channel (`email`, `form`).
    pub received_by_channel: BTreeMap<String, u64>,
    /// Per milestone, in the rules' order.
    pub milestones: Vec<MilestoneFigures>,
    pub satisfaction: SatisfactionFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CustomerFigures {
    pub customer: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct BillingFigures {
    /// Tickets with billable minutes logged in the period.
    pub tickets: u64,
    pub billable_minutes: i64,
    /// Every minute logged in the period, billable or not.
    pub logged_minutes: i64,
    pub subtotal_cents: i64,
    pub iva_cents: i64,
    pub total_cents: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ExclusionFigures {
    /// Tickets diagnosed in the period, by coverage (`covered`, `third_party`,
    /// `customer_attributable`).
    pub by_coverage: BTreeMap<String, u64>,
    /// Causes of the ones not covered.
    pub causes_not_covered: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Backlog {
    pub open: u64,
    /// Open, by severity ("1" … "4").
    pub open_by_severity: BTreeMap<String, u64>,
    pub at_risk: u64,
    pub breached: u64,
}

/// The statistics of a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Statistics {
    pub period: Period,
    /// The customer filter, when one was given.
    pub customer: Option<String>,
    /// The instant the running clocks were read at.
    pub as_of: DateTime<Utc>,
    pub overall: Figures,
    /// By the tickets' severity ("1" … "4").
    pub by_severity: BTreeMap<String, Figures>,
    pub by_customer: Vec<CustomerFigures>,
    pub billing: BillingFigures,
    pub exclusions: ExclusionFigures,
    pub backlog: Backlog,
    pub definitions: Vec<String>,
}

/// One ticket as the statistics read it: the ticket, its events and its clocks as of the
/// statistics' instant.
pub struct Observed {
    pub ticket: Ticket,
    pub events: Vec<Event>,
    pub clocks: Vec<MilestoneStatus>,
}

/// Counts `tickets` (every ticket the period can concern: see `Desk::statistics`) for
/// `period`, with the rules' billing, as of `now`.
pub fn compute(
    policy: &Policy,
    period: Period,
    customer: Option<&CustomerFilter>,
    tickets: &[Observed],
    now: DateTime<Utc>,
) -> Result<Statistics, PolicyError> {
    let day = policy.calendar().ordinary_day().num_seconds().max(3600) as f64;
    let chosen: Vec<&Observed> = tickets
        .iter()
        .filter(|o| customer.is_none_or(|c| c.matches(&o.ticket)))
        .collect();
    let order = milestone_order(&chosen);

    let mut by_severity: BTreeMap<String, Vec<&Observed>> = BTreeMap::new();
    let mut by_customer: BTreeMap<String, (String, Vec<&Observed>)> = BTreeMap::new();
    for o in chosen.iter().copied() {
        by_severity
            .entry(o.ticket.severity.to_string())
            .or_default()
            .push(o);
        by_customer
            .entry(customer_key(&o.ticket))
            .or_insert_with(|| (display_name(&o.ticket), Vec::new()))
            .1
            .push(o);
    }
    let of_group = |group: &[&Observed]| figures(group, &order, period, day);
    let mut customers: Vec<CustomerFigures> = by_customer
        .into_values()
        .map(|(name, group)| CustomerFigures {
            customer: name,
            figures: of_group(&group),
        })
        .collect();
    customers.sort_by(|a, b| {
        b.figures
            .received
            .cmp(&a.figures.received)
            .then_with(|| a.customer.cmp(&b.customer))
    });

    Ok(Statistics {
        period,
        customer: customer.map(|c| c.0.clone()),
        as_of: now,
        overall: of_group(&chosen),
        by_severity: by_severity
            .into_iter()
            .map(|(k, group)| (k, of_group(&group)))
            .collect(),
        by_customer: customers,
        billing: billing(policy, &chosen, period)?,
        exclusions: exclusions(&chosen, period),
        backlog: backlog(policy, &chosen),
        definitions: DEFINITIONS.iter().map(|d| d.to_string()).collect(),
    })
}

fn display_name(ticket: &Ticket) -> String {
    let company = ticket.customer.company.trim();
    if company.is_empty() {
        customer_key(ticket)
    } else {
        company.to_string()
    }
}

/// Milestone names in the order the rules give them (first seen), so every group lists the
/// same milestones in the same order.
fn milestone_order(tickets: &[&Observed]) -> Vec<(String, &'static str)> {
    let mut order: Vec<(String, &'static str)> = Vec::new();
    for o in tickets {
        for c in &o.clocks {
            if !order.iter().any(|(n, _)| *n == c.name) {
                order.push((c.name.clone(), unit(c)));
            }
        }
    }
    order
}

fn unit(c: &MilestoneStatus) -> &'static str {
    match (c.business, c.in_days) {
        (true, true) => "business_days",
        (true, false) => "business_hours",
        (false, _) => "minutes",
    }
}

fn in_unit(seconds: i64, unit: &str, business_day_seconds: f64) -> f64 {
    let s = seconds as f64;
    match unit {
        "business_days" => s / business_day_seconds,
        "business_hours" => s / 3600.0,
        _ => s / 60.0,
    }
}

/// What one milestone adds to a period: its time, when it stopped in the period; and its
/// verdict, in the period it belongs to: a met one where it was met (stopped), a breached one
/// where it fell due, whether it stopped later or still runs. So each clock is judged once,
/// in one period, and a report does not change when a late answer comes the next month.
struct Counted {
    seconds: Option<i64>,
    /// `Some(true)` met, `Some(false)` breached.
    met: Option<bool>,
}

/// Whether a milestone adds anything to `period` (a time or a verdict).
pub fn counts_in(c: &MilestoneStatus, period: Period) -> bool {
    let k = counted(c, period);
    k.seconds.is_some() || k.met.is_some()
}

fn counted(c: &MilestoneStatus, period: Period) -> Counted {
    let stopped_in_period = !c.running && c.stopped_at.is_some_and(|at| period.contains(at));
    let decided = matches!(c.state, ClockState::Met | ClockState::Breached);
    Counted {
        seconds: (stopped_in_period && decided).then_some(c.elapsed_seconds),
        met: match c.state {
            ClockState::Met if stopped_in_period => Some(true),
            ClockState::Breached if c.due.is_some_and(|d| period.contains(d)) => Some(false),
            _ => None,
        },
    }
}

fn figures(
    group: &[&Observed],
    order: &[(String, &'static str)],
    period: Period,
    business_day_seconds: f64,
) -> Figures {
    let mut f = Figures::default();
    for o in group
        .iter()
        .filter(|o| period.contains(o.ticket.received_at))
    {
        f.received += 1;
        *f.received_by_channel
            .entry(o.ticket.channel.as_str().to_string())
            .or_default() += 1;
    }
    for &(ref name, unit) in order {
        let (mut times, mut met, mut breached) = (Vec::new(), 0, 0);
        for c in group
            .iter()
            .flat_map(|o| o.clocks.iter())
            .filter(|c| c.name == *name)
        {
            let k = counted(c, period);
            if let Some(seconds) = k.seconds {
                times.push(in_unit(seconds, unit, business_day_seconds));
            }
            match k.met {
                Some(true) => met += 1,
                Some(false) => breached += 1,
                None => {}
            }
        }
        f.milestones.push(MilestoneFigures {
            milestone: name.clone(),
            unit,
            time: Spread::of(times),
            met,
            breached,
            compliance: share(met, met + breached),
        });
    }
    f.satisfaction = satisfaction(group, period);
    f
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round4(part as f64 / whole as f64))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The last answer of each closing of each ticket, answered within the period.
fn satisfaction(group: &[&Observed], period: Period) -> SatisfactionFigures {
    let mut last: BTreeMap<(String, u32), bool> = BTreeMap::new();
    for o in group {
        for e in &o.events {
            if !period.contains(e.at) {
                continue;
            }
            if let EventKind::SatisfactionRecorded {
                satisfied, closing, ..
            } = &e.kind
            {
                last.insert((o.ticket.id.to_string(), *closing), *satisfied);
            }
        }
    }
    let answered = last.len() as u64;
    let satisfied = last.values().filter(|s| **s).count() as u64;
    SatisfactionFigures {
        answered,
        satisfied,
        share: share(satisfied, answered),
    }
}

fn billing(
    policy: &Policy,
    group: &[&Observed],
    period: Period,
) -> Result<BillingFigures, PolicyError> {
    let mut b = BillingFigures::default();
    for o in group {
        let minutes: i64 = o
            .events
            .iter()
            .filter(|e| period.contains(e.at))
            .filter_map(|e| e.kind.work_minutes())
            .sum();
        b.logged_minutes += minutes;
        let billable = o.ticket.assessment.as_ref().is_some_and(|a| a.billable);
        if !billable || minutes <= 0 {
            continue;
        }
        let quote = policy.charge(Work { minutes })?;
        b.tickets += 1;
        b.billable_minutes += minutes;
        b.subtotal_cents += quote.subtotal_cents;
        b.iva_cents += quote.iva_cents;
        b.total_cents += quote.total_cents;
        b.currency = quote.currency;
    }
    Ok(b)
}

/// The last diagnosis of each ticket diagnosed in the period.
fn exclusions(group: &[&Observed], period: Period) -> ExclusionFigures {
    let mut x = ExclusionFigures::default();
    for o in group {
        let last = o.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::Diagnosed { assessment, .. } if period.contains(e.at) => Some(assessment),
            _ => None,
        });
        if let Some(a) = last {
            *x.by_coverage
                .entry(a.coverage.as_str().to_string())
                .or_default() += 1;
            if a.coverage != Coverage::Covered {
                *x.causes_not_covered.entry(a.cause.clone()).or_default() += 1;
            }
        }
    }
    x
}

fn backlog(policy: &Policy, group: &[&Observed]) -> Backlog {
    let warning = f64::from(policy.settings().sla_warning_percent) / 100.0;
    let mut b = Backlog::default();
    for o in group.iter().filter(|o| o.ticket.stage.is_open()) {
        b.open += 1;
        *b.open_by_severity
            .entry(o.ticket.severity.to_string())
            .or_default() += 1;
        let running = || {
            o.clocks
                .iter()
                .filter(|c| c.running && c.state != ClockState::Paused)
        };
        if running().any(|c| c.state == ClockState::Breached) {
            b.breached += 1;
        } else if running().any(|c| c.elapsed_share >= warning) {
            b.at_risk += 1;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Spread::of(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(
            (s.count, s.p50, s.p90, s.max),
            (5, Some(3.0), Some(5.0), Some(5.0))
        );
        let s = Spread::of((1..=10).map(f64::from).collect());
        assert_eq!((s.p50, s.p90), (Some(5.0), Some(9.0)));
        assert_eq!(Spread::of(vec![]), Spread::default());
    }

    #[test]
    fn a_month_in_mexico_city_starts_at_its_midnight() {
        let tz = chrono_tz::America::Mexico_City;
        let p = Period::month("2026-11", &tz).unwrap();
        assert_eq!(p.from.to_rfc3339(), "2026-11-01T06:00:00+00:00");
        assert_eq!(p.to.to_rfc3339(), "2026-12-01T06:00:00+00:00");
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert!(matches!(
            Period::days(d, d.pred_opt().unwrap(), &tz),
            Err(PeriodError::Reversed { .. })
        ));
        assert!(Period::month("2026-13", &tz).is_err());
        let far = NaiveDate::from_ymd_opt(-262_000, 1, 1).unwrap();
        assert!(matches!(
            Period::days(far, d, &tz),
            Err(PeriodError::OutOfRange(_))
        ));
        assert!(Period::month("9999-12", &tz).is_err());
    }
}
