//! Outgoing mail: outbox items written atomically with the ticket change that asks for
//! them, and the composition of the message an adapter sends. Every header value is built
//! here from validated text only: no CR, LF, NUL or encoded-word opener ever reaches one.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::{Subscription, Ticket};
use crate::policy::{Policy, PolicyError};
use crate::ticket::Severity;
pub use crate::types::MailKind;
use crate::types::{EmailAddress, TicketId};

mod error;
pub use error::MailError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sent,
    /// Given up on (e.g. the per-address ack cap); kept with its reason.
    Skipped,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OutboxStatus::Pending,
            OutboxStatus::Sent,
            OutboxStatus::Skipped,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One message to send, stored with the ticket change that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub ticket_id: TicketId,
    pub kind: MailKind,
    pub to: String,
    /// Our Message-ID for it, fixed when the item is written (so replies thread back and a
    /// re-send is recognisably the same message).
    pub message_id: String,
    /// The customer message this one answers, for In-Reply-To / References.
    pub in_reply_to: Option<String>,
    /// Staff text for replies and answers.
    pub body: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// Not to be tried before this instant (lease or back-off).
    pub not_before: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// An acknowledgement past the hourly limit: sent together with the other tickets of
    /// the same address due at the same instant, as one digest.
    #[serde(default)]
    pub digest: bool,
}

impl OutboxItem {
    /// A pending item with id `id` (see [`OutboxItem::new_id`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        ticket_id: TicketId,
        kind: MailKind,
        to: &str,
        mail_domain: &str,
        in_reply_to: Option<String>,
        body: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            message_id: format!(
                "<{}.{}@{}>",
                kind.as_str(),
                id.to_ascii_lowercase(),
                mail_domain
            ),
            id,
            ticket_id,
            kind,
            to: to.to_string(),
            in_reply_to,
            body,
            status: OutboxStatus::Pending,
            attempts: 0,
            created_at: now,
            not_before: now,
            sent_at: None,
            last_error: None,
            digest: false,
        }
    }

    /// The acknowledgement of a ticket past the hourly limit: held until `at` (the end of
    /// the digest period) and sent in one digest with the others of its address.
    pub fn into_digest(mut self, at: DateTime<Utc>) -> Self {
        self.digest = true;
        self.not_before = at;
        self
    }

    /// A fresh outbox item id (a ULID), fixed when an action decides to send mail so the
    /// event that records it can name it.
    pub fn new_id() -> String {
        ulid::Ulid::new().to_string()
    }

    /// Whether a worker may take it at `now`: pending, and its lease or back-off is over.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status == OutboxStatus::Pending && self.not_before <= now
    }

    /// Taken by a worker until `now + lease`: no other worker takes it meanwhile.
    pub fn claim(&mut self, now: DateTime<Utc>, lease: Duration) {
        self.attempts += 1;
        self.not_before = now + lease;
    }

    /// The transport accepted it.
    pub fn sent(&mut self, at: DateTime<Utc>) {
        self.status = OutboxStatus::Sent;
        self.sent_at = Some(at);
        self.last_error = None;
    }

    /// A temporary failure: tried again after an exponential back-off (1 min after the first
    /// attempt, then 2, 4, … up to 32 min); gives the instant of the next try.
    pub fn failed(&mut self, error: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let backoff = Duration::seconds(30 * 2i64.pow(self.attempts.min(6)));
        self.status = OutboxStatus::Pending;
        self.not_before = now + backoff;
        self.last_error = Some(error.to_string());
        self.not_before
    }

    /// Given up on for good (a permanent failure, or a ticket that is gone); kept with why.
    pub fn skipped(&mut self, reason: &str) {
        self.status = OutboxStatus::Skipped;
        self.last_error = Some(reason.to_string());
    }
}

/// A composed message, ready for an adapter (SMTP, maildir, SES) to encode and send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub outbox_id: String,
    pub message_id: String,
    pub from_name: String,
    pub from_address: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// `Auto-Submitted: auto-replied` (RFC 3834) on automatic acknowledgements.
    pub auto_replied: bool,
}

impl OutgoingMail {
    /// Encodes the message as RFC 5322 bytes (lettre's builder: UTF-8 subjects as encoded
    /// words, bodies quoted-printable), with our threading and Auto-Submitted headers.
    pub fn to_mime(&self) -> Result<Vec<u8>, MailError> {
        use lettre::message::header::{ContentType, HeaderName, HeaderValue};
        use lettre::message::{Mailbox, Message};

        let from_addr = self.from_address.parse().map_err(|e| {
            MailError::permanent_from(format!("from address {:?}", self.from_address), e)
        })?;
        let to_addr = self
            .to
            .parse()
            .map_err(|e| MailError::permanent_from(format!("recipient {:?}", self.to), e))?;
        let mut builder = Message::builder()
            .message_id(Some(self.message_id.clone()))
            .from(Mailbox::new(Some(self.from_name.clone()), from_addr))
            .to(Mailbox::new(None, to_addr))
            .subject(self.subject.clone())
            .date_now();
        if let Some(irt) = &self.in_reply_to {
            builder = builder.in_reply_to(irt.clone());
        }
        if !self.references.is_empty() {
            builder = builder.references(self.references.join(" "));
        }
        let mut message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(self.text.clone())
            .map_err(|e| MailError::permanent_from("cannot build the message", e))?;
        if self.auto_replied {
            // RFC 3834: an automatic reply, so other robots do not answer it.
            message.headers_mut().insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-replied".to_string(),
            ));
        }
        Ok(message.formatted())
    }
}

/// A header value made safe: control characters (CR, LF, NUL, …) become spaces, runs of
/// whitespace one space, `=?` is broken so no encoded word can be smuggled in, and the
/// length is capped.
pub fn header_text(value: &str, max_chars: usize) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let single = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let safe = single.replace("=?", "= ?");
    safe.chars().take(max_chars).collect()
}

/// A Message-ID as `<left@right>` with only the characters RFC 5322 allows, or `None`.
pub fn clean_message_id(raw: &str) -> Option<String> {
    let inner = raw.trim().trim_start_matches('<').trim_end_matches('>');
    let (left, right) = inner.split_once('@')?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let ok = !left.is_empty()
        && !right.is_empty()
        && inner.len() <= 250
        && left.chars().all(atext)
        && right.chars().all(|c| atext(c) || c == '[' || c == ']');
    ok.then(|| format!("<{left}@{right}>"))
}

/// An address we are willing to send to (see [`EmailAddress::parse`]).
pub fn valid_address(address: &str) -> bool {
    EmailAddress::parse(address).is_ok()
}

/// Links a message may carry, made by the service that signs them.
#[derive(Debug, Clone, Default)]
pub struct MailLinks {
    /// The satisfaction survey of this closing.
    pub survey_url: String,
}

/// Renders an outbox item into a message with safe headers: the template of its kind, with
/// the ticket, its deadlines in local time and the staff text.
pub fn compose(
    policy: &Policy,
    ticket: &Ticket,
    item: &OutboxItem,
    links: &MailLinks,
) -> Result<OutgoingMail, PolicyError> {
    let settings = policy.settings();
    let facts = ticket.facts();
    let response_hours: Vec<serde_json::Value> = std::iter::once(serde_json::Value::Null)
        .chain((1..=4).map(|level| {
            let hours = Severity::new(level)
                .ok()
                .and_then(|s| policy.milestones(&facts, s).ok())
                .and_then(|defs| defs.iter().find(|d| d.name == "response").cloned())
                .map(|d| d.target.duration(policy.calendar()).num_hours());
            json!(hours)
        }))
        .collect();
    let plan = policy.plan_from(
        &facts,
        ticket.received_at,
        ticket.arrived(),
        ticket.severity,
    )?;
    let local = |due: &str| {
        DateTime::parse_from_rfc3339(due)
            .ok()
            .map(|d| human_time(policy, d.with_timezone(&Utc)))
            .unwrap_or_default()
    };
    let response_due = plan
        .milestones
        .iter()
        .find(|m| m.name == "response")
        .map(|m| local(&m.due))
        .unwrap_or_default();
    let deadlines: Vec<serde_json::Value> = plan
        .milestones
        .iter()
        .map(|m| json!({"name": m.name, "label": milestone_label(&m.name), "due_local": local(&m.due)}))
        .collect();
    let context = json!({
        "folio": ticket.folio.as_str(),
        "subject": ticket.subject,
        "company": ticket.customer.company,
        "contact_name": ticket.customer.contact_name,
        "email": ticket.customer.email,
        "phone": ticket.customer.phone,
        "support_type_label": policy.support_type_label(&ticket.support_type).unwrap_or_default(),
        "description": ticket.description,
        "attachments": ticket.attachments.iter().map(|a| a.filename.clone()).collect::<Vec<_>>(),
        "missing_fields": ticket.missing_fields,
        "subscription": subscription_context(ticket.subscription.as_ref()),
        "received_local": human_time(policy, ticket.received_at),
        "severity": ticket.severity.level(),
        "severity_reason": ticket.severity_reason,
        "response_due_local": response_due,
        "deadlines": deadlines,
        "response_hours": response_hours,
        "company_name": settings.company_name,
        "body": item.body,
        "survey_url": links.survey_url,
        "device": ticket.device,
        "incident": ticket.incident,
        "replacement": replacement_context(ticket, item),
        "warning": warning_context(item, &local),
    });
    let template = item.kind.template().ok_or_else(|| PolicyError::Template {
        file: item.kind.as_str().to_string(),
        message: "an event is published, not mailed".into(),
    })?;
    let rendered = policy.render_mail(template, &context)?;
    Ok(OutgoingMail {
        outbox_id: item.id.clone(),
        message_id: item.message_id.clone(),
        from_name: header_text(&format!("Soporte {}", settings.company_name), 100),
        from_address: settings.support_address.clone(),
        to: item.to.clone(),
        subject: header_text(&rendered.subject, 250),
        text: rendered.body,
        in_reply_to: item.in_reply_to.clone(),
        references: item.in_reply_to.iter().cloned().collect(),
        auto_replied: item.kind == MailKind::Ack,
    })
}

/// What an at-risk warning says: the item's body is "MILESTONE DUE" (the due instant as
/// the sweep computed it, pauses included).
fn warning_context(item: &OutboxItem, local: &dyn Fn(&str) -> String) -> serde_json::Value {
    if item.kind != MailKind::SlaWarning {
        return serde_json::Value::Null;
    }
    let (milestone, due) = item
        .body
        .split_once(' ')
        .unwrap_or((item.body.as_str(), ""));
    json!({"milestone": milestone, "label": milestone_label(milestone), "due_local": local(due)})
}

/// What a replacement mail says: its step's record (the item's body names the step).
fn replacement_context(ticket: &Ticket, item: &OutboxItem) -> serde_json::Value {
    let record = (item.kind == MailKind::Replacement)
        .then(|| {
            ticket
                .replacement
                .iter()
                .find(|r| r.step.as_str() == item.body)
        })
        .flatten();
    record.map_or(serde_json::Value::Null, |r| {
        json!({"step": r.step.as_str(), "carrier": r.carrier, "tracking": r.tracking,
               "serial": r.serial, "note": r.note})
    })
}

/// What the templates see of the ticket's subscription: `status` as the scripts have it,
/// and the dates of the periods either side (`dd/mm/aaaa`, empty when none).
fn subscription_context(s: Option<&Subscription>) -> serde_json::Value {
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.format("%d/%m/%Y").to_string());
    let (ended, starts, until, plan) = match s {
        Some(Subscription::OutsidePeriod { ended, starts, .. }) => {
            (date(*ended), date(*starts), None, None)
        }
        Some(Subscription::Active { plan, until, .. }) => {
            (None, None, date(Some(*until)), Some(plan.clone()))
        }
        _ => (None, None, None, None),
    };
    json!({
        "status": crate::model::subscription_status(s),
        "period_ended": ended.unwrap_or_default(),
        "period_starts": starts.unwrap_or_default(),
        "until": until.unwrap_or_default(),
        "plan": plan.unwrap_or_default(),
    })
}

/// One acknowledgement for several tickets of one address (see [`OutboxItem::digest`]):
/// every folio with its subject, severity and response deadline.
pub fn compose_digest(
    policy: &Policy,
    tickets: &[(Ticket, OutboxItem)],
) -> Result<OutgoingMail, PolicyError> {
    let settings = policy.settings();
    let Some((first, item)) = tickets.first() else {
        return Err(PolicyError::BadInput(
            "a digest needs at least one ticket".into(),
        ));
    };
    let mut listed = Vec::new();
    for (t, _) in tickets {
        let plan = policy.plan_from(&t.facts(), t.received_at, t.arrived(), t.severity)?;
        let due = plan
            .milestones
            .iter()
            .find(|m| m.name == "response")
            .and_then(|m| DateTime::parse_from_rfc3339(&m.due).ok())
            .map(|d| human_time(policy, d.with_timezone(&Utc)))
            .unwrap_or_default();
        listed.push(json!({
            "folio": t.folio.as_str(),
            "subject": t.subject,
            "severity": t.severity.level(),
            "severity_reason": t.severity_reason,
            "received_local": human_time(policy, t.received_at),
            "response_due_local": due,
            "missing_fields": t.missing_fields,
            "subscription": subscription_context(t.subscription.as_ref()),
        }));
    }
    let context = json!({
        "contact_name": first.customer.contact_name,
        "company_name": settings.company_name,
        "tickets": listed,
        "count": tickets.len(),
    });
    let rendered = policy.render_mail(ACK_DIGEST_TEMPLATE, &context)?;
    Ok(OutgoingMail {
        outbox_id: item.id.clone(),
        message_id: item.message_id.clone(),
        from_name: header_text(&format!("Soporte {}", settings.company_name), 100),
        from_address: settings.support_address.clone(),
        to: item.to.clone(),
        subject: header_text(&rendered.subject, 250),
        text: rendered.body,
        in_reply_to: None,
        references: Vec::new(),
        auto_replied: true,
    })
}

/// The template of a digest acknowledgement.
pub const ACK_DIGEST_TEMPLATE: &str = "ack_digest.txt";

/// How the customer's mail names a milestone (the contract's words).
pub fn milestone_label(name: &str) -> &str {
    match name {
        "acknowledgement" => "Confirmación de recepción",
        "response" => "Respuesta",
        "recovery" => "Recuperación del servicio",
        "resolution" => "Solución del problema",
        "root_cause" => "Solución de raíz",
        other => other,
    }
}

/// "martes 10 de noviembre de 2026, 16:00 (hora de la Ciudad de México)".
pub fn human_time(policy: &Policy, t: DateTime<Utc>) -> String {
    const DAYS: [&str; 7] = [
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "domingo",
    ];
    const MONTHS: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    let l = policy.calendar().local(t);
    format!(
        "{} {} de {} de {}, {:02}:{:02} ({})",
        DAYS[l.weekday().num_days_from_monday() as usize],
        l.day(),
        MONTHS[l.month0() as usize],
        l.year(),
        l.hour(),
        l.minute(),
        policy.settings().time_zone_label
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_removes_injection() {
        assert_eq!(header_text("Hola\r\nBcc: x@y.z", 200), "Hola Bcc: x@y.z");
        assert_eq!(header_text("a\0b", 200), "a b");
        assert_eq!(header_text("=?utf-8?b?DQo=?=", 200), "= ?utf-8?b?DQo= ?=");
        assert_eq!(header_text("ñandú", 3), "ñan");
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            clean_message_id("<abc.1@mail.example>").as_deref(),
            Some("<abc.1@mail.example>")
        );
        assert_eq!(clean_message_id("abc@x").as_deref(), Some("<abc@x>"));
        assert_eq!(clean_message_id("<a b@x>"), None);
        assert_eq!(clean_message_id("<a@x>\r\nBcc: y"), None);
        assert_eq!(clean_message_id("no-at-sign"), None);
    }

    #[test]
    fn the_outbox_state_machine_backs_off_and_keeps_why() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-10T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut item = OutboxItem::new(
            OutboxItem::new_id(),
            TicketId::new(),
            MailKind::Ack,
            "ana@bajio.mx",
            "mesa.test",
            None,
            String::new(),
            t0,
        );
        assert!(item.is_due(t0));
        item.claim(t0, Duration::seconds(60));
        assert_eq!(item.attempts, 1);
        assert!(!item.is_due(t0 + Duration::seconds(59)));
        assert!(item.is_due(t0 + Duration::seconds(60)));
        assert_eq!(item.failed("refused", t0), t0 + Duration::seconds(60));
        item.claim(t0, Duration::seconds(60));
        assert_eq!(item.failed("refused", t0), t0 + Duration::seconds(120));
        assert_eq!(item.last_error.as_deref(), Some("refused"));
        item.sent(t0);
        assert_eq!(item.status, OutboxStatus::Sent);
        assert!(item.last_error.is_none() && !item.is_due(t0));
        item.skipped("gone");
        assert_eq!(item.status, OutboxStatus::Skipped);
    }

    #[test]
    fn addresses() {
        assert!(valid_address("ana@bajio.com.mx"));
        assert!(!valid_address("ana@localhost"));
        assert!(!valid_address("ana @bajio.mx"));
        assert!(!valid_address("ana@bajio.mx\r\nBcc: x@y.z"));
        assert!(!valid_address("a@b@c.mx"));
        assert!(!valid_address("<ana@bajio.mx>"));
    }
}
