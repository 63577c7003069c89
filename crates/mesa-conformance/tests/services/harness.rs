//! One desk on in-memory adapters and the shipped rules, with a clock the test moves.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mesa::desk::{Desk, DeskConfig, EmailOutcome, Submitted};
use mesa::intake::FormInput;
use mesa::lifecycle::Action;
use mesa::model::{Actor, CustomerRecord, Event, Ticket};
use mesa::outbox::{MailKind, OutboxItem};
use mesa::ports::{CustomerStore, TicketStore};
use mesa_conformance::memory::{
    MemoryBlobs, MemoryBus, MemoryMailer, MemoryMetrics, MemoryStore, TestClock,
};
use mesa_conformance::shipped_rules;

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Tuesday 10 November 2026, 10:00 in Mexico City: inside business hours.
pub const MONDAY_MORNING: &str = "2026-11-10T16:00:00Z";

pub struct Harness {
    pub desk: Desk,
    pub store: Arc<MemoryStore>,
    pub mailer: Arc<MemoryMailer>,
    pub blobs: Arc<MemoryBlobs>,
    pub bus: Arc<MemoryBus>,
    pub metrics: Arc<MemoryMetrics>,
    pub clock: Arc<TestClock>,
}

pub fn harness() -> Harness {
    harness_at(t(MONDAY_MORNING))
}

pub fn harness_at(now: DateTime<Utc>) -> Harness {
    let store = Arc::new(MemoryStore::new());
    let mailer = Arc::new(MemoryMailer::default());
    let blobs = Arc::new(MemoryBlobs::default());
    let bus = Arc::new(MemoryBus::default());
    let metrics = Arc::new(MemoryMetrics::default());
    let clock = Arc::new(TestClock::at(now));
    let desk = Desk::new(
        store.clone(),
        mailer.clone(),
        blobs.clone(),
        shipped_rules(),
        clock.clone(),
        DeskConfig::new("https://soporte.test", b"service-test-secret-0123456789ab"),
    )
    .with_events(bus.clone())
    .with_metrics(metrics.clone());
    Harness {
        desk,
        store,
        mailer,
        blobs,
        bus,
        metrics,
        clock,
    }
}

pub fn form(description: &str) -> FormInput {
    FormInput {
        company: "Comercializadora del Bajío".into(),
        contact_name: "Ana Pérez Gómez".into(),
        email: "ana@bajio.com.mx".into(),
        phone: "442 123 4567".into(),
        support_type: "asistencia".into(),
        description: description.into(),
        serial: String::new(),
        idempotency_key: None,
        upload_tokens: Vec::new(),
        impact_scope: None,
        operation_continues: None,
        workaround: None,
    }
}

pub fn mail(from: &str, message_id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ana Pérez <{from}>\r\nTo: zendesk@ingressio.com\r\nSubject: {subject}\r\n\
         Message-ID: {message_id}\r\nDate: Tue, 10 Nov 2026 09:58:00 -0600\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub fn reply_to(
    from: &str,
    message_id: &str,
    in_reply_to: &str,
    subject: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: Ana Pérez <{from}>\r\nTo: zendesk@ingressio.com\r\nSubject: {subject}\r\n\
         Message-ID: {message_id}\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub fn staff() -> Actor {
    Actor::staff("luisa")
}

impl Harness {
    pub async fn submit(&self, description: &str) -> Submitted {
        self.desk
            .submit_form(&form(description), &[], None, "")
            .await
            .expect("form accepted")
    }

    pub async fn email(&self, raw: &[u8]) -> EmailOutcome {
        self.desk
            .intake_email(raw, self.desk.now())
            .await
            .expect("mail taken in")
    }

    pub async fn act(&self, folio: &str, action: Action) -> Ticket {
        self.desk
            .act(folio, &staff(), &action)
            .await
            .unwrap_or_else(|e| panic!("{action:?} on {folio}: {e}"))
    }

    pub async fn ticket(&self, folio: &str) -> Ticket {
        self.desk.ticket_by_folio(folio).await.expect("ticket")
    }

    pub async fn events(&self, ticket: &Ticket) -> Vec<Event> {
        self.store.events(&ticket.id).await.unwrap()
    }

    /// The domain events written for a ticket (published or not).
    pub fn event_items(&self, ticket: &Ticket) -> Vec<OutboxItem> {
        self.outbox_of(ticket, MailKind::Event)
    }

    pub fn outbox_of(&self, ticket: &Ticket, kind: MailKind) -> Vec<OutboxItem> {
        self.store
            .outbox_items()
            .into_iter()
            .filter(|o| o.ticket_id == ticket.id && o.kind == kind)
            .collect()
    }

    pub async fn register(&self, email: &str, domain: &str) {
        self.store
            .upsert_customer(&CustomerRecord {
                company: "Comercializadora del Bajío".into(),
                email: email.into(),
                domain: domain.into(),
                contact_name: "Ana Pérez Gómez".into(),
                phone: "4421234567".into(),
            })
            .await
            .unwrap();
    }

    /// Takes a ticket to `answered`: diagnose, then answer.
    pub async fn answered(&self, folio: &str) -> Ticket {
        self.act(
            folio,
            Action::Diagnose {
                summary: "Se replicó el error.".into(),
                cause: "software_defect".into(),
                vendor: None,
                under_warranty: None,
                replicated: None,
                serial: None,
            },
        )
        .await;
        self.act(
            folio,
            Action::Answer {
                message: "Quedó corregido.".into(),
            },
        )
        .await
    }

    /// Takes a ticket to `closed`: answered, then closed without a note.
    pub async fn closed(&self, folio: &str) -> Ticket {
        self.answered(folio).await;
        self.act(
            folio,
            Action::Close {
                note: String::new(),
            },
        )
        .await
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
}
