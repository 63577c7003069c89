//! The services of the help desk — intake (form and e-mail), staff actions, the outbox
//! worker, the SLA sweep and the queue — written once against the ports, and run the same
//! by `mesa serve` (SQLite, maildir) and by the Lambda functions (DynamoDB, SES).

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::calendar::CalendarError;
use crate::intake::{self, FieldErrors, FormInput, InboundMail, Upload};
use crate::lifecycle::{self, Action, ActionError, MailDraft};
use crate::model::{
    Attachment, Channel, Customer, DeliveryStatus, Event, EventKind, Folio, MailDelivery, Stage,
    Ticket, TicketId,
};
use crate::outbox::{MailKind, OutboxItem, OutgoingMail, header_text};
use crate::policy::{LiveRules, Policy, PolicyError, Quote, SlaPlan, Work};
use crate::ports::{
    BlobError, BlobStore, Clock, CreateOutcome, DomainEvent, EventBus, ListFilter, LogMetrics,
    MailError, Mailer, Metrics, NewTicket, NoEvents, PageRequest, QuarantineRecord, StoreError,
    TicketChange, TicketStore,
};
use crate::sla::{self, ClockState, MilestoneStatus};
use crate::ticket::ClockSignal;
use crate::tokens::{Signer, TokenError};

/// How often a ticket change is retried after an optimistic-concurrency conflict.
const MAX_RETRIES: usize = 8;

#[derive(Debug, Clone)]
pub struct DeskConfig {
    /// Right-hand side of our Message-IDs.
    pub mail_domain: String,
    /// Base URL of the public pages (survey links), without a trailing slash.
    pub public_url: String,
    /// Key for signed links and form tokens.
    pub secret: Vec<u8>,
    /// How long a claimed outbox item is reserved for the worker that claimed it.
    pub outbox_lease: Duration,
    /// Pending mail older than this is re-driven by the sweep.
    pub redrive_after: Duration,
}

impl DeskConfig {
    pub fn new(public_url: &str, secret: &[u8]) -> Self {
        Self {
            mail_domain: "mesa.local".into(),
            public_url: public_url.trim_end_matches('/').to_string(),
            secret: secret.to_vec(),
            outbox_lease: Duration::seconds(60),
            redrive_after: Duration::minutes(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("invalid input: {}", .0.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "))]
    Invalid(FieldErrors),
    #[error("no ticket with folio {0}")]
    UnknownFolio(String),
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error("invalid or expired link: {0}")]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("the ticket kept changing under us; try again")]
    TooManyConflicts,
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

/// Where and how to upload one file ahead of its form.
#[derive(Debug, Clone, Serialize)]
pub struct UploadGrant {
    pub url: String,
    pub method: &'static str,
    /// Sent with the form (`upload_tokens`) in place of the file.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub max_bytes: usize,
}

/// The result of a form submission.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub ticket: Ticket,
    /// The same form (token or idempotency key) was already taken in: this is that ticket.
    pub duplicate: bool,
    pub plan: SlaPlan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailOutcomeKind {
    Created,
    Appended,
    Duplicate,
    Ignored,
    Quarantined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailOutcome {
    pub outcome: EmailOutcomeKind,
    pub folio: Option<Folio>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub sent: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub examined: usize,
    pub warnings: usize,
    pub breaches: usize,
    pub redriven: usize,
}

/// A ticket with its clocks, as the queue and the staff API show it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub ticket: Ticket,
    pub clocks: Vec<MilestoneStatus>,
    /// Deadline of the nearest running clock.
    pub next_deadline: Option<DateTime<Utc>>,
    pub quote: Option<Quote>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub view: TicketView,
    pub events: Vec<Event>,
}

pub struct Desk {
    store: Arc<dyn TicketStore>,
    mailer: Arc<dyn Mailer>,
    blobs: Arc<dyn BlobStore>,
    rules: Arc<LiveRules>,
    clock: Arc<dyn Clock>,
    config: DeskConfig,
    signer: Signer,
    events: Arc<dyn EventBus>,
    metrics: Arc<dyn Metrics>,
}

/// What the mail receiver already knows about an inbound message.
#[derive(Debug, Clone, Default)]
pub struct InboundMeta {
    /// The receiver's own id of the message (SES message id): a redelivery is a duplicate.
    pub receiver_id: Option<String>,
    /// The receiver's verdict says this message must not be taken in (virus, spam, DMARC).
    pub quarantine: Option<String>,
}

/// Data of a ticket about to be opened, from either channel.
struct Draft {
    channel: Channel,
    customer: Customer,
    verified: bool,
    support_type: String,
    subject: String,
    description: String,
    attachments: Vec<Attachment>,
    missing_fields: Vec<String>,
    received_at: DateTime<Utc>,
    message_id: Option<String>,
    dedupe_keys: Vec<String>,
}

impl Desk {
    pub fn new(
        store: Arc<dyn TicketStore>,
        mailer: Arc<dyn Mailer>,
        blobs: Arc<dyn BlobStore>,
        rules: Arc<LiveRules>,
        clock: Arc<dyn Clock>,
        config: DeskConfig,
    ) -> Self {
        let signer = Signer::new(&config.secret);
        Self {
            store,
            mailer,
            blobs,
            rules,
            clock,
            config,
            signer,
            events: Arc::new(NoEvents),
            metrics: Arc::new(LogMetrics),
        }
    }

    /// Publishes domain events (ticket created, SLA at risk, SLA breached) to `bus`.
    pub fn with_events(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.events = bus;
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.rules.current()
    }

    pub fn rules(&self) -> &LiveRules {
        &self.rules
    }

    pub fn store(&self) -> &dyn TicketStore {
        self.store.as_ref()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn config(&self) -> &DeskConfig {
        &self.config
    }

    /// A token for a fresh copy of the customer form.
    pub fn form_token(&self) -> String {
        self.signer.form_token(self.now())
    }

    // ----------------------------------------------------------------- form intake

    /// Starts the upload of one file ahead of its form, for files too large to go through
    /// the API gateway with it: a URL to PUT the bytes to and a token the form sends instead
    /// of the file. `None` where files simply go with the form (one machine).
    pub async fn start_upload(
        &self,
        filename: &str,
        size: u64,
    ) -> Result<Option<UploadGrant>, DeskError> {
        let filename = filename.trim();
        let mut errors = FieldErrors::new();
        if filename.is_empty() || filename.chars().count() > 200 {
            errors.insert(
                "filename".into(),
                "Indique el nombre del archivo (hasta 200 caracteres).".into(),
            );
        }
        if size == 0 || size > intake::MAX_ATTACHMENT_BYTES as u64 {
            errors.insert(
                "size".into(),
                format!(
                    "Cada anexo debe pesar entre 1 byte y {} MB.",
                    intake::MAX_ATTACHMENT_BYTES / (1024 * 1024)
                ),
            );
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let key = format!(
            "uploads/{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        let ttl = Duration::minutes(15);
        let Some(url) = self
            .blobs
            .presign_put(&key, ttl.to_std().unwrap_or_default())
            .await?
        else {
            return Ok(None);
        };
        let now = self.now();
        Ok(Some(UploadGrant {
            url,
            method: "PUT",
            token: self.signer.upload_token(&key, filename, now),
            expires_at: now + ttl,
            max_bytes: intake::MAX_ATTACHMENT_BYTES,
        }))
    }

    /// The file behind an upload token, or the customer's reason why it cannot be used.
    async fn claim_upload(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Upload, String>, DeskError> {
        let Ok((key, filename)) = self.signer.verify_upload(token, now) else {
            return Ok(Err(
                "Un archivo subido no es válido o expiró; vuelva a anexarlo.".into(),
            ));
        };
        Ok(match self.blobs.get(&key).await? {
            Some(bytes) => Ok(Upload { filename, bytes }),
            None => Err(format!(
                "«{filename}» no terminó de subirse; vuelva a anexarlo."
            )),
        })
    }

    /// Takes in a form. `form_token` comes with the web page (checked for fill time and
    /// used as the idempotency key); JSON clients send `idempotency_key` instead.
    pub async fn submit_form(
        &self,
        input: &FormInput,
        uploads: &[Upload],
        form_token: Option<&str>,
        honeypot: &str,
    ) -> Result<Submitted, DeskError> {
        let now = self.now();
        let policy = self.policy();
        let mut errors = FieldErrors::new();
        if !honeypot.trim().is_empty() {
            errors.insert("website".into(), "Deje este campo vacío.".into());
        }
        let mut dedupe_keys = Vec::new();
        if let Some(token) = form_token {
            match self.signer.verify_form(token, now) {
                Ok(nonce) => dedupe_keys.push(format!("form:{nonce}")),
                Err(TokenError::TooFast) => {
                    errors.insert("form_token".into(), "El formulario se envió demasiado rápido; revise sus datos y envíelo de nuevo.".into());
                }
                Err(TokenError::Expired) => {
                    errors.insert(
                        "form_token".into(),
                        "El formulario expiró; recargue la página.".into(),
                    );
                }
                Err(TokenError::Invalid) => {
                    errors.insert(
                        "form_token".into(),
                        "El formulario no es válido; recargue la página.".into(),
                    );
                }
            }
        }
        // Files uploaded ahead of the form join the ones that came with it.
        let mut uploads = uploads.to_vec();
        for token in &input.upload_tokens {
            match self.claim_upload(token, now).await? {
                Ok(upload) => uploads.push(upload),
                Err(message) => {
                    errors.insert("attachments".into(), message);
                }
            }
        }
        let valid = match intake::validate_form(input, &uploads, &policy) {
            Ok(v) if errors.is_empty() => v,
            Ok(_) => return Err(DeskError::Invalid(errors)),
            Err(mut field_errors) => {
                field_errors.append(&mut errors);
                return Err(DeskError::Invalid(field_errors));
            }
        };
        if let Some(key) = &input.idempotency_key {
            dedupe_keys.push(format!("api:{key}"));
        }
        // A repeat needs no attachments stored again.
        for key in &dedupe_keys {
            if let Some(id) = self.store.find_by_dedupe_key(key).await? {
                return self.submitted_existing(&policy, &id).await;
            }
        }
        let id = TicketId::new();
        let attachments = self.store_uploads(&id, &valid.uploads).await?;
        let subject: String = valid
            .description
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect();
        let draft = Draft {
            channel: Channel::Form,
            customer: valid.customer,
            verified: false,
            support_type: valid.support_type,
            subject,
            description: valid.description,
            attachments,
            missing_fields: Vec::new(),
            received_at: now,
            message_id: None,
            dedupe_keys,
        };
        let verified = self
            .store
            .find_customer(&draft.customer.email)
            .await?
            .is_some();
        let draft = Draft { verified, ..draft };
        match self.open_ticket(&policy, id, draft).await? {
            CreateOutcome::Created(ticket) => {
                let plan = policy.plan(&ticket.facts(), ticket.received_at, ticket.severity)?;
                Ok(Submitted {
                    ticket: *ticket,
                    duplicate: false,
                    plan,
                })
            }
            CreateOutcome::Duplicate(existing) => self.submitted_existing(&policy, &existing).await,
        }
    }

    async fn submitted_existing(
        &self,
        policy: &Policy,
        id: &TicketId,
    ) -> Result<Submitted, DeskError> {
        let ticket = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let plan = policy.plan(&ticket.facts(), ticket.received_at, ticket.severity)?;
        Ok(Submitted {
            ticket,
            duplicate: true,
            plan,
        })
    }

    async fn store_uploads(
        &self,
        id: &TicketId,
        uploads: &[intake::CheckedUpload],
    ) -> Result<Vec<Attachment>, DeskError> {
        let mut out = Vec::with_capacity(uploads.len());
        for (i, u) in uploads.iter().enumerate() {
            // Server-generated key; the customer's file name is only shown.
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

    /// Classifies, computes the clocks and writes ticket + first events + ack atomically.
    async fn open_ticket(
        &self,
        policy: &Policy,
        id: TicketId,
        d: Draft,
    ) -> Result<CreateOutcome, DeskError> {
        let now = self.now();
        let settings = policy.settings();
        let mut ticket = Ticket {
            id: id.clone(),
            folio: Folio::new(&settings.folio_prefix, 0, 0),
            channel: d.channel,
            customer: d.customer,
            verified: d.verified,
            support_type: d.support_type,
            subject: d.subject,
            description: d.description,
            attachments: d.attachments,
            missing_fields: d.missing_fields,
            received_at: d.received_at,
            severity: crate::ticket::Severity::new(3)
                .map_err(|e| PolicyError::BadInput(e.to_string()))?,
            severity_reason: String::new(),
            severity_set_by: "rules".into(),
            stage: Stage::Received,
            acknowledged_at: None,
            deliveries: Vec::new(),
            stage_before_wait: None,
            assessment: None,
            work_minutes: 0,
            satisfaction: None,
            rules_version: policy.version().clone(),
            message_id: d.message_id.clone(),
            version: 0,
            next_due: None,
            updated_at: now,
        };
        let class = policy.classify(&ticket.facts())?;
        let events = vec![
            Event {
                seq: 1,
                at: d.received_at,
                actor: "customer".into(),
                kind: EventKind::Received {
                    channel: d.channel,
                    message_id: d.message_id.clone(),
                },
            },
            Event {
                seq: 2,
                at: d.received_at,
                actor: "rules".into(),
                kind: EventKind::SeverityChanged {
                    from: None,
                    to: class.severity,
                    reason: class.reason,
                },
            },
        ];
        for e in &events {
            ticket.apply(e);
        }
        let mut outbox = Vec::new();
        let cap = u64::from(settings.ack_limit_per_address_per_hour);
        let recent = self
            .store
            .acks_to_since(&ticket.customer.email, now - Duration::hours(1))
            .await?;
        if recent < cap {
            outbox.push(OutboxItem::new(
                id.clone(),
                MailKind::Ack,
                &ticket.customer.email,
                &self.config.mail_domain,
                d.message_id.clone(),
                String::new(),
                now,
            ));
        } else {
            tracing::warn!(to = %ticket.customer.email, recent, cap, "acknowledgement cap reached; no ack for this ticket");
        }
        ticket.next_due = next_due(policy, &ticket, &events)?;
        let mut message_ids: Vec<String> = outbox.iter().map(|o| o.message_id.clone()).collect();
        message_ids.extend(d.message_id);
        let local = policy.calendar().local(ticket.received_at);
        let outcome = self
            .store
            .create_ticket(NewTicket {
                ticket,
                events,
                outbox,
                dedupe_keys: d.dedupe_keys,
                message_ids,
                folio_prefix: settings.folio_prefix.clone(),
                folio_year: local.year(),
            })
            .await?;
        if let CreateOutcome::Created(t) = &outcome {
            tracing::info!(folio = %t.folio, severity = %t.severity, channel = t.channel.as_str(), "ticket created");
            let severity = t.severity.to_string();
            self.metrics.count(
                "TicketCreated",
                1.0,
                &[("Severity", &severity), ("Channel", t.channel.as_str())],
            );
            self.publish(vec![DomainEvent {
                detail_type: "TicketCreated".into(),
                detail: json!({
                    "ticket_id": t.id, "folio": t.folio, "severity": t.severity,
                    "channel": t.channel, "received_at": t.received_at, "verified": t.verified,
                }),
            }])
            .await;
        }
        Ok(outcome)
    }

    // ----------------------------------------------------------------- e-mail intake

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
    pub async fn intake_email_with(
        &self,
        raw: &[u8],
        received_at: DateTime<Utc>,
        meta: &InboundMeta,
    ) -> Result<EmailOutcome, DeskError> {
        let policy = self.policy();
        if let Some(id) = &meta.receiver_id {
            if let Some(existing) = self
                .store
                .find_by_dedupe_key(&format!("receiver:{id}"))
                .await?
            {
                return self.duplicate_outcome(&existing).await;
            }
        }
        let digest: String = Sha256::digest(raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let raw_key = format!(
            "inbound/{}/{:02}/{}.eml",
            received_at.year(),
            received_at.month(),
            &digest[..32]
        );
        self.blobs.put(&raw_key, raw, "message/rfc822").await?;
        let own = vec![policy.settings().support_address.clone()];
        let parsed = match &meta.quarantine {
            Some(verdict) => Err(verdict.clone()),
            None => intake::parse_email(raw, &own).map_err(|e| e.to_string()),
        };
        let mail = match parsed {
            Ok(m) => m,
            Err(reason) => {
                let record = QuarantineRecord {
                    id: ulid::Ulid::new().to_string(),
                    received_at,
                    reason,
                    raw_key,
                };
                self.store.quarantine(&record).await?;
                tracing::warn!(reason = %record.reason, raw = %record.raw_key, "inbound mail quarantined");
                self.metrics.count("MailQuarantined", 1.0, &[]);
                return Ok(EmailOutcome {
                    outcome: EmailOutcomeKind::Quarantined,
                    folio: None,
                    reason: Some(record.reason),
                });
            }
        };
        if let Some(why) = &mail.automatic {
            return Ok(EmailOutcome {
                outcome: EmailOutcomeKind::Ignored,
                folio: None,
                reason: Some(format!(
                    "automatic message ({why}): no ticket, no acknowledgement"
                )),
            });
        }
        if let Some(mid) = &mail.message_id {
            let seen = match self.store.find_by_message_id(mid).await? {
                Some(id) => Some(id),
                None => {
                    self.store
                        .find_by_dedupe_key(&format!("msgid:{mid}"))
                        .await?
                }
            };
            if let Some(id) = seen {
                return self.duplicate_outcome(&id).await;
            }
        }
        if let Some(id) = self
            .store
            .find_by_dedupe_key(&format!("raw:{digest}"))
            .await?
        {
            return self.duplicate_outcome(&id).await;
        }

        // Threading: our Message-IDs first, then the folio tag in the subject.
        let mut related = None;
        for id in &mail.thread_ids {
            if let Some(t) = self.store.find_by_message_id(id).await? {
                related = self.store.get(&t).await?;
                break;
            }
        }
        if related.is_none() {
            if let Some(folio) = Folio::find_in(&mail.subject, &policy.settings().folio_prefix) {
                related = self.store.get_by_folio(&folio).await?;
            }
        }
        let mut note = None;
        if let Some(ticket) = related {
            if ticket.sender_matches(&mail.from_address) {
                return self.append_reply(&policy, ticket, &mail, received_at).await;
            }
            note = Some(format!(
                "refers to {} but {} is not its contact nor of the same company: opened as a new ticket",
                ticket.folio, mail.from_address
            ));
        }
        self.open_from_mail(
            &policy,
            mail,
            received_at,
            digest,
            note,
            meta.receiver_id.clone(),
        )
        .await
    }

    async fn duplicate_outcome(&self, id: &TicketId) -> Result<EmailOutcome, DeskError> {
        let folio = self.store.get(id).await?.map(|t| t.folio);
        Ok(EmailOutcome {
            outcome: EmailOutcomeKind::Duplicate,
            folio,
            reason: Some("this message was already taken in".into()),
        })
    }

    async fn open_from_mail(
        &self,
        policy: &Policy,
        mail: InboundMail,
        received_at: DateTime<Utc>,
        digest: String,
        note: Option<String>,
        receiver_id: Option<String>,
    ) -> Result<EmailOutcome, DeskError> {
        let registered = self.store.find_customer(&mail.from_address).await?;
        if registered.is_none() && !policy.settings().accept_unregistered_senders {
            return Ok(EmailOutcome {
                outcome: EmailOutcomeKind::Ignored,
                folio: None,
                reason: Some(format!(
                    "{} is not a registered customer",
                    mail.from_address
                )),
            });
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
        let mut missing = Vec::new();
        if customer.company.is_empty() {
            missing.push("Nombre de la empresa".to_string());
        }
        if customer.contact_name.split_whitespace().count() < 2 {
            missing.push("Nombre completo del contacto".to_string());
        }
        if customer.phone.is_empty() {
            missing.push("Teléfono del contacto".to_string());
        }
        missing.push("Tipo de soporte".to_string());
        if mail.text.trim().is_empty() {
            missing.push("Descripción del problema".to_string());
        }
        let id = TicketId::new();
        let attachments = self.store_uploads(&id, &mail.attachments).await?;
        let mut dedupe_keys = vec![format!("raw:{digest}")];
        if let Some(mid) = &mail.message_id {
            dedupe_keys.push(format!("msgid:{mid}"));
        }
        if let Some(id) = receiver_id {
            dedupe_keys.push(format!("receiver:{id}"));
        }
        let draft = Draft {
            channel: Channel::Email,
            customer,
            verified: registered.is_some(),
            support_type: String::new(),
            subject: if mail.subject.is_empty() {
                "(sin asunto)".into()
            } else {
                mail.subject.clone()
            },
            description: mail.text.clone(),
            attachments,
            missing_fields: missing,
            received_at,
            message_id: mail.message_id.clone(),
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
        let text = mail.text.clone();
        let folio = ticket.folio.clone();
        let updated = self
            .change(&ticket.id, |t| {
                if let Some(mid) = &mail_id {
                    // A concurrent delivery of the same message got here first.
                    if t.message_id.as_deref() == Some(mid.as_str()) {
                        return Ok(None);
                    }
                }
                let mut kinds = vec![EventKind::CustomerReplied {
                    message_id: mail_id.clone(),
                    text: text.clone(),
                    attachments: attachments.clone(),
                }];
                match t.stage {
                    Stage::WaitingOnCustomer => kinds.push(EventKind::Resumed {
                        note: "El cliente respondió.".into(),
                    }),
                    Stage::Closed if reopen => kinds.push(EventKind::Reopened {
                        reason: "El cliente respondió a un ticket cerrado.".into(),
                    }),
                    _ => {}
                }
                Ok(Some((
                    kinds
                        .into_iter()
                        .map(|k| ("customer".to_string(), k, received_at))
                        .collect(),
                    Vec::new(),
                    mail_id.iter().cloned().collect(),
                )))
            })
            .await;
        match updated {
            Ok(_) => Ok(EmailOutcome {
                outcome: EmailOutcomeKind::Appended,
                folio: Some(folio),
                reason: None,
            }),
            Err(e) => Err(e),
        }
    }

    // ----------------------------------------------------------------- staff work

    pub async fn ticket_by_folio(&self, folio: &str) -> Result<Ticket, DeskError> {
        let f = Folio::parse(folio).ok_or_else(|| DeskError::UnknownFolio(folio.to_string()))?;
        self.store
            .get_by_folio(&f)
            .await?
            .ok_or_else(|| DeskError::UnknownFolio(folio.to_string()))
    }

    /// Performs a staff action on the ticket with `folio`.
    pub async fn act(
        &self,
        folio: &str,
        actor: &str,
        action: &Action,
    ) -> Result<Ticket, DeskError> {
        let ticket = self.ticket_by_folio(folio).await?;
        let policy = self.policy();
        let now = self.now();
        let actor = actor.to_string();
        self.change(&ticket.id, |t| {
            let decision = lifecycle::decide(t, action, &policy)?;
            let events = decision
                .events
                .into_iter()
                .map(|k| (actor.clone(), k, now))
                .collect();
            Ok(Some((events, decision.mail, Vec::new())))
        })
        .await
    }

    /// The customer's answer to the satisfaction survey.
    pub async fn record_satisfaction(
        &self,
        token: &str,
        satisfied: bool,
        comment: &str,
    ) -> Result<Ticket, DeskError> {
        let id = self.signer.verify_survey(token)?;
        let now = self.now();
        self.change(&id, |t| {
            let events = lifecycle::satisfaction(t, satisfied, comment)?;
            Ok(Some((
                events
                    .into_iter()
                    .map(|k| ("customer".to_string(), k, now))
                    .collect(),
                Vec::new(),
                Vec::new(),
            )))
        })
        .await
    }

    /// The ticket a survey token belongs to.
    pub async fn survey_ticket(&self, token: &str) -> Result<Ticket, DeskError> {
        let id = self.signer.verify_survey(token)?;
        self.store
            .get(&id)
            .await?
            .ok_or_else(|| DeskError::UnknownFolio(id.to_string()))
    }

    /// Reads the ticket, asks `decide` for events, writes them on top of the version read;
    /// on a conflict, reads again and asks again. `decide` returning `None` means nothing
    /// to do.
    #[allow(clippy::type_complexity)]
    async fn change<F>(&self, id: &TicketId, mut decide: F) -> Result<Ticket, DeskError>
    where
        F: FnMut(
            &Ticket,
        ) -> Result<
            Option<(
                Vec<(String, EventKind, DateTime<Utc>)>,
                Vec<MailDraft>,
                Vec<String>,
            )>,
            DeskError,
        >,
    {
        let policy = self.policy();
        for _ in 0..MAX_RETRIES {
            let current = self
                .store
                .get(id)
                .await?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            let Some((kinds, mail, message_ids)) = decide(&current)? else {
                return Ok(current);
            };
            let now = self.now();
            let mut ticket = current.clone();
            let mut outbox = Vec::new();
            let mut events = Vec::new();
            let mut mail = mail.into_iter();
            for (actor, mut kind, at) in kinds {
                // Mail-sending events carry the id of their outbox item.
                let needs_mail = matches!(
                    kind,
                    EventKind::Responded { .. }
                        | EventKind::Answered { .. }
                        | EventKind::Closed { .. }
                );
                if needs_mail {
                    if let Some(draft) = mail.next() {
                        let item = OutboxItem::new(
                            ticket.id.clone(),
                            draft.kind,
                            &ticket.customer.email,
                            &self.config.mail_domain,
                            ticket.message_id.clone(),
                            draft.body,
                            now,
                        );
                        match &mut kind {
                            EventKind::Responded { outbox_id, .. }
                            | EventKind::Answered { outbox_id, .. } => {
                                *outbox_id = item.id.clone();
                            }
                            EventKind::Closed { csat_outbox_id, .. } => {
                                *csat_outbox_id = Some(item.id.clone())
                            }
                            _ => {}
                        }
                        outbox.push(item);
                    }
                }
                let event = Event {
                    seq: ticket.version + 1,
                    at,
                    actor,
                    kind,
                };
                ticket.apply(&event);
                events.push(event);
            }
            let all_events = {
                let mut e = self.store.events(id).await?;
                e.extend(events.iter().cloned());
                e
            };
            ticket.next_due = next_due(&policy, &ticket, &all_events)?;
            let mut ids: Vec<String> = outbox.iter().map(|o| o.message_id.clone()).collect();
            ids.extend(message_ids);
            let change = TicketChange {
                expected_version: current.version,
                ticket: ticket.clone(),
                events,
                outbox,
                message_ids: ids,
            };
            match self.store.apply_change(change).await {
                Ok(()) => return Ok(ticket),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::TooManyConflicts)
    }

    /// Publishes events; a failure is logged and counted, never fails the caller (the
    /// events are notifications: the ticket's own events are the record).
    async fn publish(&self, events: Vec<DomainEvent>) {
        if events.is_empty() {
            return;
        }
        if let Err(e) = self.events.publish(&events).await {
            tracing::error!(error = %e, count = events.len(), "domain events not published");
            self.metrics.count("EventPublishErrors", 1.0, &[]);
        }
    }

    // ----------------------------------------------------------------- views

    /// A ticket with its clocks as of now, and its quote when it is billable.
    pub async fn view(&self, ticket: Ticket) -> Result<TicketView, DeskError> {
        let policy = self.policy();
        let events = self.store.events(&ticket.id).await?;
        let clocks = clocks(&policy, &ticket, &events, self.now())?;
        let next_deadline = clocks
            .iter()
            .filter(|c| c.running && c.state != ClockState::Paused)
            .filter_map(|c| c.due)
            .min();
        let quote = match &ticket.assessment {
            Some(a) if a.billable => Some(policy.charge(Work {
                minutes: ticket.work_minutes,
            })?),
            _ => None,
        };
        Ok(TicketView {
            ticket,
            clocks,
            next_deadline,
            quote,
        })
    }

    pub async fn detail(&self, folio: &str) -> Result<TicketDetail, DeskError> {
        let ticket = self.ticket_by_folio(folio).await?;
        let events = self.store.events(&ticket.id).await?;
        Ok(TicketDetail {
            view: self.view(ticket).await?,
            events,
        })
    }

    /// Open tickets in the contract's priority order: severity, then the nearest deadline,
    /// then order of registration.
    pub async fn queue(&self) -> Result<Vec<TicketView>, DeskError> {
        let mut views = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: 200,
        };
        let filter = ListFilter {
            stage: None,
            open_only: true,
        };
        loop {
            let p = self.store.list(&filter, &page).await?;
            for t in p.items {
                views.push(self.view(t).await?);
            }
            match p.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        views.sort_by(|a, b| {
            (
                a.ticket.severity,
                a.next_deadline.unwrap_or(DateTime::<Utc>::MAX_UTC),
                a.ticket.received_at,
                &a.ticket.folio,
            )
                .cmp(&(
                    b.ticket.severity,
                    b.next_deadline.unwrap_or(DateTime::<Utc>::MAX_UTC),
                    b.ticket.received_at,
                    &b.ticket.folio,
                ))
        });
        Ok(views)
    }

    // ----------------------------------------------------------------- outbox

    /// Sends the mail that is due: claims items (a lease, so two workers never send the
    /// same one at once), renders, sends, marks. An acknowledgement that went out is
    /// recorded on its ticket.
    pub async fn deliver_outbox(&self) -> Result<DeliveryReport, DeskError> {
        let mut report = DeliveryReport::default();
        loop {
            let now = self.now();
            let items = self
                .store
                .claim_outbox(now, self.config.outbox_lease, 20)
                .await?;
            if items.is_empty() {
                return Ok(report);
            }
            for item in items {
                match self.deliver_one(&item).await {
                    Ok(()) => report.sent += 1,
                    Err(DeliverFailure::Retry(e)) => {
                        report.failed += 1;
                        let backoff = Duration::seconds(30 * 2i64.pow(item.attempts.min(6)));
                        tracing::warn!(outbox = %item.id, error = %e, "mail not sent; will retry");
                        self.store.mark_failed(&item.id, &e, now + backoff).await?;
                    }
                    Err(DeliverFailure::GiveUp(e)) => {
                        report.skipped += 1;
                        tracing::error!(outbox = %item.id, error = %e, "mail given up");
                        self.store.mark_skipped(&item.id, &e).await?;
                    }
                }
            }
            if report.sent + report.failed + report.skipped >= 1000 {
                return Ok(report);
            }
        }
    }

    async fn deliver_one(&self, item: &OutboxItem) -> Result<(), DeliverFailure> {
        let ticket = self
            .store
            .get(&item.ticket_id)
            .await
            .map_err(|e| DeliverFailure::Retry(e.to_string()))?
            .ok_or_else(|| DeliverFailure::GiveUp(format!("ticket {} is gone", item.ticket_id)))?;
        let policy = self.policy();
        let mail = self
            .compose(&policy, &ticket, item)
            .map_err(|e| DeliverFailure::Retry(e.to_string()))?;
        let provider_id = match self.mailer.send(&mail).await {
            Ok(id) => id,
            Err(MailError::Temporary(e)) => return Err(DeliverFailure::Retry(e)),
            Err(MailError::Permanent(e)) => return Err(DeliverFailure::GiveUp(e)),
        };
        let now = self.now();
        self.store
            .mark_sent(&item.id, now)
            .await
            .map_err(|e| DeliverFailure::Retry(e.to_string()))?;
        let is_ack = item.kind == MailKind::Ack;
        if is_ack || provider_id.is_some() {
            let message_id = item.message_id.clone();
            let recorded = self
                .change(&ticket.id, |t| {
                    let mut events = Vec::new();
                    if is_ack && t.acknowledged_at.is_none() {
                        let kind = EventKind::Acknowledged {
                            message_id: message_id.clone(),
                        };
                        events.push(("system".to_string(), kind, now));
                    }
                    if events.is_empty() && provider_id.is_none() {
                        return Ok(None);
                    }
                    // The transport's Message-ID threads replies back like ours does.
                    let ids = provider_id.iter().cloned().collect();
                    Ok(Some((events, Vec::new(), ids)))
                })
                .await;
            if let Err(e) = recorded {
                // The mail went out; the ack clock will show it as late rather than lose it.
                tracing::error!(folio = %ticket.folio, error = %e, "mail sent but not recorded on the ticket");
            }
        }
        self.metrics
            .count("MailSent", 1.0, &[("Kind", item.kind.as_str())]);
        tracing::info!(folio = %ticket.folio, kind = item.kind.as_str(), to = %item.to, "mail sent");
        Ok(())
    }

    /// Records what the mail transport reported about a message we sent (SES
    /// configuration-set events): the ticket is found by our outbox id when the transport
    /// gave it back, else by the transport's Message-ID. Idempotent: the same report for
    /// the same message is recorded once, however often it is delivered.
    pub async fn record_mail_feedback(
        &self,
        feedback: MailFeedback,
    ) -> Result<FeedbackOutcome, DeskError> {
        let mut mail_kind = None;
        let mut ticket_id = None;
        if let Some(outbox_id) = &feedback.outbox_id {
            if let Some(item) = self.store.outbox_item(outbox_id).await? {
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
            self.metrics.count("MailFeedbackUnmatched", 1.0, &[]);
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
        let mut recorded = false;
        let ticket = self
            .change(&ticket_id, |t| {
                recorded = false;
                let seen = t.deliveries.iter().any(|d| {
                    d.provider_message_id == delivery.provider_message_id
                        && d.status == delivery.status
                });
                if seen {
                    return Ok(None);
                }
                recorded = true;
                let kind = EventKind::MailFeedback {
                    delivery: delivery.clone(),
                };
                Ok(Some((
                    vec![("system".to_string(), kind, now)],
                    Vec::new(),
                    Vec::new(),
                )))
            })
            .await?;
        if !recorded {
            return Ok(FeedbackOutcome::AlreadyRecorded(ticket.folio));
        }
        let kind = mail_kind.map_or("unknown", MailKind::as_str);
        self.metrics.count(
            "MailFeedback",
            1.0,
            &[("Status", delivery.status.as_str()), ("Kind", kind)],
        );
        if delivery.status.is_failure() {
            tracing::warn!(folio = %ticket.folio, kind, status = delivery.status.as_str(),
                detail = %delivery.detail, "mail did not reach the customer");
            self.publish(vec![DomainEvent {
                detail_type: "MailUndeliverable".into(),
                detail: json!({
                    "ticket_id": ticket.id, "folio": ticket.folio, "mail_kind": mail_kind,
                    "status": delivery.status, "recipients": delivery.recipients,
                    "detail": delivery.detail, "at": delivery.at,
                }),
            }])
            .await;
        }
        Ok(FeedbackOutcome::Recorded(ticket.folio))
    }

    /// Renders an outbox item into a message, with safe headers.
    pub fn compose(
        &self,
        policy: &Policy,
        ticket: &Ticket,
        item: &OutboxItem,
    ) -> Result<OutgoingMail, DeskError> {
        let settings = policy.settings();
        let response_hours: Vec<serde_json::Value> = std::iter::once(serde_json::Value::Null)
            .chain((1..=4).map(|level| {
                let severity = crate::ticket::Severity::new(level).ok();
                let hours = severity
                    .and_then(|s| policy.milestones(&ticket.facts(), s).ok())
                    .and_then(|defs| defs.into_iter().find(|d| d.name == "response"))
                    .map(|d| d.target.duration(policy.calendar()).num_hours());
                json!(hours)
            }))
            .collect();
        let plan = policy.plan(&ticket.facts(), ticket.received_at, ticket.severity)?;
        let response_due = plan
            .milestones
            .iter()
            .find(|m| m.name == "response")
            .and_then(|m| DateTime::parse_from_rfc3339(&m.due).ok())
            .map(|d| self.human_time(policy, d.with_timezone(&Utc)))
            .unwrap_or_default();
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
            "received_local": self.human_time(policy, ticket.received_at),
            "severity": ticket.severity.level(),
            "severity_reason": ticket.severity_reason,
            "response_due_local": response_due,
            "response_hours": response_hours,
            "company_name": settings.company_name,
            "body": item.body,
            "survey_url": format!("{}/csat/{}", self.config.public_url, self.signer.survey_token(&ticket.id)),
        });
        let rendered = policy.render_mail(item.kind.template(), &context)?;
        let mut references: Vec<String> = Vec::new();
        references.extend(item.in_reply_to.clone());
        Ok(OutgoingMail {
            outbox_id: item.id.clone(),
            message_id: item.message_id.clone(),
            from_name: header_text(&format!("Soporte {}", settings.company_name), 100),
            from_address: settings.support_address.clone(),
            to: item.to.clone(),
            subject: header_text(&rendered.subject, 250),
            text: rendered.body,
            in_reply_to: item.in_reply_to.clone(),
            references,
            auto_replied: item.kind == MailKind::Ack,
        })
    }

    /// "martes 10 de noviembre de 2026, 16:00 (hora de la Ciudad de México)".
    pub fn human_time(&self, policy: &Policy, t: DateTime<Utc>) -> String {
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

    // ----------------------------------------------------------------- sweep

    /// One pass of the SLA sweep at `now`: tickets due (through the index) get their
    /// warnings and breaches recorded, each once; unsent mail older than the re-drive
    /// delay is sent; a heartbeat is recorded.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, DeskError> {
        let policy = self.policy();
        let mut report = SweepReport::default();
        let percent = f64::from(policy.settings().sla_warning_percent) / 100.0;
        for ticket in self.store.due_before(now, 1000).await? {
            report.examined += 1;
            let mut warnings = 0;
            let mut breaches = 0;
            match self.sweep_ticket(&policy, &ticket.id, now, percent).await {
                Ok((w, b, recorded)) => {
                    warnings += w;
                    breaches += b;
                    let severity = ticket.severity.to_string();
                    let mut out = Vec::new();
                    for e in recorded {
                        let (detail_type, milestone, due) = match &e.kind {
                            EventKind::SlaWarning { milestone, due } => {
                                ("SlaAtRisk", milestone, due)
                            }
                            EventKind::SlaBreached { milestone, due } => {
                                ("SlaBreached", milestone, due)
                            }
                            _ => continue,
                        };
                        self.metrics.count(
                            detail_type,
                            1.0,
                            &[("Severity", &severity), ("Milestone", milestone.as_str())],
                        );
                        out.push(DomainEvent {
                            detail_type: detail_type.into(),
                            detail: json!({
                                "ticket_id": ticket.id, "folio": ticket.folio, "severity": ticket.severity,
                                "milestone": milestone, "due": due, "at": e.at,
                            }),
                        });
                    }
                    self.publish(out).await;
                }
                Err(e) => {
                    tracing::error!(folio = %ticket.folio, error = %e, "sweep could not update ticket")
                }
            }
            report.warnings += warnings;
            report.breaches += breaches;
        }
        let stale = self
            .store
            .pending_outbox_before(now - self.config.redrive_after)
            .await?;
        if !stale.is_empty() {
            report.redriven = stale.len();
            tracing::warn!(count = stale.len(), "re-driving unsent mail");
            self.deliver_outbox().await?;
        }
        self.store.record_heartbeat("sweep", now).await?;
        self.metrics.count("SweepHeartbeat", 1.0, &[]);
        Ok(report)
    }

    async fn sweep_ticket(
        &self,
        policy: &Policy,
        id: &TicketId,
        now: DateTime<Utc>,
        share: f64,
    ) -> Result<(usize, usize, Vec<Event>), DeskError> {
        for _ in 0..MAX_RETRIES {
            let Some(current) = self.store.get(id).await? else {
                return Ok((0, 0, Vec::new()));
            };
            let events = self.store.events(id).await?;
            let statuses = clocks(policy, &current, &events, now)?;
            let mut kinds = Vec::new();
            let (mut w, mut b) = (0, 0);
            for s in statuses.iter().filter(|s| s.running) {
                let Some(due) = s.due else { continue };
                if now > due && !recorded(&events, &s.name, true) {
                    kinds.push(EventKind::SlaBreached {
                        milestone: s.name.clone(),
                        due,
                    });
                    b += 1;
                } else if now <= due
                    && s.elapsed_share >= share
                    && !recorded(&events, &s.name, false)
                    && !recorded(&events, &s.name, true)
                {
                    kinds.push(EventKind::SlaWarning {
                        milestone: s.name.clone(),
                        due,
                    });
                    w += 1;
                }
            }
            let mut ticket = current.clone();
            let mut new_events = Vec::new();
            for kind in kinds {
                let e = Event {
                    seq: ticket.version + 1,
                    at: now,
                    actor: "sweep".into(),
                    kind,
                };
                ticket.apply(&e);
                new_events.push(e);
            }
            let mut all = events.clone();
            all.extend(new_events.iter().cloned());
            ticket.next_due = next_due(policy, &ticket, &all)?;
            if new_events.is_empty() && ticket.next_due == current.next_due {
                return Ok((0, 0, Vec::new()));
            }
            for e in &new_events {
                tracing::warn!(folio = %ticket.folio, event = e.kind.name(), "SLA");
            }
            match self
                .store
                .apply_change(TicketChange {
                    expected_version: current.version,
                    ticket,
                    events: new_events.clone(),
                    outbox: Vec::new(),
                    message_ids: Vec::new(),
                })
                .await
            {
                Ok(()) => return Ok((w, b, new_events)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::TooManyConflicts)
    }
}

enum DeliverFailure {
    Retry(String),
    GiveUp(String),
}

fn recorded(events: &[Event], milestone: &str, breach: bool) -> bool {
    events.iter().any(|e| match &e.kind {
        EventKind::SlaBreached { milestone: m, .. } => breach && m == milestone,
        EventKind::SlaWarning { milestone: m, .. } => !breach && m == milestone,
        _ => false,
    })
}

/// The clock signals of a ticket's events, in order.
pub fn timeline(events: &[Event]) -> Vec<(DateTime<Utc>, ClockSignal)> {
    events
        .iter()
        .filter_map(|e| e.kind.signal().map(|s| (e.at, s)))
        .collect()
}

/// Every SLA clock of a ticket as of `now`, under the rules in force.
pub fn clocks(
    policy: &Policy,
    ticket: &Ticket,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<Vec<MilestoneStatus>, DeskError> {
    let defs = policy.milestones(&ticket.facts(), ticket.severity)?;
    Ok(sla::evaluate(
        &timeline(events),
        &defs,
        policy.calendar(),
        now,
    )?)
}

/// The next instant the sweep must look at this ticket: the earliest unrecorded warning or
/// breach point of a running clock (paused and stopped clocks have none).
pub fn next_due(
    policy: &Policy,
    ticket: &Ticket,
    events: &[Event],
) -> Result<Option<DateTime<Utc>>, DeskError> {
    let Some(last) = events.iter().map(|e| e.at).max() else {
        return Ok(None);
    };
    let defs = policy.milestones(&ticket.facts(), ticket.severity)?;
    let statuses = sla::evaluate(&timeline(events), &defs, policy.calendar(), last)?;
    let percent = i64::from(policy.settings().sla_warning_percent);
    let mut next: Option<DateTime<Utc>> = None;
    for (def, s) in defs.iter().zip(&statuses) {
        if !s.running || s.state == ClockState::Paused {
            continue;
        }
        let (Some(start), Some(due)) = (s.started_at, s.due) else {
            continue;
        };
        let mut point = None;
        if !recorded(events, &s.name, true) {
            point = Some(due);
            if !recorded(events, &s.name, false) {
                let warn_after =
                    Duration::seconds(s.target_seconds * percent / 100 + s.paused_seconds);
                let warn_at = if def.target.is_business() {
                    policy.calendar().add(start, warn_after)?
                } else {
                    start + warn_after
                };
                point = Some(warn_at.min(due));
            }
        }
        if let Some(p) = point {
            next = Some(next.map_or(p, |n| n.min(p)));
        }
    }
    Ok(next)
}
