//! SES receipt rule (S3 action, then this Lambda action) → read the raw message from S3 →
//! mesa intake. Verdicts are honoured (virus, spam, DMARC reject → quarantine, no ack);
//! headers always come from the stored message itself, so `headersTruncated` loses
//! nothing; a redelivered event is a duplicate (SES message id, then Message-ID).

use aws_lambda_events::event::ses::{SimpleEmailEvent, SimpleEmailReceipt};
use lambda_runtime::{Error, LambdaEvent};
use mesa::desk::{EmailOutcome, InboundMeta};
use mesa_aws::{S3Blobs, Wiring};
use serde_json::{Value, json};

/// Failures worth a retry (Lambda retries asynchronous invocations, then sends the event to
/// the on-failure destination); everything else is logged and answered without a retry.
#[derive(Debug)]
pub struct Retryable(pub String);

impl std::fmt::Display for Retryable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "retryable: {}", self.0)
    }
}

impl std::error::Error for Retryable {}

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

pub async fn handle(w: &Wiring, event: LambdaEvent<SimpleEmailEvent>) -> Result<Value, Error> {
    w.refresh_rules().await;
    let mut outcomes: Vec<EmailOutcome> = Vec::new();
    for record in event.payload.records {
        let mail = &record.ses.mail;
        let Some(id) = mail.message_id.clone().filter(|i| !i.is_empty()) else {
            tracing::error!("SES record without a messageId: ignored");
            continue;
        };
        let key = format!("{}{}", w.config.inbound_prefix, id);
        let raw = S3Blobs::get_object(&w.clients.s3, &w.config.inbound_bucket, &key)
            .await
            .map_err(|e| Retryable(e.to_string()))?
            // The S3 action may not have finished writing yet: try again later.
            .ok_or_else(|| {
                Retryable(format!(
                    "s3://{}/{key} is not there yet",
                    w.config.inbound_bucket
                ))
            })?;
        let meta = InboundMeta {
            receiver_id: Some(format!("ses:{id}")),
            quarantine: quarantine_verdict(&record.ses.receipt),
        };
        let outcome = w
            .desk
            .intake_email_with(&raw, mail.timestamp, &meta)
            .await
            .map_err(|e| Retryable(e.to_string()))?;
        tracing::info!(ses_message_id = %id, outcome = ?outcome.outcome, folio = ?outcome.folio, "inbound mail");
        outcomes.push(outcome);
    }
    Ok(json!({ "outcomes": outcomes }))
}
