//! DynamoDB's refusals as the store reports them. The emulator never throttles nor cancels a
//! transaction for capacity, so a fault layer on the SDK's HTTP client answers chosen calls
//! the way DynamoDB documents (a `ThrottlingException`, a `TransactionCanceledException`
//! with each cancellation reason) and passes every other call to the emulator; an item too
//! large for the table is refused by the emulator itself. Each refusal is a typed error the
//! caller can act on (retry it, or never), and nothing of the refused write is stored. Last,
//! the whole desk under random faults on DynamoDB.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use mesa::model::{Actor, Event, EventKind};
use mesa::ports::{CreateOutcome, StoreError, TicketChange, TicketStore};
use mesa_aws::DynamoStore;
use mesa_conformance::{new_ticket, sample_ticket};
use mesa_tests::emulator::*;

/// One queued answer: the operation it answers (`TransactWriteItems`, …) and its JSON body.
type Refusal = (&'static str, String);

/// DynamoDB's answers queued for the next calls of an operation.
#[derive(Clone, Default)]
struct Refusals(Arc<Mutex<VecDeque<Refusal>>>);

impl Refusals {
    /// The next call of `operation` is answered 400 with `error` (`__type`) and `fields`.
    fn queue(&self, operation: &'static str, error: &'static str, fields: serde_json::Value) {
        let mut body = fields;
        body["__type"] = format!("com.amazonaws.dynamodb.v20120810#{error}").into();
        self.0
            .lock()
            .unwrap()
            .push_back((operation, body.to_string()));
    }

    /// A `TransactionCanceledException` with `reason` on the transaction's first item.
    fn cancel_next_transaction(&self, reason: &str) {
        self.queue(
            "TransactWriteItems",
            "TransactionCanceledException",
            serde_json::json!({
                "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}]"),
                "CancellationReasons": [{"Code": reason, "Message": "refused by the test"}],
            }),
        );
    }

    fn take(&self, operation: &str) -> Option<String> {
        let mut queue = self.0.lock().unwrap();
        let at = queue.iter().position(|(op, _)| *op == operation)?;
        queue.remove(at).map(|(_, body)| body)
    }
}

#[derive(Debug)]
struct RefusingConnector {
    inner: SharedHttpConnector,
    refusals: Refusals,
}

impl std::fmt::Debug for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refusals")
    }
}

impl HttpConnector for RefusingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_string();
        match self.refusals.take(&operation) {
            Some(body) => {
                let mut response = HttpResponse::new(
                    400.try_into().expect("a status"),
                    SdkBody::from(body.into_bytes()),
                );
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.0");
                HttpConnectorFuture::ready(Ok(response))
            }
            None => self.inner.call(request),
        }
    }
}

/// A store on a fresh table whose client goes through the fault layer; `retries` turns the
/// SDK's own retries on (as the functions run) or off (to see each refusal as it comes).
async fn refusing_store(retries: bool) -> (DynamoStore, Refusals, DynamoStore) {
    let clients = clients().await;
    let table = unique("refusals");
    create_table(&clients, &table).await;
    let refusals = Refusals::default();
    let base = aws_smithy_http_client::Builder::new().build_http();
    let layer = refusals.clone();
    let http = http_client_fn(move |settings, components| {
        SharedHttpConnector::new(RefusingConnector {
            inner: aws_smithy_runtime_api::client::http::HttpClient::http_connector(
                &base, settings, components,
            ),
            refusals: layer.clone(),
        })
    });
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(mesa_aws::https_client())
        .load()
        .await;
    let retry = if retries {
        aws_sdk_dynamodb::config::retry::RetryConfig::standard()
    } else {
        aws_sdk_dynamodb::config::retry::RetryConfig::disabled()
    };
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .http_client(http)
        .retry_config(retry)
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &table);
    // The same table through a plain client: what was really stored.
    let truth = DynamoStore::new(clients.dynamodb.clone(), &table);
    (store, refusals, truth)
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const RECEIVED: &str = "2026-11-10T16:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cancellation_reason_of_a_ticket_change_is_a_typed_error_and_writes_nothing() {
    let (store, refusals, truth) = refusing_store(false).await;
    let opened = match store
        .create_ticket(new_ticket(
            sample_ticket(t(RECEIVED), "ana@bajio.com.mx"),
            2026,
            &[],
            true,
        ))
        .await
        .unwrap()
    {
        CreateOutcome::Created(t) => *t,
        other => panic!("{other:?}"),
    };
    let change = || {
        let mut ticket = opened.clone();
        let event = Event {
            seq: ticket.version + 1,
            at: t("2026-11-10T17:00:00Z"),
            actor: Actor::staff("luisa"),
            kind: EventKind::NoteAdded {
                text: "Revisando".into(),
            },
        };
        ticket.apply(&event);
        TicketChange {
            ticket,
            expected_version: opened.version,
            events: vec![event],
            outbox: Vec::new(),
            message_ids: Vec::new(),
        }
    };
    for (reason, expected) in [
        ("ThrottlingError", "busy"),
        ("ProvisionedThroughputExceeded", "busy"),
        ("TransactionConflict", "conflict"),
        ("ConditionalCheckFailed", "conflict"),
        ("ValidationError", "rejected"),
        ("ItemCollectionSizeLimitExceeded", "rejected"),
    ] {
        refusals.cancel_next_transaction(reason);
        let error = store.apply_change(change()).await.unwrap_err();
        let kind = match &error {
            StoreError::Busy(_) => "busy",
            StoreError::Conflict(_) => "conflict",
            StoreError::Rejected(_) => "rejected",
            other => panic!("{reason}: {other}"),
        };
        assert_eq!(kind, expected, "{reason}: {error}");
        assert_eq!(error.is_retryable(), expected != "rejected", "{reason}");
        let stored = truth.get(&opened.id).await.unwrap().unwrap();
        assert_eq!(stored.version, opened.version, "{reason}: half-written");
        assert_eq!(
            truth.events(&opened.id).await.unwrap().len(),
            opened.version as usize,
            "{reason}: an event was written"
        );
    }
    // The same change, once DynamoDB takes it, is written whole.
    store.apply_change(change()).await.unwrap();
    assert_eq!(
        truth.get(&opened.id).await.unwrap().unwrap().version,
        opened.version + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_ticket_creation_is_retried_into_one_ticket_and_a_refused_one_is_not() {
    let (store, refusals, truth) = refusing_store(false).await;
    let new =
        |email: &str, key: &str| new_ticket(sample_ticket(t(RECEIVED), email), 2026, &[key], true);
    // Refused as it is: a typed error that is not retried, and nothing stored.
    refusals.cancel_next_transaction("ValidationError");
    let error = store
        .create_ticket(new("ana@bajio.com.mx", "form:uno"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Rejected(_)) && !error.is_retryable(),
        "{error}"
    );
    // Throttled and in conflict: the store tries again, and one ticket with the first folio
    // is written (no folio skipped by the refusals).
    refusals.cancel_next_transaction("ThrottlingError");
    refusals.cancel_next_transaction("TransactionConflict");
    refusals.cancel_next_transaction("ProvisionedThroughputExceeded");
    let created = store
        .create_ticket(new("beto@bajio.com.mx", "form:dos"))
        .await
        .unwrap();
    let CreateOutcome::Created(ticket) = created else {
        panic!("{created:?}")
    };
    assert_eq!(ticket.folio.as_str(), "ING-2026-000001");
    assert!(
        refusals.take("TransactWriteItems").is_none(),
        "every refusal was met"
    );
    let listed = truth
        .list(
            &Default::default(),
            &mesa::ports::PageRequest {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_call_is_busy_and_the_sdk_retries_it_as_the_functions_run() {
    let throttle = |refusals: &Refusals| {
        refusals.queue(
            "GetItem",
            "ThrottlingException",
            serde_json::json!({"message": "Rate of requests exceeds the allowed throughput."}),
        )
    };
    let (store, refusals, _) = refusing_store(false).await;
    throttle(&refusals);
    let error = store.get(&mesa::model::TicketId::new()).await.unwrap_err();
    assert!(
        matches!(error, StoreError::Busy(_)) && error.is_retryable(),
        "{error}"
    );
    // With the SDK's standard retries (the functions' setting) one throttle is absorbed.
    let (store, refusals, _) = refusing_store(true).await;
    throttle(&refusals);
    assert_eq!(
        store.get(&mesa::model::TicketId::new()).await.unwrap(),
        None
    );
    assert!(refusals.take("GetItem").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_too_large_for_the_table_is_refused_for_good_and_takes_no_folio() {
    let (store, _, truth) = refusing_store(false).await;
    let mut huge = sample_ticket(t(RECEIVED), "ana@bajio.com.mx");
    // DynamoDB's items hold at most 400 KB.
    huge.description = "El lector no registra. ".repeat(25_000);
    let error = store
        .create_ticket(new_ticket(huge, 2026, &["form:grande"], true))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Rejected(_)) && !error.is_retryable(),
        "{error}"
    );
    let next = store
        .create_ticket(new_ticket(
            sample_ticket(t(RECEIVED), "beto@bajio.com.mx"),
            2026,
            &["form:normal"],
            true,
        ))
        .await
        .unwrap();
    let CreateOutcome::Created(next) = next else {
        panic!("{next:?}")
    };
    assert_eq!(next.folio.as_str(), "ING-2026-000001");
    assert_eq!(
        truth
            .find_by_dedupe_key(&mesa::model::DedupeKey::Form("grande".into()))
            .await
            .unwrap(),
        None,
        "the refused ticket's key was written"
    );
}

/// The fault property test (`mesa_conformance::under_faults`) on DynamoDB: a few seeds, each
/// on a fresh table (memory and SQLite run more; `MESA_FAULT_CASES` sets how many here too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_accepted_is_lost_doubled_or_left_half_done_under_random_faults_on_dynamodb() {
    let clients = clients().await;
    let mut tickets = 0;
    for seed in mesa_conformance::under_faults::seeds(6) {
        let table = unique("faults");
        create_table(&clients, &table).await;
        let store = Arc::new(DynamoStore::new(clients.dynamodb.clone(), &table));
        let summary = mesa_conformance::under_faults::run_case(store, seed)
            .await
            .unwrap_or_else(|e| panic!("seed {seed} (MESA_FAULT_SEED={seed} replays it): {e}"));
        tickets += summary.tickets;
    }
    assert!(tickets > 10, "only {tickets} tickets opened");
}
