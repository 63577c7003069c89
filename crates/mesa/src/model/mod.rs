//! Tickets and their events. Everything a ticket is and was is its event list; [`Ticket`] is
//! the projection of those events, rebuilt by [`Ticket::apply`] and stored alongside them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::messages;
use crate::policy::terms::Assessment;
use crate::ticket::{ClockStart, Impact, Severity, TicketFacts};
use crate::types::address_key;
pub use crate::types::{Actor, DedupeKey, EmailAddress, Folio, MailKind, RulesVersion, TicketId};

mod customer;
mod equipment;
mod event;
mod incident;
mod opening;
mod staff;
pub use customer::{CompanyRecord, ContractPeriod, CustomerRecord, Subscription, contact_key};
pub use equipment::{
    DeviceFacts, Equipment, EquipmentStatus, ReplacementRecord, ReplacementStep, Warranty,
    serial_in_text,
};
pub use event::{Event, EventKind};
pub use incident::{Audience, Incident, IncidentLink, IncidentUpdate, LINK_BEFORE, Resolution};
pub use opening::Opening;
pub use staff::{StaffMember, StaffRole};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Form,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Form => "form",
        }
    }
}

/// Where a ticket is in the contract's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Received,
    Acknowledged,
    Diagnosed,
    EscalatedToRnd,
    Answered,
    WaitingOnCustomer,
    Closed,
    Reopened,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Received,
        Stage::Acknowledged,
        Stage::Diagnosed,
        Stage::EscalatedToRnd,
        Stage::Answered,
        Stage::WaitingOnCustomer,
        Stage::Closed,
        Stage::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::Acknowledged => "acknowledged",
            Stage::Diagnosed => "diagnosed",
            Stage::EscalatedToRnd => "escalated_to_rnd",
            Stage::Answered => "answered",
            Stage::WaitingOnCustomer => "waiting_on_customer",
            Stage::Closed => "closed",
            Stage::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The stage as staff read it.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Received => "Recibido",
            Stage::Acknowledged => "Acusado",
            Stage::Diagnosed => "Diagnosticado",
            Stage::EscalatedToRnd => "En I+D",
            Stage::Answered => "Respondido",
            Stage::WaitingOnCustomer => "Esperando al cliente",
            Stage::Closed => "Cerrado",
            Stage::Reopened => "Reabierto",
        }
    }

    pub fn is_open(self) -> bool {
        self != Stage::Closed
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Customer {
    pub company: String,
    pub contact_name: String,
    pub email: String,
    pub phone: String,
}

/// A file the customer sent, stored under a server-generated key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Attachment {
    pub key: String,
    /// The customer's file name, cleaned; shown, never used as a path.
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Satisfaction {
    pub satisfied: bool,
    pub comment: String,
    pub at: DateTime<Utc>,
    /// Which closing of the ticket this answer is about (1 for the first).
    #[serde(default = "first_closing")]
    pub closing: u32,
}

pub(super) fn first_closing() -> u32 {
    1
}

/// How a staff response reached the customer. E-mail is the contract's official channel;
/// phone, chat or a visit are at support's discretion and are recorded as such.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResponseChannel {
    #[default]
    Email,
    Phone,
    Chat,
    InPerson,
}

/// The transport's verdict on one message we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Accepted by the recipient's mail server.
    Delivered,
    /// Not delivered yet; the transport keeps trying.
    Delayed,
    /// Refused by the recipient's server (or the address does not exist).
    Bounced,
    /// The recipient marked it as spam.
    Complained,
    /// The transport refused to send it (e.g. a virus in it).
    Rejected,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Delayed => "delayed",
            DeliveryStatus::Bounced => "bounced",
            DeliveryStatus::Complained => "complained",
            DeliveryStatus::Rejected => "rejected",
        }
    }

    /// The customer did not, or will not, get the message.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Bounced | DeliveryStatus::Complained | DeliveryStatus::Rejected
        )
    }
}

/// One report of the mail transport about one message we sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MailDelivery {
    /// The transport's Message-ID of the message (`<…@email.amazonses.com>` on SES).
    pub provider_message_id: String,
    /// Our outbox item, when the transport gave it back (a message tag on SES).
    pub outbox_id: Option<String>,
    pub mail_kind: Option<MailKind>,
    pub status: DeliveryStatus,
    pub recipients: Vec<String>,
    /// The transport's words: SMTP response, bounce type and diagnostic, complaint type.
    pub detail: String,
    /// When the transport saw it happen.
    pub at: DateTime<Utc>,
}

/// The current state of a ticket: a projection of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Ticket {
    pub id: TicketId,
    pub folio: Folio,
    pub channel: Channel,
    pub customer: Customer,
    /// Whether the sender was found in the registry of subscribed customers.
    pub verified: bool,
    /// Whether the sender was a subscribed contact within a contracted period on the day
    /// the ticket was sent; none on tickets opened before mesa kept periods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    /// The customer's own terms (registry data the scripts read), as they stood when the
    /// ticket was opened: pinned like the rules version.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub terms: serde_json::Map<String, serde_json::Value>,
    pub support_type: String,
    pub subject: String,
    pub description: String,
    /// The serial of the biometric device the customer named (form field, or a pattern
    /// such as "Número de serie: …" in the mail), when they named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_serial: Option<String>,
    /// What the equipment registry said of the device when the ticket was diagnosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceFacts>,
    /// The major incident this ticket reports, when it was linked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentLink>,
    /// The steps of a warranty replacement of the device, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replacement: Vec<ReplacementRecord>,
    pub attachments: Vec<Attachment>,
    /// Required fields the customer did not give (asked for in the acknowledgement).
    pub missing_fields: Vec<String>,
    /// When the customer sent it: the contract's clocks start here.
    pub received_at: DateTime<Utc>,
    /// When mesa received it, when later than `received_at` (see [`Ticket::arrived`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<DateTime<Utc>>,
    /// For e-mail: where the clocks start and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_start: Option<ClockStart>,
    pub severity: Severity,
    pub severity_reason: String,
    /// `rules` while provisional; the staff member who confirmed or changed it after.
    pub severity_set_by: Actor,
    /// The rules' confidence in a provisional severity (0–100); none once staff set it.
    #[serde(default)]
    pub severity_confidence: Option<u8>,
    /// The form's impact answers, when the customer gave them.
    #[serde(default)]
    pub impact: Option<Impact>,
    pub stage: Stage,
    /// When the acknowledgement went out (the acknowledgement clock's stop).
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// What the mail transport reported about the mail sent on this ticket, in order of
    /// arrival: proof that the acknowledgement reached the customer, or why it did not.
    #[serde(default)]
    pub deliveries: Vec<MailDelivery>,
    /// Stage to go back to when the customer answers.
    pub stage_before_wait: Option<Stage>,
    pub assessment: Option<Assessment>,
    pub work_minutes: i64,
    /// The last survey answer (every answer stays in the timeline).
    pub satisfaction: Option<Satisfaction>,
    /// How many times the ticket was closed; each closing has its own survey.
    #[serde(default)]
    pub closings: u32,
    /// When the root-cause solution went to the customer (its clock's stop).
    #[serde(default)]
    pub root_cause_delivered_at: Option<DateTime<Utc>>,
    pub rules_version: RulesVersion,
    /// The staff member (address) the ticket is assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The customer's Message-ID, when it came by e-mail.
    pub message_id: Option<String>,
    /// Number of events; the optimistic-concurrency version.
    pub version: u64,
    /// Earliest instant the sweep must look at this ticket (next warning or breach).
    pub next_due: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Ticket {
    /// When mesa received it (the acknowledgement's clock starts here).
    pub fn arrived(&self) -> DateTime<Utc> {
        self.arrived_at.unwrap_or(self.received_at)
    }

    /// Whether the severity is still the rules' (not yet confirmed by staff).
    pub fn severity_provisional(&self) -> bool {
        self.severity_set_by == Actor::Rules
    }

    /// Whether staff should confirm the provisional severity (the rules were unsure).
    pub fn severity_needs_confirmation(&self) -> bool {
        self.severity_provisional()
            && self
                .severity_confidence
                .is_some_and(|c| c < crate::policy::terms::Classification::CONFIRM_BELOW)
    }

    /// Applies one event to the projection (the event is already validated).
    pub fn apply(&mut self, event: &Event) {
        self.version = event.seq;
        self.updated_at = event.at;
        match &event.kind {
            EventKind::Received {
                arrived_at,
                clock_start,
                ..
            } => {
                self.stage = Stage::Received;
                self.arrived_at = *arrived_at;
                self.clock_start = *clock_start;
            }
            EventKind::Acknowledged { .. } => {
                self.acknowledged_at.get_or_insert(event.at);
                if self.stage == Stage::Received {
                    self.stage = Stage::Acknowledged;
                }
            }
            EventKind::SeverityChanged {
                to,
                reason,
                confidence,
                ..
            } => {
                self.severity = *to;
                self.severity_reason = reason.clone();
                self.severity_set_by = event.actor.clone();
                self.severity_confidence = *confidence;
            }
            EventKind::Diagnosed {
                assessment, device, ..
            } => {
                self.assessment = Some(assessment.clone());
                if let Some(device) = device {
                    self.device_serial = Some(device.serial.clone());
                    self.device = Some(device.clone());
                }
                // Diagnosed while waiting on the customer: the ticket keeps waiting and
                // resumes as diagnosed.
                if self.stage == Stage::WaitingOnCustomer {
                    self.stage_before_wait = Some(Stage::Diagnosed);
                } else {
                    self.stage = Stage::Diagnosed;
                }
            }
            EventKind::EscalatedToRnd { .. } => self.stage = Stage::EscalatedToRnd,
            EventKind::Answered { .. } => self.stage = Stage::Answered,
            EventKind::WaitingOnCustomer { .. } => {
                self.stage_before_wait = Some(self.stage);
                self.stage = Stage::WaitingOnCustomer;
            }
            EventKind::Resumed { .. } => {
                self.stage = self.stage_before_wait.take().unwrap_or(Stage::Acknowledged);
            }
            EventKind::WorkLogged { minutes, .. } | EventKind::VisitRecorded { minutes, .. } => {
                self.work_minutes += minutes
            }
            EventKind::Closed { .. } => {
                self.stage_before_wait = None;
                self.stage = Stage::Closed;
                self.closings += 1;
            }
            EventKind::SatisfactionRecorded {
                satisfied,
                comment,
                closing,
            } => {
                self.satisfaction = Some(Satisfaction {
                    satisfied: *satisfied,
                    comment: comment.clone(),
                    at: event.at,
                    closing: *closing,
                });
            }
            EventKind::Reopened { .. } => self.stage = Stage::Reopened,
            EventKind::RootCauseDelivered { .. } => self.root_cause_delivered_at = Some(event.at),
            EventKind::ContactUpdated {
                company,
                contact_name,
                phone,
                support_type,
            } => {
                if let Some(v) = company {
                    self.customer.company = v.clone();
                }
                if let Some(v) = contact_name {
                    self.customer.contact_name = v.clone();
                }
                if let Some(v) = phone {
                    self.customer.phone = v.clone();
                }
                if let Some(v) = support_type {
                    self.support_type = v.clone();
                }
                self.missing_fields =
                    missing_fields(&self.customer, &self.support_type, &self.description);
            }
            EventKind::MailFeedback { delivery } => self.deliveries.push(delivery.clone()),
            EventKind::IncidentLinked { incident } => self.incident = Some(incident.clone()),
            EventKind::ReplacementRecorded {
                step,
                carrier,
                tracking,
                serial,
                note,
                ..
            } => self.replacement.push(ReplacementRecord {
                step: *step,
                at: event.at,
                carrier: carrier.clone(),
                tracking: tracking.clone(),
                serial: serial.clone(),
                note: note.clone(),
            }),
            EventKind::Assigned { to } => self.owner = to.clone(),
            EventKind::NoteAdded { .. }
            | EventKind::Responded { .. }
            | EventKind::CustomerReplied { .. }
            | EventKind::SlaWarning { .. }
            | EventKind::SlaBreached { .. } => {}
        }
    }

    /// What the policy scripts see of this ticket.
    pub fn facts(&self) -> TicketFacts {
        TicketFacts {
            company: self.customer.company.clone(),
            contact_name: self.customer.contact_name.clone(),
            email: self.customer.email.clone(),
            phone: self.customer.phone.clone(),
            support_type: self.support_type.clone(),
            subject: self.subject.clone(),
            description: self.description.clone(),
            channel: self.channel.as_str().to_string(),
            received_at: Some(self.received_at),
            severity: Some(self.severity),
            impact: self.impact,
            subscription: subscription_status(self.subscription.as_ref()),
            terms: self.terms.clone(),
        }
    }

    /// Whether this sender may act on this ticket: its contact, or the same company domain.
    pub fn sender_matches(&self, address: &str) -> bool {
        let address = address_key(address);
        let contact = address_key(&self.customer.email);
        if address == contact {
            return true;
        }
        match (domain_of(&address), domain_of(&contact)) {
            (Some(a), Some(b)) => a == b && !is_public_mail_domain(a),
            _ => false,
        }
    }
}

/// `ticket.subscription` as the scripts see it: empty on tickets opened before mesa kept
/// contract periods.
pub(crate) fn subscription_status(s: Option<&Subscription>) -> String {
    s.map(|s| s.status().to_string()).unwrap_or_default()
}

/// The contract's required data a ticket still lacks, named as the acknowledgement asks for
/// them.
pub fn missing_fields(customer: &Customer, support_type: &str, description: &str) -> Vec<String> {
    let mut missing = Vec::new();
    if customer.company.trim().is_empty() {
        missing.push(messages::MISSING_COMPANY.to_string());
    }
    if customer.contact_name.split_whitespace().count() < 2 {
        missing.push(messages::MISSING_CONTACT_NAME.to_string());
    }
    if customer.phone.trim().is_empty() {
        missing.push(messages::MISSING_PHONE.to_string());
    }
    if support_type.trim().is_empty() {
        missing.push(messages::MISSING_SUPPORT_TYPE.to_string());
    }
    if description.trim().is_empty() {
        missing.push(messages::MISSING_DESCRIPTION.to_string());
    }
    missing
}

/// The domain part of an address, lower case.
pub fn domain_of(address: &str) -> Option<&str> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

pub use crate::types::is_public_mail_domain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_is_flat_and_tagged() {
        let e = Event {
            seq: 1,
            at: DateTime::parse_from_rfc3339("2026-11-10T16:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            actor: Actor::System,
            kind: EventKind::Received {
                channel: Channel::Form,
                message_id: None,
                arrived_at: None,
                clock_start: None,
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "received");
        assert_eq!(v["channel"], "form");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
