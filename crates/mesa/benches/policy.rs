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
        impact: None,
        subscription: "active".into(),
        terms: Default::default(),
    }
}

/// A long, messy e-mail as customers write them: the worst case of the text classifier.
fn long_ticket() -> TicketFacts {
    let mut t = ticket();
    t.subject = "URGENTE!!! checadores de la planta 2 y 3 no jalan".into();
    t.description = "Buenos dias, porfa su apoyo xq desde las 6 am los checadores de la \
        planta 2 y 3 no registran, ya reiniciamos el switch y nada, los de oficinas si \
        funcionan bien pero son como 300 personas sin poder checar, no se si sea el \
        sistema o la red, el dashboard tarda mucho en abrir y el reporte de asistencia de \
        ayer sale incompleto. Adjunto fotos. Quedo atenta, saludos.\n\n-- \nLic. Ana \
        Perez\nRecursos Humanos\nTel. 442 123 4567\n\n> El 10/11/2026 escribio soporte:\n\
        > Recibimos su solicitud."
        .repeat(2);
    t
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
    let messy = long_ticket();
    c.bench_function("classify a long, messy e-mail", |b| {
        b.iter(|| black_box(policy.classify(black_box(&messy)).unwrap()))
    });
    let form = TicketFacts {
        impact: Some(mesa::ticket::Impact {
            scope: mesa::ticket::ImpactScope::Several,
            operation_continues: true,
            workaround: false,
        }),
        ..ticket()
    };
    c.bench_function("classify a form with impact answers", |b| {
        b.iter(|| black_box(policy.classify(black_box(&form)).unwrap()))
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
