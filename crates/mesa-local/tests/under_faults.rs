//! The help desk's promises under random faults in every port, on a real SQLite file: each
//! seed on a fresh database (see `mesa_conformance::under_faults`; `MESA_FAULT_CASES` and
//! `MESA_FAULT_SEED` as there).

use std::sync::Arc;

use mesa_conformance::under_faults::{run_case, seeds};
use mesa_local::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_accepted_is_lost_doubled_or_left_half_done_under_random_faults_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (mut tickets, mut faults) = (0, 0);
    for seed in seeds(32) {
        let store = SqliteStore::open(&dir.path().join(format!("faults-{seed}.sqlite")))
            .expect("open the database");
        let summary = run_case(Arc::new(store), seed)
            .await
            .unwrap_or_else(|e| panic!("seed {seed} (MESA_FAULT_SEED={seed} replays it): {e}"));
        tickets += summary.tickets;
        faults += summary.faults;
    }
    assert!(faults > 25, "only {faults} faults injected");
    assert!(tickets > 25, "only {tickets} tickets opened");
}
