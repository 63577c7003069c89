use mesa::desk::DeskError;
use mesa::intake::{FormInput, YesNo};
use mesa::model::{Channel, Stage};
use mesa::outbox::MailKind;
use mesa::ports::{DomainEvent, TicketStore};

use crate::harness::*;

#[tokio::test]
async fn a_form_becomes_a_ticket_with_the_first_folio_of_the_year() {
    let h = harness();
    let s = h.submit("No puedo dar de alta un departamento.").await;
    assert_eq!(s.ticket.folio.as_str(), "ING-2026-000001");
    assert_eq!(s.ticket.channel, Channel::Form);
    assert_eq!(s.ticket.stage, Stage::Received);
    assert!(!s.duplicate);
    assert!(s.plan.milestones.iter().any(|m| m.name == "response"));
}

#[tokio::test]
async fn folios_are_consecutive_without_gaps() {
    let h = harness();
    let mut folios = Vec::new();
    for i in 0..3 {
        folios.push(h.submit(&format!("Consulta número {i}")).await.ticket.folio);
    }
    let names: Vec<&str> = folios.iter().map(|f| f.as_str()).collect();
    assert_eq!(
        names,
        ["ING-2026-000001", "ING-2026-000002", "ING-2026-000003"]
    );
}

#[tokio::test]
async fn every_new_ticket_has_its_acknowledgement_queued_in_the_same_write() {
    let h = harness();
    let s = h.submit("El reporte de asistencias sale vacío.").await;
    let acks = h.outbox_of(&s.ticket, MailKind::Ack);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].to, "ana@bajio.com.mx");
}

#[tokio::test]
async fn the_same_idempotency_key_twice_is_one_ticket() {
    let h = harness();
    let mut input = form("Lectores sin registrar.");
    input.idempotency_key = Some("cliente-42".into());
    let first = h.desk.submit_form(&input, &[], None, "").await.unwrap();
    let again = h.desk.submit_form(&input, &[], None, "").await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.ticket.id, first.ticket.id);
    assert_eq!(h.store.mail_items().len(), 1, "one acknowledgement");
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_report_is_refused() {
    let h = harness();
    let mut input = form("Lectores sin registrar.");
    input.idempotency_key = Some("cliente-42".into());
    h.desk.submit_form(&input, &[], None, "").await.unwrap();
    let mut other = form("Otro problema distinto: el portal no abre.");
    other.idempotency_key = Some("cliente-42".into());
    match h.desk.submit_form(&other, &[], None, "").await {
        Err(DeskError::Invalid(errors)) => assert!(errors.contains_key("idempotency_key")),
        other => panic!("a reused key was taken: {other:?}"),
    }
    assert_eq!(h.store.mail_items().len(), 1, "still one ticket");
}

#[tokio::test]
async fn a_web_form_sent_twice_is_one_ticket() {
    let h = harness();
    let token = h.desk.form_token();
    h.advance(chrono::Duration::seconds(30));
    let mut input = form("No abre el portal para ninguno de nosotros.");
    input.impact_scope = Some("all".into());
    input.operation_continues = Some(YesNo::Text("no".into()));
    input.workaround = Some(YesNo::Text("no".into()));
    let first = h
        .desk
        .submit_form(&input, &[], Some(&token), "")
        .await
        .unwrap();
    let again = h
        .desk
        .submit_form(&input, &[], Some(&token), "")
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.ticket.folio, first.ticket.folio);
}

#[tokio::test]
async fn a_form_sent_faster_than_a_person_can_type_is_refused() {
    let h = harness();
    let token = h.desk.form_token();
    let err = h
        .desk
        .submit_form(&form("Hola"), &[], Some(&token), "")
        .await
        .unwrap_err();
    let DeskError::Invalid(errors) = err else {
        panic!("expected invalid input")
    };
    assert!(errors.contains_key("form_token"), "{errors:?}");
}

#[tokio::test]
async fn a_filled_honeypot_is_refused() {
    let h = harness();
    let err = h
        .desk
        .submit_form(&form("Hola"), &[], None, "http://spam.example")
        .await
        .unwrap_err();
    assert!(matches!(err, DeskError::Invalid(e) if e.contains_key("website")));
    assert!(h.store.mail_items().is_empty(), "nothing written");
}

#[tokio::test]
async fn a_bad_contact_address_is_a_field_error_in_spanish() {
    let h = harness();
    let mut input = form("Hola");
    input.email = "ana arroba bajio".into();
    let err = h.desk.submit_form(&input, &[], None, "").await.unwrap_err();
    let DeskError::Invalid(errors) = err else {
        panic!("expected invalid input")
    };
    assert!(errors["email"].contains("correo"), "{errors:?}");
}

/// A company name pasted with its whole legal text is refused with the limit, not cut in
/// silence (the customer would never know the ticket names another company).
#[tokio::test]
async fn a_name_over_the_limit_is_a_field_error_not_cut() {
    let h = harness();
    let mut input = form("Algunos lectores no registran.");
    input.company = "Comercializadora del Bajío ".repeat(12);
    input.contact_name = format!("Ana {}", "Pérez ".repeat(40));
    let err = h.desk.submit_form(&input, &[], None, "").await.unwrap_err();
    let DeskError::Invalid(errors) = err else {
        panic!("expected invalid input")
    };
    assert!(errors["company"].contains("máximo 200"), "{errors:?}");
    assert!(errors["contact_name"].contains("máximo 200"), "{errors:?}");
    // At the limit it is taken whole.
    input.company = "B".repeat(200);
    input.contact_name = "Ana Pérez".into();
    let s = h.desk.submit_form(&input, &[], None, "").await.unwrap();
    assert_eq!(s.ticket.customer.company.chars().count(), 200);
}

#[tokio::test]
async fn a_registered_customer_is_verified_and_a_stranger_is_not() {
    let h = harness();
    h.register("", "bajio.com.mx").await;
    let known = h.submit("Consulta sobre el reporte de asistencias").await;
    assert!(known.ticket.verified);
    let mut other = form("Consulta sobre el reporte de asistencias");
    other.email = "pedro@otra.mx".into();
    let stranger = h.desk.submit_form(&other, &[], None, "").await.unwrap();
    assert!(!stranger.ticket.verified);
}

#[tokio::test]
async fn a_new_ticket_is_announced_once_the_outbox_publishes_and_counted() {
    let h = harness();
    let s = h.submit("El portal no carga para nadie.").await;
    assert_eq!(h.metrics.count_of("TicketCreated"), 1);
    // Written with the ticket, published by the outbox worker (with its folio).
    assert_eq!(h.event_items(&s.ticket).len(), 1);
    assert!(h.bus.published().is_empty());
    let report = h.desk.deliver_outbox().await.unwrap();
    assert_eq!((report.sent, report.published), (1, 1));
    let events = h.bus.published();
    assert!(
        matches!(&events[..], [DomainEvent::TicketCreated { folio, severity, .. }]
            if *folio == s.ticket.folio && *severity == s.ticket.severity),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_bus_outage_loses_no_announcement_and_repeats_keep_their_id() {
    let h = harness();
    h.bus.set_failing(true);
    let s = h.submit("Consulta sobre el reporte de asistencias").await;
    assert!(h.store.get(&s.ticket.id).await.unwrap().is_some());
    let down = h.desk.deliver_outbox().await.unwrap();
    assert_eq!((down.sent, down.published, down.failed), (1, 0, 1));
    assert_eq!(h.metrics.count_of("EventPublishErrors"), 1);
    assert!(h.bus.published().is_empty());
    // The bus is back: the event goes out at its retry, once.
    h.bus.set_failing(false);
    h.clock.advance(chrono::Duration::minutes(10));
    let back = h.desk.deliver_outbox().await.unwrap();
    assert_eq!(back.published, 1);
    h.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(h.desk.deliver_outbox().await.unwrap().published, 0);
    let deliveries = h.bus.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].id, h.event_items(&s.ticket)[0].id);
    assert_eq!(
        deliveries[0].detail()["event_id"],
        serde_json::json!(deliveries[0].id)
    );
}

#[tokio::test]
async fn the_rules_classify_the_ticket_and_record_why() {
    let h = harness();
    let s = h
        .submit("El sistema está caído por completo, no opera ningún equipo biométrico.")
        .await;
    assert_eq!(s.ticket.severity.level(), 1);
    assert!(!s.ticket.severity_reason.is_empty());
    let events = h.events(&s.ticket).await;
    assert_eq!(events[1].actor, mesa::model::Actor::Rules);
}

fn with_impact(description: &str, scope: &str, continues: bool, workaround: bool) -> FormInput {
    let mut f = form(description);
    f.impact_scope = Some(scope.into());
    f.operation_continues = Some(YesNo::Bool(continues));
    f.workaround = Some(YesNo::Bool(workaround));
    f
}

#[tokio::test]
async fn nothing_works_with_operation_stopped_and_no_workaround_is_severity_one_whatever_the_text()
{
    let h = harness();
    for text in [
        "¿Cómo cambio el logotipo del reporte?",
        "Tengo una duda sobre el manual de usuario.",
        "Lento.......... el portal",
    ] {
        let input = with_impact(text, "all", false, false);
        let s = h.desk.submit_form(&input, &[], None, "").await.unwrap();
        assert_eq!(s.ticket.severity.level(), 1, "{text}");
        assert!(
            s.ticket.severity_reason.contains("nada funciona"),
            "{}",
            s.ticket.severity_reason
        );
    }
}

#[tokio::test]
async fn one_user_with_operation_continuing_is_never_severity_one_or_two() {
    let h = harness();
    for text in [
        "El sistema está caído por completo, no opera ningún equipo biométrico. URGENTE",
        "Todos los lectores dejaron de funcionar, nadie ha podido marcar entrada",
        "Algunos lectores no registran en la planta",
    ] {
        for workaround in [true, false] {
            let input = with_impact(text, "one", true, workaround);
            let s = h.desk.submit_form(&input, &[], None, "").await.unwrap();
            assert!(
                s.ticket.severity.level() >= 3,
                "{text}: {}",
                s.ticket.severity
            );
        }
    }
}

#[tokio::test]
async fn the_web_page_requires_the_impact_answers() {
    let h = harness();
    let token = h.desk.form_token();
    h.advance(chrono::Duration::seconds(30));
    let err = h
        .desk
        .submit_form(
            &form("No abre el portal para nadie."),
            &[],
            Some(&token),
            "",
        )
        .await
        .unwrap_err();
    let DeskError::Invalid(errors) = err else {
        panic!("expected invalid input")
    };
    for field in ["impact_scope", "operation_continues", "workaround"] {
        assert!(errors.contains_key(field), "{field}: {errors:?}");
    }
}

#[tokio::test]
async fn a_json_client_may_leave_the_impact_out_and_the_text_decides() {
    let h = harness();
    let s = h
        .desk
        .submit_form(
            &form("Todos los lectores dejaron de funcionar, nadie ha podido marcar entrada."),
            &[],
            None,
            "",
        )
        .await
        .unwrap();
    assert!(s.ticket.impact.is_none());
    assert_eq!(s.ticket.severity.level(), 1);
}

#[tokio::test]
async fn an_impact_answer_out_of_the_list_is_a_field_error() {
    let h = harness();
    let mut input = with_impact("No abre el portal.", "everything", false, false);
    input.workaround = Some(YesNo::Text("quizá".into()));
    let err = h.desk.submit_form(&input, &[], None, "").await.unwrap_err();
    let DeskError::Invalid(errors) = err else {
        panic!("expected invalid input")
    };
    assert!(errors.contains_key("impact_scope") && errors.contains_key("workaround"));
}

/// A JSON client has no drop-down: the refusal of an unknown support type names the valid
/// ones, as the rules define them.
#[tokio::test]
async fn an_unknown_support_type_is_refused_with_the_valid_ones_listed() {
    let h = harness();
    let mut input = form("El reporte de asistencias sale vacío.");
    input.support_type = "soporte".into();
    let err = h.desk.submit_form(&input, &[], None, "").await.unwrap_err();
    let DeskError::Invalid(errors) = err else {
        panic!("expected field errors, got {err}");
    };
    let message = &errors["support_type"];
    for t in h.desk.policy().support_types() {
        assert!(message.contains(&t.id), "{message} lacks {}", t.id);
    }
}

/// Terms checked at import can stop planning after the rules change: the customer's report
/// is still taken, on the standard contract, and the operators are told.
#[tokio::test]
async fn a_company_whose_own_terms_no_longer_plan_still_gets_its_ticket_on_the_standard_terms() {
    use mesa::model::CompanyRecord;
    use mesa::ports::CustomerStore;
    let h = harness();
    h.register("ana@bajio.com.mx", "").await;
    h.store
        .upsert_company(&CompanyRecord {
            company: "Comercializadora del Bajío".into(),
            periods: Vec::new(),
            terms: serde_json::json!({"response_hours": [0, "una", "dos", "tres", "cuatro"]})
                .as_object()
                .cloned()
                .unwrap(),
        })
        .await
        .unwrap();
    let s = h.submit("El reporte de asistencias sale vacío.").await;
    assert!(s.ticket.terms.is_empty(), "{:?}", s.ticket.terms);
    assert_eq!(
        s.ticket.subscription.as_ref().map(|s| s.status()),
        Some("no_periods_on_record")
    );
    assert!(s.ticket.next_due.is_some());
    assert_eq!(h.metrics.count_of("CustomerTermsRejected"), 1);
}
