//! The monthly SLA report of one customer: the evidence owed to them that the contract was
//! kept (or where it was not). The figures come from [`crate::stats`]; this adds the
//! month's tickets one by one with every milestone, the tickets per week, the distribution
//! of response times and the billable work with its quote. Rendering (HTML, charts) is the
//! HTTP crate's.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::model::Folio;
use crate::policy::{Policy, PolicyError, Quote, Work};
use crate::sla::ClockState;
use crate::stats::{CustomerFilter, Observed, Period, Statistics, compute, counts_in};
use crate::ticket::Severity;

/// One milestone of one ticket as the customer reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MilestoneLine {
    pub milestone: String,
    pub due: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// `met`, `breached`, `running`, `paused` or `pending`.
    pub state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketLine {
    pub folio: Folio,
    pub received_at: DateTime<Utc>,
    pub subject: String,
    pub severity: Severity,
    pub stage: &'static str,
    pub milestones: Vec<MilestoneLine>,
}

/// Tickets received in one week (Monday to Sunday) of the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Week {
    /// The Monday that starts it (it may fall in the previous month).
    pub starts: NaiveDate,
    pub received: u64,
}

/// How many responses took how long (business hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// E.g. "2–4 h".
    pub label: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BillableLine {
    pub folio: Folio,
    pub minutes: i64,
    pub quote: Quote,
}

/// A visit to the customer's premises recorded in the month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitLine {
    pub folio: Folio,
    pub visited_on: NaiveDate,
    pub technician: String,
    pub site: String,
    pub result: String,
    pub minutes: i64,
    /// Whether its time is billed (the ticket's coverage is billable).
    pub billable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyReport {
    /// `YYYY-MM`.
    pub month: String,
    pub customer: String,
    pub statistics: Statistics,
    pub tickets: Vec<TicketLine>,
    pub weeks: Vec<Week>,
    pub response_hours: Vec<Bucket>,
    pub billable: Vec<BillableLine>,
    /// Visits to the customer's premises recorded in the month, by day.
    pub visits: Vec<VisitLine>,
    pub generated_at: DateTime<Utc>,
}

/// Upper bounds (business hours) of the response-time buckets; the last is open.
const RESPONSE_BUCKETS: [i64; 6] = [1, 2, 4, 8, 12, 24];

fn state_name(s: ClockState) -> &'static str {
    match s {
        ClockState::Pending => "pending",
        ClockState::Running => "running",
        ClockState::Paused => "paused",
        ClockState::Met => "met",
        ClockState::Breached => "breached",
    }
}

/// Builds the report of `month` (a period of whole days) for `customer`, from every ticket
/// the period can concern.
pub fn build(
    policy: &Policy,
    month: &str,
    period: Period,
    customer: &CustomerFilter,
    customer_name: &str,
    observed: &[Observed],
    now: DateTime<Utc>,
) -> Result<MonthlyReport, PolicyError> {
    let statistics = compute(policy, period, Some(customer), observed, now)?;
    let calendar = policy.calendar();
    let mine: Vec<&Observed> = observed
        .iter()
        .filter(|o| customer.matches(&o.ticket))
        .collect();

    // The month's tickets: received in it, or with a milestone that counts in it.
    let mut tickets: Vec<TicketLine> = mine
        .iter()
        .filter(|o| {
            period.contains(o.ticket.received_at) || o.clocks.iter().any(|c| counts_in(c, period))
        })
        .map(|o| TicketLine {
            folio: o.ticket.folio.clone(),
            received_at: o.ticket.received_at,
            subject: o.ticket.subject.clone(),
            severity: o.ticket.severity,
            stage: o.ticket.stage.label(),
            milestones: o
                .clocks
                .iter()
                .map(|c| MilestoneLine {
                    milestone: c.name.clone(),
                    due: c.due,
                    stopped_at: c.stopped_at,
                    state: state_name(c.state),
                })
                .collect(),
        })
        .collect();
    tickets.sort_by(|a, b| {
        a.received_at
            .cmp(&b.received_at)
            .then(a.folio.cmp(&b.folio))
    });

    // Weeks from the Monday on or before the first day to the last day.
    let first = calendar.local(period.from).date_naive();
    let last = calendar
        .local(period.to - Duration::seconds(1))
        .date_naive();
    let mut weeks = Vec::new();
    let mut monday = first - Duration::days(i64::from(first.weekday().num_days_from_monday()));
    while monday <= last {
        let received = mine
            .iter()
            .filter(|o| period.contains(o.ticket.received_at))
            .filter(|o| {
                let day = calendar.local(o.ticket.received_at).date_naive();
                monday <= day && day < monday + Duration::days(7)
            })
            .count() as u64;
        weeks.push(Week {
            starts: monday,
            received,
        });
        monday += Duration::days(7);
    }

    // Response times of the responses given in the month.
    let mut counts = [0u64; RESPONSE_BUCKETS.len() + 1];
    for c in mine
        .iter()
        .flat_map(|o| o.clocks.iter())
        .filter(|c| c.name == "response" && !c.running)
        .filter(|c| c.stopped_at.is_some_and(|t| period.contains(t)))
    {
        let hours = c.elapsed_seconds as f64 / 3600.0;
        let i = RESPONSE_BUCKETS
            .iter()
            .position(|b| hours <= *b as f64)
            .unwrap_or(RESPONSE_BUCKETS.len());
        counts[i] += 1;
    }
    let mut response_hours = Vec::new();
    let mut lower = 0;
    for (i, count) in counts.iter().enumerate() {
        let label = match RESPONSE_BUCKETS.get(i) {
            Some(upper) => format!("{lower}–{upper} h"),
            None => format!("> {lower} h"),
        };
        response_hours.push(Bucket {
            label,
            count: *count,
        });
        lower = RESPONSE_BUCKETS.get(i).copied().unwrap_or(lower);
    }

    // Billable work logged in the month, quoted ticket by ticket.
    let mut billable = Vec::new();
    for o in &mine {
        if !o.ticket.assessment.as_ref().is_some_and(|a| a.billable) {
            continue;
        }
        let minutes: i64 = o
            .events
            .iter()
            .filter(|e| period.contains(e.at))
            .filter_map(|e| e.kind.work_minutes())
            .sum();
        if minutes > 0 {
            billable.push(BillableLine {
                folio: o.ticket.folio.clone(),
                minutes,
                quote: policy.charge(Work { minutes })?,
            });
        }
    }

    let mut visits = Vec::new();
    for o in &mine {
        let billable = o.ticket.assessment.as_ref().is_some_and(|a| a.billable);
        for e in o.events.iter().filter(|e| period.contains(e.at)) {
            if let crate::model::EventKind::VisitRecorded {
                visited_on,
                technician,
                site,
                result,
                minutes,
            } = &e.kind
            {
                visits.push(VisitLine {
                    folio: o.ticket.folio.clone(),
                    visited_on: *visited_on,
                    technician: technician.clone(),
                    site: site.clone(),
                    result: result.clone(),
                    minutes: *minutes,
                    billable,
                });
            }
        }
    }
    visits.sort_by(|a, b| (a.visited_on, &a.folio).cmp(&(b.visited_on, &b.folio)));

    Ok(MonthlyReport {
        month: month.to_string(),
        customer: customer_name.to_string(),
        statistics,
        tickets,
        weeks,
        response_hours,
        billable,
        visits,
        generated_at: now,
    })
}
