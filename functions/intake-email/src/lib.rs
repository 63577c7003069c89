//! SES receipt rule (S3 action, then this Lambda action) → read the raw message from S3 →
//! mesa intake. Verdicts are honoured (virus, spam, DMARC reject → quarantine, no ack);
//! headers always come from the stored message itself, so `headersTruncated` loses
//! nothing; a redelivered event is a duplicate (SES message id, then Message-ID).

use aws_lambda_events::event::ses::{SimpleEmailEvent, SimpleEmailReceipt};
use lambda_runtime::{Error, LambdaEvent};
use mesa::desk::{EmailOutcome, InboundMeta};
use mesa_aws::{S3Blobs, Wiring};
use serde_json::{Value, json};

/// A failure worth a retry (a throttle, a timeout, the raw message not in S3 yet): Lambda
/// retries the asynchronous invocation, then sends the event to the on-failure destination.
/// Failures that can never succeed are not returned: the desk keeps such a message in the
/// quarantine, and the handler logs it and answers.
#[derive(Debug)]
pub struct Retryable {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Retryable {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    fn caused_by(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl std::fmt::Display for Retryable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "retryable: {}", self.message)
    }
}

impl std::error::Error for Retryable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

fn failed(v: &aws_lambda_events::event::ses::SimpleEmailVerdict) -> bool {
    v.status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("FAIL"))
}

/// Why SES's verdicts keep this message out, if they do.
pub fn quarantine_verdict(receipt: &SimpleEmailReceipt) -> Option<String> {
    if failed(&receipt.virus_verdict) {
        return Some("SES virus verdict: FAIL".into());
    }
    if failed(&receipt.spam_verdict) {
        return Some("SES spam verdict: FAIL".into());
    }
    let reject = receipt
        .dmarc_policy
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("reject"));
    if failed(&receipt.dmarc_verdict) && reject {
        return Some("SES DMARC verdict: FAIL with a reject policy".into());
    }
    None
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle(w: &Wiring, event: LambdaEvent<SimpleEmailEvent>) -> Result<Value, Error> {
    w.refresh_rules().await;
    let mut outcomes: Vec<EmailOutcome> = Vec::new();
    let mut failed: Vec<Value> = Vec::new();
    for record in event.payload.records {
        let mail = &record.ses.mail;
        let Some(id) = mail.message_id.clone().filter(|i| !i.is_empty()) else {
            tracing::error!("SES record without a messageId: ignored");
            continue;
        };
        let key = format!("{}{}", w.config.inbound_prefix, id);
        let raw = S3Blobs::get_object(&w.clients.s3, &w.config.inbound_bucket, &key)
            .await
            .map_err(Retryable::caused_by)?
            // The S3 action may not have finished writing yet: try again later.
            .ok_or_else(|| {
                Retryable::new(format!(
                    "s3://{}/{key} is not there yet",
                    w.config.inbound_bucket
                ))
            })?;
        let meta = InboundMeta {
            receiver_id: Some(format!("ses:{id}")),
            quarantine: quarantine_verdict(&record.ses.receipt),
        };
        let outcome = match w.desk.intake_email_with(&raw, mail.timestamp, &meta).await {
            Ok(o) => o,
            Err(e) if e.is_retryable() => return Err(Retryable::caused_by(e).into()),
            Err(e) => {
                // It will never succeed; the raw message stays in the inbound bucket.
                tracing::error!(ses_message_id = %id, error = %e, "inbound mail cannot be taken in; not retried");
                failed.push(json!({ "ses_message_id": id, "error": e.to_string() }));
                continue;
            }
        };
        tracing::info!(ses_message_id = %id, outcome = ?outcome.outcome, folio = ?outcome.folio, "inbound mail");
        outcomes.push(outcome);
    }
    Ok(json!({ "outcomes": outcomes, "failed": failed }))
}
