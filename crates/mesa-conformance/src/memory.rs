//! In-memory adapters for every port, so the services can be tested in milliseconds: the
//! store passes the same conformance suite as SQLite and DynamoDB; the mailer, blobs, bus,
//! metrics and clock record what they were asked to do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use mesa::model::{
    CompanyRecord, CustomerRecord, DedupeKey, Equipment, Event, Folio, Incident, StaffMember,
    Ticket, TicketId, domain_of,
};
use mesa::outbox::{MailKind, OutboxItem, OutboxStatus, OutgoingMail};
use mesa::ports::{
    BlobError, BlobStore, BusError, Clock, CreateOutcome, CustomerStore, DomainEvent,
    EquipmentStore, EventBus, HeartbeatStore, IncidentStore, ListFilter, MailError, Mailer, Metric,
    Metrics, NewTicket, OutboxStore, Page, PageRequest, PublishedEvent, QuarantineRecord,
    QuarantineStore, StaffStore, StoreError, TicketChange, TicketStore,
};
use mesa::types::address_key;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock has already failed; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct State {
    tickets: BTreeMap<TicketId, Ticket>,
    events: HashMap<TicketId, Vec<Event>>,
    folios: HashMap<Folio, TicketId>,
    counters: HashMap<(String, i32), u64>,
    dedupe: HashMap<String, TicketId>,
    message_ids: HashMap<String, TicketId>,
    outbox: BTreeMap<String, OutboxItem>,
    customers: Vec<CustomerRecord>,
    companies: BTreeMap<String, CompanyRecord>,
    equipment: BTreeMap<String, Equipment>,
    incidents: BTreeMap<String, Incident>,
    staff: BTreeMap<String, StaffMember>,
    quarantine: Vec<QuarantineRecord>,
    heartbeats: HashMap<String, DateTime<Utc>>,
}

/// The store in memory: one lock, every change all or nothing.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Changes still to refuse with a conflict (to exercise the retry loop).
    conflicts_to_inject: Mutex<usize>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` ticket changes fail with a conflict, as if someone else wrote first.
    pub fn inject_conflicts(&self, n: usize) {
        *lock(&self.conflicts_to_inject) = n;
    }

    /// How many tickets are stored.
    pub fn ticket_count(&self) -> usize {
        lock(&self.state).tickets.len()
    }

    /// Every outbox item (mail, pages and domain events), in id order.
    pub fn outbox_items(&self) -> Vec<OutboxItem> {
        lock(&self.state).outbox.values().cloned().collect()
    }

    /// The outbox's mail and pages (no domain events).
    pub fn mail_items(&self) -> Vec<OutboxItem> {
        let mut items = self.outbox_items();
        items.retain(|o| o.kind != mesa::outbox::MailKind::Event);
        items
    }
}

#[async_trait]
impl TicketStore for MemoryStore {
    async fn create_ticket(&self, new: NewTicket) -> Result<CreateOutcome, StoreError> {
        let mut s = lock(&self.state);
        for key in &new.dedupe_keys {
            if let Some(id) = s.dedupe.get(&key.as_key()) {
                return Ok(CreateOutcome::Duplicate(id.clone()));
            }
        }
        let counter = s
            .counters
            .entry((new.folio_prefix.clone(), new.folio_year))
            .or_insert(0);
        *counter += 1;
        let ticket = new.numbered(*counter);
        let id = ticket.id.clone();
        s.folios.insert(ticket.folio.clone(), id.clone());
        s.events.insert(id.clone(), new.events().to_vec());
        for key in &new.dedupe_keys {
            s.dedupe.insert(key.as_key(), id.clone());
        }
        for m in &new.message_ids {
            s.message_ids.insert(m.clone(), id.clone());
        }
        for o in &new.outbox {
            s.outbox.insert(o.id.clone(), o.clone());
        }
        s.tickets.insert(id, ticket.clone());
        Ok(CreateOutcome::Created(Box::new(ticket)))
    }

    async fn apply_change(&self, change: TicketChange) -> Result<(), StoreError> {
        let id = change.ticket.id.clone();
        {
            let mut pending = lock(&self.conflicts_to_inject);
            if *pending > 0 {
                *pending -= 1;
                return Err(StoreError::Conflict(id));
            }
        }
        let mut s = lock(&self.state);
        let current = s
            .tickets
            .get(&id)
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        if current.version != change.expected_version {
            return Err(StoreError::Conflict(id));
        }
        s.events
            .entry(id.clone())
            .or_default()
            .extend(change.events);
        for m in change.message_ids {
            s.message_ids.insert(m, id.clone());
        }
        for o in change.outbox {
            s.outbox.insert(o.id.clone(), o);
        }
        s.tickets.insert(id, change.ticket);
        Ok(())
    }

    async fn get(&self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        Ok(lock(&self.state).tickets.get(id).cloned())
    }

    async fn get_by_folio(&self, folio: &Folio) -> Result<Option<Ticket>, StoreError> {
        let s = lock(&self.state);
        Ok(s.folios
            .get(folio)
            .and_then(|id| s.tickets.get(id))
            .cloned())
    }

    async fn events(&self, id: &TicketId) -> Result<Vec<Event>, StoreError> {
        Ok(lock(&self.state)
            .events
            .get(id)
            .cloned()
            .unwrap_or_default())
    }

    async fn find_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, StoreError> {
        Ok(lock(&self.state).message_ids.get(message_id).cloned())
    }

    async fn find_by_dedupe_key(&self, key: &DedupeKey) -> Result<Option<TicketId>, StoreError> {
        Ok(lock(&self.state).dedupe.get(&key.as_key()).cloned())
    }

    async fn due_before(&self, t: DateTime<Utc>, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        let s = lock(&self.state);
        let mut due: Vec<Ticket> = s
            .tickets
            .values()
            .filter(|x| x.next_due.is_some_and(|d| d <= t))
            .cloned()
            .collect();
        due.sort_by_key(|x| (x.next_due, x.id.clone()));
        due.truncate(limit);
        Ok(due)
    }

    async fn list(
        &self,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        let s = lock(&self.state);
        // Newest first: by received time, then id, both descending; the cursor is the id.
        let mut all: Vec<&Ticket> = s
            .tickets
            .values()
            .filter(|t| filter.stage.is_none_or(|st| t.stage == st))
            .filter(|t| !filter.open_only || t.stage.is_open())
            .filter(|t| filter.received_from.is_none_or(|f| t.received_at >= f))
            .filter(|t| filter.received_before.is_none_or(|b| t.received_at < b))
            .collect();
        all.sort_by(|a, b| (b.received_at, &b.id).cmp(&(a.received_at, &a.id)));
        let start = match &page.after {
            Some(cursor) => all
                .iter()
                .position(|t| t.id.as_str() == cursor)
                .map_or(all.len(), |i| i + 1),
            None => 0,
        };
        let limit = page.limit.max(1);
        let items: Vec<Ticket> = all
            .iter()
            .skip(start)
            .take(limit)
            .map(|t| (*t).clone())
            .collect();
        let next = (start + items.len() < all.len())
            .then(|| items.last().map(|t| t.id.to_string()))
            .flatten();
        Ok(Page { items, next })
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut s = lock(&self.state);
        let mut due: Vec<&mut OutboxItem> =
            s.outbox.values_mut().filter(|o| o.is_due(now)).collect();
        due.sort_by_key(|o| o.not_before);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|o| {
                o.claim(now, lease);
                o.clone()
            })
            .collect())
    }

    async fn save_outbox(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        match s.outbox.get_mut(&item.id) {
            Some(existing) => {
                *existing = item.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound(item.id.clone())),
        }
    }

    async fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        Ok(lock(&self.state).outbox.get(id).cloned())
    }

    async fn pending_outbox_before(&self, t: DateTime<Utc>) -> Result<Vec<OutboxItem>, StoreError> {
        let s = lock(&self.state);
        let mut out: Vec<OutboxItem> = s
            .outbox
            .values()
            .filter(|o| o.status == OutboxStatus::Pending && o.created_at <= t)
            .cloned()
            .collect();
        out.sort_by_key(|o| o.created_at);
        Ok(out)
    }

    async fn acks_to_since(&self, to: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let to = address_key(to);
        Ok(lock(&self.state)
            .outbox
            .values()
            .filter(|o| {
                o.kind == MailKind::Ack
                    && address_key(&o.to) == to
                    && o.created_at >= since
                    && o.status != OutboxStatus::Skipped
            })
            .count() as u64)
    }

    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> Result<usize, StoreError> {
        let mut s = lock(&self.state);
        let mut written = 0;
        for item in items {
            if !s.outbox.contains_key(&item.id) {
                s.outbox.insert(item.id.clone(), item.clone());
                written += 1;
            }
        }
        Ok(written)
    }
}

#[async_trait]
impl IncidentStore for MemoryStore {
    async fn declare_incident(&self, incident: &Incident) -> Result<Option<Incident>, StoreError> {
        let mut state = lock(&self.state);
        let subject = incident.subject();
        if let Some(open) = state
            .incidents
            .values()
            .find(|i| i.is_open() && i.subject() == subject)
        {
            return Ok(Some(open.clone()));
        }
        state
            .incidents
            .insert(incident.id.clone(), incident.clone());
        Ok(None)
    }

    async fn put_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        lock(&self.state)
            .incidents
            .insert(incident.id.clone(), incident.clone());
        Ok(())
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        Ok(lock(&self.state).incidents.get(id).cloned())
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let mut all: Vec<Incident> = lock(&self.state).incidents.values().cloned().collect();
        all.sort_by(|a, b| b.declared_at.cmp(&a.declared_at).then(b.id.cmp(&a.id)));
        Ok(all)
    }
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn upsert_customer(&self, customer: &CustomerRecord) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        let mut c = customer.clone();
        c.email = address_key(&c.email);
        c.domain = address_key(&c.domain);
        s.customers
            .retain(|x| !(x.email == c.email && x.domain == c.domain));
        s.customers.push(c);
        Ok(())
    }

    async fn find_customer(&self, address: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let address = address_key(address);
        let s = lock(&self.state);
        if let Some(c) = s.customers.iter().find(|c| c.email == address) {
            return Ok(Some(c.clone()));
        }
        Ok(domain_of(&address).and_then(|d| {
            s.customers
                .iter()
                .find(|c| c.email.is_empty() && c.domain == d)
                .cloned()
        }))
    }

    async fn contacts_of(&self, company: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let key = CompanyRecord::key_of(company);
        let s = lock(&self.state);
        let mut found: Vec<CustomerRecord> = s
            .customers
            .iter()
            .filter(|c| CompanyRecord::key_of(&c.company) == key)
            .cloned()
            .collect();
        found.sort_by(|a, b| (&a.email, &a.domain).cmp(&(&b.email, &b.domain)));
        Ok(found)
    }

    async fn upsert_company(&self, company: &CompanyRecord) -> Result<(), StoreError> {
        lock(&self.state)
            .companies
            .insert(company.key(), company.clone());
        Ok(())
    }

    async fn company(&self, name: &str) -> Result<Option<CompanyRecord>, StoreError> {
        Ok(lock(&self.state)
            .companies
            .get(&CompanyRecord::key_of(name))
            .cloned())
    }

    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        Ok(lock(&self.state).companies.values().cloned().collect())
    }
}

#[async_trait]
impl EquipmentStore for MemoryStore {
    async fn upsert_equipment(&self, equipment: &Equipment) -> Result<(), StoreError> {
        let mut e = equipment.clone();
        e.serial = e.key();
        lock(&self.state).equipment.insert(e.key(), e);
        Ok(())
    }

    async fn equipment(&self, serial: &str) -> Result<Option<Equipment>, StoreError> {
        Ok(lock(&self.state)
            .equipment
            .get(&Equipment::key_of(serial))
            .cloned())
    }

    async fn equipment_of(&self, company: &str) -> Result<Vec<Equipment>, StoreError> {
        let key = CompanyRecord::key_of(company);
        Ok(lock(&self.state)
            .equipment
            .values()
            .filter(|e| CompanyRecord::key_of(&e.company) == key)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl StaffStore for MemoryStore {
    async fn create_staff(&self, member: &StaffMember) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let key = address_key(&member.email);
        if s.staff.contains_key(&key) {
            return Ok(false);
        }
        s.staff.insert(key, member.clone());
        Ok(true)
    }

    async fn put_staff(&self, member: &StaffMember) -> Result<(), StoreError> {
        lock(&self.state)
            .staff
            .insert(address_key(&member.email), member.clone());
        Ok(())
    }

    async fn staff(&self, email: &str) -> Result<Option<StaffMember>, StoreError> {
        Ok(lock(&self.state).staff.get(&address_key(email)).cloned())
    }

    async fn list_staff(&self) -> Result<Vec<StaffMember>, StoreError> {
        Ok(lock(&self.state).staff.values().cloned().collect())
    }
}

#[async_trait]
impl QuarantineStore for MemoryStore {
    async fn quarantine(&self, record: &QuarantineRecord) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        match s.quarantine.iter_mut().find(|r| r.id == record.id) {
            Some(existing) => *existing = record.clone(),
            None => s.quarantine.push(record.clone()),
        }
        Ok(())
    }

    async fn list_quarantine(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        let mut all = lock(&self.state).quarantine.clone();
        all.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
        Ok(all)
    }
}

#[async_trait]
impl HeartbeatStore for MemoryStore {
    async fn record_heartbeat(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        lock(&self.state).heartbeats.insert(name.to_string(), at);
        Ok(())
    }

    async fn last_heartbeat(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(lock(&self.state).heartbeats.get(name).copied())
    }
}

/// A mailer that keeps what it sent; it can be told to fail.
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<OutgoingMail>>,
    /// The next sends fail with this (temporary or permanent), this many times.
    failures: Mutex<Vec<MailError>>,
    /// Gives each message a Message-ID of its own, as SES does.
    assigns_ids: bool,
}

impl MemoryMailer {
    /// A mailer that gives each message sent a Message-ID of its own (SES replaces ours),
    /// returned as the transport's id; [`Self::provider_id_of`] tells which.
    pub fn assigning_ids() -> Self {
        Self {
            assigns_ids: true,
            ..Self::default()
        }
    }

    /// The Message-ID an [`Self::assigning_ids`] mailer gave the message we sent as `ours`.
    pub fn provider_id_of(ours: &str) -> String {
        format!("<provider.{}>", ours.trim_matches(['<', '>']))
    }

    pub fn sent(&self) -> Vec<OutgoingMail> {
        lock(&self.sent).clone()
    }

    /// The next send fails with `error`.
    pub fn fail_next(&self, error: MailError) {
        lock(&self.failures).push(error);
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError> {
        if let Some(e) = lock(&self.failures).pop() {
            return Err(e);
        }
        // Encoding must work for anything we send.
        mail.to_mime()?;
        lock(&self.sent).push(mail.clone());
        Ok(self
            .assigns_ids
            .then(|| Self::provider_id_of(&mail.message_id)))
    }
}

/// Blobs in a map.
#[derive(Default)]
pub struct MemoryBlobs {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryBlobs {
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = lock(&self.blobs).keys().cloned().collect();
        k.sort();
        k
    }
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put(&self, key: &str, bytes: &[u8], _content_type: &str) -> Result<(), BlobError> {
        lock(&self.blobs).insert(key.to_string(), bytes.to_vec());
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        Ok(lock(&self.blobs).get(key).cloned())
    }
}

/// An event bus that keeps what was published; it can be told to fail.
#[derive(Default)]
pub struct MemoryBus {
    published: Mutex<Vec<PublishedEvent>>,
    failing: Mutex<bool>,
}

impl MemoryBus {
    /// The events published, in order (a repeat delivery appears twice).
    pub fn published(&self) -> Vec<DomainEvent> {
        lock(&self.published)
            .iter()
            .map(|p| p.event.clone())
            .collect()
    }

    /// The events published with their ids, in order.
    pub fn deliveries(&self) -> Vec<PublishedEvent> {
        lock(&self.published).clone()
    }

    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, events: &[PublishedEvent]) -> Result<(), BusError> {
        if *lock(&self.failing) {
            return Err(BusError::new("the bus is down (test)", None));
        }
        lock(&self.published).extend_from_slice(events);
        Ok(())
    }
}

/// Metrics kept in order.
#[derive(Default)]
pub struct MemoryMetrics {
    counted: Mutex<Vec<Metric>>,
}

impl MemoryMetrics {
    pub fn counted(&self) -> Vec<Metric> {
        lock(&self.counted).clone()
    }

    /// How many of the metrics named `name` were counted.
    pub fn count_of(&self, name: &str) -> usize {
        lock(&self.counted)
            .iter()
            .filter(|m| m.name() == name)
            .count()
    }
}

impl Metrics for MemoryMetrics {
    fn count(&self, metric: &Metric) {
        lock(&self.counted).push(metric.clone());
    }
}

/// A clock the test moves.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Mutex::new(t))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *lock(&self.0) = t;
    }

    pub fn advance(&self, d: Duration) {
        *lock(&self.0) += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}
