//! A ticket before the store numbers it.

use chrono::{DateTime, Utc};

use super::{
    Actor, Attachment, Channel, Customer, Event, Folio, RulesVersion, Stage, Subscription, Ticket,
    TicketId,
};
use crate::ticket::{Impact, Severity, TicketFacts};

/// A ticket about to be opened: everything but its folio, which the store assigns in the
/// same atomic write that creates it (folios are gapless, so no number is taken before the
/// write succeeds).
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub id: TicketId,
    pub channel: Channel,
    pub customer: Customer,
    pub verified: bool,
    pub subscription: Option<Subscription>,
    pub terms: serde_json::Map<String, serde_json::Value>,
    pub support_type: String,
    pub subject: String,
    pub description: String,
    /// The serial of the device the customer named, when they named one.
    pub device_serial: Option<String>,
    pub attachments: Vec<Attachment>,
    pub missing_fields: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub impact: Option<Impact>,
    pub rules_version: RulesVersion,
    /// The rules' classification (its reason is in the `SeverityChanged` event).
    pub severity: Severity,
    /// The first instant the sweep must look at it (computed from its first events).
    pub next_due: Option<DateTime<Utc>>,
    /// Its first events: received, then the rules' severity.
    pub events: Vec<Event>,
}

impl Opening {
    /// The ticket as written, with its folio and its first events applied.
    pub fn numbered(&self, folio: Folio) -> Ticket {
        let mut ticket = Ticket {
            id: self.id.clone(),
            folio,
            channel: self.channel,
            customer: self.customer.clone(),
            verified: self.verified,
            subscription: self.subscription.clone(),
            terms: self.terms.clone(),
            support_type: self.support_type.clone(),
            subject: self.subject.clone(),
            description: self.description.clone(),
            device_serial: self.device_serial.clone(),
            device: None,
            incident: None,
            replacement: Vec::new(),
            attachments: self.attachments.clone(),
            missing_fields: self.missing_fields.clone(),
            received_at: self.received_at,
            arrived_at: None,
            clock_start: None,
            severity: self.severity,
            severity_reason: String::new(),
            severity_set_by: Actor::Rules,
            severity_confidence: None,
            impact: self.impact,
            stage: Stage::Received,
            acknowledged_at: None,
            deliveries: Vec::new(),
            stage_before_wait: None,
            assessment: None,
            work_minutes: 0,
            satisfaction: None,
            closings: 0,
            root_cause_delivered_at: None,
            rules_version: self.rules_version.clone(),
            owner: None,
            message_id: self.message_id.clone(),
            version: 0,
            next_due: self.next_due,
            updated_at: self.received_at,
        };
        for e in &self.events {
            ticket.apply(e);
        }
        ticket
    }

    /// What the policy scripts see of it (before it has a folio).
    pub fn facts(&self, severity: Option<Severity>) -> TicketFacts {
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
            severity,
            impact: self.impact,
            subscription: super::subscription_status(self.subscription.as_ref()),
            terms: self.terms.clone(),
        }
    }
}
