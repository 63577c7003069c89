//! Business-time arithmetic on the shipped calendar (Mexico City, Mon–Fri 09–18, LFT art. 74).

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use mesa::policy::{Bundle, Policy};

fn policy() -> Policy {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    Policy::compile(Bundle::from_dir(&dir).expect("rules/")).expect("shipped rules load")
}

/// Receipts spread over weekdays, nights, weekends and holidays.
fn receipts() -> Vec<DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    (0..64)
        .map(|i| start + Duration::minutes(i * 5_471))
        .collect()
}

fn calendar(c: &mut Criterion) {
    let policy = policy();
    let cal = policy.calendar();
    let from = receipts();
    let day = cal.ordinary_day();

    c.bench_function("calendar add +6 business hours", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % from.len();
            black_box(cal.add(black_box(from[i]), Duration::hours(6)).unwrap())
        })
    });
    c.bench_function("calendar add +30 business days", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % from.len();
            black_box(cal.add(black_box(from[i]), day * 30).unwrap())
        })
    });
    c.bench_function("calendar between over a month", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % from.len();
            let a = from[i];
            black_box(
                cal.between(black_box(a), black_box(a + Duration::days(31)))
                    .unwrap(),
            )
        })
    });
}

criterion_group!(benches, calendar);
criterion_main!(benches);
