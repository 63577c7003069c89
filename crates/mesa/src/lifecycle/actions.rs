//! What staff can do to a ticket, by name, and which of it a ticket's stage allows now.

use serde::{Deserialize, Serialize};

use super::{ActionError, decide};
use crate::model::{ResponseChannel, Ticket};
use crate::policy::Policy;
use crate::ticket::Severity;

/// What staff can do to a ticket (JSON: `{"action": "reply", "message": "…"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Confirm or change the severity, with the reason.
    SetSeverity {
        severity: Severity,
        reason: String,
    },
    /// Record the first diagnosis; the exclusions rules assess coverage from it.
    Diagnose {
        summary: String,
        #[serde(default)]
        cause: String,
        #[serde(default)]
        vendor: Option<String>,
        #[serde(default)]
        under_warranty: Option<bool>,
        /// Whether support could reproduce the fault («error replicado»).
        #[serde(default)]
        replicated: Option<bool>,
        /// The serial of the faulty device, when the ticket did not name it or named it
        /// wrong: its warranty is looked up in the equipment registry.
        #[serde(default)]
        serial: Option<String>,
    },
    /// Send to Investigación y Desarrollo.
    Escalate {
        note: String,
    },
    /// Write to the customer (stops the response clock); the stage does not change. With
    /// `channel` phone, chat or in_person, support already answered that way: it is recorded
    /// and no e-mail is sent.
    Reply {
        message: String,
        #[serde(default)]
        channel: ResponseChannel,
    },
    /// Send the solution to the customer.
    Answer {
        message: String,
    },
    /// Wait on the customer: pauses the clocks the rules say, and tells the customer what is
    /// needed from them (`note`).
    Wait {
        note: String,
    },
    /// Stop waiting on the customer.
    Resume {
        #[serde(default)]
        note: String,
    },
    /// Log time worked (billable tickets are quoted from it).
    LogWork {
        minutes: i64,
        #[serde(default)]
        note: String,
    },
    /// Record a visit to the customer's premises: when, who went, where, what came of it
    /// and the time it took (work, billed when the ticket is billable).
    RecordVisit {
        /// The day of the visit (`YYYY-MM-DD`, the desk's time zone).
        visited_on: chrono::NaiveDate,
        technician: String,
        site: String,
        result: String,
        minutes: i64,
    },
    /// Record a step of the warranty replacement of the ticket's device (approved, shipped
    /// with carrier and tracking number, installed, faulty unit received); the customer is
    /// told each step.
    RecordReplacement {
        step: crate::model::ReplacementStep,
        #[serde(default)]
        carrier: String,
        #[serde(default)]
        tracking: String,
        /// The new unit's serial.
        #[serde(default)]
        serial: String,
        #[serde(default)]
        note: String,
    },
    /// Close the ticket; the customer is asked for satisfaction.
    Close {
        #[serde(default)]
        note: String,
    },
    Reopen {
        reason: String,
    },
    /// Send the customer the root-cause solution (closes the root-cause clock, which closing
    /// the ticket does not).
    DeliverRootCause {
        report: String,
    },
    /// Give the ticket to a staff member (their address), or take it from whoever has it
    /// (`to` empty).
    Assign {
        #[serde(default)]
        to: Option<String>,
    },
    /// An internal note: for staff only, never sent to the customer, stops no clock.
    Note {
        text: String,
    },
    /// Complete or correct the customer's data (only the fields given change).
    UpdateContact {
        #[serde(default)]
        company: Option<String>,
        #[serde(default)]
        contact_name: Option<String>,
        #[serde(default)]
        phone: Option<String>,
        #[serde(default)]
        support_type: Option<String>,
    },
}

impl Action {
    /// Every action's [`name`](Action::name) (the JSON API's `action`).
    pub const NAMES: [&'static str; 16] = [
        "set_severity",
        "diagnose",
        "escalate",
        "reply",
        "answer",
        "wait",
        "resume",
        "log_work",
        "record_visit",
        "record_replacement",
        "close",
        "reopen",
        "deliver_root_cause",
        "assign",
        "note",
        "update_contact",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Action::SetSeverity { .. } => "set_severity",
            Action::Diagnose { .. } => "diagnose",
            Action::Escalate { .. } => "escalate",
            Action::Reply { .. } => "reply",
            Action::Answer { .. } => "answer",
            Action::Wait { .. } => "wait",
            Action::Resume { .. } => "resume",
            Action::LogWork { .. } => "log_work",
            Action::RecordVisit { .. } => "record_visit",
            Action::RecordReplacement { .. } => "record_replacement",
            Action::Close { .. } => "close",
            Action::Reopen { .. } => "reopen",
            Action::DeliverRootCause { .. } => "deliver_root_cause",
            Action::Assign { .. } => "assign",
            Action::Note { .. } => "note",
            Action::UpdateContact { .. } => "update_contact",
        }
    }

    /// One action of each kind, with placeholder values that pass the field checks: what
    /// [`offered`] tries against a ticket.
    fn samples(severity: Severity) -> Vec<Action> {
        let x = || "x".to_string();
        vec![
            Action::SetSeverity {
                severity,
                reason: x(),
            },
            Action::Diagnose {
                summary: x(),
                cause: String::new(),
                vendor: None,
                under_warranty: None,
                replicated: None,
                serial: None,
            },
            Action::Escalate { note: x() },
            Action::Reply {
                message: x(),
                channel: ResponseChannel::Email,
            },
            Action::Answer { message: x() },
            Action::Wait { note: x() },
            Action::Resume {
                note: String::new(),
            },
            Action::LogWork {
                minutes: 1,
                note: String::new(),
            },
            Action::RecordVisit {
                visited_on: chrono::NaiveDate::MIN,
                technician: x(),
                site: x(),
                result: x(),
                minutes: 1,
            },
            Action::RecordReplacement {
                step: crate::model::ReplacementStep::Approved,
                carrier: String::new(),
                tracking: String::new(),
                serial: String::new(),
                note: String::new(),
            },
            Action::Close {
                note: String::new(),
            },
            Action::Reopen { reason: x() },
            Action::DeliverRootCause { report: x() },
            Action::Assign { to: None },
            Action::Note { text: x() },
            Action::UpdateContact {
                company: Some(x()),
                contact_name: None,
                phone: None,
                support_type: None,
            },
        ]
    }
}

/// The actions the ticket's stage allows now, by name: exactly those [`decide`] would not
/// refuse as illegal, so a page never offers what would be refused.
pub fn offered(ticket: &Ticket, policy: &Policy) -> Vec<&'static str> {
    Action::samples(ticket.severity)
        .iter()
        .filter(|a| !matches!(decide(ticket, a, policy), Err(ActionError::Illegal { .. })))
        .map(Action::name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_names_of_one_action_of_each_kind() {
        let names: Vec<&str> = Action::samples(Severity::CRITICAL)
            .iter()
            .map(Action::name)
            .collect();
        assert_eq!(names, Action::NAMES);
    }
}
