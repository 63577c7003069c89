//! What the contract covers and for whom, on one machine end to end (the real `mesa serve`,
//! the real CLI, SQLite on disk, the outbox maildir): the contract is with subscribed
//! customers "durante el periodo contratado".

use mesa_tests::*;
use serde_json::{Value, json};

fn data_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

fn import(data: &std::path::Path, file: &std::path::Path) -> std::process::Output {
    mesa(&[
        "customers",
        "import",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ])
}

fn clock(shown: &Value, name: &str) -> Value {
    shown["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} clock in {shown}"))
}

/// An e-mail sent on Tuesday 24 November 2026 at 10:00 in Mexico City.
fn mail(from: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: zendesk@ingressio.com\nSubject: Lectores sin registrar\nDate: Tue, 24 Nov 2026 10:00:00 -0600\nMessage-ID: <{id}>\n\n{body}\n"
    )
}

#[test]
fn a_sender_outside_the_contracted_period_gets_a_ticket_a_polite_acknowledgement_and_a_quote() {
    let (dir, data) = data_dir();
    let server = Server::start(&data);

    // Terms the rules cannot plan with, or overlapping periods: nothing is imported.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!([
            {"company": "Grupo Norte",
             "terms": {"response_hours": [0, "dos", 4, 8, 12]},
             "contacts": [{"email": "luis@norte.mx"}]},
            {"company": "Comercializadora del Bajío",
             "periods": [{"start": "2025-01-01", "end": "2025-12-31"},
                         {"start": "2025-12-01", "end": "2026-03-31"}]}
        ])
        .to_string(),
    )
    .unwrap();
    let out = import(&data, &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing imported")
            && err.contains("companies[0]: the rules cannot plan with these terms")
            && err.contains("companies[1]: the periods 2025-01-01 – 2025-12-31 and 2025-12-01 – 2026-03-31 overlap"),
        "{err}"
    );

    // The registry: Bajío's contract ended last year; Norte's runs all of 2026, round the
    // clock (its own terms); Golfo's comes from a CSV with its period on the contact's row.
    let registry = dir.path().join("registry.json");
    std::fs::write(
        &registry,
        json!([
            {"company": "Comercializadora del Bajío",
             "periods": [{"start": "2025-01-01", "end": "2025-12-31", "plan": "Nube 50"}],
             "contacts": [{"domain": "bajio.com.mx", "phone": "442 123 4567"}]},
            {"company": "Grupo Norte",
             "periods": [{"start": "2026-01-01", "end": "2026-12-31", "plan": "Nube 100 24x7"}],
             "terms": {"calendar": "24x7"},
             "contacts": [{"email": "luis@norte.mx", "contact_name": "Luis Gómez", "phone": "81 1234 5678"}]}
        ])
        .to_string(),
    )
    .unwrap();
    let imported: Value = serde_json::from_slice(&import(&data, &registry).stdout).unwrap();
    assert_eq!(imported, json!({"imported": 2, "companies": 2}));
    let csv = dir.path().join("golfo.csv");
    std::fs::write(
        &csv,
        "company,email,domain,contact_name,phone,period_start,period_end,plan\n\
         Transportes del Golfo,rosa@golfo.mx,,Rosa Díaz,229 111 2233,2026-06-01,2027-05-31,Nube 20\n",
    )
    .unwrap();
    let out = import(&data, &csv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = data.to_str().unwrap();
    let companies = mesa_json(&["customers", "list", "--data", d]);
    assert_eq!(
        companies[2]["periods"],
        json!([{"start": "2026-06-01", "end": "2027-05-31", "plan": "Nube 20"}]),
        "{companies}"
    );

    // Ana writes after Bajío's contract ended: the ticket is taken, marked, and her
    // acknowledgement says so politely.
    let ana = intake(
        &data,
        "ana",
        &mail(
            "Ana Pérez <ana@bajio.com.mx>",
            "ana-1@bajio.com.mx",
            "Algunos lectores de la planta 2 no registran las entradas.",
        ),
        Some("2026-11-24T16:00:30Z"),
    );
    assert_eq!(ana["outcome"], "created", "{ana}");
    let ana_folio = ana["folio"].as_str().unwrap().to_string();
    let shown = show(&data, &ana_folio);
    assert_eq!(shown["ticket"]["verified"], true);
    assert_eq!(
        shown["ticket"]["subscription"],
        json!({"status": "outside_period", "company": "Comercializadora del Bajío",
               "ended": "2025-12-31", "starts": null})
    );
    // Luis writes within Norte's period: no such paragraph, and his deadlines run on the
    // clock, not in business hours.
    let luis = intake(
        &data,
        "luis",
        &mail(
            "Luis Gómez <luis@norte.mx>",
            "luis-1@norte.mx",
            "Algunos lectores de la planta 2 no registran las entradas.",
        ),
        Some("2026-11-24T16:00:30Z"),
    );
    let luis_shown = show(&data, luis["folio"].as_str().unwrap());
    assert_eq!(luis_shown["ticket"]["subscription"]["status"], "active");
    assert_eq!(luis_shown["ticket"]["terms"], json!({"calendar": "24x7"}));
    let response = clock(&luis_shown, "response");
    assert_eq!(response["business"], false, "{response}");
    let severity = luis_shown["ticket"]["severity"].as_u64().unwrap() as usize;
    let hours = [0, 6, 12, 24, 36][severity];
    assert_eq!(response["target_seconds"], hours * 3600);
    let ana_response = clock(&shown, "response");
    assert_eq!(ana_response["business"], true, "the standard contract");

    let mails = wait_for_outbox(&data, "two acknowledgements", |m| m.len() == 2);
    let ack_to = |to: &str| {
        mails
            .iter()
            .find(|m| m.to == to)
            .unwrap_or_else(|| panic!("no mail to {to}"))
            .text
            .clone()
    };
    let ana_ack = ack_to("ana@bajio.com.mx");
    assert!(ana_ack.contains(&ana_folio), "{ana_ack}");
    assert!(
        ana_ack.contains("no encontramos un periodo de soporte vigente")
            && ana_ack.contains("el último terminó el 31/12/2025")
            && ana_ack.contains("la atenderemos de todos modos"),
        "{ana_ack}"
    );
    assert!(!ack_to("luis@norte.mx").contains("periodo de soporte vigente"));

    // Support outside the contracted period is attended with a cost: the coverage rules
    // say so at the diagnosis, and the hour worked is quoted at the contract's rate.
    let act = |body: Value| {
        server.staff(
            "POST",
            &format!("/tickets/{ana_folio}/actions"),
            Some(&body.to_string()),
        )
    };
    let (status, body) = act(json!({"action": "diagnose",
        "summary": "Falla del software al sincronizar checadas.", "cause": "software_defect"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = act(json!({"action": "log_work", "minutes": 60, "note": "Revisión"}));
    assert_eq!(status, 200, "{body}");
    let (_, detail) = server.staff("GET", &format!("/tickets/{ana_folio}"), None);
    assert_eq!(
        detail["ticket"]["assessment"]["coverage"],
        "outside_contract"
    );
    assert_eq!(detail["ticket"]["assessment"]["billable"], true);
    assert_eq!(detail["quote"]["subtotal_cents"], 6500);

    // The company's page: its period, its contact, its ticket.
    let page = mesa_json(&[
        "customers",
        "show",
        "comercializadora del bajío",
        "--data",
        d,
    ]);
    assert_eq!(page["company"]["periods"][0]["plan"], "Nube 50");
    assert_eq!(page["contacts"][0]["domain"], "bajio.com.mx");
    assert_eq!(page["tickets"][0]["folio"], ana_folio.as_str());
    assert_eq!(page["tickets"].as_array().unwrap().len(), 1);
}

/// Runs `mesa ARGS` with the on-call address set; the output as JSON.
fn mesa_on_call(args: &[&str]) -> Value {
    let out = std::process::Command::new(mesa_bin())
        .args(args)
        .env("MESA_RULES", rules_dir())
        .env("MESA_ONCALL", "guardia@ingressio.com")
        .env_remove("MESA_SMTP_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mesa {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_critical_report_at_two_on_a_sunday_morning_pages_the_on_call_staff_at_once() {
    let (_dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let eml = |name: &str, raw: String| {
        let file = data.with_extension(format!("{name}.eml"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(&file, raw.replace('\n', "\r\n")).unwrap();
        file
    };
    // Sunday 29 November 2026, 02:00 in Mexico City: no business hours for two days.
    let outage = eml(
        "outage",
        "From: Luis Gómez <luis@norte.mx>\nTo: zendesk@ingressio.com\nSubject: URGENTE todo caído\nDate: Sun, 29 Nov 2026 02:00:00 -0600\nMessage-ID: <caida@norte.mx>\n\nEl sistema está caído por completo, no opera ningún equipo biométrico en ninguna planta y nadie puede checar.\n".into(),
    );
    let created = mesa_on_call(&[
        "intake-email",
        outage.to_str().unwrap(),
        "--data",
        d,
        "--received-at",
        "2026-11-29T08:00:05Z",
    ]);
    let folio = created["folio"].as_str().unwrap().to_string();
    assert_eq!(show(&data, &folio)["ticket"]["severity"], 1);
    // The worker's next pass, within the minute: the acknowledgement and the page.
    let sent = mesa_on_call(&[
        "outbox",
        "deliver",
        "--data",
        d,
        "--now",
        "2026-11-29T08:00:35Z",
    ]);
    assert_eq!(sent["sent"], 2, "{sent}");
    let pages: Vec<SentMail> = outbox(&data)
        .into_iter()
        .filter(|m| m.to == "guardia@ingressio.com")
        .collect();
    assert_eq!(pages.len(), 1, "one page");
    assert!(
        pages[0].subject.contains(&folio) && pages[0].subject.contains("Severidad 1"),
        "{}",
        pages[0].subject
    );
    assert!(pages[0].text.contains("luis@norte.mx"), "{}", pages[0].text);
    assert!(pages[0].text.contains("no opera ningún equipo biométrico"));

    // A question is not paged; raised to severity 1 by staff, it is, once.
    let question = eml(
        "question",
        "From: Marta Ruiz <marta@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Duda\nDate: Sun, 29 Nov 2026 02:10:00 -0600\nMessage-ID: <duda@norte.mx>\n\n¿Cómo exporto el reporte de asistencia a Excel?\n".into(),
    );
    let asked = mesa_on_call(&[
        "intake-email",
        question.to_str().unwrap(),
        "--data",
        d,
        "--received-at",
        "2026-11-29T08:10:05Z",
    ]);
    let asked = asked["folio"].as_str().unwrap().to_string();
    mesa_on_call(&[
        "outbox",
        "deliver",
        "--data",
        d,
        "--now",
        "2026-11-29T08:10:35Z",
    ]);
    let pages_to = |folio: &str| {
        outbox(&data)
            .into_iter()
            .filter(|m| m.to == "guardia@ingressio.com" && m.subject.contains(folio))
            .count()
    };
    assert_eq!(pages_to(&asked), 0);
    for reason in ["En realidad ninguna planta puede checar.", "Confirmada."] {
        mesa_on_call(&[
            "tickets",
            "act",
            &asked,
            "--data",
            d,
            "--actor",
            "luisa",
            "severity",
            "--severity",
            "1",
            "--reason",
            reason,
        ]);
    }
    // `tickets act` records the raise at the real time, so its page is due from then: the
    // worker runs after both the story's time and that.
    let after_raise = std::cmp::max(
        chrono::DateTime::parse_from_rfc3339("2026-11-29T08:20:00Z").unwrap(),
        chrono::Utc::now().fixed_offset() + chrono::Duration::minutes(1),
    )
    .to_rfc3339();
    mesa_on_call(&["outbox", "deliver", "--data", d, "--now", &after_raise]);
    assert_eq!(
        pages_to(&asked),
        1,
        "raised to 1 pages once; confirming 1 again does not"
    );
}

#[test]
fn an_on_site_visit_is_recorded_in_the_timeline_billed_when_billable_and_in_the_monthly_report() {
    let (dir, data) = data_dir();
    let server = Server::start(&data);
    let (status, created) = server.post_json(
        "/tickets",
        &json!({
            "company": "Grupo Norte",
            "contact_name": "Luis Gómez",
            "email": "luis@norte.mx",
            "phone": "81 1234 5678",
            "support_type": "falla_lectores",
            "description": "Los lectores de la planta 2 no registran desde que cambiamos el switch.",
        }),
    );
    assert_eq!(status, 201, "{created}");
    let folio = created["folio"].as_str().unwrap().to_string();
    let act = |body: Value| {
        server.staff(
            "POST",
            &format!("/tickets/{folio}/actions"),
            Some(&body.to_string()),
        )
    };
    // Mexico City is UTC-6 all year: the ticket's day there (from its receipt, so that a
    // run across local midnight still reports the ticket's month).
    let (_, received) = server.staff("GET", &format!("/tickets/{folio}"), None);
    let received = received["ticket"]["received_at"]
        .as_str()
        .unwrap()
        .to_string();
    let today = (chrono::DateTime::parse_from_rfc3339(&received).unwrap()
        - chrono::Duration::hours(6))
    .date_naive();
    let visit = |on: chrono::NaiveDate, minutes: i64| {
        json!({"action": "record_visit", "visited_on": on.to_string(), "technician": "Jorge Ramírez",
               "site": "Planta 2, Apodaca", "result": "El switch nuevo bloqueaba el puerto de los lectores; se reconfiguró.",
               "minutes": minutes})
    };
    // A visit before the ticket existed, or of no length, is refused and changes nothing.
    let (status, err) = act(visit(today - chrono::Duration::days(3), 120));
    assert_eq!(status, 422, "{err}");
    let (status, _) = act(visit(today, 0));
    assert_eq!(status, 422);

    let (status, body) = act(json!({"action": "diagnose",
        "summary": "El switch del cliente bloquea el puerto de los lectores.", "cause": "infrastructure"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = act(visit(today, 120));
    assert_eq!(status, 200, "{body}");
    let (_, detail) = server.staff("GET", &format!("/tickets/{folio}"), None);
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    assert!(kinds.contains(&"visit_recorded"), "{kinds:?}");
    // Customer-attributable: the two hours on site are quoted at the contract's rate.
    assert_eq!(detail["ticket"]["work_minutes"], 120);
    assert_eq!(detail["quote"]["subtotal_cents"], 6500 + 4500);

    let out = dir.path().join("informe.html");
    let d = data.to_str().unwrap();
    mesa_json(&[
        "report",
        "--data",
        d,
        "--month",
        &today.format("%Y-%m").to_string(),
        "--customer",
        "norte.mx",
        "--out",
        out.to_str().unwrap(),
    ]);
    // minijinja escapes "/" too (a browser reads "&#x2f;" as "/").
    let html = std::fs::read_to_string(&out)
        .unwrap()
        .replace("&#x2f;", "/");
    let visits = &html[html.find("id=\"visitas\"").expect("the visits table")..];
    assert!(
        visits.contains(&today.format("%d/%m/%Y").to_string())
            && visits.contains("Jorge Ramírez")
            && visits.contains("Planta 2, Apodaca")
            && visits.contains(&folio),
        "{visits}"
    );
}

#[test]
fn a_reader_under_warranty_is_replaced_at_no_cost_step_by_step_and_one_out_of_warranty_is_quoted() {
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let server = Server::start(&data);
    let registry = dir.path().join("registry.json");
    std::fs::write(
        &registry,
        json!([{"company": "Tornillos del Norte",
                "periods": [{"start": "2026-01-01", "end": "2035-12-31", "plan": "Nube 100"}],
                "contacts": [{"domain": "tornillos.mx", "phone": "81 8765 4321"}]}])
        .to_string(),
    )
    .unwrap();
    assert!(import(&data, &registry).status.success());

    // A bad equipment file changes nothing and names each problem by its line.
    let equipment = |name: &str, rows: &str| {
        let file = dir.path().join(name);
        std::fs::write(
            &file,
            format!("serial,model,company,site,installed_on,warranty_until\n{rows}"),
        )
        .unwrap();
        mesa(&["equipment", "import", file.to_str().unwrap(), "--data", d])
    };
    let out = equipment(
        "bad.csv",
        "ZK4500-0193,ZK4500,Tornillos del Norte,Planta 1,2026-03-01,2025-03-01\n\
         ZK4500-0007,ZK4500,Tornillos del Norte,Planta 2,2023-09-15,2024-09-14\n\
         zk4500-0007,ZK4500,Tornillos del Norte,Planta 2,2023-09-15,2024-09-14\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2: the warranty ends (2025-03-01) before the installation (2026-03-01)")
            && err.contains("line 4: serial ZK4500-0007 is also in line 3"),
        "{err}"
    );
    assert!(
        !mesa(&["equipment", "show", "ZK4500-0007", "--data", d])
            .status
            .success(),
        "nothing was imported"
    );
    let out = equipment(
        "equipos.csv",
        "zk4500-0193,ZK4500,Tornillos del Norte,Planta 1,2026-03-01,2036-02-29\n\
         ZK4500-0007,ZK4500,Tornillos del Norte,Planta 2,2023-09-15,2024-09-14\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imported: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(imported["imported"], 2, "{imported}");

    // The form names the reader in its own field.
    let (status, created) = server.post_json(
        "/tickets",
        &json!({
            "company": "Tornillos del Norte",
            "contact_name": "Sofía Treviño",
            "email": "sofia@tornillos.mx",
            "phone": "81 8765 4321",
            "support_type": "garantia_hardware",
            "description": "El lector de la entrada de la planta 1 no enciende desde ayer; los demás funcionan.",
            "serial": "zk4500-0193",
        }),
    );
    assert_eq!(status, 201, "{created}");
    let folio = created["folio"].as_str().unwrap().to_string();
    let act = |folio: &str, body: Value| {
        server.staff(
            "POST",
            &format!("/tickets/{folio}/actions"),
            Some(&body.to_string()),
        )
    };
    // No replacement before a diagnosis finds the reader covered.
    let (status, _) = act(
        &folio,
        json!({"action": "record_replacement", "step": "approved"}),
    );
    assert_ne!(status, 200);
    let (status, body) = act(
        &folio,
        json!({"action": "diagnose", "summary": "La fuente del lector está dañada.", "cause": "hardware"}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, detail) = server.staff("GET", &format!("/tickets/{folio}"), None);
    let ticket = &detail["ticket"];
    assert_eq!(ticket["device"]["warranty"], "in_warranty", "{ticket}");
    assert_eq!(ticket["device"]["site"], "Planta 1");
    assert_eq!(ticket["assessment"]["coverage"], "covered");
    assert_eq!(ticket["assessment"]["billable"], false);
    assert_eq!(ticket["assessment"]["no_cost_replacement"], true);
    assert!(detail["quote"].is_null(), "nothing to quote: {detail}");

    // Its replacement, step by step, in order.
    let (status, body) = act(
        &folio,
        json!({"action": "record_replacement", "step": "shipped",
        "carrier": "Estafeta", "tracking": "8055-1234-99"}),
    );
    assert_eq!(status, 422, "approved comes first: {body}");
    for step in [
        json!({"action": "record_replacement", "step": "approved"}),
        json!({"action": "record_replacement", "step": "shipped", "carrier": "Estafeta",
               "tracking": "8055-1234-99", "serial": "ZK4500-0311"}),
        json!({"action": "record_replacement", "step": "installed", "note": "Quedó en la misma puerta."}),
        json!({"action": "record_replacement", "step": "faulty_received"}),
    ] {
        let (status, body) = act(&folio, step.clone());
        assert_eq!(status, 200, "{step}: {body}");
    }
    let (status, _) = act(
        &folio,
        json!({"action": "record_replacement", "step": "approved"}),
    );
    assert_eq!(status, 422, "a step is recorded once");
    let mails = wait_for_outbox(
        &data,
        "the acknowledgement and four replacement mails",
        |m| m.iter().filter(|m| m.to == "sofia@tornillos.mx").count() == 5,
    );
    let about = |word: &str| {
        mails
            .iter()
            .find(|m| m.to == "sofia@tornillos.mx" && m.subject.contains(word))
            .unwrap_or_else(|| panic!("no mail about {word}"))
    };
    let approved = about("aprobado");
    assert!(
        approved.subject.contains(&folio)
            && approved.text.contains("sin costo")
            && approved.text.contains("ZK4500-0193"),
        "{}",
        approved.text
    );
    let shipped = about("enviado");
    assert!(
        shipped.text.contains("Estafeta")
            && shipped.text.contains("8055-1234-99")
            && shipped.text.contains("ZK4500-0311"),
        "{}",
        shipped.text
    );
    assert!(
        about("instalado")
            .text
            .contains("Quedó en la misma puerta.")
    );
    about("recibimos el equipo dañado");

    // A mail names the other reader in its text; its warranty ended in 2024: quoted.
    let eml = dir.path().join("vencido.eml");
    std::fs::write(
        &eml,
        "From: Sofía Treviño <sofia@tornillos.mx>\r\nTo: zendesk@ingressio.com\r\nSubject: Lector planta 2\r\nMessage-ID: <vencido@tornillos.mx>\r\n\r\nBuen día, el lector de la planta 2 ya no lee huellas.\r\nNúmero de serie: ZK4500-0007\r\n",
    )
    .unwrap();
    let out = mesa_json(&["intake-email", eml.to_str().unwrap(), "--data", d]);
    let old = out["folio"].as_str().unwrap().to_string();
    assert_eq!(show(&data, &old)["ticket"]["device_serial"], "ZK4500-0007");
    let (status, body) = act(
        &old,
        json!({"action": "diagnose", "summary": "El sensor de huella está gastado.", "cause": "hardware"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = act(&old, json!({"action": "log_work", "minutes": 90}));
    assert_eq!(status, 200);
    let (_, detail) = server.staff("GET", &format!("/tickets/{old}"), None);
    let assessment = &detail["ticket"]["assessment"];
    assert_eq!(assessment["coverage"], "out_of_warranty", "{detail}");
    assert_eq!(assessment["billable"], true);
    assert!(
        assessment["reason"]
            .as_str()
            .unwrap()
            .contains("2024-09-14"),
        "{assessment}"
    );
    assert_eq!(detail["quote"]["subtotal_cents"], 6500 + 4500);
    let (status, _) = act(
        &old,
        json!({"action": "record_replacement", "step": "approved"}),
    );
    assert_ne!(status, 200, "no free replacement out of warranty");

    // The company's page lists both readers.
    let page = mesa_json(&["customers", "show", "Tornillos del Norte", "--data", d]);
    let serials: Vec<&str> = page["equipment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["ZK4500-0007", "ZK4500-0193"]);
}

#[test]
fn a_major_incident_tells_two_hundred_customers_once_each_links_the_reports_and_shows_on_the_status_page()
 {
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let server = Server::start(&data);
    // 200 subscribed companies with a contact each; one whose contract ended (not told);
    // one registered by its whole domain (no address to write to).
    let mut companies: Vec<Value> = (1..=200)
        .map(|n| {
            json!({"company": format!("Cliente {n:03}"),
                   "periods": [{"start": "2026-01-01", "end": "2099-12-31"}],
                   "contacts": [{"email": format!("ti{n}@cliente{n}.mx")}]})
        })
        .collect();
    companies.push(json!({"company": "Antiguo Cliente",
        "periods": [{"start": "2020-01-01", "end": "2020-12-31"}],
        "contacts": [{"email": "ana@antiguo.mx"}]}));
    companies.push(json!({"company": "Grupo Dominio",
        "periods": [{"start": "2026-01-01", "end": "2099-12-31"}],
        "contacts": [{"domain": "dominio.mx"}]}));
    let registry = dir.path().join("registry.json");
    std::fs::write(&registry, Value::Array(companies).to_string()).unwrap();
    assert!(import(&data, &registry).status.success());

    // Nothing is wrong yet.
    let (status, page) = server.get("/estado");
    assert_eq!(status, 200);
    assert!(page.contains("id=\"sin-fallas\""), "{page}");

    // A customer reports it before support knows.
    let early = intake(
        &data,
        "r0",
        "From: ti9@cliente9.mx\nTo: zendesk@ingressio.com\nSubject: Checadas\nMessage-ID: <r0@clientes.mx>\n\nLas checadas de hoy no sincroniza con la nube.\n",
        None,
    );
    let early = early["folio"].as_str().unwrap().to_string();

    let declare = [
        "incidents",
        "declare",
        "--cause",
        "Falla del hospedaje en AWS (región us-east-1)",
        "--service",
        "Ingressio en la Nube",
        "--actions",
        "Conmutamos a la región de respaldo.",
        "--eta",
        "2099-01-01T00:00:00Z",
        "--symptom",
        "no sincroniza",
        "--symptom",
        "caído",
        "--actor",
        "luisa@ingressio.com",
        "--data",
        d,
    ];
    let declared = mesa_json(&declare);
    assert_eq!(declared["notices"], 200, "{declared}");
    let id = declared["incident"]["id"].as_str().unwrap().to_string();
    // Declared again (a retry): the same incident, nobody told twice.
    let again = mesa_json(&declare);
    assert_eq!(again["incident"]["id"], id.as_str());
    assert_eq!(again["notices"], 0);
    // The report sent before the declaration is linked to it.
    assert_eq!(show(&data, &early)["ticket"]["incident"]["id"], id.as_str());
    let notice_to = |mails: &[SentMail], word: &str| {
        let mut to: Vec<String> = mails
            .iter()
            .filter(|m| m.subject.starts_with(word))
            .map(|m| m.to.clone())
            .collect();
        to.sort();
        to
    };
    let mails = wait_for_outbox(&data, "200 notices", |m| {
        notice_to(m, "Aviso de falla").len() >= 200
    });
    let told = notice_to(&mails, "Aviso de falla");
    let mut distinct = told.clone();
    distinct.dedup();
    assert_eq!((told.len(), distinct.len()), (200, 200), "once each");
    assert!(!told.contains(&"ana@antiguo.mx".to_string()));
    let notice = mails
        .iter()
        .find(|m| m.to == "ti7@cliente7.mx")
        .expect("a notice to one customer");
    assert!(
        notice.text.contains("Falla del hospedaje en AWS")
            && notice.text.contains("Conmutamos a la región de respaldo.")
            && notice.text.contains("Tiempo estimado de resolución"),
        "{}",
        notice.text
    );
    // The status page shows it to anyone.
    let (_, page) = server.get("/estado");
    assert!(
        page.contains("Ingressio en la Nube")
            && page.contains("Conmutamos a la región de respaldo."),
        "{page}"
    );

    // Three reports of it, written as customers write, are linked; another matter is not.
    let reports = [
        (
            "r1",
            "ti1@cliente1.mx",
            "El checador no sincroniza desde hace media hora.",
        ),
        (
            "r2",
            "ti2@cliente2.mx",
            "URGENTE: el sistema está CAÍDO, nadie puede checar.",
        ),
        (
            "r3",
            "ana@antiguo.mx",
            "Buenos días, la nube no sincroniza las checadas.",
        ),
        (
            "r4",
            "ti4@cliente4.mx",
            "¿Cómo agrego un empleado nuevo al horario nocturno?",
        ),
    ];
    let mut folios = Vec::new();
    for (name, from, body) in reports {
        let raw = format!(
            "From: {from}\nTo: zendesk@ingressio.com\nSubject: Reporte\nMessage-ID: <{name}@clientes.mx>\n\n{body}\n"
        );
        let out = intake(&data, name, &raw, None);
        folios.push(out["folio"].as_str().unwrap().to_string());
    }
    let linked: Vec<Value> = folios
        .iter()
        .map(|f| show(&data, f)["ticket"]["incident"]["id"].clone())
        .collect();
    assert_eq!(
        linked,
        [json!(id), json!(id), json!(id), Value::Null],
        "three reports linked, the question not"
    );
    // A linked ticket's clocks keep running as the contract says.
    let shown = show(&data, &folios[0]);
    assert_eq!(clock(&shown, "response")["state"], "running", "{shown}");
    let mails = wait_for_outbox(&data, "the four acknowledgements", |m| {
        folios
            .iter()
            .all(|f| m.iter().any(|x| x.subject.contains(f.as_str())))
    });
    let ack = mails
        .iter()
        .find(|m| m.subject.contains(folios[1].as_str()))
        .unwrap();
    assert!(
        ack.text.contains("falla general de Ingressio en la Nube"),
        "{}",
        ack.text
    );

    // An update, then the resolution, each told to the same 200 once.
    let updated = mesa_json(&[
        "incidents",
        "update",
        &id,
        "--text",
        "La región de respaldo ya atiende al 60 % de los clientes.",
        "--data",
        d,
    ]);
    // The 200, and the expired customer who reported it.
    assert_eq!(updated["notices"], 201);
    let resolved = mesa_json(&[
        "incidents",
        "resolve",
        &id,
        "--summary",
        "El servicio quedó restablecido a las 13:40.",
        "--data",
        d,
    ]);
    assert_eq!(resolved["notices"], 201);
    let mails = wait_for_outbox(&data, "the updates and resolutions", |m| {
        notice_to(m, "Actualización").len() >= 201 && notice_to(m, "Resuelto").len() >= 201
    });
    assert!(notice_to(&mails, "Resuelto").contains(&"ana@antiguo.mx".to_string()));
    assert!(
        mails
            .iter()
            .any(|m| m.subject.starts_with("Resuelto")
                && m.text.contains("restablecido a las 13:40"))
    );
    // Resolved again (a retry): the resolution stands, nobody is told twice.
    let again = mesa_json(&[
        "incidents",
        "resolve",
        &id,
        "--summary",
        "otra vez",
        "--data",
        d,
    ]);
    assert_eq!(again["notices"], 0);
    assert_eq!(
        again["incident"]["resolved"]["summary"],
        "El servicio quedó restablecido a las 13:40."
    );
    let (_, page) = server.get("/estado");
    assert!(
        page.contains("id=\"sin-fallas\"") && page.contains("Resueltas recientemente"),
        "{page}"
    );
}

/// Runs `mesa ARGS` with the team's address and the on-call address set; its JSON output.
fn mesa_team(args: &[&str]) -> Value {
    let out = std::process::Command::new(mesa_bin())
        .args(args)
        .env("MESA_RULES", rules_dir())
        .env("MESA_TEAM", "soporte-equipo@ingressio.com")
        .env("MESA_ONCALL", "guardia@ingressio.com")
        .env_remove("MESA_SMTP_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mesa {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn at_risk_warnings_reach_the_owner_or_the_team_within_business_hours_and_severity_one_at_any_hour()
{
    let (_dir, data) = data_dir();
    let d = data.to_str().unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let eml = |name: &str, raw: &str| {
        let file = data.with_extension(format!("{name}.eml"));
        std::fs::write(&file, raw.replace('\n', "\r\n")).unwrap();
        file
    };
    let warnings_to = |to: &str, folio: &str| -> Vec<SentMail> {
        outbox(&data)
            .into_iter()
            .filter(|m| m.to == to && m.subject.contains(folio) && m.subject.contains("En riesgo"))
            .collect()
    };

    // A report that is not critical, with no owner, received Monday 30 November at 09:00.
    let slow = eml(
        "slow",
        "From: Marta Ruiz <marta@norte.mx>\nTo: zendesk@ingressio.com\nSubject: Reporte de retardos\nDate: Mon, 30 Nov 2026 09:00:00 -0600\nMessage-ID: <retardos@norte.mx>\n\nBuenos días, el reporte de retardos de la semana pasada sale con minutos de más a dos empleados. ¿Lo pueden revisar?\n",
    );
    let created = mesa_team(&[
        "intake-email",
        slow.to_str().unwrap(),
        "--data",
        d,
        "--received-at",
        "2026-11-30T15:00:00Z",
    ]);
    let folio = created["folio"].as_str().unwrap().to_string();
    let severity = show(&data, &folio)["ticket"]["severity"].as_i64().unwrap();
    assert!(severity >= 2, "not a critical report: {severity}");
    // The sweep runs every evening at 20:00 (after closing) until it finds the response
    // clock at risk (20:00 in Mexico City is 02:00 UTC the next day): whichever day that
    // is, it is outside business hours.
    let evenings = [
        "2026-12-01T02:00:00Z",
        "2026-12-02T02:00:00Z",
        "2026-12-03T02:00:00Z",
        "2026-12-04T02:00:00Z",
        "2026-12-05T02:00:00Z",
    ];
    let night = evenings.into_iter().find(|at| {
        let report = mesa_team(&["sweep", "--data", d, "--now", at]);
        report["warnings"].as_u64().unwrap_or(0) > 0
    });
    let night = night.expect("the response clock came at risk within the week");
    let night_t = chrono::DateTime::parse_from_rfc3339(night).unwrap();
    let five_past = (night_t + chrono::Duration::minutes(5)).to_rfc3339();
    mesa_team(&["outbox", "deliver", "--data", d, "--now", &five_past]);
    assert!(
        warnings_to("soporte-equipo@ingressio.com", &folio).is_empty(),
        "not at night for severity {severity}"
    );
    // The next morning at 09:00 in Mexico City (15:00 UTC): the team is told.
    let morning = (night_t + chrono::Duration::hours(13)).to_rfc3339();
    mesa_team(&["outbox", "deliver", "--data", d, "--now", &morning]);
    let told = warnings_to("soporte-equipo@ingressio.com", &folio);
    assert_eq!(told.len(), 1, "the team, once, in the morning");
    assert!(told[0].text.contains("vence"), "{}", told[0].text);
    assert!(
        told[0].text.contains("Respuesta") || told[0].text.contains("respuesta"),
        "{}",
        told[0].text
    );

    // A total outage on Friday 4 December at 13:00, assigned to Marco: at risk on Sunday
    // at 02:00 (five of its six business hours gone), and Marco is told at once.
    let outage = eml(
        "outage",
        "From: Luis Gómez <luis@norte.mx>\nTo: zendesk@ingressio.com\nSubject: URGENTE todo caído\nDate: Fri, 4 Dec 2026 13:00:00 -0600\nMessage-ID: <caida-dic@norte.mx>\n\nEl sistema está caído por completo, no opera ningún equipo biométrico en ninguna planta y nadie puede checar.\n",
    );
    let created = mesa_team(&[
        "intake-email",
        outage.to_str().unwrap(),
        "--data",
        d,
        "--received-at",
        "2026-12-04T19:00:00Z",
    ]);
    let critical = created["folio"].as_str().unwrap().to_string();
    assert_eq!(show(&data, &critical)["ticket"]["severity"], 1);
    let added = mesa_with_stdin(
        &[
            "staff",
            "add",
            "--email",
            "marco@ingressio.com",
            "--name",
            "Marco Ortiz",
            "--password-stdin",
            "--data",
            d,
        ],
        "una-clave-larga-de-marco\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    mesa_team(&[
        "tickets",
        "act",
        &critical,
        "--data",
        d,
        "--actor",
        "luisa",
        "assign",
        "marco@ingressio.com",
    ]);
    let report = mesa_team(&["sweep", "--data", d, "--now", "2026-12-06T08:00:00Z"]);
    assert!(report["warnings"].as_u64().unwrap() >= 1, "{report}");
    mesa_team(&[
        "outbox",
        "deliver",
        "--data",
        d,
        "--now",
        "2026-12-06T08:00:30Z",
    ]);
    assert_eq!(
        warnings_to("marco@ingressio.com", &critical).len(),
        1,
        "the owner, at once"
    );
    assert!(
        warnings_to("soporte-equipo@ingressio.com", &critical).is_empty(),
        "an owned ticket's warning goes to its owner"
    );
    // Staff mail is not the customer's: the customer got the acknowledgement only.
    let to_customer: Vec<_> = outbox(&data)
        .into_iter()
        .filter(|m| m.to == "luis@norte.mx" && m.subject.contains(&critical))
        .collect();
    assert_eq!(to_customer.len(), 1, "the acknowledgement, nothing else");
}

#[test]
fn severity_one_reports_from_three_companies_within_half_an_hour_declare_an_incident_by_themselves()
{
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    // Support operations turn the rule on: 3 companies within 30 minutes.
    let rules = dir.path().join("rules");
    let copied = std::process::Command::new("cp")
        .args(["-r", rules_dir().to_str().unwrap(), rules.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(copied.success());
    let intake_rhai = rules.join("intake.rhai");
    let text = std::fs::read_to_string(&intake_rhai).unwrap();
    assert!(text.contains("critical_reports: 0,"));
    std::fs::write(
        &intake_rhai,
        text.replace("critical_reports: 0,", "critical_reports: 3,"),
    )
    .unwrap();
    let run = |args: &[&str]| -> Value {
        let out = std::process::Command::new(mesa_bin())
            .args(args)
            .env("MESA_RULES", &rules)
            .env_remove("MESA_SMTP_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mesa {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    // Ten subscribed companies.
    let companies: Vec<Value> = (1..=10)
        .map(|n| {
            json!({"company": format!("Planta {n}"),
                   "periods": [{"start": "2026-01-01", "end": "2099-12-31"}],
                   "contacts": [{"email": format!("rh@planta{n}.mx")}]})
        })
        .collect();
    let registry = dir.path().join("registry.json");
    std::fs::write(&registry, Value::Array(companies).to_string()).unwrap();
    assert!(import(&data, &registry).status.success());
    let outage = |n: u32, minute: u32, id: &str| -> String {
        let file = dir.path().join(format!("{id}.eml"));
        std::fs::write(
            &file,
            format!(
                "From: rh@planta{n}.mx\r\nTo: zendesk@ingressio.com\r\nSubject: No funciona nada\r\n\
                 Message-ID: <{id}@planta{n}.mx>\r\n\r\nEl sistema está caído por completo, no opera \
                 ningún equipo biométrico en ninguna planta y nadie puede checar.\r\n"
            ),
        )
        .unwrap();
        let at = format!("2026-12-01T16:{minute:02}:00Z");
        let created = run(&[
            "intake-email",
            file.to_str().unwrap(),
            "--data",
            d,
            "--received-at",
            &at,
        ]);
        created["folio"].as_str().unwrap().to_string()
    };
    let incidents = || run(&["incidents", "list", "--data", d]);
    let open_count = || incidents().as_array().expect("a list of incidents").len();

    // The same company three times is one customer's problem, not an outage.
    let first = outage(1, 0, "a1");
    outage(1, 2, "a2");
    outage(1, 4, "a3");
    assert_eq!(show(&data, &first)["ticket"]["severity"], 1);
    assert_eq!(open_count(), 0, "{}", incidents());
    // A second company: still not three.
    let second = outage(2, 10, "b1");
    assert_eq!(open_count(), 0);
    // A sender the registry does not know is not a company of the count.
    outage(99, 15, "x1");
    assert_eq!(
        open_count(),
        0,
        "a stranger's report does not tell every customer"
    );
    // A third company within the half hour: declared, by the rules.
    let third = outage(3, 20, "c1");
    assert_eq!(open_count(), 1, "{}", incidents());
    let listed = incidents().to_string();
    assert!(
        listed.contains("\"rules\""),
        "declared by the rules: {listed}"
    );
    for folio in [&first, &second, &third] {
        assert!(
            show(&data, folio)["ticket"]["incident"]["id"].is_string(),
            "{folio} linked"
        );
    }
    // A fourth report does not declare a second incident.
    outage(4, 25, "d1");
    assert_eq!(open_count(), 1);

    // Every subscribed company is told once, the moment the outbox runs.
    run(&[
        "outbox",
        "deliver",
        "--data",
        d,
        "--now",
        "2026-12-01T16:26:00Z",
    ]);
    let mut told: Vec<String> = outbox(&data)
        .into_iter()
        .filter(|m| m.subject.starts_with("Aviso de falla"))
        .map(|m| m.to)
        .collect();
    told.sort();
    let before = told.len();
    told.dedup();
    assert_eq!(before, told.len(), "nobody told twice: {told:?}");
    assert_eq!(told.len(), 10, "{told:?}");
}
