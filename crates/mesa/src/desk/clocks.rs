//! A ticket's SLA clocks as of an instant, and the next instant the sweep must look at it:
//! pure functions of (events, rules, calendar), so every deadline is recomputed the same way
//! after any change of severity, pause or contract version.

use chrono::{DateTime, Duration, Utc};

use super::DeskError;
use crate::model::{Event, EventKind, Ticket};
use crate::policy::Policy;
use crate::sla::{self, ClockState, MilestoneStatus};
use crate::ticket::{ClockSignal, Severity, TicketFacts};

/// Whether a breach (or, with `breach` false, a warning) of `milestone` is already recorded.
pub(crate) fn recorded(events: &[Event], milestone: &str, breach: bool) -> bool {
    events.iter().any(|e| match &e.kind {
        EventKind::SlaBreached { milestone: m, .. } => breach && m == milestone,
        EventKind::SlaWarning { milestone: m, .. } => !breach && m == milestone,
        _ => false,
    })
}

/// The clock signals of a ticket's events, in order of time. The report gives two: sent
/// (`received`, the event's instant) and `arrived` (when mesa got it; the same instant for a
/// form, and for tickets recorded before the two were told apart).
pub fn timeline(events: &[Event]) -> Vec<(DateTime<Utc>, ClockSignal)> {
    let mut timeline = Vec::with_capacity(events.len() + 1);
    for e in events {
        if let Some(signal) = e.kind.signal() {
            timeline.push((e.at, signal));
        }
        if let EventKind::Received { arrived_at, .. } = &e.kind {
            timeline.push((arrived_at.unwrap_or(e.at), ClockSignal::Arrived));
        }
    }
    // Stable: events of the same instant keep their order.
    timeline.sort_by_key(|(at, _)| *at);
    timeline
}

/// Every SLA clock of a ticket as of `now`, under the rules in force.
pub fn clocks(
    policy: &Policy,
    ticket: &Ticket,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<Vec<MilestoneStatus>, DeskError> {
    let defs = policy.milestones(&ticket.facts(), ticket.severity)?;
    Ok(sla::evaluate(
        &timeline(events),
        &defs,
        policy.calendar(),
        now,
    )?)
}

/// The next instant the sweep must look at this ticket: the earliest unrecorded warning or
/// breach point of a running clock (paused and stopped clocks have none).
pub fn next_due(
    policy: &Policy,
    facts: &TicketFacts,
    severity: Severity,
    events: &[Event],
) -> Result<Option<DateTime<Utc>>, DeskError> {
    let Some(last) = events.iter().map(|e| e.at).max() else {
        return Ok(None);
    };
    let defs = policy.milestones(facts, severity)?;
    let statuses = sla::evaluate(&timeline(events), &defs, policy.calendar(), last)?;
    let percent = i64::from(policy.settings().sla_warning_percent);
    let mut next: Option<DateTime<Utc>> = None;
    for (def, s) in defs.iter().zip(&statuses) {
        if !s.running || s.state == ClockState::Paused {
            continue;
        }
        let (Some(start), Some(due)) = (s.started_at, s.due) else {
            continue;
        };
        let mut point = None;
        if !recorded(events, &s.name, true) {
            point = Some(due);
            if !recorded(events, &s.name, false) {
                let warn_after =
                    Duration::seconds(s.target_seconds * percent / 100 + s.paused_seconds);
                let warn_at = if def.target.is_business() {
                    policy.calendar().add(start, warn_after)?
                } else {
                    start + warn_after
                };
                point = Some(warn_at.min(due));
            }
        }
        if let Some(p) = point {
            next = Some(next.map_or(p, |n| n.min(p)));
        }
    }
    Ok(next)
}
