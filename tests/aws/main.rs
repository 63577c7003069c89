//! The AWS adapters and the Lambda handlers against a local AWS emulator, over HTTP with the
//! real SDK: DynamoDB (the store conformance suite), S3, SES v2, EventBridge, SQS.

mod coverage;
mod panel;
mod refusals;
mod rules_publish;
mod watch;

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::ses::SimpleEmailEvent;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use mesa::outbox::MailKind;
use mesa::ports::{Metric, Metrics, OutboxStore, QuarantineStore, TicketStore};
use mesa_aws::{DynamoStore, Wiring};
use mesa_tests::emulator::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A metric's dimensions, as (name, value) pairs.
type Dimensions = Vec<(String, String)>;

/// Metrics recorded in memory, to see what the functions emit.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Dimensions)>>);

impl Metrics for Recorder {
    fn count(&self, metric: &Metric) {
        let dims = metric
            .dimensions()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        self.0
            .lock()
            .unwrap()
            .push((metric.name().to_string(), dims));
    }
}

impl Recorder {
    fn named(&self, name: &str) -> Vec<Dimensions> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

struct Env {
    clients: mesa_aws::Clients,
    wiring: Wiring,
    inbound: String,
    metrics: Arc<Recorder>,
}

async fn env() -> Env {
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa").await;
    let metrics = Arc::new(Recorder::default());
    let wiring = Wiring::with_metrics(stack.config(), clients.clone(), metrics.clone())
        .await
        .expect("wiring");
    Env {
        clients,
        wiring,
        inbound: stack.inbound,
        metrics,
    }
}

fn fixture(name: &str) -> Value {
    let path = mesa_tests::workspace().join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ses_event(ses_id: &str, virus: &str) -> SimpleEmailEvent {
    let mut v = fixture("ses-receipt.json");
    v["Records"][0]["ses"]["mail"]["messageId"] = json!(ses_id);
    v["Records"][0]["ses"]["receipt"]["virusVerdict"]["status"] = json!(virus);
    serde_json::from_value(v).unwrap()
}

fn stream_event(outbox_ids: &[String]) -> StreamEvent {
    let template = fixture("dynamodb-stream.json")["Records"][0].clone();
    let records: Vec<Value> = outbox_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut r = template.clone();
            r["eventID"] = json!(format!("event-{i}"));
            r["dynamodb"]["Keys"]["pk"]["S"] = json!(format!("OUTBOX#{id}"));
            r["dynamodb"]["NewImage"]["pk"]["S"] = json!(format!("OUTBOX#{id}"));
            r
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn schedule(at: &str) -> EventBridgeEvent<Value> {
    let mut v = fixture("eventbridge-schedule.json");
    v["time"] = json!(at);
    serde_json::from_value(v).unwrap()
}

fn lambda<T>(payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, Context::default())
}

async fn put_raw(env: &Env, ses_id: &str, raw: &str) {
    env.clients
        .s3
        .put_object()
        .bucket(&env.inbound)
        .key(format!("inbound/{ses_id}"))
        .body(ByteStream::from(raw.replace('\n', "\r\n").into_bytes()))
        .send()
        .await
        .expect("put_object");
}

/// The ids of the mail (and pages) waiting in the outbox.
async fn pending_outbox(env: &Env) -> Vec<String> {
    pending_of_kind(env, |kind| kind != MailKind::Event).await
}

/// The ids of the domain events waiting in the outbox.
async fn pending_events(env: &Env) -> Vec<String> {
    pending_of_kind(env, |kind| kind == MailKind::Event).await
}

async fn pending_of_kind(env: &Env, wanted: impl Fn(MailKind) -> bool) -> Vec<String> {
    env.wiring
        .store
        .pending_outbox_before(Utc::now() + chrono::Duration::days(3650))
        .await
        .unwrap()
        .into_iter()
        .filter(|o| wanted(o.kind))
        .map(|o| o.id)
        .collect()
}

/// A new customer writes to support; the raw message is where SES's S3 action puts it.
/// Gives (the customer's address, SES's message id).
async fn customer_writes(env: &Env, body: &str) -> (String, String) {
    let customer = format!("{}@norte.mx", unique("luis"));
    let ses_id = unique("ses");
    let raw = format!(
        "From: Luis Gómez <{customer}>\nTo: zendesk@ingressio.com\nSubject: Lectores sin registrar\nMessage-ID: <{ses_id}@norte.mx>\n\n{body}\n"
    );
    put_raw(env, &ses_id, &raw).await;
    (customer, ses_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_passes_the_store_conformance_suite() {
    let clients = clients().await;
    mesa_conformance::run_all(|| {
        let c = clients.clone();
        async move {
            let table = unique("conformance");
            create_table(&c, &table).await;
            Arc::new(DynamoStore::new(c.dynamodb.clone(), table)) as mesa_conformance::Store
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ses_event_becomes_a_ticket_and_one_ack_however_often_it_is_delivered() {
    let env = env().await;
    let (customer, ses_id) = customer_writes(&env, "Algunos lectores no registran.").await;

    let out = intake_email::handle(&env.wiring, lambda(ses_event(&ses_id, "PASS")))
        .await
        .unwrap();
    assert_eq!(out["outcomes"][0]["outcome"], "created", "{out}");
    let folio = out["outcomes"][0]["folio"].as_str().unwrap().to_string();
    // Delivered again by SES: the same ticket.
    let again = intake_email::handle(&env.wiring, lambda(ses_event(&ses_id, "PASS")))
        .await
        .unwrap();
    assert_eq!(again["outcomes"][0]["outcome"], "duplicate", "{again}");
    assert_eq!(again["outcomes"][0]["folio"], folio.as_str());

    let pending = pending_outbox(&env).await;
    assert_eq!(pending.len(), 1);
    // TicketCreated was written with the ticket, once.
    assert_eq!(pending_events(&env).await.len(), 1);
    let response = outbox::handle(&env.wiring, lambda(stream_event(&pending)))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert!(
        pending_events(&env).await.is_empty(),
        "published with the mail"
    );
    // A retried batch sends nothing twice.
    outbox::handle(&env.wiring, lambda(stream_event(&pending)))
        .await
        .unwrap();
    let sent = sent_to(&customer);
    assert_eq!(sent.len(), 1, "one ack");
    let raw = &sent[0].1;
    assert!(raw.contains(&format!("[{folio}]")), "{raw}");
    assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
    assert!(
        raw.contains(&format!("In-Reply-To: <{ses_id}@norte.mx>")),
        "{raw}"
    );
    let ticket = env
        .wiring
        .store
        .get_by_folio(&mesa::model::Folio::parse(&folio).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(ticket.acknowledged_at.is_some());
    // SES's own Message-ID of the ack now threads to the ticket.
    let ses_mid = format!("<{}@email.amazonses.com>", sent[0].0);
    assert_eq!(
        env.wiring.store.find_by_message_id(&ses_mid).await.unwrap(),
        Some(ticket.id.clone())
    );
    assert_eq!(env.metrics.named("TicketCreated").len(), 1);
    assert!(!env.metrics.named("MailSent").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virus_flagged_message_is_quarantined_without_an_ack() {
    let env = env().await;
    let (customer, ses_id) = customer_writes(&env, "Adjunto factura.exe").await;
    let out = intake_email::handle(&env.wiring, lambda(ses_event(&ses_id, "FAIL")))
        .await
        .unwrap();
    assert_eq!(out["outcomes"][0]["outcome"], "quarantined", "{out}");
    assert!(
        out["outcomes"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("virus")
    );
    let quarantined = env.wiring.store.list_quarantine().await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert!(pending_outbox(&env).await.is_empty());
    assert!(sent_to(&customer).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_raw_object_is_a_retryable_error() {
    let env = env().await;
    let err = intake_email::handle(&env.wiring, lambda(ses_event(&unique("not-there"), "PASS")))
        .await
        .unwrap_err();
    // Lambda's errorType names the class; the message says what is missing.
    let reported = lambda_runtime::Diagnostic::from(err);
    assert_eq!(reported.error_type, "mesa.BlobStoreFailure");
    assert!(
        reported.error_message.contains("not there yet"),
        "{reported:?}"
    );
}

/// Events that can never succeed are answered (so Lambda does not retry them) and kept with
/// the quarantined mail for a person: one in a shape SES never sends, and a message SES dated
/// outside the calendar's years.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_events_that_can_never_succeed_are_set_aside_not_retried() {
    let env = env().await;
    let out = intake_email::handle_raw(
        &env.wiring,
        lambda(json!({"Records": [{"eventSource": "aws:ses", "ses": "not an object"}]})),
    )
    .await
    .expect("answered, not retried");
    assert_eq!(out["outcomes"][0]["outcome"], "quarantined", "{out}");

    let (_, ses_id) = customer_writes(&env, "Algunos lectores no registran.").await;
    let mut event = fixture("ses-receipt.json");
    event["Records"][0]["ses"]["mail"]["messageId"] = json!(ses_id);
    event["Records"][0]["ses"]["mail"]["timestamp"] = json!("2150-01-01T00:00:00.000Z");
    let out = intake_email::handle_raw(&env.wiring, lambda(event))
        .await
        .expect("answered, not retried");
    assert_eq!(out["outcomes"][0]["outcome"], "quarantined", "{out}");
    assert!(
        out["outcomes"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside the calendar"),
        "{out}"
    );

    let set_aside = env.wiring.store.list_quarantine().await.unwrap();
    let reasons: Vec<&str> = set_aside.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("not an SES receipt")),
        "{reasons:?}"
    );
    assert!(reasons.len() >= 2, "{reasons:?}");
    // The unreadable event itself is kept, to be looked at.
    let kept = env
        .wiring
        .desk
        .set_aside_original(&set_aside[0].id)
        .await
        .unwrap();
    assert!(kept.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_finds_an_overdue_ticket_publishes_one_breach_and_emits_the_metric() {
    let env = env().await;
    // A queue subscribed to this test's breach events on the default bus.
    let queue = env.clients_sqs().await;
    let (_customer, ses_id) =
        customer_writes(&env, "El sistema está caído, no opera ningún equipo.").await;
    let received: DateTime<Utc> = "2026-11-02T16:00:00Z".parse().unwrap();
    let mut event = ses_event(&ses_id, "PASS");
    event.records[0].ses.mail.timestamp = received;
    let out = intake_email::handle(&env.wiring, lambda(event))
        .await
        .unwrap();
    let folio = out["outcomes"][0]["folio"].as_str().unwrap().to_string();
    let rule = unique("breaches");
    env.clients
        .events
        .put_rule()
        .name(&rule)
        .event_pattern(json!({"source": ["mesa"], "detail-type": ["SlaBreached"], "detail": {"folio": [folio]}}).to_string())
        .send()
        .await
        .unwrap();
    env.clients
        .events
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(&queue.1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Severity 1 received Monday 10:00 Mexico City: the response is due at 16:00.
    let first = sla_sweep::handle(&env.wiring, lambda(schedule("2026-11-02T22:30:00Z")))
        .await
        .unwrap();
    assert!(first["breaches"].as_u64().unwrap() >= 1, "{first}");
    let second = sla_sweep::handle(&env.wiring, lambda(schedule("2026-11-02T22:31:00Z")))
        .await
        .unwrap();
    assert_eq!(second["breaches"], 0, "{second}");
    // The breach was written with the ticket change; the outbox function (the table's
    // stream) publishes it.
    assert!(env.receive_all(&queue.0).await.is_empty());
    outbox::handle(&env.wiring, lambda(stream_event(&[])))
        .await
        .unwrap();
    let messages = env.receive_all(&queue.0).await;
    let response_breaches: Vec<&Value> = messages
        .iter()
        .filter(|m| m["detail"]["milestone"] == "response")
        .collect();
    assert_eq!(response_breaches.len(), 1, "{messages:?}");
    assert_eq!(
        response_breaches[0]["detail"]["due"],
        "2026-11-02T22:00:00Z"
    );
    assert!(
        response_breaches[0]["detail"]["event_id"]
            .as_str()
            .is_some_and(|id| id.len() == 26),
        "consumers deduplicate by event_id: {messages:?}"
    );
    let metric = env.metrics.named("SlaBreached");
    assert!(
        metric
            .iter()
            .any(|d| d.contains(&("Milestone".to_string(), "response".to_string()))),
        "{metric:?}"
    );
    assert_eq!(env.metrics.named("SweepHeartbeat").len(), 2);
}

/// SQS (a breach page's queue in the tests) over the functions' own HTTPS client.
async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(
        &aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(mesa_aws::https_client())
            .load()
            .await,
    )
}

impl Env {
    /// A fresh SQS queue: (url, arn).
    async fn clients_sqs(&self) -> (String, String) {
        let sqs = sqs_client().await;
        let url = sqs
            .create_queue()
            .queue_name(unique("breaches"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn =
            attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        (url, arn)
    }

    async fn receive_all(&self, url: &str) -> Vec<Value> {
        let sqs = sqs_client().await;
        let mut out = Vec::new();
        loop {
            let r = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let batch = r.messages.unwrap_or_default();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                out.push(serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or(Value::Null));
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_reply_through_the_http_api_router_threads_back_when_the_customer_answers() {
    let env = env().await;
    let (customer, ses_id) = customer_writes(&env, "Algunos lectores no registran.").await;
    let out = intake_email::handle(&env.wiring, lambda(ses_event(&ses_id, "PASS")))
        .await
        .unwrap();
    let folio = out["outcomes"][0]["folio"].as_str().unwrap().to_string();

    // The http-api function's Router, given the request as API Gateway sends it: the JWT
    // authorizer's claims name the staff member; a client's own X-Mesa-Actor is ignored.
    let router = http_api::app(env.wiring.desk.clone());
    let mut event = fixture("apigw-http-health.json");
    let path = format!("/staff/tickets/{folio}/actions");
    event["routeKey"] = json!("ANY /staff/{proxy+}");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!("POST");
    event["requestContext"]["http"]["path"] = json!(path);
    event["headers"]["content-type"] = json!("application/json");
    event["headers"]["x-mesa-actor"] = json!("jefe");
    event["requestContext"]["authorizer"] = json!({"jwt": {"claims": {"email": "ana@ingressio.com", "cognito:username": "ana"}, "scopes": null}});
    event["body"] =
        json!(json!({"action": "reply", "message": "¿Qué lectores fallan?"}).to_string());
    let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let pending = pending_outbox(&env).await;
    outbox::handle(&env.wiring, lambda(stream_event(&pending)))
        .await
        .unwrap();
    let sent = sent_to(&customer);
    let (reply_id, reply_raw) = sent
        .iter()
        .find(|(_, raw)| {
            raw.contains("¿Qué lectores fallan?")
                || raw.contains("Re: [") && !raw.contains("Auto-Submitted")
        })
        .expect("the reply went out")
        .clone();
    assert!(reply_raw.contains(&format!("[{folio}]")));

    // The customer answers the reply as SES delivered it (SES's Message-ID), with no folio.
    let answer_id = unique("ses");
    let extra = format!("In-Reply-To: <{reply_id}@email.amazonses.com>");
    let answer = format!(
        "From: Luis Gómez <{customer}>\nTo: zendesk@ingressio.com\nSubject: Re: su mensaje\nMessage-ID: <{answer_id}@norte.mx>\n{extra}\n\nLos lectores 3 y 4.\n"
    );
    put_raw(&env, &answer_id, &answer).await;
    let out = intake_email::handle(&env.wiring, lambda(ses_event(&answer_id, "PASS")))
        .await
        .unwrap();
    assert_eq!(out["outcomes"][0]["outcome"], "appended", "{out}");
    assert_eq!(out["outcomes"][0]["folio"], folio.as_str());
    let ticket = env
        .wiring
        .store
        .get_by_folio(&mesa::model::Folio::parse(&folio).unwrap())
        .await
        .unwrap()
        .unwrap();
    let events = env.wiring.store.events(&ticket.id).await.unwrap();
    let reply = events
        .iter()
        .find(|e| e.kind.name() == "responded")
        .expect("the reply is on the ticket");
    assert_eq!(reply.actor, "staff:ana@ingressio.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_reads_grow_with_the_tickets_due_not_the_tickets_open() {
    let clients = clients().await;
    let table = unique("sweepcost");
    create_table(&clients, &table).await;
    let store = Arc::new(DynamoStore::new(clients.dynamodb.clone(), table));
    let now: DateTime<Utc> = "2026-11-10T16:00:00Z".parse().unwrap();
    // 2,000 open tickets; 10 of them have a clock due before `now`.
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..250 {
                    let mut t = mesa_conformance::sample_ticket(now, "a@b.mx");
                    let due_soon = w == 0 && i < 10;
                    t.next_due = Some(if due_soon {
                        now - chrono::Duration::minutes(5)
                    } else {
                        now + chrono::Duration::days(3)
                    });
                    let new = mesa::ports::NewTicket {
                        opening: t,
                        outbox: Vec::new(),
                        dedupe_keys: Vec::new(),
                        message_ids: Vec::new(),
                        folio_prefix: "COST".into(),
                        folio_year: 2000 + w,
                    };
                    store.create_ticket(new).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let before = store.due_items_read();
    let due = store.due_before(now, 1000).await.unwrap();
    let read = store.due_items_read() - before;
    println!(
        "sweep index read {read} items for {} due of 2000 open tickets",
        due.len()
    );
    assert_eq!(due.len(), 10);
    assert_eq!(read, 10, "items read by the sweep's query");
}

/// A ticket taken in by mail whose acknowledgement went out through SES:
/// (customer, folio, the ack's outbox id, SES's message id of the ack).
async fn acknowledged_ticket(env: &Env) -> (String, mesa::model::Folio, String, String) {
    let (customer, ses_id) = customer_writes(env, "No registra.").await;
    let out = intake_email::handle(&env.wiring, lambda(ses_event(&ses_id, "PASS")))
        .await
        .unwrap();
    let folio = mesa::model::Folio::parse(out["outcomes"][0]["folio"].as_str().unwrap()).unwrap();
    let pending = pending_outbox(env).await;
    assert_eq!(pending.len(), 1);
    outbox::handle(&env.wiring, lambda(stream_event(&pending)))
        .await
        .unwrap();
    let sent = sent_to(&customer);
    assert_eq!(sent.len(), 1);
    (customer, folio, pending[0].clone(), sent[0].0.clone())
}

fn ses_feedback_event(detail_type: &str, detail: Value) -> EventBridgeEvent<Value> {
    let mut v = fixture("ses-delivery-event.json");
    v["detail-type"] = json!(detail_type);
    v["detail"] = detail;
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_delivery_and_bounce_events_are_recorded_on_the_ticket_once_each() {
    let env = env().await;
    let (customer, folio, outbox_id, ses_message_id) = acknowledged_ticket(&env).await;

    // SES reports the ack delivered; the event carries our outbox id as a message tag.
    let mut delivered = fixture("ses-delivery-event.json")["detail"].clone();
    delivered["mail"]["messageId"] = json!(ses_message_id);
    delivered["mail"]["tags"]["mesa-outbox"] = json!([outbox_id]);
    delivered["delivery"]["recipients"] = json!([customer]);
    let event = ses_feedback_event("Email Delivered", delivered);
    let out = mail_feedback::handle(&env.wiring, lambda(event.clone()))
        .await
        .unwrap();
    assert_eq!(out["recorded"], true, "{out}");
    assert_eq!(out["folio"], folio.to_string());
    // EventBridge delivers at least once: the same report again changes nothing.
    let again = mail_feedback::handle(&env.wiring, lambda(event))
        .await
        .unwrap();
    assert_eq!(again["recorded"], false, "{again}");

    let ticket = env
        .wiring
        .store
        .get_by_folio(&folio)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticket.deliveries.len(), 1, "{:?}", ticket.deliveries);
    let d = &ticket.deliveries[0];
    assert_eq!(d.status, mesa::model::DeliveryStatus::Delivered);
    assert_eq!(d.mail_kind, Some(mesa::outbox::MailKind::Ack));
    assert_eq!(d.recipients, [customer.as_str()]);
    assert_eq!(d.detail, "250 2.0.0 OK");

    // A later bounce report without our tag: found by SES's Message-ID of the ack.
    let bounced = json!({
        "eventType": "Bounce",
        "mail": {"messageId": ses_message_id, "timestamp": "2026-11-10T16:00:03Z"},
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": customer, "diagnosticCode": "smtp; 550 5.1.1 no such user"}],
            "timestamp": "2026-11-10T16:00:09Z"}
    });
    let out = mail_feedback::handle(
        &env.wiring,
        lambda(ses_feedback_event("Email Bounced", bounced)),
    )
    .await
    .unwrap();
    assert_eq!(out["recorded"], true, "{out}");
    let ticket = env
        .wiring
        .store
        .get_by_folio(&folio)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticket.deliveries.len(), 2);
    assert_eq!(
        ticket.deliveries[1].status,
        mesa::model::DeliveryStatus::Bounced
    );
    assert!(ticket.deliveries[1].detail.contains("550 5.1.1"));
    let events = env.wiring.store.events(&ticket.id).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind.name() == "mail_feedback")
            .count(),
        2
    );
    let metric = env.metrics.named("MailFeedback");
    assert!(
        metric
            .iter()
            .any(|d| d.contains(&("Status".to_string(), "bounced".to_string()))),
        "{metric:?}"
    );

    // A report about mail no ticket sent is dropped, not retried.
    let stray = json!({"eventType": "Delivery",
        "mail": {"messageId": unique("stray"), "timestamp": "2026-11-10T16:00:03Z"},
        "delivery": {"recipients": ["x@y.mx"], "timestamp": "2026-11-10T16:00:04Z"}});
    let out = mail_feedback::handle(
        &env.wiring,
        lambda(ses_feedback_event("Email Delivered", stray)),
    )
    .await
    .unwrap();
    assert_eq!(out["reason"], "unknown mail");
    // Not an SES event at all: an error, so it lands in the dead-letter queue.
    assert!(
        mail_feedback::handle(
            &env.wiring,
            lambda(ses_feedback_event("Email Delivered", json!({"x": 1})))
        )
        .await
        .is_err()
    );
}

/// One JSON request to the http-api function's Router: (status, JSON body).
async fn call_api(app: &axum::Router, method: &str, path: &str, body: Value) -> (u16, Value) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn api_form(customer: &str, upload_tokens: &[&str]) -> Value {
    json!({
        "company": "Norte Industrial", "contact_name": "Luis Gómez", "email": customer,
        "phone": "8112345678", "support_type": "falla_lectores",
        "description": "El lector de la entrada norte no registra; anexo una fotografía.",
        "upload_tokens": upload_tokens,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_too_large_for_the_gateway_goes_through_a_presigned_upload() {
    let env = env().await;
    let app = http_api::app(env.wiring.desk.clone());
    let customer = format!("{}@norte.mx", unique("luis"));
    // A 6 MB photograph: more than a Lambda behind API Gateway can take in one request.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(6 * 1024 * 1024, 7);

    let (status, grant) = call_api(
        &app,
        "POST",
        "/uploads",
        json!({"filename": "lector.png", "size": png.len()}),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["method"], "PUT");
    let url = grant["url"].as_str().unwrap().to_string();
    let put = tokio::task::spawn_blocking(move || {
        ureq::put(&url)
            .send(&png[..])
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap();
    assert_eq!(put, Ok(200));

    let token = grant["token"].as_str().unwrap();
    let (status, created) = call_api(&app, "POST", "/tickets", api_form(&customer, &[token])).await;
    assert_eq!(status, 201, "{created}");
    let folio = mesa::model::Folio::parse(created["folio"].as_str().unwrap()).unwrap();
    let ticket = env
        .wiring
        .store
        .get_by_folio(&folio)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticket.attachments.len(), 1);
    let a = &ticket.attachments[0];
    assert_eq!(
        (a.filename.as_str(), a.content_type.as_str(), a.size),
        ("lector.png", "image/png", 6 * 1024 * 1024)
    );
    let stored =
        mesa_aws::S3Blobs::get_object(&env.clients.s3, &env.wiring.config.blob_bucket, &a.key)
            .await
            .unwrap()
            .expect("the attachment is stored");
    assert_eq!(stored.len(), 6 * 1024 * 1024);

    // A token whose file never arrived, or a made-up one: the form is refused, saying why.
    let (_, unused) = call_api(
        &app,
        "POST",
        "/uploads",
        json!({"filename": "informe.pdf", "size": 100}),
    )
    .await;
    let other = format!("{}@norte.mx", unique("ana"));
    let (status, body) = call_api(
        &app,
        "POST",
        "/tickets",
        api_form(&other, &[unused["token"].as_str().unwrap()]),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"]["attachments"]
            .as_str()
            .unwrap()
            .contains("«informe.pdf» no terminó de subirse"),
        "{body}"
    );
    let (status, body) = call_api(&app, "POST", "/tickets", api_form(&other, &["inventado"])).await;
    assert_eq!(status, 422);
    assert!(
        body["errors"]["attachments"]
            .as_str()
            .unwrap()
            .contains("no es válido")
    );
    // Nothing was registered for the refused forms: the table holds the one ticket.
    let all = env
        .wiring
        .store
        .list(
            &mesa::ports::ListFilter::default(),
            &mesa::ports::PageRequest {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);

    // A file over the attachment limit is refused before anything is uploaded.
    let (status, body) = call_api(
        &app,
        "POST",
        "/uploads",
        json!({"filename": "video.zip", "size": 11 * 1024 * 1024}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["errors"]["size"].as_str().unwrap().contains("10 MB"),
        "{body}"
    );
}
