use chrono::Duration;
use mesa::model::EventKind;
use mesa::ports::{DomainEvent, HeartbeatStore, OutboxStore};

use crate::harness::*;

const OUTAGE: &str = "El sistema está caído por completo, no opera ningún equipo biométrico.";

fn count(events: &[mesa::model::Event], breach: bool, milestone: &str) -> usize {
    events
        .iter()
        .filter(|e| match &e.kind {
            EventKind::SlaBreached { milestone: m, .. } => breach && m == milestone,
            EventKind::SlaWarning { milestone: m, .. } => !breach && m == milestone,
            _ => false,
        })
        .count()
}

#[tokio::test]
async fn an_unsent_acknowledgement_is_breached_after_fifteen_minutes() {
    let h = harness();
    let s = h.submit("Consulta sobre el reporte de asistencias").await;
    h.mailer
        .fail_next(mesa::outbox::MailError::permanent("no relay"));
    h.desk.deliver_outbox().await.unwrap();
    let at = h.desk.now() + Duration::minutes(16);
    let report = h.desk.sweep(at).await.unwrap();
    assert!(report.breaches >= 1);
    let events = h.events(&s.ticket).await;
    assert_eq!(count(&events, true, "acknowledgement"), 1);
}

#[tokio::test]
async fn a_response_clock_is_warned_at_three_quarters_and_breached_after_its_due() {
    let h = harness();
    let s = h.submit(OUTAGE).await;
    h.desk.deliver_outbox().await.unwrap();
    // Severity 1: 6 business hours from Tuesday 10:00 → due 16:00; 75 % at 14:30.
    let warn = h.desk.sweep(t("2026-11-10T20:31:00Z")).await.unwrap();
    assert!(warn.warnings >= 1, "{warn:?}");
    let breach = h.desk.sweep(t("2026-11-10T22:01:00Z")).await.unwrap();
    assert!(breach.breaches >= 1, "{breach:?}");
    let events = h.events(&s.ticket).await;
    assert_eq!(count(&events, false, "response"), 1);
    assert_eq!(count(&events, true, "response"), 1);
    assert!(h.metrics.count_of("SlaBreached") >= 1);
    // Announced through the outbox (the sweep runs it when due mail is waiting; here the
    // worker's own pass).
    h.desk.deliver_outbox().await.unwrap();
    let published = h.bus.published();
    let breaches: Vec<_> = published
        .iter()
        .filter_map(|e| match e {
            DomainEvent::SlaBreached(sla) => Some(sla),
            _ => None,
        })
        .collect();
    assert_eq!(breaches.len(), 1, "{published:?}");
    assert_eq!(breaches[0].milestone, "response");
    assert_eq!(breaches[0].folio, s.ticket.folio);
    assert_eq!(breaches[0].severity.level(), 1);
    assert_eq!(breaches[0].at, t("2026-11-10T22:01:00Z"));
}

#[tokio::test]
async fn a_breach_recorded_while_the_bus_is_down_is_announced_when_it_is_back() {
    let h = harness();
    let s = h.submit(OUTAGE).await;
    h.desk.deliver_outbox().await.unwrap();
    h.bus.set_failing(true);
    let late = t("2026-11-10T22:01:00Z");
    h.clock.set(late);
    assert!(h.desk.sweep(late).await.unwrap().breaches >= 1);
    h.desk.deliver_outbox().await.unwrap();
    assert!(
        !h.bus
            .published()
            .iter()
            .any(|e| matches!(e, DomainEvent::SlaBreached(_)))
    );
    // The bus is back; the next sweeps re-drive what is still pending.
    h.bus.set_failing(false);
    for minute in 1..=10 {
        let at = late + Duration::minutes(minute);
        h.clock.set(at);
        h.desk.sweep(at).await.unwrap();
    }
    let breaches = h
        .bus
        .published()
        .into_iter()
        .filter(|e| matches!(e, DomainEvent::SlaBreached(sla) if sla.folio == s.ticket.folio))
        .count();
    assert!(breaches >= 1, "the breach reached the bus");
    let items = h.event_items(&s.ticket);
    assert!(
        items
            .iter()
            .all(|i| i.status == mesa::outbox::OutboxStatus::Sent),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_second_sweep_records_nothing_twice() {
    let h = harness();
    let s = h.submit(OUTAGE).await;
    h.desk.deliver_outbox().await.unwrap();
    let late = t("2026-11-11T22:00:00Z");
    h.desk.sweep(late).await.unwrap();
    let before = h.events(&s.ticket).await.len();
    let again = h.desk.sweep(late + Duration::minutes(1)).await.unwrap();
    assert_eq!((again.warnings, again.breaches), (0, 0));
    assert_eq!(h.events(&s.ticket).await.len(), before);
}

#[tokio::test]
async fn a_ticket_not_yet_due_is_not_touched() {
    let h = harness();
    let s = h.submit("¿Cómo exporto a Excel?").await;
    h.desk.deliver_outbox().await.unwrap();
    let version = h.ticket(s.ticket.folio.as_str()).await.version;
    let report = h
        .desk
        .sweep(h.desk.now() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(report.examined, 0);
    assert_eq!(h.ticket(s.ticket.folio.as_str()).await.version, version);
}

#[tokio::test]
async fn a_clock_paused_while_waiting_on_the_customer_is_not_breached() {
    let h = harness();
    let s = h.submit(OUTAGE).await;
    let folio = s.ticket.folio.to_string();
    h.desk.deliver_outbox().await.unwrap();
    h.act(
        &folio,
        mesa::lifecycle::Action::Reply {
            message: "Revisamos.".into(),
            channel: Default::default(),
        },
    )
    .await;
    h.act(
        &folio,
        mesa::lifecycle::Action::Wait {
            note: "Necesitamos acceso remoto.".into(),
        },
    )
    .await;
    // Two days later, the recovery clock (1 business day) would be long due if it ran.
    h.desk.sweep(t("2026-11-12T22:00:00Z")).await.unwrap();
    let events = h.events(&s.ticket).await;
    assert_eq!(count(&events, true, "recovery"), 0);
}

/// Staff who ask the customer for what they need ("Esperar al cliente") have written to the
/// customer: that is the contract's response, and the response clock is met, not breached
/// while the customer takes days to answer.
#[tokio::test]
async fn a_question_to_the_customer_is_the_response() {
    let h = harness();
    let s = h
        .submit("Quiero saber cómo sacar un reporte de asistencias por departamento.")
        .await;
    let folio = s.ticket.folio.to_string();
    h.desk.deliver_outbox().await.unwrap();
    h.act(
        &folio,
        mesa::lifecycle::Action::Wait {
            note: "¿De qué departamento y qué periodo necesita el reporte?".into(),
        },
    )
    .await;
    // A week later, well past any severity's response time.
    h.desk.sweep(t("2026-11-17T22:00:00Z")).await.unwrap();
    let events = h.events(&s.ticket).await;
    assert_eq!(count(&events, true, "response"), 0, "{events:#?}");
    let view = h.desk.view(h.ticket(&folio).await).await.unwrap();
    let response = view
        .clocks
        .iter()
        .find(|c| c.name == "response")
        .expect("a response clock");
    assert_eq!(response.state, mesa::sla::ClockState::Met, "{response:?}");
}

#[tokio::test]
async fn the_sweep_leaves_a_heartbeat() {
    let h = harness();
    let at = h.desk.now();
    h.desk.sweep(at).await.unwrap();
    assert_eq!(h.store.last_heartbeat("sweep").await.unwrap(), Some(at));
    assert_eq!(h.metrics.count_of("SweepHeartbeat"), 1);
}

#[tokio::test]
async fn mail_held_on_purpose_is_not_re_driven_every_minute() {
    let h = harness();
    let s = h.submit("Consulta sobre el reporte de asistencias").await;
    h.desk.deliver_outbox().await.unwrap();
    // A warning held until tomorrow's opening, written an hour ago.
    let now = h.desk.now();
    let mut held = mesa::outbox::OutboxItem::new(
        mesa::outbox::OutboxItem::new_id(),
        s.ticket.id.clone(),
        mesa::outbox::MailKind::SlaWarning,
        "luisa@ingressio.com",
        "mesa.test",
        None,
        format!("response {}", (now + Duration::hours(20)).to_rfc3339()),
        now - Duration::hours(1),
    );
    held.not_before = now + Duration::hours(15);
    h.store.enqueue_outbox(&[held]).await.unwrap();
    let report = h.desk.sweep(now).await.unwrap();
    assert_eq!(report.redriven, 0, "{report:?}");
}

#[tokio::test]
async fn mail_left_unsent_is_re_driven_by_the_sweep() {
    let h = harness();
    h.submit("Consulta sobre el reporte de asistencias").await;
    let report = h
        .desk
        .sweep(h.desk.now() + Duration::minutes(3))
        .await
        .unwrap();
    assert_eq!(
        report.redriven, 2,
        "the acknowledgement and the TicketCreated event"
    );
    assert_eq!(h.mailer.sent().len(), 1);
    assert_eq!(h.bus.published().len(), 1);
}

#[tokio::test]
async fn a_sweep_racing_a_staff_action_keeps_both() {
    let h = harness();
    let s = h.submit(OUTAGE).await;
    h.desk.deliver_outbox().await.unwrap();
    h.store.inject_conflicts(2);
    h.desk.sweep(t("2026-11-10T22:01:00Z")).await.unwrap();
    let events = h.events(&s.ticket).await;
    assert_eq!(count(&events, true, "response"), 1);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gapless event log"
    );
}
