//! What the contract covers and for whom, on the AWS stack: the registry imported into the
//! stack's table with the real `mesa` binary, mail taken in and acknowledged by the
//! functions, against the emulators.

use mesa::ports::TicketStore;
use mesa_aws::Wiring;
use mesa_tests::mesa_bin;
use serde_json::json;

use super::{lambda, pending_outbox, ses_event};
use mesa_tests::emulator::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_outside_the_contracted_period_gets_a_ticket_and_the_right_acknowledgement_on_aws()
{
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-coverage").await;
    let wiring = Wiring::new(stack.config(), clients.clone()).await.unwrap();
    let ana = format!("{}@bajio.com.mx", unique("ana"));
    let luis = format!("{}@norte.mx", unique("luis"));

    // The registry goes into the stack's table through the CLI.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("registry.json");
    std::fs::write(
        &file,
        json!([
            {"company": "Comercializadora del Bajío",
             "periods": [{"start": "2020-01-01", "end": "2020-12-31", "plan": "Nube 50"}],
             "contacts": [{"email": ana}]},
            {"company": "Grupo Norte",
             "periods": [{"start": "2020-01-01", "end": "2099-12-31", "plan": "Nube 100"}],
             "contacts": [{"email": luis}]}
        ])
        .to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(mesa_bin())
        .args([
            "customers",
            "import",
            file.to_str().unwrap(),
            "--table",
            &stack.table,
            "--bucket",
            &stack.rules,
        ])
        .envs(stack.process_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary, json!({"imported": 2, "companies": 2}));

    let mut folios = Vec::new();
    for (who, id) in [(&ana, unique("ses-ana")), (&luis, unique("ses-luis"))] {
        let raw = format!(
            "From: {who}\r\nTo: zendesk@ingressio.com\r\nSubject: Lectores sin registrar\r\nMessage-ID: <{id}@example.mx>\r\n\r\nAlgunos lectores no registran las entradas.\r\n"
        );
        clients
            .s3
            .put_object()
            .bucket(&stack.inbound)
            .key(format!("inbound/{id}"))
            .body(aws_sdk_s3::primitives::ByteStream::from(raw.into_bytes()))
            .send()
            .await
            .unwrap();
        let out = intake_email::handle(&wiring, lambda(ses_event(&id, "PASS")))
            .await
            .unwrap();
        assert_eq!(out["outcomes"][0]["outcome"], "created", "{out}");
        folios.push(out["outcomes"][0]["folio"].as_str().unwrap().to_string());
    }
    let ticket = |folio: &str| {
        let store = wiring.store.clone();
        let folio = mesa::model::Folio::parse(folio).unwrap();
        async move { store.get_by_folio(&folio).await.unwrap().unwrap() }
    };
    let outside = ticket(&folios[0]).await;
    assert_eq!(
        outside.subscription.as_ref().map(|s| s.status()),
        Some("outside_period")
    );
    assert_eq!(
        ticket(&folios[1]).await.subscription.map(|s| s.status()),
        Some("active")
    );

    let env = super::Env {
        clients: clients.clone(),
        wiring,
        inbound: stack.inbound.clone(),
        metrics: Default::default(),
    };
    let pending = pending_outbox(&env).await;
    let response = outbox::handle(&env.wiring, lambda(super::stream_event(&pending)))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let body = |to: &str| {
        let sent = sent_to(to);
        assert_eq!(sent.len(), 1, "one acknowledgement to {to}");
        let parsed = mail_parser::MessageParser::default()
            .parse(sent[0].1.as_bytes())
            .expect("the acknowledgement parses");
        parsed.body_text(0).unwrap_or_default().to_string()
    };
    let ana_ack = body(&ana);
    assert!(
        ana_ack.contains("no encontramos un periodo de soporte vigente")
            && ana_ack.contains("terminó el 31/12/2020"),
        "{ana_ack}"
    );
    assert!(!body(&luis).contains("periodo de soporte vigente"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_report_at_two_on_a_sunday_is_paged_through_the_on_call_topic_at_once() {
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-page").await;
    // The template's on-call topic, with a queue subscribed where a phone would be.
    let topic = clients
        .sns
        .create_topic()
        .name(unique("oncall"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let env = super::Env {
        clients: clients.clone(),
        wiring: {
            let mut config = stack.config();
            config.on_call_topic = Some(topic.clone());
            Wiring::new(config, clients.clone()).await.unwrap()
        },
        inbound: stack.inbound.clone(),
        metrics: Default::default(),
    };
    let (queue_url, queue_arn) = env.clients_sqs().await;
    clients
        .sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();

    // Sunday 22 November 2026, 02:00 in Mexico City. An address of its own: other tests
    // count what the shared emulator sent to theirs.
    let id = unique("ses-outage");
    let luis = format!("{}@norte.mx", unique("luis"));
    let raw = format!(
        "From: Luis Gómez <{luis}>\r\nTo: zendesk@ingressio.com\r\nSubject: URGENTE todo caído\r\nDate: Sun, 22 Nov 2026 02:00:00 -0600\r\nMessage-ID: <{id}@norte.mx>\r\n\r\nEl sistema está caído por completo, no opera ningún equipo biométrico en ninguna planta y nadie puede checar.\r\n"
    );
    clients
        .s3
        .put_object()
        .bucket(&stack.inbound)
        .key(format!("inbound/{id}"))
        .body(aws_sdk_s3::primitives::ByteStream::from(raw.into_bytes()))
        .send()
        .await
        .unwrap();
    let mut event = serde_json::to_value(ses_event(&id, "PASS")).unwrap();
    for at in ["mail", "receipt"] {
        event["Records"][0]["ses"][at]["timestamp"] = json!("2026-11-22T08:00:10.000Z");
    }
    let started = std::time::Instant::now();
    let out = intake_email::handle(&env.wiring, lambda(serde_json::from_value(event).unwrap()))
        .await
        .unwrap();
    assert_eq!(out["outcomes"][0]["outcome"], "created", "{out}");
    let folio = out["outcomes"][0]["folio"].as_str().unwrap().to_string();

    // The table's stream hands the new outbox items to the outbox function: the
    // acknowledgement and the page, written with the ticket.
    let pending = pending_outbox(&env).await;
    assert_eq!(pending.len(), 2, "ack and page");
    let response = outbox::handle(&env.wiring, lambda(super::stream_event(&pending)))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let pages = env.receive_all(&queue_url).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(pages.len(), 1, "one page: {pages:?}");
    let message = pages[0]["Message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&folio) && message.contains("Severidad 1"),
        "{message}"
    );
    assert!(message.contains(&luis), "{message}");
    let subject = pages[0]["Subject"].as_str().unwrap_or_default();
    assert!(subject.is_ascii() && subject.contains(&folio), "{subject}");
    // The customer got the acknowledgement, not the page.
    assert_eq!(
        sent_to(&luis)
            .iter()
            .filter(|(_, raw)| raw.contains(&folio))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_under_warranty_is_replaced_and_one_out_of_warranty_quoted_on_aws() {
    use mesa::lifecycle::Action;
    use mesa::model::{Actor, ReplacementStep};

    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-warranty").await;
    let wiring = Wiring::new(stack.config(), clients.clone()).await.unwrap();
    let sofia = format!("{}@tornillos.mx", unique("sofia"));
    // Serials of their own: the emulator's table is shared by every test of the run.
    let (good, old) = (unique("ZK-GOOD"), unique("ZK-OLD"));

    // The equipment registry goes into the stack's table through the CLI.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("equipos.csv");
    std::fs::write(
        &file,
        format!(
            "serial,model,company,site,installed_on,warranty_until\n\
             {good},ZK4500,Tornillos del Norte,Planta 1,2026-03-01,2099-02-28\n\
             {old},ZK4500,Tornillos del Norte,Planta 2,2020-09-15,2021-09-14\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(mesa_bin())
        .args([
            "equipment",
            "import",
            file.to_str().unwrap(),
            "--table",
            &stack.table,
            "--bucket",
            &stack.rules,
        ])
        .envs(stack.process_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Two mails, each naming its reader as customers do.
    let mut folios = Vec::new();
    for serial in [&good, &old] {
        let id = unique("ses-reader");
        let raw = format!(
            "From: {sofia}\r\nTo: zendesk@ingressio.com\r\nSubject: Lector sin lectura\r\nMessage-ID: <{id}@tornillos.mx>\r\n\r\nEl lector no enciende.\r\nNo. de serie: {serial}\r\n"
        );
        clients
            .s3
            .put_object()
            .bucket(&stack.inbound)
            .key(format!("inbound/{id}"))
            .body(aws_sdk_s3::primitives::ByteStream::from(raw.into_bytes()))
            .send()
            .await
            .unwrap();
        let out = intake_email::handle(&wiring, lambda(ses_event(&id, "PASS")))
            .await
            .unwrap();
        assert_eq!(out["outcomes"][0]["outcome"], "created", "{out}");
        folios.push(out["outcomes"][0]["folio"].as_str().unwrap().to_string());
    }
    let staff = Actor::staff("jorge");
    let diagnose = Action::Diagnose {
        summary: "El lector está dañado.".into(),
        cause: "hardware".into(),
        vendor: None,
        under_warranty: None,
        replicated: None,
        serial: None,
    };
    let covered = wiring
        .desk
        .act(&folios[0], &staff, &diagnose)
        .await
        .unwrap();
    let assessment = covered.assessment.clone().unwrap();
    assert!(
        assessment.no_cost_replacement && !assessment.billable,
        "{assessment:?}"
    );
    let quoted = wiring
        .desk
        .act(&folios[1], &staff, &diagnose)
        .await
        .unwrap();
    let assessment = quoted.assessment.unwrap();
    assert_eq!(assessment.coverage.as_str(), "out_of_warranty");
    assert!(assessment.billable);

    let step = |step, carrier: &str, tracking: &str| Action::RecordReplacement {
        step,
        carrier: carrier.into(),
        tracking: tracking.into(),
        serial: String::new(),
        note: String::new(),
    };
    wiring
        .desk
        .act(&folios[0], &staff, &step(ReplacementStep::Approved, "", ""))
        .await
        .unwrap();
    wiring
        .desk
        .act(
            &folios[0],
            &staff,
            &step(ReplacementStep::Shipped, "DHL", "JD0146 0000 1234"),
        )
        .await
        .unwrap();
    assert!(
        wiring
            .desk
            .act(&folios[1], &staff, &step(ReplacementStep::Approved, "", ""))
            .await
            .is_err(),
        "no free replacement out of warranty"
    );

    // The stream hands the mail to the outbox function, which sends it through SES.
    let env = super::Env {
        clients: clients.clone(),
        wiring,
        inbound: stack.inbound.clone(),
        metrics: Default::default(),
    };
    let pending = pending_outbox(&env).await;
    let response = outbox::handle(&env.wiring, lambda(super::stream_event(&pending)))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let sent = sent_to(&sofia);
    assert_eq!(
        sent.len(),
        4,
        "two acknowledgements and two replacement steps"
    );
    let shipped = sent
        .iter()
        .map(|(_, raw)| {
            mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .map(|m| m.body_text(0).unwrap_or_default().to_string())
                .unwrap_or_default()
        })
        .find(|text| text.contains("va en camino"))
        .expect("the shipment mail");
    assert!(
        shipped.contains("DHL") && shipped.contains("JD0146 0000 1234"),
        "{shipped}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_major_incident_is_told_to_two_hundred_customers_once_each_through_ses() {
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-incident").await;
    let wiring = Wiring::new(stack.config(), clients.clone()).await.unwrap();
    // Addresses of their own: the emulator's sent mail is shared by every test of the run.
    let tag = unique("inc").to_ascii_lowercase();
    let address = |n: usize| format!("ti{n}.{tag}@cliente{n}.mx");
    let companies: Vec<serde_json::Value> = (1..=200)
        .map(|n| {
            json!({"company": format!("Cliente {n:03} {tag}"),
                   "periods": [{"start": "2020-01-01", "end": "2099-12-31"}],
                   "contacts": [{"email": address(n)}]})
        })
        .collect();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("registry.json");
    std::fs::write(&file, serde_json::Value::Array(companies).to_string()).unwrap();
    let out = std::process::Command::new(mesa_bin())
        .args([
            "customers",
            "import",
            file.to_str().unwrap(),
            "--table",
            &stack.table,
            "--bucket",
            &stack.rules,
        ])
        .envs(stack.process_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let declared = wiring
        .desk
        .declare_incident(
            mesa::desk::IncidentDeclaration {
                cause: "Falla del hospedaje en AWS".into(),
                service: "Ingressio en la Nube".into(),
                actions: "Conmutamos a la región de respaldo.".into(),
                estimated_resolution: None,
                symptoms: vec!["no sincroniza".into()],
                audience: mesa::model::Audience::Subscribed,
                reports: Vec::new(),
            },
            "luisa@ingressio.com",
        )
        .await
        .unwrap();
    // This stack's table holds only this test's registry.
    assert_eq!(declared.notices, 200);

    // The stream hands the notices to the outbox function, in batches, which sends them.
    let env = super::Env {
        clients: clients.clone(),
        wiring,
        inbound: stack.inbound.clone(),
        metrics: Default::default(),
    };
    let pending = pending_outbox(&env).await;
    assert_eq!(pending.len(), 200);
    for batch in pending.chunks(100) {
        let response = outbox::handle(&env.wiring, lambda(super::stream_event(batch)))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    for n in [1, 77, 200] {
        let sent = sent_to(&address(n));
        assert_eq!(sent.len(), 1, "one notice to customer {n}");
        assert!(sent[0].1.contains("Conmutamos"), "{}", sent[0].1);
    }
    // One entry per message sent, by its first recipient.
    let mut told: Vec<String> = sent_mail()
        .into_iter()
        .filter_map(|(_, to, _)| to.into_iter().find(|t| t.contains(&tag)))
        .collect();
    told.sort();
    let count = told.len();
    told.dedup();
    assert_eq!((count, told.len()), (200, 200), "each of the 200 told once");
}
