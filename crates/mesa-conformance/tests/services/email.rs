use mesa::desk::{EmailOutcomeKind, InboundMeta};
use mesa::model::{EventKind, Stage};
use mesa::outbox::MailKind;
use mesa::ports::QuarantineStore;

use crate::harness::*;

const FROM: &str = "ana@bajio.com.mx";

#[tokio::test]
async fn an_email_opens_a_ticket_and_asks_for_the_missing_data() {
    let h = harness();
    let out = h
        .email(&mail(
            FROM,
            "<m1@bajio.com.mx>",
            "Lectores",
            "No registran.",
        ))
        .await;
    assert_eq!(out.outcome, EmailOutcomeKind::Created);
    let t = h.ticket(out.folio.unwrap().as_str()).await;
    assert!(t.missing_fields.iter().any(|f| f.contains("empresa")));
    assert!(
        t.missing_fields
            .iter()
            .any(|f| f.contains("Tipo de soporte"))
    );
    assert_eq!(h.outbox_of(&t, MailKind::Ack).len(), 1);
}

#[tokio::test]
async fn the_same_message_twice_is_one_ticket() {
    let h = harness();
    let raw = mail(FROM, "<m1@bajio.com.mx>", "Lectores", "No registran.");
    h.email(&raw).await;
    let again = h.email(&raw).await;
    assert_eq!(again.outcome, EmailOutcomeKind::Duplicate);
    assert_eq!(h.store.outbox_items().len(), 1);
}

#[tokio::test]
async fn a_resent_message_with_the_same_message_id_is_a_duplicate() {
    let h = harness();
    h.email(&mail(
        FROM,
        "<m1@bajio.com.mx>",
        "Lectores",
        "No registran.",
    ))
    .await;
    let again = h
        .email(&mail(
            FROM,
            "<m1@bajio.com.mx>",
            "Lectores",
            "No registran (otra copia).",
        ))
        .await;
    assert_eq!(again.outcome, EmailOutcomeKind::Duplicate);
}

#[tokio::test]
async fn a_receiver_redelivery_is_a_duplicate() {
    let h = harness();
    let meta = InboundMeta {
        receiver_id: Some("ses-1".into()),
        quarantine: None,
    };
    let now = h.desk.now();
    h.desk
        .intake_email_with(&mail(FROM, "<a@x.mx>", "A", "uno"), now, &meta)
        .await
        .unwrap();
    let again = h
        .desk
        .intake_email_with(&mail(FROM, "<b@x.mx>", "B", "otro cuerpo"), now, &meta)
        .await
        .unwrap();
    assert_eq!(again.outcome, EmailOutcomeKind::Duplicate);
}

#[tokio::test]
async fn an_auto_reply_makes_no_ticket_and_no_acknowledgement() {
    let h = harness();
    let raw = format!(
        "From: {FROM}\r\nTo: zendesk@ingressio.com\r\nSubject: Fuera de la oficina\r\n\
         Auto-Submitted: auto-replied\r\nMessage-ID: <auto@x.mx>\r\n\r\nRegreso el lunes.\r\n"
    );
    let out = h.email(raw.as_bytes()).await;
    assert_eq!(out.outcome, EmailOutcomeKind::Ignored);
    assert!(h.store.outbox_items().is_empty());
}

#[tokio::test]
async fn a_receiver_verdict_quarantines_and_keeps_the_raw_message() {
    let h = harness();
    let meta = InboundMeta {
        receiver_id: None,
        quarantine: Some("virus verdict FAIL".into()),
    };
    let now = h.desk.now();
    let out = h
        .desk
        .intake_email_with(&mail(FROM, "<v@x.mx>", "Factura", "adjunto"), now, &meta)
        .await
        .unwrap();
    assert_eq!(out.outcome, EmailOutcomeKind::Quarantined);
    let q = h.store.list_quarantine().await.unwrap();
    assert_eq!(q.len(), 1);
    assert!(h.blobs.keys().contains(&q[0].raw_key), "raw message kept");
    assert_eq!(h.metrics.count_of("MailQuarantined"), 1);
}

#[tokio::test]
async fn a_message_without_a_sender_is_quarantined_not_lost() {
    let h = harness();
    let out = h.email(b"Subject: hola\r\n\r\nsin remitente\r\n").await;
    assert_eq!(out.outcome, EmailOutcomeKind::Quarantined);
    assert_eq!(h.blobs.keys().len(), 1);
}

#[tokio::test]
async fn a_reply_to_our_acknowledgement_joins_its_ticket() {
    let h = harness();
    let out = h
        .email(&mail(
            FROM,
            "<m1@bajio.com.mx>",
            "Lectores",
            "No registran.",
        ))
        .await;
    let t = h.ticket(out.folio.as_ref().unwrap().as_str()).await;
    let ack = &h.outbox_of(&t, MailKind::Ack)[0];
    let reply = h
        .email(&reply_to(
            FROM,
            "<m2@bajio.com.mx>",
            &ack.message_id,
            "Re: Lectores",
            "Adjunto foto.",
        ))
        .await;
    assert_eq!(reply.outcome, EmailOutcomeKind::Appended);
    assert_eq!(reply.folio, out.folio);
    let events = h.events(&t).await;
    assert!(
        matches!(&events.last().unwrap().kind, EventKind::CustomerReplied { text, .. } if text.contains("foto"))
    );
}

#[tokio::test]
async fn a_reply_naming_the_folio_in_the_subject_joins_its_ticket() {
    let h = harness();
    let s = h.submit("No abre el portal.").await;
    let out = h
        .email(&mail(
            FROM,
            "<m9@bajio.com.mx>",
            &format!("Re: [{}] No abre", s.ticket.folio),
            "Ya probé otro navegador.",
        ))
        .await;
    assert_eq!(out.outcome, EmailOutcomeKind::Appended);
    assert_eq!(out.folio, Some(s.ticket.folio));
}

#[tokio::test]
async fn a_stranger_quoting_a_folio_gets_a_ticket_of_their_own() {
    let h = harness();
    let s = h.submit("No abre el portal.").await;
    let out = h
        .email(&mail(
            "pedro@gmail.com",
            "<p1@gmail.com>",
            &format!("Re: [{}] No abre", s.ticket.folio),
            "A mí tampoco.",
        ))
        .await;
    assert_eq!(out.outcome, EmailOutcomeKind::Created);
    assert_ne!(out.folio, Some(s.ticket.folio));
}

#[tokio::test]
async fn a_reply_to_a_ticket_waiting_on_the_customer_resumes_it() {
    let h = harness();
    let s = h.submit("No abre el portal.").await;
    let folio = s.ticket.folio.to_string();
    h.act(
        &folio,
        mesa::lifecycle::Action::Wait {
            note: "Envíe una captura.".into(),
        },
    )
    .await;
    h.email(&mail(
        FROM,
        "<m3@bajio.com.mx>",
        &format!("Re: [{folio}]"),
        "Aquí va.",
    ))
    .await;
    let t = h.ticket(&folio).await;
    assert_ne!(t.stage, Stage::WaitingOnCustomer);
}

#[tokio::test]
async fn a_reply_to_a_closed_ticket_reopens_it() {
    let h = harness();
    let s = h.submit("No abre el portal.").await;
    let folio = s.ticket.folio.to_string();
    h.answered(&folio).await;
    h.act(
        &folio,
        mesa::lifecycle::Action::Close {
            note: String::new(),
        },
    )
    .await;
    h.email(&mail(
        FROM,
        "<m4@bajio.com.mx>",
        &format!("Re: [{folio}]"),
        "Volvió a fallar.",
    ))
    .await;
    assert_eq!(h.ticket(&folio).await.stage, Stage::Reopened);
}

#[tokio::test]
async fn a_registered_senders_data_fills_the_ticket() {
    let h = harness();
    h.register(FROM, "").await;
    let out = h
        .email(&mail(
            FROM,
            "<m5@bajio.com.mx>",
            "Consulta",
            "¿Cómo exporto?",
        ))
        .await;
    let t = h.ticket(out.folio.unwrap().as_str()).await;
    assert!(t.verified);
    assert_eq!(t.customer.company, "Comercializadora del Bajío");
    assert!(!t.missing_fields.iter().any(|f| f.contains("empresa")));
}

#[tokio::test]
async fn acknowledgements_to_one_address_are_capped_each_hour() {
    // The loop breaker: a robot that answers every acknowledgement cannot make mesa answer
    // it forever. (Issue 10 keeps genuine customers acknowledged past the cap.)
    let h = harness();
    for i in 0..8 {
        h.email(&mail(
            FROM,
            &format!("<loop{i}@bajio.com.mx>"),
            &format!("Caso {i}"),
            "texto",
        ))
        .await;
    }
    let acks = h
        .store
        .outbox_items()
        .into_iter()
        .filter(|o| o.kind == MailKind::Ack)
        .count();
    assert_eq!(acks, 5);
}
