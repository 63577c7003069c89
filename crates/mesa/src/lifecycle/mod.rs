//! The ticket lifecycle: which staff and customer actions are legal in which stage, and the
//! events (and outgoing mail) each one produces. Illegal steps are errors, never no-ops.
//!
//! Received → Acknowledged → Diagnosed → EscalatedToRnd → Answered → Closed, with
//! WaitingOnCustomer (clocks paused) and Reopened.

mod actions;

pub use actions::{Action, offered};

use crate::model::{DeviceFacts, EventKind, ReplacementStep, ResponseChannel, Stage, Ticket};
use crate::outbox::{MailKind, OutboxItem};
use crate::policy::{Diagnosis, Policy, PolicyError};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("cannot {action} a ticket in stage {stage}: {hint}")]
    Illegal {
        action: &'static str,
        stage: &'static str,
        hint: &'static str,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Mail an action asks to send; the service writes it as the outbox item `id`, in the same
/// operation as the event that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDraft {
    /// The outbox item's id, fixed here so the event can name it.
    pub id: String,
    pub kind: MailKind,
    pub body: String,
}

impl MailDraft {
    pub fn new(kind: MailKind, body: String) -> Self {
        Self {
            id: OutboxItem::new_id(),
            kind,
            body,
        }
    }
}

/// One event an action records, with the mail it sends, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: EventKind,
    pub mail: Option<MailDraft>,
}

impl Step {
    /// An event that sends nothing.
    pub fn event(kind: EventKind) -> Self {
        Self { kind, mail: None }
    }

    /// An event and the mail it sends.
    pub fn with_mail(kind: EventKind, mail: MailDraft) -> Self {
        Self {
            kind,
            mail: Some(mail),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub steps: Vec<Step>,
}

impl Decision {
    fn record(&mut self, kind: EventKind) {
        self.steps.push(Step::event(kind));
    }
}

const MAX_TEXT: usize = 20_000;

fn text(field: &'static str, value: &str, required: bool) -> Result<String, ActionError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(ActionError::Invalid {
            field,
            message: "must not be empty".into(),
        });
    }
    if v.len() > MAX_TEXT {
        return Err(ActionError::Invalid {
            field,
            message: format!("is longer than {MAX_TEXT} bytes"),
        });
    }
    Ok(v.to_string())
}

fn illegal(action: &Action, stage: Stage, hint: &'static str) -> ActionError {
    ActionError::Illegal {
        action: action.name(),
        stage: stage.as_str(),
        hint,
    }
}

/// What the desk looked up in its registries for an action: the facts the rules judge it
/// on, so that deciding stays a pure function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    /// For a diagnosis: what the equipment registry says of the ticket's device.
    pub device: Option<DeviceFacts>,
}

/// Validates `action` against the ticket's stage and gives the events it records.
pub fn decide(ticket: &Ticket, action: &Action, policy: &Policy) -> Result<Decision, ActionError> {
    decide_with(ticket, action, policy, &Lookups::default())
}

/// [`decide`], with what the desk looked up for the action.
pub fn decide_with(
    ticket: &Ticket,
    action: &Action,
    policy: &Policy,
    lookups: &Lookups,
) -> Result<Decision, ActionError> {
    let stage = ticket.stage;
    let open = stage.is_open();
    let mut d = Decision::default();
    match action {
        Action::SetSeverity { severity, reason } => {
            if !open {
                return Err(illegal(action, stage, "reopen it first"));
            }
            // The customer is told the severity staff settled on, why, and its deadlines.
            let reason = text("reason", reason, true)?;
            let mail = MailDraft::new(MailKind::Severity, reason.clone());
            d.steps.push(Step::with_mail(
                EventKind::SeverityChanged {
                    from: Some(ticket.severity),
                    to: *severity,
                    reason,
                    confidence: None,
                },
                mail,
            ));
        }
        Action::Diagnose {
            summary,
            cause,
            vendor,
            under_warranty,
            replicated,
            serial: _,
        } => {
            // While waiting on the customer, what counts is where the ticket was before.
            let stage = match stage {
                Stage::WaitingOnCustomer => ticket.stage_before_wait.unwrap_or(Stage::Acknowledged),
                other => other,
            };
            if !matches!(
                stage,
                Stage::Received
                    | Stage::Acknowledged
                    | Stage::Reopened
                    | Stage::Diagnosed
                    | Stage::EscalatedToRnd
            ) {
                return Err(illegal(
                    action,
                    stage,
                    "a diagnosis is recorded before the answer",
                ));
            }
            let summary = text("summary", summary, true)?;
            let diagnosis = Diagnosis {
                cause: cause.trim().to_string(),
                summary: summary.clone(),
                vendor: vendor.clone().filter(|v| !v.trim().is_empty()),
                under_warranty: *under_warranty,
                device: lookups.device.clone(),
            };
            let assessment = policy.assess(&ticket.facts(), &diagnosis)?;
            d.record(EventKind::Diagnosed {
                summary,
                assessment,
                replicated: *replicated,
                device: lookups.device.clone(),
            });
        }
        Action::Escalate { note } => {
            if stage != Stage::Diagnosed {
                return Err(illegal(
                    action,
                    stage,
                    "record the first diagnosis before escalating",
                ));
            }
            d.record(EventKind::EscalatedToRnd {
                note: text("note", note, true)?,
            });
        }
        Action::Reply { message, channel } => {
            if !open {
                return Err(illegal(action, stage, "reopen it first"));
            }
            let message = text("message", message, true)?;
            if *channel == ResponseChannel::Email {
                let mail = MailDraft::new(MailKind::Reply, message.clone());
                let outbox_id = Some(mail.id.clone());
                d.steps.push(Step::with_mail(
                    EventKind::Responded {
                        message,
                        outbox_id,
                        channel: *channel,
                    },
                    mail,
                ));
            } else {
                d.record(EventKind::Responded {
                    message,
                    outbox_id: None,
                    channel: *channel,
                });
            }
        }
        Action::Answer { message } => {
            if !matches!(
                stage,
                Stage::Diagnosed | Stage::EscalatedToRnd | Stage::Reopened
            ) {
                return Err(illegal(action, stage, "the answer follows a diagnosis"));
            }
            if ticket.assessment.is_none() {
                return Err(illegal(action, stage, "record the first diagnosis first"));
            }
            let message = text("message", message, true)?;
            let mail = MailDraft::new(MailKind::Answer, message.clone());
            let outbox_id = mail.id.clone();
            d.steps.push(Step::with_mail(
                EventKind::Answered { message, outbox_id },
                mail,
            ));
        }
        Action::Wait { note } => {
            if !open || stage == Stage::WaitingOnCustomer {
                return Err(illegal(
                    action,
                    stage,
                    "only an open ticket that is not already waiting can wait",
                ));
            }
            let note = text("note", note, true)?;
            let mail = MailDraft::new(MailKind::Waiting, note.clone());
            d.steps
                .push(Step::with_mail(EventKind::WaitingOnCustomer { note }, mail));
        }
        Action::Resume { note } => {
            if stage != Stage::WaitingOnCustomer {
                return Err(illegal(
                    action,
                    stage,
                    "the ticket is not waiting on the customer",
                ));
            }
            d.record(EventKind::Resumed {
                note: text("note", note, false)?,
            });
        }
        Action::LogWork { minutes, note } => {
            if !(1..=24 * 60).contains(minutes) {
                return Err(ActionError::Invalid {
                    field: "minutes",
                    message: format!("must be between 1 and 1440 (got {minutes})"),
                });
            }
            d.record(EventKind::WorkLogged {
                minutes: *minutes,
                note: text("note", note, false)?,
            });
        }
        Action::RecordVisit {
            visited_on,
            technician,
            site,
            result,
            minutes,
        } => {
            if !(1..=24 * 60).contains(minutes) {
                return Err(ActionError::Invalid {
                    field: "minutes",
                    message: format!("must be between 1 and 1440 (got {minutes})"),
                });
            }
            let received = policy.calendar().local(ticket.received_at).date_naive();
            if *visited_on < received {
                return Err(ActionError::Invalid {
                    field: "visited_on",
                    message: format!("{visited_on} is before the ticket was received ({received})"),
                });
            }
            d.record(EventKind::VisitRecorded {
                visited_on: *visited_on,
                technician: text("technician", technician, true)?,
                site: text("site", site, true)?,
                result: text("result", result, true)?,
                minutes: *minutes,
            });
        }
        Action::RecordReplacement {
            step,
            carrier,
            tracking,
            serial,
            note,
        } => {
            replacement_allowed(ticket, action, *step)?;
            let (carrier, tracking) = (
                text("carrier", carrier, false)?,
                text("tracking", tracking, false)?,
            );
            if *step == ReplacementStep::Shipped && (carrier.is_empty() || tracking.is_empty()) {
                return Err(ActionError::Invalid {
                    field: "tracking",
                    message: "a shipment needs its carrier and tracking number".into(),
                });
            }
            let mail = MailDraft::new(MailKind::Replacement, step.as_str().to_string());
            let outbox_id = mail.id.clone();
            d.steps.push(Step::with_mail(
                EventKind::ReplacementRecorded {
                    step: *step,
                    carrier,
                    tracking,
                    serial: crate::model::Equipment::key_of(&text("serial", serial, false)?),
                    note: text("note", note, false)?,
                    outbox_id,
                },
                mail,
            ));
        }
        Action::Close { note } => {
            if stage != Stage::Answered {
                return Err(illegal(
                    action,
                    stage,
                    "send the answer to the customer before closing",
                ));
            }
            let mail = MailDraft::new(MailKind::Csat, String::new());
            let kind = EventKind::Closed {
                note: text("note", note, false)?,
                csat_outbox_id: Some(mail.id.clone()),
            };
            d.steps.push(Step::with_mail(kind, mail));
        }
        Action::Reopen { reason } => {
            // An answer the customer says did not solve it reopens the follow-up too.
            if !matches!(stage, Stage::Closed | Stage::Answered) {
                return Err(illegal(
                    action,
                    stage,
                    "only an answered or closed ticket can be reopened",
                ));
            }
            d.record(EventKind::Reopened {
                reason: text("reason", reason, true)?,
            });
        }
        Action::DeliverRootCause { report } => {
            if ticket.root_cause_delivered_at.is_some() {
                return Err(illegal(
                    action,
                    stage,
                    "the root cause was already delivered",
                ));
            }
            if ticket.assessment.is_none() {
                return Err(illegal(action, stage, "record the first diagnosis first"));
            }
            let report = text("report", report, true)?;
            let mail = MailDraft::new(MailKind::RootCause, report.clone());
            let outbox_id = mail.id.clone();
            d.steps.push(Step::with_mail(
                EventKind::RootCauseDelivered { report, outbox_id },
                mail,
            ));
        }
        Action::Assign { to } => {
            let to = to
                .as_deref()
                .map(crate::types::address_key)
                .filter(|t| !t.is_empty());
            if to == ticket.owner {
                return Err(ActionError::Invalid {
                    field: "to",
                    message: match &to {
                        Some(t) => format!("the ticket is already assigned to {t}"),
                        None => "the ticket is not assigned to anyone".into(),
                    },
                });
            }
            d.record(EventKind::Assigned { to });
        }
        Action::Note { text: note } => {
            d.record(EventKind::NoteAdded {
                text: text("text", note, true)?,
            });
        }
        Action::UpdateContact {
            company,
            contact_name,
            phone,
            support_type,
        } => {
            let field =
                |name: &'static str, v: &Option<String>| -> Result<Option<String>, ActionError> {
                    match v {
                        Some(v) => Ok(Some(text(name, v, true)?)),
                        None => Ok(None),
                    }
                };
            if let Some(t) = support_type {
                if policy.support_type_label(t).is_none() {
                    return Err(ActionError::Invalid {
                        field: "support_type",
                        message: format!("unknown support type {t:?}"),
                    });
                }
            }
            let update = EventKind::ContactUpdated {
                company: field("company", company)?,
                contact_name: field("contact_name", contact_name)?,
                phone: field("phone", phone)?,
                support_type: field("support_type", support_type)?,
            };
            if update
                == (EventKind::ContactUpdated {
                    company: None,
                    contact_name: None,
                    phone: None,
                    support_type: None,
                })
            {
                return Err(ActionError::Invalid {
                    field: "update_contact",
                    message: "give at least one of company, contact_name, phone, support_type"
                        .into(),
                });
            }
            d.record(update);
        }
    }
    Ok(d)
}

/// A replacement step is for a device the diagnosis found covered by the warranty, once,
/// and after the step before it.
fn replacement_allowed(
    ticket: &Ticket,
    action: &Action,
    step: ReplacementStep,
) -> Result<(), ActionError> {
    if !ticket
        .assessment
        .as_ref()
        .is_some_and(|a| a.no_cost_replacement)
    {
        return Err(illegal(
            action,
            ticket.stage,
            "only a device the diagnosis found under warranty is replaced",
        ));
    }
    let done = |s: ReplacementStep| ticket.replacement.iter().any(|r| r.step == s);
    if done(step) {
        return Err(ActionError::Invalid {
            field: "step",
            message: format!("the step {} is already recorded", step.as_str()),
        });
    }
    if let Some(before) = step.after().filter(|b| !done(*b)) {
        return Err(ActionError::Invalid {
            field: "step",
            message: format!("record the step {} first", before.as_str()),
        });
    }
    Ok(())
}

/// Whether the survey of `closing` can still be answered: the ticket is closed by that
/// closing and nobody answered its survey yet.
pub fn survey_open(ticket: &Ticket, closing: u32) -> Result<(), ActionError> {
    let illegal = |hint| ActionError::Illegal {
        action: "record satisfaction for",
        stage: ticket.stage.as_str(),
        hint,
    };
    if ticket.stage != Stage::Closed || closing != ticket.closings.max(1) {
        return Err(illegal("the survey is for closed tickets"));
    }
    // Answers recorded before closings were numbered count as the first closing's.
    if ticket
        .satisfaction
        .as_ref()
        .is_some_and(|s| s.closing.max(1) == closing)
    {
        return Err(illegal("this survey was already answered"));
    }
    Ok(())
}

/// The customer's answer to the survey of one closing: recorded once per closing; "not
/// satisfied" reopens the ticket.
pub fn satisfaction(
    ticket: &Ticket,
    closing: u32,
    satisfied: bool,
    comment: &str,
) -> Result<Vec<EventKind>, ActionError> {
    survey_open(ticket, closing)?;
    let comment = text("comment", comment, false)?;
    let mut events = vec![EventKind::SatisfactionRecorded {
        satisfied,
        comment: comment.clone(),
        closing,
    }];
    if !satisfied {
        events.push(EventKind::Reopened {
            reason: if comment.is_empty() {
                "El cliente no quedó satisfecho.".to_string()
            } else {
                format!("El cliente no quedó satisfecho: {comment}")
            },
        });
    }
    Ok(events)
}
