//! The services of the help desk, written once against the ports and run the same by
//! `mesa serve` (SQLite, maildir) and by the Lambda functions (DynamoDB, SES). One
//! [`Desk`] holds the ports; each capability lives in its own file:
//!
//! | file | capability |
//! |---|---|
//! | `form.rs` | the customer form and uploads ahead of it |
//! | `email.rs` | e-mail intake: quarantine, robots, duplicates, threading |
//! | `open.rs` | opening a ticket from either channel (classify, clocks, acknowledgement) |
//! | `staff.rs` | staff actions and the customer's survey answer |
//! | `people.rs` | staff accounts, sign-in, sessions and sign-out |
//! | `views.rs` | a ticket with its clocks, its detail, the queue |
//! | `delivery.rs` | the outbox worker and the mail transport's feedback |
//! | `sweep.rs` | the SLA sweep |
//! | `stats.rs` | the statistics of a period |
//! | `clocks.rs` | a ticket's clocks and the next instant the sweep must look at it |
//!
//! Every change to an existing ticket goes through [`Desk::change`]: read, decide, write on
//! top of the version read, and on a conflict read and decide again.

mod announce;
mod clocks;
mod delivery;
mod email;
mod form;
mod incidents;
mod open;
mod people;
mod registry;
mod staff;
mod stats;
mod sweep;
mod views;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

pub use clocks::{clocks, next_due, timeline};
pub use delivery::{DeliveryReport, FeedbackOutcome, MailFeedback};
pub use email::{EmailOutcome, EmailOutcomeKind, InboundMeta};
pub use form::{Submitted, UploadGrant};
pub use incidents::{IncidentDeclaration, IncidentNotices};
pub use people::{
    LOCK_FOR, MAX_FAILED_SIGN_INS, MIN_PASSWORD_CHARS, Session, SessionError, SignInError,
};
pub use registry::{
    CompanyImport, CompanyPage, EquipmentImportSummary, ImportSummary, RegistryImport,
};
pub use stats::LOOKBACK;
pub use sweep::SweepReport;
pub use views::{ClockFilter, OwnerFilter, QueueFilter, TicketDetail, TicketView, attachments_of};

use crate::calendar::CalendarError;
use crate::intake::FieldErrors;
use crate::lifecycle::{ActionError, MailDraft, Step};
use crate::model::{Event, EventKind, Ticket, TicketId};
use crate::outbox::{MailKind, OutboxItem};
use crate::policy::{LiveRules, Policy, PolicyError};
use crate::ports::{
    BlobError, BlobStore, Clock, EventBus, LogMetrics, Mailer, Metric, Metrics, Pager, Store,
    StoreError, TicketChange,
};
use crate::ticket::Severity;
use crate::tokens::{Signer, TokenError};
use crate::types::Actor;

/// The Message-IDs of the mail a change sends that should thread replies back to the
/// ticket: not a page's nor a warning's (a reply from staff is not the customer's).
pub(crate) fn threading_ids(outbox: &[OutboxItem]) -> Vec<String> {
    outbox
        .iter()
        .filter(|o| o.kind.threads_replies())
        .map(|o| o.message_id.clone())
        .collect()
}

/// The recipient an outbox page names: the pager decides where it really goes.
pub const ON_CALL: &str = "on-call@pager.invalid";

/// How often a ticket change is retried after an optimistic-concurrency conflict.
const MAX_RETRIES: usize = 8;

#[derive(Debug, Clone)]
pub struct DeskConfig {
    /// Right-hand side of our Message-IDs.
    pub mail_domain: String,
    /// Base URL of the public pages (survey links), without a trailing slash.
    pub public_url: String,
    /// Key for signed links and form tokens.
    pub secret: Vec<u8>,
    /// How long a claimed outbox item is reserved for the worker that claimed it.
    pub outbox_lease: Duration,
    /// Messages one worker sends at the same time (at least 1).
    pub delivery_concurrency: usize,
    /// Pending mail older than this is re-driven by the sweep.
    pub redrive_after: Duration,
    /// Where at-risk warnings of a ticket without an owner go (the team's list); none: only
    /// owned tickets are warned about.
    pub team_address: Option<String>,
}

impl DeskConfig {
    pub fn new(public_url: &str, secret: &[u8]) -> Self {
        Self {
            mail_domain: "mesa.local".into(),
            public_url: public_url.trim_end_matches('/').to_string(),
            secret: secret.to_vec(),
            outbox_lease: Duration::seconds(60),
            delivery_concurrency: 8,
            redrive_after: Duration::minutes(2),
            team_address: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("invalid input: {}", .0.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "))]
    Invalid(FieldErrors),
    #[error("no ticket with folio {0}")]
    UnknownFolio(String),
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error("invalid or expired link: {0}")]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("the ticket kept changing under us; try again")]
    TooManyConflicts,
    /// Someone else changed ticket `0` since the person acting last saw it.
    #[error("ticket {0} was changed by someone else since you opened it")]
    ChangedSince(String),
}

impl DeskError {
    /// Whether the same request may succeed later (the store or blob store was busy or
    /// unreachable, the ticket kept changing), as opposed to one that never will (bad input,
    /// an illegal step, a rules failure on this ticket). Lambda retries only the first kind.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeskError::Store(e) => e.is_retryable(),
            DeskError::Blob(_) | DeskError::TooManyConflicts => true,
            DeskError::Invalid(_)
            | DeskError::UnknownFolio(_)
            | DeskError::Action(_)
            | DeskError::Token(_)
            | DeskError::ChangedSince(_)
            | DeskError::Policy(_)
            | DeskError::Calendar(_) => false,
        }
    }
}

/// The help desk's services over its ports.
pub struct Desk {
    store: Arc<dyn Store>,
    mailer: Arc<dyn Mailer>,
    blobs: Arc<dyn BlobStore>,
    rules: Arc<LiveRules>,
    clock: Arc<dyn Clock>,
    config: DeskConfig,
    signer: Signer,
    /// Where domain events go; none: they are not written at all (one machine).
    events: Option<Arc<dyn EventBus>>,
    metrics: Arc<dyn Metrics>,
    /// Alerts the on-call staff of severity-1 reports; none: nobody is paged.
    pager: Option<Arc<dyn Pager>>,
    /// Staff accounts are read, changed and written back one at a time (see `people.rs`).
    staff_writes: tokio::sync::Mutex<()>,
}

/// One event a decision asks to record, with the mail it sends, if any: the event names
/// the outbox item (`MailDraft::id`) that the change writes with it.
#[derive(Debug, Clone)]
pub(crate) struct PlannedEvent {
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub mail: Option<MailDraft>,
}

/// What a decision asks to write on top of the ticket as read. Empty events with no new
/// Message-IDs still refresh the ticket's next due instant.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChangePlan {
    pub events: Vec<PlannedEvent>,
    /// Message-IDs that find this ticket from now on (threading of replies).
    pub message_ids: Vec<String>,
}

impl ChangePlan {
    /// The steps of a lifecycle decision, done by `actor` at `at`.
    pub fn from_steps(steps: Vec<Step>, actor: &Actor, at: DateTime<Utc>) -> Self {
        Self {
            events: steps
                .into_iter()
                .map(|s| PlannedEvent {
                    actor: actor.clone(),
                    at,
                    kind: s.kind,
                    mail: s.mail,
                })
                .collect(),
            message_ids: Vec::new(),
        }
    }

    /// One event without mail.
    pub fn event(actor: Actor, at: DateTime<Utc>, kind: EventKind) -> Self {
        Self {
            events: vec![PlannedEvent {
                actor,
                at,
                kind,
                mail: None,
            }],
            message_ids: Vec::new(),
        }
    }
}

/// The result of [`Desk::change`]: the ticket as written (or as read, when there was
/// nothing to do) and the events that were recorded.
#[derive(Debug, Clone)]
pub(crate) struct Changed {
    pub ticket: Ticket,
    pub recorded: Vec<Event>,
}

impl Desk {
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        blobs: Arc<dyn BlobStore>,
        rules: Arc<LiveRules>,
        clock: Arc<dyn Clock>,
        config: DeskConfig,
    ) -> Self {
        let signer = Signer::new(&config.secret);
        Self {
            store,
            mailer,
            blobs,
            rules,
            clock,
            config,
            signer,
            events: None,
            metrics: Arc::new(LogMetrics),
            pager: None,
            staff_writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Announces domain events (ticket created, SLA at risk, SLA breached, mail
    /// undeliverable) on `bus`: written with the change they announce, published by the
    /// outbox worker (see `announce.rs`).
    pub fn with_events(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.events = Some(bus);
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Pages the on-call staff through `pager`: a report that is, or becomes, severity 1
    /// always gets a page in the outbox, written with the ticket change (so it is never
    /// lost, whichever process wrote the ticket), and the outbox worker sends it at once, at
    /// any hour, through its pager; a worker without one keeps it as skipped and says why.
    pub fn with_pager(mut self, pager: Arc<dyn Pager>) -> Self {
        self.pager = Some(pager);
        self
    }

    /// The page of a critical report: an outbox item of its own.
    pub(crate) fn page_item(&self, ticket: &TicketId, now: DateTime<Utc>) -> OutboxItem {
        OutboxItem::new(
            OutboxItem::new_id(),
            ticket.clone(),
            MailKind::Page,
            ON_CALL,
            &self.config.mail_domain,
            None,
            String::new(),
            now,
        )
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.rules.current()
    }

    pub fn rules(&self) -> &LiveRules {
        &self.rules
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn config(&self) -> &DeskConfig {
        &self.config
    }

    /// A rules bundle failed its checks and was not activated: logged in full and counted,
    /// while the running rules stay (last known good).
    pub fn rules_rejected(&self, error: &dyn std::fmt::Display) {
        tracing::error!(error = %error, "rules bundle rejected; the running rules stay");
        self.metrics.count(&Metric::RulesRejected);
    }

    /// A token for a fresh copy of the customer form.
    pub fn form_token(&self) -> String {
        self.signer.form_token(self.now())
    }

    /// The token for the form shown again after a validation error: the one it was sent
    /// with while that is genuine and unexpired, so the minimum fill time counts from the
    /// form's first display (a person correcting one field is not "too fast") and a repeat
    /// of the corrected form is still recognised as one; else a fresh one.
    pub fn form_token_again(&self, previous: &str) -> String {
        match self.signer.verify_form(previous, self.now()) {
            Ok(_) | Err(TokenError::TooFast) => previous.to_string(),
            Err(_) => self.form_token(),
        }
    }

    /// Reads the ticket and its events, asks `decide` what to record, writes it on top of
    /// the version read; on a conflict, reads again and asks again. `decide` returning
    /// `None` means nothing to do. Mail the plan sends is written in the same operation.
    pub(crate) async fn change<F>(&self, id: &TicketId, mut decide: F) -> Result<Changed, DeskError>
    where
        F: FnMut(&Ticket, &[Event]) -> Result<Option<ChangePlan>, DeskError>,
    {
        let policy = self.policy();
        for _ in 0..MAX_RETRIES {
            let current = self
                .store
                .get(id)
                .await?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            let mut all_events = self.store.events(id).await?;
            let Some(plan) = decide(&current, &all_events)? else {
                return Ok(Changed {
                    ticket: current,
                    recorded: Vec::new(),
                });
            };
            let now = self.now();
            let mut ticket = current.clone();
            let mut outbox = Vec::new();
            let mut recorded = Vec::new();
            // Staff's mail answers the customer's own, or, for a form's ticket, the
            // acknowledgement: either way the customer's mail program shows one conversation.
            let thread_parent = ticket.message_id.clone().or_else(|| {
                all_events.iter().rev().find_map(|e| match &e.kind {
                    EventKind::Acknowledged { message_id } => Some(message_id.clone()),
                    _ => None,
                })
            });
            for planned in plan.events {
                if let Some(draft) = planned.mail {
                    outbox.push(OutboxItem::new(
                        draft.id,
                        ticket.id.clone(),
                        draft.kind,
                        &ticket.customer.email,
                        &self.config.mail_domain,
                        thread_parent.clone(),
                        draft.body,
                        now,
                    ));
                }
                let event = Event {
                    seq: ticket.version + 1,
                    at: planned.at,
                    actor: planned.actor,
                    kind: planned.kind,
                };
                ticket.apply(&event);
                recorded.push(event);
            }
            // Raised to severity 1: the on-call staff are paged with the change.
            let raised_to_critical = recorded.iter().any(|e| {
                matches!(&e.kind, EventKind::SeverityChanged { from, to, .. }
                    if *to == Severity::CRITICAL && *from != Some(Severity::CRITICAL))
            });
            if raised_to_critical {
                outbox.push(self.page_item(&ticket.id, now));
            }
            outbox.extend(self.warning_items(&policy, &ticket, &recorded, now));
            outbox.extend(self.announcements(&ticket.id, &recorded, now));
            all_events.extend(recorded.iter().cloned());
            ticket.next_due = next_due(&policy, &ticket.facts(), ticket.severity, &all_events)?;
            if recorded.is_empty()
                && plan.message_ids.is_empty()
                && ticket.next_due == current.next_due
            {
                return Ok(Changed {
                    ticket: current,
                    recorded,
                });
            }
            let mut message_ids = threading_ids(&outbox);
            message_ids.extend(plan.message_ids);
            let change = TicketChange {
                expected_version: current.version,
                ticket: ticket.clone(),
                events: recorded.clone(),
                outbox,
                message_ids,
            };
            match self.store.apply_change(change).await {
                Ok(()) => return Ok(Changed { ticket, recorded }),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::TooManyConflicts)
    }
}
