//! The contract as shipped in `rules/`: it loads, passes its vectors, and its holiday and
//! deadline rules agree with independent computations.

use std::path::PathBuf;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use mesa::policy::{Bundle, LiveRules, Policy, PolicyError};
use mesa::{Severity, TicketFacts};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn shipped() -> Bundle {
    Bundle::from_dir(&rules_dir()).expect("rules/ is readable")
}

fn with_file(path: &str, content: &str) -> Bundle {
    let mut files: Vec<(String, Vec<u8>)> = shipped()
        .files()
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .filter(|(p, _)| p != path)
        .collect();
    files.push((path.to_string(), content.as_bytes().to_vec()));
    Bundle::from_files(files).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn shipped_rules_activate_and_pass_every_vector() {
    let policy = Policy::activate(shipped()).unwrap_or_else(|e| panic!("{e}"));
    let report = policy.run_vectors();
    assert!(
        report.outcomes.len() >= 40,
        "only {} vectors",
        report.outcomes.len()
    );
    assert_eq!(report.failed(), 0, "{}", report.failures_text());
    for file in ["business_hours", "severity", "sla", "exclusions", "billing"] {
        assert!(
            report
                .outcomes
                .iter()
                .any(|o| o.file == format!("tests/{file}.json")),
            "no vectors for {file}"
        );
    }
}

/// Ley Federal del Trabajo art. 74, written again here without the script's help.
fn lft_art_74(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| NaiveDate::from_ymd_opt(year, m, day).unwrap();
    let monday = |m, n| NaiveDate::from_weekday_of_month_opt(year, m, Weekday::Mon, n).unwrap();
    let mut days = vec![d(1, 1), d(5, 1), d(9, 16), d(12, 25)];
    if year >= 2006 {
        days.extend([monday(2, 1), monday(3, 3), monday(11, 3)]);
    } else {
        days.extend([d(2, 5), d(3, 21), d(11, 20)]);
    }
    if year <= 2018 && (2018 - year) % 6 == 0 {
        days.push(d(12, 1));
    }
    if year >= 2024 && (year - 2024) % 6 == 0 {
        days.push(d(10, 1));
    }
    days.sort();
    days
}

#[test]
fn holidays_are_right_for_every_year_2000_to_2040() {
    let policy = Policy::compile(shipped()).unwrap();
    for year in 2000..=2040 {
        let got: Vec<NaiveDate> = policy
            .holidays(year)
            .unwrap()
            .iter()
            .map(|h| h.date)
            .collect();
        assert_eq!(got, lft_art_74(year), "year {year}");
        for date in &got {
            assert!(
                policy.calendar().is_holiday(*date),
                "{date} not closed in the calendar"
            );
        }
    }
}

/// Walks business minutes one by one: slow, obviously right, and independent of the
/// calendar's span table. Mexico City has been UTC-6 all year since October 2022.
fn walk_business_minutes(
    from: DateTime<Utc>,
    minutes: i64,
    holidays: &[NaiveDate],
) -> DateTime<Utc> {
    let offset = chrono::FixedOffset::west_opt(6 * 3600).unwrap();
    let is_open = |t: DateTime<Utc>| {
        let local = t.with_timezone(&offset);
        let weekday = local.weekday().num_days_from_monday() < 5;
        let hour = (9..18).contains(&chrono::Timelike::hour(&local));
        weekday && hour && !holidays.contains(&local.date_naive())
    };
    let mut t = from;
    let mut left = minutes;
    while left > 0 {
        if is_open(t) {
            left -= 1;
        }
        t += Duration::minutes(1);
    }
    t
}

#[test]
fn deadlines_agree_with_a_minute_by_minute_walk() {
    let policy = Policy::compile(shipped()).unwrap();
    let holidays: Vec<NaiveDate> = (2026..=2027)
        .flat_map(|y| policy.holidays(y).unwrap())
        .map(|h| h.date)
        .collect();
    // Evenings, weekends, holidays, the year end, opening and closing instants.
    let receipts = [
        "2026-11-10T16:00:00Z",
        "2026-12-19T02:30:00Z",
        "2026-03-14T17:00:00Z",
        "2026-09-16T16:00:00Z",
        "2026-12-31T23:00:00Z",
        "2026-11-23T15:00:00Z",
        "2026-11-28T00:00:00Z",
        "2026-12-24T21:30:00Z",
        "2027-01-01T06:00:00Z",
        "2026-02-01T12:34:00Z",
    ];
    for r in receipts {
        let from = t(r);
        for severity in 1..=4 {
            let sev = Severity::new(severity).unwrap();
            let defs = policy.milestones(&TicketFacts::default(), sev).unwrap();
            for d in defs.iter() {
                let due = policy.due(from, d.target).unwrap();
                let expected = match d.target {
                    mesa::Target::CalendarMinutes(m) => from + Duration::minutes(m),
                    target => {
                        let minutes = target.duration(policy.calendar()).num_minutes();
                        walk_business_minutes(from, minutes, &holidays)
                    }
                };
                assert!(
                    due == expected,
                    "{r} severity {severity} {}: calendar {due}, walk {expected}",
                    d.name
                );
            }
        }
    }
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let err = Policy::compile(with_file(
        "billing.rhai",
        "fn charge(work) {\n  let x = ;\n}\n",
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PolicyError::Compile { .. }), "{text}");
    assert!(text.starts_with("billing.rhai:"), "{text}");
    assert!(text.contains("line 2"), "{text}");
}

#[test]
fn a_missing_required_function_is_named() {
    let err = Policy::compile(with_file("exclusions.rhai", "fn assess(ticket) { 1 }")).unwrap_err();
    assert!(
        matches!(&err, PolicyError::MissingFunction { function, arity: 2, .. } if function == "assess"),
        "{err}"
    );
}

#[test]
fn an_endless_loop_is_stopped_by_the_time_limit() {
    let started = Instant::now();
    let err = Policy::compile(with_file(
        "business_hours.rhai",
        "fn calendar() { loop { } }\nfn holidays(year) { [] }\n",
    ))
    .unwrap_err();
    // The limit is half a second a call; the rest is compiling the bundle, in an
    // unoptimised build on a machine that may be running other tests.
    assert!(
        started.elapsed() < StdDuration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("business_hours.rhai"), "{err}");
}

#[test]
fn a_failing_vector_keeps_the_bundle_from_activating() {
    let bundle = with_file(
        "billing.rhai",
        &std::fs::read_to_string(rules_dir().join("billing.rhai"))
            .unwrap()
            .replace(
                "fn first_hour_cents() { 6500 }",
                "fn first_hour_cents() { 6400 }",
            ),
    );
    assert!(Policy::compile(bundle.clone()).is_ok());
    let err = Policy::activate(bundle).unwrap_err();
    assert!(matches!(err, PolicyError::VectorsFailed(_)), "{err}");
    assert!(err.to_string().contains("tests/billing.json"), "{err}");
}

#[test]
fn the_last_known_good_bundle_stays_when_a_new_one_fails() {
    let live = LiveRules::new(Policy::activate(shipped()).unwrap());
    let good = live.current().version().clone();
    let broken = with_file("severity.rhai", "fn classify(t) {");
    assert!(live.try_replace(broken).is_err());
    assert_eq!(live.current().version(), &good);
    // A real change that passes its vectors does replace it.
    let changed = with_file(
        "README.txt",
        "una nota de operaciones; cambia el contenido y por tanto la versión",
    );
    let next = live.try_replace(changed).unwrap();
    assert_ne!(next, good);
    assert_eq!(live.current().version(), &next);
}

#[test]
fn scripts_cannot_reach_outside_the_bundle() {
    let sneaky = with_file(
        "billing.rhai",
        "fn charge(work) { import \"/etc/passwd\" as p; 1 }",
    );
    // The load-time smoke call of charge() already runs into it.
    let err = Policy::compile(sneaky).unwrap_err();
    assert!(err.to_string().contains("/etc/passwd"), "{err}");
    assert!(err.to_string().to_lowercase().contains("module"), "{err}");
}

/// The stack a request or an event is handled on: tokio's worker threads (2 MiB) in
/// `mesa serve` and in every Lambda function.
const WORKER_STACK: usize = 2 * 1024 * 1024;

#[test]
fn the_sandbox_holds_on_the_stack_the_server_and_the_functions_run_on() {
    let deep = format!("{}1{}", "(".repeat(20_000), ")".repeat(20_000));
    let hostile: Vec<(&str, String)> = vec![
        ("endless loop", "fn calendar() { loop { } }".into()),
        (
            "deep recursion",
            "fn calendar() { f(0) }\nfn f(x) { f(x + 1) }".into(),
        ),
        ("deep expression", format!("fn calendar() {{ {deep} }}")),
        (
            "huge string",
            r#"fn calendar() { let s = "x"; loop { s += s; } }"#.into(),
        ),
        (
            "huge array",
            "fn calendar() { let a = []; loop { a.push(a.len()); } }".into(),
        ),
        (
            "huge map",
            "fn calendar() { let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; } }".into(),
        ),
        ("eval", r#"fn calendar() { eval("calendar()") }"#.into()),
        (
            "import from outside the bundle",
            "import \"/etc/passwd\" as p;\nfn calendar() { p::x() }".into(),
        ),
    ];
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || {
            for (what, script) in hostile {
                let started = Instant::now();
                let bundle = with_file(
                    "business_hours.rhai",
                    &format!("{script}\nfn holidays(year) {{ [] }}\n"),
                );
                let err = Policy::compile(bundle).expect_err(what);
                assert!(
                    err.to_string().contains("business_hours.rhai"),
                    "{what}: {err}"
                );
                assert!(
                    started.elapsed() < StdDuration::from_secs(2),
                    "{what} took {:?}",
                    started.elapsed()
                );
            }
            // And the shipped rules on the longest description intake takes (a pasted log,
            // in the widest characters UTF-8 has).
            let policy = Policy::activate(shipped()).unwrap();
            let longest: String = "El lector 🔴 marca error 0x1F — no registra ⚠️. "
                .chars()
                .cycle()
                .take(mesa::intake::MAX_DESCRIPTION_CHARS)
                .collect();
            for description in [longest, "𝄞".repeat(mesa::intake::MAX_DESCRIPTION_CHARS)] {
                let facts = TicketFacts {
                    subject: description.chars().take(120).collect(),
                    description,
                    channel: "form".into(),
                    ..TicketFacts::default()
                };
                let class = policy.classify(&facts).unwrap();
                assert!((1..=4).contains(&class.severity.level()));
                for severity in 1..=4 {
                    policy
                        .plan(
                            &facts,
                            t("2026-11-10T16:00:00Z"),
                            Severity::new(severity).unwrap(),
                        )
                        .unwrap();
                }
            }
        })
        .unwrap();
    // A stack overflow would abort the whole test process, not fail this join.
    worker.join().unwrap();
}

/// Planning reuses milestone definitions across tickets of the same kind, so they must be a
/// function of what they are given alone: a rule that tried to give December tickets longer
/// targets from `received_at`, or one customer shorter ones from their address, sees `()`
/// and empty text (the README says so), and one that read the clock is refused.
#[test]
fn milestones_cannot_depend_on_the_time_the_ticket_came_in() {
    let severity = std::fs::read_to_string(rules_dir().join("severity.rhai")).unwrap();
    let by_month = severity.replacen(
        "fn milestones(ticket) {",
        "fn milestones(ticket) {\n    if ticket.received_at != () || ticket.description != \"\" || ticket.email != \"\" { throw \"the time or the customer's text is visible\"; }",
        1,
    );
    let policy = Policy::compile(with_file("severity.rhai", &by_month)).unwrap();
    let sev = Severity::new(2).unwrap();
    let written = TicketFacts {
        email: "ana@bajio.com.mx".into(),
        description: "Ningún lector registra desde diciembre".into(),
        ..TicketFacts::default()
    };
    let november = policy
        .plan(&written, t("2026-11-23T15:00:00Z"), sev)
        .unwrap();
    let december = policy
        .plan(&TicketFacts::default(), t("2026-12-07T15:00:00Z"), sev)
        .unwrap();
    assert_eq!(
        november
            .milestones
            .iter()
            .map(|m| &m.name)
            .collect::<Vec<_>>(),
        december
            .milestones
            .iter()
            .map(|m| &m.name)
            .collect::<Vec<_>>()
    );

    let clocked = severity.replacen(
        "fn milestones(ticket) {",
        "fn milestones(ticket) {\n    let now = timestamp();",
        1,
    );
    let err = Policy::compile(with_file("severity.rhai", &clocked)).unwrap_err();
    assert!(err.to_string().contains("no clock"), "{err}");
}
