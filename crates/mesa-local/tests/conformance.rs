//! The store conformance suite on a real SQLite file.

use std::sync::Arc;

use mesa_local::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_store_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    mesa_conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.path().join(format!("store-{n}.sqlite"));
        async move { Arc::new(SqliteStore::open(&path).expect("open")) as mesa_conformance::Store }
    })
    .await;
}

#[test]
fn reopening_keeps_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesa.sqlite");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use mesa::ports::HeartbeatStore;
        let store = SqliteStore::open(&path).unwrap();
        store
            .record_heartbeat("sweep", chrono::Utc::now())
            .await
            .unwrap();
        drop(store);
        let again = SqliteStore::open(&path).unwrap();
        assert!(again.last_heartbeat("sweep").await.unwrap().is_some());
    });
}

/// A data directory from before contract periods (schema version 2, one contact) upgraded
/// by opening it: the contact keeps working, and its company has a record and its page.
#[tokio::test]
async fn contacts_registered_before_periods_get_their_company_on_upgrade() {
    use mesa::model::{CompanyRecord, CustomerRecord, Subscription};
    use mesa::ports::CustomerStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesa.sqlite");
    let contact = CustomerRecord {
        company: "Comercializadora del Bajío".into(),
        email: "ana@bajio.com.mx".into(),
        domain: String::new(),
        contact_name: "Ana Pérez".into(),
        phone: "442 123 4567".into(),
    };
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/0001_init.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../migrations/0002_staff.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute(
            "INSERT INTO customers (email, domain, data) VALUES (?1, '', ?2)",
            rusqlite::params![contact.email, serde_json::to_string(&contact).unwrap()],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.find_customer("ana@bajio.com.mx").await.unwrap(),
        Some(contact.clone())
    );
    let company = store
        .company("comercializadora del bajío")
        .await
        .unwrap()
        .expect("a company record for the old contact");
    assert_eq!(
        company,
        CompanyRecord {
            company: contact.company.clone(),
            ..CompanyRecord::default()
        }
    );
    assert!(matches!(
        company.subscription_on("2026-11-27".parse().unwrap()),
        Subscription::NoPeriodsOnRecord { .. }
    ));
    assert_eq!(
        store.contacts_of(&contact.company).await.unwrap(),
        vec![contact]
    );
}
