//! The customer form (web page or JSON API) and files uploaded ahead of it.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::open::Draft;
use super::{Desk, DeskError};
use crate::intake::{self, FieldErrors, FormInput, Upload};
use crate::messages;
use crate::model::{Channel, Ticket, TicketId};
use crate::policy::{Policy, SlaPlan};
use crate::ports::{CreateOutcome, StoreError};
use crate::tokens::TokenError;
use crate::types::DedupeKey;

/// Longest subject taken from the first line of a form's description.
const FORM_SUBJECT_CHARS: usize = 80;

/// Where and how to upload one file ahead of its form.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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

impl Desk {
    /// Starts the upload of one file ahead of its form, for files too large to go through
    /// the API gateway with it: a URL to PUT the bytes to and a token the form sends instead
    /// of the file. `None` where files simply go with the form (one machine).
    #[tracing::instrument(skip(self), err(level = "info"))]
    pub async fn start_upload(
        &self,
        filename: &str,
        size: u64,
    ) -> Result<Option<UploadGrant>, DeskError> {
        let filename = filename.trim();
        let mut errors = FieldErrors::new();
        if filename.is_empty() || filename.chars().count() > 200 {
            errors.insert("filename".into(), messages::UPLOAD_NAME.into());
        }
        if size == 0 || size > intake::MAX_ATTACHMENT_BYTES as u64 {
            errors.insert(
                "size".into(),
                messages::upload_size(intake::MAX_ATTACHMENT_BYTES),
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
            return Ok(Err(messages::UPLOAD_TOKEN_INVALID.into()));
        };
        Ok(match self.blobs.get(&key).await? {
            Some(bytes) => Ok(Upload { filename, bytes }),
            None => Err(messages::upload_missing(&filename)),
        })
    }

    /// Takes in a form. `form_token` comes with the web page (checked for fill time and
    /// used as the idempotency key); JSON clients send `idempotency_key` instead.
    #[tracing::instrument(skip_all, fields(channel = "form"), err(level = "info"))]
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
            errors.insert("website".into(), messages::LEAVE_EMPTY.into());
        }
        let mut dedupe_keys = Vec::new();
        if let Some(token) = form_token {
            match self.signer.verify_form(token, now) {
                Ok(nonce) => dedupe_keys.push(DedupeKey::Form(nonce)),
                Err(e) => {
                    let message = match e {
                        TokenError::TooFast => messages::FORM_TOO_FAST,
                        TokenError::Expired => messages::FORM_EXPIRED,
                        TokenError::Invalid => messages::FORM_INVALID,
                    };
                    errors.insert("form_token".into(), message.into());
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
        // The web page asks the impact questions and requires them; JSON clients may leave
        // them out (the text then decides).
        let require_impact = form_token.is_some();
        let valid = match intake::validate_form(input, &uploads, &policy, require_impact) {
            Ok(v) if errors.is_empty() => v,
            Ok(_) => return Err(DeskError::Invalid(errors)),
            Err(mut field_errors) => {
                field_errors.append(&mut errors);
                return Err(DeskError::Invalid(field_errors));
            }
        };
        if let Some(key) = &input.idempotency_key {
            dedupe_keys.push(DedupeKey::Api(key.clone()));
        }
        // A repeat needs no attachments stored again. The same token or key with another
        // report is not a repeat but a replay (a harvested page, a reused key): refused, and
        // the first report's details are not shown to whoever sent it.
        // What a repeat must match (the draft takes the form over).
        let claim = Claim {
            email: valid.customer.email.clone(),
            description: valid.description.clone(),
            by_page: dedupe_keys.iter().any(|k| matches!(k, DedupeKey::Form(_))),
        };
        for key in &dedupe_keys {
            if let Some(id) = self.store.find_by_dedupe_key(key).await? {
                return self.repeat_of(&policy, &id, &claim).await;
            }
        }
        let id = TicketId::new();
        let attachments = self.store_uploads(&id, &valid.uploads).await?;
        let subject = subject_from(&valid.description);
        let contact = self.store.find_customer(&valid.customer.email).await?;
        let draft = Draft {
            channel: Channel::Form,
            customer: valid.customer,
            contact,
            support_type: valid.support_type,
            subject,
            description: valid.description,
            device_serial: valid.device_serial,
            attachments,
            missing_fields: Vec::new(),
            received_at: now,
            sent: None,
            message_id: None,
            impact: valid.impact,
            dedupe_keys,
        };
        match self.open_ticket(&policy, id, draft).await? {
            CreateOutcome::Created(ticket) => {
                let plan = policy.plan(&ticket.facts(), ticket.received_at, ticket.severity)?;
                Ok(Submitted {
                    ticket: *ticket,
                    duplicate: false,
                    plan,
                })
            }
            // Another submission with the same key was written first (at the same moment).
            CreateOutcome::Duplicate(existing) => self.repeat_of(&policy, &existing, &claim).await,
        }
    }

    /// The ticket a repeated submission (same page token or idempotency key) already made;
    /// the same key with another report is not a repeat but a replay (a harvested page, a
    /// reused key): refused, and nothing of the first report is shown to whoever sent it.
    async fn repeat_of(
        &self,
        policy: &Policy,
        id: &TicketId,
        claim: &Claim,
    ) -> Result<Submitted, DeskError> {
        let existing = self.submitted_existing(policy, id).await?;
        if existing.ticket.customer.email == claim.email
            && existing.ticket.description == claim.description
        {
            return Ok(existing);
        }
        let field = if claim.by_page {
            "form_token"
        } else {
            "idempotency_key"
        };
        let mut errors = FieldErrors::new();
        errors.insert(field.into(), messages::FORM_ALREADY_SENT.into());
        Err(DeskError::Invalid(errors))
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
}

/// What a submission says, to tell a repeat of it from a replay of its key.
struct Claim {
    email: String,
    description: String,
    /// Keyed by the web page's token (else by the API's idempotency key).
    by_page: bool,
}

/// The subject of a form ticket: the first line of its description, cut at a word
/// boundary before [`FORM_SUBJECT_CHARS`] with an ellipsis when it was longer.
fn subject_from(description: &str) -> String {
    let line = description.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= FORM_SUBJECT_CHARS {
        return line.to_string();
    }
    let mut out = String::new();
    for word in line.split_whitespace() {
        let next = if out.is_empty() {
            word.chars().count()
        } else {
            out.chars().count() + 1 + word.chars().count()
        };
        if next > FORM_SUBJECT_CHARS - 1 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        // One very long word: cut it.
        out = line.chars().take(FORM_SUBJECT_CHARS - 1).collect();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_first_line_is_cut_between_words() {
        let line = "Desde esta mañana los lectores biométricos de la planta de Querétaro no registran las entradas del turno";
        let s = subject_from(line);
        assert!(s.chars().count() <= FORM_SUBJECT_CHARS, "{s}");
        let kept = s.strip_suffix('…').expect("an ellipsis marks the cut");
        assert!(line.starts_with(kept));
        assert_eq!(
            &line[kept.len()..kept.len() + 1],
            " ",
            "cut between words: {s}"
        );
        assert_eq!(subject_from("Corto\nsegunda línea"), "Corto");
        assert_eq!(
            subject_from(&"x".repeat(200)).chars().count(),
            FORM_SUBJECT_CHARS
        );
    }
}
