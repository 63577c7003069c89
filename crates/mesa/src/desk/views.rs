//! What staff see: a ticket with its clocks as of now, its detail with the timeline, and
//! the queue in the contract's priority order.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Desk, DeskError, clocks};
use crate::model::{Event, Ticket};
use crate::policy::{Quote, Work};
use crate::ports::{ListFilter, PageRequest, QuarantineRecord};
use crate::sla::{ClockState, MilestoneStatus};

/// A ticket with its clocks, as the queue and the staff API show it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub ticket: Ticket,
    pub clocks: Vec<MilestoneStatus>,
    /// Deadline of the nearest running clock.
    pub next_deadline: Option<DateTime<Utc>>,
    pub quote: Option<Quote>,
    /// The severity is still the rules' (staff have not confirmed it).
    pub severity_provisional: bool,
    /// The rules were unsure: staff should confirm the severity first.
    pub needs_confirmation: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub view: TicketView,
    pub events: Vec<Event>,
}

impl Desk {
    /// Mail that became no ticket, newest first: robots' mail and unregistered senders set
    /// aside on purpose (`ignored`), and messages that could not be read (quarantined). The
    /// raw message of each is kept under its `raw_key`.
    pub async fn set_aside_mail(&self) -> Result<Vec<QuarantineRecord>, DeskError> {
        let mut all = self.store.list_quarantine().await?;
        all.sort_by(|a, b| b.received_at.cmp(&a.received_at).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// A ticket with its clocks as of now, and its quote when it is billable.
    pub async fn view(&self, ticket: Ticket) -> Result<TicketView, DeskError> {
        let events = self.store.events(&ticket.id).await?;
        self.view_with(ticket, &events)
    }

    fn view_with(&self, ticket: Ticket, events: &[Event]) -> Result<TicketView, DeskError> {
        let policy = self.policy();
        let clocks = clocks(&policy, &ticket, events, self.now())?;
        let next_deadline = clocks
            .iter()
            .filter(|c| c.running && c.state != ClockState::Paused)
            .filter_map(|c| c.due)
            .min();
        let quote = match &ticket.assessment {
            Some(a) if a.billable => Some(policy.charge(Work {
                minutes: ticket.work_minutes,
            })?),
            _ => None,
        };
        Ok(TicketView {
            severity_provisional: ticket.severity_provisional(),
            needs_confirmation: ticket.severity_needs_confirmation(),
            ticket,
            clocks,
            next_deadline,
            quote,
        })
    }

    pub async fn detail(&self, folio: &str) -> Result<TicketDetail, DeskError> {
        let ticket = self.ticket_by_folio(folio).await?;
        let events = self.store.events(&ticket.id).await?;
        Ok(TicketDetail {
            view: self.view_with(ticket, &events)?,
            events,
        })
    }

    /// Open tickets, and closed ones whose root-cause clock still runs, in the contract's
    /// priority order: severity, then the nearest deadline, then order of registration.
    pub async fn queue(&self) -> Result<Vec<TicketView>, DeskError> {
        let mut views = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: 200,
        };
        let filter = ListFilter {
            stage: None,
            open_only: true,
        };
        loop {
            let p = self.store.list(&filter, &page).await?;
            for t in p.items {
                views.push(self.view(t).await?);
            }
            match p.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        // A closed ticket can still owe the root-cause solution: its clock keeps it in the
        // due index, so it stays in the queue until that is delivered.
        for t in self
            .store
            .due_before(DateTime::<Utc>::MAX_UTC, MAX_CLOSED_WITH_CLOCKS)
            .await?
        {
            if !t.stage.is_open() {
                views.push(self.view(t).await?);
            }
        }
        views.sort_by(|a, b| priority(a).cmp(&priority(b)));
        Ok(views)
    }
}

/// Most closed tickets with a running clock the queue shows.
const MAX_CLOSED_WITH_CLOCKS: usize = 1000;

/// The queue's order key: severity, nearest deadline (none last), registration, folio.
fn priority(v: &TicketView) -> (crate::ticket::Severity, DateTime<Utc>, DateTime<Utc>, &str) {
    (
        v.ticket.severity,
        v.next_deadline.unwrap_or(DateTime::<Utc>::MAX_UTC),
        v.ticket.received_at,
        v.ticket.folio.as_str(),
    )
}
