//! Group commit on a real SQLite file: changes that arrive together are committed
//! together, yet each stays all-or-nothing on its own, as the store's callers rely on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mesa::model::Folio;
use mesa::ports::{CreateOutcome, OutboxStore, StoreError, TicketStore};
use mesa_conformance::{new_ticket, sample_ticket};
use mesa_local::SqliteStore;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Customers submitting at once, one of them with a submission the store must refuse
/// half-way (its acknowledgement's id is already taken, so the failure comes after its
/// folio, ticket row and events were written): the refused one leaves nothing behind and
/// takes no folio, every other ticket is stored whole, and the folios stay gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_refused_half_way_is_undone_alone_inside_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesa.sqlite");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let received = at("2026-11-10T16:00:00Z");
    let first = new_ticket(
        sample_ticket(received, "a@b.mx"),
        2026,
        &["api:first"],
        true,
    );
    let taken_ack_id = first.outbox[0].id.clone();
    store.create_ticket(first).await.unwrap();

    let mut tasks = Vec::new();
    for round in 0..5 {
        for i in 0..40 {
            let store = store.clone();
            let mut new = new_ticket(
                sample_ticket(received, &format!("c{round}-{i}@b.mx")),
                2026,
                &[&format!("api:{round}-{i}")],
                true,
            );
            let refused = i == 20;
            if refused {
                new.outbox[0].id = taken_ack_id.clone();
            }
            let id = new.opening.id.clone();
            tasks.push(tokio::spawn(async move {
                (refused, id.clone(), store.create_ticket(new).await)
            }));
        }
    }
    let mut folios = vec![Folio::new("ING", 2026, 1).to_string()];
    for task in tasks {
        let (refused, id, outcome) = task.await.unwrap();
        if refused {
            assert!(outcome.is_err(), "a duplicate outbox id was accepted");
            assert_eq!(store.get(&id).await.unwrap(), None, "refused ticket kept");
            assert!(store.events(&id).await.unwrap().is_empty());
        } else {
            match outcome.expect("a sound ticket was refused with its batch") {
                CreateOutcome::Created(t) => {
                    assert_eq!(store.get(&t.id).await.unwrap().as_ref(), Some(&*t));
                    assert_eq!(store.events(&t.id).await.unwrap().len(), 1);
                    folios.push(t.folio.to_string());
                }
                CreateOutcome::Duplicate(other) => panic!("duplicate of {other}"),
            }
        }
    }
    folios.sort();
    let gapless: Vec<String> = (1..=folios.len() as u64)
        .map(|n| Folio::new("ING", 2026, n).to_string())
        .collect();
    assert_eq!(folios, gapless, "a refused change took a folio");
    // Every acknowledgement of a stored ticket is in the outbox, once.
    let acks = store
        .pending_outbox_before(at("2026-11-11T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(acks.len(), folios.len());
}

/// Twenty staff saving the same ticket version at once (likely in one batch): exactly one
/// wins, the others are told of the conflict, and only the winner's event is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_changes_to_one_ticket_in_one_batch_keep_exactly_one() {
    use mesa::model::{Actor, Event, EventKind};
    use mesa::ports::TicketChange;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("mesa.sqlite")).unwrap());
    let received = at("2026-11-10T16:00:00Z");
    let created = match store
        .create_ticket(new_ticket(
            sample_ticket(received, "a@b.mx"),
            2026,
            &[],
            false,
        ))
        .await
        .unwrap()
    {
        CreateOutcome::Created(t) => *t,
        other => panic!("{other:?}"),
    };
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let mut next = created.clone();
            let event = Event {
                seq: 2,
                at: received,
                actor: Actor::staff(&format!("agent{i}")),
                kind: EventKind::WaitingOnCustomer {
                    note: format!("nota {i}"),
                },
            };
            next.apply(&event);
            tokio::spawn(async move {
                store
                    .apply_change(TicketChange {
                        ticket: next,
                        expected_version: 1,
                        events: vec![event],
                        outbox: Vec::new(),
                        message_ids: Vec::new(),
                    })
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict(id)) => assert_eq!(id, created.id),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 1);
    let events = store.events(&created.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(store.get(&created.id).await.unwrap().unwrap().version, 2);
    // Claimed outbox items and the ticket stay readable from a second process's view.
    drop(store);
    let again = SqliteStore::open(&dir.path().join("mesa.sqlite")).unwrap();
    assert_eq!(again.events(&created.id).await.unwrap().len(), 2);
    assert!(
        again
            .claim_outbox(received, chrono::Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
