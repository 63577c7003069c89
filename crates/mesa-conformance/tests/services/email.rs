use chrono::Duration;
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
    assert_eq!(h.store.mail_items().len(), 1);
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
    assert!(h.store.mail_items().is_empty());
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

/// Customers retype the folio the acknowledgement gave them, without its brackets, in a new
/// mail about the same problem: it is the same ticket, not a new one with a fresh clock.
#[tokio::test]
async fn a_mail_retyping_the_folio_without_brackets_joins_its_ticket() {
    let h = harness();
    let s = h.submit("No abre el portal.").await;
    for (n, subject) in [
        format!("Re: Folio {}", s.ticket.folio),
        format!("seguimiento {}", s.ticket.folio.as_str().to_lowercase()),
    ]
    .iter()
    .enumerate()
    {
        let out = h
            .email(&mail(
                FROM,
                &format!("<retyped{n}@bajio.com.mx>"),
                subject,
                "Ya lo encontré, pueden cerrar.",
            ))
            .await;
        assert_eq!(out.outcome, EmailOutcomeKind::Appended, "{subject}");
        assert_eq!(out.folio.as_ref(), Some(&s.ticket.folio), "{subject}");
    }
    // Once it is closed, a new problem that cites it is a new ticket; a reply still joins it.
    let folio = s.ticket.folio.to_string();
    h.closed(&folio).await;
    let out = h
        .email(&mail(
            FROM,
            "<cited@bajio.com.mx>",
            &format!("Otro problema, distinto al {folio}"),
            "Ahora no sincroniza el lector 4.",
        ))
        .await;
    assert_eq!(out.outcome, EmailOutcomeKind::Created);
    assert_ne!(out.folio.as_ref(), Some(&s.ticket.folio));
    let out = h
        .email(&mail(
            FROM,
            "<again@bajio.com.mx>",
            &format!("RE: Folio {folio}"),
            "Volvió a pasar.",
        ))
        .await;
    assert_eq!(out.outcome, EmailOutcomeKind::Appended);
    assert_eq!(out.folio.as_ref(), Some(&s.ticket.folio));
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
    h.closed(&folio).await;
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
async fn seven_tickets_in_an_hour_are_all_acknowledged_within_fifteen_minutes() {
    let h = harness();
    let mut folios = Vec::new();
    for i in 0..7 {
        let out = h
            .email(&mail(
                FROM,
                &format!("<c{i}@bajio.com.mx>"),
                &format!("Caso {i}"),
                "El lector no registra.",
            ))
            .await;
        folios.push(out.folio.unwrap());
        h.advance(chrono::Duration::minutes(1));
    }
    assert_eq!(
        h.desk.deliver_outbox().await.unwrap().sent,
        5,
        "five at once"
    );
    // The end of the 15-minute period (16:15): the other two, together.
    h.clock.set(t("2026-11-10T16:15:00Z"));
    assert_eq!(h.desk.deliver_outbox().await.unwrap().sent, 2);
    let mails = h.mailer.sent();
    assert_eq!(mails.len(), 6, "five acknowledgements and one digest");
    let digest = mails.last().unwrap();
    assert!(digest.auto_replied);
    assert!(
        digest.subject.contains(folios[5].as_str()) && digest.subject.contains(folios[6].as_str())
    );
    for folio in &folios {
        assert!(
            h.ticket(folio.as_str()).await.acknowledged_at.is_some(),
            "{folio}"
        );
    }
    let report = h.desk.sweep(t("2026-11-10T16:40:00Z")).await.unwrap();
    assert_eq!(report.breaches, 0);
}

#[tokio::test]
async fn an_autoresponder_answering_every_mail_cannot_make_mesa_write_without_end() {
    let h = harness();
    // A robot that hides what it is and writes a new message every minute for two hours.
    for i in 0..120 {
        h.email(&mail(
            "alertas@fabrica.mx",
            &format!("<r{i}@fabrica.mx>"),
            &format!("Alerta {i}"),
            "Evento del sistema.",
        ))
        .await;
        h.desk.deliver_outbox().await.unwrap();
        h.advance(chrono::Duration::minutes(1));
    }
    let sent = h.mailer.sent().len();
    // Five the first hour, then one digest every 15 minutes, until the daily limit.
    assert!(sent <= 5 + 8, "{sent} messages to a robot in two hours");
    assert!(h.metrics.count_of("AckLimitReached") > 0, "staff are told");
    let tickets = h
        .store
        .mail_items()
        .iter()
        .map(|o| o.ticket_id.clone())
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert!(tickets <= 60, "acknowledgements stop at the daily limit");
}

#[tokio::test]
async fn mail_from_robots_is_kept_and_listed_for_staff() {
    let h = harness();
    let raw = format!(
        "From: {FROM}\r\nTo: zendesk@ingressio.com\r\nSubject: Respuesta automática: Lectores\r\n\
         Message-ID: <ooo@x.mx>\r\n\r\nEstoy fuera de la oficina.\r\n"
    );
    let out = h.email(raw.as_bytes()).await;
    assert_eq!(out.outcome, EmailOutcomeKind::Ignored);
    let listed = h.store.list_quarantine().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].ignored);
    assert!(h.blobs.keys().contains(&listed[0].raw_key));
}

#[tokio::test]
async fn a_reply_to_an_answered_ticket_reopens_the_follow_up_and_its_clock() {
    let h = harness();
    let s = h
        .submit("Algunos lectores de la planta no registran.")
        .await;
    let folio = s.ticket.folio.to_string();
    h.answered(&folio).await;
    let view = h.desk.view(h.ticket(&folio).await).await.unwrap();
    let resolution = |v: &mesa::desk::TicketView| {
        v.clocks
            .iter()
            .find(|c| c.name == "resolution")
            .map(|c| c.running)
            .unwrap()
    };
    assert!(
        !resolution(&view),
        "the answer stopped the resolution clock"
    );
    h.advance(chrono::Duration::hours(1));
    let out = h
        .email(&mail(
            FROM,
            "<m6@bajio.com.mx>",
            &format!("Re: [{folio}] Solución"),
            "Sigue igual, no registran.",
        ))
        .await;
    assert_eq!(out.outcome, EmailOutcomeKind::Appended);
    let t = h.ticket(&folio).await;
    assert_eq!(t.stage, Stage::Reopened);
    assert!(
        resolution(&h.desk.view(t).await.unwrap()),
        "the resolution clock runs again"
    );
    let queue = h.desk.queue().await.unwrap();
    assert!(queue.iter().any(|v| v.ticket.folio.as_str() == folio));
}

#[tokio::test]
async fn the_customers_reply_completes_the_data_the_acknowledgement_asked_for() {
    let h = harness();
    let out = h
        .email(&mail(
            FROM,
            "<d1@bajio.com.mx>",
            "Lectores",
            "Algunos lectores no registran.",
        ))
        .await;
    let folio = out.folio.unwrap().to_string();
    let before = h.ticket(&folio).await;
    assert!(
        before.missing_fields.len() >= 3,
        "{:?}",
        before.missing_fields
    );
    h.email(&mail(
        FROM,
        "<d2@bajio.com.mx>",
        &format!("Re: [{folio}] Lectores"),
        "Claro, aquí están:\nEmpresa: Comercializadora del Bajío\nTeléfono: 442 123 4567\nTipo de soporte: Falla de lectores biométricos\n\n> Para atenderle mejor, responda…\n> Empresa: (no indicada)",
    ))
    .await;
    let after = h.ticket(&folio).await;
    assert_eq!(after.customer.company, "Comercializadora del Bajío");
    assert_eq!(after.customer.phone, "442 123 4567");
    assert_eq!(after.support_type, "falla_lectores");
    assert!(
        after.missing_fields.is_empty(),
        "{:?}",
        after.missing_fields
    );
}

/// Outlook, the usual mail program of Mexican companies, quotes the acknowledgement below
/// "-----Mensaje original-----" without `>`: its "Empresa: (no indicada)" must not become the
/// company, nor hide what the customer wrote above it.
#[tokio::test]
async fn an_outlook_reply_quoting_the_acknowledgement_unmarked_fills_only_what_the_customer_wrote()
{
    let h = harness();
    let out = h
        .email(&mail(
            "rh@hotelesdelmar.mx",
            "<o1@hotelesdelmar.mx>",
            "Relojes",
            "Algunos lectores no registran.",
        ))
        .await;
    let folio = out.folio.unwrap().to_string();
    h.desk.deliver_outbox().await.unwrap();
    let ack = h
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.subject.contains(&folio))
        .expect("the acknowledgement");
    assert!(ack.text.contains("(no indicada)"), "{}", ack.text);
    let reply = format!(
        "Empresa: Hoteles del Mar Cancún\nTeléfono: 998 123 4567\nTipo de soporte: Falla de lectores\n\n\
         -----Mensaje original-----\nDe: Soporte <soporte@ingressio.com>\n\
         Enviado el: viernes, 27 de noviembre de 2026 20:48\nPara: rh@hotelesdelmar.mx\n\
         Asunto: {}\n\n{}\nMesa de ayuda\nTeléfono: 55 5000 1234",
        ack.subject, ack.text
    );
    h.email(&mail(
        "rh@hotelesdelmar.mx",
        "<o2@hotelesdelmar.mx>",
        &format!("RE: {}", ack.subject),
        &reply,
    ))
    .await;
    let after = h.ticket(&folio).await;
    assert_eq!(after.customer.company, "Hoteles del Mar Cancún");
    assert_eq!(after.customer.phone, "998 123 4567");
    assert_eq!(after.support_type, "falla_lectores");

    // A second reply that only quotes the acknowledgement and its signature changes nothing.
    let before = h.ticket(&folio).await;
    h.email(&mail(
        "rh@hotelesdelmar.mx",
        "<o3@hotelesdelmar.mx>",
        &format!("RE: {}", ack.subject),
        &format!(
            "Gracias, quedamos atentos.\n\n-----Mensaje original-----\n{}\nTeléfono: 55 5000 1234",
            ack.text
        ),
    ))
    .await;
    let after = h.ticket(&folio).await;
    assert_eq!(after.customer, before.customer);
    assert_eq!(after.support_type, before.support_type);
}

/// A customer pastes a long log into the mail; the line that matters is the last. The
/// ticket's text says it goes on, and the whole text is on the ticket as a file.
#[tokio::test]
async fn a_mail_longer_than_a_ticket_keeps_its_whole_text_as_a_file_and_says_so() {
    let h = harness();
    let log: String = (0..1500)
        .map(|n| {
            format!(
                "2026-11-27 08:{:02}:{:02} lector 3: reintento de sincronización\n",
                n / 60 % 60,
                n % 60
            )
        })
        .collect();
    let body = format!(
        "Les mando el log del lector 3:\n{log}FIN DEL LOG - por favor revisen la última línea."
    );
    assert!(body.chars().count() > mesa::intake::MAX_DESCRIPTION_CHARS);
    let out = h
        .email(&mail(FROM, "<log@bajio.com.mx>", "Log del lector 3", &body))
        .await;
    let ticket = h.ticket(out.folio.unwrap().as_str()).await;
    assert!(ticket.description.chars().count() <= mesa::intake::MAX_DESCRIPTION_CHARS);
    assert!(
        ticket
            .description
            .starts_with("Les mando el log del lector 3:")
    );
    assert!(
        ticket
            .description
            .ends_with("está anexo como «correo-completo.txt».]"),
        "{}",
        &ticket.description[ticket.description.len() - 200..]
    );
    let file = ticket
        .attachments
        .iter()
        .find(|a| a.filename == "correo-completo.txt")
        .expect("the whole text as a file");
    let bytes = mesa::ports::BlobStore::get(h.blobs.as_ref(), &file.key)
        .await
        .unwrap()
        .expect("stored");
    let whole = String::from_utf8(bytes).unwrap();
    assert!(whole.ends_with("FIN DEL LOG - por favor revisen la última línea."));
    assert_eq!(whole.chars().count(), body.chars().count());

    // A pasted XML log, whose first bytes look like another kind of file, is kept too.
    let xml = format!("<?xml version=\"1.0\"?>\n<registro>\n{log}</registro>");
    let out = h
        .email(&mail(FROM, "<xml@bajio.com.mx>", "Log XML", &xml))
        .await;
    let ticket = h.ticket(out.folio.unwrap().as_str()).await;
    assert!(
        ticket
            .attachments
            .iter()
            .any(|a| a.filename == "correo-completo.txt" && a.content_type == "text/plain"),
        "{:?}",
        ticket.attachments
    );
}

/// A co-worker answers on the ticket with their own signature: their phone fills what the
/// ticket lacked, but never replaces the contact's own.
#[tokio::test]
async fn a_co_workers_reply_fills_gaps_but_does_not_replace_the_contacts_data() {
    let h = harness();
    let s = h.submit("Algunos lectores no registran.").await;
    let folio = s.ticket.folio.to_string();
    let before = h.ticket(&folio).await;
    assert_eq!(before.customer.phone, "442 123 4567");
    let out = h
        .email(&mail(
        "rh@bajio.com.mx",
        "<cw1@bajio.com.mx>",
        &format!("Re: [{folio}] Lectores"),
        "Les comparto que ya reiniciamos el lector.\n\nNombre: Jorge Ramírez\nRecursos Humanos\nTeléfono: 442 999 0000",
    ))
    .await;
    assert_eq!(out.outcome, EmailOutcomeKind::Appended, "{out:?}");
    let after = h.ticket(&folio).await;
    assert_eq!(
        after.customer.phone, "442 123 4567",
        "the contact's phone stays"
    );
    assert_eq!(after.customer.contact_name, before.customer.contact_name);
    // The contact's own reply does change it.
    h.email(&mail(
        FROM,
        "<cw2@bajio.com.mx>",
        &format!("Re: [{folio}] Lectores"),
        "Cambié de número.\nTeléfono: 442 555 1212",
    ))
    .await;
    assert_eq!(h.ticket(&folio).await.customer.phone, "442 555 1212");
}

/// A message with its own Date header (the harness's `mail` is dated 09:58 Mexico City).
fn mail_dated(message_id: &str, date: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ana Pérez <{FROM}>\r\nTo: zendesk@ingressio.com\r\nSubject: Checadores\r\n\
         Message-ID: {message_id}\r\nDate: {date}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn clock<'a>(view: &'a mesa::desk::TicketView, name: &str) -> &'a mesa::sla::MilestoneStatus {
    view.clocks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} clock"))
}

/// Contract: "se tomará la fecha y hora en la que EL CLIENTE envíe correo electrónico". The
/// customer wrote at 09:00 (Mexico City); the mail reached mesa at 10:00.
#[tokio::test]
async fn an_emails_clocks_start_when_the_customer_sent_it_and_the_acknowledgement_when_it_arrived()
{
    let h = harness();
    let arrived = h.desk.now();
    let out = h
        .email(&mail_dated(
            "<sent-0900@bajio.com.mx>",
            "Tue, 10 Nov 2026 09:00:00 -0600",
            "Todos los lectores dejaron de funcionar, nadie ha podido checar.",
        ))
        .await;
    let ticket = h.ticket(out.folio.unwrap().as_str()).await;
    let sent = t("2026-11-10T15:00:00Z");
    assert_eq!(ticket.received_at, sent);
    assert_eq!(ticket.arrived(), arrived);
    assert_eq!(
        ticket.clock_start,
        Some(mesa::ticket::ClockStart::DateHeader { date: sent })
    );
    let view = h.desk.view(ticket.clone()).await.unwrap();
    // Severity 1: 6 business hours to respond, counted from 09:00 → 15:00 local.
    assert_eq!(clock(&view, "response").started_at, Some(sent));
    assert_eq!(
        clock(&view, "response").due,
        Some(t("2026-11-10T21:00:00Z"))
    );
    // The acknowledgement's 15 minutes run from the receipt, not from 09:00.
    assert_eq!(clock(&view, "acknowledgement").started_at, Some(arrived));
    assert_eq!(
        clock(&view, "acknowledgement").due,
        Some(arrived + Duration::minutes(15))
    );
    // Acknowledged 10 minutes after it arrived (70 after it was sent): met, and the sweep
    // records no breach.
    h.advance(Duration::minutes(10));
    h.desk.deliver_outbox().await.unwrap();
    h.advance(Duration::minutes(30));
    h.desk.sweep(h.desk.now()).await.unwrap();
    let ticket = h.ticket(ticket.folio.as_str()).await;
    let view = h.desk.view(ticket.clone()).await.unwrap();
    assert_eq!(
        clock(&view, "acknowledgement").state,
        mesa::sla::ClockState::Met
    );
    assert!(!h.events(&ticket).await.iter().any(|e| matches!(
        &e.kind,
        EventKind::SlaBreached { milestone, .. } if milestone == "acknowledgement"
    )));
}

#[tokio::test]
async fn an_implausible_date_header_leaves_the_clocks_at_the_receipt_and_says_why() {
    use mesa::ticket::ClockStart;
    let h = harness();
    let arrived = h.desk.now();
    for (id, date, why) in [
        (
            "<old@bajio.com.mx>",
            "Sat, 07 Nov 2026 09:00:00 -0600",
            ClockStart::DateTooOld {
                date: t("2026-11-07T15:00:00Z"),
            },
        ),
        (
            "<ahead@bajio.com.mx>",
            "Tue, 10 Nov 2026 12:00:00 -0600",
            ClockStart::DateAhead {
                date: t("2026-11-10T18:00:00Z"),
            },
        ),
    ] {
        let out = h
            .email(&mail_dated(
                id,
                date,
                "El reporte de asistencia sale vacío.",
            ))
            .await;
        let ticket = h.ticket(out.folio.unwrap().as_str()).await;
        assert_eq!(ticket.received_at, arrived, "{id}");
        assert_eq!(ticket.clock_start, Some(why), "{id}");
        assert!(!ticket.clock_start.unwrap().explain().is_empty());
    }
    let undated = "From: Ana Pérez <ana@bajio.com.mx>\r\nTo: zendesk@ingressio.com\r\n\
        Subject: Sin fecha\r\nMessage-ID: <nodate@bajio.com.mx>\r\n\r\nNo abre el portal.\r\n";
    let out = h.email(undated.as_bytes()).await;
    let ticket = h.ticket(out.folio.unwrap().as_str()).await;
    assert_eq!(ticket.received_at, arrived);
    assert_eq!(ticket.clock_start, Some(ClockStart::NoDate));
}

/// A customer's report that came with an out-of-office header: a lead releases it and it
/// becomes a ticket, acknowledged, with the release on record.
#[tokio::test]
async fn a_lead_releases_set_aside_mail_into_one_ticket() {
    let h = harness();
    let raw = format!(
        "From: {FROM}\r\nTo: zendesk@ingressio.com\r\nSubject: Checadores sin red\r\n\
         Auto-Submitted: auto-replied\r\nMessage-ID: <auto2@x.mx>\r\n\r\n\
         Ningún checador de la planta registra desde las 8.\r\n"
    );
    assert_eq!(
        h.email(raw.as_bytes()).await.outcome,
        EmailOutcomeKind::Ignored
    );
    let id = h.desk.set_aside_mail().await.unwrap()[0].id.clone();
    let lead = mesa::model::Actor::staff("ana.lider@ingressio.com");
    let out = h.desk.release_mail(&id, &lead).await.unwrap();
    assert_eq!(out.outcome, EmailOutcomeKind::Created);
    let folio = out.folio.unwrap();
    let detail = h.desk.detail(folio.as_str()).await.unwrap();
    assert!(detail.view.ticket.description.contains("Ningún checador"));
    assert!(detail.events.iter().any(|e| e.actor == lead
        && matches!(&e.kind, EventKind::NoteAdded { text } if text.contains("automatic message"))));
    h.desk.deliver_outbox().await.unwrap();
    assert!(
        h.mailer
            .sent()
            .iter()
            .any(|m| m.subject.contains(folio.as_str())),
        "acknowledged"
    );
    // Released twice (two leads at once, or a double click): one ticket.
    let again = h.desk.release_mail(&id, &lead).await.unwrap();
    assert_eq!(again.folio, Some(folio.clone()));
    let listed = h.desk.set_aside_mail().await.unwrap();
    assert_eq!(listed[0].released_as.as_deref(), Some(folio.as_str()));
}

#[tokio::test]
async fn quarantined_mail_cannot_be_released_and_the_lead_is_told_why() {
    let h = harness();
    h.email(b"Subject: hola\r\n\r\nsin remitente\r\n").await;
    let id = h.desk.set_aside_mail().await.unwrap()[0].id.clone();
    let e = h
        .desk
        .release_mail(&id, &mesa::model::Actor::staff("lider"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("quarantined mail is not released"),
        "{e}"
    );
    // A virus verdict: readable, and still not released.
    let meta = InboundMeta {
        receiver_id: None,
        quarantine: Some("virus verdict FAIL".into()),
    };
    let now = h.desk.now();
    h.desk
        .intake_email_with(&mail(FROM, "<v2@x.mx>", "Factura", "adjunto"), now, &meta)
        .await
        .unwrap();
    let virus = h
        .desk
        .set_aside_mail()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.reason.contains("virus"))
        .unwrap();
    let e = h
        .desk
        .release_mail(&virus.id, &mesa::model::Actor::staff("lider"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("virus verdict"), "{e}");
    let e = h
        .desk
        .release_mail("no-such-id", &mesa::model::Actor::staff("lider"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no set-aside mail"), "{e}");
}

/// A support agent answers the "response at risk" warning mesa sent the team: their words are
/// kept on the ticket as their internal note. Before, they opened a new ticket in the
/// agent's name, acknowledged to the agent.
#[tokio::test]
async fn a_staff_reply_to_a_warning_is_their_note_on_the_ticket_not_a_new_ticket() {
    let h = harness();
    h.desk
        .add_staff(
            "luisa@ingressio.com",
            "Luisa Méndez",
            mesa::model::StaffRole::Agent,
            None,
        )
        .await
        .unwrap();
    let s = h
        .submit("El sistema está caído por completo, no opera ningún equipo biométrico.")
        .await;
    // Hers: the warning goes to her.
    h.act(
        s.ticket.folio.as_str(),
        mesa::lifecycle::Action::Assign {
            to: Some("luisa@ingressio.com".into()),
        },
    )
    .await;
    h.desk.deliver_outbox().await.unwrap();
    h.desk
        .sweep(crate::harness::t("2026-11-10T20:31:00Z"))
        .await
        .unwrap();
    let warning = h
        .outbox_of(&s.ticket, MailKind::SlaWarning)
        .into_iter()
        .next()
        .expect("a warning to the team");
    let raw = reply_to(
        "Luisa@Ingressio.com",
        "<r1@ingressio.com>",
        &warning.message_id,
        &format!("Re: [{}] Respuesta por vencer", s.ticket.folio),
        "Ya hablé con el cliente por teléfono; el lector de la entrada se reinició.",
    );
    let out = h.email(&raw).await;
    assert_eq!(out.outcome, EmailOutcomeKind::Appended, "{out:?}");
    assert_eq!(out.folio, Some(s.ticket.folio.clone()));
    assert_eq!(h.store.ticket_count(), 1, "no ticket in the agent's name");
    let events = h.events(&s.ticket).await;
    let note = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::NoteAdded { text } => Some((e.actor.clone(), text.clone())),
            _ => None,
        })
        .expect("the agent's note");
    assert_eq!(note.0, mesa::model::Actor::staff("luisa@ingressio.com"));
    assert!(
        note.1.contains("lector de la entrada se reinició"),
        "{note:?}"
    );
    // Nothing goes to the customer, and the same mail again changes nothing.
    assert!(h.outbox_of(&s.ticket, MailKind::Reply).is_empty());
    let again = h.email(&raw).await;
    assert_eq!(again.outcome, EmailOutcomeKind::Duplicate);
    assert_eq!(h.events(&s.ticket).await.len(), events.len());
}
