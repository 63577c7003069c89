//! The contract's scripts as every new ticket runs them, and the cost of loading a bundle.

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use mesa::TicketFacts;
use mesa::policy::{Bundle, Policy};

fn bundle() -> Bundle {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    Bundle::from_dir(&dir).expect("rules/")
}

fn ticket() -> TicketFacts {
    TicketFacts {
        company: "Comercializadora del Bajío".into(),
        contact_name: "Ana Pérez".into(),
        email: "ana@bajio.example".into(),
        phone: "+52 55 1234 5678".into(),
        support_type: "falla_lectores".into(),
        subject: "Checadores de la planta 2".into(),
        description:
            "Desde esta mañana hay una falla persistente: algunos lectores de la planta 2 \
                      no registran las entradas del turno. Los de oficinas funcionan bien."
                .into(),
        channel: "email".into(),
        received_at: Some(
            DateTime::parse_from_rfc3339("2026-11-10T10:00:00-06:00")
                .unwrap()
                .with_timezone(&Utc),
        ),
        severity: None,
    }
}

fn policy(c: &mut Criterion) {
    let policy = Policy::compile(bundle()).expect("shipped rules load");
    let facts = ticket();
    c.bench_function("classify + milestones of a ticket", |b| {
        b.iter(|| {
            let class = policy.classify(black_box(&facts)).unwrap();
            black_box(policy.milestones(&facts, class.severity).unwrap())
        })
    });
    let received = facts.received_at.unwrap();
    c.bench_function("classify + plan (deadlines) of a ticket", |b| {
        b.iter(|| {
            let class = policy.classify(black_box(&facts)).unwrap();
            black_box(policy.plan(&facts, received, class.severity).unwrap())
        })
    });
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function(
        "compile bundle (scripts, 101 years of holidays, calendar)",
        |b| b.iter(|| black_box(Policy::compile(bundle()).unwrap())),
    );
    group.bench_function("activate bundle (compile + all vectors)", |b| {
        b.iter(|| black_box(Policy::activate(bundle()).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
