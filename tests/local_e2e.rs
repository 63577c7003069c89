//! The whole help desk on one machine, end to end: the real `mesa serve` over HTTP, the
//! real CLI, SQLite on disk and the outbox maildir.

use std::time::{Duration, Instant};

use mesa_tests::*;
use serde_json::{Value, json};

fn data_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

fn form_fields<'a>(token: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form_token", token),
        ("website", ""),
        ("company", "Comercializadora del Bajío"),
        ("contact_name", "Ana Pérez López"),
        ("email", email),
        ("phone", "+52 442 123 4567"),
        ("support_type", "falla_lectores"),
        (
            "description",
            "Desde hoy algunos lectores de la planta 2 no registran las entradas.",
        ),
        ("impact_scope", "several"),
        ("operation_continues", "si"),
        ("workaround", "no"),
    ]
}

fn api_ticket(email: &str, key: &str) -> Value {
    json!({
        "company": "Grupo Norte",
        "contact_name": "Luis Gómez",
        "email": email,
        "phone": "81 1234 5678",
        "support_type": "falla_servicio",
        "description": "El servicio está caído por completo, no opera ningún equipo biométrico.",
        "idempotency_key": key,
    })
}

#[test]
fn a_form_submission_becomes_a_ticket_and_an_ack_with_folio_and_deadline() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let token = server.form_token();
    // Sent at once: a bot, not a person. Nothing is created.
    let (status, html) = server.post_form(&form_fields(&token, "ana@bajio.com.mx"), &[]);
    assert_eq!(status, 422);
    assert!(html.contains("demasiado rápido"), "{html}");
    assert!(
        html.contains("Comercializadora del Bajío"),
        "typed values are kept"
    );
    std::thread::sleep(Duration::from_millis(3100));
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    let (status, html) = server.post_form(
        &form_fields(&token, "ana@bajio.com.mx"),
        &[("../../pantalla.png", png)],
    );
    assert_eq!(status, 201, "{html}");
    assert!(html.contains("ING-"), "{html}");
    let folio_start = html.find("ING-").unwrap();
    let folio = &html[folio_start..folio_start + 15];
    assert!(html.contains("Severidad provisional:</strong> 2"), "{html}");
    assert!(html.contains("hora de la Ciudad de México"), "{html}");

    let mails = wait_for_outbox(&data, "the acknowledgement", |m| !m.is_empty());
    assert_eq!(mails.len(), 1);
    let ack = &mails[0];
    assert_eq!(ack.to, "ana@bajio.com.mx");
    assert!(
        ack.subject.starts_with(&format!("[{folio}]")),
        "{}",
        ack.subject
    );
    assert_eq!(ack.auto_submitted.as_deref(), Some("auto-replied"));
    assert!(ack.text.contains(folio));
    assert!(
        ack.text.contains("Tiempo máximo de respuesta:"),
        "{}",
        ack.text
    );
    assert!(
        ack.text.contains("Severidad 1 (6 h)") && ack.text.contains("Severidad 4 (36 h)"),
        "{}",
        ack.text
    );
    assert!(ack.text.contains("lunes a viernes de 09:00 a 18:00"));
    assert!(ack.text.contains("software de terceros"));
    assert!(
        ack.text.contains("pantalla.png"),
        "attachment listed by its clean name: {}",
        ack.text
    );

    // The same form again (double click, retried request): the same ticket, no second ack.
    let (status, again) = server.post_form(&form_fields(&token, "ana@bajio.com.mx"), &[]);
    assert_eq!(status, 200, "{again}");
    assert!(again.contains(folio));
    // The ack is recorded on the ticket right after it is written to the maildir.
    wait_for_acknowledgement(&data, folio);
    let detail = show(&data, folio);
    assert_eq!(
        detail["ticket"]["attachments"][0]["filename"],
        "pantalla.png"
    );
    assert!(
        detail["ticket"]["attachments"][0]["key"]
            .as_str()
            .unwrap()
            .starts_with("attachments/")
    );
    assert!(
        detail["ticket"]["acknowledged_at"].is_string(),
        "the ack is recorded on the ticket"
    );
    assert_eq!(outbox(&data).len(), 1);
    assert_eq!(tickets(&data).len(), 1);
}

#[test]
fn the_json_api_answers_with_folio_and_milestones_and_field_errors() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    // On one machine there is no gateway limit: files go with the form, not ahead of it.
    let (status, body) = server.post_json(
        "/uploads",
        &json!({"filename": "foto.png", "size": 6_000_000}),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("con el formulario")
    );
    let (status, body) = server.post_json("/tickets", &api_ticket("luis@norte.mx", "k-1"));
    assert_eq!(status, 201, "{body}");
    assert!(body["folio"].as_str().unwrap().starts_with("ING-"));
    assert_eq!(body["severity"], 1);
    let names: Vec<&str> = body["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["acknowledgement", "response", "recovery", "root_cause"]
    );
    assert!(
        body["milestones"][1]["due_local"]
            .as_str()
            .unwrap()
            .ends_with("-06:00")
    );
    let (status, same) = server.post_json("/tickets", &api_ticket("luis@norte.mx", "k-1"));
    assert_eq!(status, 200);
    assert_eq!(same["folio"], body["folio"]);

    let (status, errors) = server.post_json(
        "/tickets",
        &json!({"company": "", "contact_name": "Luis", "email": "luis@", "phone": "12", "support_type": "x", "description": "corto"}),
    );
    assert_eq!(status, 422);
    for field in [
        "company",
        "contact_name",
        "email",
        "phone",
        "support_type",
        "description",
    ] {
        assert!(errors["errors"][field].is_string(), "{field}: {errors}");
    }
    let (status, bad) = server.post_raw("/tickets", "application/json", b"{not json".to_vec(), &[]);
    assert_eq!(status, 422, "{bad}");
    let (status, _) = server.post_raw("/tickets", "text/plain", b"hola".to_vec(), &[]);
    assert_eq!(status, 415);
    assert_eq!(tickets(&data).len(), 1, "no bad input created anything");
}

#[test]
fn fifty_concurrent_submissions_get_fifty_distinct_gapless_folios() {
    let (_dir, data) = data_dir();
    let server = std::sync::Arc::new(Server::start(&data));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let server = server.clone();
            std::thread::spawn(move || {
                let (status, body) = server.post_json(
                    "/tickets",
                    &api_ticket(&format!("c{i}@norte.mx"), &format!("key-{i}")),
                );
                assert_eq!(status, 201, "{body}");
                body["folio"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let mut folios: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    folios.sort();
    let year = &folios[0][4..8];
    let expected: Vec<String> = (1..=50).map(|n| format!("ING-{year}-{n:06}")).collect();
    assert_eq!(folios, expected);
    wait_for_outbox(&data, "50 acknowledgements", |m| m.len() == 50);
}

const REPLY_TAIL: &str = "\n\nGracias.\n";

#[test]
fn e_mail_intake_threading_duplicates_and_automatic_mail() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let first = intake(
        &data,
        "first",
        "From: Luis Gómez <luis@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Lectores sin registrar\nMessage-ID: <first@norte.mx>\n\nAlgunos lectores no registran las checadas.\n",
        None,
    );
    assert_eq!(first["outcome"], "created", "{first}");
    let folio = first["folio"].as_str().unwrap().to_string();
    // The same message delivered again: one ticket, one ack.
    let again = intake(
        &data,
        "again",
        "From: Luis Gómez <luis@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Lectores sin registrar\nMessage-ID: <first@norte.mx>\n\nAlgunos lectores no registran las checadas.\n",
        None,
    );
    assert_eq!(again["outcome"], "duplicate");
    assert_eq!(again["folio"], folio.as_str());
    let mails = wait_for_outbox(&data, "the ack", |m| m.len() == 1);
    let ack = &mails[0];
    assert_eq!(ack.in_reply_to.as_deref(), Some("<first@norte.mx>"));
    assert!(
        ack.text.contains("Nombre de la empresa"),
        "missing fields are asked for: {}",
        ack.text
    );

    // A reply to our ack (In-Reply-To) from a colleague at the same company is appended.
    let reply = intake(
        &data,
        "reply",
        &format!(
            "From: Marta Ruiz <marta@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Re: algo\nMessage-ID: <reply@norte.mx>\nIn-Reply-To: {}\n\nSon los lectores 3 y 4.{REPLY_TAIL}",
            ack.message_id
        ),
        None,
    );
    assert_eq!(reply["outcome"], "appended", "{reply}");
    assert_eq!(reply["folio"], folio.as_str());
    // A reply with only the folio tag in the subject is appended too.
    let tagged = intake(
        &data,
        "tagged",
        &format!(
            "From: luis@norte.mx\nTo: zendesk@ingressio.com\nSubject: Re: [{folio}] Lectores\nMessage-ID: <tagged@norte.mx>\n\nSigue igual.\n"
        ),
        None,
    );
    assert_eq!(tagged["outcome"], "appended", "{tagged}");
    // The folio tag from an unrelated sender is not merged: a new ticket, said so.
    let stranger = intake(
        &data,
        "stranger",
        &format!(
            "From: pedro@otra-empresa.mx\nTo: zendesk@ingressio.com\nSubject: Re: [{folio}] Lectores\nMessage-ID: <stranger@otra.mx>\n\nTambién nos pasa.\n"
        ),
        None,
    );
    assert_eq!(stranger["outcome"], "created", "{stranger}");
    assert_ne!(stranger["folio"], folio.as_str());
    assert!(
        stranger["reason"]
            .as_str()
            .unwrap()
            .contains("not its contact"),
        "{stranger}"
    );

    // Auto-replies and bounces create nothing and get no ack.
    let auto = intake(
        &data,
        "auto",
        "From: luis@norte.mx\nTo: zendesk@ingressio.com\nSubject: Fuera de la oficina\nAuto-Submitted: auto-replied\nMessage-ID: <auto@norte.mx>\n\nRegreso el lunes.\n",
        None,
    );
    assert_eq!(auto["outcome"], "ignored");
    let bounce = intake(
        &data,
        "bounce",
        "From: MAILER-DAEMON@mx.norte.mx\nTo: zendesk@ingressio.com\nSubject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\nMessage-ID: <bounce@mx.norte.mx>\n\n--b\nContent-Type: text/plain\n\nDelivery failed.\n--b--\n",
        None,
    );
    assert_eq!(bounce["outcome"], "ignored");
    let own = intake(
        &data,
        "own",
        "From: zendesk@ingressio.com\nTo: zendesk@ingressio.com\nSubject: eco\nMessage-ID: <own@ingressio.com>\n\neco\n",
        None,
    );
    assert_eq!(own["outcome"], "ignored");
    // A malformed message is quarantined, kept whole.
    let broken = intake(&data, "broken", "esto no es un correo", None);
    assert_eq!(broken["outcome"], "quarantined");
    assert!(data.join("blobs").join("inbound").exists());

    let all = tickets(&data);
    assert_eq!(all.len(), 2, "the first ticket and the stranger's");
    let detail = show(&data, &folio);
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "customer_replied").count(),
        2,
        "{kinds:?}"
    );
    wait_for_outbox(&data, "the two tickets' acknowledgements", |m| m.len() >= 2);
    // And nothing more a moment later: the replies are not acknowledged.
    std::thread::sleep(Duration::from_millis(1500));
    let mails = outbox(&data);
    assert_eq!(
        mails.len(),
        2,
        "acks only for the two tickets: {:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    drop(server);
}

#[test]
fn a_crash_between_write_and_send_still_gives_exactly_one_ack() {
    let (_dir, data) = data_dir();
    // Start once so the data directory exists, then stop.
    Server::start(&data).crash();
    // The ticket and its pending ack are written, and nothing sends it: the state a crash
    // right after the write leaves behind.
    let created = intake(
        &data,
        "m",
        "From: ana@bajio.com.mx\nTo: zendesk@ingressio.com\nSubject: Lentitud\nMessage-ID: <slow@bajio.com.mx>\n\nEl sistema está lento pero la operación continúa.\n",
        None,
    );
    assert_eq!(created["outcome"], "created");
    assert!(outbox(&data).is_empty());
    let server = Server::start(&data);
    wait_for_outbox(&data, "the ack after restart", |m| m.len() == 1);
    // Stopped, not killed: a crash between the send and its record may repeat the mail a
    // lease later (by design: a repeat rather than an acknowledgement that went out
    // unrecorded), which is not what this restart is about.
    server.stop();
    let server = Server::start(&data);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        outbox(&data).len(),
        1,
        "no second ack after another restart"
    );
    drop(server);

    // Without any server, the sweep re-drives mail still unsent after two minutes.
    let created = intake(
        &data,
        "n",
        "From: ana@bajio.com.mx\nTo: zendesk@ingressio.com\nSubject: Otra\nMessage-ID: <other@bajio.com.mx>\n\nError de documentación en el manual.\n",
        None,
    );
    assert_eq!(created["outcome"], "created");
    let now = chrono::Utc::now();
    let early = mesa_json(&[
        "sweep",
        "--data",
        data.to_str().unwrap(),
        "--now",
        &(now + chrono::Duration::seconds(30)).to_rfc3339(),
    ]);
    assert_eq!(early["redriven"], 0);
    let late = mesa_json(&[
        "sweep",
        "--data",
        data.to_str().unwrap(),
        "--now",
        &(now + chrono::Duration::minutes(3)).to_rfc3339(),
    ]);
    assert_eq!(late["redriven"], 1, "{late}");
    assert_eq!(outbox(&data).len(), 2);
}

#[test]
fn staff_take_a_ticket_from_received_to_closed_and_the_survey_is_recorded() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let (_, created) = server.post_json("/tickets", &api_ticket("luis@norte.mx", "flow"));
    let folio = created["folio"].as_str().unwrap().to_string();
    let act = |body: Value| {
        server.staff(
            "POST",
            &format!("/tickets/{folio}/actions"),
            Some(&body.to_string()),
        )
    };

    // Illegal steps are refused and change nothing.
    let (status, err) = act(json!({"action": "escalate", "note": "R&D"}));
    assert_eq!(status, 409, "{err}");
    let (status, _) = act(json!({"action": "close"}));
    assert_eq!(status, 409);
    let (status, err) = act(json!({"action": "fly"}));
    assert_eq!(status, 422, "{err}");

    let steps = [
        json!({"action": "set_severity", "severity": 2, "reason": "Sólo la planta 2 está afectada."}),
        json!({"action": "diagnose", "summary": "El servidor local del cliente se quedó sin espacio.", "cause": "infrastructure"}),
        json!({"action": "escalate", "note": "Revisar la sincronización"}),
        json!({"action": "reply", "message": "Estamos revisando su caso."}),
        json!({"action": "wait", "note": "Esperamos las bitácoras del cliente"}),
        json!({"action": "resume", "note": "Llegaron las bitácoras"}),
        json!({"action": "log_work", "minutes": 90, "note": "Limpieza del disco"}),
        json!({"action": "answer", "message": "Liberamos espacio; los lectores ya sincronizan."}),
        json!({"action": "close", "note": "Resuelto"}),
    ];
    for step in steps {
        let (status, body) = act(step.clone());
        assert_eq!(status, 200, "{step}: {body}");
    }
    let (_, detail) = server.staff("GET", &format!("/tickets/{folio}"), None);
    assert_eq!(detail["ticket"]["stage"], "closed");
    assert_eq!(detail["ticket"]["severity"], 2);
    assert_eq!(detail["ticket"]["assessment"]["billable"], true);
    assert_eq!(detail["quote"]["subtotal_cents"], 6500 + 4500);
    assert_eq!(detail["quote"]["total_cents"], 12760);
    let actors: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&"staff:luisa"));
    let response = detail["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "response")
        .unwrap();
    assert_eq!(response["state"], "met");

    let mails = wait_for_outbox(
        &data,
        "ack, severity, reply, waiting, answer and survey",
        |m| m.len() == 6,
    );
    // Waiting on the customer says what is needed from them.
    assert!(
        mails
            .iter()
            .any(|m| m.text.contains("Esperamos las bitácoras del cliente"))
    );
    // The customer is told the confirmed severity, why, and its deadlines in local time.
    let severity: Vec<_> = mails
        .iter()
        .filter(|m| m.subject.contains("Severidad 2 confirmada"))
        .collect();
    assert_eq!(severity.len(), 1, "one severity mail");
    assert!(severity[0].text.contains("Sólo la planta 2 está afectada."));
    assert!(
        severity[0].text.contains("Respuesta: ")
            && severity[0].text.contains("hora de la Ciudad de México"),
        "{}",
        severity[0].text
    );
    let survey = mails
        .iter()
        .find(|m| m.subject.contains("satisfecho"))
        .expect("the survey mail");
    let url_start = survey.text.find(&server.base).expect("survey link");
    let url: String = survey.text[url_start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let path = &url[server.base.len()..];
    let (status, page) = server.get(path);
    assert_eq!(status, 200);
    assert!(page.contains(&folio));
    let (status, _) = server.post_raw(
        path,
        "application/x-www-form-urlencoded",
        b"satisfied=si&comment=Excelente+servicio".to_vec(),
        &[],
    );
    assert_eq!(status, 200);
    let (status, page) = server.post_raw(
        path,
        "application/x-www-form-urlencoded",
        b"satisfied=no&comment=Sigue+fallando".to_vec(),
        &[],
    );
    assert_eq!(status, 409, "a survey is answered once");
    // The customer who changed their mind is told how to be heard.
    assert!(
        page.contains("responda al correo de cierre de su ticket y reabriremos el seguimiento"),
        "{page}"
    );
    let (status, _) = server.get("/csat/forged.token");
    assert_eq!(status, 404);
    let (_, detail) = server.staff("GET", &format!("/tickets/{folio}"), None);
    assert_eq!(detail["ticket"]["satisfaction"]["satisfied"], true);
    assert_eq!(
        detail["ticket"]["satisfaction"]["comment"],
        "Excelente servicio"
    );
    assert_eq!(detail["ticket"]["stage"], "closed");
}

/// The path of the survey link in the satisfaction mail, once it is sent.
fn survey_path(data: &std::path::Path) -> String {
    let mails = wait_for_outbox(data, "the survey", |m| {
        m.iter().any(|m| m.subject.contains("satisfecho"))
    });
    let survey = mails
        .iter()
        .find(|m| m.subject.contains("satisfecho"))
        .unwrap();
    let start = survey.text.find("/csat/").unwrap();
    survey.text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Staff diagnose, answer (with `answer`) and close `folio`; the customer answers the
/// closing's survey with the form fields `survey`.
fn close_and_answer_survey(
    server: &Server,
    data: &std::path::Path,
    folio: &str,
    answer: &str,
    survey: &[u8],
) {
    for step in [
        json!({"action": "diagnose", "summary": "Falla del servicio", "cause": "software_defect"}),
        json!({"action": "answer", "message": answer}),
        json!({"action": "close"}),
    ] {
        let (status, body) = server.staff(
            "POST",
            &format!("/tickets/{folio}/actions"),
            Some(&step.to_string()),
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = server.post_raw(
        &survey_path(data),
        "application/x-www-form-urlencoded",
        survey.to_vec(),
        &[],
    );
    assert_eq!(status, 200);
}

#[test]
fn an_unhappy_customer_reopens_the_ticket() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let (_, created) = server.post_json("/tickets", &api_ticket("luis@norte.mx", "unhappy"));
    let folio = created["folio"].as_str().unwrap().to_string();
    close_and_answer_survey(
        &server,
        &data,
        &folio,
        "Reiniciamos el servicio.",
        b"satisfied=no&comment=Sigue+fallando",
    );
    let (_, detail) = server.staff("GET", &format!("/tickets/{folio}"), None);
    assert_eq!(detail["ticket"]["stage"], "reopened");
    assert_eq!(detail["ticket"]["satisfaction"]["satisfied"], false);
}

#[test]
fn the_sweep_records_one_breach_however_often_it_runs() {
    let (_dir, data) = data_dir();
    Server::start(&data).crash();
    // Received Monday 2026-11-02 10:00 Mexico City, severity 1: response due 16:00.
    let created = intake(
        &data,
        "late",
        "From: luis@norte.mx\nTo: zendesk@ingressio.com\nSubject: Caído\nMessage-ID: <late@norte.mx>\n\nEl sistema está caído, no opera ningún equipo.\n",
        Some("2026-11-02T10:00:00-06:00"),
    );
    let folio = created["folio"].as_str().unwrap().to_string();
    let sweep = |now: &str| mesa_json(&["sweep", "--data", data.to_str().unwrap(), "--now", now]);
    // 14:45: past 75 % of the 6 business hours: one warning.
    let at_risk = sweep("2026-11-02T14:45:00-06:00");
    assert!(at_risk["warnings"].as_u64().unwrap() >= 1, "{at_risk}");
    let first = sweep("2026-11-02T16:30:00-06:00");
    assert!(first["breaches"].as_u64().unwrap() >= 1, "{first}");
    let second = sweep("2026-11-02T16:31:00-06:00");
    assert_eq!(second["breaches"], 0, "{second}");
    sweep("2026-11-02T17:00:00-06:00");
    let detail = show(&data, &folio);
    let breaches: Vec<&Value> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "sla_breached" && e["milestone"] == "response")
        .collect();
    assert_eq!(breaches.len(), 1, "{detail}");
    assert_eq!(breaches[0]["due"], "2026-11-02T22:00:00Z");
    let warnings = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "sla_warning" && e["milestone"] == "response")
        .count();
    assert_eq!(warnings, 1);
    // The queue shows it breached.
    let queue = mesa_json(&[
        "tickets",
        "list",
        "--queue",
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    let response = queue[0]["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "response")
        .unwrap()
        .clone();
    assert_eq!(response["state"], "breached");
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let (_, created) = server.post_json("/tickets", &api_ticket("luis@norte.mx", "base"));
    let folio = created["folio"].as_str().unwrap().to_string();
    // Let the worker send and record the ack first, so the count below is stable.
    wait_for_acknowledgement(&data, &folio);
    let events_before = show(&data, &folio)["events"].as_array().unwrap().len();

    // Staff API without or with a wrong token.
    let (status, _) = server.post_raw(
        &format!("/staff/tickets/{folio}/actions"),
        "application/json",
        br#"{"action":"close"}"#.to_vec(),
        &[],
    );
    assert_eq!(status, 401);
    let (status, _) = server.post_raw(
        &format!("/staff/tickets/{folio}/actions"),
        "application/json",
        br#"{"action":"close"}"#.to_vec(),
        &[("Authorization", "Bearer wrong")],
    );
    assert_eq!(status, 401);
    // Unknown folio.
    let (status, body) = server.staff("GET", "/tickets/ING-2026-999999", None);
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.staff(
        "POST",
        "/tickets/not-a-folio/actions",
        Some(r#"{"action":"reopen","reason":"x"}"#),
    );
    assert_eq!(status, 404);
    // Invalid fields of a valid action.
    let (status, body) = server.staff(
        "POST",
        &format!("/tickets/{folio}/actions"),
        Some(r#"{"action":"log_work","minutes":0}"#),
    );
    assert_eq!(status, 422, "{body}");
    let (status, body) = server.staff(
        "POST",
        &format!("/tickets/{folio}/actions"),
        Some(r#"{"action":"set_severity","severity":7,"reason":"x"}"#),
    );
    assert_eq!(status, 422, "{body}");
    // An oversized attachment and a disguised executable.
    let token = server.form_token();
    std::thread::sleep(Duration::from_millis(3100));
    let big = vec![b'a'; 11 * 1024 * 1024];
    let (status, html) = server.post_form(
        &form_fields(&token, "ana@bajio.com.mx"),
        &[("bitacora.txt", &big)],
    );
    assert_eq!(status, 422, "{}", &html[..html.len().min(300)]);
    assert!(html.contains("pesa más de 10 MB"));
    let (status, html) = server.post_form(
        &form_fields(&token, "ana@bajio.com.mx"),
        &[("foto.png", b"MZ\x90\x00\x03\x00\x00\x00")],
    );
    assert_eq!(status, 422);
    assert!(html.contains("no es de un tipo aceptado"));
    // Honeypot.
    let mut fields = form_fields(&token, "ana@bajio.com.mx");
    fields[1] = ("website", "http://spam.example");
    let (status, _) = server.post_form(&fields, &[]);
    assert_eq!(status, 422);
    // A forged form token.
    let (status, html) = server.post_form(&form_fields("1.abc.def", "ana@bajio.com.mx"), &[]);
    assert_eq!(status, 422);
    assert!(html.contains("recargue la página"));
    // An oversized raw e-mail through the staff endpoint is refused before parsing.
    let huge = vec![b'x'; 26 * 1024 * 1024];
    let (status, _) = server.post_raw(
        "/staff/inbound-email",
        "message/rfc822",
        huge,
        &[("Authorization", &format!("Bearer {STAFF_TOKEN}"))],
    );
    assert_eq!(status, 413);

    assert_eq!(tickets(&data).len(), 1);
    assert_eq!(
        show(&data, &folio)["events"].as_array().unwrap().len(),
        events_before
    );
    // The CLI says what is wrong too.
    let out = mesa(&[
        "tickets",
        "show",
        "ING-2026-999999",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ticket with folio ING-2026-999999"));
    let out = mesa(&["tickets", "list", "--data", "/nonexistent/mesa"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no mesa data"));
}

/// A mail gateway or script that sends its whole body before reading the answer (as ureq,
/// used here, and Python's `http.client` do) must read the refusal, not a reset connection:
/// a gateway that never sees its 413 retries forever instead of bouncing the mail.
#[test]
fn a_client_that_sends_its_whole_body_first_reads_the_refusal() {
    use std::io::{Read as _, Write as _};

    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let oversized = vec![b'x'; 26 * 1024 * 1024];
    let bearer = format!("Bearer {STAFF_TOKEN}");
    for _ in 0..3 {
        // Refused before a byte of the body is read.
        let (status, _) = server.post_raw(
            "/staff/inbound-email",
            "message/rfc822",
            oversized.clone(),
            &[],
        );
        assert_eq!(status, 401);
        // Refused after most of it is read.
        let (status, _) = server.post_raw(
            "/staff/inbound-email",
            "message/rfc822",
            oversized.clone(),
            &[("Authorization", &bearer)],
        );
        assert_eq!(status, 413);
    }

    // A client that asks `Expect: 100-continue` is refused without sending its body at all.
    let address = server.base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(address).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "POST /staff/inbound-email HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: message/rfc822\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        oversized.len()
    )
    .unwrap();
    let mut answer = [0u8; 64];
    let n = conn
        .read(&mut answer)
        .expect("an answer without sending the body");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    assert!(tickets(&data).is_empty());
}

#[test]
fn customers_import_verifies_senders_and_rejects_bad_rows() {
    let (dir, data) = data_dir();
    Server::start(&data).crash();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "company,email,domain,contact_name,phone\nBajío,ana@bajio.com.mx,,Ana Pérez,4421234567\n,x@y.mx,,,\nNorte,,gmail.com,,\n").unwrap();
    let out = mesa(&[
        "customers",
        "import",
        bad.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("line 4") && err.contains("nothing imported"),
        "{err}"
    );
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "company,email,domain,contact_name,phone\nBajío,ana@bajio.com.mx,,Ana Pérez López,4421234567\nGrupo Norte,,norte.mx,,8112345678\n").unwrap();
    let imported = mesa_json(&[
        "customers",
        "import",
        good.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(imported["imported"], 2);
    let known = intake(
        &data,
        "known",
        "From: luis@norte.mx\nTo: zendesk@ingressio.com\nSubject: Duda\nMessage-ID: <known@norte.mx>\n\n¿Cómo puedo exportar el reporte?\n",
        None,
    );
    assert_eq!(known["outcome"], "created");
    let detail = show(&data, known["folio"].as_str().unwrap());
    assert_eq!(detail["ticket"]["verified"], true);
    assert_eq!(detail["ticket"]["customer"]["company"], "Grupo Norte");
    assert_eq!(detail["ticket"]["severity"], 4);
    let unknown = intake(
        &data,
        "unknown",
        "From: alguien@desconocido.mx\nTo: zendesk@ingressio.com\nSubject: Hola\nMessage-ID: <u@desconocido.mx>\n\nNo funciona nada.\n",
        None,
    );
    assert_eq!(unknown["outcome"], "created");
    assert_eq!(
        show(&data, unknown["folio"].as_str().unwrap())["ticket"]["verified"],
        false
    );
}

#[test]
fn every_ticket_is_acknowledged_past_the_hourly_limit_and_headers_stay_clean() {
    let (_dir, data) = data_dir();
    Server::start(&data).crash();
    let d = data.to_str().unwrap();
    // Seven genuine tickets in an hour from one address: the first five are acknowledged at
    // once, the others together in one digest at the end of the 15-minute period.
    for i in 0..7 {
        let r = intake(
            &data,
            &format!("planta{i}"),
            &format!(
                "From: ana@fabrica.mx\nTo: zendesk@ingressio.com\nSubject: Lector {i}\nMessage-ID: <caso{i}@fabrica.mx>\n\nEl lector {i} de la planta no registra.\n"
            ),
            Some(&format!("2026-11-10T16:0{i}:00Z")),
        );
        assert_eq!(r["outcome"], "created");
    }
    let first = mesa_json(&[
        "outbox",
        "deliver",
        "--data",
        d,
        "--now",
        "2026-11-10T16:07:00Z",
    ]);
    assert_eq!(first["sent"], 5, "{first}");
    let later = mesa_json(&[
        "outbox",
        "deliver",
        "--data",
        d,
        "--now",
        "2026-11-10T16:15:00Z",
    ]);
    assert_eq!(later["sent"], 2, "both held acknowledgements: {later}");
    let mails = outbox(&data);
    let to_ana: Vec<_> = mails.iter().filter(|m| m.to == "ana@fabrica.mx").collect();
    assert_eq!(to_ana.len(), 6, "five acknowledgements and one digest");
    let digest = to_ana
        .iter()
        .find(|m| m.subject.contains("ING-2026-000006") && m.subject.contains("ING-2026-000007"))
        .expect("one digest naming both folios");
    assert!(digest.text.contains("Tiempo máximo de respuesta"));
    let sweep = mesa_json(&["sweep", "--data", d, "--now", "2026-11-10T16:30:00Z"]);
    assert_eq!(sweep["breaches"], 0, "no acknowledgement breached: {sweep}");

    // A subject whose encoded word hides CR LF and a Bcc header.
    let sneaky = intake(
        &data,
        "sneaky",
        "From: ana@bajio.com.mx\nTo: zendesk@ingressio.com\nSubject: =?utf-8?b?SG9sYQ0KQmNjOiB2aWN0aW1hQGV4YW1wbGUuY29t?=\nMessage-ID: <sneaky@bajio.com.mx>\n\nAlgunos lectores fallan.\n",
        None,
    );
    assert_eq!(sneaky["outcome"], "created");
    let sent = mesa_json(&["outbox", "deliver", "--data", d]);
    assert_eq!(sent["sent"], 1, "{sent}");
    let mails = outbox(&data);
    let ack = mails.iter().find(|m| m.to == "ana@bajio.com.mx").unwrap();
    let raw = std::fs::read_to_string(&ack.file).unwrap();
    assert!(!raw.to_ascii_lowercase().contains("\nbcc:"), "{raw}");
    assert!(
        ack.subject.contains("Hola Bcc: victima@example.com"),
        "folded into one line: {}",
        ack.subject
    );
}

#[test]
fn the_queue_is_in_the_contracts_priority_order() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let ticket = |key: &str, description: &str| {
        let mut body = api_ticket(&format!("{key}@norte.mx"), key);
        body["support_type"] = json!("asistencia");
        body["description"] = json!(description);
        let (status, created) = server.post_json("/tickets", &body);
        assert_eq!(status, 201, "{created}");
        created["folio"].as_str().unwrap().to_string()
    };
    let doc = ticket("a", "Error de documentación en el manual del lector.");
    let slow = ticket("b", "El sistema está lento pero la operación continúa.");
    let down = ticket(
        "c",
        "El sistema está caído: no opera ningún equipo biométrico.",
    );
    let some = ticket("d", "Falla persistente con algunos lectores de la planta.");
    let slow2 = ticket("e", "Lentitud al generar reportes, la operación continúa.");
    // Within a severity the nearest deadline leads, and a ticket not yet acknowledged has
    // its 15-minute clock running: the order below is the one once every acknowledgement
    // is out, as it is seconds after intake.
    for folio in [&doc, &slow, &down, &some, &slow2] {
        wait_for_acknowledgement(&data, folio);
    }
    let (status, queue) = server.staff("GET", "/queue", None);
    assert_eq!(status, 200);
    let order: Vec<String> = queue["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["ticket"]["folio"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, [down, some, slow, slow2, doc]);
}

/// Contract: "se tomará la fecha y hora en la que EL CLIENTE envíe correo electrónico". A
/// mail written at 09:00 Mexico City that reaches mesa at 10:00: the response clock runs
/// from 09:00, the acknowledgement's 15 minutes from 10:00, and the ticket says why.
#[test]
fn an_emails_clocks_start_at_its_date_and_its_acknowledgement_at_its_receipt() {
    let (_dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let r = intake(
        &data,
        "dated",
        "From: ana@fabrica.mx\nTo: zendesk@ingressio.com\nSubject: Checadores\nDate: Tue, 10 Nov 2026 09:00:00 -0600\nMessage-ID: <dated@fabrica.mx>\n\nNingun checador funciona en toda la empresa, nadie ha podido checar.\n",
        Some("2026-11-10T16:00:00Z"),
    );
    assert_eq!(r["outcome"], "created", "{r}");
    let folio = r["folio"].as_str().unwrap();
    let shown = show(&data, folio);
    let ticket = &shown["ticket"];
    assert_eq!(ticket["received_at"], "2026-11-10T15:00:00Z", "{shown}");
    assert_eq!(ticket["arrived_at"], "2026-11-10T16:00:00Z");
    assert_eq!(ticket["clock_start"]["from"], "date_header");
    let clock = |name: &str| {
        shown["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} clock in {shown}"))
    };
    assert_eq!(clock("response")["started_at"], "2026-11-10T15:00:00Z");
    assert_eq!(clock("acknowledgement")["due"], "2026-11-10T16:15:00Z");
    let sent = mesa_json(&[
        "outbox",
        "deliver",
        "--data",
        d,
        "--now",
        "2026-11-10T16:10:00Z",
    ]);
    assert_eq!(sent["sent"], 1, "{sent}");
    let sweep = mesa_json(&["sweep", "--data", d, "--now", "2026-11-10T16:40:00Z"]);
    assert_eq!(
        sweep["breaches"], 0,
        "acknowledged 10 minutes after arrival: {sweep}"
    );
}

/// October 2026 generated (120 tickets), read back on Monday 10 November.
async fn generated_october() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, data) = data_dir();
    let horizon = chrono::DateTime::parse_from_rfc3339("2026-11-10T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let g = mesa_tests::generate::generate_month(&data, "2026-10", 120, 7, horizon)
        .await
        .unwrap();
    assert!(g.refused.is_empty(), "the desk refused: {:#?}", g.refused);
    (dir, data)
}

#[tokio::test]
async fn a_generated_month_gives_statistics_and_a_customers_report_with_real_charts() {
    let (dir, data) = generated_october().await;
    let d = data.to_str().unwrap();

    let stats = mesa_json(&[
        "stats",
        "--data",
        d,
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--format",
        "json",
    ]);
    assert_eq!(stats["overall"]["received"], 120, "{stats:#}");
    let by_severity: u64 = stats["by_severity"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| f["received"].as_u64().unwrap())
        .sum();
    assert_eq!(by_severity, 120);
    let customers = stats["by_customer"].as_array().unwrap();
    assert_eq!(customers.len(), 6, "{customers:#?}");
    let ack = stats["overall"]["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["milestone"] == "acknowledgement")
        .unwrap();
    assert_eq!(
        ack["time"]["count"], 120,
        "every ticket acknowledged: {ack}"
    );
    assert!(
        ack["breached"].as_u64().unwrap() > 0,
        "some acknowledged late"
    );

    let table = mesa(&[
        "stats",
        "--data",
        d,
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
    ]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("Severidad 1") && table.contains("Definiciones"),
        "{table}"
    );
    let csv = mesa(&[
        "stats",
        "--data",
        d,
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--format",
        "csv",
    ]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(
        csv.starts_with("group,value,received,milestone,unit,count"),
        "{csv}"
    );

    // Closed tickets keep their clocks in the listing: met or breached, never lost.
    let closed = mesa_json(&[
        "tickets", "list", "--data", d, "--stage", "closed", "--json",
    ]);
    let closed = closed.as_array().unwrap();
    assert!(closed.len() > 50, "{}", closed.len());
    for t in closed {
        let ack = t["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "acknowledgement")
            .unwrap_or_else(|| panic!("no clocks on {}", t["folio"]));
        assert!(
            ["met", "breached"].contains(&ack["state"].as_str().unwrap()),
            "{ack}"
        );
    }

    let norte = customers
        .iter()
        .find(|c| c["customer"] == "Maquiladora del Norte")
        .unwrap();
    let out = dir.path().join("informe.html");
    let written = mesa_json(&[
        "report",
        "--data",
        d,
        "--month",
        "2026-10",
        "--customer",
        "norte.mx",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(written["customer"], "Maquiladora del Norte");
    assert_eq!(written["received"], norte["received"]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("octubre de 2026") && html.contains("Maquiladora del Norte"));
    assert!(
        !html.contains("Comercializadora del Bajío"),
        "only the customer's own tickets"
    );
    // Two charts drawn as SVG, with a bar per week (five weeks touch October 2026).
    assert_eq!(html.matches("<svg").count(), 2, "{html}");
    assert!(html.matches("<rect").count() >= 5 + 7, "{html}");
    assert!(html.contains("Cumplimiento por severidad") && html.contains("Definiciones"));
    let folios = html.matches("ING-2026-").count();
    assert!(
        folios as u64 >= norte["received"].as_u64().unwrap(),
        "every ticket of the month listed"
    );

    // An unknown month is refused with a reason.
    let bad = mesa(&[
        "report",
        "--data",
        d,
        "--month",
        "2026-13",
        "--customer",
        "norte.mx",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026-13"));
}

#[tokio::test]
async fn a_candidate_with_eight_hours_for_severity_2_moves_exactly_the_severity_2_responses() {
    let (dir, data) = generated_october().await;
    let d = data.to_str().unwrap();
    // The candidate: the shipped rules with S2's response time at 8 business hours.
    let candidate = dir.path().join("candidate");
    std::fs::create_dir_all(&candidate).unwrap();
    for entry in walk(&rules_dir()) {
        let rel = entry.strip_prefix(rules_dir()).unwrap();
        let to = candidate.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let mut bytes = std::fs::read(&entry).unwrap();
        if rel == std::path::Path::new("severity.rhai") {
            let text = String::from_utf8(bytes).unwrap();
            let twelve = "fn response_hours() { [0, 6, 12, 24, 36] }";
            assert!(text.contains(twelve));
            bytes = text
                .replace(twelve, "fn response_hours() { [0, 6, 8, 24, 36] }")
                .into_bytes();
        }
        std::fs::write(to, bytes).unwrap();
    }
    let stats = mesa_json(&[
        "stats",
        "--data",
        d,
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--format",
        "json",
    ]);
    let s2 = stats["by_severity"]["2"]["received"].as_u64().unwrap();
    assert!(s2 > 5, "the month has severity-2 tickets: {s2}");

    let out = mesa(&[
        "--rules",
        candidate.to_str().unwrap(),
        "rules",
        "replay",
        "--current",
        rules_dir().to_str().unwrap(),
        "--data",
        d,
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let differences = r["differences"].as_array().unwrap();
    for d in differences {
        assert_eq!(d["severity_before"], 2, "{d}");
        let moved: Vec<&str> = d["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["milestone"].as_str().unwrap())
            .collect();
        assert_eq!(moved, ["response"], "{d}");
        assert!(d["deadlines"][0]["after"].as_str() < d["deadlines"][0]["before"].as_str());
    }
    assert_eq!(
        differences.len() as u64,
        s2,
        "every severity-2 ticket, no other"
    );
    let response = r["compliance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["milestone"] == "response")
        .unwrap();
    assert!(
        response["met_after"].as_u64() < response["met_before"].as_u64(),
        "fewer responses in time with less time: {response}"
    );
    // The candidate's own vectors still say 12 hours: replay says so; nothing was written.
    assert!(String::from_utf8_lossy(&out.stderr).contains("vectors of the candidate fail"));
    let again = mesa_json(&[
        "stats",
        "--data",
        d,
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--format",
        "json",
    ]);
    assert_eq!(again["overall"], stats["overall"]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Hundreds of customers submitting at once, each retrying with its idempotency key until
/// answered (as a client that lost its connection should), while `mesa serve` is killed
/// (SIGKILL, no shutdown) in the middle of the load and started again on the same data:
/// every submission is answered, each is exactly one ticket (an answer given before the
/// kill survived it), and every ticket is acknowledged once.
#[test]
fn killed_under_load_it_loses_nothing_duplicates_nothing_and_acknowledges_every_ticket() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, RwLock};
    const CLIENTS: usize = 300;
    let (_dir, data) = data_dir();
    // One address for every client here: the per-address limit is not what is tested.
    let env = [("MESA_SUBMISSIONS_PER_MINUTE", "0")];
    let first = Server::start_with_env(&data, &env);
    let base = Arc::new(RwLock::new(first.base.clone()));
    let retries = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (base, retries) = (base.clone(), retries.clone());
            std::thread::spawn(move || {
                // Spread over about a second, so the kill falls in the middle.
                std::thread::sleep(Duration::from_millis(3 * i as u64));
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                let body = api_ticket(&format!("c{i}@norte.mx"), &format!("kill-{i}")).to_string();
                let started = Instant::now();
                loop {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "client {i} never answered"
                    );
                    let url = format!("{}/tickets", base.read().unwrap());
                    let answer = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(body.as_str());
                    if let Ok(mut r) = answer {
                        let status = r.status().as_u16();
                        let text = r.body_mut().read_to_string().unwrap_or_default();
                        if status == 201 || status == 200 {
                            let v: Value = serde_json::from_str(&text).unwrap();
                            return v["folio"].as_str().unwrap().to_string();
                        }
                        assert!(status >= 500, "client {i}: {status} {text}");
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    first.crash();
    let second = Server::start_with_env(&data, &env);
    *base.write().unwrap() = second.base.clone();
    let mut folios: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "the kill fell after the load: nothing was tested"
    );
    // Each client's answer is its own ticket; no submission made two.
    folios.sort();
    folios.dedup();
    assert_eq!(folios.len(), CLIENTS, "two clients were given one folio");
    let stored: Vec<String> = tickets(&data)
        .iter()
        .map(|t| t["folio"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored.len(), CLIENTS, "tickets stored");
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    assert_eq!(
        stored_sorted, folios,
        "every answered folio survived the kill"
    );
    // Every ticket acknowledged, each once (the maildir keeps one file per outbox item).
    // Acknowledgements the first server had claimed when it was killed wait out their
    // 60-second lease (well within the contract's 15 minutes), so the wait is longer.
    let acks = wait_for_outbox_within(
        &data,
        "every acknowledgement",
        Duration::from_secs(90),
        |m| m.len() >= CLIENTS,
    );
    let mut acknowledged: Vec<&str> = folios
        .iter()
        .filter(|f| acks.iter().any(|m| m.subject.contains(f.as_str())))
        .map(String::as_str)
        .collect();
    acknowledged.dedup();
    assert_eq!(acknowledged.len(), CLIENTS, "tickets acknowledged");
    assert_eq!(acks.len(), CLIENTS, "one acknowledgement each");
    drop(second);
}

/// Secrets never reach the logs: a whole run at the most verbose log level (a form with a
/// phone number, an e-mail signed with one, staff work through the API with the token, a
/// closing and its survey, a bad token and a bad password) leaves no staff token, no
/// signing key and no customer phone number in what `mesa serve` wrote.
#[test]
fn a_whole_run_at_debug_level_logs_no_token_no_key_and_no_phone_number() {
    let (_dir, data) = data_dir();
    let server = Server::start_with_env(&data, &[("MESA_LOG", "debug")]);
    let token = server.form_token();
    std::thread::sleep(Duration::from_millis(3100));
    let (status, _) = server.post_form(&form_fields(&token, "ana@bajio.com.mx"), &[]);
    assert_eq!(status, 201);
    let raw = "From: Luis Gómez <luis@norte.mx>\r\nTo: soporte@ingressio.com\r\n\
               Subject: Lectores sin registrar\r\nMessage-ID: <firma-1@norte.mx>\r\n\r\n\
               No registran los lectores de la planta.\r\n--\r\nLuis Gómez\r\nTel. 81 5555 0199\r\n";
    let (status, _) = server.post_raw(
        "/staff/inbound-email",
        "message/rfc822",
        raw.as_bytes().to_vec(),
        &[("Authorization", &format!("Bearer {STAFF_TOKEN}"))],
    );
    assert_eq!(status, 200);
    let (_, created) = server.post_json("/tickets", &api_ticket("c1@norte.mx", "logs-1"));
    let folio = created["folio"].as_str().unwrap().to_string();
    close_and_answer_survey(
        &server,
        &data,
        &folio,
        "Reiniciamos el servicio; llámenos al 81 1234 5678.",
        b"satisfied=si",
    );
    let path = survey_path(&data);
    // Refused attempts are logged too; their secrets must not be.
    let (status, _) = server.post_raw(
        "/staff/inbound-email",
        "message/rfc822",
        raw.as_bytes().to_vec(),
        &[("Authorization", "Bearer not-the-token-but-close")],
    );
    assert_eq!(status, 401);
    drop(server);

    let log = std::fs::read_to_string(data.with_extension("serve.log")).unwrap();
    assert!(
        log.len() > 1000,
        "the debug log is there: {} bytes",
        log.len()
    );
    let key = std::fs::read_to_string(data.join("secret.key")).unwrap();
    let survey_token = path.trim_start_matches("/csat/");
    for (what, secret) in [
        ("the staff token", STAFF_TOKEN),
        ("a wrong bearer token", "not-the-token-but-close"),
        ("the signing key", key.trim()),
        ("a survey link's token", survey_token),
        ("a page's form token", token.as_str()),
        ("the form's phone number", "442 123 4567"),
        ("the API's phone number", "81 1234 5678"),
        ("the e-mail signature's phone number", "81 5555 0199"),
    ] {
        assert!(!log.contains(secret), "{what} is in the log");
    }
}
