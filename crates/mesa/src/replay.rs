//! What a candidate rules bundle would change, before it is published: every ticket of a
//! period classified, clocked and quoted again under it, nothing written. The tickets whose
//! severity, deadlines or quote move are listed one by one (before → after), and the
//! compliance and amounts of the period are given under both bundles.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Folio, Ticket};
use crate::policy::{Policy, PolicyError, RulesVersion, Work};
use crate::stats::{Observed, Period, compute, counts_in};
use crate::ticket::Severity;

/// One milestone's deadline on one ticket, before → after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineMove {
    pub milestone: String,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
}

/// A ticket the candidate treats differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketDifference {
    pub folio: Folio,
    pub severity_before: Severity,
    pub severity_after: Severity,
    /// Milestones whose due instant moves (or that appear or go away).
    pub deadlines: Vec<DeadlineMove>,
    /// The quote's total in cents, when billable.
    pub quote_before_cents: Option<i64>,
    pub quote_after_cents: Option<i64>,
}

/// One milestone's compliance in the period, before → after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceMove {
    pub milestone: String,
    pub met_before: u64,
    pub breached_before: u64,
    pub compliance_before: Option<f64>,
    pub met_after: u64,
    pub breached_after: u64,
    pub compliance_after: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    pub period: Period,
    pub rules_before: RulesVersion,
    pub rules_after: RulesVersion,
    /// Tickets of the period (received in it, or with a clock that counts in it under either
    /// bundle), each classified, clocked and quoted again.
    pub tickets: u64,
    pub differences: Vec<TicketDifference>,
    pub compliance: Vec<ComplianceMove>,
    /// Billable work of the period, quoted by each bundle (cents).
    pub billed_before_cents: i64,
    pub billed_after_cents: i64,
    pub currency: String,
    /// The instant the clocks were read at.
    pub as_of: DateTime<Utc>,
}

/// One ticket as the rules in force see it and as the candidate would.
pub struct Replayed {
    pub before: Observed,
    /// With the candidate's severity (its own while the ticket's is still the rules') and
    /// the candidate's clocks.
    pub after: Observed,
}

fn quote(policy: &Policy, ticket: &Ticket) -> Result<Option<i64>, PolicyError> {
    match &ticket.assessment {
        Some(a) if a.billable && ticket.work_minutes > 0 => Ok(Some(
            policy
                .charge(Work {
                    minutes: ticket.work_minutes,
                })?
                .total_cents,
        )),
        _ => Ok(None),
    }
}

/// Compares `tickets` (every ticket the period can concern, replayed) under `before` (the
/// rules in force) and `after` (the candidate), as of `now`.
pub fn compare(
    before: &Policy,
    after: &Policy,
    period: Period,
    tickets: Vec<Replayed>,
    now: DateTime<Utc>,
) -> Result<Replay, PolicyError> {
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let mut differences = Vec::new();
    let mut examined = 0;
    for Replayed {
        before: a,
        after: b,
    } in tickets
    {
        let ticket = &a.ticket;
        // A ticket of the period: received in it, or with a clock that counts in it under
        // either bundle.
        let of_period = period.contains(ticket.received_at)
            || a.clocks
                .iter()
                .chain(&b.clocks)
                .any(|c| counts_in(c, period));
        if of_period {
            examined += 1;
            let mut deadlines = Vec::new();
            for c in &a.clocks {
                let moved = b.clocks.iter().find(|d| d.name == c.name).map(|d| d.due);
                if moved != Some(c.due) {
                    deadlines.push(DeadlineMove {
                        milestone: c.name.clone(),
                        before: c.due,
                        after: moved.flatten(),
                    });
                }
            }
            for d in b
                .clocks
                .iter()
                .filter(|d| !a.clocks.iter().any(|c| c.name == d.name))
            {
                deadlines.push(DeadlineMove {
                    milestone: d.name.clone(),
                    before: None,
                    after: d.due,
                });
            }
            let (quote_before, quote_after) = (quote(before, ticket)?, quote(after, ticket)?);
            if a.ticket.severity != b.ticket.severity
                || !deadlines.is_empty()
                || quote_before != quote_after
            {
                differences.push(TicketDifference {
                    folio: ticket.folio.clone(),
                    severity_before: a.ticket.severity,
                    severity_after: b.ticket.severity,
                    deadlines,
                    quote_before_cents: quote_before,
                    quote_after_cents: quote_after,
                });
            }
        }
        old.push(a);
        new.push(b);
    }
    let s_before = compute(before, period, None, &old, now)?;
    let s_after = compute(after, period, None, &new, now)?;
    let mut compliance: Vec<ComplianceMove> = s_before
        .overall
        .milestones
        .iter()
        .map(|m| {
            let n = s_after
                .overall
                .milestones
                .iter()
                .find(|n| n.milestone == m.milestone);
            ComplianceMove {
                milestone: m.milestone.clone(),
                met_before: m.met,
                breached_before: m.breached,
                compliance_before: m.compliance,
                met_after: n.map_or(0, |n| n.met),
                breached_after: n.map_or(0, |n| n.breached),
                compliance_after: n.and_then(|n| n.compliance),
            }
        })
        .collect();
    for n in &s_after.overall.milestones {
        if !compliance.iter().any(|c| c.milestone == n.milestone) {
            compliance.push(ComplianceMove {
                milestone: n.milestone.clone(),
                met_before: 0,
                breached_before: 0,
                compliance_before: None,
                met_after: n.met,
                breached_after: n.breached,
                compliance_after: n.compliance,
            });
        }
    }
    Ok(Replay {
        period,
        rules_before: before.version().clone(),
        rules_after: after.version().clone(),
        tickets: examined,
        differences,
        compliance,
        billed_before_cents: s_before.billing.total_cents,
        billed_after_cents: s_after.billing.total_cents,
        currency: if s_after.billing.currency.is_empty() {
            s_before.billing.currency
        } else {
            s_after.billing.currency
        },
        as_of: now,
    })
}
