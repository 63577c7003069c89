//! The help desk under random faults: customers submit forms and send mail (retrying as
//! clients and mail servers do), staff act, the outbox delivers and the sweep runs, while a
//! seeded schedule makes the store, the mailer, the blob store and the bus fail. Then the
//! outage ends, everyone retries once more, the outbox drains, and the promises are checked
//! on what the store kept:
//!
//! - every submission is exactly one ticket, and each retry of it got the same folio;
//! - an error caused by a fault is one the caller may retry (never "bad input");
//! - every ticket's acknowledgement went out and is recorded; a message or event delivered
//!   twice only because a fault hit its delivery (at most one extra per such fault);
//! - every domain event written is published, TicketCreated once per ticket;
//! - each ticket's projection is its event log folded, the events numbered 1‥n;
//! - folios are gapless;
//! - no milestone is recorded breached twice.
//!
//! Adapters run [`run_case`] from their tests on a fresh store per seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mesa::Severity;
use mesa::desk::{Desk, DeskConfig, EmailOutcomeKind};
use mesa::intake::FormInput;
use mesa::lifecycle::Action;
use mesa::model::{Actor, CustomerRecord, Event, EventKind, Stage, Ticket};
use mesa::outbox::MailKind;
use mesa::ports::{DomainEvent, ListFilter, PageRequest, Store};

use crate::faults::{Faults, FaultyBlobs, FaultyBus, FaultyMailer, FaultyStore, next};
use crate::memory::{MemoryBlobs, MemoryBus, MemoryMailer, TestClock};

/// How a case went, for the test's report.
#[derive(Debug, Default, Clone)]
pub struct CaseSummary {
    pub tickets: usize,
    pub faults: usize,
    pub duplicate_sends: usize,
}

/// Faults on about one call in eight: enough that most operations meet one.
const FAULTS_PER_MILLE: u64 = 120;
/// Operations of one case before the outage ends.
const STEPS: usize = 40;
/// Attempts a client (a browser, a mail server) makes during the outage.
const ATTEMPTS: usize = 3;

/// Texts as customers write them, of every severity.
const REPORTS: [&str; 4] = [
    "Ningún empleado puede checar, todos los lectores están caídos desde las 8 y no podemos \
     registrar la entrada de nadie.",
    "Un lector de la sucursal norte no reconoce huellas desde ayer; los demás funcionan bien.",
    "El reporte de asistencias de la quincena sale con horas extra duplicadas para algunos \
     empleados.",
    "¿Cómo doy de alta un horario nocturno para el personal de vigilancia?",
];

/// The seeds a test runs: `MESA_FAULT_SEED` alone when set (to replay a failure), else
/// `MESA_FAULT_CASES` of them (`default_cases` when unset), from 0.
pub fn seeds(default_cases: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var("MESA_FAULT_SEED") {
        return vec![seed.parse().expect("MESA_FAULT_SEED is a number")];
    }
    let cases = std::env::var("MESA_FAULT_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    (0..cases).collect()
}

/// One customer's submission and what its client was told.
struct Submission {
    kind: Kind,
    /// The folio of each successful attempt (all must be the same).
    folios: Vec<String>,
}

enum Kind {
    Form(Box<FormInput>),
    /// A new message (its raw bytes) or a reply to ticket `replies_to`'s message.
    Mail {
        raw: Vec<u8>,
        replies_to: Option<String>,
    },
}

fn form(i: usize, description: &str) -> FormInput {
    FormInput {
        company: "Comercializadora del Bajío".into(),
        contact_name: format!("Contacto {i}"),
        email: format!("forma{i}@bajio.com.mx"),
        phone: "442 123 4567".into(),
        support_type: "asistencia".into(),
        description: description.into(),
        serial: String::new(),
        idempotency_key: Some(format!("cliente-{i}")),
        upload_tokens: Vec::new(),
        impact_scope: None,
        operation_continues: None,
        workaround: None,
    }
}

fn mail(i: usize, body: &str, in_reply_to: Option<&str>) -> Vec<u8> {
    let threading = in_reply_to
        .map(|m| format!("In-Reply-To: {m}\r\nReferences: {m}\r\n"))
        .unwrap_or_default();
    format!(
        "From: Contacto {i} <correo{i}@bajio.com.mx>\r\nTo: soporte@ingressio.com\r\n\
         Subject: Soporte {i}\r\nMessage-ID: <m{i}@bajio.com.mx>\r\n{threading}\
         Date: Tue, 10 Nov 2026 09:58:00 -0600\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A staff action of a random kind (many are illegal in the ticket's stage: refused, as
/// they would be in the workspace).
fn action(roll: u64) -> Action {
    match roll % 9 {
        0 => Action::Diagnose {
            summary: "Se replicó el error en el lector.".into(),
            cause: "software_defect".into(),
            vendor: None,
            under_warranty: None,
            replicated: Some(true),
            serial: None,
        },
        1 => Action::Answer {
            message: "Quedó corregido; le pedimos confirmar.".into(),
        },
        2 => Action::Wait {
            note: "Necesitamos la bitácora del lector.".into(),
        },
        3 => Action::Resume {
            note: String::new(),
        },
        4 => Action::LogWork {
            minutes: 30,
            note: "Revisión remota".into(),
        },
        5 => Action::Close {
            note: "Resuelto".into(),
        },
        6 => Action::Reopen {
            reason: "El cliente reporta que sigue fallando.".into(),
        },
        7 => Action::Reply {
            message: "Estamos revisando su reporte.".into(),
            channel: Default::default(),
        },
        _ => Action::SetSeverity {
            severity: Severity::new(2).expect("a severity"),
            reason: "Afecta a una sucursal completa.".into(),
        },
    }
}

/// Runs one seeded case on `store` (fresh and empty) and checks every promise; the error
/// says which promise broke and where.
pub async fn run_case(store: Arc<dyn Store>, seed: u64) -> Result<CaseSummary, String> {
    let faults = Faults::seeded(seed, FAULTS_PER_MILLE);
    let mailer = Arc::new(MemoryMailer::default());
    let bus = Arc::new(MemoryBus::default());
    let clock = Arc::new(TestClock::at(
        DateTime::parse_from_rfc3339("2026-11-10T16:00:00Z")
            .expect("an instant")
            .with_timezone(&Utc),
    ));
    store
        .upsert_customer(&CustomerRecord {
            company: "Comercializadora del Bajío".into(),
            email: "ana@bajio.com.mx".into(),
            domain: "bajio.com.mx".into(),
            contact_name: "Ana Pérez".into(),
            phone: "4421234567".into(),
        })
        .await
        .map_err(|e| format!("registering the customer: {e}"))?;
    let desk = Desk::new(
        Arc::new(FaultyStore::new(store.clone(), faults.clone())),
        Arc::new(FaultyMailer::new(mailer.clone(), faults.clone())),
        Arc::new(FaultyBlobs::new(
            Arc::new(MemoryBlobs::default()),
            faults.clone(),
        )),
        crate::shipped_rules(),
        clock.clone(),
        DeskConfig::new("https://soporte.test", b"fault-test-secret-0123456789abcd"),
    )
    .with_events(Arc::new(FaultyBus::new(bus.clone(), faults.clone())));

    let mut rng = seed ^ 0xA5A5_5A5A_C3C3_3C3C;
    let mut submissions: Vec<Submission> = Vec::new();
    // Faults injected while the outbox was delivering (the worker, or the sweep's re-drive):
    // each may send one message or event once more.
    let mut delivery_faults = 0;
    for _ in 0..STEPS {
        let roll = next(&mut rng);
        match roll % 10 {
            0..=2 => {
                let i = submissions.len();
                submissions.push(Submission {
                    kind: Kind::Form(Box::new(form(
                        i,
                        REPORTS[(roll / 10) as usize % REPORTS.len()],
                    ))),
                    folios: Vec::new(),
                });
                attempt(&desk, &mut submissions[i], ATTEMPTS, false).await?;
            }
            3 | 4 => {
                let i = submissions.len();
                // Half the mail answers an earlier new message that was taken in (it
                // threads to that message's ticket).
                let threads: Vec<usize> = submissions
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        matches!(
                            s.kind,
                            Kind::Mail {
                                replies_to: None,
                                ..
                            }
                        ) && !s.folios.is_empty()
                    })
                    .map(|(j, _)| j)
                    .collect();
                let replies_to = ((roll / 10) % 2 == 0 && !threads.is_empty())
                    .then(|| threads[(roll / 20) as usize % threads.len()]);
                let body = REPORTS[(roll / 40) as usize % REPORTS.len()];
                let raw = match replies_to {
                    Some(j) => mail(
                        i,
                        "Sigue fallando, adjunto foto.",
                        Some(&format!("<m{j}@bajio.com.mx>")),
                    ),
                    None => mail(i, body, None),
                };
                submissions.push(Submission {
                    kind: Kind::Mail {
                        raw,
                        replies_to: replies_to.map(|j| submissions[j].folios[0].clone()),
                    },
                    folios: Vec::new(),
                });
                attempt(&desk, &mut submissions[i], ATTEMPTS, false).await?;
            }
            5..=7 => {
                let folios: Vec<&String> = submissions
                    .iter()
                    .filter_map(|s| s.folios.first())
                    .collect();
                if let Some(folio) = folios.get((roll / 10) as usize % folios.len().max(1)) {
                    let folio = (*folio).clone();
                    // Refused steps and faults alike: the person sees the error and goes on.
                    let _ = desk
                        .act(&folio, &Actor::staff("luisa"), &action(roll / 100))
                        .await;
                }
            }
            8 => {
                let before = faults.injected().len();
                let _ = desk.deliver_outbox().await;
                delivery_faults += faults.injected().len() - before;
            }
            _ => {
                clock.advance(Duration::minutes(1 + (roll / 10 % 180) as i64));
                // The sweep delivers what has waited too long.
                let before = faults.injected().len();
                let _ = desk.sweep(desk.now()).await;
                delivery_faults += faults.injected().len() - before;
            }
        }
    }

    // The outage ends: every client tries once more, and the outbox and the sweep run until
    // nothing is due (leases and back-offs run out as the clock moves).
    let injected = faults.injected().len();
    faults.stop();
    for s in &mut submissions {
        attempt(&desk, s, 1, true).await?;
    }
    for _ in 0..16 {
        clock.advance(Duration::minutes(40));
        desk.sweep(desk.now())
            .await
            .map_err(|e| format!("sweep after the outage: {e}"))?;
        desk.deliver_outbox()
            .await
            .map_err(|e| format!("delivery after the outage: {e}"))?;
    }
    check(
        store.as_ref(),
        &submissions,
        &mailer,
        &bus,
        delivery_faults,
        injected,
    )
    .await
}

/// Up to `attempts` tries of one submission; `must` (after the outage): it must be taken.
async fn attempt(
    desk: &Desk,
    s: &mut Submission,
    attempts: usize,
    must: bool,
) -> Result<(), String> {
    for _ in 0..attempts {
        let folio = match &s.kind {
            Kind::Form(input) => desk
                .submit_form(input, &[], None, "")
                .await
                .map(|done| Some(done.ticket.folio.to_string())),
            Kind::Mail { raw, .. } => {
                desk.intake_email(raw, desk.now())
                    .await
                    .map(|outcome| match outcome.outcome {
                        EmailOutcomeKind::Created
                        | EmailOutcomeKind::Appended
                        | EmailOutcomeKind::Duplicate => outcome.folio.map(|f| f.to_string()),
                        EmailOutcomeKind::Ignored | EmailOutcomeKind::Quarantined => None,
                    })
            }
        };
        match folio {
            Ok(Some(folio)) => {
                s.folios.push(folio);
                return Ok(());
            }
            Ok(None) => return Err("a customer's mail was set aside".into()),
            Err(e) if e.is_retryable() && !must => continue,
            Err(e) => {
                return Err(format!(
                    "a submission failed with an error the client may not retry: {e}"
                ));
            }
        }
    }
    Ok(())
}

/// The ticket as its events say it is: the opening's facts, then every event applied.
fn refolded(stored: &Ticket, events: &[Event]) -> Ticket {
    let mut t = stored.clone();
    t.arrived_at = None;
    t.clock_start = None;
    t.severity_reason = String::new();
    t.severity_set_by = Actor::Rules;
    t.severity_confidence = None;
    t.stage = Stage::Received;
    t.acknowledged_at = None;
    t.deliveries = Vec::new();
    t.stage_before_wait = None;
    t.assessment = None;
    t.work_minutes = 0;
    t.satisfaction = None;
    t.closings = 0;
    t.root_cause_delivered_at = None;
    t.owner = None;
    t.version = 0;
    t.updated_at = t.received_at;
    for e in events {
        t.apply(e);
    }
    t
}

async fn check(
    store: &dyn Store,
    submissions: &[Submission],
    mailer: &MemoryMailer,
    bus: &MemoryBus,
    delivery_faults: usize,
    injected: usize,
) -> Result<CaseSummary, String> {
    let fail = |what: String| Err::<CaseSummary, String>(what);
    // Every submission: one folio, the same on every attempt; a reply joins its ticket.
    let mut opened = BTreeSet::new();
    for (i, s) in submissions.iter().enumerate() {
        let first = &s.folios[0];
        if s.folios.iter().any(|f| f != first) {
            return fail(format!(
                "submission {i} got different folios: {:?}",
                s.folios
            ));
        }
        match &s.kind {
            Kind::Mail {
                replies_to: Some(parent),
                ..
            } => {
                if first != parent {
                    return fail(format!("reply {i} went to {first}, not to {parent}"));
                }
            }
            _ => {
                if !opened.insert(first.clone()) {
                    return fail(format!("two submissions share the ticket {first}"));
                }
            }
        }
    }
    let mut tickets = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 500,
    };
    loop {
        let listed = store
            .list(&ListFilter::default(), &page)
            .await
            .map_err(|e| e.to_string())?;
        tickets.extend(listed.items);
        match listed.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let stored: BTreeSet<String> = tickets.iter().map(|t| t.folio.to_string()).collect();
    if stored != opened {
        return fail(format!(
            "the store holds tickets {stored:?}, the customers were given {opened:?}"
        ));
    }
    // Folios gapless: 1‥n of this year.
    let mut numbers: Vec<u64> = tickets
        .iter()
        .filter_map(|t| t.folio.as_str().rsplit('-').next()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    if numbers != (1..=numbers.len() as u64).collect::<Vec<_>>() {
        return fail(format!("folios are not 1‥n: {numbers:?}"));
    }

    let mut sends: HashMap<&str, usize> = HashMap::new();
    let sent = mailer.sent();
    for m in &sent {
        *sends.entry(m.outbox_id.as_str()).or_default() += 1;
    }
    let mut publishes: HashMap<&str, usize> = HashMap::new();
    let deliveries = bus.deliveries();
    for d in &deliveries {
        *publishes.entry(d.id.as_str()).or_default() += 1;
    }
    let duplicates: usize = sends
        .values()
        .chain(publishes.values())
        .map(|n| n - 1)
        .sum();
    if duplicates > delivery_faults {
        let mut repeated = Vec::new();
        for (id, n) in sends
            .iter()
            .chain(publishes.iter())
            .filter(|(_, n)| **n > 1)
        {
            let item = store.outbox_item(id).await.map_err(|e| e.to_string())?;
            repeated.push(format!(
                "{id} x{n}: {:?}",
                item.map(|i| (i.kind, i.attempts, i.last_error))
            ));
        }
        return fail(format!(
            "{duplicates} repeated sends or publishes, but only {delivery_faults} faults hit delivery: {repeated:?}"
        ));
    }
    let pending = store
        .pending_outbox_before(DateTime::<Utc>::MAX_UTC)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(item) = pending
        .iter()
        .find(|i| matches!(i.kind, MailKind::Ack | MailKind::Event))
    {
        return fail(format!(
            "{:?} {} is still pending after the outage",
            item.kind, item.id
        ));
    }

    for ticket in &tickets {
        let folio = ticket.folio.to_string();
        let events = store.events(&ticket.id).await.map_err(|e| e.to_string())?;
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        if seqs != (1..=events.len() as u64).collect::<Vec<_>>() {
            return fail(format!("{folio}: events numbered {seqs:?}"));
        }
        let mut folded = refolded(ticket, &events);
        folded.next_due = ticket.next_due;
        if &folded != ticket {
            return fail(format!(
                "{folio}: the projection is not its events folded\nstored: {ticket:?}\nfolded: {folded:?}"
            ));
        }
        if ticket.acknowledged_at.is_none() {
            let names: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
            let waiting: Vec<String> = pending
                .iter()
                .filter(|i| i.ticket_id == ticket.id)
                .map(|i| {
                    format!(
                        "{:?} not before {} ({:?})",
                        i.kind, i.not_before, i.last_error
                    )
                })
                .collect();
            return fail(format!(
                "{folio} was never acknowledged; its events {names:?}, its mail waiting {waiting:?}"
            ));
        }
        if !sent
            .iter()
            .any(|m| m.to == ticket.customer.email && m.subject.contains(&folio))
        {
            return fail(format!(
                "no mail naming {folio} went to {}",
                ticket.customer.email
            ));
        }
        let mut breached = BTreeSet::new();
        for e in &events {
            if let EventKind::SlaBreached { milestone, due } = &e.kind {
                if !breached.insert((milestone.clone(), *due)) {
                    return fail(format!(
                        "{folio}: {milestone} due {due} recorded breached twice"
                    ));
                }
            }
        }
        let mut published: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for d in &deliveries {
            let (kind, of) = match &d.event {
                DomainEvent::TicketCreated { folio, .. } => ("created", folio),
                DomainEvent::SlaBreached(e) => ("breached", &e.folio),
                DomainEvent::SlaAtRisk(e) => ("at_risk", &e.folio),
                DomainEvent::MailUndeliverable { folio, .. } => ("undeliverable", folio),
            };
            if of == &ticket.folio {
                published.entry(kind).or_default().insert(d.id.as_str());
            }
        }
        let created = published.get("created").map_or(0, BTreeSet::len);
        if created != 1 {
            return fail(format!(
                "{folio}: TicketCreated published as {created} events"
            ));
        }
        let breaches = published.get("breached").map_or(0, BTreeSet::len);
        if breaches != breached.len() {
            return fail(format!(
                "{folio}: {} breaches recorded, {breaches} published",
                breached.len()
            ));
        }
    }
    Ok(CaseSummary {
        tickets: tickets.len(),
        faults: injected,
        duplicate_sends: duplicates,
    })
}
