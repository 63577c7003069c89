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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
            ..ListFilter::default()
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

/// Which tickets of the queue staff want to see. Every part narrows; empty shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub severity: Option<crate::ticket::Severity>,
    pub stage: Option<crate::model::Stage>,
    /// Part of the company's name, any case and accents as typed.
    pub company: Option<String>,
    pub clocks: Option<ClockFilter>,
    /// Words that must all appear in the folio, company, contact, subject or description.
    pub text: Option<String>,
    pub owner: Option<OwnerFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerFilter {
    /// Assigned to this staff member (address).
    Is(String),
    /// Assigned to nobody.
    Nobody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockFilter {
    /// A clock still running past its due instant.
    Breached,
    /// A running clock past the warning share of its target, or breached.
    AtRisk,
}

impl TicketView {
    /// The clock that sets `next_deadline` (the nearest running one), if any.
    pub fn next_clock(&self) -> Option<&MilestoneStatus> {
        let due = self.next_deadline?;
        self.clocks
            .iter()
            .find(|c| c.running && c.state != ClockState::Paused && c.due == Some(due))
    }

    pub fn is_breached(&self) -> bool {
        self.clocks
            .iter()
            .any(|c| c.running && c.state == ClockState::Breached)
    }

    /// A running clock has used `warning_percent` of its target or more.
    pub fn is_at_risk(&self, warning_percent: u32) -> bool {
        self.clocks.iter().any(|c| {
            c.running
                && c.state != ClockState::Paused
                && c.elapsed_share * 100.0 >= f64::from(warning_percent)
        })
    }
}

fn folded(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

impl QueueFilter {
    pub fn is_empty(&self) -> bool {
        *self == QueueFilter::default()
    }

    pub fn matches(&self, v: &TicketView, warning_percent: u32) -> bool {
        let t = &v.ticket;
        if self.severity.is_some_and(|s| s != t.severity) {
            return false;
        }
        if self.stage.is_some_and(|s| s != t.stage) {
            return false;
        }
        match &self.owner {
            Some(OwnerFilter::Nobody) if t.owner.is_some() => return false,
            Some(OwnerFilter::Is(who))
                if t.owner.as_deref() != Some(crate::types::address_key(who).as_str()) =>
            {
                return false;
            }
            _ => {}
        }
        if let Some(company) = self
            .company
            .as_deref()
            .map(folded)
            .filter(|c| !c.is_empty())
        {
            if !folded(&t.customer.company).contains(&company) {
                return false;
            }
        }
        match self.clocks {
            Some(ClockFilter::Breached) if !v.is_breached() => return false,
            Some(ClockFilter::AtRisk) if !(v.is_breached() || v.is_at_risk(warning_percent)) => {
                return false;
            }
            _ => {}
        }
        if let Some(text) = self.text.as_deref() {
            let haystack = folded(&format!(
                "{} {} {} {} {} {}",
                t.folio.as_str(),
                t.customer.company,
                t.customer.contact_name,
                t.customer.email,
                t.subject,
                t.description
            ));
            if !folded(text)
                .split_whitespace()
                .all(|w| haystack.contains(w))
            {
                return false;
            }
        }
        true
    }
}

impl Desk {
    /// The queue narrowed by `filter`, in the queue's order. A folio searched for is found
    /// even when its ticket is closed and out of the queue.
    pub async fn queue_filtered(&self, filter: &QueueFilter) -> Result<Vec<TicketView>, DeskError> {
        let warning = self.policy().settings().sla_warning_percent;
        let mut views: Vec<TicketView> = self
            .queue()
            .await?
            .into_iter()
            .filter(|v| filter.matches(v, warning))
            .collect();
        if let Some(text) = filter
            .text
            .as_deref()
            .map(|t| t.trim().to_ascii_uppercase())
        {
            if views.is_empty() && crate::types::Folio::parse(&text).is_some() {
                if let Ok(t) = self.ticket_by_folio(&text).await {
                    views.push(self.view(t).await?);
                }
            }
        }
        Ok(views)
    }
}

/// Every file the customer sent on a ticket, in order: the report's, then each reply's.
/// Staff address them by their place in this list, never by blob key.
pub fn attachments_of(ticket: &Ticket, events: &[Event]) -> Vec<crate::model::Attachment> {
    let mut all = ticket.attachments.clone();
    for e in events {
        if let crate::model::EventKind::CustomerReplied { attachments, .. } = &e.kind {
            all.extend(attachments.iter().cloned());
        }
    }
    all
}

impl Desk {
    /// File `index` (from 0) of the ticket with `folio`, with its bytes; `None` if there is
    /// no such file.
    pub async fn attachment(
        &self,
        folio: &str,
        index: usize,
    ) -> Result<Option<(crate::model::Attachment, Vec<u8>)>, DeskError> {
        let ticket = self.ticket_by_folio(folio).await?;
        let events = self.store.events(&ticket.id).await?;
        let Some(a) = attachments_of(&ticket, &events).into_iter().nth(index) else {
            return Ok(None);
        };
        Ok(self.blobs.get(&a.key).await?.map(|bytes| (a, bytes)))
    }
}
