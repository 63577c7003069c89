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
