//! Domain events for other systems (a ticket created, a deadline at risk or breached, mail
//! that did not reach the customer). Each is written as an outbox item in the same store
//! write as the ticket change it announces, so a crash or a bus outage cannot lose it, and
//! the outbox worker publishes it at least once from there (on AWS, from the table's stream
//! like the mail). The item's id is the event's id on every delivery: consumers drop
//! repeats by it.

use chrono::{DateTime, Utc};

use super::Desk;
use super::delivery::Attempt;
use crate::model::{Event, EventKind, Ticket, TicketId};
use crate::outbox::{MailKind, OutboxItem};
use crate::ports::{DomainEvent, Metric, PublishedEvent};
use crate::telemetry::SlaEvent;

/// The recipient an event item names: the desk's event bus decides where it goes.
pub const EVENT_BUS: &str = "events@bus.invalid";

/// How long an event waits for a worker with an event bus before it is given up on (only a
/// worker configured without one, against a store whose writers have one, gets there).
const EVENT_UNCLAIMED_FOR: chrono::Duration = chrono::Duration::hours(24);

/// Whether other systems are told of this ticket event.
fn announced(kind: &EventKind) -> bool {
    match kind {
        EventKind::Received { .. }
        | EventKind::SlaWarning { .. }
        | EventKind::SlaBreached { .. } => true,
        EventKind::MailFeedback { delivery } => delivery.status.is_failure(),
        _ => false,
    }
}

/// The domain event that the ticket's event `seq` announces, built from the ticket as
/// stored (its folio exists only once the store numbered it) and its events up to `seq`.
pub fn domain_event(ticket: &Ticket, events: &[Event], seq: u64) -> Option<DomainEvent> {
    let event = events.iter().find(|e| e.seq == seq)?;
    // The severity in force when it happened: the last change at or before it.
    let severity_then = events
        .iter()
        .rev()
        .filter(|e| e.seq <= seq)
        .find_map(|e| match &e.kind {
            EventKind::SeverityChanged { to, .. } => Some(*to),
            _ => None,
        });
    let sla = |milestone: &str, due: DateTime<Utc>| SlaEvent {
        ticket_id: ticket.id.clone(),
        folio: ticket.folio.clone(),
        severity: severity_then.unwrap_or(ticket.severity),
        milestone: milestone.to_string(),
        due,
        at: event.at,
    };
    Some(match &event.kind {
        EventKind::Received { channel, .. } => DomainEvent::TicketCreated {
            ticket_id: ticket.id.clone(),
            folio: ticket.folio.clone(),
            // The rules' classification at opening (the first severity recorded).
            severity: events
                .iter()
                .find_map(|e| match &e.kind {
                    EventKind::SeverityChanged { to, .. } => Some(*to),
                    _ => None,
                })
                .unwrap_or(ticket.severity),
            channel: *channel,
            received_at: ticket.received_at,
            verified: ticket.verified,
        },
        EventKind::SlaWarning { milestone, due } => DomainEvent::SlaAtRisk(sla(milestone, *due)),
        EventKind::SlaBreached { milestone, due } => DomainEvent::SlaBreached(sla(milestone, *due)),
        EventKind::MailFeedback { delivery } if delivery.status.is_failure() => {
            DomainEvent::MailUndeliverable {
                ticket_id: ticket.id.clone(),
                folio: ticket.folio.clone(),
                mail_kind: delivery.mail_kind,
                status: delivery.status,
                recipients: delivery.recipients.clone(),
                detail: delivery.detail.clone(),
                at: delivery.at,
            }
        }
        _ => return None,
    })
}

impl Desk {
    /// The outbox items announcing what `recorded` means to other systems, to be written
    /// with it; none when the desk has no event bus (one machine).
    pub(crate) fn announcements(
        &self,
        ticket: &TicketId,
        recorded: &[Event],
        now: DateTime<Utc>,
    ) -> Vec<OutboxItem> {
        if self.events.is_none() {
            return Vec::new();
        }
        recorded
            .iter()
            .filter(|e| announced(&e.kind))
            .map(|e| {
                OutboxItem::new(
                    OutboxItem::new_id(),
                    ticket.clone(),
                    MailKind::Event,
                    EVENT_BUS,
                    &self.config.mail_domain,
                    None,
                    e.seq.to_string(),
                    now,
                )
            })
            .collect()
    }

    /// Publishes one event item; a bus failure is counted and retried with the outbox's
    /// back-off.
    pub(super) async fn deliver_event(&self, item: &OutboxItem) -> Attempt {
        let Some(bus) = &self.events else {
            if self.now() - item.created_at < EVENT_UNCLAIMED_FOR {
                return Attempt::Retry("an event, and this worker has no event bus".into());
            }
            return Attempt::GiveUp("an event no worker with an event bus published".into());
        };
        let Ok(seq) = item.body.parse::<u64>() else {
            return Attempt::GiveUp(format!("event item with a bad body {:?}", item.body));
        };
        let ticket = match self.store.get(&item.ticket_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return Attempt::GiveUp(format!("ticket {} is gone", item.ticket_id)),
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let events = match self.store.events(&item.ticket_id).await {
            Ok(events) => events,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let Some(event) = domain_event(&ticket, &events, seq) else {
            // Written but not read back yet (a store whose reads lag): try again later.
            if seq <= ticket.version && !events.iter().any(|e| e.seq == seq) {
                return Attempt::Retry(format!("event {seq} of {} not readable yet", ticket.folio));
            }
            self.metrics.count(&Metric::EventPublishErrors);
            return Attempt::GiveUp(format!("event {seq} of {} announces nothing", ticket.folio));
        };
        let published = PublishedEvent {
            id: item.id.clone(),
            event,
        };
        if let Err(e) = bus.publish(std::slice::from_ref(&published)).await {
            self.metrics.count(&Metric::EventPublishErrors);
            return Attempt::Retry(e.to_string());
        }
        let mut sent = item.clone();
        sent.sent(self.now());
        if let Err(e) = self.store.save_outbox(&sent).await {
            // Published but not marked: published again at the retry, with the same id.
            return Attempt::Retry(e.to_string());
        }
        tracing::info!(folio = %ticket.folio, event = published.event.detail_type(), id = %item.id, "domain event published");
        Attempt::Sent
    }
}
