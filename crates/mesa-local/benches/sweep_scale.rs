//! How the sweep's cost grows with the open tickets on one SQLite file: 1,000, 10,000 and
//! 100,000 open tickets of which 10 are due. The sweep reads the due index, so its time and
//! the tickets it reads should follow the 10 due, not the thousands waiting.
//! `cargo bench -p mesa-local --bench sweep_scale` (sizes: MESA_SWEEP_SIZES=1000,10000).
//! Prints one JSON line per size.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use mesa::desk::{Desk, DeskConfig};
use mesa::ports::{SystemClock, TicketStore};
use mesa_conformance::{new_ticket, sample_ticket, shipped_rules};
use mesa_local::SqliteStore;

const DUE: usize = 10;

async fn fill(store: &Arc<SqliteStore>, open: usize, now: DateTime<Utc>) {
    let mut pending = Vec::new();
    for i in 0..open {
        let received = now - Duration::hours(2) - Duration::seconds(i as i64);
        let mut opening = sample_ticket(received, &format!("c{i}@bajio.com.mx"));
        // Ten are due now; the others' next deadline is days away.
        opening.next_due = Some(if i % (open / DUE) == 0 {
            now - Duration::minutes(1)
        } else {
            now + Duration::days(5)
        });
        let store = store.clone();
        pending.push(tokio::spawn(async move {
            store
                .create_ticket(new_ticket(opening, 2026, &[], false))
                .await
                .expect("created")
        }));
        if pending.len() == 512 {
            for p in pending.drain(..) {
                p.await.expect("task");
            }
        }
    }
    for p in pending {
        p.await.expect("task");
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("MESA_SWEEP_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("a size"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for open in sizes {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = Arc::new(SqliteStore::open(&dir.path().join("mesa.sqlite")).expect("open"));
            let now: DateTime<Utc> = "2026-11-25T17:00:00Z".parse().expect("instant");
            let filled = Instant::now();
            fill(&store, open, now).await;
            let fill_seconds = filled.elapsed().as_secs_f64();
            let desk = Desk::new(
                store.clone(),
                Arc::new(mesa_conformance::memory::MemoryMailer::default()),
                Arc::new(mesa_conformance::memory::MemoryBlobs::default()),
                shipped_rules(),
                Arc::new(SystemClock),
                DeskConfig::new("https://soporte.test", b"bench-secret-0123456789abcdef012"),
            );
            let started = Instant::now();
            let report = desk.sweep(now).await.expect("swept");
            let sweep_ms = started.elapsed().as_secs_f64() * 1e3;
            // The same pass again: the ten were recorded, so it reads them and writes nothing.
            let started = Instant::now();
            let again = desk.sweep(now).await.expect("swept");
            let again_ms = started.elapsed().as_secs_f64() * 1e3;
            println!(
                "{}",
                serde_json::json!({
                    "open_tickets": open,
                    "due": DUE,
                    "tickets_read": report.examined,
                    "sweep_ms": sweep_ms,
                    "warnings": report.warnings,
                    "breaches": report.breaches,
                    "second_sweep_ms": again_ms,
                    "second_sweep_read": again.examined,
                    "fill_tickets_per_second": open as f64 / fill_seconds,
                })
            );
        }
    });
}
