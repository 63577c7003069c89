//! The automatic incident rule as customers meet it in an outage: reports of a total outage
//! arrive from many companies in the same moments, and each company is told of it once.

use std::sync::Arc;

use mesa::desk::{Desk, DeskConfig};
use mesa::model::{CompanyRecord, CustomerRecord};
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa::ports::{CustomerStore, IncidentStore};
use mesa_conformance::memory::{MemoryBlobs, MemoryBus, MemoryMailer, MemoryStore, TestClock};

use crate::harness::{MONDAY_MORNING, mail, t};

/// The shipped rules with the automatic rule on: two companies within half an hour.
fn rules_declaring_at_two_companies() -> Arc<LiveRules> {
    let files = Bundle::built_in()
        .files()
        .map(|(path, bytes)| {
            let mut bytes = bytes.to_vec();
            if path == "intake.rhai" {
                let text = String::from_utf8(bytes).expect("UTF-8");
                assert!(text.contains("critical_reports: 0,"));
                bytes = text
                    .replace("critical_reports: 0,", "critical_reports: 2,")
                    .into_bytes();
            }
            (path.to_string(), bytes)
        })
        .collect::<Vec<_>>();
    let policy = Policy::activate(Bundle::from_files(files).expect("a bundle")).unwrap();
    Arc::new(LiveRules::new(policy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_reported_by_many_companies_at_once_is_one_incident_told_once_to_each() {
    let store = Arc::new(MemoryStore::new());
    let mailer = Arc::new(MemoryMailer::default());
    let desk = Arc::new(
        Desk::new(
            store.clone(),
            mailer.clone(),
            Arc::new(MemoryBlobs::default()),
            rules_declaring_at_two_companies(),
            Arc::new(TestClock::at(t(MONDAY_MORNING))),
            DeskConfig::new("https://soporte.test", b"service-test-secret-0123456789ab"),
        )
        .with_events(Arc::new(MemoryBus::default())),
    );
    const COMPANIES: usize = 8;
    for n in 1..=COMPANIES {
        let company = format!("Planta {n}");
        store
            .upsert_company(&CompanyRecord {
                company: company.clone(),
                periods: Vec::new(),
                terms: Default::default(),
            })
            .await
            .unwrap();
        store
            .upsert_customer(&CustomerRecord {
                company,
                email: format!("rh@planta{n}.mx"),
                domain: String::new(),
                contact_name: format!("Recursos Humanos {n}"),
                phone: String::new(),
            })
            .await
            .unwrap();
    }

    // Every company writes in the same moments, as they do when nobody can clock in.
    let reports: Vec<_> = (1..=COMPANIES)
        .map(|n| {
            let desk = desk.clone();
            tokio::spawn(async move {
                let raw = mail(
                    &format!("rh@planta{n}.mx"),
                    &format!("<caida.{n}@planta{n}.mx>"),
                    "No funciona nada",
                    "El sistema está caído por completo, no opera ningún equipo biométrico \
                     en ninguna planta y nadie puede checar.",
                );
                desk.intake_email(&raw, desk.now()).await.expect("taken in")
            })
        })
        .collect();
    let mut folios = Vec::new();
    for report in reports {
        folios.push(report.await.unwrap().folio.expect("a ticket"));
    }

    let incidents = store.incidents().await.unwrap();
    assert_eq!(
        incidents.len(),
        1,
        "one outage, one incident: {incidents:#?}"
    );
    assert_eq!(incidents[0].declared_by, "rules");
    // Every report is handled with the incident, whichever declaration met it first.
    for folio in &folios {
        let ticket = desk.ticket_by_folio(folio.as_str()).await.unwrap();
        assert_eq!(
            ticket.incident.map(|l| l.id),
            Some(incidents[0].id.clone()),
            "{folio}"
        );
    }

    desk.deliver_outbox().await.unwrap();
    let mut told: Vec<String> = mailer
        .sent()
        .into_iter()
        .filter(|m| m.subject.starts_with("Aviso de falla"))
        .map(|m| m.to)
        .collect();
    told.sort();
    let notices = told.len();
    told.dedup();
    assert_eq!(notices, told.len(), "nobody told twice: {told:?}");
    assert_eq!(told.len(), COMPANIES, "every company told: {told:?}");
}
