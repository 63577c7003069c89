//! The SLA sweep: tickets due (through the store's index, never a scan) get their warnings
//! and breaches recorded, each once; unsent mail older than the re-drive delay is sent; a
//! heartbeat is recorded.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::clocks::recorded;
use super::{ChangePlan, Desk, DeskError, PlannedEvent, clocks};
use crate::model::{Event, EventKind, Ticket};
use crate::outbox::OutboxItem;
use crate::policy::Policy;
use crate::ports::Metric;
use crate::ticket::Severity;
use crate::types::Actor;
use crate::types::MailKind;

/// Most due tickets one pass looks at (the rest wait for the next minute).
const MAX_DUE_PER_PASS: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub examined: usize,
    pub warnings: usize,
    pub breaches: usize,
    pub redriven: usize,
}

impl Desk {
    /// The at-risk warnings among `recorded`, as mail to the ticket's owner (or the team's
    /// address): sent at once for severity 1, at any hour; for the others only within
    /// business hours, so one found at night waits for the next opening.
    pub(crate) fn warning_items(
        &self,
        policy: &Policy,
        ticket: &Ticket,
        recorded: &[Event],
        now: DateTime<Utc>,
    ) -> Vec<OutboxItem> {
        let Some(to) = ticket
            .owner
            .clone()
            .or_else(|| self.config.team_address.clone())
        else {
            return Vec::new();
        };
        let calendar = policy.calendar();
        let send_at = if ticket.severity == Severity::CRITICAL {
            now
        } else {
            match calendar.is_open(now) {
                Ok(true) => now,
                // The next opening: one business second after now, less that second.
                _ => calendar
                    .add(now, chrono::Duration::seconds(1))
                    .map(|t| t - chrono::Duration::seconds(1))
                    .unwrap_or(now),
            }
        };
        recorded
            .iter()
            .filter_map(|e| match &e.kind {
                // A deadline that falls before the warning could be sent (the 15-minute
                // acknowledgement at night, a 24x7 customer's): no warning that would
                // arrive after it; its breach is recorded and counted as always.
                EventKind::SlaWarning { milestone, due } if *due > send_at => {
                    Some(format!("{milestone} {}", due.to_rfc3339()))
                }
                _ => None,
            })
            .map(|body| {
                let mut item = OutboxItem::new(
                    OutboxItem::new_id(),
                    ticket.id.clone(),
                    MailKind::SlaWarning,
                    &to,
                    &self.config.mail_domain,
                    None,
                    body,
                    now,
                );
                item.not_before = send_at;
                item
            })
            .collect()
    }

    /// One pass of the SLA sweep at `now`.
    #[tracing::instrument(skip(self), err(level = "warn"))]
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, DeskError> {
        let mut report = SweepReport::default();
        for ticket in self.store.due_before(now, MAX_DUE_PER_PASS).await? {
            report.examined += 1;
            match self.sweep_ticket(&ticket, now).await {
                Ok((warnings, breaches)) => {
                    report.warnings += warnings;
                    report.breaches += breaches;
                }
                Err(e) => {
                    tracing::error!(folio = %ticket.folio, error = %e, "sweep could not update ticket")
                }
            }
        }
        let mut stale = self
            .store
            .pending_outbox_before(now - self.config.redrive_after)
            .await?;
        // Held on purpose (a warning until the next opening, a digest, a back-off) is not
        // stuck: only what is due and still unsent is re-driven.
        stale.retain(|item| item.not_before <= now);
        if !stale.is_empty() {
            report.redriven = stale.len();
            tracing::warn!(count = stale.len(), "re-driving unsent mail");
            self.deliver_outbox().await?;
        }
        self.store.record_heartbeat("sweep", now).await?;
        self.metrics.count(&Metric::SweepHeartbeat);
        Ok(report)
    }

    /// Records the warnings and breaches of one ticket due at `now` (through the one
    /// change loop, so a concurrent staff action is never overwritten; the change announces
    /// them to other systems) and gives how many of each it recorded.
    async fn sweep_ticket(
        &self,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize), DeskError> {
        let policy = self.policy();
        let share = f64::from(policy.settings().sla_warning_percent) / 100.0;
        let changed = self
            .change(&ticket.id, |current, events| {
                let statuses = clocks(&policy, current, events, now)?;
                let mut plan = ChangePlan::default();
                for s in statuses.iter().filter(|s| s.running) {
                    let Some(due) = s.due else { continue };
                    let kind = if now > due && !recorded(events, &s.name, true) {
                        EventKind::SlaBreached {
                            milestone: s.name.clone(),
                            due,
                        }
                    } else if now <= due
                        && s.elapsed_share >= share
                        && !recorded(events, &s.name, false)
                        && !recorded(events, &s.name, true)
                    {
                        EventKind::SlaWarning {
                            milestone: s.name.clone(),
                            due,
                        }
                    } else {
                        continue;
                    };
                    plan.events.push(PlannedEvent {
                        actor: Actor::Sweep,
                        at: now,
                        kind,
                        mail: None,
                    });
                }
                // No events still refreshes the ticket's next due instant.
                Ok(Some(plan))
            })
            .await?;
        let t = &changed.ticket;
        let (mut warnings, mut breaches) = (0, 0);
        for e in &changed.recorded {
            tracing::warn!(folio = %t.folio, event = e.kind.name(), "SLA");
            match &e.kind {
                EventKind::SlaWarning { milestone, .. } => {
                    warnings += 1;
                    self.metrics.count(&Metric::SlaAtRisk {
                        severity: t.severity,
                        milestone: milestone.clone(),
                    });
                }
                EventKind::SlaBreached { milestone, .. } => {
                    breaches += 1;
                    self.metrics.count(&Metric::SlaBreached {
                        severity: t.severity,
                        milestone: milestone.clone(),
                    });
                }
                _ => {}
            }
        }
        Ok((warnings, breaches))
    }
}
