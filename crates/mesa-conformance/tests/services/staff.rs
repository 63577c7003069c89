use mesa::desk::DeskError;
use mesa::lifecycle::{Action, ActionError};
use mesa::model::{Actor, EventKind, Stage};
use mesa::outbox::MailKind;
use mesa::ports::OutboxStore;

use crate::harness::*;

fn diagnose() -> Action {
    Action::Diagnose {
        summary: "Se replicó: el lector 3 no sincroniza.".into(),
        cause: "software_defect".into(),
        vendor: None,
        under_warranty: None,
        replicated: None,
        serial: None,
    }
}

async fn new_folio(h: &Harness) -> String {
    h.submit("Algunos lectores no registran.")
        .await
        .ticket
        .folio
        .to_string()
}

fn illegal(e: DeskError) -> bool {
    matches!(e, DeskError::Action(ActionError::Illegal { .. }))
}

/// A customer who wrote through the form reads staff's reply in the conversation of the
/// acknowledgement they received, not as a stray new mail.
#[tokio::test]
async fn staff_mail_on_a_form_ticket_answers_its_acknowledgement() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.desk.deliver_outbox().await.unwrap();
    let ack = h
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.subject.contains(&folio))
        .expect("the acknowledgement");
    h.act(
        &folio,
        Action::Reply {
            message: "¿Qué lectores fallan?".into(),
            channel: Default::default(),
        },
    )
    .await;
    h.desk.deliver_outbox().await.unwrap();
    let reply = h
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.text.contains("¿Qué lectores fallan?"))
        .expect("staff's reply");
    assert_eq!(reply.in_reply_to.as_deref(), Some(ack.message_id.as_str()));
    assert_eq!(reply.references, vec![ack.message_id.clone()]);
}

/// Where the transport gives each message its own Message-ID (SES does), or the
/// acknowledgement went out in a digest, staff's mail answers the Message-ID the customer
/// actually received.
#[tokio::test]
async fn staff_mail_answers_the_acknowledgement_as_the_customer_received_it() {
    use std::sync::Arc;

    use mesa::desk::{Desk, DeskConfig};
    use mesa_conformance::memory::{MemoryBlobs, MemoryMailer, MemoryStore, TestClock};
    use mesa_conformance::shipped_rules;

    let mailer = Arc::new(MemoryMailer::assigning_ids());
    let clock = Arc::new(TestClock::at(t(MONDAY_MORNING)));
    let desk = Desk::new(
        Arc::new(MemoryStore::new()),
        mailer.clone(),
        Arc::new(MemoryBlobs::default()),
        shipped_rules(),
        clock.clone(),
        DeskConfig::new("https://soporte.test", b"service-test-secret-0123456789ab"),
    );
    // Seven reports in an hour from one address: past the fifth, they are acknowledged
    // together in one digest.
    let mut folios = Vec::new();
    for n in 0..7 {
        let s = desk
            .submit_form(
                &form(&format!(
                    "Consulta número {n} sobre el reporte de asistencias."
                )),
                &[],
                None,
                "",
            )
            .await
            .unwrap();
        folios.push(s.ticket.folio.to_string());
    }
    desk.deliver_outbox().await.unwrap();
    // The end of the 15-minute period: the digest of the sixth and seventh.
    clock.set(t("2026-11-10T16:15:00Z"));
    desk.deliver_outbox().await.unwrap();
    for folio in [&folios[0], &folios[6]] {
        let received = mailer
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.subject.contains(folio.as_str()))
            .expect("its acknowledgement");
        desk.act(
            folio,
            &staff(),
            &Action::Reply {
                message: format!("Revisamos {folio}."),
                channel: Default::default(),
            },
        )
        .await
        .unwrap();
        desk.deliver_outbox().await.unwrap();
        let reply = mailer
            .sent()
            .into_iter()
            .find(|m| m.text.contains(&format!("Revisamos {folio}.")))
            .expect("staff's reply");
        assert_eq!(
            reply.in_reply_to,
            Some(MemoryMailer::provider_id_of(&received.message_id)),
            "{folio}"
        );
    }
}

#[tokio::test]
async fn staff_confirm_a_severity_with_a_reason_and_their_name() {
    let h = harness();
    let folio = new_folio(&h).await;
    let sev = mesa::Severity::new(1).unwrap();
    let t = h
        .act(
            &folio,
            Action::SetSeverity {
                severity: sev,
                reason: "Ningún lector registra.".into(),
            },
        )
        .await;
    assert_eq!(t.severity, sev);
    assert_eq!(t.severity_set_by, staff());
    assert_eq!(t.severity_reason, "Ningún lector registra.");
}

#[tokio::test]
async fn a_severity_change_tells_the_customer_the_new_severity_and_deadlines() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h
        .act(
            &folio,
            Action::SetSeverity {
                severity: mesa::Severity::new(1).unwrap(),
                reason: "Ningún lector de la empresa registra.".into(),
            },
        )
        .await;
    assert_eq!(h.outbox_of(&t, MailKind::Severity).len(), 1);
    h.desk.deliver_outbox().await.unwrap();
    let mail = h
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.subject.contains("Severidad 1 confirmada"))
        .expect("the severity mail");
    assert!(mail.text.contains("Ningún lector de la empresa registra."));
    // Severity 1 from Tuesday 10:00: response within 6 business hours, 16:00 the same day.
    assert!(
        mail.text
            .contains("Respuesta: martes 10 de noviembre de 2026, 16:00"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("Recuperación del servicio"));
}

#[tokio::test]
async fn the_queue_marks_a_severity_staff_have_not_confirmed() {
    let h = harness();
    let folio = new_folio(&h).await;
    let queue = h.desk.queue().await.unwrap();
    assert!(queue[0].severity_provisional);
    h.act(
        &folio,
        Action::SetSeverity {
            severity: mesa::Severity::new(2).unwrap(),
            reason: "Confirmada en el diagnóstico.".into(),
        },
    )
    .await;
    let queue = h.desk.queue().await.unwrap();
    assert!(!queue[0].severity_provisional && !queue[0].needs_confirmation);
}

#[tokio::test]
async fn a_severity_change_without_a_reason_is_refused() {
    let h = harness();
    let folio = new_folio(&h).await;
    let e = h
        .desk
        .act(
            &folio,
            &staff(),
            &Action::SetSeverity {
                severity: mesa::Severity::new(2).unwrap(),
                reason: "  ".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        DeskError::Action(ActionError::Invalid {
            field: "reason",
            ..
        })
    ));
}

#[tokio::test]
async fn a_diagnosis_records_the_coverage_assessment() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h.act(&folio, diagnose()).await;
    assert_eq!(t.stage, Stage::Diagnosed);
    assert!(t.assessment.is_some());
}

#[tokio::test]
async fn escalating_to_rnd_needs_a_diagnosis_first() {
    let h = harness();
    let folio = new_folio(&h).await;
    let escalate = Action::Escalate {
        note: "Falla en el servicio de sincronización.".into(),
    };
    assert!(illegal(
        h.desk.act(&folio, &staff(), &escalate).await.unwrap_err()
    ));
    h.act(&folio, diagnose()).await;
    assert_eq!(h.act(&folio, escalate).await.stage, Stage::EscalatedToRnd);
}

#[tokio::test]
async fn a_reply_queues_mail_and_its_event_names_the_outbox_item() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h
        .act(
            &folio,
            Action::Reply {
                message: "Estamos revisando.".into(),
                channel: Default::default(),
            },
        )
        .await;
    let replies = h.outbox_of(&t, MailKind::Reply);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].body, "Estamos revisando.");
    let events = h.events(&t).await;
    let named = events.iter().find_map(|e| match &e.kind {
        EventKind::Responded { outbox_id, .. } => outbox_id.clone(),
        _ => None,
    });
    assert_eq!(named.as_deref(), Some(replies[0].id.as_str()));
}

#[tokio::test]
async fn an_empty_reply_is_refused() {
    let h = harness();
    let folio = new_folio(&h).await;
    let e = h
        .desk
        .act(
            &folio,
            &staff(),
            &Action::Reply {
                message: "\n ".into(),
                channel: Default::default(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DeskError::Action(ActionError::Invalid { .. })));
    assert_eq!(h.store.mail_items().len(), 1, "only the acknowledgement");
}

#[tokio::test]
async fn the_answer_follows_a_diagnosis() {
    let h = harness();
    let folio = new_folio(&h).await;
    let answer = Action::Answer {
        message: "Quedó corregido.".into(),
    };
    assert!(illegal(
        h.desk.act(&folio, &staff(), &answer).await.unwrap_err()
    ));
    let t = h.answered(&folio).await;
    assert_eq!(t.stage, Stage::Answered);
    assert_eq!(h.outbox_of(&t, MailKind::Answer).len(), 1);
}

#[tokio::test]
async fn waiting_on_the_customer_pauses_and_resume_goes_back() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.act(&folio, diagnose()).await;
    let t = h
        .act(
            &folio,
            Action::Wait {
                note: "Necesitamos el número de serie.".into(),
            },
        )
        .await;
    assert_eq!(t.stage, Stage::WaitingOnCustomer);
    let t = h
        .act(
            &folio,
            Action::Resume {
                note: String::new(),
            },
        )
        .await;
    assert_eq!(t.stage, Stage::Diagnosed);
}

#[tokio::test]
async fn waiting_on_the_customer_tells_them_what_is_needed() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h
        .act(
            &folio,
            Action::Wait {
                note: "Envíenos el número de serie del lector.".into(),
            },
        )
        .await;
    assert_eq!(h.outbox_of(&t, MailKind::Waiting).len(), 1);
    h.desk.deliver_outbox().await.unwrap();
    assert!(
        h.mailer
            .sent()
            .iter()
            .any(|m| m.text.contains("Envíenos el número de serie del lector."))
    );
}

#[tokio::test]
async fn a_diagnosis_while_waiting_is_recorded_and_the_ticket_keeps_waiting() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.act(
        &folio,
        Action::Wait {
            note: "Necesitamos una captura.".into(),
        },
    )
    .await;
    let t = h.act(&folio, diagnose()).await;
    assert_eq!(t.stage, Stage::WaitingOnCustomer);
    assert!(t.assessment.is_some());
    let t = h
        .act(
            &folio,
            Action::Resume {
                note: String::new(),
            },
        )
        .await;
    assert_eq!(t.stage, Stage::Diagnosed);
}

#[tokio::test]
async fn a_phone_response_is_recorded_without_an_email_and_stops_the_response_clock() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h
        .act(
            &folio,
            Action::Reply {
                message: "Le llamamos y revisamos juntos la configuración.".into(),
                channel: mesa::model::ResponseChannel::Phone,
            },
        )
        .await;
    assert!(h.outbox_of(&t, MailKind::Reply).is_empty(), "no e-mail");
    let view = h.desk.view(t).await.unwrap();
    let response = view.clocks.iter().find(|c| c.name == "response").unwrap();
    assert!(!response.running);
    let events = h.events(&view.ticket).await;
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Responded {
            outbox_id: None,
            channel: mesa::model::ResponseChannel::Phone,
            ..
        }
    )));
}

#[tokio::test]
async fn resuming_a_ticket_that_is_not_waiting_is_refused() {
    let h = harness();
    let folio = new_folio(&h).await;
    let e = h
        .desk
        .act(
            &folio,
            &staff(),
            &Action::Resume {
                note: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(illegal(e));
}

#[tokio::test]
async fn logged_work_adds_up() {
    let h = harness();
    let folio = new_folio(&h).await;
    for minutes in [30, 45] {
        h.act(
            &folio,
            Action::LogWork {
                minutes,
                note: String::new(),
            },
        )
        .await;
    }
    assert_eq!(h.ticket(&folio).await.work_minutes, 75);
}

#[tokio::test]
async fn work_outside_one_minute_to_one_day_is_refused() {
    let h = harness();
    let folio = new_folio(&h).await;
    for minutes in [0, -5, 24 * 60 + 1] {
        let e = h
            .desk
            .act(
                &folio,
                &staff(),
                &Action::LogWork {
                    minutes,
                    note: String::new(),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            DeskError::Action(ActionError::Invalid {
                field: "minutes",
                ..
            })
        ));
    }
}

#[tokio::test]
async fn closing_needs_the_answer_sent_first() {
    let h = harness();
    let folio = new_folio(&h).await;
    let close = Action::Close {
        note: String::new(),
    };
    assert!(illegal(
        h.desk.act(&folio, &staff(), &close).await.unwrap_err()
    ));
    h.answered(&folio).await;
    assert_eq!(h.act(&folio, close).await.stage, Stage::Closed);
}

#[tokio::test]
async fn closing_sends_the_survey_named_by_the_closing_event() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h.closed(&folio).await;
    let csat = h.outbox_of(&t, MailKind::Csat);
    assert_eq!(csat.len(), 1);
    let events = h.events(&t).await;
    let named = events.iter().find_map(|e| match &e.kind {
        EventKind::Closed { csat_outbox_id, .. } => csat_outbox_id.clone(),
        _ => None,
    });
    assert_eq!(named.as_deref(), Some(csat[0].id.as_str()));
    assert!(h.store.outbox_item(&csat[0].id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_closed_ticket_reopens_with_a_reason_and_an_open_one_cannot() {
    let h = harness();
    let folio = new_folio(&h).await;
    let reopen = Action::Reopen {
        reason: "Volvió a fallar.".into(),
    };
    assert!(illegal(
        h.desk.act(&folio, &staff(), &reopen).await.unwrap_err()
    ));
    h.closed(&folio).await;
    assert_eq!(h.act(&folio, reopen).await.stage, Stage::Reopened);
}

#[tokio::test]
async fn nothing_but_a_reopen_is_done_to_a_closed_ticket() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.closed(&folio).await;
    for action in [
        Action::Reply {
            message: "hola".into(),
            channel: Default::default(),
        },
        Action::Wait {
            note: "datos".into(),
        },
        Action::SetSeverity {
            severity: mesa::Severity::new(2).unwrap(),
            reason: "x".into(),
        },
        diagnose(),
    ] {
        let e = h.desk.act(&folio, &staff(), &action).await.unwrap_err();
        assert!(illegal(e), "{action:?} allowed on a closed ticket");
    }
}

#[tokio::test]
async fn an_unknown_folio_is_reported_as_such() {
    let h = harness();
    for folio in ["ING-2026-999999", "no es folio"] {
        let e = h
            .desk
            .act(
                folio,
                &staff(),
                &Action::Resume {
                    note: String::new(),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, DeskError::UnknownFolio(_)));
    }
}

#[tokio::test]
async fn every_staff_event_records_who_did_it() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h.answered(&folio).await;
    let events = h.events(&t).await;
    let staff_events: Vec<_> = events.iter().filter(|e| e.actor.is_staff()).collect();
    assert_eq!(staff_events.len(), 2);
    assert!(
        staff_events
            .iter()
            .all(|e| e.actor == Actor::staff("luisa"))
    );
}

#[tokio::test]
async fn a_change_retries_after_someone_else_wrote_first() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.store.inject_conflicts(3);
    let t = h.act(&folio, diagnose()).await;
    assert_eq!(t.stage, Stage::Diagnosed);
    let diagnoses = h
        .events(&t)
        .await
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Diagnosed { .. }))
        .count();
    assert_eq!(diagnoses, 1, "recorded once");
}

#[tokio::test]
async fn a_ticket_that_keeps_changing_gives_a_clear_error_not_a_lost_write() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.store.inject_conflicts(100);
    let e = h.desk.act(&folio, &staff(), &diagnose()).await.unwrap_err();
    assert!(matches!(e, DeskError::TooManyConflicts));
    assert!(e.is_retryable());
    h.store.inject_conflicts(0);
    assert_eq!(h.ticket(&folio).await.stage, Stage::Received);
}

#[tokio::test]
async fn the_customer_answers_the_survey_once() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h.answered(&folio).await;
    h.act(
        &folio,
        Action::Close {
            note: String::new(),
        },
    )
    .await;
    let token = survey_token(&h, &t).await;
    let t = h
        .desk
        .record_satisfaction(&token, true, "Gracias")
        .await
        .unwrap();
    assert!(t.satisfaction.as_ref().is_some_and(|s| s.satisfied));
    let e = h
        .desk
        .record_satisfaction(&token, true, "")
        .await
        .unwrap_err();
    assert!(illegal(e));
}

#[tokio::test]
async fn an_unsatisfied_customer_reopens_the_ticket() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h.answered(&folio).await;
    h.act(
        &folio,
        Action::Close {
            note: String::new(),
        },
    )
    .await;
    let token = survey_token(&h, &t).await;
    let t = h
        .desk
        .record_satisfaction(&token, false, "Sigue fallando")
        .await
        .unwrap();
    assert_eq!(t.stage, Stage::Reopened);
    assert_eq!(h.events(&t).await.last().unwrap().actor, Actor::Customer);
}

#[tokio::test]
async fn each_closing_has_its_own_survey_and_every_answer_stays_in_the_timeline() {
    let h = harness();
    let folio = new_folio(&h).await;
    let t = h.answered(&folio).await;
    h.act(
        &folio,
        Action::Close {
            note: String::new(),
        },
    )
    .await;
    let first = survey_token(&h, &t).await;
    h.desk
        .record_satisfaction(&first, false, "Sigue fallando")
        .await
        .unwrap();
    // Fixed again, answered and closed again: a new survey, which can be answered.
    h.act(
        &folio,
        Action::Answer {
            message: "Ahora sí quedó.".into(),
        },
    )
    .await;
    h.act(
        &folio,
        Action::Close {
            note: String::new(),
        },
    )
    .await;
    let second = survey_token(&h, &t).await;
    assert_ne!(first, second);
    let t = h
        .desk
        .record_satisfaction(&second, true, "Gracias")
        .await
        .unwrap();
    let last = t.satisfaction.clone().expect("the last answer");
    assert!(last.satisfied);
    assert_eq!(last.closing, 2);
    // The first closing's link cannot answer the second closing's survey.
    assert!(illegal(
        h.desk
            .record_satisfaction(&first, true, "")
            .await
            .unwrap_err()
    ));
    let answers = h
        .events(&t)
        .await
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SatisfactionRecorded { .. }))
        .count();
    assert_eq!(answers, 2);
}

#[tokio::test]
async fn staff_can_reopen_an_answered_ticket() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.answered(&folio).await;
    let t = h
        .act(
            &folio,
            Action::Reopen {
                reason: "El cliente llamó: sigue fallando.".into(),
            },
        )
        .await;
    assert_eq!(t.stage, Stage::Reopened);
}

#[tokio::test]
async fn a_forged_survey_link_is_refused() {
    let h = harness();
    let e = h
        .desk
        .record_satisfaction("not-a-token", true, "")
        .await
        .unwrap_err();
    assert!(matches!(e, DeskError::Token(_)));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn the_queue_puts_the_most_severe_first_then_the_nearest_deadline() {
    let h = harness();
    let minor = h.submit("¿Cómo cambio el logotipo del reporte?").await;
    h.advance(chrono::Duration::minutes(5));
    let outage = h
        .submit("El sistema está caído por completo, no opera ningún equipo biométrico.")
        .await;
    let queue = h.desk.queue().await.unwrap();
    let order: Vec<_> = queue.iter().map(|v| v.ticket.folio.clone()).collect();
    assert_eq!(order, [outage.ticket.folio, minor.ticket.folio]);
    assert!(queue.iter().all(|v| v.next_deadline.is_some()));
}

#[tokio::test]
async fn a_billable_ticket_shows_its_quote_in_integer_cents() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.act(
        &folio,
        Action::Diagnose {
            summary: "Modificaron la base de datos a mano.".into(),
            cause: "modified_code".into(),
            vendor: None,
            under_warranty: None,
            replicated: None,
            serial: None,
        },
    )
    .await;
    h.act(
        &folio,
        Action::LogWork {
            minutes: 90,
            note: String::new(),
        },
    )
    .await;
    let detail = h.desk.detail(&folio).await.unwrap();
    let quote = detail.view.quote.expect("billable work is quoted");
    // USD 65 the first hour + 45 the second, plus 16 % IVA.
    assert_eq!(quote.subtotal_cents, 11_000);
    assert_eq!(quote.iva_cents, 1_760);
    assert_eq!(quote.total_cents, 12_760);
    assert!(!detail.events.is_empty());
}

/// The survey link the closing mail carries, taken from the composed message.
async fn survey_token(h: &Harness, t: &mesa::model::Ticket) -> String {
    h.desk.deliver_outbox().await.unwrap();
    let sent = h.mailer.sent();
    // The latest closing's survey.
    let csat = sent
        .iter()
        .rev()
        .find(|m| m.text.contains("/csat/") && m.to == t.customer.email)
        .expect("survey mail sent");
    let at = csat.text.find("/csat/").unwrap() + "/csat/".len();
    csat.text[at..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn staff_complete_the_contact_data_and_the_timeline_says_who() {
    let h = harness();
    let out = h
        .email(&mail(
            "ana@bajio.com.mx",
            "<e1@bajio.com.mx>",
            "Consulta",
            "¿Cómo exporto?",
        ))
        .await;
    let folio = out.folio.unwrap().to_string();
    let t = h
        .act(
            &folio,
            Action::UpdateContact {
                company: Some("Comercializadora del Bajío".into()),
                contact_name: None,
                phone: Some("4421234567".into()),
                support_type: Some("asistencia".into()),
            },
        )
        .await;
    assert_eq!(t.customer.phone, "4421234567");
    assert!(!t.missing_fields.iter().any(|f| f.contains("Teléfono")));
    let last = h.events(&t).await.pop().unwrap();
    assert!(matches!(last.kind, EventKind::ContactUpdated { .. }));
    assert_eq!(last.actor, staff());
    let e = h
        .desk
        .act(
            &folio,
            &staff(),
            &Action::UpdateContact {
                company: None,
                contact_name: None,
                phone: None,
                support_type: Some("inventado".into()),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DeskError::Action(ActionError::Invalid { .. })));
}

fn clock(view: &mesa::desk::TicketView, name: &str) -> mesa::sla::MilestoneStatus {
    view.clocks.iter().find(|c| c.name == name).unwrap().clone()
}

#[tokio::test]
async fn closing_a_critical_report_does_not_stop_its_root_cause_clock() {
    let h = harness();
    let folio = h
        .submit("El sistema está caído por completo, no opera ningún equipo biométrico.")
        .await
        .ticket
        .folio
        .to_string();
    h.desk.deliver_outbox().await.unwrap();
    let t = h.closed(&folio).await;
    let view = h.desk.view(t).await.unwrap();
    assert!(
        !clock(&view, "recovery").running,
        "recovery met by the answer"
    );
    assert!(clock(&view, "root_cause").running, "root cause still owed");
    let queue = h.desk.queue().await.unwrap();
    assert!(
        queue.iter().any(|v| v.ticket.folio.as_str() == folio),
        "the queue keeps a closed ticket that owes its root cause"
    );
    let t = h
        .act(
            &folio,
            Action::DeliverRootCause {
                report: "La causa fue un certificado vencido en el balanceador; se automatizó su renovación.".into(),
            },
        )
        .await;
    assert_eq!(h.outbox_of(&t, MailKind::RootCause).len(), 1);
    let view = h.desk.view(t).await.unwrap();
    assert!(!clock(&view, "root_cause").running, "{:#?}", view.clocks);
    assert!(
        view.clocks.iter().all(|c| !c.running),
        "no clock runs: {:#?}",
        view.clocks
    );
    assert!(
        !h.desk
            .queue()
            .await
            .unwrap()
            .iter()
            .any(|v| v.ticket.folio.as_str() == folio)
    );
    let again = h
        .desk
        .act(
            &folio,
            &staff(),
            &Action::DeliverRootCause {
                report: "otra vez".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(illegal(again));
}

#[tokio::test]
async fn the_sweep_keeps_watching_the_root_cause_of_a_closed_ticket() {
    let h = harness();
    let s = h
        .submit("El sistema está caído por completo, no opera ningún equipo biométrico.")
        .await;
    let folio = s.ticket.folio.to_string();
    h.desk.deliver_outbox().await.unwrap();
    h.closed(&folio).await;
    // 30 business days later (and then some): the root-cause clock is breached.
    let report = h.desk.sweep(t("2027-01-15T18:00:00Z")).await.unwrap();
    assert!(report.breaches >= 1);
    let breached = h.events(&s.ticket).await.iter().any(|e| {
        matches!(&e.kind, EventKind::SlaBreached { milestone, .. } if milestone == "root_cause")
    });
    assert!(breached);
}

#[tokio::test]
async fn an_internal_note_reaches_no_customer_and_is_not_a_response() {
    let h = harness();
    let folio = new_folio(&h).await;
    h.desk.deliver_outbox().await.unwrap();
    let mails = h.mailer.sent().len();
    let t = h
        .act(
            &folio,
            Action::Note {
                text: "El cliente llamó; lo vemos mañana.".into(),
            },
        )
        .await;
    assert_eq!(t.stage, Stage::Acknowledged);
    h.desk.deliver_outbox().await.unwrap();
    assert_eq!(h.mailer.sent().len(), mails, "a note sends no mail");
    let view = h.desk.view(t).await.unwrap();
    assert!(
        clock(&view, "response").running,
        "a note does not answer the customer"
    );
}

#[tokio::test]
async fn a_ticket_is_given_only_to_an_active_staff_account() {
    let h = harness();
    let folio = new_folio(&h).await;
    let to = |who: &str| Action::Assign {
        to: Some(who.into()),
    };
    let e = h
        .desk
        .act(&folio, &staff(), &to("nadie@ingressio.com"))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        DeskError::Action(ActionError::Invalid { field: "to", .. })
    ));
    h.desk
        .add_staff(
            "luisa@ingressio.com",
            "Luisa",
            mesa::model::StaffRole::Agent,
            None,
        )
        .await
        .unwrap();
    let t = h.act(&folio, to("Luisa@Ingressio.com")).await;
    assert_eq!(t.owner.as_deref(), Some("luisa@ingressio.com"));
    let t = h.act(&folio, Action::Assign { to: None }).await;
    assert_eq!(t.owner, None);
    h.desk
        .set_staff_active("luisa@ingressio.com", false)
        .await
        .unwrap();
    assert!(
        h.desk
            .act(&folio, &staff(), &to("luisa@ingressio.com"))
            .await
            .is_err()
    );
}
