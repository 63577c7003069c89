//! E-mail intake: the raw message is kept first; then quarantine (receiver verdicts, parse
//! failures), robots (auto-replies, bounces, lists), duplicates (receiver id, Message-ID,
//! raw digest), threading (our Message-IDs, then the folio tag) and, failing all that, a new
//! ticket.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::open::Draft;
use super::{ChangePlan, Desk, DeskError, PlannedEvent};
use crate::intake::{self, InboundMail};
use crate::messages;
use crate::model::{Channel, Customer, EventKind, Folio, Stage, Ticket, TicketId};
use crate::policy::Policy;
use crate::ports::{CreateOutcome, Metric, QuarantineRecord};
use crate::ticket::ClockStart;
use crate::types::{Actor, DedupeKey, address_key};

/// What the mail receiver already knows about an inbound message.
#[derive(Debug, Clone, Default)]
pub struct InboundMeta {
    /// The receiver's own id of the message (SES message id): a redelivery is a duplicate.
    pub receiver_id: Option<String>,
    /// The receiver's verdict says this message must not be taken in (virus, spam, DMARC).
    pub quarantine: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EmailOutcomeKind {
    Created,
    Appended,
    Duplicate,
    Ignored,
    Quarantined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EmailOutcome {
    pub outcome: EmailOutcomeKind,
    pub folio: Option<Folio>,
    pub reason: Option<String>,
}

impl EmailOutcome {
    fn ignored(reason: String) -> Self {
        Self {
            outcome: EmailOutcomeKind::Ignored,
            folio: None,
            reason: Some(reason),
        }
    }
}

/// When the customer sent `mail`, as far as its Date header is believable (see
/// `intake.rhai`), and why.
fn sent_at(
    policy: &Policy,
    mail: &InboundMail,
    received_at: DateTime<Utc>,
) -> (DateTime<Utc>, ClockStart) {
    let settings = policy.settings();
    ClockStart::of_email(
        mail.sent_at,
        received_at,
        Duration::minutes(i64::from(settings.sent_date_max_age_minutes)),
        Duration::minutes(i64::from(settings.sent_date_max_skew_minutes)),
    )
}

/// The longest staff note taken from a mail (the form's description limit).
const MAX_NOTE_CHARS: usize = 20_000;

/// Where the raw copy of a message is kept: by receipt month and content digest.
fn raw_key(received_at: DateTime<Utc>, digest: &str) -> String {
    format!(
        "inbound/{}/{:02}/{}.eml",
        received_at.year(),
        received_at.month(),
        &digest[..32]
    )
}

impl Desk {
    /// Takes in one raw e-mail received at `received_at`. The raw message is always kept
    /// in the blob store first, so nothing accepted is lost whatever happens next.
    pub async fn intake_email(
        &self,
        raw: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<EmailOutcome, DeskError> {
        self.intake_email_with(raw, received_at, &InboundMeta::default())
            .await
    }

    /// [`Desk::intake_email`] with what the mail receiver knows (its id, its verdicts).
    #[tracing::instrument(skip_all, fields(channel = "email", receiver_id = ?meta.receiver_id), err(level = "warn"))]
    pub async fn intake_email_with(
        &self,
        raw: &[u8],
        received_at: DateTime<Utc>,
        meta: &InboundMeta,
    ) -> Result<EmailOutcome, DeskError> {
        let policy = self.policy();
        let receiver_key = meta.receiver_id.clone().map(DedupeKey::Receiver);
        if let Some(key) = &receiver_key {
            if let Some(existing) = self.store.find_by_dedupe_key(key).await? {
                return self.duplicate_outcome(&existing).await;
            }
        }
        let digest: String = Sha256::digest(raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let raw_key = raw_key(received_at, &digest);
        self.blobs.put(&raw_key, raw, "message/rfc822").await?;
        let own = vec![policy.settings().support_address.clone()];
        let parsed = match &meta.quarantine {
            Some(verdict) => Err(verdict.clone()),
            None => intake::parse_email(raw, &own).map_err(|e| e.to_string()),
        };
        let mail = match parsed {
            Ok(m) => m,
            Err(reason) => return self.set_aside(reason, raw_key, received_at, false).await,
        };
        if let Some(why) = &mail.automatic {
            let reason = format!("automatic message ({why}): no ticket, no acknowledgement");
            return self.set_aside(reason, raw_key, received_at, true).await;
        }
        if let Some(id) = self.seen_before(&mail, &digest).await? {
            return self.duplicate_outcome(&id).await;
        }
        let mut note = None;
        if let Some(ticket) = self.thread_of(&policy, &mail).await? {
            if ticket.sender_matches(&mail.from_address) {
                return self.append_reply(&policy, ticket, &mail, received_at).await;
            }
            // A staff member answering mesa's mail about a ticket (a warning, a page, a copy
            // of an acknowledgement): their words are the team's, not a new report.
            if let Some(member) = self.store.staff(&address_key(&mail.from_address)).await? {
                return self
                    .append_staff_note(ticket, &member.email, &mail, received_at)
                    .await;
            }
            note = Some(format!(
                "refers to {} but {} is not its contact nor of the same company: opened as a new ticket",
                ticket.folio, mail.from_address
            ));
        }
        let mut dedupe_keys = vec![DedupeKey::Raw(digest)];
        dedupe_keys.extend(mail.message_id.clone().map(DedupeKey::MessageId));
        dedupe_keys.extend(receiver_key);
        let opened = self
            .open_from_mail(
                &policy,
                mail,
                received_at,
                dedupe_keys,
                note,
                raw_key.clone(),
                false,
            )
            .await;
        match opened {
            // A message that can never become a ticket (the rules fail on it) is kept where
            // staff find it, not retried for ever nor lost.
            Err(e) if !e.is_retryable() => {
                let reason = format!("could not be taken in: {e}");
                self.set_aside(reason, raw_key, received_at, false).await
            }
            other => other,
        }
    }

    /// Keeps what the mail receiver handed over but is not a message mesa can read (an
    /// event in a shape it does not know) with the quarantined mail, `why` as the reason:
    /// trying it again cannot help, and it must not be lost either.
    pub async fn set_aside_unreadable(
        &self,
        bytes: &[u8],
        why: &str,
        received_at: DateTime<Utc>,
    ) -> Result<EmailOutcome, DeskError> {
        let digest: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = format!("inbound/unreadable/{}.json", &digest[..32]);
        self.blobs.put(&key, bytes, "application/json").await?;
        self.set_aside(why.to_string(), key, received_at, false)
            .await
    }

    /// Keeps a message that makes no ticket where staff can find it: quarantined (it could
    /// not be taken in) or ignored (a robot's, an unregistered sender's).
    async fn set_aside(
        &self,
        reason: String,
        raw_key: String,
        received_at: DateTime<Utc>,
        ignored: bool,
    ) -> Result<EmailOutcome, DeskError> {
        let record = QuarantineRecord {
            id: ulid::Ulid::new().to_string(),
            received_at,
            reason,
            raw_key,
            ignored,
            released_as: None,
        };
        self.store.quarantine(&record).await?;
        if ignored {
            tracing::info!(reason = %record.reason, raw = %record.raw_key, "inbound mail ignored");
            return Ok(EmailOutcome::ignored(record.reason));
        }
        tracing::warn!(reason = %record.reason, raw = %record.raw_key, "inbound mail quarantined");
        self.metrics.count(&Metric::MailQuarantined);
        Ok(EmailOutcome {
            outcome: EmailOutcomeKind::Quarantined,
            folio: None,
            reason: Some(record.reason),
        })
    }

    /// The ticket this very message already made or joined: by its Message-ID (ours or a
    /// customer's), else by the digest of its bytes.
    async fn seen_before(
        &self,
        mail: &InboundMail,
        digest: &str,
    ) -> Result<Option<TicketId>, DeskError> {
        if let Some(mid) = &mail.message_id {
            if let Some(id) = self.store.find_by_message_id(mid).await? {
                return Ok(Some(id));
            }
            let key = DedupeKey::MessageId(mid.clone());
            if let Some(id) = self.store.find_by_dedupe_key(&key).await? {
                return Ok(Some(id));
            }
        }
        let key = DedupeKey::Raw(digest.to_string());
        Ok(self.store.find_by_dedupe_key(&key).await?)
    }

    /// The ticket a message answers: one of our Message-IDs in In-Reply-To/References
    /// first, then the folio tag in the subject.
    async fn thread_of(
        &self,
        policy: &Policy,
        mail: &InboundMail,
    ) -> Result<Option<Ticket>, DeskError> {
        for id in &mail.thread_ids {
            if let Some(t) = self.store.find_by_message_id(id).await? {
                return Ok(self.store.get(&t).await?);
            }
        }
        let prefix = &policy.settings().folio_prefix;
        if let Some(folio) = Folio::find_tag_in(&mail.subject, prefix) {
            return Ok(self.store.get_by_folio(&folio).await?);
        }
        // Written bare, a folio may be cited by a new report ("distinto al ING-…"): it joins
        // its ticket while that is open, or when the subject is a reply ("Re: Folio ING-…").
        let Some(folio) = Folio::find_bare_in(&mail.subject, prefix) else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_by_folio(&folio)
            .await?
            .filter(|t| t.stage.is_open() || is_reply_subject(&mail.subject)))
    }

    async fn duplicate_outcome(&self, id: &TicketId) -> Result<EmailOutcome, DeskError> {
        let folio = self.store.get(id).await?.map(|t| t.folio);
        Ok(EmailOutcome {
            outcome: EmailOutcomeKind::Duplicate,
            folio,
            reason: Some("this message was already taken in".into()),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn open_from_mail(
        &self,
        policy: &Policy,
        mail: InboundMail,
        received_at: DateTime<Utc>,
        dedupe_keys: Vec<DedupeKey>,
        note: Option<String>,
        raw_key: String,
        released: bool,
    ) -> Result<EmailOutcome, DeskError> {
        let registered = self.store.find_customer(&mail.from_address).await?;
        if registered.is_none() && !released && !policy.settings().accept_unregistered_senders {
            let reason = format!("{} is not a registered customer", mail.from_address);
            return self.set_aside(reason, raw_key, received_at, true).await;
        }
        let customer = Customer {
            company: registered
                .as_ref()
                .map(|c| c.company.clone())
                .unwrap_or_default(),
            contact_name: registered
                .as_ref()
                .map(|c| c.contact_name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| mail.from_name.clone()),
            email: mail.from_address.clone(),
            phone: registered
                .as_ref()
                .map(|c| c.phone.clone())
                .unwrap_or_default(),
        };
        let missing_fields = crate::model::missing_fields(&customer, "", &mail.text);
        let id = TicketId::new();
        let attachments = self.store_uploads(&id, &mail.attachments).await?;
        let draft = Draft {
            channel: Channel::Email,
            customer,
            contact: registered,
            support_type: String::new(),
            subject: if mail.subject.is_empty() {
                messages::NO_SUBJECT.into()
            } else {
                mail.subject.clone()
            },
            description: mail.text.clone(),
            device_serial: crate::model::serial_in_text(&mail.subject)
                .or_else(|| crate::model::serial_in_text(&mail.text)),
            attachments,
            missing_fields,
            received_at,
            sent: Some(sent_at(policy, &mail, received_at)),
            message_id: mail.message_id.clone(),
            impact: None,
            dedupe_keys,
        };
        match self.open_ticket(policy, id, draft).await? {
            CreateOutcome::Created(t) => Ok(EmailOutcome {
                outcome: EmailOutcomeKind::Created,
                folio: Some(t.folio),
                reason: note.or_else(|| {
                    (!t.verified).then(|| {
                        "sender not in the customer registry: ticket marked unverified".into()
                    })
                }),
            }),
            CreateOutcome::Duplicate(existing) => self.duplicate_outcome(&existing).await,
        }
    }

    /// The customer wrote again on a ticket: their message joins its timeline; a ticket
    /// waiting on them resumes, a closed one reopens if the rules say so.
    async fn append_reply(
        &self,
        policy: &Policy,
        ticket: Ticket,
        mail: &InboundMail,
        received_at: DateTime<Utc>,
    ) -> Result<EmailOutcome, DeskError> {
        let attachments = self.store_uploads(&ticket.id, &mail.attachments).await?;
        let reopen = policy.settings().reopen_closed_on_reply;
        let mail_id = mail.message_id.clone();
        self.change(&ticket.id, |t, _| {
            if let Some(mid) = &mail_id {
                // A concurrent delivery of the same message got here first.
                if t.message_id.as_deref() == Some(mid.as_str()) {
                    return Ok(None);
                }
            }
            let mut kinds = vec![EventKind::CustomerReplied {
                message_id: mail_id.clone(),
                text: mail.text.clone(),
                attachments: attachments.clone(),
            }];
            // "Empresa: …", "Teléfono: …" in the reply complete what the ticket lacked. A
            // co-worker's reply (their signature) fills gaps but does not replace the
            // contact's own data.
            let from_contact = address_key(&mail.from_address) == address_key(&t.customer.email);
            if let Some(update) = intake::contact_update(&mail.text, policy).and_then(|u| {
                if from_contact {
                    Some(u)
                } else {
                    gaps_only(u, t)
                }
            }) {
                kinds.push(update);
            }
            match t.stage {
                Stage::WaitingOnCustomer => kinds.push(EventKind::Resumed {
                    note: messages::CUSTOMER_REPLIED.into(),
                }),
                // The answer mail says "responda … y reabriremos el seguimiento".
                Stage::Answered => kinds.push(EventKind::Reopened {
                    reason: messages::REOPENED_BY_REPLY_TO_ANSWER.into(),
                }),
                Stage::Closed if reopen => kinds.push(EventKind::Reopened {
                    reason: messages::REOPENED_BY_REPLY.into(),
                }),
                _ => {}
            }
            Ok(Some(ChangePlan {
                events: kinds
                    .into_iter()
                    .map(|kind| PlannedEvent {
                        actor: Actor::Customer,
                        at: received_at,
                        kind,
                        mail: None,
                    })
                    .collect(),
                message_ids: mail_id.iter().cloned().collect(),
            }))
        })
        .await?;
        Ok(EmailOutcome {
            outcome: EmailOutcomeKind::Appended,
            folio: Some(ticket.folio),
            reason: None,
        })
    }
}

/// Whether a subject is a reply's or a forward's ("Re:", "RE:", "RV:", "Fwd:", …).
fn is_reply_subject(subject: &str) -> bool {
    let folded = crate::policy::engine::fold(subject);
    ["re:", "rv:", "res:", "fw:", "fwd:", "tr:"]
        .iter()
        .any(|p| folded.starts_with(p))
}

/// Of a contact update, only what the ticket lacks; `None` if that is nothing.
fn gaps_only(update: EventKind, t: &Ticket) -> Option<EventKind> {
    let EventKind::ContactUpdated {
        company,
        contact_name,
        phone,
        support_type,
    } = update
    else {
        return Some(update);
    };
    let company = company.filter(|_| t.customer.company.trim().is_empty());
    let contact_name =
        contact_name.filter(|_| t.customer.contact_name.split_whitespace().count() < 2);
    let phone = phone.filter(|_| t.customer.phone.trim().is_empty());
    let support_type = support_type.filter(|_| t.support_type.trim().is_empty());
    (company.is_some() || contact_name.is_some() || phone.is_some() || support_type.is_some())
        .then_some(EventKind::ContactUpdated {
            company,
            contact_name,
            phone,
            support_type,
        })
}

impl Desk {
    /// A staff member's mail about a ticket, kept on it as their internal note (never sent
    /// to the customer, stopping no clock); its Message-ID makes a redelivery a duplicate.
    async fn append_staff_note(
        &self,
        ticket: Ticket,
        staff: &str,
        mail: &InboundMail,
        received_at: DateTime<Utc>,
    ) -> Result<EmailOutcome, DeskError> {
        let text: String = mail.text.chars().take(MAX_NOTE_CHARS).collect();
        let mut plan = ChangePlan::event(
            Actor::staff(staff),
            received_at,
            EventKind::NoteAdded {
                text: format!("{}{text}", messages::NOTE_BY_MAIL),
            },
        );
        plan.message_ids.extend(mail.message_id.clone());
        self.change(&ticket.id, |_, _| Ok(Some(plan.clone())))
            .await?;
        Ok(EmailOutcome {
            outcome: EmailOutcomeKind::Appended,
            folio: Some(ticket.folio),
            reason: Some(format!(
                "{staff} is staff: kept as their internal note, not sent to the customer"
            )),
        })
    }

    /// The raw message of a set-aside record, as received.
    pub async fn set_aside_original(
        &self,
        id: &str,
    ) -> Result<Option<(QuarantineRecord, Vec<u8>)>, DeskError> {
        let Some(record) = self.set_aside_record(id).await? else {
            return Ok(None);
        };
        Ok(self
            .blobs
            .get(&record.raw_key)
            .await?
            .map(|raw| (record, raw)))
    }

    async fn set_aside_record(&self, id: &str) -> Result<Option<QuarantineRecord>, DeskError> {
        Ok(self
            .store
            .list_quarantine()
            .await?
            .into_iter()
            .find(|r| r.id == id))
    }

    /// Makes a ticket of mail that was set aside, because a person says it is a customer's
    /// (an auto-reply that carried a real report, a sender not yet in the registry). Its
    /// clocks start when the customer sent it. Releasing it again gives the same ticket.
    /// Quarantined mail (the receiver's virus, spam or DMARC verdicts; mail that could not
    /// be read or taken in) is not released, and the error says why.
    pub async fn release_mail(&self, id: &str, actor: &Actor) -> Result<EmailOutcome, DeskError> {
        let invalid = |m: String| {
            let mut e = crate::intake::FieldErrors::new();
            e.insert("id".into(), m);
            DeskError::Invalid(e)
        };
        let mut record = self
            .set_aside_record(id)
            .await?
            .ok_or_else(|| invalid(format!("no set-aside mail {id}")))?;
        if !record.ignored {
            return Err(invalid(format!(
                "quarantined mail is not released (a virus, spam or DMARC verdict, or mail that could not be taken in): {}",
                record.reason
            )));
        }
        if let Some(folio) = &record.released_as {
            return Ok(EmailOutcome {
                outcome: EmailOutcomeKind::Duplicate,
                folio: Folio::parse(folio),
                reason: Some("already released".into()),
            });
        }
        let raw = self
            .blobs
            .get(&record.raw_key)
            .await?
            .ok_or_else(|| invalid(format!("the original of {id} is missing")))?;
        let policy = self.policy();
        let own = vec![policy.settings().support_address.clone()];
        let mail = intake::parse_email(&raw, &own).map_err(|e| {
            invalid(format!(
                "the message cannot be read, so it cannot be released: {e}"
            ))
        })?;
        let digest: String = Sha256::digest(&raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let outcome = match self.seen_before(&mail, &digest).await? {
            Some(existing) => self.duplicate_outcome(&existing).await?,
            None => {
                let mut keys = vec![DedupeKey::Raw(digest)];
                keys.extend(mail.message_id.clone().map(DedupeKey::MessageId));
                self.open_from_mail(
                    &policy,
                    mail,
                    record.received_at,
                    keys,
                    Some("released from the set-aside mail".into()),
                    record.raw_key.clone(),
                    true,
                )
                .await?
            }
        };
        let Some(folio) = outcome.folio.clone() else {
            return Err(invalid(format!(
                "the message made no ticket: {}",
                outcome.reason.clone().unwrap_or_default()
            )));
        };
        self.act(
            folio.as_str(),
            actor,
            &crate::lifecycle::Action::Note {
                text: format!("{}: {}", messages::RELEASED_FROM_SET_ASIDE, record.reason),
            },
        )
        .await?;
        record.released_as = Some(folio.as_str().to_string());
        self.store.quarantine(&record).await?;
        Ok(outcome)
    }
}
