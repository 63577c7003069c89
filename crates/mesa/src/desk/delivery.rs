//! The outbox worker (claim, compose, send, record) and what the mail transport reports
//! afterwards about the messages it took (delivered, bounced, complained, …).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::{ChangePlan, Desk, DeskError};
use crate::model::{DeliveryStatus, EventKind, Folio, MailDelivery, Ticket};
use crate::outbox::{self, MailError, MailKind, MailLinks, OutboxItem, OutgoingMail};
use crate::policy::Policy;
use crate::ports::Metric;
use crate::types::{Actor, address_key};

/// Most items one call of [`Desk::deliver_outbox`] handles before it returns.
const MAX_PER_RUN: usize = 1000;
/// Items claimed at a time (a digest's items share their due instant, so a large batch
/// keeps one address's digest in one message).
const CLAIM_BATCH: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Mail (and pages) the transport took.
    pub sent: usize,
    /// Domain events the bus took.
    #[serde(default)]
    pub published: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The pass stopped at its limit, so more may be due: the caller should go again at
    /// once rather than wait for its next round (an empty pass then ends it).
    #[serde(default)]
    pub more_due: bool,
}

impl DeliveryReport {
    fn add(&mut self, other: &DeliveryReport) {
        self.sent += other.sent;
        self.published += other.published;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// A report of the mail transport about one message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFeedback {
    /// The transport's Message-ID, as recorded when the message was sent.
    pub provider_message_id: String,
    /// Our outbox item id, when the transport carried it back.
    pub outbox_id: Option<String>,
    pub status: DeliveryStatus,
    pub recipients: Vec<String>,
    pub detail: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackOutcome {
    /// Recorded on the ticket with this folio.
    Recorded(Folio),
    /// This report was already on the ticket.
    AlreadyRecorded(Folio),
    /// No ticket sent this message (not ours, or sent before mesa).
    UnknownMail,
}

/// How long a page waits for a worker with an on-call pager before it is given up on.
const PAGE_UNCLAIMED_FOR: chrono::Duration = chrono::Duration::hours(1);

/// How one delivery attempt ended.
pub(super) enum Attempt {
    Sent,
    /// Worth trying again after a back-off.
    Retry(String),
    /// Will never work; the item is kept as skipped with the reason.
    GiveUp(String),
}

impl Desk {
    /// Sends the mail that is due: claims items (a lease, so two workers never send the
    /// same one at once), renders, sends, marks. An acknowledgement that went out is
    /// recorded on its ticket.
    #[tracing::instrument(skip(self), err(level = "warn"))]
    pub async fn deliver_outbox(&self) -> Result<DeliveryReport, DeskError> {
        let mut report = DeliveryReport::default();
        loop {
            let now = self.now();
            let items = self
                .store
                .claim_outbox(now, self.config.outbox_lease, CLAIM_BATCH)
                .await?;
            if items.is_empty() {
                return Ok(report);
            }
            let (digests, singles): (Vec<OutboxItem>, Vec<OutboxItem>) =
                items.into_iter().partition(|i| i.digest);
            let mut batches: Vec<Vec<OutboxItem>> = singles.into_iter().map(|i| vec![i]).collect();
            // One digest per address among the acknowledgements due now.
            let mut by_address: BTreeMap<String, Vec<OutboxItem>> = BTreeMap::new();
            for item in digests {
                by_address
                    .entry(address_key(&item.to))
                    .or_default()
                    .push(item);
            }
            batches.extend(by_address.into_values());
            // Several at a time: a send waits mostly on the mail server (SES answers in tens
            // of milliseconds), so one at a time would cap delivery far below intake. Each
            // item is leased to this worker, and a ticket written by two at once is re-read
            // and written again (optimistic concurrency).
            let done: Vec<Result<DeliveryReport, DeskError>> = stream::iter(batches)
                .map(|batch| self.deliver_batch(batch))
                .buffer_unordered(self.config.delivery_concurrency.max(1))
                .collect()
                .await;
            let mut failure = None;
            for part in done {
                match part {
                    Ok(part) => report.add(&part),
                    // The others are recorded first; the worker's next pass retries.
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
            if report.sent + report.published + report.failed + report.skipped >= MAX_PER_RUN {
                report.more_due = true;
                return Ok(report);
            }
        }
    }

    /// Sends one message (one item, or one address's digest of acknowledgements) and
    /// records how it went on each of its items.
    async fn deliver_batch(&self, batch: Vec<OutboxItem>) -> Result<DeliveryReport, DeskError> {
        let mut report = DeliveryReport::default();
        let attempt = if batch.len() == 1 && !batch[0].digest {
            self.deliver_one(&batch[0]).await
        } else {
            self.deliver_digest(&batch).await
        };
        for mut item in batch {
            match &attempt {
                Attempt::Sent if item.kind == MailKind::Event => report.published += 1,
                Attempt::Sent => report.sent += 1,
                Attempt::Retry(e) => {
                    report.failed += 1;
                    // From the end of the attempt: a slow server must not make the retry due at once.
                    let retry_at = item.failed(e, self.now());
                    tracing::warn!(outbox = %item.id, error = %e, %retry_at, "mail not sent; will retry");
                    self.store.save_outbox(&item).await?;
                }
                Attempt::GiveUp(e) => {
                    report.skipped += 1;
                    tracing::error!(outbox = %item.id, error = %e, "mail given up");
                    item.skipped(e);
                    self.store.save_outbox(&item).await?;
                }
            }
        }
        Ok(report)
    }

    async fn deliver_one(&self, item: &OutboxItem) -> Attempt {
        match item.kind {
            MailKind::Incident => return self.deliver_notice(item).await,
            MailKind::Event => return self.deliver_event(item).await,
            _ => {}
        }
        let ticket = match self.store.get(&item.ticket_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return Attempt::GiveUp(format!("ticket {} is gone", item.ticket_id)),
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let policy = self.policy();
        let mail = match self.compose(&policy, &ticket, item) {
            Ok(m) => m,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let sent = match (&self.pager, item.kind) {
            (Some(pager), MailKind::Page) => pager.page(&mail).await.map(|()| None),
            // Not this worker's to send (a cron's `mesa outbox deliver` without MESA_ONCALL,
            // say): it is left pending for a worker that has a pager, and only given up on
            // once nobody has sent it for PAGE_UNCLAIMED_FOR.
            (None, MailKind::Page) => {
                if self.now() - item.created_at < PAGE_UNCLAIMED_FOR {
                    return Attempt::Retry("a page, and this worker has no on-call pager".into());
                }
                self.metrics.count(&Metric::PageNotSent);
                return Attempt::GiveUp(
                    "a severity-1 page no worker with an on-call pager sent (MESA_ONCALL on one machine, ONCALL_TOPIC_ARN on AWS)".into(),
                );
            }
            _ => self.mailer.send(&mail).await,
        };
        let provider_id = match sent {
            Ok(id) => id,
            Err(e @ MailError::Temporary { .. }) => return Attempt::Retry(e.to_string()),
            Err(e @ MailError::Permanent { .. }) => return Attempt::GiveUp(e.to_string()),
        };
        // Recorded on the ticket before the item is marked sent: a failure between the two
        // sends the mail again (a repeat the customer can ignore) rather than leave an
        // acknowledgement that went out unrecorded, its clock counted as breached.
        let now = self.now();
        if let Err(e) = self
            .record_sent(&ticket, item, &mail.message_id, provider_id, now)
            .await
        {
            return Attempt::Retry(e);
        }
        let mut sent = item.clone();
        sent.sent(now);
        if let Err(e) = self.store.save_outbox(&sent).await {
            return Attempt::Retry(e.to_string());
        }
        self.metrics.count(&Metric::MailSent { kind: item.kind });
        tracing::info!(folio = %ticket.folio, kind = item.kind.as_str(), to = %item.to, "mail sent");
        Attempt::Sent
    }

    /// An incident's notice to one customer: composed from the incident as it is when sent.
    async fn deliver_notice(&self, item: &OutboxItem) -> Attempt {
        let incident = match self.store.incident(item.ticket_id.as_str()).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return Attempt::GiveUp(format!("incident {} is gone", item.ticket_id));
            }
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let mail = match self.compose_notice(&self.policy(), &incident, item) {
            Ok(m) => m,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        match self.mailer.send(&mail).await {
            Ok(_) => {}
            Err(e @ MailError::Temporary { .. }) => return Attempt::Retry(e.to_string()),
            Err(e @ MailError::Permanent { .. }) => return Attempt::GiveUp(e.to_string()),
        }
        let mut sent = item.clone();
        sent.sent(self.now());
        if let Err(e) = self.store.save_outbox(&sent).await {
            return Attempt::Retry(e.to_string());
        }
        self.metrics.count(&Metric::MailSent { kind: item.kind });
        Attempt::Sent
    }

    /// Acknowledgements of several tickets of one address as one message; each ticket is
    /// acknowledged by it.
    async fn deliver_digest(&self, items: &[OutboxItem]) -> Attempt {
        let mut tickets = Vec::with_capacity(items.len());
        for item in items {
            match self.store.get(&item.ticket_id).await {
                Ok(Some(t)) => tickets.push((t, item.clone())),
                Ok(None) => return Attempt::GiveUp(format!("ticket {} is gone", item.ticket_id)),
                Err(e) => return Attempt::Retry(e.to_string()),
            }
        }
        let policy = self.policy();
        let mail = match outbox::compose_digest(&policy, &tickets) {
            Ok(m) => m,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let provider_id = match self.mailer.send(&mail).await {
            Ok(id) => id,
            Err(e @ MailError::Temporary { .. }) => return Attempt::Retry(e.to_string()),
            Err(e @ MailError::Permanent { .. }) => return Attempt::GiveUp(e.to_string()),
        };
        let now = self.now();
        for (ticket, item) in &tickets {
            // Recorded before marked sent, as in `deliver_one`.
            if let Err(e) = self
                .record_sent(ticket, item, &mail.message_id, provider_id.clone(), now)
                .await
            {
                return Attempt::Retry(e);
            }
            let mut sent = item.clone();
            sent.sent(now);
            if let Err(e) = self.store.save_outbox(&sent).await {
                return Attempt::Retry(e.to_string());
            }
        }
        self.metrics.count(&Metric::MailSent {
            kind: MailKind::Ack,
        });
        tracing::info!(to = %mail.to, count = tickets.len(), "acknowledgement digest sent");
        Attempt::Sent
    }

    /// An acknowledgement that went out stops the acknowledgement clock; a transport's own
    /// Message-ID (SES assigns one) threads replies back like ours does. The acknowledgement
    /// records the Message-ID the customer received (the transport's, else the one we sent,
    /// `sent_message_id`: a digest's for each ticket in it), which staff's mail then answers.
    /// The error says why it could not be recorded (the mail went out).
    async fn record_sent(
        &self,
        ticket: &Ticket,
        item: &OutboxItem,
        sent_message_id: &str,
        provider_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let is_ack = item.kind == MailKind::Ack;
        // Mail to staff threads nothing back: a reply to it is not the customer's.
        if item.kind.to_staff() || (!is_ack && provider_id.is_none()) {
            return Ok(());
        }
        let recorded = self
            .change(&ticket.id, |t, _| {
                let mut plan = ChangePlan::default();
                if is_ack && t.acknowledged_at.is_none() {
                    plan = ChangePlan::event(
                        Actor::System,
                        now,
                        EventKind::Acknowledged {
                            message_id: provider_id
                                .clone()
                                .unwrap_or_else(|| sent_message_id.to_string()),
                        },
                    );
                }
                if plan.events.is_empty() && provider_id.is_none() {
                    return Ok(None);
                }
                plan.message_ids.extend(provider_id.iter().cloned());
                Ok(Some(plan))
            })
            .await;
        match recorded {
            // This mail acknowledged the ticket: how long after its arrival.
            Ok(changed)
                if changed
                    .recorded
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::Acknowledged { .. })) =>
            {
                self.metrics.count(&Metric::AcknowledgementLatency {
                    seconds: (now - changed.ticket.arrived()).num_seconds(),
                });
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(folio = %ticket.folio, error = %e, "mail sent but not recorded on the ticket; it will be sent again");
                Err(format!("sent, but not recorded on the ticket: {e}"))
            }
        }
    }

    /// Renders an outbox item into a message, with safe headers.
    pub fn compose(
        &self,
        policy: &Policy,
        ticket: &Ticket,
        item: &OutboxItem,
    ) -> Result<OutgoingMail, DeskError> {
        let links = MailLinks {
            survey_url: format!(
                "{}/csat/{}",
                self.config.public_url,
                self.signer.survey_token(&ticket.id, ticket.closings.max(1))
            ),
        };
        Ok(outbox::compose(policy, ticket, item, &links)?)
    }

    /// Records what the mail transport reported about a message we sent (SES
    /// configuration-set events): the ticket is found by our outbox id when the transport
    /// gave it back, else by the transport's Message-ID. Idempotent: the same report for
    /// the same message is recorded once, however often it is delivered.
    #[tracing::instrument(skip_all, fields(status = feedback.status.as_str()), err(level = "warn"))]
    pub async fn record_mail_feedback(
        &self,
        feedback: MailFeedback,
    ) -> Result<FeedbackOutcome, DeskError> {
        let mut mail_kind = None;
        let mut ticket_id = None;
        if let Some(outbox_id) = &feedback.outbox_id {
            if let Some(item) = self.store.outbox_item(outbox_id).await? {
                // An incident's notice belongs to no ticket: its reports are logged and
                // counted (a bounce there is a contact to correct in the registry).
                if item.kind == MailKind::Incident {
                    tracing::info!(outbox = %item.id, to = %item.to, status = feedback.status.as_str(),
                        detail = %feedback.detail, "mail feedback on an incident notice");
                    self.metrics.count(&Metric::MailFeedbackUnmatched);
                    return Ok(FeedbackOutcome::UnknownMail);
                }
                mail_kind = Some(item.kind);
                ticket_id = Some(item.ticket_id);
            }
        }
        if ticket_id.is_none() {
            ticket_id = self
                .store
                .find_by_message_id(&feedback.provider_message_id)
                .await?;
        }
        let Some(ticket_id) = ticket_id else {
            tracing::warn!(message_id = %feedback.provider_message_id, status = feedback.status.as_str(),
                "mail feedback for a message no ticket knows; ignored");
            self.metrics.count(&Metric::MailFeedbackUnmatched);
            return Ok(FeedbackOutcome::UnknownMail);
        };
        let delivery = MailDelivery {
            provider_message_id: feedback.provider_message_id.clone(),
            outbox_id: feedback.outbox_id.clone(),
            mail_kind,
            status: feedback.status,
            recipients: feedback.recipients.clone(),
            detail: feedback.detail.clone(),
            at: feedback.at,
        };
        let now = self.now();
        let changed = self
            .change(&ticket_id, |t, _| {
                let seen = t.deliveries.iter().any(|d| {
                    d.provider_message_id == delivery.provider_message_id
                        && d.status == delivery.status
                });
                if seen {
                    return Ok(None);
                }
                let kind = EventKind::MailFeedback {
                    delivery: delivery.clone(),
                };
                Ok(Some(ChangePlan::event(Actor::System, now, kind)))
            })
            .await?;
        let ticket = changed.ticket;
        if changed.recorded.is_empty() {
            return Ok(FeedbackOutcome::AlreadyRecorded(ticket.folio));
        }
        self.metrics.count(&Metric::MailFeedback {
            status: delivery.status,
            kind: mail_kind,
        });
        if delivery.status.is_failure() {
            let kind = mail_kind.map_or("unknown", MailKind::as_str);
            // Announced as MailUndeliverable by the change that recorded it.
            tracing::warn!(folio = %ticket.folio, kind, status = delivery.status.as_str(),
                detail = %delivery.detail, "mail did not reach the customer");
        }
        Ok(FeedbackOutcome::Recorded(ticket.folio))
    }
}
