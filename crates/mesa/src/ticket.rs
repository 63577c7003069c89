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
    /// Every severity, most urgent first.
    pub const ALL: [Severity; 4] = [Severity(1), Severity(2), Severity(3), Severity(4)];

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

/// An integer from 1 to 4 (the derive would say any integer).
#[cfg(feature = "openapi")]
impl schemars::JsonSchema for Severity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Severity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Contract severity: 1 (service down) to 4 (no production impact).",
            "type": "integer",
            "minimum": 1,
            "maximum": 4,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How much of the service a problem affects, as the customer answers on the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
    /// Whether the sender was a subscribed contact within a contracted period that day:
    /// `active`, `outside_period`, `no_periods_on_record`, `unregistered`, or empty when not
    /// known (tickets opened before mesa kept periods).
    pub subscription: String,
    /// The customer's own terms from the registry (an empty map for the standard contract).
    pub terms: serde_json::Map<String, serde_json::Value>,
}

/// Where an e-mail ticket's clocks start, and why. The contract: "se tomará la fecha y hora
/// en la que EL CLIENTE envíe correo electrónico"; a form is sent when it is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum ClockStart {
    /// The message's Date header: when the customer sent it.
    DateHeader { date: DateTime<Utc> },
    /// The receipt: the message had no usable Date header.
    NoDate,
    /// The receipt: the Date was later than the receipt by more than the allowed skew.
    DateAhead { date: DateTime<Utc> },
    /// The receipt: the Date was earlier than the window the rules allow.
    DateTooOld { date: DateTime<Utc> },
}

impl ClockStart {
    /// Where the clocks of an e-mail received at `received` start: its Date when that is no
    /// later than `max_skew` after the receipt (a clock running fast: the receipt then) and
    /// no earlier than `max_age` before it; otherwise the receipt.
    pub fn of_email(
        date: Option<DateTime<Utc>>,
        received: DateTime<Utc>,
        max_age: chrono::Duration,
        max_skew: chrono::Duration,
    ) -> (DateTime<Utc>, ClockStart) {
        match date {
            None => (received, ClockStart::NoDate),
            Some(date) if date > received + max_skew => (received, ClockStart::DateAhead { date }),
            Some(date) if date < received - max_age => (received, ClockStart::DateTooOld { date }),
            Some(date) => (date.min(received), ClockStart::DateHeader { date }),
        }
    }

    /// Why the clocks start where they do, for staff (Spanish).
    pub fn explain(&self) -> &'static str {
        match self {
            ClockStart::DateHeader { .. } => {
                "desde la fecha en que el cliente envió el correo (encabezado Date)"
            }
            ClockStart::NoDate => "desde la recepción: el correo no traía fecha de envío",
            ClockStart::DateAhead { .. } => {
                "desde la recepción: la fecha de envío del correo es posterior a su recepción"
            }
            ClockStart::DateTooOld { .. } => {
                "desde la recepción: la fecha de envío del correo es anterior a lo que permiten las reglas"
            }
        }
    }
}

/// Events of a ticket's life that move its SLA clocks. The rules name them in
/// `stop_on`, `pause_on`, `resume_on` and `reopen_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSignal {
    /// The customer sent the report (the e-mail's Date when plausible, else its receipt):
    /// the contract's clocks start here.
    Received,
    /// mesa received it: the acknowledgement's 15 minutes run from here.
    Arrived,
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
    pub const ALL: [ClockSignal; 13] = [
        ClockSignal::Received,
        ClockSignal::Arrived,
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
            ClockSignal::Arrived => "arrived",
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
    fn an_emails_clock_starts_when_it_was_sent_if_that_is_plausible() {
        let received: DateTime<Utc> = "2026-11-10T16:00:00Z".parse().unwrap();
        let (age, skew) = (chrono::Duration::hours(24), chrono::Duration::minutes(5));
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let sent = at("2026-11-10T14:10:00Z");
        assert_eq!(
            ClockStart::of_email(Some(sent), received, age, skew),
            (sent, ClockStart::DateHeader { date: sent })
        );
        // A sender's clock a little fast: the receipt, still from the Date header.
        let fast = at("2026-11-10T16:03:00Z");
        assert_eq!(
            ClockStart::of_email(Some(fast), received, age, skew),
            (received, ClockStart::DateHeader { date: fast })
        );
        let ahead = at("2026-11-10T17:00:00Z");
        assert_eq!(
            ClockStart::of_email(Some(ahead), received, age, skew),
            (received, ClockStart::DateAhead { date: ahead })
        );
        let old = at("2026-11-08T16:00:00Z");
        assert_eq!(
            ClockStart::of_email(Some(old), received, age, skew),
            (received, ClockStart::DateTooOld { date: old })
        );
        assert_eq!(
            ClockStart::of_email(None, received, age, skew),
            (received, ClockStart::NoDate)
        );
    }

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
