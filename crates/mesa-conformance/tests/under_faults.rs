//! The help desk's promises under random faults in every port, on the in-memory store (the
//! services' own logic: retries, idempotency, the outbox). `MESA_FAULT_CASES` sets how many
//! seeds run (a fixed budget in `tests/run`; more on demand), `MESA_FAULT_SEED` replays one.

use std::sync::Arc;

use mesa_conformance::memory::MemoryStore;
use mesa_conformance::under_faults::{run_case, seeds};

#[tokio::test]
async fn nothing_accepted_is_lost_doubled_or_left_half_done_under_random_faults() {
    let (mut tickets, mut faults) = (0, 0);
    for seed in seeds(64) {
        let summary = run_case(Arc::new(MemoryStore::new()), seed)
            .await
            .unwrap_or_else(|e| panic!("seed {seed} (MESA_FAULT_SEED={seed} replays it): {e}"));
        tickets += summary.tickets;
        faults += summary.faults;
    }
    // The schedule really did fail calls, and the cases really did open tickets.
    assert!(faults > 100, "only {faults} faults injected");
    assert!(tickets > 100, "only {tickets} tickets opened");
}
