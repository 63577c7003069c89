//! SLA clocks: a pure function of a ticket's timeline, its milestone definitions and the
//! business calendar. Nothing is stored but events, so a change of severity, a pause or a
//! new contract version recomputes every deadline the same way, from the receipt.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{BusinessCalendar, CalendarError};
use crate::ticket::ClockSignal;

/// How a milestone's target is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Wall-clock minutes, nights and holidays included (the 15-minute acknowledgement).
    CalendarMinutes(i64),
    /// Business hours of the calendar.
    BusinessHours(i64),
    /// Business days: N × the calendar's ordinary business day.
    BusinessDays(i64),
}

impl Target {
    pub fn is_business(self) -> bool {
        !matches!(self, Target::CalendarMinutes(_))
    }

    /// The target as a duration in its own time base (business or wall-clock seconds).
    pub fn duration(self, calendar: &BusinessCalendar) -> Duration {
        match self {
            Target::CalendarMinutes(m) => Duration::minutes(m),
            Target::BusinessHours(h) => Duration::hours(h),
            Target::BusinessDays(d) => calendar.ordinary_day() * d as i32,
        }
    }
}

/// One SLA clock as the rules define it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneDef {
    pub name: String,
    pub target: Target,
    /// The clock starts at the first of these (normally `received`).
    pub start_on: ClockSignal,
    /// The clock stops at the first of these while it runs.
    pub stop_on: Vec<ClockSignal>,
    /// These pause a running clock...
    pub pause_on: Vec<ClockSignal>,
    /// ...and these resume it.
    pub resume_on: Vec<ClockSignal>,
    /// These make a stopped clock run again; the time it stood stopped is not counted.
    pub reopen_on: Vec<ClockSignal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Its start event has not happened.
    Pending,
    Running,
    Paused,
    /// Stopped on or before its due instant.
    Met,
    /// Stopped after its due instant, or still open past it.
    Breached,
}

/// A milestone's clock as of `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MilestoneStatus {
    pub name: String,
    pub state: ClockState,
    pub started_at: Option<DateTime<Utc>>,
    /// Due instant given the pauses so far (a paused clock's due moves while it is paused).
    pub due: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Whether the clock still runs (a breached clock may still be running).
    pub running: bool,
    /// Time not counted (paused, or stopped before a reopen), in the clock's time base.
    pub paused_seconds: i64,
    /// Time counted so far, in the clock's time base.
    pub elapsed_seconds: i64,
    pub target_seconds: i64,
    /// elapsed / target (1.0 = due now).
    pub elapsed_share: f64,
    /// Whether its seconds are business seconds (hours and days of the calendar) rather
    /// than wall-clock ones: time left is shown in the clock's own base.
    #[serde(default)]
    pub business: bool,
    /// Whether the target is given in business days (shown in days), not hours.
    #[serde(default)]
    pub in_days: bool,
}

/// Evaluates every milestone over `timeline` (events in order) as of `now`.
pub fn evaluate(
    timeline: &[(DateTime<Utc>, ClockSignal)],
    milestones: &[MilestoneDef],
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<Vec<MilestoneStatus>, CalendarError> {
    milestones
        .iter()
        .map(|m| evaluate_one(timeline, m, calendar, now))
        .collect()
}

#[derive(Clone, Copy)]
enum Phase {
    Pending,
    Running,
    Paused { since: DateTime<Utc> },
    Stopped { at: DateTime<Utc> },
}

fn evaluate_one(
    timeline: &[(DateTime<Utc>, ClockSignal)],
    def: &MilestoneDef,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<MilestoneStatus, CalendarError> {
    let business = def.target.is_business();
    let span = |a: DateTime<Utc>, b: DateTime<Utc>| -> Result<Duration, CalendarError> {
        if b <= a {
            Ok(Duration::zero())
        } else if business {
            calendar.between(a, b)
        } else {
            Ok(b - a)
        }
    };
    let mut phase = Phase::Pending;
    let mut started_at = None;
    let mut not_counted = Duration::zero();
    for &(at, signal) in timeline.iter().filter(|(at, _)| *at <= now) {
        phase = match phase {
            Phase::Pending if signal == def.start_on => {
                started_at = Some(at);
                Phase::Running
            }
            Phase::Running if def.stop_on.contains(&signal) => Phase::Stopped { at },
            Phase::Running if def.pause_on.contains(&signal) => Phase::Paused { since: at },
            Phase::Paused { since } if def.stop_on.contains(&signal) => {
                not_counted += span(since, at)?;
                Phase::Stopped { at }
            }
            Phase::Paused { since } if def.resume_on.contains(&signal) => {
                not_counted += span(since, at)?;
                Phase::Running
            }
            Phase::Stopped { at: stopped } if def.reopen_on.contains(&signal) => {
                not_counted += span(stopped, at)?;
                Phase::Running
            }
            unchanged => unchanged,
        };
    }
    let target = def.target.duration(calendar);
    let Some(start) = started_at else {
        return Ok(MilestoneStatus {
            name: def.name.clone(),
            state: ClockState::Pending,
            started_at: None,
            due: None,
            stopped_at: None,
            running: false,
            paused_seconds: 0,
            elapsed_seconds: 0,
            target_seconds: target.num_seconds(),
            elapsed_share: 0.0,
            business,
            in_days: matches!(def.target, Target::BusinessDays(_)),
        });
    };
    if let Phase::Paused { since } = phase {
        not_counted += span(since, now)?;
    }
    let end = match phase {
        Phase::Stopped { at } => at,
        _ => now,
    };
    let allowed = target + not_counted;
    let due = if business {
        calendar.add(start, allowed)?
    } else {
        start + allowed
    };
    let elapsed = span(start, end)? - not_counted;
    let state = match phase {
        Phase::Pending => ClockState::Pending,
        Phase::Stopped { at } if at <= due => ClockState::Met,
        Phase::Stopped { .. } => ClockState::Breached,
        _ if now > due => ClockState::Breached,
        Phase::Paused { .. } => ClockState::Paused,
        Phase::Running => ClockState::Running,
    };
    let target_seconds = target.num_seconds();
    let elapsed_share = if target_seconds > 0 {
        ((elapsed.num_seconds() as f64 / target_seconds as f64) * 10_000.0).round() / 10_000.0
    } else {
        1.0
    };
    Ok(MilestoneStatus {
        name: def.name.clone(),
        state,
        started_at: Some(start),
        due: Some(due),
        stopped_at: match phase {
            Phase::Stopped { at } => Some(at),
            _ => None,
        },
        running: matches!(phase, Phase::Running | Phase::Paused { .. }),
        paused_seconds: not_counted.num_seconds(),
        elapsed_seconds: elapsed.num_seconds(),
        target_seconds,
        elapsed_share,
        business,
        in_days: matches!(def.target, Target::BusinessDays(_)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{DEFAULT_YEARS, WeeklyHours};
    use ClockSignal::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Mexico City, Mon–Fri 09–18, with 2026-11-16 (third Monday of November) closed.
    fn cal() -> BusinessCalendar {
        BusinessCalendar::new(
            chrono_tz::America::Mexico_City,
            WeeklyHours::weekdays(&[("09:00", "18:00")]).unwrap(),
            [chrono::NaiveDate::from_ymd_opt(2026, 11, 16).unwrap()],
            DEFAULT_YEARS,
        )
    }

    fn def(name: &str, target: Target) -> MilestoneDef {
        MilestoneDef {
            name: name.into(),
            target,
            start_on: Received,
            stop_on: vec![Responded, Answered, Closed],
            pause_on: vec![WaitingOnCustomer],
            resume_on: vec![Resumed],
            reopen_on: vec![Reopened],
        }
    }

    fn ack() -> MilestoneDef {
        MilestoneDef {
            name: "acknowledgement".into(),
            target: Target::CalendarMinutes(15),
            start_on: Received,
            stop_on: vec![Acknowledged],
            pause_on: vec![],
            resume_on: vec![],
            reopen_on: vec![],
        }
    }

    // Tuesday 2026-11-10 10:00 Mexico City = 16:00 UTC.
    const RECEIVED: &str = "2026-11-10T16:00:00Z";

    #[test]
    fn running_clock_before_and_after_due() {
        let timeline = [(t(RECEIVED), Received)];
        let d = def("response", Target::BusinessHours(6));
        let s = evaluate(
            &timeline,
            std::slice::from_ref(&d),
            &cal(),
            t("2026-11-10T19:00:00Z"),
        )
        .unwrap();
        assert_eq!(s[0].state, ClockState::Running);
        assert_eq!(s[0].due, Some(t("2026-11-10T22:00:00Z")));
        assert_eq!(s[0].elapsed_share, 0.5);
        let s = evaluate(&timeline, &[d], &cal(), t("2026-11-10T22:00:01Z")).unwrap();
        assert_eq!(s[0].state, ClockState::Breached);
        assert!(s[0].running);
    }

    #[test]
    fn stop_before_due_is_met_after_due_is_breached() {
        let d = def("response", Target::BusinessHours(6));
        let met = [
            (t(RECEIVED), Received),
            (t("2026-11-10T22:00:00Z"), Responded),
        ];
        let s = evaluate(
            &met,
            std::slice::from_ref(&d),
            &cal(),
            t("2026-12-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(s[0].state, ClockState::Met);
        assert_eq!(s[0].stopped_at, Some(t("2026-11-10T22:00:00Z")));
        assert_eq!(s[0].elapsed_share, 1.0);
        let late = [
            (t(RECEIVED), Received),
            (t("2026-11-11T15:00:01Z"), Responded),
        ];
        let s = evaluate(&late, &[d], &cal(), t("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(s[0].state, ClockState::Breached);
        assert!(!s[0].running);
    }

    #[test]
    fn acknowledgement_counts_calendar_minutes_at_night() {
        // Saturday 23:50 local: due 15 wall-clock minutes later, not on Monday.
        let received = t("2026-11-15T05:50:00Z");
        let timeline = [
            (received, Received),
            (t("2026-11-15T05:52:00Z"), Acknowledged),
        ];
        let s = evaluate(&timeline, &[ack()], &cal(), t("2026-11-15T06:30:00Z")).unwrap();
        assert_eq!(s[0].due, Some(t("2026-11-15T06:05:00Z")));
        assert_eq!(s[0].state, ClockState::Met);
    }

    #[test]
    fn waiting_on_customer_pauses_and_extends_due() {
        let d = def("resolution", Target::BusinessHours(9));
        // Paused from 12:00 to 15:00 local on the day of receipt: 3 business hours not counted.
        let timeline = [
            (t(RECEIVED), Received),
            (t("2026-11-10T18:00:00Z"), WaitingOnCustomer),
            (t("2026-11-10T21:00:00Z"), Resumed),
        ];
        let s = evaluate(
            &timeline,
            std::slice::from_ref(&d),
            &cal(),
            t("2026-11-10T23:00:00Z"),
        )
        .unwrap();
        assert_eq!(s[0].paused_seconds, 3 * 3600);
        assert_eq!(s[0].elapsed_seconds, 4 * 3600);
        // 10:00 + 9 h + 3 h paused = Wednesday 13:00 local.
        assert_eq!(s[0].due, Some(t("2026-11-11T19:00:00Z")));
        assert_eq!(s[0].state, ClockState::Running);
        // While still paused, the due instant moves with the pause.
        let s = evaluate(&timeline[..2], &[d], &cal(), t("2026-11-10T20:00:00Z")).unwrap();
        assert_eq!(s[0].state, ClockState::Paused);
        assert_eq!(s[0].paused_seconds, 2 * 3600);
        assert_eq!(s[0].due, Some(t("2026-11-11T18:00:00Z")));
    }

    #[test]
    fn pause_over_a_holiday_weekend_counts_only_business_time() {
        let d = def("resolution", Target::BusinessDays(10));
        // Paused Friday 2026-11-13 17:00 local → resumed Tuesday 2026-11-17 10:00 local;
        // Monday the 16th is a holiday: 1 h Friday + 1 h Tuesday not counted.
        let timeline = [
            (t(RECEIVED), Received),
            (t("2026-11-13T23:00:00Z"), WaitingOnCustomer),
            (t("2026-11-17T16:00:00Z"), Resumed),
        ];
        let s = evaluate(&timeline, &[d], &cal(), t("2026-11-17T16:00:00Z")).unwrap();
        assert_eq!(s[0].paused_seconds, 2 * 3600);
    }

    #[test]
    fn stop_while_paused_ends_the_pause() {
        let d = def("resolution", Target::BusinessHours(9));
        let timeline = [
            (t(RECEIVED), Received),
            (t("2026-11-10T18:00:00Z"), WaitingOnCustomer),
            (t("2026-11-10T19:00:00Z"), Closed),
        ];
        let s = evaluate(&timeline, &[d], &cal(), t("2026-11-20T00:00:00Z")).unwrap();
        assert_eq!(s[0].state, ClockState::Met);
        assert_eq!(s[0].paused_seconds, 3600);
        assert_eq!(s[0].elapsed_seconds, 2 * 3600);
    }

    #[test]
    fn reopen_runs_the_clock_again_without_counting_the_closed_time() {
        let d = def("resolution", Target::BusinessHours(9));
        let timeline = [
            (t(RECEIVED), Received),
            (t("2026-11-10T18:00:00Z"), Answered),
            (t("2026-11-11T16:00:00Z"), Reopened),
        ];
        let s = evaluate(&timeline, &[d], &cal(), t("2026-11-11T17:00:00Z")).unwrap();
        assert_eq!(s[0].state, ClockState::Running);
        assert!(s[0].running);
        // 2 h before the answer + 1 h since the reopen; the 7 business hours between don't count.
        assert_eq!(s[0].elapsed_seconds, 3 * 3600);
        assert_eq!(s[0].paused_seconds, 7 * 3600);
    }

    #[test]
    fn pending_until_its_start_event() {
        let mut d = def("rnd", Target::BusinessHours(6));
        d.start_on = EscalatedToRnd;
        let s = evaluate(&[(t(RECEIVED), Received)], &[d], &cal(), t(RECEIVED)).unwrap();
        assert_eq!(s[0].state, ClockState::Pending);
        assert_eq!(s[0].due, None);
    }

    #[test]
    fn events_after_now_are_ignored() {
        let d = def("response", Target::BusinessHours(6));
        let timeline = [
            (t(RECEIVED), Received),
            (t("2026-11-10T17:00:00Z"), Responded),
        ];
        let s = evaluate(&timeline, &[d], &cal(), t("2026-11-10T16:30:00Z")).unwrap();
        assert_eq!(s[0].state, ClockState::Running);
    }

    /// The severity in force decides the milestones, and they always count from the receipt:
    /// a ticket raised from 3 to 1 two hours in is due 6 business hours after it arrived.
    #[test]
    fn severity_change_recomputes_from_receipt() {
        let timeline = [
            (t(RECEIVED), Received),
            (t("2026-11-10T18:00:00Z"), SeverityChanged),
        ];
        let sev3 = evaluate(
            &timeline,
            &[def("response", Target::BusinessHours(24))],
            &cal(),
            t(RECEIVED),
        )
        .unwrap();
        let sev1 = evaluate(
            &timeline,
            &[def("response", Target::BusinessHours(6))],
            &cal(),
            t(RECEIVED),
        )
        .unwrap();
        assert_eq!(sev3[0].due, Some(t("2026-11-12T22:00:00Z")));
        assert_eq!(sev1[0].due, Some(t("2026-11-10T22:00:00Z")));
    }
}
