//! Opening a ticket from either channel: classify it, compute its clocks, and write it with
//! its first events, its acknowledgement and its dedupe keys in one atomic operation.

use chrono::{DateTime, Datelike, Duration, Utc};

use super::{Desk, DeskError, next_due};
use crate::intake::CheckedUpload;
use crate::model::{
    Attachment, Channel, Customer, CustomerRecord, Event, EventKind, Opening, Subscription,
    TicketId,
};
use crate::outbox::{MailKind, OutboxItem};
use crate::policy::Policy;
use crate::ports::{CreateOutcome, Metric, NewTicket};
use crate::ticket::{ClockStart, Impact, Severity, TicketFacts};
use crate::types::{Actor, DedupeKey};

/// Data of a ticket about to be opened, from either channel.
#[derive(Clone)]
pub(super) struct Draft {
    pub channel: Channel,
    pub customer: Customer,
    /// The sender's row in the registry of contacts, when there is one.
    pub contact: Option<CustomerRecord>,
    pub support_type: String,
    pub subject: String,
    pub description: String,
    /// The serial of the device the customer named.
    pub device_serial: Option<String>,
    pub attachments: Vec<Attachment>,
    pub missing_fields: Vec<String>,
    /// When mesa received it.
    pub received_at: DateTime<Utc>,
    /// When the customer sent it, and why that instant (e-mail only; a form is sent when
    /// it is received).
    pub sent: Option<(DateTime<Utc>, ClockStart)>,
    pub message_id: Option<String>,
    pub impact: Option<Impact>,
    pub dedupe_keys: Vec<DedupeKey>,
}

impl Draft {
    /// When the customer sent it: where the contract's clocks start.
    fn sent_at(&self) -> DateTime<Utc> {
        self.sent.map_or(self.received_at, |(at, _)| at)
    }

    /// What the rules see of it when they classify it.
    fn facts(&self, subscription: &Subscription, terms: &Terms) -> TicketFacts {
        TicketFacts {
            company: self.customer.company.clone(),
            contact_name: self.customer.contact_name.clone(),
            email: self.customer.email.clone(),
            phone: self.customer.phone.clone(),
            support_type: self.support_type.clone(),
            subject: self.subject.clone(),
            description: self.description.clone(),
            channel: self.channel.as_str().to_string(),
            received_at: Some(self.sent_at()),
            severity: None,
            impact: self.impact,
            subscription: subscription.status().to_string(),
            terms: terms.clone(),
        }
    }
}

type Terms = serde_json::Map<String, serde_json::Value>;

impl Desk {
    /// The acknowledgement of a new ticket to `to`: sent at once up to the hourly limit per
    /// address; past it, held to the end of the digest period and sent with the others of
    /// that address as one digest; past the daily limit, none (a loop no digest stops), and
    /// staff are told.
    async fn acknowledgement(
        &self,
        policy: &Policy,
        id: &TicketId,
        to: &str,
        in_reply_to: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxItem>, DeskError> {
        let settings = policy.settings();
        let item = OutboxItem::new(
            OutboxItem::new_id(),
            id.clone(),
            MailKind::Ack,
            to,
            &self.config.mail_domain,
            in_reply_to,
            String::new(),
            now,
        );
        let day = self
            .store
            .acks_to_since(to, now - Duration::days(1))
            .await?;
        if day >= u64::from(settings.ack_limit_per_address_per_day) {
            tracing::warn!(%to, day, "acknowledgements to this address exceed the daily limit; none sent");
            self.metrics.count(&Metric::AckLimitReached);
            return Ok(None);
        }
        let hour = self
            .store
            .acks_to_since(to, now - Duration::hours(1))
            .await?;
        if hour < u64::from(settings.ack_limit_per_address_per_hour) {
            return Ok(Some(item));
        }
        let period = i64::from(settings.ack_digest_minutes.max(1)) * 60;
        let at =
            DateTime::from_timestamp((now.timestamp() / period + 1) * period, 0).unwrap_or(now);
        tracing::info!(%to, hour, %at, "past the hourly acknowledgement limit: in the next digest");
        Ok(Some(item.into_digest(at)))
    }

    /// Whether the sender is a subscribed contact within a contracted period on the day the
    /// ticket was sent (in the desk's time zone), and the company's own terms.
    async fn subscription(
        &self,
        policy: &Policy,
        contact: Option<&CustomerRecord>,
        sent_at: DateTime<Utc>,
    ) -> Result<(Subscription, Terms), DeskError> {
        let Some(contact) = contact else {
            return Ok((Subscription::Unregistered, Terms::new()));
        };
        let day = policy.calendar().local(sent_at).date_naive();
        Ok(match self.store.company(&contact.company).await? {
            Some(company) => (company.subscription_on(day), company.terms),
            None => (
                Subscription::NoPeriodsOnRecord {
                    company: contact.company.clone(),
                },
                Terms::new(),
            ),
        })
    }

    /// Stores the customer's files under server-generated keys; the customer's file name is
    /// only ever shown.
    pub(super) async fn store_uploads(
        &self,
        id: &TicketId,
        uploads: &[CheckedUpload],
    ) -> Result<Vec<Attachment>, DeskError> {
        let mut out = Vec::with_capacity(uploads.len());
        for (i, u) in uploads.iter().enumerate() {
            let key = format!(
                "attachments/{id}/{}-{}",
                i + 1,
                ulid::Ulid::new().to_string().to_ascii_lowercase()
            );
            self.blobs.put(&key, &u.bytes, &u.content_type).await?;
            out.push(Attachment {
                key,
                filename: u.filename.clone(),
                content_type: u.content_type.clone(),
                size: u.bytes.len() as u64,
            });
        }
        Ok(out)
    }

    /// Classifies, computes the clocks and writes ticket + first events + acknowledgement
    /// atomically. The acknowledgement is capped per address and hour (a loop breaker).
    ///
    /// A bundle that passed its vectors can still fail on one ticket's text at run time:
    /// that ticket is then opened under the last known good bundle, or failing that the
    /// built-in contract (its `rules_version` says which), logged and counted, rather than
    /// refused. Nothing is written before the rules have run, so trying again is safe.
    pub(super) async fn open_ticket(
        &self,
        policy: &Policy,
        id: TicketId,
        d: Draft,
    ) -> Result<CreateOutcome, DeskError> {
        let error = match self.open_ticket_under(policy, id.clone(), d.clone()).await {
            Err(DeskError::Policy(e)) => e,
            done => return done,
        };
        self.metrics.count(&Metric::RulesFallback);
        for fallback in self.rules.fallbacks(policy) {
            tracing::error!(error = %error, failed = %policy.version(), fallback = %fallback.version(),
                "the rules failed on this ticket; opening it under an earlier bundle");
            match self
                .open_ticket_under(&fallback, id.clone(), d.clone())
                .await
            {
                Err(DeskError::Policy(e)) => {
                    tracing::error!(error = %e, bundle = %fallback.version(), "the earlier bundle failed too")
                }
                done => return done,
            }
        }
        Err(DeskError::Policy(error))
    }

    async fn open_ticket_under(
        &self,
        policy: &Policy,
        id: TicketId,
        d: Draft,
    ) -> Result<CreateOutcome, DeskError> {
        let now = self.now();
        let settings = policy.settings();
        let sent_at = d.sent_at();
        let (subscription, terms) = self
            .subscription(policy, d.contact.as_ref(), sent_at)
            .await?;
        let class = policy.classify(&d.facts(&subscription, &terms))?;
        let incident = self
            .incident_of(sent_at, &d.subject, &d.description)
            .await?;
        let mut events = vec![
            Event {
                seq: 1,
                at: sent_at,
                actor: Actor::Customer,
                kind: EventKind::Received {
                    channel: d.channel,
                    message_id: d.message_id.clone(),
                    arrived_at: (sent_at != d.received_at).then_some(d.received_at),
                    clock_start: d.sent.map(|(_, why)| why),
                },
            },
            Event {
                seq: 2,
                at: d.received_at,
                actor: Actor::Rules,
                kind: EventKind::SeverityChanged {
                    from: None,
                    to: class.severity,
                    reason: class.reason,
                    confidence: Some(class.confidence),
                },
            },
        ];
        // A report of a declared major incident is linked to it; its clocks run as usual.
        if let Some(incident) = &incident {
            events.push(Event {
                seq: 3,
                at: d.received_at,
                actor: Actor::System,
                kind: EventKind::IncidentLinked {
                    incident: incident.link(),
                },
            });
        }
        let mut opening = Opening {
            id: id.clone(),
            channel: d.channel,
            customer: d.customer,
            verified: d.contact.is_some(),
            subscription: Some(subscription),
            terms,
            support_type: d.support_type,
            subject: d.subject,
            description: d.description,
            device_serial: d.device_serial,
            attachments: d.attachments,
            missing_fields: d.missing_fields,
            received_at: sent_at,
            message_id: d.message_id.clone(),
            impact: d.impact,
            rules_version: policy.version().clone(),
            severity: class.severity,
            next_due: None,
            events,
        };
        opening.next_due = match next_due(
            policy,
            &opening.facts(Some(class.severity)),
            class.severity,
            &opening.events,
        ) {
            Ok(due) => due,
            // The company's own terms no longer plan under these rules (they were checked
            // at import, against the rules of then): the ticket is taken on the standard
            // contract rather than lost, and staff are told in the log and the metrics.
            Err(e) if !opening.terms.is_empty() => {
                let mut standard = opening.facts(Some(class.severity));
                standard.terms.clear();
                // Only when the terms are the cause: the standard contract plans.
                let Ok(due) = next_due(policy, &standard, class.severity, &opening.events) else {
                    return Err(e);
                };
                tracing::error!(error = %e, company = %opening.customer.company,
                    "the company's own terms do not plan under the live rules; ticket opened on the standard terms");
                self.metrics.count(&Metric::CustomerTermsRejected);
                opening.terms.clear();
                due
            }
            Err(e) => return Err(e),
        };
        let mut outbox: Vec<OutboxItem> = self
            .acknowledgement(
                policy,
                &id,
                &opening.customer.email,
                d.message_id.clone(),
                now,
            )
            .await?
            .into_iter()
            .collect();
        if class.severity == Severity::CRITICAL {
            // The on-call staff are paged with the ticket's own write (composed when sent,
            // once the store has given the folio).
            outbox.push(self.page_item(&id, now));
        }
        outbox.extend(self.announcements(&id, &opening.events, now));
        let mut message_ids = super::threading_ids(&outbox);
        message_ids.extend(d.message_id);
        let local = policy.calendar().local(opening.received_at);
        let outcome = self
            .store
            .create_ticket(NewTicket {
                opening,
                outbox,
                dedupe_keys: d.dedupe_keys,
                message_ids,
                folio_prefix: settings.folio_prefix.clone(),
                folio_year: local.year(),
            })
            .await?;
        if let CreateOutcome::Created(t) = &outcome {
            tracing::info!(folio = %t.folio, severity = %t.severity, channel = t.channel.as_str(), "ticket created");
            self.metrics.count(&Metric::TicketCreated {
                severity: t.severity,
                channel: t.channel,
            });
            if t.severity == Severity::CRITICAL && t.incident.is_none() {
                // The ticket is stored whatever happens here; a failure is logged, and the
                // next critical report considers the rule again.
                if let Err(e) = self.consider_automatic_incident(policy, t, now).await {
                    tracing::error!(error = %e, "the automatic incident rule failed");
                }
            }
        }
        Ok(outcome)
    }
}
