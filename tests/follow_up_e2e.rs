//! The contract's follow-up, as a customer and a support agent meet it: the real `mesa serve`
//! over HTTP, the real CLI, SQLite on disk and the outbox maildir. Each test starts from a
//! sentence of the contract or of an e-mail mesa sends, and fails if mesa breaks it.

use std::path::{Path, PathBuf};

use mesa_tests::*;
use serde_json::{Value, json};

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// A ticket from Luis Gómez of Grupo Norte through the JSON API; the API's answer.
fn open_ticket(server: &Server, support_type: &str, description: &str, key: &str) -> Value {
    let (status, created) = server.post_json(
        "/tickets",
        &json!({
            "company": "Grupo Norte", "contact_name": "Luis Gómez", "email": "luis@norte.mx",
            "phone": "81 1234 5678", "support_type": support_type, "description": description,
            "idempotency_key": key,
        }),
    );
    assert_eq!(status, 201, "{created}");
    created
}

fn act(server: &Server, folio: &str, step: Value) -> Value {
    let (status, body) = server.staff(
        "POST",
        &format!("/tickets/{folio}/actions"),
        Some(&step.to_string()),
    );
    assert_eq!(status, 200, "{step}: {body}");
    body
}

fn clock(detail: &Value, name: &str) -> Value {
    detail["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} clock in {detail}"))
}

fn queue_folios(server: &Server) -> Vec<String> {
    let (status, queue) = server.staff("GET", "/queue", None);
    assert_eq!(status, 200, "{queue}");
    queue["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["ticket"]["folio"].as_str().unwrap().to_string())
        .collect()
}

/// The survey link in the latest survey mail of a ticket.
fn survey_path(data: &Path, folio: &str, nth: usize) -> String {
    let mails = wait_for_outbox(data, "the survey", |m| {
        m.iter()
            .filter(|m| m.subject.contains("satisfecho") && m.subject.contains(folio))
            .count()
            > nth
    });
    let survey = mails
        .iter()
        .filter(|m| m.subject.contains("satisfecho") && m.subject.contains(folio))
        .nth(nth)
        .unwrap();
    let start = survey.text.find("/csat/").expect("a survey link");
    survey.text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The answer mail says "responda … y reabriremos el seguimiento"; the acknowledgement asks
/// for the company, the phone and the support type, and the customer's reply gives them.
#[test]
fn a_reply_to_an_answered_ticket_reopens_it_and_a_reply_completes_the_ticket_data() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let created = intake(
        &data,
        "portal",
        "From: Luis Gómez <luis@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Reporte de asistencia\nMessage-ID: <portal@norte.mx>\n\nEl reporte de asistencia no carga, lo demás funciona.\n",
        None,
    );
    assert_eq!(created["outcome"], "created", "{created}");
    let folio = created["folio"].as_str().unwrap().to_string();
    assert_eq!(
        show(&data, &folio)["ticket"]["missing_fields"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "company, phone and support type"
    );
    let mails = wait_for_outbox(&data, "the ack", |m| m.len() == 1);
    let ack = &mails[0];
    assert!(ack.text.contains("Nombre de la empresa"), "{}", ack.text);

    let reply = intake(
        &data,
        "datos",
        &format!(
            "From: Luis Gómez <luis@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Re: {}\nMessage-ID: <datos@norte.mx>\nIn-Reply-To: {}\n\nEmpresa: Transportes del Norte\nTeléfono: 81 1234 5678\nTipo de soporte: Asistencia técnica\n\n> {}\n",
            ack.subject, ack.message_id, ack.subject
        ),
        None,
    );
    assert_eq!(reply["outcome"], "appended", "{reply}");
    let detail = show(&data, &folio);
    let ticket = &detail["ticket"];
    assert_eq!(ticket["customer"]["company"], "Transportes del Norte");
    assert_eq!(ticket["customer"]["phone"], "81 1234 5678");
    assert_eq!(ticket["support_type"], "asistencia");
    assert_eq!(ticket["missing_fields"], json!([]), "{ticket}");

    act(
        &server,
        &folio,
        json!({"action": "diagnose", "summary": "Índice dañado", "cause": "software_defect"}),
    );
    act(
        &server,
        &folio,
        json!({"action": "answer", "message": "Reconstruimos el índice; ya carga."}),
    );
    let answered = show(&data, &folio);
    assert_eq!(answered["ticket"]["stage"], "answered");
    assert_eq!(clock(&answered, "resolution")["state"], "met");
    let mails = wait_for_outbox(&data, "the answer", |m| {
        m.iter().any(|m| m.text.contains("reabriremos"))
    });
    let answer = mails
        .iter()
        .find(|m| m.text.contains("reabriremos"))
        .unwrap();

    let again = intake(
        &data,
        "sigue",
        &format!(
            "From: Luis Gómez <luis@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Re: {}\nMessage-ID: <sigue@norte.mx>\nIn-Reply-To: {}\n\nSigue sin cargar el reporte de la semana pasada.\n",
            answer.subject, answer.message_id
        ),
        None,
    );
    assert_eq!(again["outcome"], "appended", "{again}");
    let reopened = show(&data, &folio);
    assert_eq!(reopened["ticket"]["stage"], "reopened", "{reopened}");
    assert_eq!(clock(&reopened, "resolution")["state"], "running");
    assert!(queue_folios(&server).contains(&folio));

    // Staff can reopen an answered ticket too.
    act(
        &server,
        &folio,
        json!({"action": "answer", "message": "Ya carga también la semana pasada."}),
    );
    act(
        &server,
        &folio,
        json!({"action": "reopen", "reason": "El cliente llamó: sigue"}),
    );
    assert_eq!(show(&data, &folio)["ticket"]["stage"], "reopened");
}

/// One survey per closing: a customer who answered "no" gets a new survey when the ticket is
/// closed again, and that one can be answered; every answer stays in the timeline.
#[test]
fn each_closing_gets_its_own_survey() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let created = open_ticket(
        &server,
        "asistencia",
        "El reporte de horas extra sale en blanco para la sucursal Centro.",
        "two-surveys",
    );
    let folio = created["folio"].as_str().unwrap().to_string();
    for step in [
        json!({"action": "diagnose", "summary": "Filtro de sucursal", "cause": "software_defect"}),
        json!({"action": "answer", "message": "Corregimos el filtro."}),
        json!({"action": "close"}),
    ] {
        act(&server, &folio, step);
    }
    let first = survey_path(&data, &folio, 0);
    let (status, _) = server.post_raw(
        &first,
        "application/x-www-form-urlencoded",
        b"satisfied=no&comment=Sigue+en+blanco".to_vec(),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(show(&data, &folio)["ticket"]["stage"], "reopened");
    for step in [
        json!({"action": "answer", "message": "Faltaba la sucursal Centro en el catálogo."}),
        json!({"action": "close"}),
    ] {
        act(&server, &folio, step);
    }
    let second = survey_path(&data, &folio, 1);
    assert_ne!(first, second, "a new survey for the second closing");
    let (status, page) = server.post_raw(
        &second,
        "application/x-www-form-urlencoded",
        b"satisfied=si&comment=Ya+sale".to_vec(),
        &[],
    );
    assert_eq!(status, 200, "{page}");
    let detail = show(&data, &folio);
    assert_eq!(detail["ticket"]["satisfaction"]["satisfied"], true);
    assert_eq!(detail["ticket"]["stage"], "closed");
    let answers = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "satisfaction_recorded")
        .count();
    assert_eq!(answers, 2, "both answers stay in the timeline");
    // The first survey stays answered.
    let (status, _) = server.post_raw(
        &first,
        "application/x-www-form-urlencoded",
        b"satisfied=si".to_vec(),
        &[],
    );
    assert_eq!(status, 409);
}

/// Contract: a critical report has one business day to recover the service and 30 to deliver
/// the root-cause solution. Closing the ticket after recovery does not deliver the root
/// cause; its own action does, and the customer gets the report.
#[test]
fn closing_a_critical_ticket_does_not_stop_its_root_cause_clock() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let created = open_ticket(
        &server,
        "falla_servicio",
        "El servicio está caído por completo, no opera ningún equipo biométrico.",
        "root-cause",
    );
    let folio = created["folio"].as_str().unwrap().to_string();
    assert_eq!(created["severity"], 1, "{created}");
    for step in [
        json!({"action": "diagnose", "summary": "Base de datos saturada", "cause": "software_defect"}),
        json!({"action": "answer", "message": "El servicio quedó restablecido."}),
        json!({"action": "close"}),
    ] {
        act(&server, &folio, step);
    }
    let closed = show(&data, &folio);
    assert_eq!(closed["ticket"]["stage"], "closed");
    assert_eq!(clock(&closed, "recovery")["state"], "met");
    assert_eq!(clock(&closed, "root_cause")["state"], "running", "{closed}");
    assert!(
        queue_folios(&server).contains(&folio),
        "the queue keeps watching the root-cause clock"
    );
    act(
        &server,
        &folio,
        json!({"action": "deliver_root_cause", "report": "Causa raíz: un índice faltante saturó la base de datos; se agregó y se monitorea."}),
    );
    let delivered = show(&data, &folio);
    assert_eq!(clock(&delivered, "root_cause")["state"], "met");
    let mails = wait_for_outbox(&data, "the root-cause report", |m| {
        m.iter().any(|m| m.text.contains("un índice faltante"))
    });
    assert!(
        mails
            .iter()
            .any(|m| m.to == "luis@norte.mx" && m.text.contains("un índice faltante"))
    );
    assert!(!queue_folios(&server).contains(&folio));
}

fn corpus(name: &str) -> String {
    let path = workspace().join("../shared/mail-corpus").join(name);
    String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .into_owned()
}

/// Real bounces, DSNs, auto-replies and list mail from public test corpora (sources and
/// licences in shared/mail-corpus/SOURCES.md) produce no ticket and no acknowledgement; the
/// ordinary mail of the same corpora, including bodies without a subtype or forwarded whole,
/// becomes tickets with their text read.
#[test]
fn real_robots_are_ignored_and_real_people_become_tickets_through_the_cli() {
    let (_dir, data) = data_dir();
    for name in [
        "flanker-bounce-gmail-invalid-address.eml",
        "sisimai-bsd-lhost-amazonses-01.eml",
        "sisimai-bsd-lhost-apachejames-01.eml",
        "sisimai-bsd-rfc3834-03.eml",
        "cpython-msg_02.txt",
        "stalwart-thirdparty-014.eml",
        "cpython-msg_16.txt",
    ] {
        let out = intake(&data, name, &corpus(name), Some("2026-11-10T16:00:00Z"));
        assert_eq!(out["outcome"], "ignored", "{name}: {out}");
    }
    assert!(tickets(&data).is_empty());
    let listed = mesa_json(&["mail", "set-aside", "--data", data.to_str().unwrap()]);
    let ignored = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ignored"] == true && !r["reason"].as_str().unwrap().is_empty())
        .count();
    assert_eq!(
        ignored, 7,
        "ignored mail is kept and listed for staff: {listed}"
    );
    let server = Server::start(&data);
    let (status, body) = server.staff("GET", "/mail/set-aside", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mail"].as_array().map(Vec::len), Some(7), "{body}");
    drop(server);

    // A supervisor's report forwarded whole as the message itself (top-level message/rfc822,
    // the shape of cpython-msg_06.txt, whose forwarded message has no body to read).
    let forwarded = "From: Ana Pérez <ana@bajio.com.mx>\nTo: zendesk@ingressio.com\nSubject: Fwd: checadores\nMessage-ID: <fwd@bajio.com.mx>\nMIME-Version: 1.0\nContent-Type: message/rfc822\n\nFrom: Jorge Ruiz <jorge@bajio.com.mx>\nTo: ana@bajio.com.mx\nSubject: checadores\nContent-Type: text/plain; charset=utf-8\n\nLos dos checadores de la planta 2 no registran desde las 6:00; los de oficinas sí.\n";
    for (name, raw, words) in [
        (
            "cpython-msg_14.txt",
            corpus("cpython-msg_14.txt"),
            "Content-Type without a subtype",
        ),
        (
            "forwarded",
            forwarded.to_string(),
            "a forwarded message/rfc822",
        ),
        (
            "cpython-msg_27.txt",
            corpus("cpython-msg_27.txt"),
            "a plain message",
        ),
    ] {
        let out = intake(&data, name, &raw, Some("2026-11-10T16:00:00Z"));
        assert_eq!(out["outcome"], "created", "{name} ({words}): {out}");
        let detail = show(&data, out["folio"].as_str().unwrap());
        let description = detail["ticket"]["description"].as_str().unwrap();
        assert!(
            !description.trim().is_empty(),
            "{name} ({words}) has its text read: {description:?}"
        );
        if name == "forwarded" {
            assert!(description.contains("planta 2"), "{description:?}");
        }
        let missing = detail["ticket"]["missing_fields"].to_string();
        assert!(!missing.contains("escripci"), "{name}: {missing}");
    }
    let sent = mesa_json(&[
        "outbox",
        "deliver",
        "--data",
        data.to_str().unwrap(),
        "--now",
        "2026-11-10T16:05:00Z",
    ]);
    assert_eq!(
        sent["sent"], 3,
        "acknowledgements only to the people: {sent}"
    );
}

/// Smaller follow-up promises: waiting on the customer before a diagnosis, saying what is
/// needed; a phone answer recorded as the response without an e-mail; money shown as money;
/// a form subject cut at a word.
#[test]
fn waiting_phone_answers_money_and_subjects_behave_as_support_expects() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let description = "Buen día, desde el lunes la exportación del reporte de incidencias a Excel \
        tarda muchísimo y a veces no termina; necesitamos el archivo para la nómina.";
    let created = open_ticket(&server, "desempeno", description, "smaller");
    let folio = created["folio"].as_str().unwrap().to_string();
    let subject = show(&data, &folio)["ticket"]["subject"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(subject.chars().count() <= 81, "{subject}");
    let cut = subject.trim_end_matches('…');
    assert!(
        description.starts_with(cut) && description[cut.len()..].starts_with([' ', ',', ';', '.']),
        "cut at a word: {subject:?}"
    );

    act(
        &server,
        &folio,
        json!({"action": "wait", "note": "Envíenos el archivo que no termina de exportar"}),
    );
    act(&server, &folio, json!({"action": "resume"}));
    act(
        &server,
        &folio,
        json!({"action": "diagnose", "summary": "Consulta sin índice", "cause": "misuse"}),
    );
    let mails = wait_for_outbox(&data, "ack and waiting", |m| m.len() == 2);
    assert!(
        mails.iter().any(|m| m
            .text
            .contains("Envíenos el archivo que no termina de exportar")),
        "the customer is told what is needed"
    );
    act(
        &server,
        &folio,
        json!({"action": "reply", "message": "Le llamamos y se explicó el filtro.", "channel": "phone"}),
    );
    let detail = show(&data, &folio);
    assert_eq!(clock(&detail, "response")["state"], "met");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(outbox(&data).len(), 2, "a phone answer sends no e-mail");

    act(
        &server,
        &folio,
        json!({"action": "log_work", "minutes": 90, "note": "Revisión del filtro"}),
    );
    let out = mesa(&["tickets", "show", &folio, "--data", data.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let billable = text
        .lines()
        .find(|l| l.contains("billable"))
        .unwrap_or_else(|| panic!("no billable line in {text}"));
    assert!(!billable.contains("cents"), "{billable}");
    assert!(
        billable.contains('.')
            && billable
                .split_whitespace()
                .any(|w| w.ends_with(".00") || w.contains('.')),
        "money with decimals: {billable}"
    );
}
