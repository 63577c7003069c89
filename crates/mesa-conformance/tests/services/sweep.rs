use chrono::Duration;
use mesa::model::EventKind;
use mesa::ports::{DomainEvent, HeartbeatStore};

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
    let published = h.bus.published();
    assert!(
        published
            .iter()
            .any(|e| matches!(e, DomainEvent::SlaBreached(sla) if sla.milestone == "response"))
    );
    assert!(h.metrics.count_of("SlaBreached") >= 1);
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

#[tokio::test]
async fn the_sweep_leaves_a_heartbeat() {
    let h = harness();
    let at = h.desk.now();
    h.desk.sweep(at).await.unwrap();
    assert_eq!(h.store.last_heartbeat("sweep").await.unwrap(), Some(at));
    assert_eq!(h.metrics.count_of("SweepHeartbeat"), 1);
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
    assert_eq!(report.redriven, 1);
    assert_eq!(h.mailer.sent().len(), 1);
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
