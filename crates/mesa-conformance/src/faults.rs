//! Ports that fail on purpose. Each call of a wrapped store, mailer, blob store or event bus
//! draws from one seeded schedule: it goes through, is refused (nothing done), times out (done
//! or not, the caller cannot tell) or is done and then reported failed — the crash between a
//! write and its answer. The same seed gives the same faults to the same sequence of calls,
//! so a failing case is replayed by its seed (as closely as its calls come in the same order:
//! ticket ids are random, and some listings follow them).

use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use mesa::model::{
    CompanyRecord, CustomerRecord, DedupeKey, Equipment, Event, Folio, Incident, StaffMember,
    Ticket, TicketId,
};
use mesa::outbox::{OutboxItem, OutgoingMail};
use mesa::ports::{
    BlobError, BlobStore, BusError, CreateOutcome, CustomerStore, EquipmentStore, EventBus,
    HeartbeatStore, IncidentStore, ListFilter, MailError, Mailer, NewTicket, OutboxStore, Page,
    PageRequest, PublishedEvent, QuarantineRecord, QuarantineStore, StaffStore, Store, StoreError,
    TicketChange, TicketStore,
};

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused before anything was done (a throttle, a refused connection).
    Refuse,
    /// The caller gave up waiting; the call was done (`applied`) or not.
    TimeOut { applied: bool },
    /// Done, then reported failed (the answer was lost, the process died before recording).
    AppliedThenFailed,
}

impl Fault {
    /// Whether the call took effect although the caller was told it failed.
    pub fn applied(self) -> bool {
        matches!(
            self,
            Fault::AppliedThenFailed | Fault::TimeOut { applied: true }
        )
    }
}

/// One fault the schedule injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The port: `store`, `mailer`, `blobs` or `bus`.
    pub port: &'static str,
    /// The method called.
    pub call: &'static str,
    /// What the call was about, where it names one thing (an outbox item's id).
    pub subject: Option<String>,
    pub fault: Fault,
}

/// The error an injected fault is reported with.
#[derive(Debug)]
pub struct Injected {
    pub call: &'static str,
    pub fault: Fault,
}

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "injected fault in {}: {:?}", self.call, self.fault)
    }
}

impl std::error::Error for Injected {}

struct Schedule {
    rng: u64,
    /// Every call gets this fault, instead of a drawn one.
    fixed: Option<Fault>,
    /// Chance of a fault on each call, in thousandths.
    per_mille: u64,
    on: bool,
    injected: Vec<InjectedFault>,
}

/// The schedule every wrapped port draws from.
pub struct Faults(Mutex<Schedule>);

impl Faults {
    /// Faults on about `per_mille` calls in a thousand, drawn from `seed`.
    pub fn seeded(seed: u64, per_mille: u64) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Schedule {
            rng: seed,
            fixed: None,
            per_mille,
            on: true,
            injected: Vec::new(),
        })))
    }

    /// Every call meets `fault` (until [`Faults::stop`]): an outage.
    pub fn every_call(fault: Fault) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Schedule {
            rng: 0,
            fixed: Some(fault),
            per_mille: 1000,
            on: true,
            injected: Vec::new(),
        })))
    }

    /// Every call goes through from now on (the outage is over).
    pub fn stop(&self) {
        self.lock().on = false;
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<InjectedFault> {
        self.lock().injected.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fate of one call.
    fn draw(&self, port: &'static str, call: &'static str, subject: Option<&str>) -> Option<Fault> {
        let mut s = self.lock();
        if !s.on {
            return None;
        }
        let roll = next(&mut s.rng);
        if roll % 1000 >= s.per_mille {
            return None;
        }
        let fault = s.fixed.unwrap_or(match (roll / 1000) % 4 {
            0 | 1 => Fault::Refuse,
            2 => Fault::TimeOut {
                applied: (roll / 4000) % 2 == 0,
            },
            _ => Fault::AppliedThenFailed,
        });
        s.injected.push(InjectedFault {
            port,
            call,
            subject: subject.map(str::to_string),
            fault,
        });
        Some(fault)
    }
}

/// splitmix64: a well-mixed sequence from any seed, and repeatable (written here because the
/// schedule must not depend on a crate's choice of generator staying the same).
pub(crate) fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `op` as the drawn fault says; `fail` makes the error the port reports.
async fn faulted<T, E>(
    fault: Option<Fault>,
    call: &'static str,
    op: impl Future<Output = Result<T, E>>,
    fail: impl FnOnce(Injected) -> E,
) -> Result<T, E> {
    match fault {
        None => op.await,
        Some(fault) => {
            if fault.applied() {
                let _ = op.await;
            }
            Err(fail(Injected { call, fault }))
        }
    }
}

/// A store whose every call may fail.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }

    async fn call<T>(
        &self,
        call: &'static str,
        subject: Option<&str>,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let fault = self.faults.draw("store", call, subject);
        faulted(fault, call, op, |e| match e.fault {
            Fault::Refuse => StoreError::busy(e),
            _ => StoreError::backend(e),
        })
        .await
    }
}

#[async_trait]
impl TicketStore for FaultyStore {
    async fn create_ticket(&self, new: NewTicket) -> Result<CreateOutcome, StoreError> {
        self.call("create_ticket", None, self.inner.create_ticket(new))
            .await
    }
    async fn apply_change(&self, change: TicketChange) -> Result<(), StoreError> {
        self.call("apply_change", None, self.inner.apply_change(change))
            .await
    }
    async fn get(&self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        self.call("get", None, self.inner.get(id)).await
    }
    async fn get_by_folio(&self, folio: &Folio) -> Result<Option<Ticket>, StoreError> {
        self.call("get_by_folio", None, self.inner.get_by_folio(folio))
            .await
    }
    async fn events(&self, id: &TicketId) -> Result<Vec<Event>, StoreError> {
        self.call("events", None, self.inner.events(id)).await
    }
    async fn find_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, StoreError> {
        let op = self.inner.find_by_message_id(message_id);
        self.call("find_by_message_id", None, op).await
    }
    async fn find_by_dedupe_key(&self, key: &DedupeKey) -> Result<Option<TicketId>, StoreError> {
        let op = self.inner.find_by_dedupe_key(key);
        self.call("find_by_dedupe_key", None, op).await
    }
    async fn due_before(&self, t: DateTime<Utc>, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        self.call("due_before", None, self.inner.due_before(t, limit))
            .await
    }
    async fn list(
        &self,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        self.call("list", None, self.inner.list(filter, page)).await
    }
}

#[async_trait]
impl OutboxStore for FaultyStore {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let op = self.inner.claim_outbox(now, lease, limit);
        self.call("claim_outbox", None, op).await
    }
    async fn save_outbox(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let op = self.inner.save_outbox(item);
        self.call("save_outbox", Some(&item.id), op).await
    }
    async fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.call("outbox_item", Some(id), self.inner.outbox_item(id))
            .await
    }
    async fn pending_outbox_before(&self, t: DateTime<Utc>) -> Result<Vec<OutboxItem>, StoreError> {
        let op = self.inner.pending_outbox_before(t);
        self.call("pending_outbox_before", None, op).await
    }
    async fn acks_to_since(&self, to: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let op = self.inner.acks_to_since(to, since);
        self.call("acks_to_since", None, op).await
    }
    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> Result<usize, StoreError> {
        let op = self.inner.enqueue_outbox(items);
        self.call("enqueue_outbox", None, op).await
    }
}

#[async_trait]
impl CustomerStore for FaultyStore {
    async fn upsert_customer(&self, customer: &CustomerRecord) -> Result<(), StoreError> {
        let op = self.inner.upsert_customer(customer);
        self.call("upsert_customer", None, op).await
    }
    async fn find_customer(&self, address: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let op = self.inner.find_customer(address);
        self.call("find_customer", None, op).await
    }
    async fn contacts_of(&self, company: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let op = self.inner.contacts_of(company);
        self.call("contacts_of", None, op).await
    }
    async fn upsert_company(&self, company: &CompanyRecord) -> Result<(), StoreError> {
        let op = self.inner.upsert_company(company);
        self.call("upsert_company", None, op).await
    }
    async fn company(&self, name: &str) -> Result<Option<CompanyRecord>, StoreError> {
        self.call("company", None, self.inner.company(name)).await
    }
    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        self.call("list_companies", None, self.inner.list_companies())
            .await
    }
}

#[async_trait]
impl EquipmentStore for FaultyStore {
    async fn upsert_equipment(&self, equipment: &Equipment) -> Result<(), StoreError> {
        let op = self.inner.upsert_equipment(equipment);
        self.call("upsert_equipment", None, op).await
    }
    async fn equipment(&self, serial: &str) -> Result<Option<Equipment>, StoreError> {
        self.call("equipment", None, self.inner.equipment(serial))
            .await
    }
    async fn equipment_of(&self, company: &str) -> Result<Vec<Equipment>, StoreError> {
        self.call("equipment_of", None, self.inner.equipment_of(company))
            .await
    }
}

#[async_trait]
impl IncidentStore for FaultyStore {
    async fn declare_incident(&self, incident: &Incident) -> Result<Option<Incident>, StoreError> {
        self.call(
            "declare_incident",
            None,
            self.inner.declare_incident(incident),
        )
        .await
    }
    async fn put_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        self.call("put_incident", None, self.inner.put_incident(incident))
            .await
    }
    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        self.call("incident", None, self.inner.incident(id)).await
    }
    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.call("incidents", None, self.inner.incidents()).await
    }
}

#[async_trait]
impl StaffStore for FaultyStore {
    async fn create_staff(&self, member: &StaffMember) -> Result<bool, StoreError> {
        self.call("create_staff", None, self.inner.create_staff(member))
            .await
    }
    async fn put_staff(&self, member: &StaffMember) -> Result<(), StoreError> {
        self.call("put_staff", None, self.inner.put_staff(member))
            .await
    }
    async fn staff(&self, email: &str) -> Result<Option<StaffMember>, StoreError> {
        self.call("staff", None, self.inner.staff(email)).await
    }
    async fn list_staff(&self) -> Result<Vec<StaffMember>, StoreError> {
        self.call("list_staff", None, self.inner.list_staff()).await
    }
}

#[async_trait]
impl QuarantineStore for FaultyStore {
    async fn quarantine(&self, record: &QuarantineRecord) -> Result<(), StoreError> {
        self.call("quarantine", None, self.inner.quarantine(record))
            .await
    }
    async fn list_quarantine(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        self.call("list_quarantine", None, self.inner.list_quarantine())
            .await
    }
}

#[async_trait]
impl HeartbeatStore for FaultyStore {
    async fn record_heartbeat(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let op = self.inner.record_heartbeat(name, at);
        self.call("record_heartbeat", None, op).await
    }
    async fn last_heartbeat(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let op = self.inner.last_heartbeat(name);
        self.call("last_heartbeat", None, op).await
    }
}

/// A mailer whose sends may fail (temporarily: a permanent failure is the recipient's, not
/// an outage's).
pub struct FaultyMailer {
    inner: Arc<dyn Mailer>,
    faults: Arc<Faults>,
}

impl FaultyMailer {
    pub fn new(inner: Arc<dyn Mailer>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl Mailer for FaultyMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError> {
        let fault = self.faults.draw("mailer", "send", Some(&mail.outbox_id));
        faulted(fault, "send", self.inner.send(mail), |e| {
            MailError::temporary_from("the mail server did not answer", e)
        })
        .await
    }
}

/// A blob store whose calls may fail.
pub struct FaultyBlobs {
    inner: Arc<dyn BlobStore>,
    faults: Arc<Faults>,
}

impl FaultyBlobs {
    pub fn new(inner: Arc<dyn BlobStore>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl BlobStore for FaultyBlobs {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<(), BlobError> {
        let fault = self.faults.draw("blobs", "put", Some(key));
        faulted(
            fault,
            "put",
            self.inner.put(key, bytes, content_type),
            |e| BlobError::caused_by("put", e),
        )
        .await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let fault = self.faults.draw("blobs", "get", Some(key));
        faulted(fault, "get", self.inner.get(key), |e| {
            BlobError::caused_by("get", e)
        })
        .await
    }
}

/// An event bus whose publishes may fail.
pub struct FaultyBus {
    inner: Arc<dyn EventBus>,
    faults: Arc<Faults>,
}

impl FaultyBus {
    pub fn new(inner: Arc<dyn EventBus>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl EventBus for FaultyBus {
    async fn publish(&self, events: &[PublishedEvent]) -> Result<(), BusError> {
        let subject = events.first().map(|e| e.id.as_str());
        let fault = self.faults.draw("bus", "publish", subject);
        faulted(fault, "publish", self.inner.publish(events), |e| {
            BusError::new("the bus did not answer", Some(Box::new(e)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults_and_the_rate_holds() {
        let draws = |seed| {
            let f = Faults::seeded(seed, 100);
            (0..10_000)
                .map(|_| f.draw("store", "get", None))
                .collect::<Vec<_>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7));
        assert_ne!(a, draws(8));
        let faults = a.iter().flatten().count();
        assert!((800..1200).contains(&faults), "{faults} faults in 10 000");
        for kind in [
            Fault::Refuse,
            Fault::TimeOut { applied: true },
            Fault::TimeOut { applied: false },
            Fault::AppliedThenFailed,
        ] {
            assert!(a.contains(&Some(kind)), "{kind:?} never drawn");
        }
    }

    #[test]
    fn stopped_faults_let_every_call_through() {
        let f = Faults::seeded(1, 1000);
        assert!(f.draw("bus", "publish", None).is_some());
        f.stop();
        assert!((0..100).all(|_| f.draw("bus", "publish", None).is_none()));
        assert_eq!(f.injected().len(), 1);
    }
}
