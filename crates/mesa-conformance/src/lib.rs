//! The store conformance suite: what every [`TicketStore`] adapter must do, checked the same
//! way against SQLite and DynamoDB. Adapters call [`run_all`] from their tests with a
//! factory that gives a fresh, empty store.

pub mod faults;
pub mod fuzz;
pub mod memory;
mod registry;
mod staff;
mod stats;
pub mod under_faults;

pub use staff::staff_accounts;
pub use stats::statistics_of_a_month;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mesa::Severity;
use mesa::model::{
    Actor, Channel, Customer, DedupeKey, Event, EventKind, Folio, Opening, Stage, Subscription,
    Ticket, TicketId,
};
use mesa::outbox::{MailKind, OutboxItem, OutboxStatus};
use mesa::policy::RulesVersion;
use mesa::ports::{
    CreateOutcome, ListFilter, NewTicket, PageRequest, QuarantineRecord, StoreError, TicketChange,
};

/// The shipped rules, compiled and checked once per test binary (activating them runs every
/// vector, about 10 ms).
pub fn shipped_rules() -> Arc<mesa::policy::LiveRules> {
    static RULES: std::sync::OnceLock<Arc<mesa::policy::LiveRules>> = std::sync::OnceLock::new();
    RULES
        .get_or_init(|| {
            let policy = mesa::policy::Policy::activate(mesa::policy::Bundle::built_in())
                .expect("the shipped rules activate");
            Arc::new(mesa::policy::LiveRules::new(policy))
        })
        .clone()
}

/// A store under test: every capability of one adapter.
pub type Store = Arc<dyn mesa::ports::Store>;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn rules_version() -> RulesVersion {
    serde_json::from_str("\"r-conformance\"").unwrap()
}

/// A ticket as the services would open it, before the store assigns its folio.
pub fn sample_ticket(received_at: DateTime<Utc>, email: &str) -> Opening {
    let id = TicketId::new();
    let received = Event {
        seq: 1,
        at: received_at,
        actor: Actor::Customer,
        kind: EventKind::Received {
            channel: Channel::Form,
            message_id: None,
            arrived_at: None,
            clock_start: None,
        },
    };
    Opening {
        id,
        channel: Channel::Form,
        customer: Customer {
            company: "Comercializadora del Bajío".into(),
            contact_name: "Ana Pérez".into(),
            email: email.into(),
            phone: "4421234567".into(),
        },
        verified: true,
        subscription: Some(Subscription::Active {
            company: "Comercializadora del Bajío".into(),
            plan: "Nube 50".into(),
            until: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).expect("a date"),
        }),
        terms: serde_json::json!({"response_hours": [0, 2, 4, 8, 12]})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        support_type: "falla_lectores".into(),
        subject: "Lectores".into(),
        description: "Algunos lectores no registran.".into(),
        device_serial: None,
        attachments: Vec::new(),
        missing_fields: Vec::new(),
        received_at,
        message_id: None,
        impact: None,
        rules_version: rules_version(),
        severity: Severity::new(2).unwrap(),
        next_due: None,
        events: vec![received],
    }
}

fn dedupe_key(k: &str) -> DedupeKey {
    match k.split_once(':') {
        Some(("form", v)) => DedupeKey::Form(v.into()),
        Some(("msgid", v)) => DedupeKey::MessageId(v.into()),
        Some(("raw", v)) => DedupeKey::Raw(v.into()),
        Some(("receiver", v)) => DedupeKey::Receiver(v.into()),
        _ => DedupeKey::Api(k.into()),
    }
}

/// A new ticket of `ticket` numbered in `year`, with `keys` (`form:…`, `msgid:…`, …) and, if
/// `with_ack`, its acknowledgement.
pub fn new_ticket(ticket: Opening, year: i32, keys: &[&str], with_ack: bool) -> NewTicket {
    let outbox = if with_ack {
        vec![OutboxItem::new(
            OutboxItem::new_id(),
            ticket.id.clone(),
            MailKind::Ack,
            &ticket.customer.email,
            "mesa.test",
            None,
            String::new(),
            ticket.received_at,
        )]
    } else {
        Vec::new()
    };
    let message_ids = outbox.iter().map(|o| o.message_id.clone()).collect();
    NewTicket {
        opening: ticket,
        outbox,
        dedupe_keys: keys.iter().map(|k| dedupe_key(k)).collect(),
        message_ids,
        folio_prefix: "ING".into(),
        folio_year: year,
    }
}

async fn create(store: &Store, new: NewTicket) -> Ticket {
    match store.create_ticket(new).await.expect("create_ticket") {
        CreateOutcome::Created(t) => *t,
        CreateOutcome::Duplicate(id) => panic!("unexpected duplicate of {id}"),
    }
}

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Store>,
{
    create_and_read_back(make().await).await;
    folios_are_gapless_per_year(make().await).await;
    dedupe_keys_make_one_ticket(make().await).await;
    concurrent_creation_gives_distinct_gapless_folios(make().await).await;
    changes_are_optimistic(make().await).await;
    due_index_returns_only_due_tickets(make().await).await;
    listing_pages_and_filters(make().await).await;
    outbox_claims_leases_and_marks(make().await).await;
    every_outbox_kind_is_written_with_its_ticket(make().await).await;
    registry::customers_by_address_or_domain(make().await).await;
    registry::companies_periods_and_contacts(make().await).await;
    registry::equipment_by_serial_and_company(make().await).await;
    registry::incidents_and_notices_written_once(make().await).await;
    registry::one_outage_declared_at_once_is_one_incident(make().await).await;
    staff_accounts(make().await).await;
    quarantine_and_heartbeats(make().await).await;
    statistics_of_a_month(make().await).await;
}

pub async fn create_and_read_back(store: Store) {
    let mut ticket = sample_ticket(t("2026-11-10T16:00:00Z"), "ana@bajio.com.mx");
    ticket.message_id = Some("<in.1@bajio.com.mx>".into());
    let mut new = new_ticket(ticket.clone(), 2026, &["form:abc"], true);
    new.message_ids.push("<in.1@bajio.com.mx>".into());
    let ack_id = new.outbox[0].message_id.clone();
    let created = create(&store, new).await;
    assert_eq!(created.folio.as_str(), "ING-2026-000001");
    assert_eq!(created.id, ticket.id);
    let by_id = store.get(&ticket.id).await.unwrap().expect("by id");
    assert_eq!(by_id, created);
    let by_folio = store
        .get_by_folio(&created.folio)
        .await
        .unwrap()
        .expect("by folio");
    assert_eq!(by_folio.id, ticket.id);
    let events = store.events(&ticket.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind.name(), "received");
    assert_eq!(
        store.find_by_message_id(&ack_id).await.unwrap(),
        Some(ticket.id.clone())
    );
    assert_eq!(
        store
            .find_by_message_id("<in.1@bajio.com.mx>")
            .await
            .unwrap(),
        Some(ticket.id.clone())
    );
    assert_eq!(store.find_by_message_id("<other@x>").await.unwrap(), None);
    assert_eq!(
        store
            .find_by_dedupe_key(&dedupe_key("form:abc"))
            .await
            .unwrap(),
        Some(ticket.id.clone())
    );
    assert!(store.get(&TicketId::new()).await.unwrap().is_none());
    assert!(
        store
            .get_by_folio(&Folio::new("ING", 2026, 99))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn folios_are_gapless_per_year(store: Store) {
    let mut folios = Vec::new();
    for (i, year) in [2026, 2026, 2027, 2026, 2027].into_iter().enumerate() {
        let ticket = sample_ticket(
            t("2026-11-10T16:00:00Z") + Duration::minutes(i as i64),
            "a@b.mx",
        );
        folios.push(
            create(&store, new_ticket(ticket, year, &[], false))
                .await
                .folio
                .to_string(),
        );
    }
    assert_eq!(
        folios,
        [
            "ING-2026-000001",
            "ING-2026-000002",
            "ING-2027-000001",
            "ING-2026-000003",
            "ING-2027-000002"
        ]
    );
}

pub async fn dedupe_keys_make_one_ticket(store: Store) {
    let first = create(
        &store,
        new_ticket(
            sample_ticket(t("2026-11-10T16:00:00Z"), "a@b.mx"),
            2026,
            &["msgid:<1@x>", "raw:aa"],
            true,
        ),
    )
    .await;
    let again = new_ticket(
        sample_ticket(t("2026-11-10T16:01:00Z"), "a@b.mx"),
        2026,
        &["raw:bb", "msgid:<1@x>"],
        true,
    );
    let again_id = again.id().clone();
    match store.create_ticket(again).await.unwrap() {
        CreateOutcome::Duplicate(id) => assert_eq!(id, first.id),
        CreateOutcome::Created(t) => panic!("duplicate created {}", t.folio),
    }
    assert!(
        store.get(&again_id).await.unwrap().is_none(),
        "nothing of the duplicate is written"
    );
    assert_eq!(
        store
            .find_by_dedupe_key(&dedupe_key("raw:bb"))
            .await
            .unwrap(),
        None
    );
    // No folio was consumed by the duplicate, and only one ack is pending.
    let next = create(
        &store,
        new_ticket(
            sample_ticket(t("2026-11-10T16:02:00Z"), "c@d.mx"),
            2026,
            &[],
            false,
        ),
    )
    .await;
    assert_eq!(next.folio.as_str(), "ING-2026-000002");
    let acks = store
        .acks_to_since("a@b.mx", t("2026-11-10T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(acks, 1);
}

pub async fn concurrent_creation_gives_distinct_gapless_folios(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let ticket = sample_ticket(t("2026-11-10T16:00:00Z") + Duration::seconds(i), "a@b.mx");
            create(&store, new_ticket(ticket, 2026, &[], true))
                .await
                .folio
                .to_string()
        }));
    }
    let mut folios = Vec::new();
    for task in tasks {
        folios.push(task.await.expect("task"));
    }
    folios.sort();
    let expected: Vec<String> = (1..=50)
        .map(|n| Folio::new("ING", 2026, n).to_string())
        .collect();
    assert_eq!(folios, expected);
}

pub async fn changes_are_optimistic(store: Store) {
    let created = create(
        &store,
        new_ticket(
            sample_ticket(t("2026-11-10T16:00:00Z"), "a@b.mx"),
            2026,
            &[],
            false,
        ),
    )
    .await;
    let mut next = created.clone();
    let event = Event {
        seq: 2,
        at: t("2026-11-10T17:00:00Z"),
        actor: Actor::staff("luis"),
        kind: EventKind::WaitingOnCustomer {
            note: "fotos".into(),
        },
    };
    next.apply(&event);
    let item = OutboxItem::new(
        OutboxItem::new_id(),
        created.id.clone(),
        MailKind::Reply,
        "a@b.mx",
        "mesa.test",
        None,
        "hola".into(),
        event.at,
    );
    let change = TicketChange {
        ticket: next.clone(),
        expected_version: 1,
        events: vec![event.clone()],
        outbox: vec![item.clone()],
        message_ids: vec![item.message_id.clone()],
    };
    store
        .apply_change(change.clone())
        .await
        .expect("first change");
    // The same change again is on a stale version: a conflict, and nothing written.
    match store.apply_change(change).await {
        Err(StoreError::Conflict(id)) => assert_eq!(id, created.id),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let stored = store.get(&created.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.stage, Stage::WaitingOnCustomer);
    let events = store.events(&created.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(events[1], event);
    assert_eq!(
        store.find_by_message_id(&item.message_id).await.unwrap(),
        Some(created.id.clone())
    );
    let mut ghost = next.clone();
    ghost.id = TicketId::new();
    let missing = store
        .apply_change(TicketChange {
            ticket: ghost,
            expected_version: 2,
            events: Vec::new(),
            outbox: Vec::new(),
            message_ids: Vec::new(),
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn due_index_returns_only_due_tickets(store: Store) {
    let base = t("2026-11-10T16:00:00Z");
    let mut due_ids = Vec::new();
    for i in 0..6i64 {
        let mut ticket = sample_ticket(base, "a@b.mx");
        // 0..2 due before the sweep instant, 3..4 later, 5 has no running clock.
        ticket.next_due = match i {
            0..=2 => Some(base + Duration::minutes(10 - i)),
            3 | 4 => Some(base + Duration::hours(5)),
            _ => None,
        };
        let created = create(&store, new_ticket(ticket, 2026, &[], false)).await;
        if i <= 2 {
            due_ids.push(created.id);
        }
    }
    let due = store
        .due_before(base + Duration::minutes(30), 100)
        .await
        .unwrap();
    let got: Vec<TicketId> = due.iter().map(|t| t.id.clone()).collect();
    due_ids.reverse(); // earliest next_due first
    assert_eq!(got, due_ids);
    assert_eq!(
        store
            .due_before(base + Duration::minutes(30), 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.due_before(base, 100).await.unwrap().len(), 0);
    // "Every ticket with a running clock", as the queue asks: the latest instant there is.
    assert_eq!(
        store
            .due_before(DateTime::<Utc>::MAX_UTC, 100)
            .await
            .unwrap()
            .len(),
        5
    );
}

pub async fn listing_pages_and_filters(store: Store) {
    let base = t("2026-11-10T16:00:00Z");
    let mut ids = Vec::new();
    for i in 0..7i64 {
        let mut ticket = sample_ticket(base + Duration::minutes(i), "a@b.mx");
        if i == 3 {
            ticket.events.push(Event {
                seq: 2,
                at: ticket.received_at,
                actor: Actor::staff("luis"),
                kind: EventKind::Closed {
                    note: String::new(),
                    csat_outbox_id: None,
                },
            });
        }
        ids.push(
            create(&store, new_ticket(ticket, 2026, &[], false))
                .await
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 3,
    };
    loop {
        let p = store.list(&ListFilter::default(), &page).await.unwrap();
        assert!(p.items.len() <= 3);
        seen.extend(p.items.into_iter().map(|t| t.id));
        match p.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let open = store
        .list(
            &ListFilter {
                stage: None,
                open_only: true,
                ..ListFilter::default()
            },
            &PageRequest {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(open.items.len(), 6);
    let closed = store
        .list(
            &ListFilter {
                stage: Some(Stage::Closed),
                open_only: false,
                ..ListFilter::default()
            },
            &PageRequest {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.items.len(), 1);
    assert_eq!(closed.items[0].id, ids[3]);

    // A range of reception, from included to before excluded, paged: minutes 2 to 4 of
    // the seven, one per page so that every page ends on a cursor.
    let range = ListFilter {
        received_from: Some(base + Duration::minutes(2)),
        received_before: Some(base + Duration::minutes(5)),
        ..ListFilter::default()
    };
    let mut in_range = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 1,
    };
    loop {
        let p = store.list(&range, &page).await.unwrap();
        assert!(p.items.len() <= 1);
        in_range.extend(p.items.into_iter().map(|t| t.id));
        match p.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    assert_eq!(
        in_range,
        vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]
    );
    let open_in_range = store
        .list(
            &ListFilter {
                open_only: true,
                ..range.clone()
            },
            &PageRequest {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    let open_ids: Vec<_> = open_in_range.items.into_iter().map(|t| t.id).collect();
    assert_eq!(open_ids, vec![ids[4].clone(), ids[2].clone()]);
}

/// Every kind of outbox item (mail, a page, a domain event) is written in the ticket's own
/// write and read back as it was.
pub async fn every_outbox_kind_is_written_with_its_ticket(store: Store) {
    let now = t("2026-11-10T16:00:00Z");
    let mut new = new_ticket(sample_ticket(now, "a@b.mx"), 2026, &[], false);
    new.outbox = MailKind::ALL
        .into_iter()
        .map(|kind| {
            OutboxItem::new(
                OutboxItem::new_id(),
                new.opening.id.clone(),
                kind,
                "a@b.mx",
                "mesa.test",
                None,
                format!("body of {}", kind.as_str()),
                now,
            )
        })
        .collect();
    let written = new.outbox.clone();
    create(&store, new).await;
    for item in &written {
        let read = store.outbox_item(&item.id).await.unwrap();
        assert_eq!(read.as_ref(), Some(item), "{}", item.kind.as_str());
    }
}

pub async fn outbox_claims_leases_and_marks(store: Store) {
    let now = t("2026-11-10T16:00:00Z");
    let a = create(
        &store,
        new_ticket(sample_ticket(now, "a@b.mx"), 2026, &[], true),
    )
    .await;
    let _b = create(
        &store,
        new_ticket(sample_ticket(now, "c@d.mx"), 2026, &[], true),
    )
    .await;
    let claimed = store
        .claim_outbox(now, Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        claimed
            .iter()
            .all(|i| i.attempts == 1 && i.status == OutboxStatus::Pending)
    );
    // Leased: nobody else gets them for a minute.
    assert!(
        store
            .claim_outbox(now + Duration::seconds(30), Duration::seconds(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut mine = claimed
        .iter()
        .find(|i| i.ticket_id == a.id)
        .unwrap()
        .clone();
    mine.sent(now + Duration::seconds(1));
    store.save_outbox(&mine).await.unwrap();
    let mut other = claimed
        .iter()
        .find(|i| i.ticket_id != a.id)
        .unwrap()
        .clone();
    // Back-off after the first attempt: one minute.
    assert_eq!(
        other.failed("relay down", now + Duration::minutes(4)),
        now + Duration::minutes(5)
    );
    store.save_outbox(&other).await.unwrap();
    assert!(
        store
            .claim_outbox(now + Duration::minutes(2), Duration::seconds(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_outbox(now + Duration::minutes(5), Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, other.id);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("relay down"));
    let sent = store.outbox_item(&mine.id).await.unwrap().unwrap();
    assert_eq!(sent.status, OutboxStatus::Sent);
    assert!(sent.sent_at.is_some());
    let pending = store.pending_outbox_before(now).await.unwrap();
    assert_eq!(
        pending.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        [other.id.as_str()]
    );
    let mut skipped = again[0].clone();
    skipped.skipped("cap");
    store.save_outbox(&skipped).await.unwrap();
    assert!(
        store
            .pending_outbox_before(now + Duration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .acks_to_since("A@B.MX", now - Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .acks_to_since("c@d.mx", now - Duration::hours(1))
            .await
            .unwrap(),
        0,
        "skipped acks do not count"
    );
    assert_eq!(
        store
            .acks_to_since("a@b.mx", now + Duration::minutes(1))
            .await
            .unwrap(),
        0
    );
    assert!(store.outbox_item("nope").await.unwrap().is_none());
    // An item that was never written is not saved into being, whether it is a mail sent or
    // an acknowledgement given up (which also frees its place under the daily cap).
    let mut ghost = sent.clone();
    ghost.id = "never-written".into();
    assert!(matches!(
        store.save_outbox(&ghost).await,
        Err(StoreError::NotFound(_))
    ));
    let mut ghost_ack = skipped.clone();
    ghost_ack.id = "never-written-ack".into();
    assert!(matches!(
        store.save_outbox(&ghost_ack).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.outbox_item("never-written").await.unwrap().is_none());
    assert!(
        store
            .outbox_item("never-written-ack")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn quarantine_and_heartbeats(store: Store) {
    let record = QuarantineRecord {
        id: "q1".into(),
        received_at: t("2026-11-10T16:00:00Z"),
        reason: "malformed".into(),
        raw_key: "inbound/2026/11/x.eml".into(),
        ignored: false,
        released_as: None,
    };
    store.quarantine(&record).await.unwrap();
    let ignored = QuarantineRecord {
        id: "q2".into(),
        received_at: t("2026-11-10T16:01:00Z"),
        reason: "automatic message".into(),
        raw_key: "inbound/2026/11/y.eml".into(),
        ignored: true,
        released_as: None,
    };
    store.quarantine(&ignored).await.unwrap();
    assert_eq!(
        store.list_quarantine().await.unwrap(),
        vec![record.clone(), ignored.clone()]
    );
    // Released by staff: the record is written back, not added again.
    let released = QuarantineRecord {
        released_as: Some("ING-2026-000007".into()),
        ..ignored
    };
    store.quarantine(&released).await.unwrap();
    assert_eq!(
        store.list_quarantine().await.unwrap(),
        vec![record, released]
    );
    assert_eq!(store.last_heartbeat("sweep").await.unwrap(), None);
    store
        .record_heartbeat("sweep", t("2026-11-10T16:00:00Z"))
        .await
        .unwrap();
    store
        .record_heartbeat("sweep", t("2026-11-10T16:01:00Z"))
        .await
        .unwrap();
    assert_eq!(
        store.last_heartbeat("sweep").await.unwrap(),
        Some(t("2026-11-10T16:01:00Z"))
    );
}
