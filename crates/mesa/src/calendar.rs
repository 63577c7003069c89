//! Business calendar: which instants count as "horas hábiles", and arithmetic on them.
//!
//! A calendar is a time zone, weekly open intervals in local wall-clock time and a set of
//! holidays. At construction it lays out every open interval of its supported years as a
//! span of UTC seconds, together with the running total of business seconds before each
//! span. `add` and `between` are then two binary searches over that table, exact to the
//! second and correct across DST changes (each span's length is real elapsed time, not
//! wall-clock time), whatever the duration: there is no walking day by day at query time.
//!
//! No crate offers business-time arithmetic over an IANA zone with holidays supplied per
//! year, which is why this module exists.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;

/// Resolution of business time: one second. Instants are truncated to whole seconds.
const SECONDS_PER_DAY: u32 = 86_400;

/// Years a calendar lays out by default. Instants outside them are an error, never a guess.
pub const DEFAULT_YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("unknown time zone {0:?} (expected an IANA name such as America/Mexico_City)")]
    UnknownTimeZone(String),
    #[error("{day}: bad time {value:?} (expected HH:MM, 00:00 to 24:00)")]
    BadTime { day: String, value: String },
    #[error("{day}: interval {start}–{end} is empty or reversed")]
    EmptyInterval {
        day: String,
        start: String,
        end: String,
    },
    #[error("{day}: intervals overlap or are out of order")]
    OverlappingIntervals { day: String },
    #[error("the weekly hours have no open interval at all")]
    NeverOpen,
    #[error("{0} is outside the calendar's supported years {1}–{2}")]
    OutOfRange(String, i32, i32),
    #[error("a business duration cannot be negative (got {0} s)")]
    NegativeDuration(i64),
}

/// One open interval of a day, in seconds after local midnight; `end` may be 86 400 (24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInterval {
    start: u32,
    end: u32,
}

impl OpenInterval {
    /// Parses `"09:00"`–`"18:00"` style bounds; `day` names the weekday in errors.
    pub fn parse(day: &str, start: &str, end: &str) -> Result<Self, CalendarError> {
        let s = parse_clock(day, start)?;
        let e = parse_clock(day, end)?;
        if e <= s {
            return Err(CalendarError::EmptyInterval {
                day: day.to_string(),
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        Ok(Self { start: s, end: e })
    }

    pub fn seconds(&self) -> u32 {
        self.end - self.start
    }
}

fn parse_clock(day: &str, value: &str) -> Result<u32, CalendarError> {
    let bad = || CalendarError::BadTime {
        day: day.to_string(),
        value: value.to_string(),
    };
    let (h, m) = value.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

/// Open intervals for each weekday, Monday first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklyHours {
    days: [Vec<OpenInterval>; 7],
}

pub const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WeeklyHours {
    /// Builds the week from per-day intervals (index 0 = Monday). Intervals of a day must be
    /// in order and must not overlap (touching is allowed).
    pub fn new(days: [Vec<OpenInterval>; 7]) -> Result<Self, CalendarError> {
        for (i, intervals) in days.iter().enumerate() {
            if intervals.windows(2).any(|w| w[1].start < w[0].end) {
                return Err(CalendarError::OverlappingIntervals {
                    day: WEEKDAY_KEYS[i].to_string(),
                });
            }
        }
        if days.iter().all(Vec::is_empty) {
            return Err(CalendarError::NeverOpen);
        }
        Ok(Self { days })
    }

    /// The same intervals Monday to Friday, weekends closed.
    pub fn weekdays(intervals: &[(&str, &str)]) -> Result<Self, CalendarError> {
        let mut days: [Vec<OpenInterval>; 7] = Default::default();
        for (i, day) in days.iter_mut().enumerate().take(5) {
            for (s, e) in intervals {
                day.push(OpenInterval::parse(WEEKDAY_KEYS[i], s, e)?);
            }
        }
        Self::new(days)
    }

    pub fn day(&self, weekday: chrono::Weekday) -> &[OpenInterval] {
        &self.days[weekday.num_days_from_monday() as usize]
    }

    /// Wall-clock business seconds of the most common open day (ties: the longer one).
    /// "N business days" is N times this.
    pub fn ordinary_day_seconds(&self) -> i64 {
        let lengths: Vec<u32> = self
            .days
            .iter()
            .map(|d| d.iter().map(OpenInterval::seconds).sum::<u32>())
            .filter(|&s| s > 0)
            .collect();
        lengths
            .iter()
            .max_by_key(|&&len| (lengths.iter().filter(|&&l| l == len).count(), len))
            .map_or(0, |&s| i64::from(s))
    }
}

/// A business calendar laid out over a range of years.
#[derive(Clone)]
pub struct BusinessCalendar {
    tz: Tz,
    weekly: WeeklyHours,
    holidays: BTreeSet<NaiveDate>,
    years: (i32, i32),
    /// UTC seconds where the laid-out range starts and ends (local midnights).
    range: (i64, i64),
    /// Open spans in UTC seconds, in order, never overlapping.
    starts: Vec<i64>,
    ends: Vec<i64>,
    /// Business seconds up to the end of each span (running total).
    cum_end: Vec<i64>,
}

impl fmt::Debug for BusinessCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusinessCalendar")
            .field("tz", &self.tz)
            .field("weekly", &self.weekly)
            .field("holidays", &self.holidays.len())
            .field("years", &self.years)
            .field("spans", &self.starts.len())
            .finish()
    }
}

impl BusinessCalendar {
    /// Lays out the calendar for `years`; `holidays` outside them are ignored.
    pub fn new(
        tz: Tz,
        weekly: WeeklyHours,
        holidays: impl IntoIterator<Item = NaiveDate>,
        years: std::ops::RangeInclusive<i32>,
    ) -> Self {
        let (first, last) = (*years.start(), *years.end());
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        let first_day = NaiveDate::from_ymd_opt(first, 1, 1).unwrap_or(NaiveDate::MIN);
        let end_day = NaiveDate::from_ymd_opt(last + 1, 1, 1).unwrap_or(NaiveDate::MAX);
        let mut starts = Vec::with_capacity(((last - first + 1) * 262) as usize);
        let mut ends = Vec::with_capacity(starts.capacity());
        let mut cum_end = Vec::with_capacity(starts.capacity());
        let mut total = 0i64;
        // Offset at this day's local midnight; reused as the previous day's "next midnight".
        let mut midnight = local_to_utc(&tz, first_day.and_time(NaiveTime::MIN));
        let range_start = midnight;
        let mut day = first_day;
        while day < end_day {
            let next = day.succ_opt().unwrap_or(NaiveDate::MAX);
            let next_midnight = local_to_utc(&tz, next.and_time(NaiveTime::MIN));
            let intervals = weekly.day(day.weekday());
            if !intervals.is_empty() && !holidays.contains(&day) {
                // Fast path: no offset change during the day, so local seconds map linearly.
                let plain = next_midnight - midnight == i64::from(SECONDS_PER_DAY);
                for iv in intervals {
                    let (s, e) = if plain {
                        (midnight + i64::from(iv.start), midnight + i64::from(iv.end))
                    } else {
                        (
                            local_seconds_to_utc(&tz, day, iv.start),
                            local_seconds_to_utc(&tz, day, iv.end),
                        )
                    };
                    let s = s.max(ends.last().copied().unwrap_or(i64::MIN));
                    if e > s {
                        total += e - s;
                        starts.push(s);
                        ends.push(e);
                        cum_end.push(total);
                    }
                }
            }
            midnight = next_midnight;
            day = next;
        }
        Self {
            tz,
            weekly,
            holidays,
            years: (first, last),
            range: (range_start, midnight),
            starts,
            ends,
            cum_end,
        }
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    pub fn weekly(&self) -> &WeeklyHours {
        &self.weekly
    }

    pub fn years(&self) -> (i32, i32) {
        self.years
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// Length of an ordinary business day ("1 día hábil").
    pub fn ordinary_day(&self) -> Duration {
        Duration::seconds(self.weekly.ordinary_day_seconds())
    }

    /// The instant in the calendar's time zone, for display.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.tz)
    }

    /// Whether `t` is inside an open interval (opening instant included, closing excluded).
    pub fn is_open(&self, t: DateTime<Utc>) -> Result<bool, CalendarError> {
        let t = self.check(t)?;
        let i = self.starts.partition_point(|&s| s <= t);
        Ok(i > 0 && t < self.ends[i - 1])
    }

    /// The instant `d` business time after `t`. A zero duration gives `t` itself; otherwise
    /// the result is inside business hours or exactly at a closing instant.
    pub fn add(&self, t: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>, CalendarError> {
        let secs = d.num_seconds();
        if secs < 0 {
            return Err(CalendarError::NegativeDuration(secs));
        }
        let t_secs = self.check(t)?;
        if secs == 0 {
            return Ok(from_secs(t_secs));
        }
        let target = self.position(t_secs) + secs;
        let i = self.cum_end.partition_point(|&c| c < target);
        if i == self.cum_end.len() {
            return Err(self.out_of_range_after());
        }
        let span_start_pos = self.cum_end[i] - (self.ends[i] - self.starts[i]);
        Ok(from_secs(self.starts[i] + (target - span_start_pos)))
    }

    /// Business time from `a` to `b` (negative when `b` is before `a`).
    pub fn between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Result<Duration, CalendarError> {
        let a = self.check(a)?;
        let b = self.check(b)?;
        Ok(Duration::seconds(self.position(b) - self.position(a)))
    }

    /// Business seconds from the start of the range up to `t`.
    fn position(&self, t: i64) -> i64 {
        let i = self.starts.partition_point(|&s| s <= t);
        if i == 0 {
            return 0;
        }
        let span_len = self.ends[i - 1] - self.starts[i - 1];
        self.cum_end[i - 1] - span_len + (t - self.starts[i - 1]).min(span_len)
    }

    fn check(&self, t: DateTime<Utc>) -> Result<i64, CalendarError> {
        let secs = t.timestamp();
        if secs < self.range.0 || secs > self.range.1 {
            return Err(CalendarError::OutOfRange(
                t.to_rfc3339(),
                self.years.0,
                self.years.1,
            ));
        }
        Ok(secs)
    }

    fn out_of_range_after(&self) -> CalendarError {
        CalendarError::OutOfRange(
            "the resulting instant".to_string(),
            self.years.0,
            self.years.1,
        )
    }
}

fn from_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn local_seconds_to_utc(tz: &Tz, day: NaiveDate, secs: u32) -> i64 {
    let midnight = day.and_time(NaiveTime::MIN);
    local_to_utc(tz, midnight + Duration::seconds(i64::from(secs)))
}

/// Local wall-clock time to UTC seconds. In a fold the earlier instant wins; a time in a
/// gap is read with the offset in force before the gap, which lands just after it (the
/// usual "spring forward" reading).
fn local_to_utc(tz: &Tz, local: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp(),
        LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
        LocalResult::None => {
            let before = local - Duration::hours(6);
            let offset = tz.from_local_datetime(&before).earliest().map_or(0, |t| {
                i64::from(chrono::Offset::fix(t.offset()).local_minus_utc())
            });
            local.and_utc().timestamp() - offset
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn berlin() -> BusinessCalendar {
        let holidays =
            (2000..=2100).flat_map(|y| [date(y, 12, 25), date(y, 12, 26), date(y, 1, 1)]);
        BusinessCalendar::new(
            chrono_tz::Europe::Berlin,
            WeeklyHours::weekdays(&[("09:00", "17:00")]).unwrap(),
            holidays,
            DEFAULT_YEARS,
        )
    }

    #[test]
    fn berlin_christmas_golden_case() {
        let cal = berlin();
        let from = chrono_tz::Europe::Berlin
            .with_ymd_and_hms(2026, 12, 24, 15, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        let due = cal.add(from, Duration::hours(4)).unwrap();
        let expected = chrono_tz::Europe::Berlin
            .with_ymd_and_hms(2026, 12, 28, 11, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(due, expected);
        assert_eq!(cal.between(from, due).unwrap(), Duration::hours(4));
    }

    #[test]
    fn rejects_bad_hours() {
        assert!(matches!(
            OpenInterval::parse("mon", "9:00", "18:00"),
            Err(CalendarError::BadTime { .. })
        ));
        assert!(matches!(
            OpenInterval::parse("mon", "18:00", "09:00"),
            Err(CalendarError::EmptyInterval { .. })
        ));
        assert!(OpenInterval::parse("mon", "00:00", "24:00").is_ok());
        assert!(OpenInterval::parse("mon", "24:30", "24:00").is_err());
        let mut days: [Vec<OpenInterval>; 7] = Default::default();
        days[0] = vec![
            OpenInterval::parse("mon", "09:00", "13:00").unwrap(),
            OpenInterval::parse("mon", "12:00", "18:00").unwrap(),
        ];
        assert!(matches!(
            WeeklyHours::new(days),
            Err(CalendarError::OverlappingIntervals { .. })
        ));
        assert_eq!(
            WeeklyHours::new(Default::default()),
            Err(CalendarError::NeverOpen)
        );
    }

    #[test]
    fn zero_duration_is_identity_and_negative_is_an_error() {
        let cal = berlin();
        let sunday = utc("2026-06-07T03:00:00Z");
        assert_eq!(cal.add(sunday, Duration::zero()).unwrap(), sunday);
        assert_eq!(
            cal.add(sunday, Duration::seconds(-1)),
            Err(CalendarError::NegativeDuration(-1))
        );
    }

    #[test]
    fn out_of_range_is_an_error() {
        let cal = berlin();
        assert!(matches!(
            cal.add(utc("1999-06-01T10:00:00Z"), Duration::hours(1)),
            Err(CalendarError::OutOfRange(..))
        ));
        assert!(matches!(
            cal.add(utc("2100-12-31T15:00:00Z"), Duration::hours(10)),
            Err(CalendarError::OutOfRange(..))
        ));
    }

    #[test]
    fn closing_instant_is_the_result_of_an_exact_fill() {
        let cal = berlin();
        // Monday 2026-06-08 09:00 Berlin (CEST, +02:00) + 8 h = 17:00 the same day, not Tuesday 09:00.
        let due = cal
            .add(utc("2026-06-08T07:00:00Z"), Duration::hours(8))
            .unwrap();
        assert_eq!(due, utc("2026-06-08T15:00:00Z"));
        assert!(!cal.is_open(due).unwrap());
    }

    #[test]
    fn weekend_start_counts_from_monday_opening() {
        let cal = berlin();
        let due = cal
            .add(utc("2026-06-06T12:00:00Z"), Duration::minutes(90))
            .unwrap();
        assert_eq!(due, utc("2026-06-08T08:30:00Z"));
        assert_eq!(
            cal.between(utc("2026-06-06T12:00:00Z"), due).unwrap(),
            Duration::minutes(90)
        );
    }

    #[test]
    fn several_intervals_a_day() {
        let week = WeeklyHours::weekdays(&[("09:00", "13:00"), ("14:00", "18:00")]).unwrap();
        let cal = BusinessCalendar::new(chrono_tz::UTC, week, [], 2020..=2030);
        let due = cal
            .add(utc("2026-06-08T12:00:00Z"), Duration::hours(2))
            .unwrap();
        assert_eq!(due, utc("2026-06-08T15:00:00Z"));
        assert_eq!(
            cal.between(utc("2026-06-08T12:30:00Z"), utc("2026-06-08T14:30:00Z"))
                .unwrap(),
            Duration::minutes(60)
        );
        assert_eq!(cal.ordinary_day(), Duration::hours(8));
    }

    /// New York springs forward at 02:00 and falls back at 02:00; a 24 h shop feels both.
    #[test]
    fn dst_inside_open_hours_counts_real_time() {
        let mut days: [Vec<OpenInterval>; 7] = Default::default();
        for (i, d) in days.iter_mut().enumerate() {
            d.push(OpenInterval::parse(WEEKDAY_KEYS[i], "00:00", "24:00").unwrap());
        }
        let cal = BusinessCalendar::new(
            chrono_tz::America::New_York,
            WeeklyHours::new(days).unwrap(),
            [],
            2020..=2030,
        );
        // Sunday 2026-03-08 has 23 real hours; 2026-11-01 has 25.
        let spring = utc("2026-03-08T05:00:00Z"); // local midnight EST
        assert_eq!(
            cal.add(spring, Duration::hours(23)).unwrap(),
            utc("2026-03-09T04:00:00Z")
        );
        let fall = utc("2026-11-01T04:00:00Z"); // local midnight EDT
        assert_eq!(
            cal.between(fall, utc("2026-11-02T05:00:00Z")).unwrap(),
            Duration::hours(25)
        );
    }

    /// With a 09–17 shop the DST change falls outside hours: same clock time the next day.
    #[test]
    fn dst_outside_hours_keeps_clock_time() {
        let cal = BusinessCalendar::new(
            chrono_tz::America::New_York,
            WeeklyHours::weekdays(&[("09:00", "17:00")]).unwrap(),
            [],
            2020..=2030,
        );
        // Friday 2026-03-06 10:00 EST + 8 h = Monday 2026-03-09 10:00 EDT.
        let due = cal
            .add(utc("2026-03-06T15:00:00Z"), Duration::hours(8))
            .unwrap();
        assert_eq!(due, utc("2026-03-09T14:00:00Z"));
        // Friday 2026-10-30 10:00 EDT + 8 h = Monday 2026-11-02 10:00 EST.
        let due = cal
            .add(utc("2026-10-30T14:00:00Z"), Duration::hours(8))
            .unwrap();
        assert_eq!(due, utc("2026-11-02T15:00:00Z"));
    }

    #[test]
    fn berlin_dst_weekend() {
        let cal = berlin();
        // Friday 2026-03-27 16:00 CET + 2 h = Monday 2026-03-30 10:00 CEST.
        let due = cal
            .add(utc("2026-03-27T15:00:00Z"), Duration::hours(2))
            .unwrap();
        assert_eq!(due, utc("2026-03-30T08:00:00Z"));
    }

    #[test]
    fn mexico_city_has_no_dst_since_2022() {
        let cal = BusinessCalendar::new(
            chrono_tz::America::Mexico_City,
            WeeklyHours::weekdays(&[("09:00", "18:00")]).unwrap(),
            [],
            2000..=2100,
        );
        // April 2026: still -06:00 (DST was abolished in October 2022).
        let due = cal
            .add(utc("2026-04-06T15:00:00Z"), Duration::hours(10))
            .unwrap();
        assert_eq!(due, utc("2026-04-07T16:00:00Z"));
        // April 2021: -05:00 (CDT) then; 09:00 local = 14:00 UTC.
        let due = cal
            .add(utc("2021-04-05T14:00:00Z"), Duration::hours(10))
            .unwrap();
        assert_eq!(due, utc("2021-04-06T15:00:00Z"));
        assert_eq!(cal.ordinary_day(), Duration::hours(9));
    }
}
