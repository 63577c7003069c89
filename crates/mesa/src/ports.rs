//! What the services need from the outside world, as domain-level operations. Adapters
//! (SQLite, DynamoDB, maildir, SES, …) implement these; every store adapter runs the same
//! conformance suite (`mesa-conformance`).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    CompanyRecord, CustomerRecord, Equipment, Event, Folio, Incident, Opening, StaffMember, Stage,
    Ticket, TicketId,
};
pub use crate::outbox::MailError;
use crate::outbox::{OutboxItem, OutgoingMail};
pub use crate::telemetry::{DomainEvent, Metric, PublishedEvent};
use crate::types::DedupeKey;

/// `t`, or the last instant of year 9999 if later: stores that keep instants as RFC 3339
/// text compare them as text, which holds for four-digit years only ("+262143-…" sorts
/// before "2026-…"), so a query bound such as "every ticket with a running clock" is taken
/// down to there.
pub fn comparable_as_text(t: DateTime<Utc>) -> DateTime<Utc> {
    let last = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    t.min(last)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The ticket changed since it was read (optimistic concurrency): re-read and retry.
    #[error("ticket {0} was changed by someone else; re-read it and try again")]
    Conflict(TicketId),
    #[error("no ticket {0}")]
    NotFound(String),
    /// The store is busy (throttled, a lock held, a contended counter): the same call may
    /// succeed later. The cause is kept.
    #[error("store busy: {0}")]
    Busy(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store itself failed; the cause is kept.
    #[error("store failure: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store refused this write as it is (an item too large, a value it cannot hold):
    /// the same call will fail the same way, so it must not be retried.
    #[error("store refused the write: {0}")]
    Rejected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }

    pub fn busy(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Busy(Box::new(e))
    }

    pub fn rejected(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Rejected(Box::new(e))
    }

    /// Whether the same call may succeed if tried again (a conflict, a throttle, a
    /// timeout, a failure of the store itself), as opposed to one that never will (no such
    /// ticket, a write the store refuses as it is).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict(_) | StoreError::Busy(_) | StoreError::Backend(_)
        )
    }
}

/// A new ticket, written in one atomic operation with its first events, outbox items and
/// keys. The store assigns the folio (next number of `folio_prefix`/`folio_year`).
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The ticket without its folio, with its first events.
    pub opening: Opening,
    pub outbox: Vec<OutboxItem>,
    /// If any of these keys exists already, nothing is written: it is a duplicate.
    pub dedupe_keys: Vec<DedupeKey>,
    /// Message-IDs (inbound and ours) that identify this ticket for threading.
    pub message_ids: Vec<String>,
    pub folio_prefix: String,
    pub folio_year: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(Box<Ticket>),
    /// A dedupe key matched this existing ticket; nothing was written.
    Duplicate(TicketId),
}

/// A change to an existing ticket: new events on top of `expected_version`, the new
/// projection, and the outbox items and keys that go with it; all or nothing.
#[derive(Debug, Clone)]
pub struct TicketChange {
    pub ticket: Ticket,
    pub expected_version: u64,
    pub events: Vec<Event>,
    pub outbox: Vec<OutboxItem>,
    pub message_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFilter {
    pub stage: Option<Stage>,
    /// Only open tickets (not closed).
    pub open_only: bool,
    /// Only tickets received at or after this instant (whole seconds: stores compare
    /// instants to the second).
    #[serde(default)]
    pub received_from: Option<DateTime<Utc>>,
    /// Only tickets received before this instant (whole seconds).
    #[serde(default)]
    pub received_before: Option<DateTime<Utc>>,
}

/// A page of a listing: `after` is the cursor the previous page returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A message that could not be taken in, kept whole for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct QuarantineRecord {
    pub id: String,
    pub received_at: DateTime<Utc>,
    pub reason: String,
    /// Blob key of the raw message.
    pub raw_key: String,
    /// Set aside on purpose (a robot's mail, an unregistered sender) rather than failed:
    /// listed for staff apart from the quarantine.
    #[serde(default)]
    pub ignored: bool,
    /// The folio of the ticket staff made of it, once released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_as: Option<String>,
}

impl NewTicket {
    pub fn id(&self) -> &TicketId {
        &self.opening.id
    }

    /// Its first events.
    pub fn events(&self) -> &[Event] {
        &self.opening.events
    }

    /// The ticket as written once the store has numbered it.
    pub fn numbered(&self, number: u64) -> Ticket {
        self.opening
            .numbered(Folio::new(&self.folio_prefix, self.folio_year, number))
    }
}

/// Tickets, their events and the keys that find them.
#[async_trait]
pub trait TicketStore: Send + Sync {
    async fn create_ticket(&self, new: NewTicket) -> Result<CreateOutcome, StoreError>;
    async fn apply_change(&self, change: TicketChange) -> Result<(), StoreError>;
    async fn get(&self, id: &TicketId) -> Result<Option<Ticket>, StoreError>;
    async fn get_by_folio(&self, folio: &Folio) -> Result<Option<Ticket>, StoreError>;
    async fn events(&self, id: &TicketId) -> Result<Vec<Event>, StoreError>;
    /// The ticket a Message-ID (the customer's or ours) belongs to.
    async fn find_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, StoreError>;
    async fn find_by_dedupe_key(&self, key: &DedupeKey) -> Result<Option<TicketId>, StoreError>;
    /// Tickets whose `next_due` is at or before `t`, earliest first (an index, not a scan).
    async fn due_before(&self, t: DateTime<Utc>, limit: usize) -> Result<Vec<Ticket>, StoreError>;
    /// Tickets newest first.
    async fn list(
        &self,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError>;
}

/// Mail waiting to be sent. The item's state machine is [`OutboxItem`]'s: the store only
/// persists what it decided.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Pending items due now, leased for `lease` so no other worker takes them meanwhile.
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError>;
    /// Writes back an item after a transition ([`OutboxItem::sent`], `failed`, `skipped`).
    async fn save_outbox(&self, item: &OutboxItem) -> Result<(), StoreError>;
    async fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError>;
    /// Pending items created at or before `t` (for the sweep's re-drive).
    async fn pending_outbox_before(&self, t: DateTime<Utc>) -> Result<Vec<OutboxItem>, StoreError>;
    /// Acknowledgements sent or pending to `to` since `since` (for the per-address cap).
    async fn acks_to_since(&self, to: &str, since: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Writes mail that belongs to no ticket change (an incident's notices): each item
    /// unless one with its id exists already, so writing the same items again after a crash
    /// sends nothing twice. Gives how many were new.
    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> Result<usize, StoreError>;
}

/// The registry of subscribed customers.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    async fn upsert_customer(&self, customer: &CustomerRecord) -> Result<(), StoreError>;
    /// The registered customer of an address: by exact address, else by its domain.
    async fn find_customer(&self, address: &str) -> Result<Option<CustomerRecord>, StoreError>;
    /// Every contact (address or domain) of a company, found by [`CompanyRecord::key_of`]
    /// its name, by address.
    async fn contacts_of(&self, company: &str) -> Result<Vec<CustomerRecord>, StoreError>;
    /// Writes a company (its periods and terms) over the one with its key.
    async fn upsert_company(&self, company: &CompanyRecord) -> Result<(), StoreError>;
    /// A company by name (compared by [`CompanyRecord::key_of`]).
    async fn company(&self, name: &str) -> Result<Option<CompanyRecord>, StoreError>;
    /// Every company, by key.
    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError>;
}

/// The registry of biometric equipment, by serial ([`Equipment::key_of`]).
#[async_trait]
pub trait EquipmentStore: Send + Sync {
    /// Writes a device over the one with its serial (a device moved to another company
    /// leaves the old company's list).
    async fn upsert_equipment(&self, equipment: &Equipment) -> Result<(), StoreError>;
    async fn equipment(&self, serial: &str) -> Result<Option<Equipment>, StoreError>;
    /// Every device of a company (by [`CompanyRecord::key_of`] its name), by serial.
    async fn equipment_of(&self, company: &str) -> Result<Vec<Equipment>, StoreError>;
}

/// Major incidents, by id.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Writes a newly declared incident, unless an open incident has its
    /// [`Incident::subject`]: then nothing is written and that one is returned. However close
    /// together two declarations of one outage come, one incident is written.
    async fn declare_incident(&self, incident: &Incident) -> Result<Option<Incident>, StoreError>;
    /// Writes the incident over the one with its id.
    async fn put_incident(&self, incident: &Incident) -> Result<(), StoreError>;
    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError>;
    /// Every incident, newest first.
    async fn incidents(&self) -> Result<Vec<Incident>, StoreError>;
}

/// Staff accounts, by address (lower case).
#[async_trait]
pub trait StaffStore: Send + Sync {
    /// Writes a new account; `false` (and nothing written) if the address has one already.
    async fn create_staff(&self, member: &StaffMember) -> Result<bool, StoreError>;
    /// Writes an existing account back (role, password, sign-in counters, epoch).
    async fn put_staff(&self, member: &StaffMember) -> Result<(), StoreError>;
    async fn staff(&self, email: &str) -> Result<Option<StaffMember>, StoreError>;
    /// Every account, by address.
    async fn list_staff(&self) -> Result<Vec<StaffMember>, StoreError>;
}

/// Messages that could not be taken in, kept for a person.
#[async_trait]
pub trait QuarantineStore: Send + Sync {
    /// Writes the record, or writes it back over the one with its id (once released).
    async fn quarantine(&self, record: &QuarantineRecord) -> Result<(), StoreError>;
    async fn list_quarantine(&self) -> Result<Vec<QuarantineRecord>, StoreError>;
}

/// Liveness marks of the scheduled jobs (the sweep).
#[async_trait]
pub trait HeartbeatStore: Send + Sync {
    async fn record_heartbeat(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn last_heartbeat(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Everything a store adapter provides; services name only the parts they use, the wiring
/// holds one of these.
pub trait Store:
    TicketStore
    + OutboxStore
    + CustomerStore
    + EquipmentStore
    + IncidentStore
    + StaffStore
    + QuarantineStore
    + HeartbeatStore
{
}

impl<T> Store for T where
    T: TicketStore
        + OutboxStore
        + CustomerStore
        + EquipmentStore
        + IncidentStore
        + StaffStore
        + QuarantineStore
        + HeartbeatStore
{
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message. Sending the same `outbox_id` twice should deliver it once where
    /// the transport allows (the maildir does); callers still treat sends as at-least-once.
    /// Gives the Message-ID the transport put on the message when it is not ours (SES
    /// assigns its own), so that replies to it thread back.
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError>;
}

/// Alerts the on-call staff at once, at any hour: a severity-1 report (new, or raised to 1).
/// An SNS topic on AWS (its e-mail and SMS subscriptions), the mailer to an on-call address
/// on one machine ([`MailPager`]). `page.outbox_id` is the same on every retry of one page.
#[async_trait]
pub trait Pager: Send + Sync {
    async fn page(&self, page: &OutgoingMail) -> Result<(), MailError>;
}

/// Pages by e-mail to an on-call address through the desk's mailer.
pub struct MailPager {
    mailer: std::sync::Arc<dyn Mailer>,
    to: crate::types::EmailAddress,
}

impl MailPager {
    pub fn new(mailer: std::sync::Arc<dyn Mailer>, to: crate::types::EmailAddress) -> Self {
        Self { mailer, to }
    }
}

#[async_trait]
impl Pager for MailPager {
    async fn page(&self, page: &OutgoingMail) -> Result<(), MailError> {
        let mail = OutgoingMail {
            to: self.to.as_str().to_string(),
            ..page.clone()
        };
        self.mailer.send(&mail).await.map(|_| ())
    }
}

/// The event bus did not take the events; the cause is kept.
#[derive(Debug, thiserror::Error)]
#[error("event bus failure: {message}")]
pub struct BusError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BusError {
    pub fn new(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source,
        }
    }
}

/// Where domain events go (EventBridge on AWS). Called by the outbox worker only: events
/// are written with the ticket change they announce and published from the outbox.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, events: &[PublishedEvent]) -> Result<(), BusError>;
}

/// Operational metrics (CloudWatch EMF on AWS, logs on one machine): one count of `metric`.
pub trait Metrics: Send + Sync {
    fn count(&self, metric: &Metric);
}

/// Metrics as log lines: the one-machine default.
pub struct LogMetrics;

impl Metrics for LogMetrics {
    fn count(&self, metric: &Metric) {
        tracing::debug!(metric = metric.name(), dimensions = ?metric.dimensions(), "metric");
    }
}

/// The blob store failed; the cause is kept.
#[derive(Debug, thiserror::Error)]
#[error("blob store failure: {message}")]
pub struct BlobError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BlobError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A failure caused by `source` (its text joins the message).
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: format!("{}: {source}", message.into()),
            source: Some(Box::new(source)),
        }
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<(), BlobError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// A URL the client can PUT the bytes of `key` to directly, valid for `ttl`: how files
    /// too large for a request through the API gateway get in. `None` where there is no
    /// such limit (one machine: the file goes with the form).
    async fn presign_put(
        &self,
        _key: &str,
        _ttl: std::time::Duration,
    ) -> Result<Option<String>, BlobError> {
        Ok(None)
    }
}

/// Time, injectable so tests and `--now` can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // Whole seconds: business time is counted to the second.
        let now = Utc::now();
        DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
    }
}

/// A clock fixed at one instant.
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
