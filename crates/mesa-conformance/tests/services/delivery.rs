use chrono::Duration;
use mesa::desk::{FeedbackOutcome, MailFeedback};
use mesa::model::DeliveryStatus;
use mesa::outbox::{MailError, MailKind, OutboxStatus};
use mesa::ports::{DomainEvent, OutboxStore};

use crate::harness::*;

#[tokio::test]
async fn the_acknowledgement_goes_out_and_stops_its_clock() {
    let h = harness();
    let s = h.submit("El reporte no exporta.").await;
    let report = h.desk.deliver_outbox().await.unwrap();
    assert_eq!(report.sent, 1);
    let sent = h.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].auto_replied,
        "acknowledgements are marked Auto-Submitted"
    );
    assert!(sent[0].subject.contains(s.ticket.folio.as_str()));
    let t = h.ticket(s.ticket.folio.as_str()).await;
    assert_eq!(t.acknowledged_at, Some(h.desk.now()));
    let view = h.desk.view(t).await.unwrap();
    let ack = view
        .clocks
        .iter()
        .find(|c| c.name == "acknowledgement")
        .unwrap();
    assert!(!ack.running);
    assert_eq!(h.metrics.count_of("MailSent"), 1);
}

#[tokio::test]
async fn how_long_the_acknowledgement_took_is_measured_once() {
    let h = harness();
    let s = h.submit("El reporte no exporta.").await;
    h.advance(Duration::minutes(4));
    h.desk.deliver_outbox().await.unwrap();
    // A later mail on the same ticket is not another acknowledgement.
    h.act(
        s.ticket.folio.as_str(),
        mesa::lifecycle::Action::Reply {
            message: "Lo revisamos.".into(),
            channel: mesa::model::ResponseChannel::Email,
        },
    )
    .await;
    h.advance(Duration::minutes(1));
    h.desk.deliver_outbox().await.unwrap();
    let latencies: Vec<_> = h
        .metrics
        .counted()
        .into_iter()
        .filter(|m| m.name() == "AcknowledgementLatency")
        .collect();
    assert_eq!(
        latencies,
        vec![mesa::telemetry::Metric::AcknowledgementLatency { seconds: 240 }]
    );
    assert_eq!(latencies[0].unit(), "Seconds");
    assert_eq!(latencies[0].value(), 240.0);
}

#[tokio::test]
async fn the_acknowledgement_states_the_severity_and_the_response_deadline() {
    let h = harness();
    h.submit("El sistema está caído por completo, no opera ningún equipo biométrico.")
        .await;
    h.desk.deliver_outbox().await.unwrap();
    let text = &h.mailer.sent()[0].text;
    assert!(text.contains('1'), "{text}");
    assert!(text.contains("hora de la Ciudad de México"), "{text}");
}

#[tokio::test]
async fn mail_is_sent_once_even_when_delivery_runs_twice() {
    let h = harness();
    h.submit("Consulta sobre el reporte de asistencias").await;
    h.desk.deliver_outbox().await.unwrap();
    let again = h.desk.deliver_outbox().await.unwrap();
    assert_eq!(again.sent, 0);
    assert_eq!(h.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_temporary_failure_is_retried_after_a_back_off() {
    let h = harness();
    h.submit("Consulta sobre el reporte de asistencias").await;
    h.mailer.fail_next(MailError::temporary("relay down"));
    let first = h.desk.deliver_outbox().await.unwrap();
    assert_eq!(first.failed, 1);
    let item = &h.store.mail_items()[0];
    assert_eq!(item.status, OutboxStatus::Pending);
    assert!(item.last_error.as_deref().unwrap().contains("relay down"));
    assert_eq!(
        h.desk.deliver_outbox().await.unwrap().sent,
        0,
        "not before the back-off"
    );
    h.advance(Duration::minutes(2));
    assert_eq!(h.desk.deliver_outbox().await.unwrap().sent, 1);
}

#[tokio::test]
async fn a_permanent_failure_is_kept_as_skipped_with_why() {
    let h = harness();
    h.submit("Consulta sobre el reporte de asistencias").await;
    h.mailer
        .fail_next(MailError::permanent("mailbox does not exist"));
    let report = h.desk.deliver_outbox().await.unwrap();
    assert_eq!(report.skipped, 1);
    let item = &h.store.mail_items()[0];
    assert_eq!(item.status, OutboxStatus::Skipped);
    assert!(item.last_error.as_deref().unwrap().contains("mailbox"));
}

#[tokio::test]
async fn a_claimed_item_is_not_taken_by_a_second_worker_during_its_lease() {
    let h = harness();
    h.submit("Consulta sobre el reporte de asistencias").await;
    let now = h.desk.now();
    let first = h
        .store
        .claim_outbox(now, Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(
        first.len(),
        2,
        "the acknowledgement and the TicketCreated event"
    );
    assert_eq!(h.desk.deliver_outbox().await.unwrap().sent, 0);
    h.advance(Duration::seconds(61));
    assert_eq!(h.desk.deliver_outbox().await.unwrap().sent, 1);
}

#[tokio::test]
async fn a_staff_reply_is_sent_threaded_to_the_customers_message() {
    let h = harness();
    let out = h
        .email(&mail(
            "ana@bajio.com.mx",
            "<c1@bajio.com.mx>",
            "Lectores",
            "No registran.",
        ))
        .await;
    let folio = out.folio.unwrap().to_string();
    h.act(
        &folio,
        mesa::lifecycle::Action::Reply {
            message: "¿Cuántos lectores?".into(),
            channel: Default::default(),
        },
    )
    .await;
    h.desk.deliver_outbox().await.unwrap();
    let reply = h
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.text.contains("¿Cuántos lectores?"))
        .unwrap();
    assert_eq!(reply.in_reply_to.as_deref(), Some("<c1@bajio.com.mx>"));
    assert!(!reply.auto_replied);
}

fn feedback(id: &str, outbox: Option<String>, status: DeliveryStatus) -> MailFeedback {
    MailFeedback {
        provider_message_id: id.into(),
        outbox_id: outbox,
        status,
        recipients: vec!["ana@bajio.com.mx".into()],
        detail: "250 ok".into(),
        at: t(MONDAY_MORNING),
    }
}

#[tokio::test]
async fn a_delivery_report_is_recorded_on_the_ticket_once() {
    let h = harness();
    let s = h.submit("Consulta sobre el reporte de asistencias").await;
    let ack = h.outbox_of(&s.ticket, MailKind::Ack)[0].clone();
    let f = feedback("<ses-1@x>", Some(ack.id.clone()), DeliveryStatus::Delivered);
    let first = h.desk.record_mail_feedback(f.clone()).await.unwrap();
    assert_eq!(first, FeedbackOutcome::Recorded(s.ticket.folio.clone()));
    let again = h.desk.record_mail_feedback(f).await.unwrap();
    assert_eq!(
        again,
        FeedbackOutcome::AlreadyRecorded(s.ticket.folio.clone())
    );
    let t = h.ticket(s.ticket.folio.as_str()).await;
    assert_eq!(t.deliveries.len(), 1);
    assert_eq!(t.deliveries[0].mail_kind, Some(MailKind::Ack));
}

#[tokio::test]
async fn a_bounced_acknowledgement_is_announced_for_staff() {
    let h = harness();
    let s = h.submit("Consulta sobre el reporte de asistencias").await;
    let ack = h.outbox_of(&s.ticket, MailKind::Ack)[0].clone();
    h.desk
        .record_mail_feedback(feedback("<ses-2@x>", Some(ack.id), DeliveryStatus::Bounced))
        .await
        .unwrap();
    h.desk.deliver_outbox().await.unwrap();
    assert!(h.bus.published().iter().any(|e| matches!(
        e,
        DomainEvent::MailUndeliverable {
            status: DeliveryStatus::Bounced,
            ..
        }
    )));
    assert_eq!(h.metrics.count_of("MailFeedback"), 1);
}

#[tokio::test]
async fn a_report_about_mail_no_ticket_sent_is_counted_and_ignored() {
    let h = harness();
    let out = h
        .desk
        .record_mail_feedback(feedback("<other@x>", None, DeliveryStatus::Delivered))
        .await
        .unwrap();
    assert_eq!(out, FeedbackOutcome::UnknownMail);
    assert_eq!(h.metrics.count_of("MailFeedbackUnmatched"), 1);
}

/// A critical report's page is queued with the ticket whatever process wrote it; a worker
/// without an on-call pager leaves it for one that has one, and gives up (and says so)
/// only when nobody sent it for an hour.
#[tokio::test]
async fn a_page_waits_for_a_worker_with_a_pager_and_is_given_up_only_an_hour_later() {
    let h = harness();
    let s = h
        .submit("El sistema está caído por completo, no opera ningún equipo biométrico en ninguna planta.")
        .await;
    assert_eq!(s.ticket.severity.level(), 1);
    let page = |h: &Harness| {
        h.store
            .mail_items()
            .into_iter()
            .find(|o| o.kind == MailKind::Page)
            .expect("a page queued with the ticket")
    };
    let report = h.desk.deliver_outbox().await.unwrap();
    assert_eq!((report.sent, report.skipped), (1, 0), "the acknowledgement");
    assert_eq!(page(&h).status, OutboxStatus::Pending);
    assert!(h.mailer.sent().iter().all(|m| m.to == "ana@bajio.com.mx"));

    h.advance(Duration::minutes(61));
    let report = h.desk.deliver_outbox().await.unwrap();
    assert_eq!(report.skipped, 1);
    assert_eq!(page(&h).status, OutboxStatus::Skipped);
    assert_eq!(h.metrics.count_of("PageNotSent"), 1);
}

/// After a burst bigger than one delivery pass, the pass says more is due (the worker goes
/// again at once instead of pausing between passes, which had capped delivery far below
/// intake), and the next pass sends the rest: every customer gets their acknowledgement.
#[tokio::test]
async fn a_burst_bigger_than_one_pass_is_sent_in_back_to_back_passes() {
    let h = harness();
    const TICKETS: usize = 1100;
    for i in 0..TICKETS {
        let mut f = form("El reporte de asistencias no exporta a Excel.");
        f.email = format!("contacto{i}@bajio.com.mx");
        h.desk.submit_form(&f, &[], None, "").await.expect("taken");
    }
    let first = h.desk.deliver_outbox().await.unwrap();
    assert!(first.more_due, "{first:?}");
    assert!(first.sent < TICKETS);
    let mut passes = vec![first];
    while passes.last().is_some_and(|p| p.more_due) {
        assert!(passes.len() < 10, "delivery never finished");
        passes.push(h.desk.deliver_outbox().await.unwrap());
    }
    assert_eq!(passes.iter().map(|p| p.sent).sum::<usize>(), TICKETS);
    let acknowledged: std::collections::BTreeSet<String> =
        h.mailer.sent().into_iter().map(|m| m.to).collect();
    assert_eq!(
        acknowledged.len(),
        TICKETS,
        "one acknowledgement to each customer"
    );
}
