//! A ticket's events: its whole history, from which its state and its clocks are computed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Actor, Attachment, Channel, MailDelivery, ResponseChannel, first_closing};
use crate::policy::terms::Assessment;
use crate::ticket::{ClockSignal, ClockStart, Severity};

/// One thing that happened to a ticket, in order (`seq` from 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The customer's report; the event's instant is when they sent it (clocks start there).
    Received {
        channel: Channel,
        #[serde(default)]
        message_id: Option<String>,
        /// When mesa received it, when that is not the event's instant (e-mail with a Date).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arrived_at: Option<DateTime<Utc>>,
        /// For e-mail: where the clocks start and why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_start: Option<ClockStart>,
    },
    Acknowledged {
        message_id: String,
    },
    SeverityChanged {
        from: Option<Severity>,
        to: Severity,
        reason: String,
        /// The rules' confidence (0–100) when they set it; none when staff did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confidence: Option<u8>,
    },
    Diagnosed {
        summary: String,
        assessment: Assessment,
        /// Whether support reproduced the fault («error replicado»), when they said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replicated: Option<bool>,
        /// What the equipment registry said of the device the ticket names.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<super::DeviceFacts>,
    },
    EscalatedToRnd {
        note: String,
    },
    Responded {
        message: String,
        /// The mail that carried it; none when support answered by another channel.
        outbox_id: Option<String>,
        /// How the response reached the customer (e-mail unless staff say otherwise).
        #[serde(default)]
        channel: ResponseChannel,
    },
    Answered {
        message: String,
        outbox_id: String,
    },
    WaitingOnCustomer {
        note: String,
    },
    Resumed {
        note: String,
    },
    CustomerReplied {
        message_id: Option<String>,
        text: String,
        #[serde(default)]
        attachments: Vec<Attachment>,
    },
    WorkLogged {
        minutes: i64,
        note: String,
    },
    /// A visit to the customer's premises ("en caso necesario se acuda a las instalaciones
    /// de EL CLIENTE"): its time counts as work, billed when the ticket is billable.
    VisitRecorded {
        /// The day of the visit, in the desk's time zone.
        visited_on: chrono::NaiveDate,
        technician: String,
        site: String,
        result: String,
        minutes: i64,
    },
    Closed {
        note: String,
        csat_outbox_id: Option<String>,
    },
    SatisfactionRecorded {
        satisfied: bool,
        comment: String,
        /// The closing the survey was about (1 for the first).
        #[serde(default = "first_closing")]
        closing: u32,
    },
    Reopened {
        reason: String,
    },
    /// The root-cause solution (the contract's "solución de raíz") sent to the customer.
    RootCauseDelivered {
        report: String,
        outbox_id: String,
    },
    /// The customer's data completed or corrected, by the customer's reply or by staff.
    ContactUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        company: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        support_type: Option<String>,
    },
    SlaWarning {
        milestone: String,
        due: DateTime<Utc>,
    },
    SlaBreached {
        milestone: String,
        due: DateTime<Utc>,
    },
    /// A step of the warranty replacement of the ticket's device; the customer is told.
    ReplacementRecorded {
        step: super::ReplacementStep,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        carrier: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        tracking: String,
        /// The new unit's serial.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        serial: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
        outbox_id: String,
    },
    /// The ticket reports a declared major incident: linked to it when it was opened.
    IncidentLinked {
        incident: super::IncidentLink,
    },
    /// The ticket given to a staff member (their address), or taken back (`None`).
    Assigned {
        to: Option<String>,
    },
    /// An internal note among staff; never sent to the customer.
    NoteAdded {
        text: String,
    },
    /// The mail transport reported on a message we sent (delivered, bounced, …).
    MailFeedback {
        delivery: MailDelivery,
    },
}

impl EventKind {
    /// Minutes of work this event records (logged at the desk or spent on a visit).
    pub fn work_minutes(&self) -> Option<i64> {
        match self {
            EventKind::WorkLogged { minutes, .. } | EventKind::VisitRecorded { minutes, .. } => {
                Some(*minutes)
            }
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Received { .. } => "received",
            EventKind::Acknowledged { .. } => "acknowledged",
            EventKind::SeverityChanged { .. } => "severity_changed",
            EventKind::Diagnosed { .. } => "diagnosed",
            EventKind::EscalatedToRnd { .. } => "escalated_to_rnd",
            EventKind::Responded { .. } => "responded",
            EventKind::Answered { .. } => "answered",
            EventKind::WaitingOnCustomer { .. } => "waiting_on_customer",
            EventKind::Resumed { .. } => "resumed",
            EventKind::CustomerReplied { .. } => "customer_replied",
            EventKind::WorkLogged { .. } => "work_logged",
            EventKind::VisitRecorded { .. } => "visit_recorded",
            EventKind::Closed { .. } => "closed",
            EventKind::SatisfactionRecorded { .. } => "satisfaction_recorded",
            EventKind::Reopened { .. } => "reopened",
            EventKind::RootCauseDelivered { .. } => "root_cause_delivered",
            EventKind::ContactUpdated { .. } => "contact_updated",
            EventKind::SlaWarning { .. } => "sla_warning",
            EventKind::SlaBreached { .. } => "sla_breached",
            EventKind::MailFeedback { .. } => "mail_feedback",
            EventKind::Assigned { .. } => "assigned",
            EventKind::ReplacementRecorded { .. } => "replacement_recorded",
            EventKind::IncidentLinked { .. } => "incident_linked",
            EventKind::NoteAdded { .. } => "note_added",
        }
    }

    /// The SLA clock signal this event gives, if any.
    pub fn signal(&self) -> Option<ClockSignal> {
        Some(match self {
            EventKind::Received { .. } => ClockSignal::Received,
            EventKind::Acknowledged { .. } => ClockSignal::Acknowledged,
            EventKind::SeverityChanged { .. } => ClockSignal::SeverityChanged,
            EventKind::Diagnosed { .. } => ClockSignal::Diagnosed,
            EventKind::EscalatedToRnd { .. } => ClockSignal::EscalatedToRnd,
            EventKind::Responded { .. } => ClockSignal::Responded,
            EventKind::Answered { .. } => ClockSignal::Answered,
            EventKind::WaitingOnCustomer { .. } => ClockSignal::WaitingOnCustomer,
            EventKind::Resumed { .. } => ClockSignal::Resumed,
            EventKind::Closed { .. } => ClockSignal::Closed,
            EventKind::Reopened { .. } => ClockSignal::Reopened,
            EventKind::RootCauseDelivered { .. } => ClockSignal::RootCauseDelivered,
            _ => return None,
        })
    }
}
