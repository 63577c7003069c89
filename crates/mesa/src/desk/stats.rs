//! The statistics of a period and the rules what-if, read from the store: the tickets the
//! period can concern and their events, counted by [`crate::stats::compute`] and replayed by
//! [`crate::replay::replay`].

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::{Desk, DeskError, clocks};
use crate::Policy;
use crate::model::{Event, Stage, Ticket};
use crate::ports::{ListFilter, PageRequest};
use crate::replay::{Replay, Replayed, compare};
use crate::report::{self, MonthlyReport};
use crate::stats::{CustomerFilter, Observed, Period, Statistics, compute};

/// How long before a period the closed tickets it can concern may have been received: a
/// clock stops (or falls due) in the period on a ticket received up to this long before
/// it. The longest contract target is 30 business days (the root cause), about six weeks;
/// this leaves room for pauses. Open tickets are read whenever they were received.
pub const LOOKBACK: Duration = Duration::days(180);

/// Most tickets read from the due index besides (closed ones still owe the root cause there).
const MAX_WITH_CLOCKS: usize = 1000;

impl Desk {
    /// The statistics of `period` (for one customer, if given), as of now. Reads what
    /// [`Desk::tickets_of`] reads.
    pub async fn statistics(
        &self,
        period: Period,
        customer: Option<&str>,
    ) -> Result<Statistics, DeskError> {
        let policy = self.policy();
        let now = self.now();
        let customer = customer.map(CustomerFilter::new);
        let mut observed = Vec::new();
        for (ticket, events) in self.tickets_of(period).await? {
            if customer.as_ref().is_some_and(|c| !c.matches(&ticket)) {
                continue;
            }
            let clocks = clocks(&policy, &ticket, &events, now)?;
            observed.push(Observed {
                ticket,
                events,
                clocks,
            });
        }
        Ok(compute(&policy, period, customer.as_ref(), &observed, now)?)
    }

    /// The monthly SLA report (`YYYY-MM`) of one customer (company name, address or mail
    /// domain), as of now.
    pub async fn monthly_report(
        &self,
        month: &str,
        customer: &str,
    ) -> Result<MonthlyReport, DeskError> {
        let policy = self.policy();
        let now = self.now();
        let period = Period::month(month, &policy.calendar().time_zone()).map_err(|e| {
            DeskError::Invalid([("month".to_string(), e.to_string())].into_iter().collect())
        })?;
        let filter = CustomerFilter::new(customer);
        let mut observed = Vec::new();
        for (ticket, events) in self.tickets_of(period).await? {
            if !filter.matches(&ticket) {
                continue;
            }
            let clocks = clocks(&policy, &ticket, &events, now)?;
            observed.push(Observed {
                ticket,
                events,
                clocks,
            });
        }
        // The company as the customer's own tickets spell it.
        let name = observed
            .iter()
            .map(|o| o.ticket.customer.company.trim())
            .find(|c| !c.is_empty())
            .unwrap_or(customer.trim())
            .to_string();
        Ok(report::build(
            &policy, month, period, &filter, &name, &observed, now,
        )?)
    }

    /// What `candidate` would change in `period` against the rules in force; writes nothing.
    /// `progress` is told how many tickets were replayed so far.
    pub async fn replay(
        &self,
        candidate: &Policy,
        period: Period,
        mut progress: impl FnMut(usize),
    ) -> Result<Replay, DeskError> {
        let policy = self.policy();
        let now = self.now();
        let mut replayed = Vec::new();
        for (i, (ticket, events)) in self.tickets_of(period).await?.into_iter().enumerate() {
            progress(i + 1);
            // The candidate's own severity while the ticket's is still the rules'.
            let mut moved = ticket.clone();
            if ticket.severity_provisional() {
                moved.severity = candidate.classify(&ticket.facts())?.severity;
            }
            let before = clocks(&policy, &ticket, &events, now)?;
            let after = clocks(candidate, &moved, &events, now)?;
            replayed.push(Replayed {
                before: Observed {
                    ticket,
                    events: events.clone(),
                    clocks: before,
                },
                after: Observed {
                    ticket: moved,
                    events,
                    clocks: after,
                },
            });
        }
        Ok(compare(&policy, candidate, period, replayed, now)?)
    }

    /// Every ticket `period` can concern, with its events, each once: every open ticket, the
    /// closed ones received from [`LOOKBACK`] before the period to its end, and up to
    /// a thousand tickets with a running clock from the due index (where a closed ticket that
    /// still owes the root cause stays). Proportional to the open tickets and those of the
    /// period, not to all tickets.
    pub async fn tickets_of(&self, period: Period) -> Result<Vec<(Ticket, Vec<Event>)>, DeskError> {
        // Every open ticket (the backlog is counted as of now, whatever the period).
        let mut tickets = self
            .list_all(ListFilter {
                open_only: true,
                ..ListFilter::default()
            })
            .await?;
        tickets.extend(
            self.list_all(ListFilter {
                stage: Some(Stage::Closed),
                received_from: Some(period.from - LOOKBACK),
                received_before: Some(period.to),
                ..ListFilter::default()
            })
            .await?,
        );
        tickets.extend(
            self.store
                .due_before(DateTime::<Utc>::MAX_UTC, MAX_WITH_CLOCKS)
                .await?,
        );
        // A ticket closed between two reads, or in the due index too, is counted once.
        let mut seen = BTreeSet::new();
        tickets.retain(|t| t.received_at < period.to || t.stage.is_open());
        tickets.retain(|t| seen.insert(t.id.to_string()));
        let mut all = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            let events = self.store.events(&ticket.id).await?;
            all.push((ticket, events));
        }
        Ok(all)
    }

    /// Every ticket `filter` selects, a page at a time.
    async fn list_all(&self, filter: ListFilter) -> Result<Vec<Ticket>, DeskError> {
        let mut all = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: 200,
        };
        loop {
            let p = self.store.list(&filter, &page).await?;
            all.extend(p.items);
            match p.next {
                Some(next) => page.after = Some(next),
                None => return Ok(all),
            }
        }
    }
}
