//! The SLA clocks a ticket gets: the rules' `milestones`, checked, and kept for reuse.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Deserialize;

use super::load::bad_output;
use super::{Policy, PolicyError, SEVERITY};
use crate::sla::{MilestoneDef, Target};
use crate::ticket::{ClockSignal, Severity, TicketFacts};

/// Milestone definitions by their exact input (the facts they are given, as JSON):
/// the scripts are pure functions of their input (no clock, no I/O in the sandbox), so a
/// hit is the script's own answer, and planning a ticket becomes calendar arithmetic.
/// Bounded (the kinds of ticket are few; a customer's own terms add one each): emptied when
/// full.
#[derive(Default)]
pub(super) struct MilestoneMemo(std::sync::Mutex<HashMap<String, Arc<[MilestoneDef]>>>);

impl MilestoneMemo {
    const MAX_ENTRIES: usize = 1024;

    fn get(&self, key: &str) -> Option<Arc<[MilestoneDef]>> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: String, defs: Arc<[MilestoneDef]>) {
        if let Ok(mut memo) = self.0.lock() {
            if memo.len() >= Self::MAX_ENTRIES {
                memo.clear();
            }
            memo.insert(key, defs);
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMilestone {
    name: String,
    #[serde(default)]
    calendar_minutes: Option<i64>,
    #[serde(default)]
    business_hours: Option<i64>,
    #[serde(default)]
    business_days: Option<i64>,
    #[serde(default)]
    start_on: Option<String>,
    stop_on: Vec<String>,
    #[serde(default)]
    pause_on: Vec<String>,
    #[serde(default)]
    resume_on: Vec<String>,
    #[serde(default)]
    reopen_on: Vec<String>,
}

impl Policy {
    /// The SLA clocks of a ticket of `severity`.
    pub fn milestones(
        &self,
        ticket: &TicketFacts,
        severity: Severity,
    ) -> Result<Arc<[MilestoneDef]>, PolicyError> {
        // The clocks are the contract's by severity and the customer's terms, counted by the
        // calendar from the clock's start: they are not given the time the ticket came in
        // nor what the customer wrote (that is `classify`'s; rules/README.md, 2.2). So one
        // computation serves every ticket of the same kind.
        let facts = TicketFacts {
            support_type: ticket.support_type.clone(),
            channel: ticket.channel.clone(),
            severity: Some(severity),
            impact: ticket.impact,
            subscription: ticket.subscription.clone(),
            terms: ticket.terms.clone(),
            ..TicketFacts::default()
        };
        let key =
            serde_json::to_string(&facts).map_err(|e| PolicyError::BadInput(e.to_string()))?;
        if let Some(defs) = self.milestone_memo.get(&key) {
            return Ok(defs);
        }
        let defs: Arc<[MilestoneDef]> = self.compute_milestones(&facts)?.into();
        self.milestone_memo.put(key, defs.clone());
        Ok(defs)
    }

    fn compute_milestones(&self, facts: &TicketFacts) -> Result<Vec<MilestoneDef>, PolicyError> {
        let raw: Vec<RawMilestone> =
            self.scripts
                .call(SEVERITY, "milestones", (Self::to_map(facts)?,))?;
        let bad = |m: String| bad_output(SEVERITY, "milestones", m);
        let signals = |name: &str, list: Vec<String>| -> Result<Vec<ClockSignal>, PolicyError> {
            list.iter()
                .map(|s| {
                    ClockSignal::parse(s).ok_or_else(|| {
                        bad(format!(
                            "milestone {name:?}: unknown event {s:?} (known: {})",
                            signal_names()
                        ))
                    })
                })
                .collect()
        };
        let mut seen = BTreeSet::new();
        let mut defs = Vec::with_capacity(raw.len());
        for m in raw {
            let name = m.name;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(bad(format!(
                    "milestone name {name:?} must be lower_snake_case"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(bad(format!("milestone {name:?} appears twice")));
            }
            let target = match (m.calendar_minutes, m.business_hours, m.business_days) {
                (Some(v), None, None) => Target::CalendarMinutes(v),
                (None, Some(v), None) => Target::BusinessHours(v),
                (None, None, Some(v)) => Target::BusinessDays(v),
                _ => {
                    return Err(bad(format!(
                        "milestone {name:?} needs exactly one of calendar_minutes, business_hours, business_days"
                    )));
                }
            };
            let amount = match target {
                Target::CalendarMinutes(v) | Target::BusinessHours(v) | Target::BusinessDays(v) => {
                    v
                }
            };
            if !(1..=100_000).contains(&amount) {
                return Err(bad(format!(
                    "milestone {name:?}: target {amount} is out of range"
                )));
            }
            let start_on = match m.start_on {
                None => ClockSignal::Received,
                Some(s) => signals(&name, vec![s])?[0],
            };
            let stop_on = signals(&name, m.stop_on)?;
            if stop_on.is_empty() {
                return Err(bad(format!("milestone {name:?} has no stop_on event")));
            }
            defs.push(MilestoneDef {
                target,
                start_on,
                stop_on,
                pause_on: signals(&name, m.pause_on)?,
                resume_on: signals(&name, m.resume_on)?,
                reopen_on: signals(&name, m.reopen_on)?,
                name,
            });
        }
        Ok(defs)
    }
}

fn signal_names() -> String {
    ClockSignal::ALL.map(ClockSignal::name).join(", ")
}
