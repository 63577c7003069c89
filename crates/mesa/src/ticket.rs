//! What a ticket is, as far as the rules and the clocks need to know.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Contract severity: 1 (service down) to 4 (no production impact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Severity(u8);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("severity must be 1, 2, 3 or 4 (got {0})")]
pub struct BadSeverity(pub i64);

impl Severity {
    pub const CRITICAL: Severity = Severity(1);

    pub fn new(level: i64) -> Result<Self, BadSeverity> {
        match level {
            1..=4 => Ok(Self(level as u8)),
            _ => Err(BadSeverity(level)),
        }
    }

    pub fn level(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Severity {
    type Error = BadSeverity;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<Severity> for i64 {
    fn from(s: Severity) -> i64 {
        i64::from(s.0)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How much of the service a problem affects, as the customer answers on the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactScope {
    /// Nothing works: no reader, no user, no site.
    All,
    /// Several readers or sites.
    Several,
    /// One reader, one user or one function.
    One,
    /// Nothing in production: a question, a document, a cosmetic detail.
    None,
}

impl ImpactScope {
    pub const ALL: [ImpactScope; 4] = [
        ImpactScope::All,
        ImpactScope::Several,
        ImpactScope::One,
        ImpactScope::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImpactScope::All => "all",
            ImpactScope::Several => "several",
            ImpactScope::One => "one",
            ImpactScope::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

/// The customer's answers to the form's three impact questions (the way service desks
/// derive priority from impact and urgency); the severity rules weigh them with the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    pub scope: ImpactScope,
    /// Whether the customer's operation goes on (people can still clock in some way).
    pub operation_continues: bool,
    /// Whether there is a way around the problem meanwhile.
    pub workaround: bool,
}

/// The facts about a ticket that the policy scripts see (as a Rhai map).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketFacts {
    pub company: String,
    pub contact_name: String,
    pub email: String,
    pub phone: String,
    pub support_type: String,
    pub subject: String,
    pub description: String,
    /// `email` or `form`.
    pub channel: String,
    pub received_at: Option<DateTime<Utc>>,
    /// The severity in force, when one has been set.
    pub severity: Option<Severity>,
    /// The form's impact answers (absent for e-mail, optional for the JSON API).
    pub impact: Option<Impact>,
}

/// Events of a ticket's life that move its SLA clocks. The rules name them in
/// `stop_on`, `pause_on`, `resume_on` and `reopen_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSignal {
    Received,
    Acknowledged,
    SeverityChanged,
    /// A staff reply to the customer (the first one is the first response).
    Responded,
    /// The first diagnosis was recorded.
    Diagnosed,
    EscalatedToRnd,
    /// The solution was sent to the customer.
    Answered,
    WaitingOnCustomer,
    Resumed,
    Closed,
    Reopened,
    /// The root-cause solution was delivered to the customer.
    RootCauseDelivered,
}

impl ClockSignal {
    pub const ALL: [ClockSignal; 12] = [
        ClockSignal::Received,
        ClockSignal::Acknowledged,
        ClockSignal::SeverityChanged,
        ClockSignal::Responded,
        ClockSignal::Diagnosed,
        ClockSignal::EscalatedToRnd,
        ClockSignal::Answered,
        ClockSignal::WaitingOnCustomer,
        ClockSignal::Resumed,
        ClockSignal::Closed,
        ClockSignal::Reopened,
        ClockSignal::RootCauseDelivered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ClockSignal::Received => "received",
            ClockSignal::Acknowledged => "acknowledged",
            ClockSignal::SeverityChanged => "severity_changed",
            ClockSignal::Responded => "responded",
            ClockSignal::Diagnosed => "diagnosed",
            ClockSignal::EscalatedToRnd => "escalated_to_rnd",
            ClockSignal::Answered => "answered",
            ClockSignal::WaitingOnCustomer => "waiting_on_customer",
            ClockSignal::Resumed => "resumed",
            ClockSignal::Closed => "closed",
            ClockSignal::Reopened => "reopened",
            ClockSignal::RootCauseDelivered => "root_cause_delivered",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_bounds() {
        assert!(Severity::new(0).is_err());
        assert_eq!(Severity::new(4).unwrap().level(), 4);
        assert_eq!(Severity::new(5), Err(BadSeverity(5)));
        let s: Result<Severity, _> = serde_json::from_str("7");
        assert!(s.is_err());
    }

    #[test]
    fn signal_names_round_trip() {
        for s in ClockSignal::ALL {
            assert_eq!(ClockSignal::parse(s.name()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }
}
