//! Laws every business calendar must keep, checked with proptest in three zones with DST
//! (New York, Berlin) and without it since 2022 (Mexico City, with the shipped holidays).

use std::path::PathBuf;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use mesa::calendar::{BusinessCalendar, DEFAULT_YEARS, WeeklyHours};
use mesa::policy::{Bundle, Policy};
use proptest::prelude::*;

fn fixed_holidays(days: &[(u32, u32)]) -> Vec<NaiveDate> {
    DEFAULT_YEARS
        .flat_map(|y| {
            days.iter()
                .map(move |&(m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
        })
        .collect()
}

static BERLIN: LazyLock<BusinessCalendar> = LazyLock::new(|| {
    BusinessCalendar::new(
        chrono_tz::Europe::Berlin,
        WeeklyHours::weekdays(&[("09:00", "17:00")]).unwrap(),
        fixed_holidays(&[(1, 1), (12, 25), (12, 26)]),
        DEFAULT_YEARS,
    )
});

static NEW_YORK: LazyLock<BusinessCalendar> = LazyLock::new(|| {
    BusinessCalendar::new(
        chrono_tz::America::New_York,
        WeeklyHours::weekdays(&[("08:30", "12:00"), ("13:00", "17:30")]).unwrap(),
        fixed_holidays(&[(1, 1), (7, 4), (12, 25)]),
        DEFAULT_YEARS,
    )
});

static MEXICO: LazyLock<Policy> = LazyLock::new(|| {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    Policy::compile(Bundle::from_dir(&dir).unwrap()).unwrap()
});

fn calendar(which: usize) -> &'static BusinessCalendar {
    match which {
        0 => &BERLIN,
        1 => &NEW_YORK,
        _ => MEXICO.calendar(),
    }
}

/// Any second from 2001 to 2098 (well inside the laid-out years).
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (978_307_200i64..4_070_908_800i64).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

/// Up to 60 business days of 9 hours, to the second.
fn duration() -> impl Strategy<Value = Duration> {
    (0i64..60 * 9 * 3600).prop_map(Duration::seconds)
}

fn is_closing_instant(cal: &BusinessCalendar, t: DateTime<Utc>) -> bool {
    !cal.is_open(t).unwrap() && cal.is_open(t - Duration::seconds(1)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn between_undoes_add(which in 0usize..3, t in instant(), d in duration()) {
        let cal = calendar(which);
        let due = cal.add(t, d).unwrap();
        prop_assert_eq!(cal.between(t, due).unwrap(), d);
    }

    #[test]
    fn add_is_monotonic(which in 0usize..3, t in instant(), d1 in duration(), d2 in duration(), shift in 0i64..10 * 86_400) {
        let cal = calendar(which);
        let (lo, hi) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
        prop_assert!(cal.add(t, lo).unwrap() <= cal.add(t, hi).unwrap());
        prop_assert!(cal.add(t, d1).unwrap() <= cal.add(t + Duration::seconds(shift), d1).unwrap());
        prop_assert!(cal.add(t, d1).unwrap() >= t);
    }

    #[test]
    fn results_are_open_instants_or_exact_closings(which in 0usize..3, t in instant(), d in duration()) {
        prop_assume!(d > Duration::zero());
        let cal = calendar(which);
        let due = cal.add(t, d).unwrap();
        prop_assert!(cal.is_open(due).unwrap() || is_closing_instant(cal, due), "{due}");
        let local = due.with_timezone(&cal.time_zone());
        prop_assert!(!cal.is_holiday(local.date_naive()), "{local} is a holiday");
    }

    #[test]
    fn between_is_additive(which in 0usize..3, a in instant(), b in instant(), c in instant()) {
        let cal = calendar(which);
        let ab = cal.between(a, b).unwrap();
        let bc = cal.between(b, c).unwrap();
        prop_assert_eq!(ab + bc, cal.between(a, c).unwrap());
        prop_assert_eq!(cal.between(b, a).unwrap(), -ab);
    }

    #[test]
    fn add_composes(which in 0usize..3, t in instant(), d1 in duration(), d2 in duration()) {
        let cal = calendar(which);
        let once = cal.add(t, d1 + d2).unwrap();
        let twice = cal.add(cal.add(t, d1).unwrap(), d2).unwrap();
        prop_assert_eq!(once, twice);
    }
}

/// A slow, obviously right oracle: step minute by minute through local time.
fn walk(
    tz: Tz,
    open: &[(u32, u32)],
    holidays: &[(u32, u32)],
    from: DateTime<Utc>,
    minutes: i64,
) -> DateTime<Utc> {
    let is_open = |t: DateTime<Utc>| {
        let l = t.with_timezone(&tz);
        let minute = l.hour() * 60 + l.minute();
        l.weekday().num_days_from_monday() < 5
            && !holidays.contains(&(l.month(), l.day()))
            && open.iter().any(|&(s, e)| (s..e).contains(&minute))
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// New York across both DST changes and its holidays, against the minute walk.
    #[test]
    fn new_york_matches_the_minute_walk(minute in 0i64..(2 * 366 * 24 * 60), d in 1i64..(40 * 60)) {
        let from = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
            + Duration::minutes(minute);
        let due = NEW_YORK.add(from, Duration::minutes(d)).unwrap();
        let expected = walk(chrono_tz::America::New_York, &[(510, 720), (780, 1050)], &[(1, 1), (7, 4), (12, 25)], from, d);
        prop_assert_eq!(due, expected);
    }

    #[test]
    fn berlin_matches_the_minute_walk(minute in 0i64..(2 * 366 * 24 * 60), d in 1i64..(40 * 60)) {
        let from = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
            + Duration::minutes(minute);
        let due = BERLIN.add(from, Duration::minutes(d)).unwrap();
        let expected = walk(chrono_tz::Europe::Berlin, &[(540, 1020)], &[(1, 1), (12, 25), (12, 26)], from, d);
        prop_assert_eq!(due, expected);
    }
}
