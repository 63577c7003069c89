//! A published bundle passed its vectors but fails at run time on one customer's text: that
//! ticket is still opened (under the last known good bundle, else the built-in contract),
//! logged and counted; the other tickets run on the published bundle.

use std::sync::Arc;

use mesa::desk::{Desk, DeskConfig, EmailOutcomeKind};
use mesa::model::CustomerRecord;
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa::ports::CustomerStore;
use mesa_conformance::memory::{
    MemoryBlobs, MemoryBus, MemoryMailer, MemoryMetrics, MemoryStore, TestClock,
};

use crate::harness::{MONDAY_MORNING, form, mail, t};

/// The built-in bundle with a severity script that throws on texts naming `word`, and a
/// marker comment so each such bundle has its own version.
fn failing_on(word: &str) -> Bundle {
    let files = Bundle::built_in()
        .files()
        .map(|(path, bytes)| {
            let mut bytes = bytes.to_vec();
            if path == "severity.rhai" {
                let text = String::from_utf8(bytes).expect("UTF-8");
                let text = text.replacen(
                    "fn classify(ticket) {",
                    &format!(
                        "fn classify(ticket) {{\n    if ticket.description.contains(\"{word}\") {{ throw \"un defecto del script\"; }}"
                    ),
                    1,
                );
                bytes = text.into_bytes();
            }
            (path.to_string(), bytes)
        })
        .collect::<Vec<_>>();
    Bundle::from_files(files).expect("a bundle")
}

fn desk_on(rules: Arc<LiveRules>) -> (Desk, Arc<MemoryMetrics>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let metrics = Arc::new(MemoryMetrics::default());
    let desk = Desk::new(
        store.clone(),
        Arc::new(MemoryMailer::default()),
        Arc::new(MemoryBlobs::default()),
        rules,
        Arc::new(TestClock::at(t(MONDAY_MORNING))),
        DeskConfig::new("https://soporte.test", b"service-test-secret-0123456789ab"),
    )
    .with_events(Arc::new(MemoryBus::default()))
    .with_metrics(metrics.clone());
    (desk, metrics, store)
}

#[tokio::test]
async fn a_ticket_the_published_rules_fail_on_is_opened_under_the_last_known_good_bundle() {
    let built_in = Policy::activate(Bundle::built_in()).unwrap();
    let good = built_in.version().clone();
    let rules = Arc::new(LiveRules::new(built_in));
    let published = rules
        .try_replace(failing_on("VENENO"))
        .expect("the faulty bundle passes its vectors");
    assert_ne!(published, good);
    let (desk, metrics, _) = desk_on(rules);

    let poisoned = desk
        .submit_form(
            &form("Los lectores marcan VENENO en la pantalla y nadie puede checar."),
            &[],
            None,
            "",
        )
        .await
        .expect("the report is taken although the published rules fail on it");
    assert_eq!(poisoned.ticket.rules_version, good);
    assert_eq!(metrics.count_of("RulesFallback"), 1);

    let plain = desk
        .submit_form(
            &form("El reporte de la quincena sale vacío."),
            &[],
            None,
            "",
        )
        .await
        .unwrap();
    assert_eq!(plain.ticket.rules_version, published);
    assert_eq!(metrics.count_of("RulesFallback"), 1);
}

#[tokio::test]
async fn when_the_earlier_bundle_fails_too_the_built_in_contract_opens_the_ticket() {
    let rules = Arc::new(LiveRules::new(
        Policy::activate(failing_on("VENENO")).unwrap(),
    ));
    rules.try_replace(failing_on("VENENO ")).unwrap();
    let (desk, metrics, store) = desk_on(rules);
    store
        .upsert_customer(&CustomerRecord {
            company: "Comercializadora del Bajío".into(),
            email: "ana@bajio.com.mx".into(),
            domain: String::new(),
            contact_name: "Ana Pérez".into(),
            phone: "4421234567".into(),
        })
        .await
        .unwrap();
    let outcome = desk
        .intake_email(
            &mail(
                "ana@bajio.com.mx",
                "<veneno@bajio.com.mx>",
                "Falla",
                "Dice VENENO en todos los lectores.",
            ),
            t(MONDAY_MORNING),
        )
        .await
        .expect("the mail is taken, not retried for ever");
    assert_eq!(outcome.outcome, EmailOutcomeKind::Created);
    assert_eq!(store.ticket_count(), 1);
    let ticket = desk
        .ticket_by_folio(outcome.folio.unwrap().as_str())
        .await
        .unwrap();
    assert_eq!(ticket.rules_version, Bundle::built_in().version());
    assert_eq!(metrics.count_of("RulesFallback"), 1);
}
