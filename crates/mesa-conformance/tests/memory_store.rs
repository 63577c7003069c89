//! The in-memory store passes the same conformance suite as SQLite and DynamoDB, so the
//! fast service tests that use it test the services, not a store with other rules.

use std::sync::Arc;

use mesa_conformance::memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_passes_the_store_conformance_suite() {
    mesa_conformance::run_all(|| async { Arc::new(MemoryStore::new()) as mesa_conformance::Store })
        .await;
}
