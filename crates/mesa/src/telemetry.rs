//! What mesa tells the operators and other systems: operational [`Metric`]s (CloudWatch EMF
//! on AWS, logs on one machine) and [`DomainEvent`]s (EventBridge on AWS), as typed values
//! so a name cannot be misspelt in one place and an alarm silently never fire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Channel, DeliveryStatus};
use crate::ticket::Severity;
use crate::types::{Folio, MailKind, TicketId};

/// One count of something that happened, or one measured value (see [`Metric::value`]).
/// Each variant is one CloudWatch metric name; its other fields are the metric's dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    TicketCreated {
        severity: Severity,
        channel: Channel,
    },
    MailSent {
        kind: MailKind,
    },
    MailQuarantined,
    SlaAtRisk {
        severity: Severity,
        milestone: String,
    },
    SlaBreached {
        severity: Severity,
        milestone: String,
    },
    SweepHeartbeat,
    MailFeedback {
        status: DeliveryStatus,
        kind: Option<MailKind>,
    },
    MailFeedbackUnmatched,
    /// A domain event could not be handed to the bus.
    EventPublishErrors,
    /// A rules bundle failed to compile or its vectors, and was not activated.
    RulesRejected,
    /// An address got more acknowledgements in a day than the rules allow: a mail loop,
    /// or a customer staff should call.
    AckLimitReached,
    /// The time from a ticket's arrival to its acknowledgement going out (seconds): the
    /// contract's 15 minutes, measured.
    AcknowledgementLatency {
        seconds: i64,
    },
    /// A company's own terms did not plan under the live rules: a ticket was opened on the
    /// standard terms instead.
    CustomerTermsRejected,
    /// A severity-1 page was given up: the worker that took it has no pager.
    PageNotSent,
    /// The live rules failed on one ticket at run time; it was opened under the last known
    /// good bundle or the built-in contract.
    RulesFallback,
}

impl Metric {
    /// Every metric name mesa emits (the SAM template's alarms may use only these).
    pub const NAMES: [&'static str; 15] = [
        "TicketCreated",
        "MailSent",
        "MailQuarantined",
        "SlaAtRisk",
        "SlaBreached",
        "SweepHeartbeat",
        "MailFeedback",
        "MailFeedbackUnmatched",
        "EventPublishErrors",
        "RulesRejected",
        "AckLimitReached",
        "AcknowledgementLatency",
        "CustomerTermsRejected",
        "PageNotSent",
        "RulesFallback",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Metric::TicketCreated { .. } => "TicketCreated",
            Metric::MailSent { .. } => "MailSent",
            Metric::MailQuarantined => "MailQuarantined",
            Metric::SlaAtRisk { .. } => "SlaAtRisk",
            Metric::SlaBreached { .. } => "SlaBreached",
            Metric::SweepHeartbeat => "SweepHeartbeat",
            Metric::MailFeedback { .. } => "MailFeedback",
            Metric::MailFeedbackUnmatched => "MailFeedbackUnmatched",
            Metric::EventPublishErrors => "EventPublishErrors",
            Metric::RulesRejected => "RulesRejected",
            Metric::AckLimitReached => "AckLimitReached",
            Metric::AcknowledgementLatency { .. } => "AcknowledgementLatency",
            Metric::CustomerTermsRejected => "CustomerTermsRejected",
            Metric::PageNotSent => "PageNotSent",
            Metric::RulesFallback => "RulesFallback",
        }
    }

    /// The value recorded: 1 for a count, the measure for a measured one.
    pub fn value(&self) -> f64 {
        match self {
            Metric::AcknowledgementLatency { seconds } => *seconds as f64,
            _ => 1.0,
        }
    }

    /// The CloudWatch unit of [`Metric::value`].
    pub fn unit(&self) -> &'static str {
        match self {
            Metric::AcknowledgementLatency { .. } => "Seconds",
            _ => "Count",
        }
    }

    /// The dimensions, as (name, value) pairs.
    pub fn dimensions(&self) -> Vec<(&'static str, String)> {
        match self {
            Metric::TicketCreated { severity, channel } => vec![
                ("Severity", severity.to_string()),
                ("Channel", channel.as_str().to_string()),
            ],
            Metric::MailSent { kind } => vec![("Kind", kind.as_str().to_string())],
            Metric::SlaAtRisk {
                severity,
                milestone,
            }
            | Metric::SlaBreached {
                severity,
                milestone,
            } => vec![
                ("Severity", severity.to_string()),
                ("Milestone", milestone.clone()),
            ],
            Metric::MailFeedback { status, kind } => vec![
                ("Status", status.as_str().to_string()),
                ("Kind", kind.map_or("unknown", MailKind::as_str).to_string()),
            ],
            Metric::MailQuarantined
            | Metric::SweepHeartbeat
            | Metric::MailFeedbackUnmatched
            | Metric::EventPublishErrors
            | Metric::RulesRejected
            | Metric::AckLimitReached
            | Metric::AcknowledgementLatency { .. }
            | Metric::CustomerTermsRejected
            | Metric::PageNotSent
            | Metric::RulesFallback => Vec::new(),
        }
    }
}

/// A domain event for other systems: `source` is `mesa`; on the wire `detail_type` names
/// the variant and `detail` holds its fields (documented in the README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "detail_type", content = "detail")]
pub enum DomainEvent {
    TicketCreated {
        ticket_id: TicketId,
        folio: Folio,
        severity: Severity,
        channel: Channel,
        received_at: DateTime<Utc>,
        verified: bool,
    },
    #[serde(rename = "SlaAtRisk")]
    SlaAtRisk(SlaEvent),
    #[serde(rename = "SlaBreached")]
    SlaBreached(SlaEvent),
    MailUndeliverable {
        ticket_id: TicketId,
        folio: Folio,
        mail_kind: Option<MailKind>,
        status: DeliveryStatus,
        recipients: Vec<String>,
        detail: String,
        at: DateTime<Utc>,
    },
}

/// A domain event as the bus delivers it: `id` is the same on every delivery of one event
/// (delivery is at least once), so consumers drop repeats by it. On the wire it is the
/// detail's `event_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedEvent {
    pub id: String,
    pub event: DomainEvent,
}

impl PublishedEvent {
    /// EventBridge's `Detail`: the event's fields and its `event_id`.
    pub fn detail(&self) -> serde_json::Value {
        let mut detail = self.event.detail();
        if let Some(fields) = detail.as_object_mut() {
            fields.insert("event_id".into(), self.id.clone().into());
        }
        detail
    }
}

/// A clock of a ticket at risk or breached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaEvent {
    pub ticket_id: TicketId,
    pub folio: Folio,
    pub severity: Severity,
    pub milestone: String,
    pub due: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl DomainEvent {
    /// EventBridge's `DetailType`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            DomainEvent::TicketCreated { .. } => "TicketCreated",
            DomainEvent::SlaAtRisk(_) => "SlaAtRisk",
            DomainEvent::SlaBreached(_) => "SlaBreached",
            DomainEvent::MailUndeliverable { .. } => "MailUndeliverable",
        }
    }

    /// EventBridge's `Detail`: the variant's fields as a JSON object.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|mut v| v.get_mut("detail").map(serde_json::Value::take))
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_name_is_listed() {
        let s = Severity::CRITICAL;
        let all = [
            Metric::TicketCreated {
                severity: s,
                channel: Channel::Form,
            },
            Metric::MailSent {
                kind: MailKind::Ack,
            },
            Metric::MailQuarantined,
            Metric::SlaAtRisk {
                severity: s,
                milestone: "response".into(),
            },
            Metric::SlaBreached {
                severity: s,
                milestone: "response".into(),
            },
            Metric::SweepHeartbeat,
            Metric::MailFeedback {
                status: DeliveryStatus::Bounced,
                kind: None,
            },
            Metric::MailFeedbackUnmatched,
            Metric::EventPublishErrors,
            Metric::RulesRejected,
            Metric::AckLimitReached,
            Metric::AcknowledgementLatency { seconds: 300 },
            Metric::CustomerTermsRejected,
            Metric::PageNotSent,
            Metric::RulesFallback,
        ];
        let names: Vec<_> = all.iter().map(Metric::name).collect();
        assert_eq!(names, Metric::NAMES);
        assert_eq!(
            all[7].dimensions(),
            Vec::<(&str, String)>::new(),
            "unmatched feedback has no dimensions"
        );
        assert_eq!(
            all[6].dimensions(),
            vec![
                ("Status", "bounced".to_string()),
                ("Kind", "unknown".to_string())
            ]
        );
    }

    #[test]
    fn domain_events_keep_their_wire_shape() {
        let at = DateTime::parse_from_rfc3339("2026-11-10T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let e = DomainEvent::SlaBreached(SlaEvent {
            ticket_id: TicketId::new(),
            folio: Folio::new("ING", 2026, 7),
            severity: Severity::CRITICAL,
            milestone: "response".into(),
            due: at,
            at,
        });
        assert_eq!(e.detail_type(), "SlaBreached");
        let d = e.detail();
        assert_eq!(d["folio"], "ING-2026-000007");
        assert_eq!(d["severity"], 1);
        assert_eq!(d["milestone"], "response");
        assert_eq!(d["due"], "2026-11-10T16:00:00Z");
        let created = DomainEvent::TicketCreated {
            ticket_id: TicketId::new(),
            folio: Folio::new("ING", 2026, 8),
            severity: Severity::CRITICAL,
            channel: Channel::Email,
            received_at: at,
            verified: false,
        };
        assert_eq!(created.detail()["channel"], "email");
        assert_eq!(created.detail()["verified"], false);
    }
}
